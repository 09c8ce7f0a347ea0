#include "tools/scenario_cmd.h"

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <optional>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "model/status_macros.h"
#include "sim/launcher/cluster.h"
#include "sim/scenario/report.h"
#include "sim/scenario/runner.h"
#include "tools/cli_client.h"
#include "tools/cluster_ops.h"
#include "tools/scenario_driver.h"
#include "tools/ui_server.h"

namespace gtsim {
namespace {

using scenario::Scenario;

std::atomic<bool> g_interrupted{false};

void OnSignal(int) { g_interrupted = true; }

// Ctrl-C and SIGTERM end the run early; the cluster is still stopped.
void InstallSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int Error(const std::string& msg) {
  std::cerr << "gtsim: " << msg << std::endl;
  return 2;
}

std::string MakeTempDir() {
  std::string tmpl = "/tmp/gtsim-run.XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  return dir ? std::string(dir) : std::string();
}

// Runs one scenario on a fresh cluster in `dir` (created), stopping it at the end. With
// `ui_port`, gtsim ui's dashboard of the cluster is served on 127.0.0.1 while it runs.
absl::StatusOr<scenario::RunResult> RunOnFreshCluster(const Scenario& s, const std::string& dir,
                                                      const std::string& region_binary, bool live,
                                                      std::optional<int> ui_port) {
  auto cluster = LocalCluster::Create(dir, s.regions, region_binary);
  if (!cluster.ok()) return cluster.status();
  RETURN_IF_ERROR(RegionClient::UseSecretFile(cluster->secret_path()));
  cluster->SetExitWithParent(true);  // a crash of this process must not leave regions running
  GrpcScenarioDriver driver(&*cluster);
  struct StopGuard {
    GrpcScenarioDriver* d;
    ~StopGuard() { d->StopAll().IgnoreError(); }
  } guard{&driver};
  if (live) std::cerr << "starting " << s.regions.size() << " regions in " << dir << "\n";
  absl::Status st = cluster->StartAll();
  if (!st.ok()) return st;
  // Declared after the guard: the dashboard stops before the regions do.
  std::optional<UiServer> ui;
  if (ui_port) {
    ui.emplace(dir, region_binary);
    ASSIGN_OR_RETURN(int port, ui->Start(*ui_port));
    std::cerr << "dashboard: http://127.0.0.1:" << port << "/ (while the scenario runs)"
              << std::endl;
  }
  scenario::RunOptions opts;
  opts.live = live;
  opts.interrupted = [] { return g_interrupted.load(); };
  return scenario::RunScenario(s, &driver, opts);
}

void RemoveDir(const std::string& dir) {
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::cerr << "gtsim: could not remove " << dir << "\n";
}

// Writes --report and --junit outputs; false (after a message) when a file cannot be written.
bool WriteOutputs(const ScenarioCmdArgs& args, const scenario::RunResult& r) {
  if (args.values.count("report")) {
    absl::Status st = scenario::WriteReportDir(r, args.values.at("report"));
    if (!st.ok()) {
      Error(std::string(st.message()));
      return false;
    }
    std::cerr << "report: " << args.values.at("report")
              << "/report.html (and report.json, lag.csv, throughput.csv, heartbeat.csv)\n";
  }
  if (args.values.count("junit")) {
    absl::Status st = scenario::WriteTextFile(args.values.at("junit"), scenario::JUnitXml(r));
    if (!st.ok()) {
      Error(std::string(st.message()));
      return false;
    }
  }
  return true;
}

// Runs `s` in --dir (kept) or a temporary directory (removed); prints the summary.
int RunAndReport(const ScenarioCmdArgs& args, const Scenario& s, scenario::RunResult* out) {
  bool temp = !args.values.count("dir");
  std::string dir = temp ? MakeTempDir() : args.values.at("dir");
  if (dir.empty()) return Error("cannot create a temporary directory in /tmp");
  std::optional<int> ui_port;
  if (args.bools.count("ui")) {
    ui_port = 8099;
    if (args.values.count("ui-port")) ui_port = std::stoi(args.values.at("ui-port"));
  }
  auto r = RunOnFreshCluster(s, temp ? dir + "/cluster" : dir, args.region_binary,
                             !args.bools.count("quiet"), ui_port);
  if (temp) RemoveDir(dir);
  if (!r.ok()) {
    if (absl::IsCancelled(r.status())) return Error("interrupted; every region was stopped");
    return Error(absl::StrCat("the run could not be carried out: ", r.status().message()));
  }
  std::cout << scenario::SummaryText(*r) << std::flush;
  if (!WriteOutputs(args, *r)) return 2;
  if (out) *out = *r;
  return r->all_passed() ? 0 : 1;
}

}  // namespace

int ScenarioRunCommand(const ScenarioCmdArgs& args) {
  auto s = scenario::LoadScenario(args.positional.at(0));
  if (!s.ok()) return Error(std::string(s.status().message()));
  if (args.values.count("seed")) {
    uint64_t seed;
    if (!absl::SimpleAtoi(args.values.at("seed"), &seed))
      return Error("--seed must be a whole number");
    s->seed = seed;
  }
  if (args.bools.count("check")) {
    std::cout << s->file << ": valid scenario " << s->name << ": " << s->regions.size()
              << " regions (" << absl::StrJoin(s->regions, ", ") << "), network "
              << (s->network.description.empty() ? "none" : s->network.description) << ", "
              << s->workloads.size() << " workloads, "
              << scenario::FormatScenarioDuration(s->duration) << ", seed " << s->seed << "\n";
    for (const auto& t : s->tables) {
      std::vector<std::string> indexes;
      for (const auto& x : t.indexes) indexes.push_back(x.name);
      std::cout << "  table " << t.name << ": hash key " << t.hash_key.name
                << (t.range_key ? ", range key " + t.range_key->name : "") << ", " << t.billing
                << ", replicas " << absl::StrJoin(t.replicas, ", ")
                << (indexes.empty() ? "" : ", indexes " + absl::StrJoin(indexes, ", ")) << "\n";
    }
    for (const auto& st : s->steps) {
      std::cout << "  line " << st.line << ": "
                << (st.at ? "at " + scenario::FormatScenarioDuration(*st.at) + ": " : "then: ")
                << st.Describe() << "\n";
    }
    for (const auto& e : s->expectations)
      std::cout << "  expect (line " << e.line << "): " << e.Name() << "\n";
    return 0;
  }
  if (args.values.count("ui-port")) {
    int port;
    if (!args.bools.count("ui")) return Error("--ui-port goes with --ui");
    if (!absl::SimpleAtoi(args.values.at("ui-port"), &port) || port < 0 || port > 65535) {
      return Error("--ui-port must be a port number from 0 (a free one) to 65535, not '" +
                   args.values.at("ui-port") + "'");
    }
  }
  InstallSignalHandlers();
  return RunAndReport(args, *s, nullptr);
}

namespace {

// A random fault schedule with a mixed workload in every region, derived from the seed.
Scenario ChaosScenario(int regions, absl::Duration duration, uint64_t seed) {
  static const char* kNames[] = {"us-east-1",      "us-west-2",      "eu-west-1", "eu-central-1",
                                 "ap-northeast-1", "ap-southeast-2", "sa-east-1", "us-east-2"};
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  Scenario s;
  s.name = absl::StrCat("chaos-seed-", seed);
  s.file = absl::StrCat("gtsim chaos --regions ", regions, " --duration ",
                        scenario::FormatScenarioDuration(duration), " --seed ", seed);
  s.seed = seed;
  s.duration = duration;
  for (int i = 0; i < regions; ++i) s.regions.push_back(kNames[i]);
  LinkDelay base;
  base.delay_us = uni(2, 30) * 1000;
  base.jitter_us = base.delay_us / 4;
  for (const auto& a : s.regions) {
    for (const auto& b : s.regions) {
      if (a != b) s.network.links.push_back({a, b, base});
    }
  }
  s.network.description = absl::StrCat("uniform ", base.delay_us / 1000, "ms");
  for (const auto& r : s.regions) {
    scenario::WorkloadSpec w;
    w.name = "app-" + r;
    w.region = r;
    w.rate = 25;
    w.keys = 60;
    w.item_size = 32;
    w.mix = {40, 25, 10, 10, 5, 5, 5};
    s.workloads.push_back(w);
  }
  absl::Duration t = absl::Seconds(2);
  absl::Duration last = duration - absl::Seconds(2);
  auto region = [&] { return s.regions[uni(0, regions - 1)]; };
  while (t < last) {
    scenario::Step st;
    st.at = t;
    st.for_duration = absl::Milliseconds(uni(1000, 4000));
    scenario::Action& a = st.action;
    switch (uni(0, 6)) {
      case 0:
        a.kind = scenario::ActionKind::kKill;
        a.region = region();
        break;
      case 1:
        a.kind = scenario::ActionKind::kPause;
        a.region = region();
        break;
      case 2: {
        a.kind = scenario::ActionKind::kPartition;
        a.region = region();
        for (const auto& o : s.regions) {
          if (o == a.region) continue;
          a.blocks.push_back({o, a.region});
          a.blocks.push_back({a.region, o});
        }
        a.partition_text = "isolate " + a.region;
        a.region.clear();
        break;
      }
      case 3: {
        a.kind = scenario::ActionKind::kPartition;
        std::string from = region(), to = region();
        while (to == from) to = region();
        a.blocks.push_back({from, to});
        a.partition_text = absl::StrCat("one-way ", from, " -/-> ", to);
        break;
      }
      case 4:
        a.kind = scenario::ActionKind::kPauseReplication;
        a.region = region();
        break;
      case 5:
        a.kind = scenario::ActionKind::kClockSkew;
        a.region = region();
        a.amount = absl::Milliseconds(uni(-800, 800));
        break;
      default:
        a.kind = scenario::ActionKind::kClockJump;
        a.region = region();
        a.amount = absl::Milliseconds(uni(-500, 500));
        break;
    }
    s.steps.push_back(st);
    t += absl::Milliseconds(uni(1500, 5000));
  }
  scenario::Expectation conv;
  conv.kind = scenario::ExpectKind::kConverged;
  conv.within = absl::Seconds(30);
  s.expectations.push_back(conv);
  scenario::Expectation lost;
  lost.kind = scenario::ExpectKind::kNoLostWrites;
  s.expectations.push_back(lost);
  return s;
}

// "7" -> {7}; "1..5" -> {1,2,3,4,5}.
bool ParseSeeds(const std::string& text, std::vector<uint64_t>* out) {
  std::vector<std::string> parts = absl::StrSplit(text, "..");
  uint64_t a, b;
  if (parts.size() == 1 && absl::SimpleAtoi(parts[0], &a)) {
    out->push_back(a);
    return true;
  }
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &a) || !absl::SimpleAtoi(parts[1], &b) ||
      b < a || b - a > 1000) {
    return false;
  }
  for (uint64_t s = a; s <= b; ++s) out->push_back(s);
  return true;
}

