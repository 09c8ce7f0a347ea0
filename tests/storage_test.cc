// Tests of storage/storage.h on both backends: SqliteStorage (storage/sqlite_storage.h) and
// MemoryStorage (storage/memory_storage.h). The behavioural cases are TEMPLATE_TEST_CASEs over the
// two; a randomized case runs one sequence of writes, transactions and savepoints on both and
// requires every read to agree. SQLite-only cases: which files it refuses to touch and the WAL
// checkpointer; memory-only cases: what a MemoryDisk keeps across a simulated crash.
#include "storage/storage.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "model/key_codec.h"
#include "storage/memory_storage.h"

namespace gtsim {
namespace {

namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "gtsim_storage_test.XXXXXX").string();
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

std::unique_ptr<Storage> OpenOrDie(const std::string& path, const std::string& region) {
  auto s = Storage::Open(path, region);
  INFO("Storage::Open(" << path << ", " << region << "): " << s.status().ToString());
  REQUIRE(s.ok());
  return *std::move(s);
}

void RequireOk(const absl::Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

// A database of each backend that can be opened, closed and opened again ("reopened": the file
// or the disk outlives the Storage).
class SqliteBackend {
 public:
  absl::StatusOr<std::unique_ptr<Storage>> TryOpen(const std::string& region = "us-east-1") {
    return Storage::Open(dir_.File("region.db"), region);
  }
  std::unique_ptr<Storage> Open(const std::string& region = "us-east-1") {
    return OpenOrDie(dir_.File("region.db"), region);
  }

 private:
  TempDir dir_;
};

class MemoryBackend {
 public:
  absl::StatusOr<std::unique_ptr<Storage>> TryOpen(const std::string& region = "us-east-1") {
    auto s = MemoryStorage::Open(disk_, region);
    if (!s.ok()) return s.status();
    return std::unique_ptr<Storage>(*std::move(s));
  }
  std::unique_ptr<Storage> Open(const std::string& region = "us-east-1") {
    auto s = TryOpen(region);
    INFO("MemoryStorage::Open(" << region << "): " << s.status().ToString());
    REQUIRE(s.ok());
    return *std::move(s);
  }

 private:
  std::shared_ptr<MemoryDisk> disk_ = std::make_shared<MemoryDisk>();
};

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TableSpec Spec(const std::string& name, const std::string& region) {
  TableSpec spec;
  spec.name = name;
  spec.hash_key = KeyDef{"id", ValueType::kS};
  spec.range_key = KeyDef{"n", ValueType::kN};
  spec.replicas = {region};
  spec.created = Stamp{1000, region};
  return spec;
}

Change PutChange(const std::string& table, const Stamp& created, const Stamp& stamp,
                 const std::string& id) {
  Change c;
  c.kind = ChangeKind::kPut;
  c.table = table;
  c.table_created = created;
  c.stamp = stamp;
  c.commit_true_us = stamp.ts_us;
  c.key = Item{{"id", AttributeValue::S(id)}, {"n", AttributeValue::N("1")}};
  c.new_image = Item{{"id", AttributeValue::S(id)},
                     {"n", AttributeValue::N("1")},
                     {"v", AttributeValue::S("value of " + id)}};
  return c;
}

TEST_CASE("an in-memory SQLite database opens empty and is private", "[storage]") {
  auto a = OpenOrDie(":memory:", "us-east-1");
  auto b = OpenOrDie(":memory:", "us-east-1");
  CHECK(a->head_seq() == 0);
  RequireOk(a->PutTable(Spec("orders", "us-east-1"), false).status());
  CHECK(a->LoadTables()->size() == 1);
  CHECK(b->LoadTables()->empty());
}

TEMPLATE_TEST_CASE("a new database opens empty and shares nothing with another", "[storage]",
                   SqliteBackend, MemoryBackend) {
  TestType backend_a, backend_b;
  auto a = backend_a.Open();
  auto b = backend_b.Open();
  CHECK(a->head_seq() == 0);
  auto tables = a->LoadTables();
  REQUIRE(tables.ok());
  CHECK(tables->empty());
  auto cursors = a->LoadCursors();
  REQUIRE(cursors.ok());
  CHECK(cursors->empty());
  CHECK(a->LoadPeerAcks()->empty());
  CHECK(a->LoadBootstraps()->empty());
  CHECK(a->LastLocalTimestamp().value() == 0);

  RequireOk(a->PutTable(Spec("orders", "us-east-1"), false).status());
  CHECK(a->LoadTables()->size() == 1);
  CHECK(b->LoadTables()->empty());
}

TEMPLATE_TEST_CASE("a database reopened keeps tables, items, cursors and the change log",
                   "[storage]", SqliteBackend, MemoryBackend) {
  TestType backend;
  const TableSpec spec = Spec("orders", "us-east-1");
  int64_t table_id = 0;
  std::string live_item;
  {
    auto s = backend.Open();
    RequireOk(s->Begin());
    auto id = s->PutTable(spec, false);
    REQUIRE(id.ok());
    table_id = *id;
    RequireOk(s->PutTable(Spec("gone", "us-east-1"), true).status());
    Change c = PutChange("orders", spec.created, Stamp{2000, "us-east-1"}, "o1");
    live_item = EncodeItem(*c.new_image);
    RequireOk(s->PutItem(table_id, "hk1", "rk1", {live_item, c.stamp}));
    RequireOk(s->PutItem(table_id, "hk2", "rk2", {std::nullopt, Stamp{2500, "us-west-2"}}));
    REQUIRE(s->AppendChange(c, /*is_local=*/true, 2001).value() == 1);
    Change remote = PutChange("orders", spec.created, Stamp{2400, "us-west-2"}, "o2");
    REQUIRE(s->AppendChange(remote, /*is_local=*/false, 2600).value() == 2);
    RequireOk(s->SetCursor("us-west-2", 17));
    RequireOk(s->Commit());
    CHECK(s->head_seq() == 2);
  }
  auto s = backend.Open();
  CHECK(s->head_seq() == 2);

  auto tables = s->LoadTables();
  REQUIRE(tables.ok());
  REQUIRE(tables->size() == 2);
  const auto& gone = (*tables)[0];  // ordered by name
  const auto& orders = (*tables)[1];
  CHECK(gone.spec.name == "gone");
  CHECK(gone.deleted);
  CHECK(orders.spec.name == "orders");
  CHECK(orders.id == table_id);
  CHECK_FALSE(orders.deleted);
  CHECK(orders.spec.hash_key == spec.hash_key);
  CHECK(orders.spec.range_key == spec.range_key);
  CHECK(orders.spec.replicas == spec.replicas);
  CHECK(orders.spec.created == spec.created);

  auto item = s->GetItem(table_id, "hk1", "rk1");
  REQUIRE(item.ok());
  REQUIRE(item->has_value());
  CHECK((*item)->item == std::optional<std::string>(live_item));
  CHECK((*item)->stamp == Stamp{2000, "us-east-1"});
  auto tombstone = s->GetItem(table_id, "hk2", "rk2");
  REQUIRE(tombstone.ok());
  REQUIRE(tombstone->has_value());
  CHECK_FALSE((*tombstone)->item.has_value());
  CHECK((*tombstone)->stamp == Stamp{2500, "us-west-2"});
  CHECK(s->CountItems(table_id).value() == 1);

  auto cursors = s->LoadCursors();
  REQUIRE(cursors.ok());
  CHECK(*cursors == std::map<std::string, int64_t>{{"us-west-2", 17}});

  auto all = s->ReadChanges(0, 0);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].seq == 1);
  CHECK((*all)[0].stamp == Stamp{2000, "us-east-1"});
  CHECK((*all)[0].key.at("id") == AttributeValue::S("o1"));
  CHECK((*all)[0].new_image->at("v") == AttributeValue::S("value of o1"));
  CHECK((*all)[1].seq == 2);
  CHECK((*all)[1].stamp.region == "us-west-2");
  auto local = s->ReadLocalChanges(0, 0);
  REQUIRE(local.ok());
  REQUIRE(local->size() == 1);
  CHECK((*local)[0].seq == 1);
  CHECK(s->LastLocalTimestamp().value() == 2000);

