// Tests of point-in-time recovery (engine/table_restore.cc through the Region facade): a table
// written, overwritten and deleted locally, by TTL and by replicated changes (some of which LWW
// discards), restored at many points in time, each restored table compared item by item with a
// snapshot of what the source held then; restores that run while the source keeps changing;
// a restore cut short by a restart; indexes; the errors.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "region/region.h"

namespace gtsim {
namespace {

const std::vector<std::string> kRegions = {"us-east-1", "us-west-2"};

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

AttributeValue S(const std::string& s) { return AttributeValue::S(s); }
AttributeValue N(const std::string& text) { return Ok(AttributeValue::Number(text)); }

using Contents = std::map<std::string, std::string>;  // EncodeItem of the key -> of the item

// Two regions on SQLite files (so one can restart), one hand-driven clock, and a hand-pumped
// link between them. "t" is a global table (hash key id) with PITR on in us-east-1.
struct Pair {
  ManualClock clock;
  std::string dir;
  std::unique_ptr<Region> east, west;

  Pair() {
    char tmpl[] = "/tmp/gtsim-restore-test.XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    east = OpenRegion("us-east-1");
    west = OpenRegion("us-west-2");
    CreateTableRequest req;
    req.table = "t";
    req.hash_key = {"id", ValueType::kS};
    req.replicas = kRegions;
    Ok(east->CreateTable(req));
    Pump();
    UpdateTableRequest pitr;
    pitr.table = "t";
    pitr.point_in_time_recovery = true;
    Ok(east->UpdateTable(pitr));
    Tick();
  }
  ~Pair() {
    east.reset();
    west.reset();
    std::string cmd = "rm -rf '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) WARN("could not remove " << dir);
  }
  std::unique_ptr<Region> OpenRegion(const std::string& name) {
    auto storage = Storage::Open(dir + "/" + name + ".db", name);
    REQUIRE(storage.ok());
    return Ok(Region::Open(name, kRegions, *std::move(storage), &clock));
  }
  void Tick() { clock.Advance(1000); }
  // Delivers everything pending both ways.
  void Pump() {
    for (int round = 0; round < 20; ++round) {
      bool moved = false;
      for (auto [from, to] :
           {std::pair{east.get(), west.get()}, std::pair{west.get(), east.get()}}) {
        Region::Subscription sub = to->SubscriptionFor(from->name());
        ChangeBatch batch = Ok(from->ReadFor(to->name(), sub.after_seq, 1000, sub.held));
        batch.subscription_epoch = sub.epoch;
        if (batch.scanned_through == sub.after_seq) continue;
        Ok(to->Apply(batch));
        moved = true;
      }
      if (!moved) return;
    }
    FAIL("the link never settled");
  }
  void Put(Region& r, const std::string& id, const std::string& v, Item extra = {}) {
    PutRequest req;
    req.table = "t";
    req.item = std::move(extra);
    req.item["id"] = S(id);
    req.item["v"] = S(v);
    Ok(r.Write(req));
    Tick();
  }
  void Delete(Region& r, const std::string& id) {
    DeleteRequest req;
    req.table = "t";
    req.key = {{"id", S(id)}};
    Ok(r.Write(req));
    Tick();
  }
  Contents Scan(Region& r, const std::string& table) {
    Contents out;
    Item start;
    do {
      ScanRequest req;
      req.table = table;
      req.limit = 3;
      req.exclusive_start_key = start;
      Page page = Ok(r.Scan(req));
      for (const Item& item : page.items) {
        out[EncodeItem({{"id", item.at("id")}})] = EncodeItem(item);
      }
      start = page.last_evaluated_key;
    } while (!start.empty());
    return out;
  }
  // Delivers snapshot chunks to a bootstrapping region and pumps the links until no replica
  // is CREATING.
  void Bootstrap() {
    for (int round = 0; round < 100; ++round) {
      for (Region* r : {east.get(), west.get()}) {
        for (const auto& b : r->PendingBootstraps()) {
          Region* source = b.source == east->name() ? east.get() : west.get();
          Region::SnapshotRequest req;
          req.subscriber = r->name();
          req.table = b.table;
          req.table_created = b.table_created;
          req.after = b.after;
          auto chunk = source->ReadSnapshot(req);
          if (!chunk.ok()) continue;  // e.g. the source has not seen the add yet
          absl::Status loaded = r->LoadSnapshotChunk(*chunk);
          INFO(loaded.ToString());
          REQUIRE(loaded.ok());
        }
      }
      Pump();
      Tick();
      auto in_west = west->DescribeTable("t");  // gone from there while removed
      if (Ok(east->DescribeTable("t")).spec.replica_status.empty() &&
          (!in_west.ok() || in_west->spec.replica_status.empty())) {
        return;
      }
    }
    FAIL("the bootstrap never completed");
  }
  RestoreRequest At(const std::string& target, int64_t us) {
    RestoreRequest req;
    req.source = "t";
    req.target = target;
    req.restore_us = us;
    return req;
  }
};

TEST_CASE("a restore at each point in time holds exactly what the replica held then", "[restore]") {
  Pair p;
  std::vector<std::pair<int64_t, Contents>> snapshots;
  auto snap = [&] {
    snapshots.emplace_back(p.clock.NowMicros(), p.Scan(*p.east, "t"));
    p.Tick();
  };
  snap();  // empty
  p.Put(*p.east, "a", "1");
  p.Put(*p.east, "b", "1");
  snap();
  p.Put(*p.east, "a", "2");  // overwritten
  p.Delete(*p.east, "b");    // deleted
  p.Put(*p.east, "c", "1");
  snap();
  // Replicated changes: a new item, an overwrite and a delete made in us-west-2.
  p.Pump();
  p.Put(*p.west, "d", "west");
  p.Put(*p.west, "a", "west");
  p.Delete(*p.west, "c");
  p.Pump();
  snap();
  // A replicated change LWW discards: us-west-2's clock is behind, its write older than ours.
  REQUIRE(Ok(p.west->SetClockSkew(-600'000'000)).skew_us == -600'000'000);
  p.Put(*p.east, "e", "east-newer");
  p.Put(*p.west, "e", "west-older");
  p.Pump();
  REQUIRE(p.Scan(*p.east, "t").size() == 3);  // a, d, e
  snap();
  // A TTL delete in this region, then the item put back.
  UpdateTableRequest ttl;
  ttl.table = "t";
  ttl.ttl_enabled = true;
  ttl.ttl_attribute = "exp";
  Ok(p.east->UpdateTable(ttl));
  p.Tick();
  p.Put(*p.east, "f", "expiring", {{"exp", N("1")}});
  snap();
  REQUIRE(Ok(p.east->ExpireItems(100)) == 1);
  p.Tick();
  snap();
  p.Put(*p.east, "f", "again");
  p.Delete(*p.east, "a");
  p.Pump();
  snap();

  for (size_t i = 0; i < snapshots.size(); ++i) {
    const auto& [at, expected] = snapshots[i];
    const std::string target = "r" + std::to_string(i);
    INFO("restore " << target << " at snapshot " << i);
    TableInfo begun = Ok(p.east->RestoreTableToPointInTime(p.At(target, at)));
    REQUIRE(begun.restore.has_value());
    CHECK(begun.restore->in_progress);
    CHECK(begun.restore->source_table == "t");
    CHECK(begun.restore->restore_us == at);
    TableInfo done = Ok(p.east->FinishRestore(target));
    CHECK_FALSE(done.restore->in_progress);
    CHECK(done.item_count == static_cast<int64_t>(expected.size()));
    CHECK(p.Scan(*p.east, target) == expected);
    // Regional: never a replica of anything.
    CHECK(done.spec.replicas == std::vector<std::string>{"us-east-1"});
    CHECK_FALSE(done.spec.ttl.enabled);  // TTL is not copied (DynamoDB's rule)
  }
  // The restored tables stay in us-east-1.
  p.Pump();
  for (const auto& name : p.west->ListTables()) CHECK(name == "t");
  // And take writes once restored.
  PutRequest w;
  w.table = "r0";
  w.item = {{"id", S("new")}};
  Ok(p.east->Write(w));
  CHECK(p.Scan(*p.east, "r0").size() == 1);
}

TEST_CASE("a restore stepped while the source keeps changing is still exact", "[restore]") {
  Pair p;
  for (int i = 0; i < 50; ++i) p.Put(*p.east, "k" + std::to_string(i), "v0");
  const int64_t at = p.clock.NowMicros();
  Contents expected = p.Scan(*p.east, "t");
  p.Tick();
  for (int i = 0; i < 10; ++i) p.Put(*p.east, "k" + std::to_string(i), "later");  // overwrite
  Ok(p.east->RestoreTableToPointInTime(p.At("r", at)));
  // While the restore is CREATING its table takes no writes.
  PutRequest w;
  w.table = "r";
  w.item = {{"id", S("x")}};
  CHECK(absl::IsNotFound(p.east->Write(w).status()));
  int step = 0;
  while (Ok(p.east->DescribeTable("r")).restore->in_progress) {
    REQUIRE(Ok(p.east->RestoreSteps(7)) > 0);
    // Writes between steps, before and after the scan position, and replicated ones.
    const std::string id = "k" + std::to_string((step * 13) % 60);
    if (step % 3 == 0) p.Delete(*p.east, id);
    if (step % 3 == 1) p.Put(*p.east, id, "during");
    if (step % 3 == 2) {
      p.Put(*p.west, id, "west-during");
      p.Pump();
    }
    ++step;
    REQUIRE(step < 1000);
  }
  CHECK(p.Scan(*p.east, "r") == expected);
}

TEST_CASE("a restore cut short by a restart starts again and completes", "[restore]") {
  Pair p;
  for (int i = 0; i < 30; ++i) p.Put(*p.east, "k" + std::to_string(i), "v");
  const int64_t at = p.clock.NowMicros();
  Contents expected = p.Scan(*p.east, "t");
  p.Tick();
  p.Delete(*p.east, "k3");
  Ok(p.east->RestoreTableToPointInTime(p.At("r", at)));
  REQUIRE(Ok(p.east->RestoreSteps(5)) > 0);
  REQUIRE(Ok(p.east->RestoreSteps(5)) > 0);
  p.east.reset();
  p.east = p.OpenRegion("us-east-1");
  TableInfo info = Ok(p.east->DescribeTable("r"));
  REQUIRE(info.restore.has_value());
  CHECK(info.restore->in_progress);
  info = Ok(p.east->FinishRestore("r"));
  CHECK(p.Scan(*p.east, "r") == expected);
  // The summary outlives a restart.
  p.east.reset();
  p.east = p.OpenRegion("us-east-1");
  info = Ok(p.east->DescribeTable("r"));
  REQUIRE(info.restore.has_value());
  CHECK_FALSE(info.restore->in_progress);
  CHECK(info.restore->restore_us == at);
}

TEST_CASE("a restored table has the source's indexes, ACTIVE, and its billing and encryption",
          "[restore]") {
  Pair p;
  UpdateTableRequest u;
  u.table = "t";
  GsiSetting g;
  g.hash_key = {"v", ValueType::kS};
  u.create_gsi = std::make_pair(std::string("by_v"), g);
  Ok(p.east->UpdateTable(u));
  while (Ok(p.east->BackfillIndexes()) > 0) {
  }
  UpdateTableRequest sse;
  sse.table = "t";
  sse.sse_type = "KMS";
  Ok(p.east->UpdateTable(sse));
  p.Tick();
  p.Put(*p.east, "a", "x");
  p.Put(*p.east, "b", "x");
  p.Put(*p.east, "c", "y");
  const int64_t at = p.clock.NowMicros();
  p.Tick();
  p.Put(*p.east, "d", "x");
  Ok(p.east->RestoreTableToPointInTime(p.At("r", at)));
  TableInfo info = Ok(p.east->FinishRestore("r"));
  CHECK(info.index_status.at("by_v") == "ACTIVE");
  CHECK(info.spec.sse.type == "KMS");
  CHECK(info.spec.billing.mode == "PAY_PER_REQUEST");
  QueryRequest q;
  q.table = "r";
  q.index = "by_v";
  q.hash_value = S("x");
  CHECK(Ok(p.east->Query(q)).items.size() == 2);  // a, b (d came later)

  // Overrides: provisioned billing, no encryption, no index.
  RestoreRequest req = p.At("r2", at);
  req.billing_mode = "PROVISIONED";
  req.read_capacity = 5;
  req.write_capacity = 6;
  req.sse_type = "";
  req.gsis = std::vector<std::string>{};
  Ok(p.east->RestoreTableToPointInTime(req));
  info = Ok(p.east->FinishRestore("r2"));
  CHECK(info.spec.billing.mode == "PROVISIONED");
  CHECK(info.spec.billing.read_capacity == 5);
  CHECK(info.spec.billing.write_capacity == 6);
  CHECK(info.spec.sse.type.empty());
  CHECK(info.index_status.empty());
  CHECK(info.item_count == 3);
  req = p.At("r3", at);
  req.gsis = std::vector<std::string>{"nope"};
  CHECK(absl::IsInvalidArgument(p.east->RestoreTableToPointInTime(req).status()));
}

// Issue 12: a replica's bootstrap loads its snapshot without change-log rows, so the log cannot
// say what the replica held before it was ACTIVE: restores start from then, and hold the
// bootstrapped items afterwards.
TEST_CASE("a re-added replica restores from when it turned ACTIVE, with its snapshot's items",
          "[restore]") {
  Pair p;
  UpdateTableRequest pitr;
  pitr.table = "t";
  pitr.point_in_time_recovery = true;
  Ok(p.west->UpdateTable(pitr));
  p.Tick();
  p.Put(*p.east, "a", "1");
  p.Put(*p.east, "b", "1");
  p.Pump();
  const int64_t before_removal = p.clock.NowMicros();
  CHECK(p.Scan(*p.west, "t").size() == 2);

  // us-west-2 leaves the table, which changes meanwhile, and comes back by a bootstrap.
  UpdateTableRequest remove;
  remove.table = "t";
  remove.replica_updates.push_back(ReplicaUpdate{ReplicaUpdate::Action::kDelete, p.west->name()});
  Ok(p.east->UpdateTable(remove));
  p.Tick();
  p.Bootstrap();  // settles the removal
  REQUIRE_FALSE(Ok(p.east->DescribeTable("t")).spec.HasReplica("us-west-2"));
  p.Put(*p.east, "b", "2");
  p.Put(*p.east, "c", "1");
  UpdateTableRequest add = remove;
  add.replica_updates[0].action = ReplicaUpdate::Action::kCreate;
  Ok(p.east->UpdateTable(add));
  p.Tick();
  p.Bootstrap();
  const int64_t active = p.clock.NowMicros();
  REQUIRE(Ok(p.west->DescribeTable("t")).spec.ReplicaStatus("us-west-2") == "ACTIVE");
  const Contents bootstrapped = p.Scan(*p.west, "t");
  REQUIRE(bootstrapped.size() == 3);  // a, b = 2, c

  // PITR stayed on, but the window starts when the replica turned ACTIVE here: before that,
  // the log has not got its items (InvalidRestoreTimeException at the endpoint).
  auto window = p.west->RestoreWindowOf("t");
  REQUIRE(window.has_value());
  CHECK(window->earliest_us > before_removal);
  CHECK(window->earliest_us <= active);
  CHECK(absl::IsOutOfRange(p.west->RestoreTableToPointInTime(p.At("r0", before_removal)).status()));
  CHECK(absl::IsOutOfRange(
      p.west->RestoreTableToPointInTime(p.At("r0", window->earliest_us - 1)).status()));

  // From then on a restore holds the bootstrapped items: untouched, overwritten and deleted
  // since.
  p.Tick();
  const int64_t after_active = p.clock.NowMicros();
  p.Tick();
  p.Put(*p.west, "a", "west");
  p.Delete(*p.west, "b");
  p.Put(*p.east, "d", "1");
  p.Pump();
  for (auto [target, at] : {std::pair{"r1", window->earliest_us}, std::pair{"r2", after_active}}) {
    INFO(target);
    Ok(p.west->RestoreTableToPointInTime(p.At(target, at)));
    CHECK(Ok(p.west->FinishRestore(target)).item_count == 3);
    CHECK(p.Scan(*p.west, target) == bootstrapped);
  }
}

TEST_CASE("restore errors: no source, existing target, PITR off, time outside the window",
          "[restore]") {
  Pair p;
  p.Put(*p.east, "a", "1");
  const int64_t now = p.clock.NowMicros();
  RestoreRequest req = p.At("r", now);
  req.source = "missing";
  CHECK(absl::IsNotFound(p.east->RestoreTableToPointInTime(req).status()));
  CHECK(absl::IsAlreadyExists(p.east->RestoreTableToPointInTime(p.At("t", now)).status()));
  // PITR is on in us-east-1 only: a per-replica setting.
  CHECK(absl::IsFailedPrecondition(p.west->RestoreTableToPointInTime(p.At("r", now)).status()));
  RestoreWindow w = *p.east->RestoreWindowOf("t");
  CHECK(w.latest_us == now);
  CHECK(
      absl::IsOutOfRange(p.east->RestoreTableToPointInTime(p.At("r", w.earliest_us - 1)).status()));
  CHECK(absl::IsOutOfRange(p.east->RestoreTableToPointInTime(p.At("r", now + 1)).status()));
  // None of them wrote anything.
  CHECK(p.east->ListTables() == std::vector<std::string>{"t"});
  // The latest restorable time: now.
  RestoreRequest latest = p.At("r", 0);
  latest.latest = true;
  Ok(p.east->RestoreTableToPointInTime(latest));
  CHECK(Ok(p.east->FinishRestore("r")).item_count == 1);
  CHECK(absl::IsAlreadyExists(p.east->RestoreTableToPointInTime(latest).status()));
  // PITR turned off: no window any more.
  UpdateTableRequest off;
  off.table = "t";
  off.point_in_time_recovery = false;
  Ok(p.east->UpdateTable(off));
  CHECK_FALSE(p.east->RestoreWindowOf("t").has_value());
  CHECK(absl::IsFailedPrecondition(p.east->RestoreTableToPointInTime(p.At("r9", now)).status()));
}

}  // namespace
}  // namespace gtsim
