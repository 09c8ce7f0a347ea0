// Scenario files (sim/scenario/scenario.h), the checkers' verdicts (checks.h), the report
// writers (report.h) and the link network model (replicator/link_delay.h).
#include "sim/scenario/scenario.h"

#include <dirent.h>

#include <catch2/catch.hpp>
#include <string>

#include "replicator/link_delay.h"
#include "sim/scenario/checks.h"
#include "sim/scenario/report.h"

namespace gtsim::scenario {
namespace {

// The error message of parsing `text` as "t.yaml", or "" when it parses.
std::string ErrorOf(const std::string& text) {
  auto s = ParseScenario(text, "t.yaml");
  return s.ok() ? "" : std::string(s.status().message());
}

const char* kValid = R"(name: demo
seed: 3
regions: [us-east-1, us-west-2, eu-west-1]
network: aws
workloads:
  - {name: app, region: us-east-1, rate: 20, keys: 10, mix: {put: 1, update: 1}}
steps:
  - at: 1s
    kill: us-east-1
  - at: 2s
    move: {workload: app, to: us-west-2}
  - at: 3s
    restart: us-east-1
  - wait: {until: converged, timeout: 5s}
  - at: 4s
    every: 2s
    until: 9s
    partition: {isolate: random}
    for: 1s
expect:
  - converged: {within: 10s}
  - lost_to_lww: {reason: later-timestamp, at_least: 1}
)";

TEST_CASE("a valid scenario file parses into regions, workloads, steps and expectations") {
  auto s = ParseScenario(kValid, "t.yaml");
  REQUIRE(s.ok());
  CHECK(s->name == "demo");
  CHECK(s->seed == 3);
  CHECK(s->regions.size() == 3);
  CHECK(s->network.links.size() == 6);  // every directed pair of the AWS matrix
  REQUIRE(s->workloads.size() == 1);
  CHECK(s->workloads[0].rate == 20);
  REQUIRE(s->steps.size() == 5);
  CHECK(s->steps[0].action.kind == ActionKind::kKill);
  CHECK(s->steps[0].line == 8);
  CHECK(s->steps[1].action.region == "us-west-2");
  CHECK(s->steps[3].action.kind == ActionKind::kWaitConverged);
  CHECK(*s->steps[4].every == absl::Seconds(2));
  CHECK(s->duration >= absl::Seconds(9));  // the recurring fault runs until 9s
  REQUIRE(s->expectations.size() == 2);
  CHECK(s->expectations[1].reason == "later-timestamp");
}

TEST_CASE("bad scenario files are rejected with the file, the line and a plain message") {
  CHECK(ErrorOf("regions: [us-east-1\nsteps: {oops\n").rfind("t.yaml:2: malformed YAML", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\nbogus: 1\n") ==
        "t.yaml:2: unknown key \"bogus\" in the scenario; expected one of: name, description, "
        "seed, regions, network, table, tables, workloads, steps, expect, duration, settle, "
        "heartbeat");
  CHECK(ErrorOf("regions: [a, b]\nworkloads:\n  - {name: w, region: a, rate: fast}\n") ==
        "t.yaml:3: rate must be a number, not \"fast\"");
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - kill: c\n") ==
        "t.yaml:3: kill \"c\" is not one of the scenario's regions (a, b) or random");
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - restart: a\n") ==
        "t.yaml:3: cannot restart a: it is running (kill it in an earlier step first)");
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - at: 5s\n    kill: a\n  - at: 2s\n    restart: a\n") ==
        "t.yaml:5: steps run in order: at 2s comes after a step at 5s (line 3)");
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - at: 1s\n    every: 2s\n    until: 5s\n    kill: a\n")
            .rfind("t.yaml:4: a recurring fault needs for", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - at: 1s\n    heal: true\n    for: 2s\n")
            .rfind("t.yaml:5: \"for\" undoes a fault", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\nexpect:\n  - lock_overlaps: {at_least: 1}\n") ==
        "t.yaml:3: lock_overlaps needs a lock workload");
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - at: 1s\n    move: {workload: nope, to: b}\n") ==
        "t.yaml:4: no workload named \"nope\" (the scenario defines none)");
  CHECK(ErrorOf("regions: [us-east-1, mars-1]\nnetwork: aws\n")
            .rfind("t.yaml:2: network aws has no round-trip time for us-east-1 <-> mars-1", 0) ==
        0);
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - clock: {region: a, skew: 2h}\n") ==
        "t.yaml:3: a clock is at most 1h off true time, either way");
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - clock: {region: a, jump: -90m}\n") ==
        "t.yaml:3: a clock is at most 1h off true time, so a jump is at most 1h");
  // Numbers that slipped through once (issue 19 item 8): each refused, with the line.
  CHECK(ErrorOf("regions: [a, b]\nworkloads:\n  - {name: w, region: a, keys: 4294967296}\n") ==
        "t.yaml:3: keys: at most 100000");
  CHECK(ErrorOf("regions: [a, b]\nworkloads:\n  - {name: w, region: a, rate: nan}\n") ==
        "t.yaml:3: rate must be a finite number, not \"nan\"");
  CHECK(ErrorOf("regions: [a, b]\nduration: 100000000h\n") ==
        "t.yaml:2: duration is at most 168h (a week), not \"100000000h\"");
  CHECK(ErrorOf("regions: [a, b]\ntable: {name: t, hash_key: id:S, billing: PROVISIONED, "
                "wcu: 1000000000000000000, rcu: 5}\n") == "t.yaml:2: wcu: at most 40000");
  CHECK(ErrorOf("regions: [a]\n") == "t.yaml:1: a global table needs at least two regions");
  CHECK(ErrorOf("").rfind("t.yaml:1: the file is empty", 0) == 0);
  CHECK(
      ErrorOf("regions: [a, b]\nnetwork:\n  default: {delay: 10ms, distribution: pareto}\n") ==
      "t.yaml:3: distribution \"pareto\" is unknown; use constant, uniform, normal or exponential");
}