  // Sequences continue after the reopen; none is reused.
  REQUIRE(
      s->AppendChange(PutChange("orders", spec.created, Stamp{3000, "us-east-1"}, "o3"), true, 3001)
          .value() == 3);
}

TEST_CASE("a file of random garbage is refused as not a gtsim database, untouched", "[storage]") {
  TempDir dir;
  const std::string path = dir.File("garbage.db");
  std::string garbage;
  std::mt19937 rng(99);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>(byte(rng)));
  { std::ofstream(path, std::ios::binary) << garbage; }

  auto s = Storage::Open(path, "us-east-1");
  REQUIRE_FALSE(s.ok());
  INFO(s.status().ToString());
  CHECK((s.status().code() == absl::StatusCode::kFailedPrecondition ||
         s.status().code() == absl::StatusCode::kDataLoss));
  CHECK(std::string(s.status().message()).find("not a gtsim database") != std::string::npos);
  CHECK(std::string(s.status().message()).find(path) != std::string::npos);
  CHECK(ReadFileBytes(path) == garbage);
}

TEST_CASE("a SQLite database of another application is refused and left as it was", "[storage]") {
  TempDir dir;
  const std::string path = dir.File("other.db");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db,
                         "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
                         "INSERT INTO customers VALUES (1, 'ada');",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  const std::string before = ReadFileBytes(path);

  auto s = Storage::Open(path, "us-east-1");
  REQUIRE_FALSE(s.ok());
  INFO(s.status().ToString());
  CHECK(s.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(s.status().message()).find("not a gtsim database") != std::string::npos);
  CHECK(ReadFileBytes(path) == before);
  CHECK_FALSE(fs::exists(path + "-wal"));
}

TEMPLATE_TEST_CASE("a database created for one region is refused by another", "[storage]",
                   SqliteBackend, MemoryBackend) {
  TestType backend;
  {
    auto a = backend.Open("us-east-1");
    RequireOk(a->PutTable(Spec("orders", "us-east-1"), false).status());
  }
  auto b = backend.TryOpen("us-west-2");
  REQUIRE_FALSE(b.ok());
  INFO(b.status().ToString());
  CHECK(b.status().code() == absl::StatusCode::kFailedPrecondition);
  std::string msg(b.status().message());
  CHECK(msg.find("us-east-1") != std::string::npos);
  CHECK(msg.find("us-west-2") != std::string::npos);
  // The rightful owner still opens it, with its data.
  auto a = backend.Open("us-east-1");
  CHECK(a->LoadTables()->size() == 1);
}

