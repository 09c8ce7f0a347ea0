// The scenario runner's timeline against an in-memory Driver: faults are applied and undone,
// a region that was stopped learns the cuts changed meanwhile, the final heal leaves nothing
// cut, and every acknowledged write is judged. No processes; runs in about a second.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "sim/scenario/runner.h"

namespace gtsim::scenario {
namespace {

// One shared item store (every region always identical) that logs every control call.
class FakeDriver : public Driver {
 public:
  absl::Status CreateTable(const std::string&, const TableSpec&) override {
    return absl::OkStatus();
  }
  absl::Status UpdateTable(const std::string& region, const UpdateTableRequest& req) override {
    absl::MutexLock l(&mu_);
    std::string what;
    for (const auto& u : req.replica_updates) {
      what = absl::StrCat(u.action == ReplicaUpdate::Action::kCreate ? "add-replica " : "remove-replica ",
                          u.region);
    }
    if (req.create_gsi) {
      what = "create-gsi " + req.create_gsi->first;
      indexes_.insert(req.create_gsi->first);
    }
    if (req.delete_gsi) what = "delete-gsi " + *req.delete_gsi;
    if (req.billing_mode) what = "billing " + *req.billing_mode;
    calls_.push_back(absl::StrCat("update-table ", req.table, " in ", region, ": ", what));
    return absl::OkStatus();
  }
  absl::StatusOr<TableInfo> DescribeTable(const std::string&, const std::string& table,
                                          absl::Duration) override {
    absl::MutexLock l(&mu_);
    TableInfo info;  // every replica ACTIVE, every index ACTIVE
    info.spec.name = table;
    info.spec.replicas = {"a", "b", "c"};
    for (const auto& x : indexes_) info.index_status[x] = "ACTIVE";
    return info;
  }
  absl::StatusOr<std::vector<Item>> QueryIndex(const std::string&, const std::string& table,
                                               const std::string& index, const AttributeValue& hash,
                                               absl::Duration) override {
    absl::MutexLock l(&mu_);
    std::vector<Item> out;
    if (!indexes_.count(index)) return absl::InvalidArgumentError("no index " + index);
    for (const auto& [id, item] : items_[table]) {
      auto it = item ? item->find("grp") : Item::const_iterator();
      if (item && it != item->end() && it->second == hash) out.push_back(*item);
    }
    return out;
  }
  absl::StatusOr<WriteResult> Put(const std::string& region, const std::string& table,
                                  const Item& item, const Condition&, absl::Duration) override {
    absl::MutexLock l(&mu_);
    WriteResult r = Stamp(region);
    auto& slot = items_[table][item.at("id").scalar()];
    if (slot) r.old_item = *slot;
    slot = item;
    stamps_[table][item.at("id").scalar()] = r.stamp;
    r.new_item = item;
    return r;
  }
  absl::StatusOr<WriteResult> Update(const std::string& region, const std::string& table,
                                     const Item& key, const Item& set, const Condition&,
                                     absl::Duration) override {
    absl::MutexLock l(&mu_);
    WriteResult r = Stamp(region);
    auto& slot = items_[table][key.at("id").scalar()];
    Item next = slot ? *slot : key;
    if (slot) r.old_item = *slot;
    for (const auto& [k, v] : set) next[k] = v;
    slot = next;
    stamps_[table][key.at("id").scalar()] = r.stamp;
    r.new_item = next;
    return r;
  }
  absl::StatusOr<WriteResult> Delete(const std::string& region, const std::string& table,
                                     const Item& key, const Condition&, absl::Duration) override {
    absl::MutexLock l(&mu_);
    WriteResult r = Stamp(region);
    auto& slot = items_[table][key.at("id").scalar()];
    if (slot) r.old_item = *slot;
    slot.reset();
    return r;
  }
  absl::StatusOr<GetResult> Get(const std::string&, const std::string& table, const Item& key,
                                absl::Duration) override {
    absl::MutexLock l(&mu_);
    GetResult g;
    auto& slot = items_[table][key.at("id").scalar()];
    if (slot) {
      g.item = *slot;
      g.stamp = stamps_[table][key.at("id").scalar()];
    }
    return g;
  }
  absl::StatusOr<std::vector<TableEngine::Version>> Dump(const std::string&, const TableSpec& spec,
                                                         bool) override {
    absl::MutexLock l(&mu_);
    std::vector<TableEngine::Version> out;
    for (const auto& [id, item] : items_[spec.name]) {
      if (!item) continue;
      TableEngine::Version v;
      Item key{{"id", item->at("id")}};
      if (!TableEngine::EncodeKeyOf(spec, key, &v.hk, &v.rk).ok()) continue;
      v.stamp = stamps_[spec.name][id];
      v.item = *item;
      out.push_back(v);
    }
    return out;
  }
  absl::Status Kill(const std::string& r) override { return Log("kill " + r); }
  absl::Status Restart(const std::string& r) override { return Log("restart " + r); }
  absl::Status Pause(const std::string& r) override { return Log("pause " + r); }
  absl::Status Resume(const std::string& r) override { return Log("resume " + r); }
  absl::Status Wipe(const std::string& r) override { return Log("wipe " + r); }
  absl::Status SetBlocked(const std::string& o, const std::string& r, bool b) override {
    absl::MutexLock l(&mu_);
    blocked_[{o, r}] = b;
    calls_.push_back(absl::StrCat(b ? "block " : "unblock ", o, "->", r));
    return absl::OkStatus();
  }
  absl::Status SetClockSkew(const std::string& r, int64_t us) override {
    return Log(absl::StrCat("skew ", r, " ", us));
  }
  absl::Status SetLink(const std::string& o, const std::string& r, const LinkDelay& d) override {
    return Log(absl::StrCat("link ", o, "->", r, " ", d.delay_us));
  }
  absl::StatusOr<RegionStatus> Status(const std::string& r, absl::Duration) override {
    RegionStatus s;
    s.region = r;
    return s;
  }