const char* kTables = R"(regions: [us-east-1, us-west-2, eu-west-1]
tables:
  - name: orders
    hash_key: id:S
    range_key: n:N
    indexes:
      - {name: byGroup, hash_key: grp:S, projection: KEYS_ONLY}
    replicas: [us-east-1, us-west-2]
  - {name: blobs, hash_key: b:B, billing: PROVISIONED, wcu: 50, rcu: 10}
workloads:
  - {name: app, region: us-east-1, table: orders}
  - {name: other, region: eu-west-1, table: blobs}
steps:
  - add_replica: {table: orders, region: eu-west-1}
  - wait: {until: replica_active, table: orders, region: eu-west-1, timeout: 20s}
  - create_index: {table: orders, name: byW, hash_key: w:S, via: us-west-2}
  - wait: {until: index_active, table: orders, index: byW}
  - table_settings: {table: blobs, billing: PAY_PER_REQUEST, ttl_attribute: exp, sse: KMS}
  - remove_replica: {table: blobs, region: us-west-2}
  - delete_index: {table: orders, name: byGroup}
  - remove_replica: {table: orders, region: us-west-2}
expect:
  - index_matches: {table: orders, index: byW}
)";

TEST_CASE("tables: keys, indexes, billing and replicas, and the table and replica steps") {
  auto s = ParseScenario(kTables, "t.yaml");
  INFO(s.status().message());
  REQUIRE(s.ok());
  REQUIRE(s->tables.size() == 2);
  const TableDef& orders = s->tables[0];
  CHECK(orders.range_key->name == "n");
  CHECK(orders.range_key->type == ValueType::kN);
  REQUIRE(orders.indexes.size() == 1);
  CHECK(orders.indexes[0].projection == "KEYS_ONLY");
  CHECK(orders.replicas == std::vector<std::string>{"us-east-1", "us-west-2"});
  CHECK(s->tables[1].hash_key.type == ValueType::kB);
  CHECK(s->tables[1].billing == "PROVISIONED");
  CHECK(s->tables[1].replicas.size() == 3);  // all regions by default
  CHECK(s->workloads[1].table == "blobs");
  CHECK(s->steps[0].action.kind == ActionKind::kAddReplica);
  CHECK(s->steps[0].Describe() == "add replica of orders in eu-west-1");
  CHECK(s->steps[1].action.kind == ActionKind::kWaitReplicaActive);
  CHECK(s->steps[2].action.via == "us-west-2");
  CHECK(s->steps[2].action.new_index.hash_key.name == "w");
  CHECK(s->steps[4].action.settings.ttl_attribute == "exp");
  CHECK(s->expectations[0].kind == ExpectKind::kIndexMatches);
  // The single-table form still reads as before: a string hash key, every region.
  auto one = ParseScenario("regions: [a, b]\ntable: {name: t, hash_key: k}\n", "t.yaml");
  REQUIRE(one.ok());
  CHECK(one->tables.size() == 1);
  CHECK(one->tables[0].hash_key == KeyDef{"k", ValueType::kS});
  CHECK(one->tables[0].replicas.size() == 2);
}

