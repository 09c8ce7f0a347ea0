// Tests of the clock bound (model/clock.h kMaxClockSkewUs, kMaxStampAheadUs): a skew beyond
// the maximum is refused and changes nothing; a change from a peer stamped further ahead of the
// receiver's true clock than the bound is refused with its batch, loudly, and applies once the
// receiver's clock is within the bound; a skew set back reports where this region's stamps stand.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "model/clock.h"
#include "region/region.h"

namespace gtsim {
namespace {

constexpr char kEast[] = "us-east-1";
constexpr char kWest[] = "us-west-2";
constexpr int64_t kStart = 1'700'000'000'000'000;

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

struct TwoRegions {
  ManualClock clock_a{kStart}, clock_b{kStart};
  std::unique_ptr<Region> a = OpenRegion(kEast, &clock_a);
  std::unique_ptr<Region> b = OpenRegion(kWest, &clock_b);

  absl::StatusOr<ApplyReport> AtoB() {
    ChangeBatch batch = Ok(a->ReadFor(kWest, b->Cursor(kEast), 100));
    return b->Apply(batch);
  }
  void CreateGlobalTable() {
    CreateTableRequest req;
    req.table = "orders";
    req.hash_key = {"id", ValueType::kS};
    req.replicas = {kEast, kWest};
    Ok(a->CreateTable(req));
    REQUIRE(Ok(AtoB()).applied == 1);
  }
  WriteResult Put(Region& r, const std::string& id) {
    PutRequest req;
    req.table = "orders";
    req.item = {{"id", AttributeValue::S(id)}};
    return Ok(r.Write(req));
  }
  bool Has(Region& r, const std::string& id) {
    return Ok(r.GetItem("orders", {{"id", AttributeValue::S(id)}})).item.has_value();
  }
};

TEST_CASE("a clock skew beyond the maximum is refused and changes nothing", "[clock]") {
  TwoRegions r;
  r.CreateGlobalTable();
  for (int64_t skew : {kMaxClockSkewUs + 1, -kMaxClockSkewUs - 1,
                       int64_t{1'000'000} * 3600 * 1'000'000 /* 1,000,000 h */}) {
    auto refused = r.a->SetClockSkew(skew);
    REQUIRE(absl::IsInvalidArgument(refused.status()));
    CHECK(absl::StrContains(refused.status().message(), "at most"));
    CHECK(Ok(r.a->Status()).clock_skew_us == 0);
  }
  CHECK(r.Put(*r.a, "k").stamp.ts_us < kStart + 1'000'000);

  // The maximum itself is allowed, either way.
  CHECK(Ok(r.a->SetClockSkew(kMaxClockSkewUs)).previous_skew_us == 0);
  CHECK(Ok(r.a->SetClockSkew(-kMaxClockSkewUs)).previous_skew_us == kMaxClockSkewUs);
}

TEST_CASE("a skew set back says the region's stamps stay at its last until the clock passes it",
          "[clock]") {
  TwoRegions r;
  r.CreateGlobalTable();
  Ok(r.a->SetClockSkew(600'000'000));  // 10 minutes ahead
  WriteResult ahead = r.Put(*r.a, "k1");
  CHECK(ahead.stamp.ts_us == kStart + 600'000'000);
  ClockSkewChange back = Ok(r.a->SetClockSkew(0));
  CHECK(back.previous_skew_us == 600'000'000);
  CHECK(back.skew_us == 0);
  CHECK(back.last_stamp_us == ahead.stamp.ts_us);
  CHECK(back.now_us == kStart);
  // LWW within a region needs its stamps to keep increasing: the next write is stamped just
  // after the last, not at the true time, until the true time passes it.
  CHECK(r.Put(*r.a, "k2").stamp.ts_us == ahead.stamp.ts_us + 1);
  r.clock_a.Set(ahead.stamp.ts_us + 5'000'000);
  CHECK(r.Put(*r.a, "k3").stamp.ts_us == ahead.stamp.ts_us + 5'000'000);
}

TEST_CASE("a change stamped further ahead than the bound is refused with its batch, loudly",
          "[clock]") {
  TwoRegions r;
  r.CreateGlobalTable();
  r.Put(*r.a, "before");
  // a's host clock runs far ahead (a skew cannot do this; another host or an old file can).
  r.clock_a.Set(kStart + kMaxStampAheadUs + 60'000'000);
  r.Put(*r.a, "future");
  auto refused = r.AtoB();
  REQUIRE(absl::IsFailedPrecondition(refused.status()));
  CHECK(absl::StrContains(refused.status().message(), kEast));
  CHECK(absl::StrContains(refused.status().message(), "ahead"));
  CHECK_FALSE(r.Has(*r.b, "before"));  // the batch is refused whole, cursor unmoved
  CHECK_FALSE(r.Has(*r.b, "future"));
  CHECK(r.b->Cursor(kEast) == 1);
  auto warnings = Ok(r.b->Status()).warnings;
  REQUIRE(warnings.size() == 1);
  CHECK(absl::StrContains(warnings[0], "ahead"));
  // The same refusal again does not repeat the warning.
  CHECK_FALSE(r.AtoB().ok());
  CHECK(Ok(r.b->Status()).warnings.size() == 1);

  // Once b's true clock is within the bound of the stamp, the changes apply.
  r.clock_b.Set(kStart + 120'000'000);
  REQUIRE(Ok(r.AtoB()).applied == 2);
  CHECK(r.Has(*r.b, "future"));
}

TEST_CASE("a table definition stamped from beyond the bound is refused too", "[clock]") {
  TwoRegions r;
  r.clock_a.Set(kStart + kMaxStampAheadUs + 1'000'000);
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  Ok(r.a->CreateTable(req));
  REQUIRE(absl::IsFailedPrecondition(r.AtoB().status()));
  CHECK_FALSE(r.b->DescribeTable("orders").ok());
}

}  // namespace
}  // namespace gtsim