TEMPLATE_TEST_CASE("a rolled-back transaction leaves no trace", "[storage]", SqliteBackend,
                   MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  const TableSpec spec = Spec("orders", "us-east-1");
  RequireOk(s->Begin());
  int64_t id = s->PutTable(spec, false).value();
  RequireOk(s->PutItem(id, "hk", "rk", {std::string("x"), Stamp{5, "us-east-1"}}));
  RequireOk(s->Commit());
  REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{5, "us-east-1"}, "a"), true, 5)
              .value() == 1);

  RequireOk(s->Begin());
  RequireOk(s->PutTable(Spec("other", "us-east-1"), false).status());
  RequireOk(s->PutItem(id, "hk", "rk", {std::nullopt, Stamp{9, "us-east-1"}}));
  RequireOk(s->PutItem(id, "hk2", "rk", {std::string("y"), Stamp{9, "us-east-1"}}));
  REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{9, "us-east-1"}, "b"), true, 9)
              .value() == 2);
  RequireOk(s->SetCursor("us-west-2", 42));
  CHECK(s->head_seq() == 2);
  RequireOk(s->PutItem(id, "hk4", "rk", {std::string("w"), Stamp{9, "us-east-1"}}));
  CHECK(s->CountItems(id).value() == 2);  // counted inside the transaction: hk2 and hk4
  s->Rollback();

  CHECK(s->head_seq() == 1);
  CHECK(s->CountItems(id).value() == 1);  // hk again, not a count kept from inside
  {
    // A savepoint undone drops a count taken inside it as well.
    RequireOk(s->Begin());
    RequireOk(s->Savepoint());
    RequireOk(s->PutItem(id, "hk3", "rk", {std::string("z"), Stamp{9, "us-east-1"}}));
    CHECK(s->CountItems(id).value() == 2);
    RequireOk(s->RollbackToSavepoint());
    CHECK(s->CountItems(id).value() == 1);
    s->Rollback();
  }
  CHECK(s->LoadTables()->size() == 1);
  auto item = s->GetItem(id, "hk", "rk").value();
  REQUIRE(item.has_value());
  CHECK(item->item == std::optional<std::string>("x"));
  CHECK(item->stamp == Stamp{5, "us-east-1"});
  CHECK_FALSE(s->GetItem(id, "hk2", "rk").value().has_value());
  CHECK(s->ReadChanges(0, 0)->size() == 1);
  CHECK(s->LoadCursors()->empty());
  CHECK(s->LastLocalTimestamp().value() == 5);

  // Rollback with no transaction open is harmless, and the next append reuses no sequence
  // that was committed.
  s->Rollback();
  CHECK(s->head_seq() == 1);
  CHECK(s->AppendChange(PutChange("orders", spec.created, Stamp{10, "us-east-1"}, "c"), true, 10)
            .value() == 2);
}

TEMPLATE_TEST_CASE("query and scan return live items in key order", "[storage]", SqliteBackend,
                   MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  int64_t id = s->PutTable(Spec("orders", "us-east-1"), false).value();
  for (const char* rk : {"c", "a", "d", "b"}) {
    RequireOk(s->PutItem(id, "h", rk, {std::string("item-") + rk, Stamp{1, "us-east-1"}}));
  }
  RequireOk(s->PutItem(id, "h", "bb", {std::nullopt, Stamp{1, "us-east-1"}}));  // tombstone
  RequireOk(s->PutItem(id, "g", "z", {std::string("item-gz"), Stamp{1, "us-east-1"}}));

  auto all = s->QueryItems(id, "h", {}, false, 0).value();
  CHECK(all == std::vector<std::string>{"item-a", "item-b", "item-c", "item-d"});
  Storage::RangeBounds b;
  b.lower = "b";
  b.upper = "d";
  b.upper_inclusive = false;
  CHECK(s->QueryItems(id, "h", b, true, 0).value() == std::vector<std::string>{"item-c", "item-b"});
  CHECK(s->QueryItems(id, "h", {}, false, 2).value().size() == 2);

  auto first = s->ScanItems(id, std::nullopt, 2).value();
  CHECK(first == std::vector<std::string>{"item-gz", "item-a"});
  auto rest = s->ScanItems(id, std::make_pair(std::string("h"), std::string("a")), 0).value();
  CHECK(rest == std::vector<std::string>{"item-b", "item-c", "item-d"});
  CHECK(s->DumpVersions(id).value().size() == 6);
  CHECK(s->CountItems(id).value() == 5);
}

