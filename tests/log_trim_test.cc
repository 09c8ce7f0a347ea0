// Tests of change-log trimming (issue 19, item 7: disk grew without bound): Storage::
// TrimChangeLog deletes what every peer has acknowledged and the retention no longer needs,
// keeps what a resubscribing peer is checked against, and remembers how far it went.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "storage/sqlite_storage.h"
#include "storage/storage.h"

namespace gtsim {
namespace {

namespace fs = std::filesystem;

struct TempDb {
  TempDb() {
    std::string templ = (fs::temp_directory_path() / "gtsim_log_trim_test.XXXXXX").string();
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    dir = templ;
  }
  ~TempDb() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::unique_ptr<Storage> Open() {
    auto s = Storage::Open(dir + "/region.db", "us-east-1");
    INFO(s.status().ToString());
    REQUIRE(s.ok());
    return *std::move(s);
  }
  std::string dir;
};

Change Put(const std::string& origin, int64_t ts, const std::string& id) {
  Change c;
  c.kind = ChangeKind::kPut;
  c.table = "t";
  c.table_created = Stamp{1, "us-east-1"};
  c.stamp = Stamp{ts, origin};
  c.commit_true_us = ts;
  c.key = Item{{"id", AttributeValue::S(id)}};
  c.new_image =
      Item{{"id", AttributeValue::S(id)}, {"v", AttributeValue::S(std::string(200, 'x'))}};
  return c;
}

std::vector<int64_t> Seqs(Storage& s) {
  std::vector<int64_t> out;
  auto changes = s.ReadChanges(0, 0);
  REQUIRE(changes.ok());
  for (const auto& c : *changes) out.push_back(c.seq);
  return out;
}

TEST_CASE("trimming deletes acknowledged old rows and keeps what is still needed", "[trim]") {
  TempDb db;
  auto s = db.Open();
  // seq 1-4 local, 5-8 replicated from us-west-2, 9-10 local; committed at times 10..100.
  for (int i = 1; i <= 10; ++i) {
    bool local = i <= 4 || i >= 9;
    REQUIRE(s->AppendChange(Put(local ? "us-east-1" : "us-west-2", i * 10, "k" + std::to_string(i)),
                            local, i * 10)
                .ok());
  }
  CHECK(s->trimmed_through() == 0);

  SECTION("rows committed after the cutoff stay, even when acknowledged") {
    REQUIRE(s->Begin().ok());
    CHECK(s->TrimChangeLog(/*below_seq=*/11, /*before_true_us=*/35, 100).value() == 3);
    REQUIRE(s->Commit().ok());
    CHECK(Seqs(*s) == std::vector<int64_t>{4, 5, 6, 7, 8, 9, 10});
    CHECK(s->trimmed_through() == 3);
  }
  SECTION("rows not acknowledged by every peer stay; the newest local row below them stays") {
    REQUIRE(s->Begin().ok());
    // Everyone has applied through 7; all rows are older than the cutoff.
    CHECK(s->TrimChangeLog(8, 1000, 100).value() == 6);
    REQUIRE(s->Commit().ok());
    // 4 is the newest local row before 8: a peer resubscribing at 7 is checked against it.
    CHECK(Seqs(*s) == std::vector<int64_t>{4, 8, 9, 10});
    CHECK(s->trimmed_through() == 7);
    CHECK(s->LocalTimestampThrough(7).value() == 40);
  }
  SECTION("the head row is never deleted, and the position survives a reopen") {
    REQUIRE(s->Begin().ok());
    CHECK(s->TrimChangeLog(1000, 1000, 100).value() == 8);
    REQUIRE(s->Commit().ok());
    CHECK(Seqs(*s) == std::vector<int64_t>{9, 10});  // the head and the newest local row before it
    s.reset();
    s = db.Open();
    CHECK(s->head_seq() == 10);  // no position is ever reused
    CHECK(s->trimmed_through() == 9);
    auto use = s->disk_use().value();
    CHECK(use.log_positions == 1);  // positions after the trimmed ones
    CHECK(use.database_bytes > 0);
    // The next change goes on at 11.
    CHECK(s->AppendChange(Put("us-east-1", 200, "k11"), true, 200).value() == 11);
  }
  SECTION("at most `limit` rows per call, oldest first") {
    REQUIRE(s->Begin().ok());
    CHECK(s->TrimChangeLog(11, 1000, 2).value() == 2);
    REQUIRE(s->Commit().ok());
    CHECK(s->trimmed_through() == 2);
  }
  SECTION("a rolled-back trim leaves the log and the position as they were") {
    REQUIRE(s->Begin().ok());
    CHECK(s->TrimChangeLog(11, 1000, 100).value() > 0);
    s->Rollback();
    CHECK(Seqs(*s).size() == 10);
    CHECK(s->trimmed_through() == 0);
  }
  SECTION("a renewed log id is re-read from what remains") {
    REQUIRE(s->Begin().ok());
    REQUIRE(s->TrimChangeLog(11, 1000, 100).ok());
    REQUIRE(s->Commit().ok());
    REQUIRE(s->RenewLogId().ok());
    CHECK(s->trimmed_through() == 0);
  }
}

}  // namespace
}  // namespace gtsim