  std::vector<std::string> calls() {
    absl::MutexLock l(&mu_);
    return calls_;
  }
  bool blocked(const std::string& o, const std::string& r) {
    absl::MutexLock l(&mu_);
    return blocked_[{o, r}];
  }

 private:
  absl::Status Log(const std::string& c) {
    absl::MutexLock l(&mu_);
    calls_.push_back(c);
    return absl::OkStatus();
  }
  WriteResult Stamp(const std::string& region) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    WriteResult r;
    r.stamp = gtsim::Stamp{absl::ToUnixMicros(absl::Now()) + (++tick_), region};
    return r;
  }

  absl::Mutex mu_;
  int64_t tick_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::map<std::string, std::optional<Item>>> items_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, gtsim::Stamp>> stamps_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, bool> blocked_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> indexes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

size_t IndexOf(const std::vector<std::string>& v, const std::string& s, size_t from = 0) {
  for (size_t i = from; i < v.size(); ++i) {
    if (v[i] == s) return i;
  }
  return v.size();
}

TEST_CASE("the runner undoes faults, tells a resumed region what changed, and heals at the end") {
  auto s = ParseScenario(R"(
regions: [a, b, c]
duration: 1200ms
heartbeat: false
table: {name: t, hash_key: id}
workloads:
  - {name: w, region: a, rate: 50, keys: 5, mix: {put: 1, update: 1, delete: 1}}
steps:
  - at: 100ms
    pause_replication: b
    for: 300ms
  - at: 200ms
    pause: b
    for: 400ms
  - at: 700ms
    kill: c
    for: 200ms
  - at: 800ms
    partition: {from: a, to: c}
expect:
  - converged: {within: 5s}
  - no_lost_writes: true
)",
                         "t.yaml");
  REQUIRE(s.ok());
  FakeDriver d;
  RunOptions o;
  o.live = false;
  auto r = RunScenario(*s, &d, o);
  REQUIRE(r.ok());
  std::vector<std::string> calls = d.calls();
  INFO(absl::StrJoin(calls, "\n"));
  // Replication into b was resumed while b was stopped: b hears it once it resumes.
  size_t resume = IndexOf(calls, "resume b");
  REQUIRE(resume < calls.size());
  CHECK(IndexOf(calls, "unblock a->b", resume) < calls.size());
  // The kill was undone by a restart; the one-way cut was healed at the end.
  CHECK(IndexOf(calls, "restart c", IndexOf(calls, "kill c")) < calls.size());
  CHECK(IndexOf(calls, "block a->c") < calls.size());
  for (const auto& o : {"a", "b", "c"}) {
    for (const auto& rc : {"a", "b", "c"}) CHECK(!d.blocked(o, rc));
  }
  REQUIRE(r->faults.size() == 4);
  for (const auto& f : r->faults) CHECK(f.end >= f.start);
  CHECK(r->acknowledged_writes > 20);
  CHECK(r->all_passed());
  CHECK(r->workloads[0].availability() == 1.0);
}

TEST_CASE("a wiped region's replicas are removed while it is down, then re-added after restart") {
  auto s = ParseScenario(R"(
regions: [a, b, c]
duration: 500ms
heartbeat: false
table: {name: t}
steps:
  - at: 100ms
    wipe: c
  - wait: {until: replica_active, region: c}
expect:
  - converged: {within: 5s}
)",
                         "t.yaml");
  REQUIRE(s.ok());
  FakeDriver d;
  RunOptions o;
  o.live = false;
  auto r = RunScenario(*s, &d, o);
  REQUIRE(r.ok());
  std::vector<std::string> calls = d.calls();
  INFO(absl::StrJoin(calls, "\n") << "\n" << absl::StrJoin(r->log, "\n"));
  size_t wipe = IndexOf(calls, "wipe c");
  size_t removed = IndexOf(calls, "update-table t in a: remove-replica c", wipe);
  size_t restart = IndexOf(calls, "restart c", removed);
  CHECK(IndexOf(calls, "update-table t in a: add-replica c", restart) < calls.size());
  std::string log = absl::StrJoin(r->log, "\n");
  CHECK(log.find("c restarted empty, with a new change log") != std::string::npos);
  CHECK(log.find("c's replica of t ACTIVE in every replica after") != std::string::npos);
  CHECK(r->all_passed());
}