TEST_CASE("writes committed while a background checkpointer runs survive reopening", "[storage]") {
  TempDir dir;
  const std::string path = dir.File("bg.db");
  {
    auto s = OpenOrDie(path, "us-east-1");
    RequireOk(s->StartBackgroundCheckpoints(path, absl::Milliseconds(1)));
    int64_t id = 0;
    {
      auto table = s->PutTable(Spec("orders", "us-east-1"), false);
      REQUIRE(table.ok());
      id = *table;
    }
    for (int batch = 0; batch < 50; ++batch) {
      RequireOk(s->Begin());
      for (int i = 0; i < 100; ++i) {
        std::string key = std::to_string(batch * 100 + i);
        Storage::ItemVersion v;
        v.item = EncodeItem(Item{{"id", AttributeValue::S(key)}, {"n", AttributeValue::N("1")}});
        v.stamp = Stamp{batch * 100 + i + 1, "us-east-1"};
        RequireOk(s->PutItem(id, key, "", v));
      }
      RequireOk(s->Commit());
    }
  }  // the destructor stops the checkpointer
  auto reopened = OpenOrDie(path, "us-east-1");
  auto tables = reopened->LoadTables();
  REQUIRE(tables.ok());
  REQUIRE(tables->size() == 1);
  auto count = reopened->CountItems(tables->front().id);
  REQUIRE(count.ok());
  CHECK(*count == 5000);
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

// Bytes of a file, 0 when absent.
int64_t FileBytes(const std::string& path) {
  std::error_code ec;
  auto n = std::filesystem::file_size(path, ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

TEST_CASE("the background checkpointer moves committed pages into the database file", "[storage]") {
  TempDir dir;
  const std::string path = dir.File("cp.db");
  auto s = OpenOrDie(path, "us-east-1");
  RequireOk(s->StartBackgroundCheckpoints(path, absl::Milliseconds(5)));
  int64_t id = 0;
  {
    auto table = s->PutTable(Spec("orders", "us-east-1"), false);
    REQUIRE(table.ok());
    id = *table;
  }
  const std::string payload(200, 'x');
  for (int batch = 0; batch < 40; ++batch) {
    RequireOk(s->Begin());
    for (int i = 0; i < 100; ++i) {
      std::string key = std::to_string(batch * 100 + i);
      Storage::ItemVersion v;
      v.item = EncodeItem(Item{{"id", AttributeValue::S(key)}, {"p", AttributeValue::S(payload)}});
      v.stamp = Stamp{batch * 100 + i + 1, "us-east-1"};
      RequireOk(s->PutItem(id, key, "", v));
    }
    RequireOk(s->Commit());
  }
  // Wait (bounded) for a checkpoint to copy the ~1 MB of items into the database file.
  for (int i = 0; i < 400 && FileBytes(path) < 500'000; ++i) absl::SleepFor(absl::Milliseconds(5));
  CHECK(FileBytes(path) >= 500'000);
}

TEMPLATE_TEST_CASE("a database keeps its change-log id; a new database gets another one",
                   "[storage]", SqliteBackend, MemoryBackend) {
  TestType backend;
  int64_t id = 0;
  {
    auto s = backend.Open();
    id = s->log_id();
    CHECK(id != 0);
    RequireOk(s->Begin());
    RequireOk(s->SetCursorLogId("us-west-2", 42));
    RequireOk(s->SetPeerAck("us-west-2", 7));
    RequireOk(s->Commit());
  }
  auto reopened = backend.Open();
  CHECK(reopened->log_id() == id);
  auto ids = reopened->LoadCursorLogIds();
  REQUIRE(ids.ok());
  CHECK(*ids == std::map<std::string, int64_t>{{"us-west-2", 42}});
  CHECK(*reopened->LoadPeerAcks() == std::map<std::string, int64_t>{{"us-west-2", 7}});
  // The same region's database created again (its disk was wiped): a new log.
  TestType wiped;
  auto fresh = wiped.Open();
  CHECK(fresh->log_id() != id);
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

// An item of the test table: hash key id (S), range key n (N), and an optional attribute g (S)
// that the index "by_g" is keyed on (range key n).
std::string EncodedItem(const std::string& id, int n, const std::optional<std::string>& g,
                        const std::string& v = "") {
  Item item{{"id", AttributeValue::S(id)}, {"n", AttributeValue::N(std::to_string(n))}};
  if (g) item["g"] = AttributeValue::S(*g);
  if (!v.empty()) item["v"] = AttributeValue::S(v);
  return EncodeItem(item);
}
std::string Hk(const std::string& id) { return EncodeHashKey(AttributeValue::S(id)); }
std::string Rk(int n) { return EncodeRangeKey(AttributeValue::N(std::to_string(n))); }
std::string Ghk(const std::string& g) { return EncodeHashKey(AttributeValue::S(g)); }

const Storage::IndexDef kByG{"by_g", KeyDef{"g", ValueType::kS}, KeyDef{"n", ValueType::kN}};

// The ids of the items an index query returned, in order.
std::vector<std::string> Ids(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& bytes : items) {
    auto item = DecodeItem(bytes);
    REQUIRE(item.ok());
    out.push_back(item->at("id").scalar());
  }
  return out;
}

TEMPLATE_TEST_CASE("index entries follow every item write", "[storage]", SqliteBackend,
                   MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  int64_t id = s->PutTable(Spec("orders", "us-east-1"), false).value();
  s->SetIndexes(id, {kByG});
  const Stamp st{1, "us-east-1"};
  RequireOk(s->PutItem(id, Hk("a"), Rk(1), {EncodedItem("a", 1, "red"), st}));
  RequireOk(s->PutItem(id, Hk("b"), Rk(2), {EncodedItem("b", 2, "red"), st}));
  RequireOk(s->PutItem(id, Hk("c"), Rk(3), {EncodedItem("c", 3, "red"), st}));
  RequireOk(s->PutItem(id, Hk("d"), Rk(1), {EncodedItem("d", 1, std::nullopt), st}));  // no g
  RequireOk(s->PutItem(id, Hk("e"), Rk(2), {EncodedItem("e", 2, "blue"), st}));

  auto query = [&](const std::string& g, const Storage::RangeBounds& b, bool backward, int limit,
                   const std::optional<Storage::IndexPosition>& after = std::nullopt) {
    auto rows = s->QueryIndex(id, "by_g", Ghk(g), b, backward, limit, after);
    REQUIRE(rows.ok());
    return Ids(*rows);
  };
  using V = std::vector<std::string>;
  CHECK(query("red", {}, false, 0) == V{"a", "b", "c"});
  CHECK(query("red", {}, true, 0) == V{"c", "b", "a"});
  CHECK(query("red", {}, false, 2) == V{"a", "b"});
  CHECK(query("blue", {}, false, 0) == V{"e"});
  Storage::RangeBounds b;
  b.lower = Rk(1);
  b.lower_inclusive = false;
  b.upper = Rk(3);
  CHECK(query("red", b, false, 0) == V{"b", "c"});
  b.upper_inclusive = false;
  CHECK(query("red", b, true, 0) == V{"b"});
  Storage::RangeBounds empty;
  empty.lower = Rk(3);
  empty.upper = Rk(1);
  CHECK(query("red", empty, false, 0).empty());
  // Pages continue strictly after a position, both ways.
  CHECK(query("red", {}, false, 0, Storage::IndexPosition{Rk(1), Hk("a"), Rk(1)}) == V{"b", "c"});
  CHECK(query("red", {}, true, 0, Storage::IndexPosition{Rk(3), Hk("c"), Rk(3)}) == V{"b", "a"});

  // An update moves the entry; a delete (tombstone) removes it.
  RequireOk(s->PutItem(id, Hk("a"), Rk(1), {EncodedItem("a", 1, "blue"), Stamp{2, "x"}}));
  RequireOk(s->PutItem(id, Hk("b"), Rk(2), {std::nullopt, Stamp{2, "x"}}));
  CHECK(query("red", {}, false, 0) == V{"c"});
  CHECK(query("blue", {}, false, 0) == V{"a", "e"});

  // Backfill of a new index over existing items, in pages; then its mark; then dropped.
  const Storage::IndexDef by_v{"by_v", KeyDef{"g", ValueType::kS}, std::nullopt};
  CHECK_FALSE(s->IsBackfilled(id, "by_v").value());
  auto next = s->BackfillIndex(id, by_v, std::nullopt, 3);
  REQUIRE(next.ok());
  REQUIRE(next->has_value());
  CHECK(**next == std::make_pair(Hk("c"), Rk(3)));  // a, b (a tombstone) and c
  next = s->BackfillIndex(id, by_v, *next, 3);
  REQUIRE(next.ok());
  CHECK_FALSE(next->has_value());
  RequireOk(s->MarkBackfilled(id, "by_v"));
  CHECK(s->IsBackfilled(id, "by_v").value());
  auto by_v_blue = s->QueryIndex(id, "by_v", Ghk("blue"), {}, false, 0);
  REQUIRE(by_v_blue.ok());
  CHECK(Ids(*by_v_blue) == V{"a", "e"});
  RequireOk(s->DropIndex(id, "by_v"));
  CHECK(s->QueryIndex(id, "by_v", Ghk("blue"), {}, false, 0)->empty());
  CHECK_FALSE(s->IsBackfilled(id, "by_v").value());
  CHECK(query("blue", {}, false, 0) == V{"a", "e"});  // other indexes untouched

  // Entries are durable; deleting all items removes them and the marks.
  RequireOk(s->MarkBackfilled(id, "by_g"));
  s.reset();
  s = backend.Open();
  s->SetIndexes(id, {kByG});
  CHECK(query("blue", {}, false, 0) == V{"a", "e"});
  RequireOk(s->DeleteAllItems(id));
  CHECK(query("blue", {}, false, 0).empty());
  CHECK_FALSE(s->IsBackfilled(id, "by_g").value());
  CHECK(s->CountItems(id).value() == 0);
  CHECK(s->CountVersions(id).value() == 0);
}

TEMPLATE_TEST_CASE("snapshot rows come in key order and load with LWW", "[storage]", SqliteBackend,
                   MemoryBackend) {
  TestType source_backend, target_backend;
  auto source = source_backend.Open();
  int64_t id = source->PutTable(Spec("orders", "us-east-1"), false).value();
  for (int i = 0; i < 5; ++i) {
    RequireOk(source->PutItem(
        id, Hk("k" + std::to_string(i)), Rk(i),
        {EncodedItem("k" + std::to_string(i), i, std::nullopt, "x"), Stamp{10 + i, "us-east-1"}}));
  }
  RequireOk(source->PutItem(id, Hk("k5"), Rk(5), {std::nullopt, Stamp{20, "us-east-1"}}));
  CHECK(source->CountVersions(id).value() == 6);
  CHECK(source->CountItems(id).value() == 5);

  auto first = source->ScanVersions(id, std::nullopt, 4, int64_t{1} << 30).value();
  REQUIRE(first.size() == 4);
  auto rest =
      source
          ->ScanVersions(id, std::make_pair(first.back().hk, first.back().rk), 0, int64_t{1} << 30)
          .value();
  REQUIRE(rest.size() == 2);
  CHECK(rest.back().hk == Hk("k5"));
  CHECK_FALSE(rest.back().item.has_value());
  CHECK(source->ScanVersions(id, std::nullopt, 0, 1).value().size() == 1);  // byte budget

  auto target = target_backend.Open("us-west-2");
  int64_t tid = target->PutTable(Spec("orders", "us-east-1"), false).value();
  // The target already holds a newer k0 and an older k1.
  RequireOk(target->PutItem(tid, Hk("k0"), Rk(0), {std::string("newer"), Stamp{99, "a"}}));
  RequireOk(target->PutItem(tid, Hk("k1"), Rk(1), {std::string("older"), Stamp{1, "a"}}));
  first.insert(first.end(), rest.begin(), rest.end());
  RequireOk(target->PutVersionsIfNewer(tid, first));
  CHECK(target->GetItem(tid, Hk("k0"), Rk(0))->value().item == std::optional<std::string>("newer"));
  CHECK(target->GetItem(tid, Hk("k1"), Rk(1))->value().stamp == Stamp{11, "us-east-1"});
  CHECK(target->CountVersions(tid).value() == 6);
  CHECK(target->CountItems(tid).value() == 5);
  CHECK(target->head_seq() == 0);  // no change-log rows
  // Equal stamps are not newer: loading again changes nothing.
  RequireOk(target->PutVersionsIfNewer(tid, first));
  CHECK(target->DumpVersions(tid).value().size() == 6);
}

TEMPLATE_TEST_CASE("bootstraps in progress survive a reopen and can be deleted", "[storage]",
                   SqliteBackend, MemoryBackend) {
  TestType backend;
  BootstrapState b;
  b.table = "orders";
  b.table_created = Stamp{1000, "us-east-1"};
  b.source = "us-east-1";
  b.cut = std::map<std::string, int64_t>{{"us-east-1", 12}, {"eu-west-1", 3}};
  b.after = std::make_pair(std::string("h\0k", 3), std::string("\xff", 1));
  b.loaded_rows = 40;
  b.total_rows = 100;
  {
    auto s = backend.Open("us-west-2");
    RequireOk(s->PutBootstrap(b));
    b.loaded_rows = 50;
    RequireOk(s->PutBootstrap(b));  // replaces
  }
  auto s = backend.Open("us-west-2");
  auto all = s->LoadBootstraps();
  REQUIRE(all.ok());
  REQUIRE(all->size() == 1);
  const BootstrapState& got = all->at("orders");
  CHECK(got.table_created == b.table_created);
  CHECK(got.source == "us-east-1");
  CHECK(got.cut == b.cut);
  CHECK(got.after == b.after);
  CHECK(got.loaded_rows == 50);
  CHECK(got.total_rows == 100);
  CHECK_FALSE(got.loaded);
  RequireOk(s->DeleteBootstrap("orders"));
  CHECK(s->LoadBootstraps()->empty());
}

TEMPLATE_TEST_CASE("the local change log: filtered reads, headers, TTL marks and counts",
                   "[storage]", SqliteBackend, MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  const TableSpec orders = Spec("orders", "us-east-1");
  const TableSpec other = Spec("other", "us-east-1");
  int64_t first_id = s->PutTable(orders, false).value();
  int64_t second_id = s->PutTable(other, false).value();
  CHECK(second_id == first_id + 1);
  CHECK(s->PutTable(orders, true).value() == first_id);  // stable per name

  Change create;
  create.kind = ChangeKind::kCreateTable;
  create.table = "other";
  create.table_created = other.created;
  create.stamp = Stamp{5, "us-east-1"};
  create.spec = other;
  REQUIRE(s->AppendChange(create, true, 5).value() == 1);
  Change put = PutChange("orders", orders.created, Stamp{6, "us-east-1"}, "o1");
  put.old_image = Item{{"id", AttributeValue::S("o1")}, {"n", AttributeValue::N("1")}};
  put.seq = 77;  // ignored
  REQUIRE(s->AppendChange(put, true, 6).value() == 2);
  Change ttl = PutChange("orders", orders.created, Stamp{7, "us-east-1"}, "o2");
  ttl.kind = ChangeKind::kDelete;
  ttl.new_image.reset();
  ttl.service_delete = true;
  REQUIRE(s->AppendChange(ttl, true, 7).value() == 3);
  Change remote = PutChange("orders", orders.created, Stamp{8, "us-west-2"}, "o3");
  remote.service_delete = true;  // not kept: TTL marks are for local deletes only
  REQUIRE(s->AppendChange(remote, false, 8).value() == 4);
  Change other_put = PutChange("other", other.created, Stamp{9, "us-east-1"}, "p1");
  REQUIRE(s->AppendChange(other_put, true, 9).value() == 5);

  auto local = s->ReadLocalChanges(0, 0).value();
  REQUIRE(local.size() == 4);
  CHECK(local[0].spec.has_value());
  CHECK(local[0].spec->name == "other");
  CHECK(local[1].seq == 2);
  CHECK(local[1].old_image.has_value());
  CHECK(local[2].service_delete);
  CHECK(local[2].kind == ChangeKind::kDelete);
  CHECK(s->ReadLocalChanges(2, 2).value().size() == 2);
  auto all = s->ReadChanges(3, 0).value();
  REQUIRE(all.size() == 2);
  CHECK(all[0].stamp.region == "us-west-2");
  CHECK_FALSE(all[0].service_delete);

  // Filtered: the filter sees headers; kept rows come without old_image, others as headers.
  std::vector<int64_t> seen;
  auto filtered = s->ReadLocalChanges(0, 3, [&](const Change& header) {
    seen.push_back(header.seq);
    CHECK(header.key.empty());
    return header.table == "orders";
  });
  REQUIRE(filtered.ok());
  CHECK(seen == std::vector<int64_t>{1, 2, 3});
  REQUIRE(filtered->size() == 3);
  CHECK((*filtered)[0].spec.has_value());  // a header keeps its spec
  CHECK((*filtered)[1].key.at("id") == AttributeValue::S("o1"));
  CHECK((*filtered)[1].new_image.has_value());
  CHECK_FALSE((*filtered)[1].old_image.has_value());
  CHECK((*filtered)[2].service_delete);

  CHECK(s->CountLocalChanges(0, {"orders"}).value() == 2);
  CHECK(s->CountLocalChanges(2, {"orders", "other"}).value() == 2);
  CHECK(s->CountLocalChanges(0, {"missing"}).value() == 0);
  CHECK(s->LastLocalTimestamp().value() == 9);
}

TEMPLATE_TEST_CASE("a savepoint rolled back restores head_seq, items and index entries",
                   "[storage]", SqliteBackend, MemoryBackend) {
  TestType backend;
  auto s = backend.Open();
  const TableSpec spec = Spec("orders", "us-east-1");
  int64_t id = s->PutTable(spec, false).value();
  s->SetIndexes(id, {kByG});
  RequireOk(s->PutItem(id, Hk("a"), Rk(1), {EncodedItem("a", 1, "red"), Stamp{1, "x"}}));

  RequireOk(s->Begin());
  // A first write, kept.
  RequireOk(s->Savepoint());
  RequireOk(s->PutItem(id, Hk("b"), Rk(1), {EncodedItem("b", 1, "red"), Stamp{2, "x"}}));
  REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{2, "x"}, "b"), true, 2).value() ==
          1);
  RequireOk(s->ReleaseSavepoint());
  // A second, undone: it rewrote a, deleted b, added c, logged and moved a cursor.
  RequireOk(s->Savepoint());
  RequireOk(s->PutItem(id, Hk("a"), Rk(1), {EncodedItem("a", 1, "blue"), Stamp{3, "x"}}));
  RequireOk(s->PutItem(id, Hk("b"), Rk(1), {std::nullopt, Stamp{3, "x"}}));
  RequireOk(s->PutItem(id, Hk("c"), Rk(1), {EncodedItem("c", 1, "red"), Stamp{3, "x"}}));
  REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{3, "x"}, "c"), true, 3).value() ==
          2);
  RequireOk(s->SetCursor("us-west-2", 5));
  BootstrapState bootstrap;
  bootstrap.table = "orders";
  bootstrap.source = "us-west-2";
  RequireOk(s->PutBootstrap(bootstrap));
  CHECK(s->head_seq() == 2);
  RequireOk(s->RollbackToSavepoint());
  CHECK(s->head_seq() == 1);
  RequireOk(s->Commit());

  CHECK(s->head_seq() == 1);
  CHECK(s->ReadChanges(0, 0)->size() == 1);
  CHECK(s->GetItem(id, Hk("a"), Rk(1))->value().stamp == Stamp{1, "x"});
  CHECK(s->GetItem(id, Hk("b"), Rk(1))->value().item.has_value());
  CHECK_FALSE(s->GetItem(id, Hk("c"), Rk(1))->has_value());
  CHECK(Ids(s->QueryIndex(id, "by_g", Ghk("red"), {}, false, 0).value()) ==
        std::vector<std::string>{"a", "b"});
  CHECK(s->QueryIndex(id, "by_g", Ghk("blue"), {}, false, 0)->empty());
  CHECK(s->CountItems(id).value() == 2);
  CHECK(s->LoadCursors()->empty());
  CHECK(s->LoadBootstraps()->empty());
  // The next sequence is the one the undone write had used.
  CHECK(s->AppendChange(PutChange("orders", spec.created, Stamp{4, "x"}, "d"), true, 4).value() ==
        2);
}

