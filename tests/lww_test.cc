// Tests of model/lww.h and the replication core through Region: item-level
// last-writer-wins between regions, replicated by hand (ReadFor on the origin, Apply on the
// receiver) so every interleaving is chosen by the test.
#include "model/lww.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "region/region.h"

namespace gtsim {
namespace {

namespace fs = std::filesystem;

constexpr char kEast[] = "us-east-1";
constexpr char kWest[] = "us-west-2";
constexpr char kEu[] = "eu-west-1";
constexpr int64_t kStart = 1'700'000'000'000'000;

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

AttributeValue S(const std::string& s) { return AttributeValue::S(s); }

std::unique_ptr<Region> OpenRegion(const std::string& name, std::vector<std::string> regions,
                                   Clock* clock, const std::string& path = ":memory:") {
  auto storage = Storage::Open(path, name);
  INFO(storage.status().ToString());
  REQUIRE(storage.ok());
  return Ok(Region::Open(name, std::move(regions), *std::move(storage), clock));
}

// Ships everything `from` has for `to` after `to`'s cursor, in batches of up to 100.
ApplyReport Replicate(Region& from, Region& to) {
  ChangeBatch batch = Ok(from.ReadFor(to.name(), to.Cursor(from.name()), 100));
  return Ok(to.Apply(batch));
}

const Item kKey{{"id", AttributeValue::S("k")}};

// Two regions, each with its own clock, both starting at kStart.
struct TwoRegions {
  ManualClock clock_a{kStart}, clock_b{kStart};
  std::unique_ptr<Region> a = OpenRegion(kEast, {kEast, kWest}, &clock_a);
  std::unique_ptr<Region> b = OpenRegion(kWest, {kEast, kWest}, &clock_b);

  // "orders" (hash key id:S), created in a with replicas in both, and replicated to b.
  void CreateGlobalTable() {
    CreateTableRequest req;
    req.table = "orders";
    req.hash_key = {"id", ValueType::kS};
    req.replicas = {kEast, kWest};
    Ok(a->CreateTable(req));
    REQUIRE(Replicate(*a, *b).applied == 1);
  }

  static WriteResult Put(Region& r, const std::string& id, const std::string& value) {
    PutRequest req;
    req.table = "orders";
    req.item = {{"id", S(id)}, {"v", S(value)}};
    return Ok(r.Write(req));
  }
  static WriteResult Delete(Region& r, const std::string& id) {
    DeleteRequest req;
    req.table = "orders";
    req.key = {{"id", S(id)}};
    return Ok(r.Write(req));
  }
  // The value of item `id` in `r`, or "<absent>".
  static std::string Value(Region& r, const std::string& id) {
    auto got = Ok(r.GetItem("orders", {{"id", S(id)}}));
    return got.item ? got.item->at("v").scalar() : "<absent>";
  }
  static int64_t Head(Region& r) { return Ok(r.Status()).head_seq; }