TEST_CASE("table and replica steps call UpdateTable in a live replica, then wait and check") {
  auto s = ParseScenario(R"(
regions: [a, b, c]
duration: 1s
heartbeat: false
tables:
  - {name: t, hash_key: id, replicas: [a, b], indexes: [{name: byGrp, hash_key: grp}]}
workloads:
  - {name: w, region: a, rate: 50, keys: 20, mix: {put: 1}}
steps:
  - at: 100ms
    kill: a
    for: 300ms
  - add_replica: c
  - wait: {until: replica_active, region: c}
  - create_index: {name: byW, hash_key: w}
  - wait: {until: index_active, index: byW}
  - remove_replica: {table: t, region: b, via: c}
expect:
  - index_matches: {index: byGrp}
)",
                         "t.yaml");
  REQUIRE(s.ok());
  FakeDriver d;
  RunOptions o;
  o.live = false;
  auto r = RunScenario(*s, &d, o);
  REQUIRE(r.ok());
  std::vector<std::string> calls = d.calls();
  INFO(absl::StrJoin(calls, "\n") << "\n" << absl::StrJoin(r->log, "\n"));
  CHECK(IndexOf(calls, "update-table t in a: create-gsi byGrp") < calls.size());
  // a is down: the replica is added through b, the other replica.
  CHECK(IndexOf(calls, "update-table t in b: add-replica c") < calls.size());
  CHECK(IndexOf(calls, "update-table t in a: create-gsi byW") < calls.size());  // a is back
  CHECK(IndexOf(calls, "update-table t in c: remove-replica b") < calls.size());
  std::string log = absl::StrJoin(r->log, "\n");
  CHECK(log.find("c's replica of t ACTIVE in every replica after") != std::string::npos);
  CHECK(log.find("index byW of t ACTIVE in c after") != std::string::npos);
  REQUIRE(r->index_checks.size() == 1);
  CHECK(r->index_checks[0].queries > 0);
  CHECK(r->all_passed());
}

}  // namespace
}  // namespace gtsim::scenario