TEMPLATE_TEST_CASE("closing with a transaction open keeps only what was committed", "[storage]",
                   SqliteBackend, MemoryBackend) {
  TestType backend;
  const TableSpec spec = Spec("orders", "us-east-1");
  int64_t id = 0;
  {
    auto s = backend.Open();
    RequireOk(s->Begin());
    id = s->PutTable(spec, false).value();
    RequireOk(s->PutItem(id, Hk("a"), Rk(1), {EncodedItem("a", 1, "red"), Stamp{1, "x"}}));
    REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{1, "x"}, "a"), true, 1).ok());
    RequireOk(s->SetCursor("us-west-2", 3));
    RequireOk(s->Commit());
    RequireOk(s->Begin());  // a crash in the middle of this one
    RequireOk(s->PutItem(id, Hk("a"), Rk(1), {std::nullopt, Stamp{2, "x"}}));
    RequireOk(s->PutItem(id, Hk("b"), Rk(1), {EncodedItem("b", 1, "red"), Stamp{2, "x"}}));
    REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{2, "x"}, "b"), true, 2).ok());
    RequireOk(s->SetCursor("us-west-2", 9));
    RequireOk(s->DeleteAllItems(id));
    RequireOk(s->PutTable(Spec("other", "us-east-1"), false).status());
  }
  auto s = backend.Open();
  CHECK(s->head_seq() == 1);
  CHECK(s->LoadTables()->size() == 1);
  CHECK(s->GetItem(id, Hk("a"), Rk(1))->value().item.has_value());
  CHECK_FALSE(s->GetItem(id, Hk("b"), Rk(1))->has_value());
  CHECK(s->CountItems(id).value() == 1);
  CHECK(*s->LoadCursors() == std::map<std::string, int64_t>{{"us-west-2", 3}});
  CHECK(s->LastLocalTimestamp().value() == 1);
}

