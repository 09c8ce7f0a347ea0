// Tests of replicator/lag_metrics.h and of the lag a region reports for its peers: staleness
// and replicated time (ReplicatorCore::Lag through Region::Status) on a manual clock, the
// last-second latency window, the latency histogram, and their Prometheus rendering
// (region/http/metrics_endpoint.h; the format itself is parsed strictly by
// tests/python/test_metrics.py).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "region/http/metrics_endpoint.h"
#include "region/region.h"
#include "replicator/lag_metrics.h"

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

void CreateTable(Region& r, const std::string& name, std::vector<std::string> replicas) {
  CreateTableRequest req;
  req.table = name;
  req.hash_key = {"id", ValueType::kS};
  req.replicas = std::move(replicas);
  Ok(r.CreateTable(req));
}

void Put(Region& r, const std::string& table, const std::string& id) {
  PutRequest req;
  req.table = table;
  req.item = {{"id", AttributeValue::S(id)}};
  Ok(r.Write(req));
}

// Ships everything `from` has for `to` after `to`'s cursor (at most `max` changes) and, with
// `ack`, acknowledges it as the peer link does.
ApplyReport Replicate(Region& from, Region& to, int max = 100, bool ack = true) {
  ChangeBatch batch = Ok(from.ReadFor(to.name(), to.Cursor(from.name()), max));
  ApplyReport report = Ok(to.Apply(batch));
  if (ack) from.RecordAck(to.name(), report.cursor);
  return report;
}

// `r`'s status towards `peer` (a copy: the status is a temporary).
OutboundStatus Towards(Region& r, const std::string& peer) {
  RegionStatus s = Ok(r.Status());
  for (const auto& o : s.outbound) {
    if (o.peer == peer) return o;
  }
  FAIL("no outbound status for " << peer);
  return {};
}

const PeerLag::Table& TableLag(const OutboundStatus& o, const std::string& table) {
  for (const auto& t : o.lag.tables) {
    if (t.table == table) return t;
  }
  FAIL("no lag for table " << table);
  return o.lag.tables.front();
}

TEST_CASE("freshness: caught up is 0 and now; behind is the age of the oldest pending write",
          "[lag]") {
  Freshness f = FreshnessAt(kStart, std::nullopt);
  CHECK(f.staleness_us == 0);
  CHECK(f.replicated_time_us == kStart);
  f = FreshnessAt(kStart + 5 * kSecond, kStart);
  CHECK(f.staleness_us == 5 * kSecond);
  CHECK(f.replicated_time_us == kStart);
  // A commit time ahead of this clock (another host's clock ahead) counts as now.
  f = FreshnessAt(kStart, kStart + kSecond);
  CHECK(f.staleness_us == 0);
  CHECK(f.replicated_time_us == kStart);
}

