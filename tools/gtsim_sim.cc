// gtsim-sim: runs the deterministic simulation (sim/harness/simulation.h) for one seed or a range
// of seeds and checks every run (convergence, no acknowledged write lost).
//
// Exit codes: 0 every run passed, 1 a run failed its checks (the replay command is printed),
// 2 bad arguments or a run that could not be set up.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/planted_bug.h"
#include "sim/harness/simulation.h"

namespace gtsim {
namespace {

constexpr char kUsage[] =
    R"(usage: gtsim-sim [--seed N | --seeds A..B [--jobs N] [--quiet]] [options]

Runs the deterministic simulation of a global table: several regions in one process on a
virtual clock, a seeded network (latency, jitter, loss), random writes, deletes and conditional
puts on a small key space, and random faults (partitions, crashes and restarts, clock skew,
message loss; without the control plane also disks wiped, the region rejoining empty). At the end every fault is healed and the run is checked: all replicas identical,
no acknowledged write lost. The same seed and options always replay the same run.

  --seed N             the seed (default 1)
  --seeds A..B         run every seed from A to B (inclusive); a sweep ends with how many
                       failed and what it explored (operations, faults, replica changes)
  --jobs N             run N seeds at a time (threads; default 1); output stays in seed order
  --quiet              print only failing runs and the summary, with progress on stderr
  --no-shrink          do not look for a smaller failing run (by default each failure is
                       re-run with fewer operations to find the fewest that still fail)
  --regions R          regions, 2..6 (default 3)
  --ops N              client operations per run (default 200)
  --keys K             key space size (default 8)
  --no-faults          no partitions, crashes, skew or message loss
  --verbose            explain every acknowledged write that is not the final version
  --interval-us US     mean time between client operations (default 5000)
  --latency-us US      base one-way link latency (default 30000)
  --jitter-us US       link jitter (default 20000)
  --loss P             probability a batch is lost (default 0.01)
  --partition-p P      per-operation chance a partition starts (default 0.02)
  --crash-p P          per-operation chance a region crashes (default 0.01)
  --wipe-p P           per-operation chance a region's disk is wiped and it rejoins empty
                       (default 0.004; only without the members table and tombstone trimming)
  --skew-p P           per-operation chance a clock skew changes (default 0.02)
  --loss-burst-p P     per-operation chance of a burst of message loss (default 0.01)
  --max-skew-us US     random skews stay within +-US (default 300000)
  --replica-changes P  per-operation chance of a replica add or removal on a second table
                       that starts regional (new replicas bootstrap from a snapshot under the
                       same faults); checked: every region ends with the same replica set, the
                       one its newest acknowledged changes say (default 0.03)
  --control-changes P  per-operation chance of a group-wide setting change (SSE, TTL,
                       WarmThroughput) or a GSI created or deleted on that table, from a random
                       region; checked: settings and indexes identical everywhere, every index
                       exactly what its replica's items say (default 0.03; with
                       --replica-changes 0 too, there is no second table)
  --plant-bug NAME     plant one known bug (model/planted_bug.h), to see a sweep catch it:
                       rewind-keeps-stamp, cancel-before-add-dropped,
                       snapshot-cut-ahead-by-one, index-entry-left-by-delete,
                       reapply-equal-stamp
  --skew-us A,B,...    initial clock skew per region, in region order
  --keep-link-cut      never heal the link from the first region to the second (the checkers
                       must then report a failure)
  --settle-limit-us US how long to wait for quiescence after healing (default 60000000)
  --help               this text
)";

int BadArgs(const std::string& message) {
  std::fprintf(stderr, "gtsim-sim: %s\n(see gtsim-sim --help)\n", message.c_str());
  return 2;
}

template <typename T>
bool ParseNumber(const std::string& text, T* out) {
  if constexpr (std::is_same_v<T, double>) {
    return absl::SimpleAtod(text, out);
  } else {
    return absl::SimpleAtoi(text, out);
  }
}

