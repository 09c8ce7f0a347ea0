// The recent conflicts a region reports (region/conflict_log.h through Region::Status): which
// item's write from a peer LWW discarded, which stamps lost and won, bounded to the last
// ConflictLog::kCapacity; what is not a conflict (a write replaced by a later one of the same
// origin, a re-delivery) is never reported.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "region/region.h"

namespace gtsim {
namespace {

constexpr char kEast[] = "us-east-1";
constexpr char kWest[] = "us-west-2";
constexpr int64_t kStart = 1'700'000'000'000'000;
constexpr int64_t kSecond = 1'000'000;

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

std::unique_ptr<Region> OpenRegion(const std::string& name, Clock* clock) {
  auto storage = Storage::Open(":memory:", name);
  REQUIRE(storage.ok());
  return Ok(Region::Open(name, {kEast, kWest}, *std::move(storage), clock));
}

Item Key(const std::string& id) { return {{"id", AttributeValue::S(id)}}; }

int64_t Put(Region& r, const std::string& id, const std::string& v) {
  PutRequest req;
  req.table = "t";
  req.item = {{"id", AttributeValue::S(id)}, {"v", AttributeValue::S(v)}};
  return Ok(r.Write(req)).stamp.ts_us;
}

int64_t Delete(Region& r, const std::string& id) {
  DeleteRequest req;
  req.table = "t";
  req.key = Key(id);
  return Ok(r.Write(req)).stamp.ts_us;
}

ApplyReport Replicate(Region& from, Region& to) {
  ChangeBatch batch = Ok(from.ReadFor(to.name(), to.Cursor(from.name()), 1000));
  ApplyReport report = Ok(to.Apply(batch));
  from.RecordAck(to.name(), report.cursor);
  return report;
}

std::vector<ConflictRecord> Conflicts(Region& r) { return Ok(r.Status()).conflicts; }

struct Pair {
  ManualClock clock{kStart};
  std::unique_ptr<Region> east = OpenRegion(kEast, &clock);
  std::unique_ptr<Region> west = OpenRegion(kWest, &clock);
  Pair() {
    CreateTableRequest req;
    req.table = "t";
    req.hash_key = {"id", ValueType::kS};
    req.replicas = {kEast, kWest};
    Ok(east->CreateTable(req));
    Replicate(*east, *west);
  }
};

TEST_CASE("a peer's write that loses LWW is reported with the stamps that lost and won",
          "[conflicts]") {
  Pair p;
  const int64_t east_stamp = Put(*p.east, "k", "east");
  p.clock.Advance(kSecond);
  const int64_t west_stamp = Put(*p.west, "k", "west");
  p.clock.Advance(kSecond);
  const int64_t when = p.clock.NowMicros();

  ApplyReport report = Replicate(*p.east, *p.west);  // east's older write reaches west: it loses
  CHECK(report.lost_to_newer == 1);
  std::vector<ConflictRecord> c = Conflicts(*p.west);
  REQUIRE(c.size() == 1);
  CHECK(c[0].table == "t");
  CHECK(c[0].key == Key("k"));
  CHECK(c[0].lost.region == kEast);
  CHECK(c[0].lost.ts_us == east_stamp);
  CHECK(c[0].won.region == kWest);
  CHECK(c[0].won.ts_us == west_stamp);
  CHECK_FALSE(c[0].won_by_delete);
  CHECK(c[0].at_us == when);

  Replicate(*p.west, *p.east);  // west's newer write wins in east: no conflict there
  CHECK(Conflicts(*p.east).empty());
  // A re-delivery of what west already judged is skipped, never reported again.
  ChangeBatch again = Ok(p.east->ReadFor(kWest, 0, 1000));
  Ok(p.west->Apply(again));
  CHECK(Conflicts(*p.west).size() == 1);
}

TEST_CASE("a put that loses to a later delete is reported as beaten by a delete", "[conflicts]") {
  Pair p;
  Put(*p.east, "d", "east");
  Replicate(*p.east, *p.west);
  p.clock.Advance(kSecond);
  const int64_t lost = Put(*p.east, "d", "east again");
  p.clock.Advance(kSecond);
  Delete(*p.west, "d");
  Replicate(*p.east, *p.west);
  std::vector<ConflictRecord> c = Conflicts(*p.west);
  REQUIRE(c.size() == 1);
  CHECK(c[0].lost.ts_us == lost);
  CHECK(c[0].won_by_delete);
}

TEST_CASE("writes replaced by a later write of their own origin are not conflicts", "[conflicts]") {
  Pair p;
  Put(*p.east, "a", "1");
  p.clock.Advance(1000);
  Put(*p.east, "a", "2");
  Put(*p.east, "b", "1");
  Replicate(*p.east, *p.west);
  CHECK(Conflicts(*p.west).empty());
}

TEST_CASE("the conflict feed keeps only the most recent losses", "[conflicts]") {
  Pair p;
  const int n = static_cast<int>(ConflictLog::kCapacity) + 8;
  for (int i = 0; i < n; ++i) Put(*p.east, "k" + std::to_string(i), "east");
  p.clock.Advance(kSecond);
  for (int i = 0; i < n; ++i) Put(*p.west, "k" + std::to_string(i), "west");
  CHECK(Replicate(*p.east, *p.west).lost_to_newer == n);
  std::vector<ConflictRecord> c = Conflicts(*p.west);
  REQUIRE(c.size() == ConflictLog::kCapacity);
  CHECK(c.front().key == Key("k8"));  // the first 8 were dropped, oldest first
  CHECK(c.back().key == Key("k" + std::to_string(n - 1)));
}

}  // namespace
}  // namespace gtsim