TEST_CASE("a region reports each peer's staleness and replicated time from its log and acks",
          "[lag]") {
  ManualClock clock(kStart);  // one true clock for both regions, moved by hand
  auto a = OpenRegion(kEast, &clock);
  auto b = OpenRegion(kWest, &clock);
  CreateTable(*a, "orders", {kEast, kWest});
  CreateTable(*a, "carts", {kEast, kWest});
  CreateTable(*a, "local_only", {kEast});
  Replicate(*a, *b);
  {
    const OutboundStatus o = Towards(*a, kWest);
    CHECK(o.pending == 0);
    CHECK(o.lag.freshness.staleness_us == 0);
    CHECK(o.lag.freshness.replicated_time_us == kStart);
    REQUIRE(o.lag.tables.size() == 2);  // the tables west replicates, by name
    CHECK(o.lag.tables[0].table == "carts");
    CHECK(o.lag.tables[1].table == "orders");
  }

  const int64_t first_commit = clock.NowMicros();
  Put(*a, "orders", "1");
  clock.Advance(2 * kSecond);
  const int64_t second_commit = clock.NowMicros();
  Put(*a, "orders", "2");
  Put(*a, "carts", "c");
  Put(*a, "local_only", "x");  // not for west: never makes it stale
  clock.Advance(3 * kSecond);
  {
    const OutboundStatus o = Towards(*a, kWest);
    CHECK(o.pending == 3);
    CHECK(o.lag.freshness.staleness_us == 5 * kSecond);
    CHECK(o.lag.freshness.replicated_time_us == first_commit);
    CHECK_FALSE(o.lag.freshness.at_most);
    CHECK(TableLag(o, "orders").pending == 2);
    CHECK(TableLag(o, "orders").freshness.staleness_us == 5 * kSecond);
    CHECK(TableLag(o, "carts").pending == 1);
    CHECK(TableLag(o, "carts").freshness.staleness_us == 3 * kSecond);
    CHECK(TableLag(o, "carts").freshness.replicated_time_us == second_commit);
    // The receiver's latency window has nothing to say: nothing was delivered.
    CHECK(Ok(b->Status()).inbound[0].latency_1s.samples == 0);
  }

  // Applied but not acknowledged yet: still stale (the source cannot know).
  Replicate(*a, *b, 100, /*ack=*/false);
  CHECK(Towards(*a, kWest).lag.freshness.staleness_us == 5 * kSecond);

  // Acknowledged through the first put only: the oldest pending is now the second one.
  ChangeBatch all = Ok(a->ReadFor(kWest, 0, 100));
  int64_t first_put_seq = 0;
  for (const auto& c : all.changes) {
    if (c.kind == ChangeKind::kPut && first_put_seq == 0) first_put_seq = c.seq;
  }
  a->RecordAck(kWest, first_put_seq);
  {
    const OutboundStatus o = Towards(*a, kWest);
    CHECK(o.pending == 2);
    CHECK(o.lag.freshness.staleness_us == 3 * kSecond);
    CHECK(o.lag.freshness.replicated_time_us == second_commit);
  }

  clock.Advance(kSecond);
  a->RecordAck(kWest, b->Cursor(kEast));
  {
    const OutboundStatus o = Towards(*a, kWest);
    CHECK(o.pending == 0);
    CHECK(o.lag.freshness.staleness_us == 0);
    CHECK(o.lag.freshness.replicated_time_us == clock.NowMicros());
    CHECK(TableLag(o, "carts").freshness.staleness_us == 0);
  }
}

TEST_CASE("an acknowledgement survives a rolled-back transaction before it is flushed", "[lag]") {
  // Found by the simulator (gtsim-sim --seed 6505): a failed transaction rolls back, and the reload
  // that follows used to drop the acks not yet flushed, so PendingReplicationCount read 55 on a
  // caught-up link until the peer acknowledged again.
  ManualClock clock(kStart);
  auto a = OpenRegion(kEast, &clock);
  auto b = OpenRegion(kWest, &clock);
  CreateTable(*a, "t", {kEast, kWest});
  Replicate(*a, *b);
  Put(*a, "t", "k1");
  Put(*a, "t", "k2");
  Replicate(*a, *b);  // acknowledged, in memory only
  REQUIRE(Towards(*a, kWest).pending == 0);
  // A transaction (TransactWriteItems) whose second entry fails: nothing is written.
  std::vector<Region::ItemMutation> entries;
  for (const char* id : {"k4", "k5"}) {
    const bool fail = std::string(id) == "k5";
    entries.push_back(Region::ItemMutation{
        "t", Item{{"id", AttributeValue::S(id)}},
        [fail, id](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
          if (fail) return absl::FailedPreconditionError("ConditionalCheckFailed");
          return std::optional<Item>(Item{{"id", AttributeValue::S(id)}});
        }});
  }
  REQUIRE(absl::IsFailedPrecondition(a->Transact(entries).status()));
  CHECK(Towards(*a, kWest).pending == 0);
}