TEST_CASE("bad tables and table steps are rejected before anything starts, with the line") {
  const std::string head = "regions: [a, b, c]\ntables:\n  - {name: t, replicas: [a, b]}\n";
  CHECK(ErrorOf("regions: [a, b]\ntables:\n  - {name: t, hash_key: id:X}\n") ==
        "t.yaml:3: hash_key \"id:X\" is invalid: write NAME or NAME:TYPE with TYPE S, N or B");
  CHECK(ErrorOf("regions: [a, b]\ntables:\n  - {name: t, replica: [a]}\n")
            .rfind("t.yaml:3: unknown key \"replica\" in a table", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\ntables:\n  - {name: t, replicas: [a, z]}\n")
            .rfind("t.yaml:3: a replica region \"z\" is not one of the scenario's regions", 0) ==
        0);
  CHECK(ErrorOf(head + "workloads:\n  - {name: w, region: a, table: nope}\n") ==
        "t.yaml:5: no table named \"nope\"; defined: t");
  CHECK(ErrorOf(head + "workloads:\n  - {name: w, region: c}\n") ==
        "t.yaml:5: workload w would write table t in c, which holds no replica of it then "
        "(replicas: a, b)");
  CHECK(ErrorOf(head + "steps:\n  - add_replica: b\n") ==
        "t.yaml:5: table t already has a replica in b");
  CHECK(ErrorOf(head + "steps:\n  - remove_replica: c\n") ==
        "t.yaml:5: table t has no replica in c to remove");
  CHECK(ErrorOf(head + "steps:\n  - wait: {until: replica_active, region: c}\n") ==
        "t.yaml:5: waiting for c's replica of t, but no step before adds one there");
  CHECK(ErrorOf(head + "steps:\n  - wait: {until: index_active, index: byX}\n") ==
        "t.yaml:5: waiting for index byX of t, which neither the table nor an earlier step "
        "defines");
  CHECK(ErrorOf(head + "steps:\n  - delete_index: byX\n") ==
        "t.yaml:5: table t has no index named byX to delete");
  CHECK(ErrorOf("regions: [a, b]\ntables:\n  - {name: t, billing: PROVISIONED, wcu: 5, rcu: 5, "
                "replicas: [a]}\nsteps:\n  - add_replica: b\n")
            .rfind("t.yaml:5: table t is PROVISIONED and cannot gain replicas", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\ntables:\n  - {name: t, billing: PROVISIONED}\n") ==
        "t.yaml:3: billing: PROVISIONED needs wcu and rcu (units per second, at least 1)");
  CHECK(ErrorOf(head + "workloads:\n  - {name: w, region: a}\nsteps:\n  - remove_replica: a\n") ==
        "t.yaml:7: cannot remove a's replica of t: workload w writes it there (move it first)");
  CHECK(ErrorOf(head + "expect:\n  - index_matches: {index: byX}\n") ==
        "t.yaml:5: index_matches: table t has no index byX at the end of the timeline");
  CHECK(ErrorOf("regions: [a, b]\nheartbeat: false\ntables:\n  - {name: t, replicas: [b, a]}\n"
                "steps:\n  - wipe: b\n")
            .rfind("t.yaml:6: cannot wipe b: it created table t (its first replica)", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - wipe: a\n")
            .rfind("t.yaml:3: cannot wipe a: it created the heartbeat table", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\nsteps:\n  - kill: b\n  - wipe: b\n") ==
        "t.yaml:4: cannot wipe b: it is killed or paused at that point");
  CHECK(ErrorOf("regions: [a, b, c]\nsteps:\n  - wipe: b\n") == "");
  CHECK(ErrorOf("regions: [a, b, c]\ntable: {name: t}\nsteps:\n  - remove_replica: c\n"
                "  - add_replica: c\n  - wipe: c\n")
            .rfind("t.yaml:6: cannot wipe c: an earlier step added or removed", 0) == 0);
  CHECK(ErrorOf("regions: [a, b]\ntable: {name: t}\ntables: []\n") ==
        "t.yaml:3: write either table: (one table) or tables: (a list), not both");
}

TEST_CASE("every scenario in the library parses") {
  std::string dir = std::string(GTSIM_SOURCE_DIR) + "/scenarios";
  DIR* d = opendir(dir.c_str());
  REQUIRE(d != nullptr);
  int n = 0;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() < 5 || name.substr(name.size() - 5) != ".yaml") continue;
    auto s = LoadScenario(dir + "/" + name);
    INFO(name << ": " << s.status().message());
    CHECK(s.ok());
    if (s.ok()) CHECK(!s->expectations.empty());
    ++n;
  }
  closedir(d);
  CHECK(n >= 5);
}

TEST_CASE("network aws uses half the reference round-trip time") {
  CHECK(*AwsOneWay("us-east-1", "us-west-2") == absl::Milliseconds(32));
  CHECK(*AwsOneWay("eu-central-1", "eu-west-1") == absl::Microseconds(13500));
  CHECK(!AwsOneWay("us-east-1", "mars-1").has_value());
}

TEST_CASE("link model: constant delay, order kept, bandwidth cap and loss as retransmission") {
  LinkDelay d;
  d.delay_us = 10'000;
  d.distribution = LinkDistribution::kConstant;
  d.jitter_us = 5'000;  // ignored by constant
  DueTimes due(1);
  CHECK(due.Next(1'000'000, d) == 1'010'000);
  CHECK(due.Next(999'000, d) == 1'010'000);  // never before the change ahead of it

  LinkDelay capped;
  capped.bandwidth_bytes_per_s = 1000;  // 1000 B/s: a 500-byte change occupies the link 0.5 s
  DueTimes bw(1);
  CHECK(bw.Next(0, capped, 500) == 500'000);
  CHECK(bw.Next(0, capped, 500) == 1'000'000);

  LinkDelay lossy;
  lossy.delay_us = 1'000;
  lossy.loss = 0.4;
  DueTimes l(7);
  int64_t retransmitted = 0;
  for (int i = 0; i < 200; ++i) {
    int64_t latency = l.Next(i * 10'000'000LL, lossy) - i * 10'000'000LL;
    CHECK((latency - 1'000) % RetransmitTimeoutUs(lossy) == 0);
    if (latency > 1'000) ++retransmitted;
  }
  CHECK(retransmitted > 40);  // ~40 % of the changes needed at least one retransmission
  CHECK(retransmitted < 120);

  LinkDelay parsed;
  REQUIRE(ParseLinkSpec("35ms/5ms/normal/0.01/1000000", &parsed));
  CHECK(parsed.delay_us == 35'000);
  CHECK(parsed.distribution == LinkDistribution::kNormal);
  CHECK(parsed.bandwidth_bytes_per_s == 1'000'000);
  LinkDelay again;
  REQUIRE(ParseLinkSpec(FormatLinkSpec(parsed), &again));
  CHECK(again == parsed);
  CHECK(!ParseLinkSpec("35ms/5ms/pareto", &again));
}

TEST_CASE("lock overlaps count intervals of different regions that intersect") {
  std::vector<LockInterval> locks = {
      {"us-east-1", 0.0, 0.3}, {"us-west-2", 0.2, 0.5},  // overlap
      {"us-east-1", 1.0, 1.2}, {"us-east-1", 1.1, 1.3},  // same region: not a race
      {"us-west-2", 2.0, 2.1}, {"us-east-1", 2.1, 2.2},  // touching, not overlapping
  };
  std::vector<std::string> why;
  CHECK(CountLockOverlaps(locks, &why) == 1);
  REQUIRE(why.size() == 1);
  CHECK(why[0].find("us-east-1 held the lock from 0.000s to 0.300s while us-west-2") == 0);
}

TEST_CASE("explanations show stamps as seconds since the run started") {
  CHECK(RelativeStamps("put k1 = w3 in a at ts 1700000004250001 lost to w4 at ts 1700000003999999",
                       1700000000000000) ==
        "put k1 = w3 in a at ts +4.250001s lost to w4 at ts +3.999999s");
  CHECK(RelativeStamps("ts 12 is short, ts ", 0) == "ts 12 is short, ts ");
}

RunResult SampleResult() {
  RunResult r;
  r.scenario = "demo";
  r.file = "demo.yaml";
  r.regions = {"us-east-1", "us-west-2"};
  r.duration_s = 10;
  r.converge_s = 0.5;
  r.acked_increments = 10;
  r.final_counter_total = 7;
  r.loss_counts = {{"later-timestamp", 2}, {"overwritten", 40}};
  r.conflicts.push_back({3.0, "us-east-1", "k1", "later-timestamp", "put k1 = w3 lost <to> w4"});
  r.faults.push_back({2.0, 4.0, "kill -9 us-east-1"});
  r.lag.push_back({1, "us-east-1", "us-west-2", 30, 35, 40, 41, 10, 0});
  r.lag.push_back({2, "us-east-1", "us-west-2", 31, 36, 90, 95, 10, 2});
  r.workloads.push_back({"app", "mixed", {"us-east-1"}, 100, 90, 10, 0, 80});
  return r;
}

TEST_CASE("expectations are judged against the measurements, with the numbers in words") {
  RunResult r = SampleResult();
  Expectation lost;
  lost.kind = ExpectKind::kLostIncrements;
  lost.at_most = 0;
  ExpectationResult v = Evaluate(lost, r);
  CHECK(!v.passed);
  CHECK(v.detail.find("10 increments acknowledged, the counters add up to 7: 3 lost") == 0);

  Expectation lww;
  lww.kind = ExpectKind::kLostToLww;
  lww.at_least = 1;
  CHECK(Evaluate(lww, r).passed);  // overwrites do not count, the 2 conflicts do
  lww.at_least = 3;
  CHECK(!Evaluate(lww, r).passed);

  Expectation lag;
  lag.kind = ExpectKind::kLag;
  lag.p99_below = absl::Milliseconds(50);
  v = Evaluate(lag, r);
  CHECK(!v.passed);  // the second second reported p99 90 ms
  CHECK(v.detail.find("us-east-1 -> us-west-2 p50 31.0 ms, p99 90.0 ms") != std::string::npos);
  lag.p99_below = absl::Milliseconds(100);
  CHECK(Evaluate(lag, r).passed);

  Expectation hb;
  hb.kind = ExpectKind::kLag;
  hb.heartbeat = true;
  hb.p50_below = absl::Milliseconds(50);
  r.heartbeats = {{1, "us-east-1", "us-west-2", 40},
                  {2, "us-east-1", "us-west-2", 45},
                  {3, "us-east-1", "us-west-2", 300}};
  v = Evaluate(hb, r);
  CHECK(v.passed);  // the median is 45 ms, whatever ReplicationLatency said
  hb.p99_below = absl::Milliseconds(100);
  CHECK(!Evaluate(hb, r).passed);

  Expectation avail;
  avail.kind = ExpectKind::kAvailability;
  avail.min_fraction = 0.95;
  CHECK(!Evaluate(avail, r).passed);  // 90 of 100

  Expectation conv;
  conv.kind = ExpectKind::kConverged;
  conv.within = absl::Seconds(1);
  CHECK(Evaluate(conv, r).passed);
  r.converge_s = -1;
  CHECK(!Evaluate(conv, r).passed);
}

TEST_CASE("index_matches fails with the region, the value and the missing keys") {
  Expectation e;
  e.kind = ExpectKind::kIndexMatches;
  e.table = "t";
  e.index = "byGrp";
  RunResult r;
  CHECK(!Evaluate(e, r).passed);  // never checked
  r.index_checks.push_back({"t", "byGrp", 12, {}});
  CHECK(Evaluate(e, r).passed);
  r.index_checks[0].mismatches.push_back(
      "us-west-2: byGrp grp = \"g3\": the table has 4 items with it, the index returned 3; "
      "missing k13");
  ExpectationResult out = Evaluate(e, r);
  CHECK(!out.passed);
  CHECK(out.detail.find("us-west-2: byGrp grp = \"g3\"") != std::string::npos);
  CHECK(out.detail.find("missing k13") != std::string::npos);
}

TEST_CASE("JUnit has one testcase per expectation and a failure for each that failed") {
  RunResult r = SampleResult();
  r.expectations.push_back({"converged within 30s", 5, true, "ok"});
  r.expectations.push_back({"lost increments <= 0", 6, false, "3 lost & <bad>"});
  std::string x = JUnitXml(r);
  CHECK(x.find("tests=\"2\" failures=\"1\"") != std::string::npos);
  CHECK(x.find("<testcase classname=\"gtsim.demo\" name=\"converged within 30s\"") !=
        std::string::npos);
  CHECK(x.find("<failure message=\"3 lost &amp; &lt;bad&gt;\"") != std::string::npos);
}

TEST_CASE("the HTML report plots lag with fault intervals shaded and the conflict timeline") {
  RunResult r = SampleResult();
  std::string html = HtmlReport(r);
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("<title>kill -9 us-east-1 (2.0s - 4.0s)</title>") != std::string::npos);
  CHECK(html.find("<circle") != std::string::npos);
  CHECK(html.find("put k1 = w3 lost &lt;to&gt; w4") != std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(LagCsv(r).find("t,from,to,p50_ms,p90_ms,p99_ms,max_ms,samples,pending,p99_1s_ms,"
                       "samples_1s,staleness_ms\n1.0,us-east-1,us-west-2,30.000") == 0);
  CHECK(ResultJson(r)["conflicts"][0]["key"] == "k1");
}

}  // namespace
}  // namespace gtsim::scenario