namespace gtsim::scenario {
namespace {

// Heartbeats reach each reader after a per-pair delay; one pair never delivers (a region cut
// off from another for the whole run).
class DelayingDriver : public FakeDriver {
 public:
  DelayingDriver(absl::Duration delay, std::string never_from, std::string never_to)
      : delay_(delay), never_from_(std::move(never_from)), never_to_(std::move(never_to)) {}

  absl::StatusOr<WriteResult> Put(const std::string& region, const std::string& table,
                                  const Item& item, const Condition& c,
                                  absl::Duration timeout) override {
    if (table == "gtsim-heartbeat") {
      absl::MutexLock l(&hb_mu_);
      written_[region].push_back({absl::Now(), item});
    }
    return FakeDriver::Put(region, table, item, c, timeout);
  }
  absl::StatusOr<GetResult> Get(const std::string& region, const std::string& table,
                                const Item& key, absl::Duration timeout) override {
    if (table != "gtsim-heartbeat") return FakeDriver::Get(region, table, key, timeout);
    std::string from = key.at("id").scalar().substr(3);  // "hb-<region>"
    GetResult g;
    if (from == never_from_ && region == never_to_) return g;
    absl::MutexLock l(&hb_mu_);
    for (const auto& [at, item] : written_[from]) {
      if (from == region || at + delay_ <= absl::Now()) g.item = item;
    }
    return g;
  }

 private:
  const absl::Duration delay_;
  const std::string never_from_, never_to_;
  absl::Mutex hb_mu_;
  std::map<std::string, std::vector<std::pair<absl::Time, Item>>> written_ ABSL_GUARDED_BY(hb_mu_);
};

TEST_CASE(
    "heartbeats are never dropped: a late one is reported with its lag, a lost one "
    "censored with its age") {
  auto s = ParseScenario(R"(
regions: [a, b, c]
duration: 4s
table: {name: t, hash_key: id}
workloads:
  - {name: w, region: a, rate: 20, keys: 5, mix: {put: 1}}
)",
                         "t.yaml");
  REQUIRE(s.ok());
  // Every heartbeat arrives 2.5 s late (longer than the 2 s a reader used to wait before
  // dropping it); a's never reach c.
  DelayingDriver d(absl::Milliseconds(2500), "a", "c");
  RunOptions o;
  o.live = false;
  auto r = RunScenario(*s, &d, o);
  REQUIRE(r.ok());
  std::map<std::pair<std::string, std::string>, int> count, censored;
  for (const auto& h : r->heartbeats) {
    INFO(h.from << " -> " << h.to << " at " << h.t << "s: " << h.lag_ms << " ms"
                << (h.censored ? " (censored)" : ""));
    ++count[{h.from, h.to}];
    censored[{h.from, h.to}] += h.censored;
    if (!h.censored) CHECK(h.lag_ms >= 2500);  // the delay it really had
    if (h.from == "a" && h.to == "c") CHECK(h.censored);
    // A censored one counts with its age at the end: at least the time since it was written
    // until the end of the workload phase.
    if (h.censored) CHECK(h.lag_ms >= (r->duration_s - h.t) * 1000 - 50);
  }
  // One entry per heartbeat per reader: a's heartbeats show up for b and for c alike.
  REQUIRE(count[{"a", "b"}] >= 3);
  CHECK(count[{"a", "c"}] == count[{"a", "b"}]);
  CHECK(censored[{"a", "c"}] == count[{"a", "c"}]);
  CHECK(censored[{"a", "b"}] < count[{"a", "b"}]);  // the early ones arrived in the run
  for (size_t i = 1; i < r->heartbeats.size(); ++i) {
    CHECK(r->heartbeats[i - 1].t <= r->heartbeats[i].t);  // in the order they were written
  }
}

}  // namespace
}  // namespace gtsim::scenario
