// Tests of what a region does when its disk lets it down (issue 19, item 2): a lost or emptied
// database is refused at start unless the region rejoins (storage/data_dir.h), a damaged file is
// found at start by Storage::CheckIntegrity, and corruption met while running stops writes
// (Storage::health) instead of writing on into the damaged file.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/key_codec.h"
#include "storage/data_dir.h"
#include "storage/sqlite_storage.h"
#include "storage/storage.h"

namespace gtsim {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "gtsim_durability_test.XXXXXX").string();
    REQUIRE(mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

void RequireOk(const absl::Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

TableSpec Spec() {
  TableSpec spec;
  spec.name = "t";
  spec.hash_key = KeyDef{"id", ValueType::kS};
  spec.replicas = {"us-east-1"};
  spec.created = Stamp{1000, "us-east-1"};
  return spec;
}

std::string Hk(int i) { return EncodeHashKey(AttributeValue::S("k" + std::to_string(i))); }

// A closed database at `path` with one table of `n` items of 3 KB (overflow pages) each; the
// table's id.
int64_t WriteTable(const std::string& path, int n) {
  auto s = Storage::Open(path, "us-east-1");
  REQUIRE(s.ok());
  int64_t id = (*s)->PutTable(Spec(), false).value();
  RequireOk((*s)->Begin());
  for (int i = 0; i < n; ++i) {
    RequireOk((*s)->PutItem(
        id, Hk(i), "",
        Storage::ItemVersion{std::string(3000, 'a' + i % 26), Stamp{2000 + i, "us-east-1"}}));
  }
  RequireOk((*s)->Commit());
  return id;  // closing the last connection checkpoints the WAL into the file
}

// Overwrites `pages` pages of 4096 bytes from the middle of the file with garbage.
void DamageMiddle(const std::string& path, int pages) {
  const auto size = fs::file_size(path);
  REQUIRE(size > 40 * 4096);
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>((size / 4096 / 2) * 4096));
  std::string junk(4096 * pages, '\xA5');
  f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
}

TEST_CASE("a region that has run refuses a missing or empty database unless it rejoins",
          "[durability]") {
  TempDir dir;
  const std::string db = dir.File("region.db");
  // Never run here: anything goes.
  RequireOk(CheckDataDir(dir.path(), "us-east-1", {}));
  RequireOk(MarkDataDir(dir.path(), "us-east-1", "c1"));
  CHECK(fs::status(dir.File("region.id")).permissions() ==
        (fs::perms::owner_read | fs::perms::owner_write));

  SECTION("missing") {
    absl::Status refused = CheckDataDir(dir.path(), "us-east-1", {.cluster_id = "c1"});
    CHECK(absl::IsFailedPrecondition(refused));
    CHECK(absl::StrContains(refused.message(), db + " is missing"));
    CHECK(absl::StrContains(refused.message(), "--rejoin"));
    RequireOk(CheckDataDir(dir.path(), "us-east-1",
                           {.expect_data = false, .rejoin = true, .cluster_id = "c1"}));
  }
  SECTION("zero bytes") {
    std::ofstream(db).close();
    absl::Status refused = CheckDataDir(dir.path(), "us-east-1", {.cluster_id = "c1"});
    CHECK(absl::StrContains(refused.message(), "is empty (0 bytes)"));
  }
  SECTION("present") {
    WriteTable(db, 3);
    RequireOk(CheckDataDir(dir.path(), "us-east-1", {.cluster_id = "c1"}));
  }
  SECTION("another region's directory") {
    absl::Status refused =
        CheckDataDir(dir.path(), "us-west-2", {.rejoin = true, .cluster_id = "c1"});
    CHECK(absl::StrContains(refused.message(), "holds region us-east-1's data"));
  }
  SECTION("another cluster's directory") {
    WriteTable(db, 3);
    absl::Status refused = CheckDataDir(dir.path(), "us-east-1", {.cluster_id = "c2"});
    CHECK(absl::StrContains(refused.message(), "of cluster \"c1\""));
    RequireOk(CheckDataDir(dir.path(), "us-east-1", {.cluster_id = "c1"}));
  }
}

TEST_CASE("cluster.json's word that a region has run counts even when its directory is gone",
          "[durability]") {
  TempDir dir;
  absl::Status refused = CheckDataDir(dir.path(), "us-east-1", {.expect_data = true});
  CHECK(absl::StrContains(refused.message(), "cluster.json says so"));
  RequireOk(CheckDataDir(dir.path(), "us-east-1", {.expect_data = true, .rejoin = true}));
}

TEST_CASE("a damaged page is found by the integrity check at start", "[durability]") {
  TempDir dir;
  const std::string db = dir.File("region.db");
  WriteTable(db, 200);
  {
    auto s = Storage::Open(db, "us-east-1");
    REQUIRE(s.ok());
    RequireOk((*s)->CheckIntegrity());
  }
  DamageMiddle(db, 4);
  auto s = Storage::Open(db, "us-east-1");
  if (!s.ok()) {  // the damage hit a page Open reads: refused as well
    CHECK(absl::IsDataLoss(s.status()));
    return;
  }
  absl::Status check = (*s)->CheckIntegrity();
  INFO(check.ToString());
  CHECK(absl::IsDataLoss(check));
  CHECK(absl::StrContains(check.message(), "quick_check"));
}

TEST_CASE("corruption met while running stops writes with a clear error", "[durability]") {
  TempDir dir;
  const std::string db = dir.File("region.db");
  const int64_t id = WriteTable(db, 200);
  DamageMiddle(db, 8);
  auto s = Storage::Open(db, "us-east-1");
  if (!s.ok()) {
    CHECK(absl::IsDataLoss(s.status()));
    return;
  }
  RequireOk((*s)->health());
  // Reading every item meets the damage.
  absl::Status read;
  for (int i = 0; i < 200 && read.ok(); ++i) read = (*s)->GetItem(id, Hk(i), "").status();
  INFO(read.ToString());
  REQUIRE(absl::IsDataLoss(read));
  absl::Status health = (*s)->health();
  CHECK(absl::IsDataLoss(health));
  CHECK(absl::StrContains(health.message(), "writes are stopped"));
  absl::Status begin = (*s)->Begin();
  CHECK(absl::IsDataLoss(begin));
  CHECK(absl::StrContains(begin.message(), "the database is corrupt"));
}

TEST_CASE("durability fsync sets synchronous=FULL, the default process sets NORMAL",
          "[durability]") {
  TempDir dir;
  for (auto [mode, expected] : {std::pair{Durability::kProcess, 1}, {Durability::kFsync, 2}}) {
    const std::string db = dir.File(absl::StrCat("d", expected, ".db"));
    auto s = SqliteStorage::Open(db, "us-east-1", {.durability = mode});
    REQUIRE(s.ok());
    RequireOk((*s)->PutTable(Spec(), false).status());
    auto level = (*s)->SynchronousLevel();
    REQUIRE(level.ok());
    CHECK(*level == expected);
  }
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

TEST_CASE("a database that can only be read is refused as such, never as 'not a gtsim database'",
          "[durability]") {
  TempDir dir;
  const std::string db = dir.File("region.db");
  WriteTable(db, 3);
  // SQLite opens a file it may not write read-only; mode=ro does the same without root's
  // immunity to permissions.
  auto s = Storage::Open("file:" + db + "?mode=ro", "us-east-1");
  REQUIRE_FALSE(s.ok());
  INFO(s.status().ToString());
  CHECK(absl::IsPermissionDenied(s.status()));
  CHECK(absl::StrContains(s.status().message(), "read-only"));
  CHECK_FALSE(absl::StrContains(s.status().message(), "not a gtsim database"));
  // The data is untouched: it opens normally again.
  auto again = Storage::Open(db, "us-east-1");
  REQUIRE(again.ok());
  CHECK((*again)->ItemStatsOf(1).value().items == 3);
}

}  // namespace
}  // namespace gtsim
