// Property tests of the deterministic simulation (sim/harness/simulation.h) and its checkers
// (sim/harness/history.h): many seeds of concurrent writes, deletes, partitions, crashes and clock
// skew must all converge without losing an acknowledged write; a seed replays exactly; the checkers
// do fail on a broken run; and clock skew shows up as the lesson it is meant to teach.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/table_engine.h"
#include "model/planted_bug.h"
#include "sim/harness/history.h"
#include "sim/harness/simulation.h"

namespace gtsim {
namespace {

SimResult MustRun(const SimOptions& options) {
  auto result = RunSimulation(options);
  INFO("seed " << options.seed << ": " << result.status().ToString()
               << "\nreplay: " << ReplayCommand(options));
  REQUIRE(result.ok());
  return *std::move(result);
}

std::string Failure(const SimResult& r) {
  return absl::StrCat(r.Line(), "\n  ", absl::StrJoin(r.check.violations, "\n  "),
                      "\nreplay: ", ReplayCommand(r.options));
}

bool AnyContains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines) {
    if (absl::StrContains(l, needle)) return true;
  }
  return false;
}

TEST_CASE("every seed converges and loses no acknowledged write", "[sim]") {
  constexpr uint64_t kSeeds = 400;
  constexpr int64_t kIntervals[] = {2'000, 5'000, 20'000};  // more or fewer conflicts
  int64_t acknowledged = 0, partitions = 0, crashes = 0, skews = 0, lost_batches = 0;
  std::map<LossReason, int64_t> reasons;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.regions = 2 + static_cast<int>(seed % 5);  // 2..6
    o.ops = 300;
    o.keys = 3 + static_cast<int>(seed % 8);
    o.op_interval_us = kIntervals[seed % 3];
    SimResult r = MustRun(o);
    if (!r.ok()) FAIL_CHECK(Failure(r));
    CHECK(r.quiescent);
    acknowledged += r.acknowledged;
    partitions += r.faults.partitions;
    crashes += r.faults.crashes;
    skews += r.faults.skews;
    lost_batches += r.faults.messages_lost;
    for (const auto& [reason, n] : r.check.loss_counts) reasons[reason] += n;
  }
  // The runs really exercised what they claim to.
  CHECK(acknowledged > static_cast<int64_t>(kSeeds) * 200);
  CHECK(partitions > 100);
  CHECK(crashes > 50);
  CHECK(skews > 100);
  CHECK(lost_batches > 100);
  CHECK(reasons[LossReason::kLostToLaterTimestamp] > 0);
  CHECK(reasons[LossReason::kLostToClockAhead] > 0);
  CHECK(reasons[LossReason::kRemovedByDelete] > 0);
  CHECK(reasons[LossReason::kSupersededOnArrival] > 0);
  CHECK(reasons[LossReason::kNoOpDelete] > 0);
}

TEST_CASE("replica changes from every region under faults converge to one replica set",
          "[sim][replica]") {
  // Issue 19 item 3: adds, removals and cancels of a second table's replicas, made from random
  // regions during partitions, crashes, skew and loss, with snapshot bootstraps under the same
  // faults. Each run's checker: one replica set everywhere, all ACTIVE, held by exactly the
  // regions it lists, each region present iff its newest acknowledged change added it, and the
  // same items in every replica.
  constexpr uint64_t kSeeds = 150;
  int64_t changes = 0, refused = 0, chunks = 0, partitions = 0, crashes = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.regions = 2 + static_cast<int>(seed % 4);  // 2..5
    o.ops = 300;
    o.replica_change_probability = 0.05 + 0.01 * static_cast<double>(seed % 15);
    SimResult r = MustRun(o);
    if (!r.ok()) FAIL_CHECK(Failure(r));
    changes += r.replica_changes;
    refused += r.replica_changes_refused;
    chunks += r.snapshot_chunks;
    partitions += r.faults.partitions;
    crashes += r.faults.crashes;
  }
  CHECK(changes > static_cast<int64_t>(kSeeds) * 5);
  CHECK(refused > 0);
  CHECK(chunks > static_cast<int64_t>(kSeeds));
  CHECK(partitions > 50);
  CHECK(crashes > 20);
}