std::string Inner(const std::string& junit) {
  auto from = junit.find("<testsuite ");
  auto to = junit.rfind("</testsuites>");
  return junit.substr(from, to - from);
}

}  // namespace

int ScenarioChaosCommand(const ScenarioCmdArgs& args) {
  int regions = 3;
  if (args.values.count("regions") &&
      (!absl::SimpleAtoi(args.values.at("regions"), &regions) || regions < 2 || regions > 8)) {
    return Error("--regions must be a number of regions from 2 to 8");
  }
  absl::Duration duration = absl::Seconds(60);
  if (args.values.count("duration") &&
      (!scenario::ParseScenarioDuration(args.values.at("duration"), &duration) ||
       duration < absl::Seconds(5) || duration > absl::Hours(1))) {
    return Error("--duration must be a duration from 5s to 1h, e.g. 60s");
  }
  std::vector<uint64_t> seeds;
  if (args.values.count("seed") && args.values.count("seeds"))
    return Error("give --seed or --seeds, not both");
  std::string seed_text = args.values.count("seeds")  ? args.values.at("seeds")
                          : args.values.count("seed") ? args.values.at("seed")
                                                      : "1";
  if (!ParseSeeds(seed_text, &seeds))
    return Error("--seed takes a number; --seeds a range such as 1..10");
  if (args.values.count("dir"))
    return Error("chaos runs each seed in a temporary directory; --dir is not supported");
  InstallSignalHandlers();
  int worst = 0;
  std::string junit_suites;
  std::vector<std::string> failed;
  for (uint64_t seed : seeds) {
    Scenario s = ChaosScenario(regions, duration, seed);
    std::cerr << "== chaos seed " << seed << ": " << s.steps.size() << " faults over "
              << scenario::FormatScenarioDuration(duration) << " on " << regions << " regions\n";
    ScenarioCmdArgs one = args;
    one.values.erase("junit");
    if (seeds.size() > 1 && one.values.count("report")) {
      one.values["report"] = absl::StrCat(args.values.at("report"), "/seed-", seed);
    }
    scenario::RunResult r;
    int rc = RunAndReport(one, s, &r);
    if (rc == 2) return 2;
    junit_suites += Inner(scenario::JUnitXml(r));
    if (rc != 0) {
      failed.push_back(absl::StrCat(seed));
      std::cerr << "chaos seed " << seed << " FAILED; replay with: " << s.file << "\n";
    }
    worst = std::max(worst, rc);
    if (g_interrupted) break;
  }
  if (args.values.count("junit")) {
    absl::Status st = scenario::WriteTextFile(
        args.values.at("junit"), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n" +
                                     junit_suites + "</testsuites>\n");
    if (!st.ok()) return Error(std::string(st.message()));
  }
  if (seeds.size() > 1) {
    std::cout << (failed.empty() ? "every seed passed"
                                 : "failed seeds: " + absl::StrJoin(failed, ", "))
              << "\n";
  }
  return worst;
}

