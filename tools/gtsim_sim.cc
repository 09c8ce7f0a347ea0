// gtsim-sim: runs the deterministic simulation (sim/simulation.h) for one seed or a range of
// seeds and checks every run (convergence, no acknowledged write lost).
//
// Exit codes: 0 every run passed, 1 a run failed its checks (the replay command is printed),
// 2 bad arguments or a run that could not be set up.
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_split.h"
#include "sim/simulation.h"

namespace gtsim {
namespace {

constexpr char kUsage[] = R"(usage: gtsim-sim [--seed N | --seeds A..B] [options]

Runs the deterministic simulation of a global table: several regions in one process on a
virtual clock, a seeded network (latency, jitter, loss), random writes, deletes and conditional
puts on a small key space, and random faults (partitions, crashes and restarts, clock skew,
message loss). At the end every fault is healed and the run is checked: all replicas identical,
no acknowledged write lost. The same seed and options always replay the same run.

  --seed N             the seed (default 1)
  --seeds A..B         run every seed from A to B (inclusive)
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
  --skew-p P           per-operation chance a clock skew changes (default 0.02)
  --loss-burst-p P     per-operation chance of a burst of message loss (default 0.01)
  --max-skew-us US     random skews stay within +-US (default 300000)
  --replica-changes P  per-operation chance of a replica add or removal on a second table
                       that starts regional (new replicas bootstrap from a snapshot under the
                       same faults); checked: every region ends with the same replica set, the
                       one its newest acknowledged changes say (default 0: no second table)
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

int Main(int argc, char** argv) {
  SimOptions options;
  uint64_t first_seed = 1, last_seed = 1;
  bool verbose = false;

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
      {"--regions", number(&options.regions)},
      {"--ops", number(&options.ops)},
      {"--keys", number(&options.keys)},
      {"--interval-us", number(&options.op_interval_us)},
      {"--latency-us", number(&options.latency_base_us)},
      {"--jitter-us", number(&options.latency_jitter_us)},
      {"--loss", number(&options.loss_probability)},
      {"--partition-p", number(&options.partition_probability)},
      {"--crash-p", number(&options.crash_probability)},
      {"--skew-p", number(&options.skew_probability)},
      {"--loss-burst-p", number(&options.loss_burst_probability)},
      {"--max-skew-us", number(&options.max_skew_us)},
      {"--replica-changes", number(&options.replica_change_probability)},
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

  std::vector<uint64_t> failed;
  uint64_t runs = 0;
  for (uint64_t seed = first_seed;; ++seed) {
    options.seed = seed;
    ++runs;
    auto result = RunSimulation(options);
    if (!result.ok()) {
      std::fprintf(stderr, "gtsim-sim: seed %llu could not run: %s\n",
                   static_cast<unsigned long long>(seed), result.status().ToString().c_str());
      return 2;
    }
    std::printf("%s\n", result->Line().c_str());
    if (verbose) {
      for (const auto& c : result->check.classified) {
        std::printf("  [%s] %s\n", LossReasonName(c.reason), c.explanation.c_str());
      }
    }
    if (!result->ok()) {
      failed.push_back(seed);
      for (const auto& v : result->check.violations) std::printf("  VIOLATION: %s\n", v.c_str());
      std::printf("  replay: %s\n", ReplayCommand(options).c_str());
    }
    std::fflush(stdout);
    if (seed == last_seed) break;
  }
  if (runs > 1) {
    std::printf("%llu seeds, %zu failed\n", static_cast<unsigned long long>(runs), failed.size());
  }
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