TEST_CASE("ReplicationLatency over the last second forgets what the 60 s window keeps", "[lag]") {
  LagWindow w;
  w.Record(kStart, 4 * kSecond);            // a backlog delivered after a cut
  w.Record(kStart + 10 * kSecond, 20'000);  // then 20 ms again
  w.Record(kStart + 10 * kSecond + 500'000, 30'000);
  const int64_t now = kStart + 10 * kSecond + 600'000;
  CHECK(w.Summarize(now).max_ms == Approx(4000));
  LatencySummary last = w.Summarize(now, kSecond);
  CHECK(last.samples == 2);
  CHECK(last.p99_ms == Approx(30));
  CHECK(w.Summarize(now + 2 * kSecond, kSecond).samples == 0);
}

TEST_CASE("the latency histogram counts cumulatively in its buckets", "[lag]") {
  LatencyHistogram h;
  h.Record(1'000);          // exactly on the 1 ms bound
  h.Record(20'000);         // 20 ms
  h.Record(400 * kSecond);  // beyond the last bound: +Inf only
  CHECK(h.count() == 3);
  CHECK(h.CumulativeCount(0) == 1);                                            // le 0.001
  CHECK(h.CumulativeCount(3) == 1);                                            // le 0.01
  CHECK(h.CumulativeCount(4) == 2);                                            // le 0.025
  CHECK(h.CumulativeCount(LatencyHistogram::kBoundsSeconds.size() - 1) == 2);  // le 300
  CHECK(h.sum_seconds() == Approx(400.021));
}

TEST_CASE("/metrics renders a region's lag, latency and counters", "[lag]") {
  ManualClock clock(kStart);
  auto a = OpenRegion(kEast, &clock);
  auto b = OpenRegion(kWest, &clock);
  CreateTable(*a, "orders", {kEast, kWest});
  Replicate(*a, *b);
  Put(*a, "orders", "1");
  clock.Advance(20'000);
  Replicate(*a, *b);  // applied 20 ms after its commit
  Put(*a, "orders", "2");
  clock.Advance(7 * kSecond);
  GetResult got = Ok(b->GetItem("orders", {{"id", AttributeValue::S("1")}}));
  CHECK(got.item.has_value());

  std::string east = RenderMetrics(Ok(a->Status()));
  std::string west = RenderMetrics(Ok(b->Status()));
  INFO(east << "\n" << west);
  const std::string pair = "source=\"us-east-1\",destination=\"us-west-2\",table=\"orders\"";
  CHECK(absl::StrContains(east, "gtsim_replication_staleness_seconds{" + pair + "} 7\n"));
  CHECK(absl::StrContains(east, "gtsim_pending_replication_count{" + pair + "} 1\n"));
  CHECK(absl::StrContains(east, "gtsim_replicated_time_seconds{" + pair + "} 1700000000.02\n"));
  CHECK(
      absl::StrContains(east, "gtsim_writes_total{region=\"us-east-1\",source=\"us-east-1\"} 3\n"));
  CHECK(absl::StrContains(west, "gtsim_replication_latency_seconds_bucket{" + pair +
                                    ",le=\"0.01\"} 1\n"));  // the table creation, at 0 ms
  CHECK(absl::StrContains(
      west, "gtsim_replication_latency_seconds_bucket{" + pair + ",le=\"0.025\"} 2\n"));
  CHECK(absl::StrContains(
      west, "gtsim_replication_latency_seconds_bucket{" + pair + ",le=\"+Inf\"} 2\n"));
  CHECK(absl::StrContains(west, "gtsim_replication_latency_seconds_count{" + pair + "} 2\n"));
  CHECK(
      absl::StrContains(west, "gtsim_reads_total{region=\"us-west-2\",operation=\"GetItem\"} 1\n"));
  CHECK(absl::StrContains(west,
                          "# HELP gtsim_replication_latency_seconds CloudWatch "
                          "ReplicationLatency"));
  CHECK(absl::StrContains(west, "# TYPE gtsim_replication_latency_seconds histogram\n"));
}

}  // namespace
}  // namespace gtsim
