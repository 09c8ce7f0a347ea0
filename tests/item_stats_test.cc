// Tests of Storage::ItemStatsOf (storage/storage.h): item counts and sizes are kept with every
// write, in the same transaction, so DescribeTable and `gtsim status` read them in constant time
// instead of counting the table (issue 19, item 1: a status call stalled every region).
#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "model/key_codec.h"
#include "storage/memory_storage.h"
#include "storage/sqlite_storage.h"
#include "storage/storage.h"

namespace gtsim {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "gtsim_item_stats_test.XXXXXX").string();
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

void RequireOk(const absl::Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

class SqliteBackend {
 public:
  std::unique_ptr<Storage> Open() {
    auto s = Storage::Open(dir_.File("region.db"), "us-east-1");
    INFO(s.status().ToString());
    REQUIRE(s.ok());
    return *std::move(s);
  }

 private:
  TempDir dir_;
};

class MemoryBackend {
 public:
  std::unique_ptr<Storage> Open() {
    auto s = MemoryStorage::Open(disk_, "us-east-1");
    INFO(s.status().ToString());
    REQUIRE(s.ok());
    return std::unique_ptr<Storage>(*std::move(s));
  }

 private:
  std::shared_ptr<MemoryDisk> disk_ = std::make_shared<MemoryDisk>();
};

TableSpec Spec(const std::string& name) {
  TableSpec spec;
  spec.name = name;
  spec.hash_key = KeyDef{"id", ValueType::kS};
  spec.replicas = {"us-east-1"};
  spec.created = Stamp{1000, "us-east-1"};
  return spec;
}

std::string Hk(int i) { return EncodeHashKey(AttributeValue::S("k" + std::to_string(i))); }

Storage::ItemVersion Live(size_t bytes, int64_t ts) {
  return Storage::ItemVersion{std::string(bytes, 'x'), Stamp{ts, "us-east-1"}};
}
Storage::ItemVersion Tombstone(int64_t ts) {
  return Storage::ItemVersion{std::nullopt, Stamp{ts, "us-east-1"}};
}

void CheckStats(Storage& s, int64_t table_id, int64_t items, int64_t bytes) {
  auto stats = s.ItemStatsOf(table_id);
  REQUIRE(stats.ok());
  CHECK(stats->items == items);
  CHECK(stats->bytes == bytes);
  CHECK(s.CountItems(table_id).value() == items);
}

TEMPLATE_TEST_CASE("item counts and sizes follow every kind of write exactly", "[storage][stats]",
                   SqliteBackend, MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  int64_t id = s->PutTable(Spec("t"), false).value();
  int64_t other = s->PutTable(Spec("u"), false).value();
  CheckStats(*s, id, 0, 0);

  RequireOk(s->PutItem(id, Hk(1), "", Live(100, 1)));
  RequireOk(s->PutItem(id, Hk(2), "", Live(50, 2)));
  RequireOk(s->PutItem(other, Hk(1), "", Live(7, 3)));
  CheckStats(*s, id, 2, 150);
  CheckStats(*s, other, 1, 7);

  RequireOk(s->PutItem(id, Hk(1), "", Live(30, 4)));  // overwrite: size changes, count does not
  CheckStats(*s, id, 2, 80);
  RequireOk(s->PutItem(id, Hk(2), "", Tombstone(5)));  // delete: a tombstone is not an item
  CheckStats(*s, id, 1, 30);
  RequireOk(s->PutItem(id, Hk(3), "", Tombstone(6)));  // a tombstone for an absent item
  CheckStats(*s, id, 1, 30);
  RequireOk(s->PutItem(id, Hk(2), "", Live(10, 7)));  // written again after its delete
  CheckStats(*s, id, 2, 40);

  SECTION("a rolled-back transaction and a rolled-back savepoint leave the figures as they were") {
    RequireOk(s->Begin());
    RequireOk(s->PutItem(id, Hk(4), "", Live(1000, 8)));
    RequireOk(s->Savepoint());
    RequireOk(s->PutItem(id, Hk(5), "", Live(500, 9)));
    RequireOk(s->PutItem(id, Hk(1), "", Tombstone(10)));
    RequireOk(s->RollbackToSavepoint());
    CheckStats(*s, id, 3, 1040);
    s->Rollback();
    CheckStats(*s, id, 2, 40);
  }
  SECTION("snapshot rows count when they win LWW, and not when the stored version is newer") {
    std::vector<SnapshotRow> rows;
    rows.push_back(SnapshotRow{Hk(1), "", std::string(5, 'y'), Stamp{1, "us-west-2"}});  // older
    rows.push_back(SnapshotRow{Hk(8), "", std::string(20, 'y'), Stamp{99, "us-west-2"}});
    rows.push_back(SnapshotRow{Hk(2), "", std::nullopt, Stamp{99, "us-west-2"}});  // newer delete
    RequireOk(s->PutVersionsIfNewer(id, rows));
    CheckStats(*s, id, 2, 50);
  }
  SECTION("deleting every item of a table zeroes its figures only") {
    RequireOk(s->DeleteAllItems(id));
    CheckStats(*s, id, 0, 0);
    CheckStats(*s, other, 1, 7);
  }
  SECTION("the figures survive a reopen") {
    s.reset();
    s = backend.Open();
    CheckStats(*s, id, 2, 40);
    CheckStats(*s, other, 1, 7);
  }
}

// Issue 12 item 4: DescribeTable's per-index ItemCount / IndexSizeBytes, kept by every entry
// write as the table's figures are.
std::string IndexedItem(int i, const std::optional<std::string>& g, size_t pad) {
  Item item{{"id", AttributeValue::S("k" + std::to_string(i))}};
  if (g) item["g"] = AttributeValue::S(*g);
  item["pad"] = AttributeValue::S(std::string(pad, 'p'));
  return EncodeItem(item);
}
int64_t Size(const std::string& encoded) { return static_cast<int64_t>(encoded.size()); }

void CheckIndex(Storage& s, int64_t table_id, const std::string& index, int64_t items,
                int64_t bytes) {
  auto all = s.IndexStatsOf(table_id);
  REQUIRE(all.ok());
  INFO("index " << index);
  auto it = all->find(index);
  if (items == 0) {
    CHECK(it == all->end());
    return;
  }
  REQUIRE(it != all->end());
  CHECK(it->second.items == items);
  CHECK(it->second.bytes == bytes);
}

TEMPLATE_TEST_CASE("index item counts and sizes follow every kind of write exactly",
                   "[storage][stats]", SqliteBackend, MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  int64_t id = s->PutTable(Spec("t"), false).value();
  const Storage::IndexDef by_g{"by_g", KeyDef{"g", ValueType::kS}, std::nullopt};
  const Storage::IndexDef by_pad{"by_pad", KeyDef{"pad", ValueType::kS}, std::nullopt};
  s->SetIndexes(id, {by_g, by_pad});
  const std::string a = IndexedItem(1, "red", 10), b = IndexedItem(2, std::nullopt, 20),
                    c = IndexedItem(3, "blue", 30);
  RequireOk(s->PutItem(id, Hk(1), "", {a, Stamp{1, "us-east-1"}}));
  RequireOk(s->PutItem(id, Hk(2), "", {b, Stamp{2, "us-east-1"}}));  // not in by_g
  RequireOk(s->PutItem(id, Hk(3), "", {c, Stamp{3, "us-east-1"}}));
  CheckIndex(*s, id, "by_g", 2, Size(a) + Size(c));
  CheckIndex(*s, id, "by_pad", 3, Size(a) + Size(b) + Size(c));

  // An update that drops the key attribute leaves the index; a delete leaves both.
  const std::string a2 = IndexedItem(1, std::nullopt, 5);
  RequireOk(s->PutItem(id, Hk(1), "", {a2, Stamp{4, "us-east-1"}}));
  RequireOk(s->PutItem(id, Hk(3), "", Tombstone(5)));
  CheckIndex(*s, id, "by_g", 0, 0);
  CheckIndex(*s, id, "by_pad", 2, Size(a2) + Size(b));
  // An item gaining the key joins it, with its new size.
  const std::string b2 = IndexedItem(2, "red", 40);
  RequireOk(s->PutItem(id, Hk(2), "", {b2, Stamp{6, "us-east-1"}}));
  CheckIndex(*s, id, "by_g", 1, Size(b2));
  CheckIndex(*s, id, "by_pad", 2, Size(a2) + Size(b2));

  SECTION("rolled-back writes and backfills leave the figures as they were") {
    RequireOk(s->Begin());
    RequireOk(s->PutItem(id, Hk(7), "", {IndexedItem(7, "red", 70), Stamp{7, "us-east-1"}}));
    RequireOk(s->Savepoint());
    RequireOk(s->PutItem(id, Hk(2), "", Tombstone(8)));
    RequireOk(s->RollbackToSavepoint());
    CheckIndex(*s, id, "by_g", 2, Size(b2) + Size(IndexedItem(7, "red", 70)));
    const Storage::IndexDef by_id{"by_id", KeyDef{"id", ValueType::kS}, std::nullopt};
    REQUIRE(s->BackfillIndex(id, by_id, std::nullopt, 100).ok());
    CheckIndex(*s, id, "by_id", 3, Size(a2) + Size(b2) + Size(IndexedItem(7, "red", 70)));
    s->Rollback();
    CheckIndex(*s, id, "by_g", 1, Size(b2));
    CheckIndex(*s, id, "by_id", 0, 0);
  }
  SECTION("a backfill counts each item once; dropping the index zeroes it only") {
    const Storage::IndexDef by_id{"by_id", KeyDef{"id", ValueType::kS}, std::nullopt};
    auto next = s->BackfillIndex(id, by_id, std::nullopt, 1);
    REQUIRE(next.ok());
    REQUIRE(next->has_value());
    REQUIRE(s->BackfillIndex(id, by_id, std::nullopt, 100).ok());  // again from the start
    CheckIndex(*s, id, "by_id", 2, Size(a2) + Size(b2));
    RequireOk(s->DropIndex(id, "by_id"));
    CheckIndex(*s, id, "by_id", 0, 0);
    CheckIndex(*s, id, "by_pad", 2, Size(a2) + Size(b2));
  }
  SECTION("snapshot rows count when they win LWW") {
    const std::string d = IndexedItem(4, "red", 3);
    RequireOk(s->PutVersionsIfNewer(
        id, {SnapshotRow{Hk(4), "", d, Stamp{9, "us-west-2"}},
             SnapshotRow{Hk(2), "", IndexedItem(2, "red", 99), Stamp{1, "us-west-2"}}}));
    CheckIndex(*s, id, "by_g", 2, Size(b2) + Size(d));
  }
  SECTION("deleting every item zeroes them; they survive a reopen") {
    s.reset();
    s = backend.Open();
    CheckIndex(*s, id, "by_g", 1, Size(b2));
    s->SetIndexes(id, {by_g, by_pad});
    RequireOk(s->DeleteAllItems(id));
    CheckIndex(*s, id, "by_g", 0, 0);
    CheckIndex(*s, id, "by_pad", 0, 0);
  }
}

TEST_CASE("a database from before index figures gains them, counted once at open",
          "[storage][stats]") {
  TempDir dir;
  const std::string path = dir.File("region.db");
  const Storage::IndexDef by_g{"by_g", KeyDef{"g", ValueType::kS}, std::nullopt};
  const std::string a = IndexedItem(1, "red", 10), b = IndexedItem(2, "blue", 20);
  int64_t id = 0;
  {
    auto s = Storage::Open(path, "us-east-1").value();
    id = s->PutTable(Spec("t"), false).value();
    s->SetIndexes(id, {by_g});
    RequireOk(s->PutItem(id, Hk(1), "", {a, Stamp{1, "us-east-1"}}));
    RequireOk(s->PutItem(id, Hk(2), "", {b, Stamp{2, "us-east-1"}}));
  }
  {  // Make it what an older build wrote: no bytes column, no index_stats.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    int rc = sqlite3_exec(db,
                          "DROP TRIGGER index_stats_insert; DROP TRIGGER index_stats_delete; "
                          "DROP TABLE index_stats; ALTER TABLE gsi_entries DROP COLUMN bytes; "
                          "DELETE FROM gtsim_meta WHERE key = 'index_stats'",
                          nullptr, nullptr, &err);
    INFO((err ? err : ""));
    CHECK(rc == SQLITE_OK);
    sqlite3_free(err);
    sqlite3_close(db);
  }
  auto s = Storage::Open(path, "us-east-1").value();
  s->SetIndexes(id, {by_g});
  CheckIndex(*s, id, "by_g", 2, Size(a) + Size(b));
  RequireOk(s->PutItem(id, Hk(1), "", Tombstone(3)));
  CheckIndex(*s, id, "by_g", 1, Size(b));
}