// What a sweep ran, summed over its seeds.
struct SweepTotals {
  int64_t ops = 0, acknowledged = 0, partitions = 0, crashes = 0, skews = 0, loss_bursts = 0,
          batches_lost = 0, batches_delivered = 0, replicas_added = 0, replicas_removed = 0,
          replica_changes_refused = 0, snapshot_chunks = 0, bootstraps_interrupted = 0,
          settings_changed = 0, indexes_created = 0, indexes_deleted = 0, control_refused = 0,
          index_rows_backfilled = 0, transactions = 0, items_expired = 0, replicas_deleted = 0,
          tombstones_trimmed = 0, wipes = 0;
  void Add(const SimResult& r) {
    ops += r.ops;
    acknowledged += r.acknowledged;
    partitions += r.faults.partitions;
    crashes += r.faults.crashes;
    wipes += r.faults.wipes;
    skews += r.faults.skews;
    loss_bursts += r.faults.loss_bursts;
    batches_lost += r.faults.messages_lost;
    batches_delivered += r.batches_delivered;
    replicas_added += r.replicas_added;
    replicas_removed += r.replicas_removed;
    replica_changes_refused += r.replica_changes_refused;
    snapshot_chunks += r.snapshot_chunks;
    bootstraps_interrupted += r.bootstraps_interrupted;
    settings_changed += r.settings_changed;
    indexes_created += r.indexes_created;
    indexes_deleted += r.indexes_deleted;
    control_refused += r.control_refused;
    index_rows_backfilled += r.index_rows_backfilled;
    transactions += r.transactions;
    items_expired += r.items_expired;
    replicas_deleted += r.replicas_deleted;
    tombstones_trimmed += r.tombstones_trimmed;
  }
  std::string Line() const {
    return absl::StrCat(
        ops, " client operations (", acknowledged, " acknowledged writes), ", batches_delivered,
        " batches delivered; faults: ", partitions, " partitions, ", crashes, " crashes, ", wipes,
        " disks wiped (rejoined empty), ", skews, " clock skews, ", loss_bursts, " loss bursts, ",
        batches_lost, " batches lost; replicas: ", replicas_added, " added, ", replicas_removed,
        " removed (", replicas_deleted, " by DeleteTable), ", replica_changes_refused,
        " changes refused, ", snapshot_chunks, " snapshot chunks, ", bootstraps_interrupted,
        " bootstraps interrupted; control plane: ", settings_changed, " settings changed, ",
        indexes_created, " indexes created, ", indexes_deleted, " indexes deleted, ",
        index_rows_backfilled, " index rows backfilled, ", control_refused, " changes refused, ",
        transactions, " transactions, ", items_expired,
        " items expired by TTL; bounded disk: ", tombstones_trimmed, " tombstones trimmed");
  }
};

std::string Join(const std::vector<uint64_t>& seeds) {
  std::string out;
  for (size_t i = 0; i < seeds.size() && i < 20; ++i) absl::StrAppend(&out, i ? "," : "", seeds[i]);
  if (seeds.size() > 20) absl::StrAppend(&out, ",...");
  return out;
}

// A failing run made smaller: the fewest client operations (the workload and faults of a run
// with fewer operations are a prefix of the longer run's) with which the same seed still fails.
std::string Shrink(const SimOptions& failing) {
  int lo = 0, hi = failing.ops;  // hi fails
  while (lo + 1 < hi) {
    SimOptions o = failing;
    o.ops = lo + (hi - lo) / 2;
    auto r = RunSimulation(o);
    if (r.ok() && !r->ok()) {
      hi = o.ops;
    } else {
      lo = o.ops;
    }
  }
  if (hi == failing.ops) return "  minimised: no smaller run fails\n";
  SimOptions o = failing;
  o.ops = hi;
  auto r = RunSimulation(o);
  std::string out = absl::StrCat("  minimised: fails with ", hi, " of ", failing.ops,
                                 " operations: ", ReplayCommand(o), "\n");
  if (r.ok()) {
    for (const auto& v : r->check.violations) absl::StrAppend(&out, "    VIOLATION: ", v, "\n");
  }
  return out;
}