  // Both regions hold exactly the same versions (tombstones and stamps included).
  void RequireConverged() {
    auto va = Ok(a->DumpTable("orders"));
    auto vb = Ok(b->DumpTable("orders"));
    REQUIRE(va.size() == vb.size());
    for (size_t i = 0; i < va.size(); ++i) {
      CHECK(va[i].hk == vb[i].hk);
      CHECK(va[i].rk == vb[i].rk);
      CHECK(va[i].stamp == vb[i].stamp);
      CHECK(va[i].item == vb[i].item);
    }
  }
};

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "gtsim_lww_test.XXXXXX").string();
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

TEST_CASE("a stamp supersedes another only when it is greater", "[lww]") {
  CHECK(Supersedes(Stamp{2, "a"}, Stamp{1, "z"}));
  CHECK_FALSE(Supersedes(Stamp{1, "z"}, Stamp{2, "a"}));
  CHECK(Supersedes(Stamp{5, "us-west-2"}, Stamp{5, "us-east-1"}));
  CHECK_FALSE(Supersedes(Stamp{5, "us-east-1"}, Stamp{5, "us-west-2"}));
  CHECK_FALSE(Supersedes(Stamp{5, "us-east-1"}, Stamp{5, "us-east-1"}));  // not itself
}

TEST_CASE("creating a global table replicates the table to the other replica", "[lww]") {
  TwoRegions r;
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  TableInfo created = Ok(r.a->CreateTable(req));
  CHECK(r.b->ListTables().empty());

  ApplyReport report = Replicate(*r.a, *r.b);
  CHECK(report.applied == 1);
  CHECK_FALSE(report.waiting);
  REQUIRE(r.b->ListTables() == std::vector<std::string>{"orders"});
  TableInfo there = Ok(r.b->DescribeTable("orders"));
  CHECK(there.spec.created == created.spec.created);
  CHECK(there.spec.replicas == std::vector<std::string>{kEast, kWest});
  CHECK(there.spec.hash_key == created.spec.hash_key);
  CHECK(r.b->Cursor(kEast) == report.cursor);
  CHECK(report.cursor > 0);
}

TEST_CASE("a table created with only one replica stays in its region", "[lww]") {
  TwoRegions r;
  CreateTableRequest req;
  req.table = "local_only";
  req.hash_key = {"id", ValueType::kS};
  Ok(r.a->CreateTable(req));
  PutRequest put;
  put.table = "local_only";
  put.item = {{"id", S("x")}};
  Ok(r.a->Write(put));

  ChangeBatch batch = Ok(r.a->ReadFor(kWest, 0, 100));
  CHECK(batch.changes.empty());
  CHECK(batch.scanned_through == TwoRegions::Head(*r.a));
  ApplyReport report = Ok(r.b->Apply(batch));
  CHECK(r.b->ListTables().empty());
  // Nothing to apply, but the cursor moves past what was scanned.
  CHECK(report.cursor == batch.scanned_through);
}

TEST_CASE("puts and deletes replicate with their stamps", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  std::vector<Stamp> stamps;
  for (const char* id : {"1", "2", "3"}) {
    r.clock_a.Advance(1000);
    stamps.push_back(TwoRegions::Put(*r.a, id, std::string("v") + id).stamp);
  }
  r.clock_a.Advance(1000);
  TwoRegions::Delete(*r.a, "2");
  CHECK(TwoRegions::Value(*r.b, "1") == "<absent>");

  ApplyReport report = Replicate(*r.a, *r.b);
  CHECK(report.applied == 4);
  CHECK(report.latencies_us.size() == 4);
  CHECK(TwoRegions::Value(*r.b, "1") == "v1");
  CHECK(TwoRegions::Value(*r.b, "2") == "<absent>");
  CHECK(TwoRegions::Value(*r.b, "3") == "v3");
  CHECK(Ok(r.b->GetItem("orders", {{"id", S("3")}})).stamp == stamps[2]);
  CHECK(Ok(r.b->DescribeTable("orders")).item_count == 2);
  r.RequireConverged();
}

TEST_CASE("concurrent writes to one key converge to the higher stamp in both regions", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  // Both regions accept a write to "k" before either hears of the other's; either may be the
  // later one, and either region's changes may arrive first.
  int64_t ts_a = 0, ts_b = 0;
  std::string winner;
  std::tie(ts_a, ts_b, winner) = GENERATE(table<int64_t, int64_t, std::string>(
      {{kStart + 100, kStart + 200, "from-b"}, {kStart + 300, kStart + 200, "from-a"}}));
  const bool a_first = GENERATE(true, false);
  INFO("a writes at +" << ts_a - kStart << ", b at +" << ts_b - kStart
                       << (a_first ? ", a's changes arrive first" : ", b's changes arrive first"));
  r.clock_a.Set(ts_a);
  r.clock_b.Set(ts_b);
  WriteResult wa = TwoRegions::Put(*r.a, "k", "from-a");
  WriteResult wb = TwoRegions::Put(*r.b, "k", "from-b");
  CHECK(wa.stamp == Stamp{ts_a, kEast});
  CHECK(wb.stamp == Stamp{ts_b, kWest});
  CHECK(TwoRegions::Value(*r.a, "k") == "from-a");
  CHECK(TwoRegions::Value(*r.b, "k") == "from-b");

  if (a_first) {
    Replicate(*r.a, *r.b);
    Replicate(*r.b, *r.a);
  } else {
    Replicate(*r.b, *r.a);
    Replicate(*r.a, *r.b);
  }
  CHECK(TwoRegions::Value(*r.a, "k") == winner);
  CHECK(TwoRegions::Value(*r.b, "k") == winner);
  r.RequireConverged();
}

TEST_CASE("equal timestamps are broken by region name", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.clock_a.Set(kStart + 500);
  r.clock_b.Set(kStart + 500);
  WriteResult wa = TwoRegions::Put(*r.a, "k", "from-a");
  WriteResult wb = TwoRegions::Put(*r.b, "k", "from-b");
  REQUIRE(wa.stamp.ts_us == wb.stamp.ts_us);

  ApplyReport at_a = Replicate(*r.b, *r.a);
  ApplyReport at_b = Replicate(*r.a, *r.b);
  CHECK(at_a.applied == 1);        // us-west-2 > us-east-1: b's write wins in a
  CHECK(at_b.lost_to_newer == 1);  // and a's write loses in b
  CHECK(TwoRegions::Value(*r.a, "k") == "from-b");
  CHECK(TwoRegions::Value(*r.b, "k") == "from-b");
  r.RequireConverged();
}

TEST_CASE("a delete tombstone keeps an older put from resurrecting the item", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.clock_a.Set(kStart + 1000);
  TwoRegions::Put(*r.a, "k", "v1");
  Replicate(*r.a, *r.b);
  REQUIRE(TwoRegions::Value(*r.b, "k") == "v1");

  // a overwrites at t2 while b deletes at t3 > t2; neither has heard of the other's write.
  r.clock_a.Set(kStart + 2000);
  TwoRegions::Put(*r.a, "k", "v2");
  r.clock_b.Set(kStart + 3000);
  WriteResult del = TwoRegions::Delete(*r.b, "k");
  CHECK(TwoRegions::Value(*r.b, "k") == "<absent>");

  ApplyReport at_a = Replicate(*r.b, *r.a);
  CHECK(at_a.applied == 1);
  CHECK(TwoRegions::Value(*r.a, "k") == "<absent>");
  ApplyReport at_b = Replicate(*r.a, *r.b);  // the older put arrives after the delete
  CHECK(at_b.lost_to_newer == 1);
  CHECK(TwoRegions::Value(*r.b, "k") == "<absent>");

  auto versions = Ok(r.b->DumpTable("orders"));
  REQUIRE(versions.size() == 1);
  CHECK_FALSE(versions[0].item.has_value());
  CHECK(versions[0].stamp == del.stamp);
  r.RequireConverged();

  // A newer put after the delete does bring the item back, everywhere.
  r.clock_a.Set(kStart + 4000);
  TwoRegions::Put(*r.a, "k", "v4");
  Replicate(*r.a, *r.b);
  CHECK(TwoRegions::Value(*r.b, "k") == "v4");
}

TEST_CASE("delivering the same batch twice changes nothing", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  for (const char* id : {"1", "2"}) {
    r.clock_a.Advance(1000);
    TwoRegions::Put(*r.a, id, "v");
  }
  r.clock_a.Advance(1000);
  TwoRegions::Delete(*r.a, "1");
  ChangeBatch batch = Ok(r.a->ReadFor(kWest, r.b->Cursor(kEast), 100));
  REQUIRE(batch.changes.size() == 3);

  ApplyReport first = Ok(r.b->Apply(batch));
  CHECK(first.applied == 3);
  int64_t cursor = r.b->Cursor(kEast);
  int64_t head = TwoRegions::Head(*r.b);
  auto versions = Ok(r.b->DumpTable("orders"));

  ApplyReport second = Ok(r.b->Apply(batch));
  CHECK(second.applied == 0);
  CHECK(second.cursor == cursor);
  CHECK(r.b->Cursor(kEast) == cursor);
  CHECK(TwoRegions::Head(*r.b) == head);  // nothing logged again
  auto after = Ok(r.b->DumpTable("orders"));
  REQUIRE(after.size() == versions.size());
  for (size_t i = 0; i < after.size(); ++i) {
    CHECK(after[i].stamp == versions[i].stamp);
    CHECK(after[i].item == versions[i].item);
  }
  // An older batch delivered late (a reconnect that re-sends from the start) is harmless too.
  ChangeBatch from_start = Ok(r.a->ReadFor(kWest, 0, 100));
  ApplyReport late = Ok(r.b->Apply(from_start));
  CHECK(late.applied == 0);
  CHECK(r.b->Cursor(kEast) == cursor);
  CHECK(TwoRegions::Head(*r.b) == head);
}

TEST_CASE("replicated writes are not served onward", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.clock_a.Advance(1000);
  TwoRegions::Put(*r.a, "from-a", "x");
  Replicate(*r.a, *r.b);
  REQUIRE(TwoRegions::Value(*r.b, "from-a") == "x");
  REQUIRE(TwoRegions::Head(*r.b) >= 2);  // b logged the table and the put it applied

  ChangeBatch back = Ok(r.b->ReadFor(kEast, 0, 100));
  CHECK(back.changes.empty());

  r.clock_b.Advance(5000);
  TwoRegions::Put(*r.b, "from-b", "y");
  back = Ok(r.b->ReadFor(kEast, 0, 100));
  REQUIRE(back.changes.size() == 1);
  CHECK(back.changes[0].stamp.region == kWest);
  CHECK(back.changes[0].key.at("id") == S("from-b"));
  CHECK(back.origin == kWest);
}

TEST_CASE("a write from a region whose clock is behind loses at once to the newer version",
          "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.clock_a.Set(kStart + 10'000);
  WriteResult newer = TwoRegions::Put(*r.a, "k", "newer");
  Replicate(*r.a, *r.b);
  REQUIRE(TwoRegions::Value(*r.b, "k") == "newer");

  // b's clock runs one second slow; in true time its write comes 5 ms after a's.
  Ok(r.b->SetClockSkew(-1'000'000));
  r.clock_b.Set(kStart + 15'000);
  int64_t head = TwoRegions::Head(*r.b);
  WriteResult late = TwoRegions::Put(*r.b, "k", "older");
  CHECK(late.stamp.ts_us == kStart + 15'000 - 1'000'000);
  REQUIRE(late.superseded_by.has_value());
  CHECK(*late.superseded_by == newer.stamp);
  CHECK(TwoRegions::Value(*r.b, "k") == "newer");
  CHECK(Ok(r.b->GetItem("orders", kKey)).stamp == newer.stamp);
  CHECK(TwoRegions::Head(*r.b) == head);                   // nothing logged
  CHECK(Ok(r.b->ReadFor(kEast, 0, 100)).changes.empty());  // nor replicated
  CHECK(Ok(r.b->Status()).clock_skew_us == -1'000'000);

  // Once b's clock is right again, its writes win as usual.
  Ok(r.b->SetClockSkew(0));
  r.clock_b.Set(kStart + 20'000);
  WriteResult fixed = TwoRegions::Put(*r.b, "k", "fixed");
  CHECK_FALSE(fixed.superseded_by.has_value());
  Replicate(*r.b, *r.a);
  CHECK(TwoRegions::Value(*r.a, "k") == "fixed");
}

TEST_CASE("the replication cursor survives closing and reopening a region", "[lww]") {
  TempDir dir;
  const std::string path = dir.File("us-west-2.db");
  ManualClock clock_a(kStart), clock_b(kStart);
  auto a = OpenRegion(kEast, {kEast, kWest}, &clock_a);
  auto b = OpenRegion(kWest, {kEast, kWest}, &clock_b, path);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  Ok(a->CreateTable(req));
  for (const char* id : {"1", "2", "3"}) {
    clock_a.Advance(1000);
    TwoRegions::Put(*a, id, "v");
  }
  ApplyReport first = Replicate(*a, *b);
  REQUIRE(first.applied == 4);
  const int64_t cursor = b->Cursor(kEast);
  REQUIRE(cursor == TwoRegions::Head(*a));
  const int64_t head_b = TwoRegions::Head(*b);

  b.reset();  // the process stops
  clock_a.Advance(1000);
  TwoRegions::Put(*a, "4", "v");
  b = OpenRegion(kWest, {kEast, kWest}, &clock_b, path);

  CHECK(b->Cursor(kEast) == cursor);
  CHECK(TwoRegions::Head(*b) == head_b);
  CHECK(TwoRegions::Value(*b, "3") == "v");
  ApplyReport resumed = Replicate(*a, *b);
  CHECK(resumed.applied == 1);  // only the write made while b was down
  CHECK(TwoRegions::Value(*b, "4") == "v");
  CHECK(b->Cursor(kEast) == TwoRegions::Head(*a));
}

TEST_CASE("pending replication counts local changes not yet acknowledged by the peer", "[lww]") {
  TwoRegions r;
  auto pending_towards_b = [&]() -> int64_t {
    RegionStatus s = Ok(r.a->Status());
    REQUIRE(s.outbound.size() == 1);
    REQUIRE(s.outbound[0].peer == kWest);
    return s.outbound[0].pending;
  };
  CHECK(pending_towards_b() == 0);  // nothing written yet
  r.CreateGlobalTable();
  CHECK(pending_towards_b() == 1);  // b applied the table creation but has not acknowledged it
  CreateTableRequest local;
  local.table = "local_only";
  local.hash_key = {"id", ValueType::kS};
  Ok(r.a->CreateTable(local));
  for (const char* id : {"1", "2", "3"}) {
    r.clock_a.Advance(1000);
    TwoRegions::Put(*r.a, id, "v");
  }
  PutRequest unreplicated;
  unreplicated.table = "local_only";
  unreplicated.item = {{"id", S("x")}};
  Ok(r.a->Write(unreplicated));

  ApplyReport report = Replicate(*r.a, *r.b);
  CHECK(report.applied == 3);
  r.a->RecordAck(kWest, report.cursor);
  CHECK(pending_towards_b() == 0);
  CHECK(Ok(r.a->Status()).outbound[0].acked_seq == report.cursor);

  r.clock_a.Advance(1000);
  TwoRegions::Put(*r.a, "4", "v");
  r.clock_a.Advance(1000);
  TwoRegions::Delete(*r.a, "1");
  Ok(r.a->Write(unreplicated));  // not for b: does not count
  CHECK(pending_towards_b() == 2);

  report = Replicate(*r.a, *r.b);
  CHECK(pending_towards_b() == 2);  // applied, but not yet acknowledged
  r.a->RecordAck(kWest, report.cursor);
  CHECK(pending_towards_b() == 0);
}

TEST_CASE("a change for a table the receiver does not have yet waits, cursor held", "[lww]") {
  const std::vector<std::string> all = {kEast, kWest, kEu};
  ManualClock clock(kStart);
  auto a = OpenRegion(kEast, all, &clock);
  auto b = OpenRegion(kWest, all, &clock);
  auto c = OpenRegion(kEu, all, &clock);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = all;
  Ok(a->CreateTable(req));
  Replicate(*a, *c);  // c hears of the table; b has not yet
  clock.Advance(1000);
  TwoRegions::Put(*c, "k", "from-c");

  ChangeBatch from_c = Ok(c->ReadFor(kWest, b->Cursor(kEu), 100));
  REQUIRE(from_c.changes.size() == 1);
  ApplyReport report = Ok(b->Apply(from_c));
  CHECK(report.waiting);
  CHECK(report.applied == 0);
  CHECK(b->Cursor(kEu) < from_c.changes[0].seq);
  CHECK(b->ListTables().empty());

  Replicate(*a, *b);  // the table arrives from its creator
  ApplyReport retried = Replicate(*c, *b);
  CHECK_FALSE(retried.waiting);
  CHECK(retried.applied == 1);
  CHECK(b->Cursor(kEu) == from_c.changes[0].seq);
  CHECK(TwoRegions::Value(*b, "k") == "from-c");
}

TEST_CASE("a backlog larger than one batch arrives over several batches, in order", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  for (int i = 0; i < 250; ++i) {
    r.clock_a.Advance(10);
    TwoRegions::Put(*r.a, "k" + std::to_string(i % 40), "v" + std::to_string(i));
  }
  std::vector<int> batch_sizes;
  for (int round = 0; round < 10 && r.b->Cursor(kEast) < TwoRegions::Head(*r.a); ++round) {
    ChangeBatch batch = Ok(r.a->ReadFor(kWest, r.b->Cursor(kEast), 100));
    batch_sizes.push_back(static_cast<int>(batch.changes.size()));
    for (size_t i = 1; i < batch.changes.size(); ++i) {
      REQUIRE(batch.changes[i - 1].seq < batch.changes[i].seq);
    }
    Ok(r.b->Apply(batch));
  }
  CHECK(batch_sizes == std::vector<int>{100, 100, 50});
  for (int k = 0; k < 40; ++k) {
    // The last write to k<j> was i = 240 + j for j < 10, else 200 + j.
    int last = k < 10 ? 240 + k : 200 + k;
    CHECK(TwoRegions::Value(*r.b, "k" + std::to_string(k)) == "v" + std::to_string(last));
  }
  r.RequireConverged();
}

TEST_CASE("DeleteTable on a global table deletes only the caller's replica", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.clock_a.Advance(1000);
  TwoRegions::Put(*r.a, "1", "v");
  Replicate(*r.a, *r.b);
  // b writes before it hears that a deleted its replica.
  r.clock_b.Advance(1500);
  TwoRegions::Put(*r.b, "2", "late");
  r.clock_a.Advance(1000);
  Ok(r.a->DeleteTable("orders"));
  CHECK(r.a->ListTables().empty());
  CHECK(absl::IsNotFound(r.a->GetItem("orders", {{"id", S("1")}}).status()));

  ApplyReport at_b = Replicate(*r.a, *r.b);
  CHECK(at_b.applied == 1);
  // b keeps the table and every item, and is regional again.
  TableInfo left = Ok(r.b->DescribeTable("orders"));
  CHECK(left.spec.replicas == std::vector<std::string>{kWest});
  CHECK(left.spec.TableStatus() == "ACTIVE");
  CHECK(left.spec.ReplicaStatus(kWest) == "ACTIVE");
  CHECK(TwoRegions::Value(*r.b, "1") == "v");
  CHECK(TwoRegions::Value(*r.b, "2") == "late");
  // b's late write is dropped at a; b's later writes are not sent to a at all.
  ApplyReport at_a = Replicate(*r.b, *r.a);
  CHECK(at_a.applied == 0);
  CHECK_FALSE(at_a.waiting);
  CHECK(r.a->Cursor(kWest) == at_a.cursor);  // moved past the dropped change
  r.clock_b.Advance(1000);
  TwoRegions::Put(*r.b, "3", "after");
  CHECK(Ok(r.b->ReadFor(kEast, r.a->Cursor(kWest), 100)).changes.empty());
  CHECK(r.a->ListTables().empty());
}

TEST_CASE("a table deleted and created again replaces the old one in every replica", "[lww]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.clock_a.Advance(1000);
  TwoRegions::Put(*r.a, "old", "v");
  Replicate(*r.a, *r.b);
  r.clock_a.Advance(1000);
  Ok(r.a->DeleteTable("orders"));
  r.clock_a.Advance(1000);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  TableInfo second = Ok(r.a->CreateTable(req));
  r.clock_a.Advance(1000);
  TwoRegions::Put(*r.a, "new", "v");

  Replicate(*r.a, *r.b);
  CHECK(Ok(r.b->DescribeTable("orders")).spec.created == second.spec.created);
  CHECK(TwoRegions::Value(*r.b, "old") == "<absent>");
  CHECK(TwoRegions::Value(*r.b, "new") == "v");
  r.RequireConverged();
}

TEST_CASE("a table created in two regions at once converges to the later creation", "[lww]") {
  TwoRegions r;
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  r.clock_a.Set(kStart + 100);
  Ok(r.a->CreateTable(req));
  TwoRegions::Put(*r.a, "from-a", "v");
  r.clock_b.Set(kStart + 200);
  TableInfo later = Ok(r.b->CreateTable(req));
  TwoRegions::Put(*r.b, "from-b", "v");

  Replicate(*r.a, *r.b);
  Replicate(*r.b, *r.a);
  for (Region* region : {r.a.get(), r.b.get()}) {
    INFO(region->name());
    CHECK(Ok(region->DescribeTable("orders")).spec.created == later.spec.created);
    CHECK(TwoRegions::Value(*region, "from-a") == "<absent>");
    CHECK(TwoRegions::Value(*region, "from-b") == "v");
  }
  r.RequireConverged();
}

TEST_CASE("a blocked origin's batches are refused and change nothing", "[lww]") {
  TwoRegions r;
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  Ok(r.a->CreateTable(req));
  r.b->SetBlocked(kEast, true);
  CHECK(r.b->IsBlocked(kEast));
  ChangeBatch batch = Ok(r.a->ReadFor(kWest, 0, 100));
  CHECK(r.b->Apply(batch).status().code() == absl::StatusCode::kUnavailable);
  CHECK(r.b->ListTables().empty());
  CHECK(r.b->Cursor(kEast) == 0);
  r.b->SetBlocked(kEast, false);
  CHECK(Ok(r.b->Apply(batch)).applied == 1);
}

TEST_CASE("replication latency runs from the origin's commit to the receiver's apply", "[lww]") {
  ManualClock clock(kStart);  // one true clock for both, as on one machine
  auto a = OpenRegion(kEast, {kEast, kWest}, &clock);
  auto b = OpenRegion(kWest, {kEast, kWest}, &clock);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  Ok(a->CreateTable(req));
  Replicate(*a, *b);
  for (int i = 1; i <= 10; ++i) {
    TwoRegions::Put(*a, std::to_string(i), "v");
    clock.Advance(i * 10'000);  // the i-th write waits i*10 ms, then is applied
    ApplyReport report = Replicate(*a, *b);
    REQUIRE(report.latencies_us == std::vector<int64_t>{i * 10'000});
  }
  RegionStatus status = Ok(b->Status());
  REQUIRE(status.inbound.size() == 1);
  const InboundStatus& in = status.inbound[0];
  CHECK(in.origin == kEast);
  CHECK(in.applied_changes == 11);
  CHECK(in.applied_seq == Ok(a->Status()).head_seq);
  CHECK(in.origin_head == Ok(a->Status()).head_seq);
  CHECK(in.latency.samples == 11);  // the table creation (0 ms) and the ten puts
  CHECK(in.latency.p50_ms == Approx(50));
  CHECK(in.latency.p90_ms == Approx(90));
  CHECK(in.latency.max_ms == Approx(100));
}

TEST_CASE("acknowledgements survive a restart of the origin", "[lww]") {
  TempDir dir;
  const std::string path = dir.File("us-east-1.db");
  ManualClock clock(kStart);
  auto a = OpenRegion(kEast, {kEast, kWest}, &clock, path);
  auto b = OpenRegion(kWest, {kEast, kWest}, &clock);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  Ok(a->CreateTable(req));
  for (const char* id : {"1", "2"}) {
    clock.Advance(1000);
    TwoRegions::Put(*a, id, "v");
  }
  a->RecordAck(kWest, Replicate(*a, *b).cursor);
  clock.Advance(1000);
  TwoRegions::Put(*a, "3", "v");
  auto pending = [&]() { return Ok(a->Status()).outbound.at(0).pending; };
  REQUIRE(pending() == 1);

  a.reset();
  a = OpenRegion(kEast, {kEast, kWest}, &clock, path);
  CHECK(pending() == 1);
  // An older acknowledgement arriving late does not move it back.
  a->RecordAck(kWest, 1);
  CHECK(pending() == 1);
  a->RecordAck(kWest, Replicate(*a, *b).cursor);
  CHECK(pending() == 0);
}

TEST_CASE("a change for a newer incarnation of a table waits until that incarnation arrives",
          "[lww]") {
  const std::vector<std::string> all = {kEast, kWest, kEu};
  ManualClock clock(kStart);
  auto a = OpenRegion(kEast, all, &clock);
  auto b = OpenRegion(kWest, all, &clock);
  auto c = OpenRegion(kEu, all, &clock);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = all;
  Ok(a->CreateTable(req));
  Replicate(*a, *b);
  Replicate(*a, *c);
  // a deletes the table and creates it again; only c hears of it before c writes.
  clock.Advance(1000);
  Ok(a->DeleteTable("orders"));
  clock.Advance(1000);
  TableInfo second = Ok(a->CreateTable(req));
  Replicate(*a, *c);
  clock.Advance(1000);
  TwoRegions::Put(*c, "k", "from-c");

  ApplyReport early = Replicate(*c, *b);
  CHECK(early.waiting);
  CHECK(early.applied == 0);
  CHECK(b->Cursor(kEu) == 0);

  Replicate(*a, *b);  // b replaces its table with the new incarnation
  CHECK(Ok(b->DescribeTable("orders")).spec.created == second.spec.created);
  ApplyReport retried = Replicate(*c, *b);
  CHECK_FALSE(retried.waiting);
  CHECK(retried.applied == 1);
  CHECK(TwoRegions::Value(*b, "k") == "from-c");
}

}  // namespace
}  // namespace gtsim