TEST_CASE("a seed with replica changes replays exactly", "[sim][replica]") {
  SimOptions o;
  o.seed = 77;
  o.regions = 4;
  o.ops = 300;
  o.replica_change_probability = 0.1;
  SimResult a = MustRun(o);
  SimResult b = MustRun(o);
  CHECK(a.ok());
  CHECK(a.replica_changes > 0);
  CHECK(a.digest == b.digest);
  CHECK(a.Line() == b.Line());
}

TEST_CASE("a sweep catches each planted bug within its seed budget", "[sim][planted]") {
  // Issue 13 item 3: real bugs, planted one at a time (model/planted_bug.h); the first two are
  // the ones the simulator found when it began running production's link. Each must make a
  // default sweep fail within kBudget seeds, with a violation naming what went wrong.
  // The rarest, cancel-before-add-dropped, needs a cancel to overtake its add on another link:
  // it first shows at seed 2297 (3 in 4,000 seeds; `gtsim-sim --plant-bug
  // cancel-before-add-dropped --seeds 1..4000`).
  constexpr uint64_t kBudget = 3000;
  struct Case {
    PlantedBug bug;
    const char* violation;         // a part of the violation the sweep reports
    bool data_plane_only = false;  // no members table: the sweep wipes disks (wipe_probability)
  };
  const Case cases[] = {
      {PlantedBug::kRewindKeepsStamp, "change log rolled back"},
      {PlantedBug::kCancelBeforeAddDropped, "members is still UPDATING"},
      {PlantedBug::kSnapshotCutAheadByOne, "hold different items"},
      {PlantedBug::kIndexEntryLeftByDelete, "items with that key"},
      // Found by the stream checker alone: the items are right, the streams are not.
      {PlantedBug::kReapplyEqualStamp, "a write applied more than once"},
      // Wipe-and-rejoin runs only without the control plane (SimOptions::wipe_probability).
      {PlantedBug::kRejoinWithoutReclaim, "acknowledged write lost", true},
  };
  for (const Case& c : cases) {
    INFO("planted: " << PlantedBugName(c.bug));
    PlantBug(c.bug);
    uint64_t caught_at = 0;
    std::vector<std::string> violations;
    for (uint64_t seed = 1; seed <= kBudget && !caught_at; ++seed) {
      SimOptions o;
      o.seed = seed;
      if (c.data_plane_only) {
        o.replica_change_probability = 0;
        o.control_change_probability = 0;
      }
      SimResult r = MustRun(o);
      if (!r.ok()) {
        caught_at = seed;
        violations = r.check.violations;
      }
    }
    PlantBug(PlantedBug::kNone);
    INFO(absl::StrJoin(violations, "\n"));
    CHECK(caught_at > 0);
    CHECK(AnyContains(violations, c.violation));
  }
  // And without a planted bug the same budget passes.
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    SimOptions o;
    o.seed = seed;
    SimResult r = MustRun(o);
    if (!r.ok()) FAIL_CHECK(Failure(r));
  }
}

TEST_CASE("regions wiped at random rejoin empty; what they had not sent is classified as lost",
          "[sim][wipe]") {
  // Issue 13 item 2's wipe-and-rejoin: a region's disk is wiped (data plane only, see
  // SimOptions::wipe_probability) and it rejoins as `gtsim restart --rejoin` does. Its
  // acknowledged writes no other region held are lost with the disk and explained as such;
  // everything else must come back, and the checkers hold as after any other fault.
  constexpr uint64_t kSeeds = 300;
  int64_t wipes = 0, lost_with_disk = 0;
  std::string example;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SimOptions o;
    o.seed = seed;
    o.replica_change_probability = 0;
    o.control_change_probability = 0;
    SimResult r = MustRun(o);
    if (!r.ok()) FAIL_CHECK(Failure(r));
    wipes += r.faults.wipes;
    lost_with_disk += r.check.loss_counts[LossReason::kLostWithDisk];
    for (const auto& c : r.check.classified) {
      if (c.reason == LossReason::kLostWithDisk && example.empty()) example = c.explanation;
    }
  }
  CHECK(wipes > 20);
  CHECK(lost_with_disk > 0);
  INFO(example);
  CHECK(absl::StrContains(example, "had reached no other region when"));
  // With control-plane changes on there is no wipe (its checkers cannot judge one yet).
  SimOptions o;
  o.seed = 1;
  CHECK(MustRun(o).faults.wipes == 0);
}