int Main(int argc, char** argv) {
  SimOptions options;
  uint64_t first_seed = 1, last_seed = 1;
  bool verbose = false;
  bool quiet = false;
  bool shrink = true;
  int jobs = 1;

  auto number = [](auto* field) {
    return [field](const std::string& v) { return ParseNumber(v, field); };
  };
  std::map<std::string, std::function<bool(const std::string&)>> valued = {
      {"--seed",
       [&](const std::string& v) {
         if (!absl::SimpleAtoi(v, &first_seed)) return false;
         last_seed = first_seed;
         return true;
       }},
      {"--seeds",
       [&](const std::string& v) {
         std::vector<std::string> parts = absl::StrSplit(v, "..");
         return parts.size() == 2 && absl::SimpleAtoi(parts[0], &first_seed) &&
                absl::SimpleAtoi(parts[1], &last_seed) && first_seed <= last_seed;
       }},
      {"--jobs", number(&jobs)},
      {"--regions", number(&options.regions)},
      {"--ops", number(&options.ops)},
      {"--keys", number(&options.keys)},
      {"--interval-us", number(&options.op_interval_us)},
      {"--latency-us", number(&options.latency_base_us)},
      {"--jitter-us", number(&options.latency_jitter_us)},
      {"--loss", number(&options.loss_probability)},
      {"--partition-p", number(&options.partition_probability)},
      {"--crash-p", number(&options.crash_probability)},
      {"--wipe-p", number(&options.wipe_probability)},
      {"--skew-p", number(&options.skew_probability)},
      {"--loss-burst-p", number(&options.loss_burst_probability)},
      {"--max-skew-us", number(&options.max_skew_us)},
      {"--replica-changes", number(&options.replica_change_probability)},
      {"--control-changes", number(&options.control_change_probability)},
      {"--plant-bug",
       [&](const std::string& v) {
         PlantedBug bug;
         if (!ParsePlantedBug(v, &bug)) return false;
         PlantBug(bug);
         return true;
       }},
      {"--settle-limit-us", number(&options.settle_limit_us)},
      {"--skew-us",
       [&](const std::string& v) {
         options.initial_skew_us.clear();
         for (absl::string_view part : absl::StrSplit(v, ',')) {
           int64_t skew = 0;
           if (!absl::SimpleAtoi(part, &skew)) return false;
           options.initial_skew_us.push_back(skew);
         }
         return true;
       }},
  };
  std::map<std::string, std::function<void()>> switches = {
      {"--no-faults", [&] { options.faults = false; }},
      {"--verbose", [&] { verbose = true; }},
      {"--quiet", [&] { quiet = true; }},
      {"--no-shrink", [&] { shrink = false; }},
      {"--keep-link-cut", [&] { options.keep_one_link_cut = true; }},
  };

  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    std::string value;
    bool has_value = false;
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto sw = switches.find(arg);
    if (sw != switches.end()) {
      if (has_value) return BadArgs(absl::StrCat(arg, " takes no value"));
      sw->second();
      continue;
    }
    auto it = valued.find(arg);
    if (it == valued.end()) return BadArgs(absl::StrCat("unknown argument \"", arg, "\""));
    if (!has_value) {
      if (i + 1 >= argc) return BadArgs(absl::StrCat(arg, " needs a value"));
      value = argv[++i];
    }
    if (!it->second(value)) {
      return BadArgs(absl::StrCat("bad value \"", value, "\" for ", arg));
    }
  }
  options.seed = first_seed;
  absl::Status valid = ValidateSimOptions(options);
  if (!valid.ok()) return BadArgs(std::string(valid.message()));

  if (jobs < 1 || jobs > 64) return BadArgs("--jobs must be 1..64");
  // One seed's outcome, as printed.
  struct Run {
    bool done = false;
    bool setup_failed = false;
    std::string text;  // the result line (and explanations, violations, replay, shrink)
    SimResult result;  // counters only (history and replicas dropped)
  };
  const uint64_t count = last_seed - first_seed + 1;
  std::vector<Run> runs(count);
  absl::Mutex mu;
  uint64_t next = 0;  // guarded by mu
  auto work = [&] {
    while (true) {
      uint64_t i;
      {
        absl::MutexLock l(&mu);
        if (next >= count) return;
        i = next++;
      }
      SimOptions o = options;
      o.seed = first_seed + i;
      Run run;
      auto result = RunSimulation(o);
      if (!result.ok()) {
        run.setup_failed = true;
        run.text = absl::StrCat("gtsim-sim: seed ", o.seed,
                                " could not run: ", result.status().ToString());
      } else {
        run.text = result->Line() + "\n";
        if (verbose) {
          for (const auto& c : result->check.classified) {
            absl::StrAppend(&run.text, "  [", LossReasonName(c.reason), "] ", c.explanation, "\n");
          }
        }
        if (!result->ok()) {
          for (const auto& v : result->check.violations) {
            absl::StrAppend(&run.text, "  VIOLATION: ", v, "\n");
          }
          absl::StrAppend(&run.text, "  replay: ", ReplayCommand(o), "\n");
          if (shrink) absl::StrAppend(&run.text, Shrink(o));
        }
        result->history = History();
        result->replicas.clear();
        result->check.classified.clear();
        run.result = *std::move(result);
      }
      run.done = true;
      absl::MutexLock l(&mu);
      runs[i] = std::move(run);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < jobs; ++t) threads.emplace_back(work);

  // Print in seed order as runs finish; progress on stderr for long sweeps.
  const absl::Time start = absl::Now();
  absl::Time last_progress = start;
  std::vector<uint64_t> failed;
  bool setup_failed = false;
  SweepTotals totals;
  for (uint64_t printed = 0; printed < count;) {
    Run run;
    {
      absl::MutexLock l(&mu);
      mu.Await(absl::Condition(
          +[](Run* r) { return r->done; }, &runs[printed]));
      run = std::move(runs[printed]);
      runs[printed] = Run();
    }
    const uint64_t seed = first_seed + printed;
    ++printed;
    if (run.setup_failed) {
      std::fprintf(stderr, "%s\n", run.text.c_str());
      setup_failed = true;
      continue;
    }
    totals.Add(run.result);
    if (!run.result.ok()) failed.push_back(seed);
    if (!quiet || !run.result.ok()) std::fputs(run.text.c_str(), stdout);
    std::fflush(stdout);
    if (count > 1 && (absl::Now() - last_progress > absl::Seconds(5) || printed == count) &&
        quiet) {
      last_progress = absl::Now();
      std::fprintf(stderr, "gtsim-sim: %llu/%llu seeds, %zu failed, %.1f s\n",
                   static_cast<unsigned long long>(printed), static_cast<unsigned long long>(count),
                   failed.size(), absl::ToDoubleSeconds(absl::Now() - start));
    }
  }
  for (auto& t : threads) t.join();
  if (count > 1) {
    std::printf("%llu seeds, %zu failed%s\n", static_cast<unsigned long long>(count), failed.size(),
                failed.empty() ? "" : absl::StrCat(" (seeds ", Join(failed), ")").c_str());
    std::printf("explored: %s\n", totals.Line().c_str());
  }
  if (setup_failed) return 2;
  return failed.empty() ? 0 : 1;
}

}  // namespace
}  // namespace gtsim

int main(int argc, char** argv) {
#ifdef NDEBUG
  // Debian's Abseil is built with Mutex deadlock detection on: every lock then updates a global
  // lock-order graph (GraphCycles::GetId in profiles). Optimised builds turn it off; tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  return gtsim::Main(argc, argv);
}
