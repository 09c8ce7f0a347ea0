#include "tools/traffic_cmd.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "sim/launcher/cluster.h"
#include "sim/scenario/checks.h"
#include "sim/scenario/final_checks.h"
#include "sim/scenario/history_file.h"
#include "sim/scenario/run_state.h"
#include "sim/scenario/workloads.h"
#include "tools/cli_client.h"
#include "tools/scenario_driver.h"

namespace gtsim {
namespace {

using scenario::RecordedRun;
using scenario::WorkloadKind;
using scenario::WorkloadSpec;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

int Error(const std::string& msg) {
  std::cerr << "gtsim: " << msg << std::endl;
  return 2;
}

// A flag error: thrown by the parsers below, caught by the commands (exit 2).
struct BadFlag {
  std::string message;
};

std::string Value(const ScenarioCmdArgs& args, const std::string& flag,
                  const std::string& def = "") {
  auto it = args.values.find(flag);
  return it == args.values.end() ? def : it->second;
}

double NumberFlag(const ScenarioCmdArgs& args, const std::string& flag, double def, double lo,
                  double hi, const std::string& what) {
  if (!args.values.count(flag)) return def;
  double v;
  if (!absl::SimpleAtod(args.values.at(flag), &v) || v < lo || v > hi) {
    throw BadFlag{
        absl::StrCat("--", flag, " must be ", what, ", not '", args.values.at(flag), "'")};
  }
  return v;
}

absl::Duration DurationFlag(const ScenarioCmdArgs& args, const std::string& flag,
                            absl::Duration def) {
  if (!args.values.count(flag)) return def;
  absl::Duration d;
  if (!scenario::ParseScenarioDuration(args.values.at(flag), &d) || d <= absl::ZeroDuration()) {
    throw BadFlag{absl::StrCat("--", flag,
                               " must be a duration above 0 such as 30s, 2m or 500ms, "
                               "not '",
                               args.values.at(flag), "'")};
  }
  return d;
}

// --mix put=50,update=20,delete=5,conditional_put=5,read=15,consistent_read=0,increment=5.
scenario::OpMix ParseMix(const std::string& text) {
  scenario::OpMix m;
  const std::map<std::string, double*> weights = {{"put", &m.put},
                                                  {"update", &m.update},
                                                  {"delete", &m.del},
                                                  {"conditional_put", &m.conditional_put},
                                                  {"read", &m.read},
                                                  {"consistent_read", &m.consistent_read},
                                                  {"increment", &m.increment}};
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    auto it = kv.size() == 2 ? weights.find(kv[0]) : weights.end();
    double w;
    if (it == weights.end() || !absl::SimpleAtod(kv[1], &w) || w < 0) {
      throw BadFlag{absl::StrCat(
          "--mix: '", part,
          "' is not OP=WEIGHT with OP one of put, update, delete, conditional_put, read, "
          "consistent_read, increment and a weight >= 0 (e.g. --mix put=60,update=20,read=20)")};
    }
    *it->second = w;
  }
  if (m.total() <= 0) throw BadFlag{"--mix needs at least one operation with a weight above 0"};
  return m;
}

// The workload each driven region runs, from the flags, with the scenario files' defaults
// (README "Scenarios": mixed put 60 / update 20 / read 20; counter and lock one key).
WorkloadSpec WorkloadFromFlags(const ScenarioCmdArgs& args, int n_regions) {
  WorkloadSpec w;
  const std::string kind = Value(args, "workload", "mixed");
  if (kind == "mixed") {
    w.kind = WorkloadKind::kMixed;
    w.mix.put = 60;
    w.mix.update = 20;
    w.mix.read = 20;
  } else if (kind == "counter") {
    w.kind = WorkloadKind::kCounter;
    w.keys = 1;
    w.key_prefix = "counter";
  } else if (kind == "lock") {
    w.kind = WorkloadKind::kLock;
    w.keys = 1;
    w.key_prefix = "lock";
    w.rate = 2;
  } else {
    throw BadFlag{absl::StrCat("--workload must be mixed, counter or lock, not '", kind, "'")};
  }
  w.rate = NumberFlag(args, "rate", w.rate, 0.001, 2000,
                      "operations per second per region, above 0 and at most 2000");
  w.keys = static_cast<int>(
      NumberFlag(args, "keys", w.keys, 1, 100000, "a number of keys from 1 to 100000"));
  if (args.values.count("mix")) {
    if (w.kind != WorkloadKind::kMixed) throw BadFlag{"--mix goes with --workload mixed"};
    w.mix = ParseMix(args.values.at("mix"));
  }
  if (args.values.count("zipf")) {
    w.zipf = true;
    w.zipf_s =
        NumberFlag(args, "zipf", 1.1, 1e-6, 100, "the Zipf exponent above 0 (1.1 is typical)");
  }
  w.home_region_per_key = args.bools.count("home-region") > 0;
  if (w.home_region_per_key && w.keys < n_regions) {
    throw BadFlag{"--home-region needs at least one key per driven region (--keys)"};
  }
  w.item_size = static_cast<int>(
      NumberFlag(args, "item-size", w.item_size, 0, 300000, "bytes of padding, 0 to 300000"));
  if (args.values.count("hold")) {
    if (w.kind != WorkloadKind::kLock) throw BadFlag{"--hold goes with --workload lock"};
    w.hold = DurationFlag(args, "hold", w.hold);
  }
  return w;
}

// The sum of gtsim_conflicts_total over one region's /metrics (every source and reason), or
// nullopt when it does not answer.
std::optional<double> ConflictsTotal(const RegionProcess& p) {
  if (!p.dynamodb_port) return std::nullopt;
  httplib::Client client("127.0.0.1", p.dynamodb_port);
  client.set_connection_timeout(0, 300'000);
  client.set_read_timeout(1, 0);
  auto res = client.Get("/metrics");
  if (!res || res->status != 200) return std::nullopt;
  double total = 0;
  for (absl::string_view line : absl::StrSplit(res->body, '\n')) {
    if (!absl::StartsWith(line, "gtsim_conflicts_total")) continue;
    size_t space = line.rfind(' ');
    double v;
    if (space != absl::string_view::npos && absl::SimpleAtod(line.substr(space + 1), &v))
      total += v;
  }
  return total;
}

std::string Absolute(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::absolute(path, ec);
  return ec ? path : p.lexically_normal().string();
}

// The command line, for the history's "command".
std::string CommandText(const ScenarioCmdArgs& args) {
  std::string s = "gtsim traffic";
  for (const auto& [k, v] : args.values) absl::StrAppend(&s, " --", k, " ", v);
  for (const auto& b : args.bools) absl::StrAppend(&s, " --", b);
  return s;
}

int Traffic(const ScenarioCmdArgs& args) {
  auto loaded = LocalCluster::Load(args.cluster_dir, args.region_binary);
  if (!loaded.ok()) return Error(std::string(loaded.status().message()));
  LocalCluster& cluster = *loaded;
  if (absl::Status st = RegionClient::UseSecretFile(cluster.secret_path()); !st.ok()) {
    return Error(std::string(st.message()));
  }
  std::vector<std::string> driven = absl::StrSplit(Value(args, "regions"), ',', absl::SkipEmpty());
  if (driven.empty()) driven = cluster.region_names();
  for (const auto& r : driven) {
    auto p = cluster.Find(r);
    if (!p.ok()) return Error(absl::StrCat("--regions: ", p.status().message()));
    if (!cluster.IsRunning(r)) {
      return Error(absl::StrCat("region ", r,
                                " is not running (start it with gtsim restart "
                                "--region ",
                                r, ", or leave it out of --regions)"));
    }
  }
  WorkloadSpec base = WorkloadFromFlags(args, static_cast<int>(driven.size()));
  uint64_t seed = static_cast<uint64_t>(
      NumberFlag(args, "seed", 1, 0, 1e15, "a whole number (the seed of keys and operations)"));
  std::optional<absl::Duration> duration;
  if (args.values.count("duration")) duration = DurationFlag(args, "duration", absl::Seconds(1));
  const std::string history_path = Absolute(Value(
      args, "history",
      absl::StrCat(args.cluster_dir, "/traffic-",
                   absl::FormatTime("%Y%m%d-%H%M%S", absl::Now(), absl::UTCTimeZone()), ".json")));

  GrpcScenarioDriver driver(&cluster);
  // The table: used as it is when it exists (its keys and replicas), else created as a global
  // table in every region of the cluster.
  scenario::TableDef def;
  def.name = Value(args, "table", "traffic");
  auto info = driver.DescribeTable(driven.front(), def.name, absl::Seconds(5));
  if (info.ok()) {
    def.hash_key = info->spec.hash_key;
    def.range_key = info->spec.range_key;
    def.replicas = info->spec.replicas;
  } else if (absl::IsNotFound(info.status())) {
    def.replicas = cluster.region_names();
    TableSpec spec;
    spec.name = def.name;
    spec.hash_key = def.hash_key;
    spec.replicas = def.replicas;
    if (absl::Status st = driver.CreateTable(driven.front(), spec); !st.ok()) {
      return Error(absl::StrCat("cannot create table ", def.name, ": ", st.message(),
                                " (a global table is created only while every region can "
                                "reach the others: create it before cutting links, with "
                                "gtsim create-table --replicas, or gtsim heal first)"));
    }
    std::cerr << "created table " << def.name << " (hash key " << def.hash_key.name
              << ", S) with a replica in " << absl::StrJoin(def.replicas, ", ") << "\n";
  } else {
    return Error(absl::StrCat("cannot describe table ", def.name, " in ", driven.front(), ": ",
                              info.status().message()));
  }
  for (const auto& r : driven) {
    if (std::find(def.replicas.begin(), def.replicas.end(), r) == def.replicas.end()) {
      return Error(absl::StrCat("table ", def.name, " has no replica in ", r,
                                " (its replicas: ", absl::StrJoin(def.replicas, ", "), ")"));
    }
  }

  scenario::Scenario s;
  s.name = "traffic";
  s.file = CommandText(args);
  s.seed = seed;
  s.regions = cluster.region_names();
  s.tables = {def};
  s.heartbeat = false;
  for (const auto& r : driven) {
    WorkloadSpec w = base;
    w.name = "traffic-" + r;
    w.table = def.name;
    w.region = r;
    s.workloads.push_back(w);
  }
  scenario::RunOptions opts;
  opts.live = false;
  opts.record_reads = true;
  opts.first_write_id = absl::ToUnixMicros(absl::Now());
  scenario::RunState state(s, &driver, opts);
  // The regions' clock skews (gtsim clock), refreshed every second: a write's true time is its
  // stamp minus its region's skew.
  auto refresh_skews = [&] {
    auto now = LocalCluster::Load(args.cluster_dir, args.region_binary);
    if (!now.ok()) return;
    for (const auto& p : now->regions()) state.RecordSkew(p.name, p.clock_skew_us);
  };
  refresh_skews();
  std::map<std::string, double> conflicts_at_start;
  for (const auto& p : cluster.regions()) {
    if (auto c = ConflictsTotal(p)) conflicts_at_start[p.name] = *c;
  }

  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const bool tty = isatty(STDOUT_FILENO);
  std::cerr << "gtsim traffic: " << Value(args, "workload", "mixed") << " workload, " << base.rate
            << " ops/s in each of " << absl::StrJoin(driven, ", ") << " on table " << def.name
            << ", " << base.keys << " keys"
            << (duration ? absl::StrCat(" for ", scenario::FormatScenarioDuration(*duration))
                         : std::string(" until Ctrl-C"))
            << "\n";
  state.MarkStart();
  const absl::Time start = state.start();
  scenario::Workloads workloads(&state);
  workloads.Start();
  int64_t acked = 0, errors = 0, cond_failed = 0;
  absl::Time next = start + absl::Seconds(1);
  while (!g_stop && (!duration || absl::Now() < start + *duration)) {
    absl::Time wake = next;
    if (duration && start + *duration < wake) wake = start + *duration;
    while (!g_stop && absl::Now() < wake) {
      absl::SleepFor(std::min(wake - absl::Now(), absl::Milliseconds(50)));
    }
    if (absl::Now() < next) continue;  // the duration ended before the next line
    next += absl::Seconds(1);
    const double t = state.Elapsed();
    std::map<std::string, int64_t> per_region;
    for (const auto& x : workloads.Throughput(t)) {
      per_region[x.region] += x.acked_writes;
      acked += x.acked_writes;
      errors += x.failed;
      cond_failed += x.conditional_failed;
    }
    double conflicts = 0;
    for (const auto& p : cluster.regions()) {
      auto c = ConflictsTotal(p);
      if (c) conflicts += *c - conflicts_at_start[p.name];
    }
    refresh_skews();
    std::vector<std::string> rates;
    for (const auto& r : driven) rates.push_back(absl::StrCat(r, " ", per_region[r], " w/s"));
    std::string line = absl::StrFormat(
        "[%5.0fs] %s | %d writes acked, %d errors, %d conditional failures, %.0f conflicts", t,
        absl::StrJoin(rates, ", "), acked, errors, cond_failed, conflicts);
    if (tty) {
      std::cout << "\r\033[K" << line << std::flush;
    } else {
      std::cout << line << std::endl;
    }
  }
  workloads.Stop();
  const absl::Time end = absl::Now();
  if (tty) std::cout << "\n";

  RecordedRun run;
  run.cluster_dir = Absolute(args.cluster_dir);
  run.regions = cluster.region_names();
  run.command = s.file;
  run.seed = seed;
  run.start_us = absl::ToUnixMicros(start);
  run.end_us = absl::ToUnixMicros(end);
  run.tables = {def};
  run.record = std::move(*workloads.record());
  int64_t writes = 0;
  for (const auto& [table, h] : run.record.history) writes += static_cast<int64_t>(h.size());
  absl::Status st = scenario::WriteHistoryFile(history_path, run);
  if (!st.ok()) return Error(absl::StrCat("the history could not be written: ", st.message()));
  std::cerr << absl::StrFormat(
      "gtsim traffic: stopped after %.1fs (%s): %d writes acknowledged, %d unanswered, %d reads\n"
      "history: %s\njudge it with: gtsim check %s\n",
      absl::ToDoubleSeconds(end - start), g_stop ? "interrupted" : "--duration", writes,
      run.record.unanswered.size(), run.record.reads.size(), history_path, history_path);
  return 0;
}

// How `gtsim check` prints each loss: "+4.79s us-west-2 k7 (later-timestamp): explanation".
std::string ConflictLine(const scenario::ConflictEvent& c) {
  return absl::StrFormat("  +%.3fs %s %s (%s): %s", c.t, c.region, c.key, c.reason, c.explanation);
}

int Check(const ScenarioCmdArgs& args) {
  const std::string path = args.positional.at(0);
  auto run = scenario::ReadHistoryFile(path);
  if (!run.ok()) return Error(std::string(run.status().message()));
  const absl::Duration settle = DurationFlag(args, "settle", absl::Seconds(30));
  // The cluster: --dir (or $GTSIM_DIR) when given, else the one the history was made against.
  std::string dir = args.values.count("dir") ? args.values.at("dir") : run->cluster_dir;
  if (!args.values.count("dir")) {
    if (const char* env = std::getenv("GTSIM_DIR"); env && *env) dir = env;
  }
  auto cluster = LocalCluster::Load(dir, args.region_binary);
  if (!cluster.ok()) return Error(std::string(cluster.status().message()));
  if (absl::Status st = RegionClient::UseSecretFile(cluster->secret_path()); !st.ok()) {
    return Error(std::string(st.message()));
  }
  for (const auto& t : run->tables) {
    for (const auto& r : t.replicas) {
      if (!cluster->Find(r).ok()) {
        return Error(absl::StrCat(path, " was made against a cluster with region ", r, "; ", dir,
                                  " has ", absl::StrJoin(cluster->region_names(), ", "),
                                  " (give the right cluster with --dir)"));
      }
      if (!cluster->IsRunning(r)) {
        return Error(absl::StrCat("region ", r, " is not running: its replica of ", t.name,
                                  " cannot be read (gtsim restart --region ", r, ")"));
      }
    }
  }
  GrpcScenarioDriver driver(&*cluster);
  scenario::Scenario s;
  s.name = "check";
  s.file = path;
  s.seed = run->seed;
  s.regions = cluster->region_names();
  s.tables = run->tables;
  scenario::RunOptions opts;
  opts.live = false;
  opts.judge_written_keys_only = true;  // the table may hold items from before the run
  scenario::RunState state(s, &driver, opts);
  state.MarkStart(absl::FromUnixMicros(run->start_us));

  const absl::Time deadline = absl::Now() + settle;
  while (true) {
    auto c = scenario::ReplicasConverged(&state);
    if (!c.ok()) return Error(absl::StrCat("cannot read the replicas: ", c.status().message()));
    if (*c) break;
    if (absl::Now() > deadline) {
      return Error(absl::StrCat(
          "the replicas still differ after --settle ", scenario::FormatScenarioDuration(settle),
          ": a link is cut or a region is behind (gtsim status shows which; gtsim heal "
          "restores links), so the final state cannot be judged yet; check again later"));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
  const int64_t reads = static_cast<int64_t>(run->record.reads.size());
  const int64_t unanswered = static_cast<int64_t>(run->record.unanswered.size());
  int64_t acked = 0;
  for (const auto& [table, h] : run->record.history) acked += static_cast<int64_t>(h.size());
  if (absl::Status st = scenario::JudgeFinalState(&state, &run->record); !st.ok()) {
    return Error(absl::StrCat("cannot read the replicas: ", st.message()));
  }
  scenario::RunResult r = state.TakeResult();
  int64_t conflicts = 0, other = 0;
  std::vector<std::string> conflict_counts, other_counts;
  for (const auto& [reason, n] : r.loss_counts) {
    if (scenario::IsConflictReason(reason)) {
      conflicts += n;
      conflict_counts.push_back(absl::StrCat(reason, " ", n));
    } else {
      other += n;
      other_counts.push_back(absl::StrCat(reason, " ", n));
    }
  }
  std::cout << absl::StrFormat(
      "%s: %d acknowledged writes (and %d unanswered, %d of which committed), %d reads, "
      "%.1fs of traffic in %s\n",
      path, acked, unanswered, r.acknowledged_writes - acked, reads,
      (run->end_us - run->start_us) / 1e6, absl::StrJoin(run->regions, ", "));
  std::cout << "replaced without a conflict: " << other
            << (other_counts.empty() ? "" : " (" + absl::StrJoin(other_counts, ", ") + ")") << "\n";
  std::cout << "lost to last-writer-wins in a conflict, each explained: " << conflicts
            << (conflict_counts.empty() ? "" : " (" + absl::StrJoin(conflict_counts, ", ") + ")")
            << "\n";
  const bool verbose = args.bools.count("verbose") > 0;
  constexpr size_t kShown = 10;
  for (size_t i = 0; i < r.conflicts.size() && (verbose || i < kShown); ++i) {
    std::cout << ConflictLine(r.conflicts[i]) << "\n";
  }
  if (!verbose && r.conflicts.size() > kShown) {
    std::cout << "  ... and " << r.conflicts.size() - kShown
              << " more (--verbose lists every one)\n";
  }
  if (r.acked_increments > 0) {
    std::cout << "counters: " << r.acked_increments << " increments acknowledged, final total "
              << r.final_counter_total << " (" << r.acked_increments - r.final_counter_total
              << " lost to last-writer-wins)\n";
  }
  if (r.lock_acquisitions > 0) {
    std::cout << "locks: " << r.lock_acquisitions << " acquisitions, " << r.lock_overlaps
              << " times two regions held the lock at once\n";
    for (const auto& e : r.lock_explanations) std::cout << "  " << e << "\n";
  }
  if (!r.violations.empty()) {
    std::cout << "FAILED: acknowledged writes lost without a last-writer-wins explanation, or "
                 "replicas that differ:\n";
    for (const auto& v : r.violations) std::cout << "  " << v << "\n";
    return 1;
  }
  std::cout << "OK: no acknowledged write lost except to last-writer-wins\n";
  return 0;
}

}  // namespace

int TrafficCommand(const ScenarioCmdArgs& args) {
  try {
    return Traffic(args);
  } catch (const BadFlag& b) {
    return Error(b.message);
  }
}

int CheckCommand(const ScenarioCmdArgs& args) {
  try {
    return Check(args);
  } catch (const BadFlag& b) {
    return Error(b.message);
  }
}

}  // namespace gtsim