TEST_CASE("a memory disk is open by one MemoryStorage at a time", "[storage]") {
  auto disk = std::make_shared<MemoryDisk>();
  auto first = MemoryStorage::Open(disk, "us-east-1");
  REQUIRE(first.ok());
  auto second = MemoryStorage::Open(disk, "us-east-1");
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
  first->reset();
  CHECK(MemoryStorage::Open(disk, "us-east-1").ok());
  CHECK(MemoryStorage::Open(nullptr, "us-east-1").status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("memory storage refuses transaction calls out of order", "[storage]") {
  auto s = MemoryStorage::Open(std::make_shared<MemoryDisk>(), "us-east-1").value();
  CHECK(s->Commit().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s->Savepoint().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s->ReleaseSavepoint().code() == absl::StatusCode::kFailedPrecondition);
  RequireOk(s->Begin());
  CHECK(s->Begin().code() == absl::StatusCode::kFailedPrecondition);
  RequireOk(s->Savepoint());
  CHECK(s->Savepoint().code() == absl::StatusCode::kFailedPrecondition);
  RequireOk(s->ReleaseSavepoint());
  CHECK(s->RollbackToSavepoint().code() == absl::StatusCode::kFailedPrecondition);
  RequireOk(s->Commit());
}

// Everything a reader can see of one table, as text, for comparing two backends.
std::string Observe(Storage& s, int64_t id) {
  std::ostringstream out;
  auto hex = [](const std::string& bytes) {
    std::string h;
    for (unsigned char c : bytes) h += "0123456789abcdef"[c >> 4], h += "0123456789abcdef"[c & 15];
    return h;
  };
  out << "head " << s.head_seq() << " items " << s.CountItems(id).value() << " versions "
      << s.CountVersions(id).value() << " last " << s.LastLocalTimestamp().value() << "\n";
  const auto versions = s.DumpVersions(id).value();
  for (const auto& r : versions) {
    out << hex(r.hk) << "/" << hex(r.rk) << " " << hex(r.version.item.value_or("-")) << " "
        << r.version.stamp.ts_us << r.version.stamp.region << "\n";
  }
  for (const char* g : {"red", "blue"}) {
    for (bool backward : {false, true}) {
      out << g << backward << ":";
      const auto items = s.QueryIndex(id, "by_g", Ghk(g), {}, backward, 0).value();
      for (const auto& item : items) {
        out << " " << hex(item);
      }
      out << "\n";
    }
  }
  const auto index_stats = s.IndexStatsOf(id).value();
  for (const auto& [index, stats] : index_stats) {
    out << "index " << index << " " << stats.items << " " << stats.bytes << "\n";
  }
  const auto changes = s.ReadChanges(0, 0).value();
  for (const auto& c : changes) {
    out << c.seq << " " << static_cast<int>(c.kind) << " " << c.table << " " << c.stamp.ts_us
        << c.stamp.region << " " << c.service_delete << " " << hex(EncodeItem(c.key)) << " "
        << (c.new_image ? hex(EncodeItem(*c.new_image)) : "-") << "\n";
  }
  const auto local = s.ReadLocalChanges(0, 0).value();
  for (const auto& c : local) out << c.seq << ",";
  out << "\ncount " << s.CountLocalChanges(0, {"orders"}).value() << "\n";
  const auto cursors = s.LoadCursors().value();
  for (const auto& [k, v] : cursors) out << "cursor " << k << "=" << v << "\n";
  const auto acks = s.LoadPeerAcks().value();
  for (const auto& [k, v] : acks) out << "ack " << k << "=" << v << "\n";
  out << "backfilled " << s.IsBackfilled(id, "by_g").value() << "\n";
  return out.str();
}

TEST_CASE("both backends agree on a random run of writes, transactions and savepoints",
          "[storage]") {
  SqliteBackend sqlite_backend;
  MemoryBackend memory_backend;
  std::unique_ptr<Storage> stores[2] = {sqlite_backend.Open(), memory_backend.Open()};
  const TableSpec spec = Spec("orders", "us-east-1");
  int64_t id = 0;
  for (auto& s : stores) id = s->PutTable(spec, false).value();
  std::mt19937 rng(20261130);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  bool in_txn = false, in_savepoint = false, indexed = false;
  for (int step = 0; step < 3000; ++step) {
    // Every draw first: both stores get the same operation.
    const int op = pick(21);
    const std::string key = "k" + std::to_string(pick(12));
    const int n = pick(3);
    const Stamp stamp{step, pick(2) ? "us-east-1" : "us-west-2"};
    std::optional<std::string> g;
    if (pick(3)) g = pick(2) ? "red" : "blue";
    const bool tombstone = pick(4) == 0;
    const int64_t snapshot_ts = step - 50 + pick(100);
    const bool rare = pick(8) == 0;
    for (auto& s : stores) {
      INFO("step " << step << " op " << op);
      if (op < 8) {
        auto item = tombstone ? std::nullopt : std::optional<std::string>(EncodedItem(key, n, g));
        RequireOk(s->PutItem(id, Hk(key), Rk(n), {item, stamp}));
      } else if (op < 10) {
        Change c = PutChange("orders", spec.created, stamp, key);
        c.service_delete = n == 0;
        REQUIRE(s->AppendChange(c, stamp.region == "us-east-1", step).ok());
      } else if (op == 10) {
        RequireOk(s->SetCursor(stamp.region, step));
      } else if (op == 11) {
        RequireOk(s->SetPeerAck(stamp.region, step));
      } else if (op == 12) {
        std::vector<SnapshotRow> rows{
            {Hk(key), Rk(n), EncodedItem(key, n, g, "snap"), Stamp{snapshot_ts, "us-west-2"}}};
        RequireOk(s->PutVersionsIfNewer(id, rows));
      } else if (op == 13 && rare) {
        RequireOk(s->DeleteAllItems(id));
      } else if (op == 14) {
        s->SetIndexes(
            id, indexed ? std::vector<Storage::IndexDef>{} : std::vector<Storage::IndexDef>{kByG});
      } else if (op == 15) {
        auto next = s->BackfillIndex(id, kByG, std::make_pair(Hk(key), Rk(n)), 1 + n);
        REQUIRE(next.ok());
      } else if (op == 16 && rare) {
        RequireOk(s->DropIndex(id, "by_g"));
      } else if (op == 17) {
        RequireOk(s->MarkBackfilled(id, "by_g"));
      } else if (op == 18) {
        if (!in_txn) {
          RequireOk(s->Begin());
        } else if (n == 0) {
          RequireOk(s->Commit());
        } else {
          s->Rollback();
        }
      } else if (op == 19 && in_txn) {
        if (!in_savepoint) {
          RequireOk(s->Savepoint());
        } else if (n == 0) {
          RequireOk(s->ReleaseSavepoint());
        } else {
          RequireOk(s->RollbackToSavepoint());
        }
      }
    }
    if (op == 20 && rare) {  // a crash: whatever is open rolls back
      stores[0].reset();
      stores[1].reset();
      stores[0] = sqlite_backend.Open();
      stores[1] = memory_backend.Open();
      for (auto& s : stores) {
        if (indexed) s->SetIndexes(id, {kByG});
      }
      in_txn = in_savepoint = false;
    }
    // The same draws for both stores above; the shared state moves once.
    if (op == 14) indexed = !indexed;
    if (op == 18) {
      in_txn = !in_txn;
      in_savepoint = false;
    } else if (op == 19 && in_txn) {
      in_savepoint = !in_savepoint;
    }
    if (step % 50 == 0 || step == 2999) {
      INFO("step " << step);
      REQUIRE(Observe(*stores[0], id) == Observe(*stores[1], id));
    }
  }
}

}  // namespace
}  // namespace gtsim