// Issue 19 item 7: tombstones are trimmed below a horizon, and the horizon stands in for them.
TEMPLATE_TEST_CASE("trimmed tombstones leave a horizon that older writes still lose to",
                   "[storage][tombstone]", SqliteBackend, MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  int64_t id = s->PutTable(Spec("t"), false).value();
  int64_t other = s->PutTable(Spec("u"), false).value();
  RequireOk(s->PutItem(id, Hk(1), "", Tombstone(10)));
  RequireOk(s->PutItem(id, Hk(2), "", Tombstone(30)));
  RequireOk(s->PutItem(id, Hk(3), "", Live(5, 5)));  // live items are never trimmed
  RequireOk(s->PutItem(other, Hk(1), "", Tombstone(10)));
  CHECK(s->TombstoneHorizon(id) == 0);
  CHECK_FALSE(s->GetItem(id, Hk(9), "").value().has_value());

  SECTION("trimming drops only tombstones older than the horizon, of that table only") {
    CHECK(s->TrimTombstones(id, 20, 100).value() == 1);
    CHECK(s->TombstoneHorizon(id) == 20);
    CHECK(s->CountVersions(id).value() == 2);
    CHECK(s->CountVersions(other).value() == 1);
    CheckStats(*s, id, 1, 5);
    // An absent key answers with the horizon's tombstone; a stored row answers for itself.
    auto absent = s->GetItem(id, Hk(1), "").value();
    REQUIRE(absent.has_value());
    CHECK_FALSE(absent->item.has_value());
    CHECK(absent->stamp == Stamp{20, ""});
    CHECK(s->GetItem(id, Hk(2), "").value()->stamp == Stamp{30, "us-east-1"});
    CHECK(s->GetItem(id, Hk(3), "").value()->item.has_value());
    // The horizon never goes down; a lower one trims nothing more.
    CHECK(s->TrimTombstones(id, 5, 100).value() == 0);
    CHECK(s->TombstoneHorizon(id) == 20);
    // Snapshot rows compare with stored rows only (another replica's state is authoritative).
    RequireOk(s->PutVersionsIfNewer(
        id, {SnapshotRow{Hk(4), "", std::string(3, 'y'), Stamp{15, "us-west-2"}}}));
    CHECK(s->GetItem(id, Hk(4), "").value()->item.has_value());
    // The horizon survives a reopen; DeleteAllItems resets it.
    s.reset();
    s = backend.Open();
    CHECK(s->TombstoneHorizon(id) == 20);
    RequireOk(s->DeleteAllItems(id));
    CHECK(s->TombstoneHorizon(id) == 0);
    CHECK_FALSE(s->GetItem(id, Hk(1), "").value().has_value());
  }
  SECTION("a limit bounds a step, and a rolled-back trim leaves rows and horizon as they were") {
    CHECK(s->TrimTombstones(id, 100, 1).value() == 1);
    CHECK(s->TrimTombstones(id, 100, 1).value() == 1);
    CHECK(s->TrimTombstones(id, 100, 1).value() == 0);
    RequireOk(s->Begin());
    CHECK(s->TrimTombstones(other, 50, 10).value() == 1);
    CHECK(s->TombstoneHorizon(other) == 50);
    s->Rollback();
    CHECK(s->TombstoneHorizon(other) == 0);
    CHECK(s->CountVersions(other).value() == 1);
  }
  SECTION("limit 0 only raises the horizon (a new replica adopting its source's)") {
    CHECK(s->TrimTombstones(id, 40, 0).value() == 0);
    CHECK(s->TombstoneHorizon(id) == 40);
    CHECK(s->CountVersions(id).value() == 3);
  }
}

TEST_CASE("reading a large table's item count touches a few pages, not the table",
          "[storage][stats]") {
  TempDir dir;
  auto opened = SqliteStorage::Open(dir.File("region.db"), "us-east-1");
  REQUIRE(opened.ok());
  auto& s = **opened;
  int64_t id = s.PutTable(Spec("big"), false).value();
  RequireOk(s.Begin());
  for (int i = 0; i < 20000; ++i) RequireOk(s.PutItem(id, Hk(i), "", Live(400, i + 1)));
  RequireOk(s.Commit());
  // A write to the table just before the count: no cached count may serve it.
  RequireOk(s.PutItem(id, Hk(20000), "", Live(400, 30000)));
  const int64_t before = s.PagesRead();
  auto stats = s.ItemStatsOf(id);
  const int64_t pages = s.PagesRead() - before;
  REQUIRE(stats.ok());
  CHECK(stats->items == 20001);
  CHECK(stats->bytes == int64_t{20001} * 400);
  INFO("pages read for one count: " << pages << " (the table holds ~2,000 pages)");
  CHECK(pages < 10);
}

}  // namespace
}  // namespace gtsim