int ScenarioLinkCommand(const ScenarioCmdArgs& args) {
  auto need = [&](const std::string& f) -> std::string {
    auto it = args.values.find(f);
    return it == args.values.end() ? "" : it->second;
  };
  std::string from = need("from"), to = need("to");
  if (from.empty() || to.empty() || !args.values.count("delay")) {
    return Error(
        "usage: gtsim link --from A --to B --delay 35ms [--jitter 5ms] [--distribution "
        "constant|uniform|normal|exponential] [--loss 0.01] [--bandwidth 1MB/s]");
  }
  if (from == to) return Error("--from and --to must be two different regions");
  LinkDelay d;
  absl::Duration delay, jitter;
  if (!scenario::ParseScenarioDuration(need("delay"), &delay) || delay < absl::ZeroDuration()) {
    return Error("--delay \"" + need("delay") +
                 "\" is not a duration such as 35ms (0 removes the delay)");
  }
  d.delay_us = absl::ToInt64Microseconds(delay);
  if (args.values.count("jitter")) {
    if (!scenario::ParseScenarioDuration(need("jitter"), &jitter) ||
        jitter < absl::ZeroDuration()) {
      return Error("--jitter \"" + need("jitter") + "\" is not a duration such as 5ms");
    }
    d.jitter_us = absl::ToInt64Microseconds(jitter);
  }
  if (args.values.count("distribution") &&
      !ParseLinkDistribution(need("distribution"), &d.distribution)) {
    return Error("--distribution must be constant, uniform, normal or exponential");
  }
  if (args.values.count("loss") &&
      (!absl::SimpleAtod(need("loss"), &d.loss) || d.loss < 0 || d.loss >= 0.5)) {
    return Error("--loss is a probability per transmission from 0 to below 0.5, e.g. 0.01");
  }
  if (args.values.count("bandwidth") &&
      !scenario::ParseBandwidth(need("bandwidth"), &d.bandwidth_bytes_per_s)) {
    return Error("--bandwidth must be a rate such as 1MB/s or 500KB/s");
  }
  auto cluster = LocalCluster::Load(args.cluster_dir, args.region_binary);
  if (!cluster.ok()) return Error(std::string(cluster.status().message()));
  if (absl::Status st = RegionClient::UseSecretFile(cluster->secret_path()); !st.ok()) {
    return Error(std::string(st.message()));
  }
  absl::StatusOr<std::string> done = SetLinkModel(*cluster, from, to, d);
  if (!done.ok()) return Error(std::string(done.status().message()));
  std::cerr << *done << "\n";
  return 0;
}

}  // namespace gtsim