TEST_CASE("a seed replays exactly", "[sim]") {
  SimOptions o;
  o.seed = 4242;
  o.regions = 4;
  o.ops = 300;
  SimResult a = MustRun(o);
  SimResult b = MustRun(o);
  CHECK(a.ok());
  CHECK(a.digest == b.digest);
  CHECK(a.Line() == b.Line());
  REQUIRE(a.history.size() == b.history.size());
  for (size_t i = 0; i < a.history.size(); ++i) {
    const AckedWrite& x = a.history.writes()[i];
    const AckedWrite& y = b.history.writes()[i];
    INFO("write " << i);
    CHECK(x.id == y.id);
    CHECK(x.region == y.region);
    CHECK(x.true_us == y.true_us);
    CHECK(x.result.stamp == y.result.stamp);
  }
  // Another seed is another run.
  o.seed = 4243;
  CHECK(MustRun(o).digest != a.digest);
}

TEST_CASE("simulations running side by side do not disturb each other", "[sim]") {
  std::vector<SimOptions> options(4);
  for (size_t i = 0; i < options.size(); ++i) {
    options[i].seed = 100 + i;
    options[i].ops = 150;
  }
  std::vector<uint64_t> alone;
  for (const auto& o : options) alone.push_back(MustRun(o).digest);
  std::vector<uint64_t> together(options.size());
  std::vector<bool> ok(options.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < options.size(); ++i) {
    threads.emplace_back([&, i] {
      auto r = RunSimulation(options[i]);
      ok[i] = r.ok() && r->ok();
      if (r.ok()) together[i] = r->digest;
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < options.size(); ++i) {
    INFO("seed " << options[i].seed);
    CHECK(ok[i]);
    CHECK(together[i] == alone[i]);
  }
}

TEST_CASE("a link left cut is reported as not converged", "[sim]") {
  SimOptions o;
  o.seed = 7;
  o.regions = 3;
  o.ops = 200;
  o.faults = false;
  o.keep_one_link_cut = true;
  o.settle_limit_us = 5'000'000;
  SimResult r = MustRun(o);
  CHECK_FALSE(r.ok());
  CHECK_FALSE(r.quiescent);
  INFO(Failure(r));
  CHECK(AnyContains(r.check.violations, "not converged"));
  CHECK(AnyContains(r.check.violations, "not quiescent"));
  CHECK(AnyContains(r.check.violations, "us-east-1->us-west-2"));
  CHECK(AnyContains(r.check.violations, "acknowledged write lost"));
  CHECK(absl::StrContains(ReplayCommand(o), "--keep-link-cut"));
}

TEST_CASE("a fabricated acknowledged write that no replica holds is a lost write", "[sim]") {
  SimOptions o;
  o.seed = 11;
  o.ops = 100;
  SimResult r = MustRun(o);
  REQUIRE(r.ok());
  TableSpec spec;
  spec.name = "sim";
  spec.hash_key = KeyDef{"id", ValueType::kS};
  CHECK(CheckAll(spec, r.history, r.replicas).ok);

  int64_t max_ts = 0;
  for (const auto& w : r.history.writes()) max_ts = std::max(max_ts, w.result.stamp.ts_us);
  History forged = r.history;
  AckedWrite w;
  w.id = 999'999;
  w.kind = WriteKind::kPut;
  w.region = "us-west-2";
  w.key_text = "k0";
  w.key = Item{{"id", AttributeValue::S("k0")}};
  w.result.stamp = Stamp{max_ts + 1'000'000, "us-west-2"};
  w.result.new_item = w.key;
  (*w.result.new_item)[kWriteIdAttribute] = AttributeValue::S("w999999");
  forged.Record(w);
  CheckResult c = CheckAll(spec, forged, r.replicas);
  CHECK_FALSE(c.ok);
  INFO(absl::StrJoin(c.violations, "\n"));
  CHECK(AnyContains(c.violations, "acknowledged write lost: put k0 = w999999 in us-west-2"));
  // Replicas still agree with each other: only the classifier can see this loss.
  CHECK(CheckConvergence(r.replicas).ok);

  // And a replica that silently dropped an item is caught by both checkers.
  std::vector<ReplicaState> damaged = r.replicas;
  bool dropped = false;
  for (auto& v : damaged[1].versions) {
    if (v.item) {
      v.item.reset();
      dropped = true;
      break;
    }
  }
  REQUIRE(dropped);
  CheckResult d = CheckAll(spec, r.history, damaged);
  CHECK_FALSE(d.ok);
  CHECK(AnyContains(d.violations, "not converged"));
  CHECK(AnyContains(d.violations, "acknowledged write lost"));
}

TEST_CASE("the classifier explains a conflict in plain words", "[sim]") {
  TableSpec spec;
  spec.name = "sim";
  spec.hash_key = KeyDef{"id", ValueType::kS};
  Item key{{"id", AttributeValue::S("k7")}};
  auto put = [&](int64_t id, const std::string& region, int64_t ts, int64_t true_us) {
    AckedWrite w;
    w.id = id;
    w.region = region;
    w.key = key;
    w.key_text = "k7";
    w.true_us = true_us;
    w.result.stamp = Stamp{ts, region};
    w.result.new_item = key;
    (*w.result.new_item)[kWriteIdAttribute] = AttributeValue::S(absl::StrCat("w", id));
    return w;
  };
  History h;
  h.Record(put(123, "us-west-2", 1700000000123456, 1700000000123456));
  h.Record(put(130, "eu-west-1", 1700000000124000, 1700000000124000));
  AckedWrite late = put(131, "ap-northeast-1", 1700000000100000, 1700000000200000);
  late.skew_us = -250'000;
  late.result.new_item.reset();
  late.result.superseded_by = Stamp{1700000000124000, "eu-west-1"};
  h.Record(late);

  TableEngine::Version v;
  REQUIRE(TableEngine::EncodeKeyOf(spec, key, &v.hk, &v.rk).ok());
  v.stamp = Stamp{1700000000124000, "eu-west-1"};
  v.item = h.writes()[1].result.new_item;
  std::vector<ReplicaState> replicas = {{"us-west-2", {v}}, {"eu-west-1", {v}}};

  CheckResult c = CheckAll(spec, h, replicas);
  INFO(absl::StrJoin(c.violations, "\n"));
  REQUIRE(c.ok);
  REQUIRE(c.classified.size() == 2);
  CHECK(c.classified[0].reason == LossReason::kLostToLaterTimestamp);
  CHECK(c.classified[0].explanation ==
        "put k7 = w123 in us-west-2 at ts 1700000000123456 lost to put w130 from eu-west-1 at "
        "ts 1700000000124000 (later timestamp wins)");
  CHECK(c.classified[1].reason == LossReason::kSupersededOnArrival);
  CHECK(c.classified[1].explanation ==
        "put k7 = w131 superseded on arrival in ap-northeast-1: its clock (skew -250 ms) stamped "
        "it ts 1700000000100000, before the stored version w130 from eu-west-1 at ts "
        "1700000000124000; acknowledged, then discarded by LWW");
  CHECK(c.loss_counts[LossReason::kLostToLaterTimestamp] == 1);
  CHECK(c.loss_counts[LossReason::kSupersededOnArrival] == 1);

  // The winner missing from one replica is a lost write, named as such.
  replicas[1].versions.clear();
  CheckResult bad = CheckAll(spec, h, replicas);
  CHECK_FALSE(bad.ok);
  CHECK(AnyContains(bad.violations,
                    "acknowledged write lost: put k7 = w130 in eu-west-1 at ts 1700000000124000"));
}

TEST_CASE("each overwritten write is explained by the next stored write in stamp order", "[sim]") {
  // History order differs from stamp order: the classifier must still pick, for each write,
  // the stored write with the next greater stamp (not the next in history, not the winner).
  TableSpec spec;
  spec.name = "sim";
  spec.hash_key = KeyDef{"id", ValueType::kS};
  auto put = [&](const std::string& k, int64_t id, const std::string& region, int64_t ts) {
    AckedWrite w;
    w.id = id;
    w.region = region;
    w.key = Item{{"id", AttributeValue::S(k)}};
    w.key_text = k;
    w.true_us = ts;
    w.result.stamp = Stamp{ts, region};
    w.result.new_item = w.key;
    (*w.result.new_item)[kWriteIdAttribute] = AttributeValue::S(absl::StrCat("w", id));
    return w;
  };
  History h;
  h.Record(put("k2", 1, "eu-west-1", 300));  // the winner of k2, recorded first
  h.Record(put("k1", 2, "us-east-1", 500));  // the only write of k1
  h.Record(put("k2", 3, "us-west-2", 100));
  h.Record(put("k2", 4, "us-east-1", 200));
  std::vector<ReplicaState> replicas(2);
  replicas[0].region = "us-east-1";
  replicas[1].region = "us-west-2";
  for (const AckedWrite* winner : {&h.writes()[1], &h.writes()[0]}) {
    TableEngine::Version v;
    REQUIRE(TableEngine::EncodeKeyOf(spec, winner->key, &v.hk, &v.rk).ok());
    v.stamp = winner->result.stamp;
    v.item = winner->result.new_item;
    for (auto& r : replicas) r.versions.push_back(v);
  }
  for (auto& r : replicas) {  // replicas list versions in key order
    std::sort(
        r.versions.begin(), r.versions.end(),
        [](const TableEngine::Version& a, const TableEngine::Version& b) { return a.hk < b.hk; });
  }
  CheckResult c = CheckAll(spec, h, replicas);
  INFO(absl::StrJoin(c.violations, "\n"));
  REQUIRE(c.ok);
  CHECK(c.final_versions == 2);
  REQUIRE(c.classified.size() == 2);  // in history order
  CHECK(c.classified[0].write_id == 3);
  CHECK(c.classified[0].explanation ==
        "put k2 = w3 in us-west-2 at ts 100 lost to put w4 from us-east-1 at ts 200 (later "
        "timestamp wins)");
  CHECK(c.classified[1].write_id == 4);
  CHECK(c.classified[1].explanation ==
        "put k2 = w4 in us-east-1 at ts 200 lost to put w1 from eu-west-1 at ts 300 (later "
        "timestamp wins)");

  // k1's write missing from one replica is reported against k1, not k2.
  replicas[1].versions.erase(replicas[1].versions.begin());
  CheckResult bad = CheckAll(spec, h, replicas);
  CHECK_FALSE(bad.ok);
  CHECK(AnyContains(bad.violations, "acknowledged write lost: put k1 = w2 in us-east-1"));
}

TEST_CASE("a clock far behind gets its writes superseded on arrival", "[sim]") {
  SimOptions o;
  o.seed = 3;
  o.regions = 2;
  o.ops = 300;
  o.keys = 3;
  o.faults = false;
  SimResult plain = MustRun(o);
  INFO(Failure(plain));
  REQUIRE(plain.ok());
  CHECK(plain.check.loss_counts[LossReason::kSupersededOnArrival] == 0);

  o.initial_skew_us = {0, -500'000};  // us-west-2 runs half a second behind
  SimResult skewed = MustRun(o);
  INFO(Failure(skewed));
  REQUIRE(skewed.ok());  // LWW discards them, but nothing acknowledged *and stored* is lost
  CHECK(skewed.check.loss_counts[LossReason::kSupersededOnArrival] > 10);
  bool explained = false;
  for (const auto& c : skewed.check.classified) {
    if (c.reason != LossReason::kSupersededOnArrival) continue;
    CHECK(absl::StrContains(c.explanation, "superseded on arrival in us-west-2"));
    CHECK(absl::StrContains(c.explanation, "skew -500 ms"));
    explained = true;
  }
  CHECK(explained);
  // The region with the right clock is never superseded on arrival: every version it receives
  // from us-west-2 was stamped behind its own clock.
  for (const auto& w : skewed.history.writes()) {
    if (w.region == "us-east-1") CHECK_FALSE(w.result.superseded_by.has_value());
  }
}

TEST_CASE("bad options are rejected with the reason", "[sim]") {
  SimOptions o;
  o.regions = 7;
  CHECK(absl::StrContains(ValidateSimOptions(o).message(), "regions must be 2..6"));
  o.regions = 3;
  o.loss_probability = 1.5;
  CHECK(absl::IsInvalidArgument(ValidateSimOptions(o)));
  CHECK_FALSE(RunSimulation(o).ok());
}

}  // namespace
}  // namespace gtsim
