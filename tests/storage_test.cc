// Tests of region/storage.h: a region's durable state in SQLite, what survives a reopen, and
// which files it refuses to touch.
#include "region/storage.h"

#include <sqlite3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

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
  c.new_image = Item{{"id", AttributeValue::S(id)}, {"n", AttributeValue::N("1")},
                     {"v", AttributeValue::S("value of " + id)}};
  return c;
}

TEST_CASE("an in-memory database opens empty and is private", "[storage]") {
  auto a = OpenOrDie(":memory:", "us-east-1");
  auto b = OpenOrDie(":memory:", "us-east-1");
  CHECK(a->head_seq() == 0);
  auto tables = a->LoadTables();
  REQUIRE(tables.ok());
  CHECK(tables->empty());
  auto cursors = a->LoadCursors();
  REQUIRE(cursors.ok());
  CHECK(cursors->empty());

  RequireOk(a->PutTable(Spec("orders", "us-east-1"), false).status());
  CHECK(a->LoadTables()->size() == 1);
  CHECK(b->LoadTables()->empty());
}

TEST_CASE("a database file reopened keeps tables, items, cursors and the change log",
          "[storage]") {
  TempDir dir;
  const std::string path = dir.File("region.db");
  const TableSpec spec = Spec("orders", "us-east-1");
  int64_t table_id = 0;
  std::string live_item;
  {
    auto s = OpenOrDie(path, "us-east-1");
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
  auto s = OpenOrDie(path, "us-east-1");
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
  REQUIRE(s->AppendChange(PutChange("orders", spec.created, Stamp{3000, "us-east-1"}, "o3"),
                          true, 3001)
              .value() == 3);
}

TEST_CASE("a file of random garbage is refused as not a gtsim database, untouched",
          "[storage]") {
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

TEST_CASE("a SQLite database of another application is refused and left as it was",
          "[storage]") {
  TempDir dir;
  const std::string path = dir.File("other.db");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT);"
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

TEST_CASE("a database created for one region is refused by another", "[storage]") {
  TempDir dir;
  const std::string path = dir.File("a.db");
  {
    auto a = OpenOrDie(path, "us-east-1");
    RequireOk(a->PutTable(Spec("orders", "us-east-1"), false).status());
  }
  auto b = Storage::Open(path, "us-west-2");
  REQUIRE_FALSE(b.ok());
  INFO(b.status().ToString());
  CHECK(b.status().code() == absl::StatusCode::kFailedPrecondition);
  std::string msg(b.status().message());
  CHECK(msg.find("us-east-1") != std::string::npos);
  CHECK(msg.find("us-west-2") != std::string::npos);
  // The rightful owner still opens it, with its data.
  auto a = OpenOrDie(path, "us-east-1");
  CHECK(a->LoadTables()->size() == 1);
}

TEST_CASE("a rolled-back transaction leaves no trace", "[storage]") {
  auto s = OpenOrDie(":memory:", "us-east-1");
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
  s->Rollback();

  CHECK(s->head_seq() == 1);
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

TEST_CASE("query and scan return live items in key order", "[storage]") {
  auto s = OpenOrDie(":memory:", "us-east-1");
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
  CHECK(s->QueryItems(id, "h", b, true, 0).value() ==
        std::vector<std::string>{"item-c", "item-b"});
  CHECK(s->QueryItems(id, "h", {}, false, 2).value().size() == 2);

  auto first = s->ScanItems(id, std::nullopt, 2).value();
  CHECK(first == std::vector<std::string>{"item-gz", "item-a"});
  auto rest = s->ScanItems(id, std::make_pair(std::string("h"), std::string("a")), 0).value();
  CHECK(rest == std::vector<std::string>{"item-b", "item-c", "item-d"});
  CHECK(s->DumpVersions(id).value().size() == 6);
  CHECK(s->CountItems(id).value() == 5);
}

TEST_CASE("writes committed while a background checkpointer runs survive reopening",
          "[storage]") {
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

TEST_CASE("the background checkpointer moves committed pages into the database file",
          "[storage]") {
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

TEST_CASE("a database keeps its change-log id; a new database gets another one", "[storage]") {
  TempDir dir;
  const std::string path = dir.File("region.db");
  int64_t id = 0;
  {
    auto s = OpenOrDie(path, "us-east-1");
    id = s->log_id();
    CHECK(id != 0);
    RequireOk(s->Begin());
    RequireOk(s->SetCursorLogId("us-west-2", 42));
    RequireOk(s->Commit());
  }
  auto reopened = OpenOrDie(path, "us-east-1");
  CHECK(reopened->log_id() == id);
  auto ids = reopened->LoadCursorLogIds();
  REQUIRE(ids.ok());
  CHECK(*ids == std::map<std::string, int64_t>{{"us-west-2", 42}});
  // The same region's database created again (its disk was wiped): a new log.
  auto fresh = OpenOrDie(dir.File("wiped.db"), "us-east-1");
  CHECK(fresh->log_id() != id);
}

}  // namespace
}  // namespace gtsim
