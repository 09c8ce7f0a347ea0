// MergeTableSpecs (model/table_spec.h) converges whatever order definitions arrive in: a
// random sweep of definitions of one table, each region's replica-set entry and each setting
// decided by its own stamps, checks that merging is commutative, associative and idempotent;
// and the per-member rule keeps concurrent replica changes made in different regions.
#include "model/table_spec.h"

#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <vector>

namespace gtsim {
namespace {

const std::vector<std::string> kRegions = {"ap-1", "eu-1", "us-1", "us-2"};

// A stamp drawn from a small set, so that definitions often share stamps; whatever a stamp
// decides is derived from the stamp itself (one change, one content), as in a real cluster.
Stamp Draw(std::mt19937_64& rng) {
  return Stamp{1000 + static_cast<int64_t>(rng() % 6), kRegions[rng() % kRegions.size()]};
}

TableSpec RandomSpec(std::mt19937_64& rng) {
  TableSpec s;
  s.name = "t";
  s.hash_key = KeyDef{"id", ValueType::kS};
  s.created = Stamp{1, "us-1"};
  for (const auto& r : kRegions) {
    if (rng() % 3 == 0) continue;  // never heard of
    ReplicaMembership m{Draw(rng), rng() % 2 ? Draw(rng) : Stamp{}};
    s.membership[r] = m;
    // Content from the stamps: removed, DELETING, CREATING (with progress) or ACTIVE.
    const int64_t k = m.changed.ts_us + m.step.ts_us + static_cast<int64_t>(m.step.region.size());
    const char* status[] = {"", "DELETING", "CREATING", "ACTIVE"};
    s.SetReplicaStatus(r, status[k % 4]);
    if (k % 4 == 2) s.replica_progress[r] = static_cast<int>(k % 10) * 10;
  }
  s.updated = Draw(rng);
  if (rng() % 2) {
    s.billing.stamp = Draw(rng);
    s.billing.mode = s.billing.stamp.ts_us % 2 ? "PROVISIONED" : "PAY_PER_REQUEST";
  }
  if (rng() % 2) {
    s.ttl.stamp = Draw(rng);
    s.ttl.enabled = s.ttl.stamp.ts_us % 2;
    s.ttl.attribute = s.ttl.stamp.region;
  }
  if (rng() % 2) {
    s.warm.stamp = Draw(rng);
    s.warm.read_units = 12000 + s.warm.stamp.ts_us;
    s.warm.write_units = static_cast<int64_t>(s.warm.stamp.region.size());
  }
  if (rng() % 2) {
    s.on_demand.stamp = Draw(rng);
    s.on_demand.max_read = s.on_demand.stamp.ts_us % 2 ? -1 : s.on_demand.stamp.ts_us;
    s.on_demand.max_write = static_cast<int64_t>(s.on_demand.stamp.region.size());
  }
  if (rng() % 2) {
    // One version of index "byG": an incarnation (created), then a change of it at or after
    // that (an Update, or the delete); content from the stamps.
    GsiSetting g;
    g.created = Draw(rng);
    g.stamp = rng() % 2 ? g.created : std::max(g.created, Draw(rng));
    g.deleted = g.stamp != g.created && g.stamp.region.size() % 2 == 0 && g.stamp.ts_us % 2;
    g.hash_key = KeyDef{g.created.region, ValueType::kS};
    g.warm_read = g.stamp.ts_us;
    s.gsis["byG"] = g;
  }
  return s;
}

TEST_CASE("merging table definitions is commutative, associative and idempotent", "[table_spec]") {
  std::mt19937_64 rng(19);
  for (int i = 0; i < 3000; ++i) {
    TableSpec a = RandomSpec(rng), b = RandomSpec(rng), c = RandomSpec(rng);
    INFO("a " << EncodeTableSpec(a) << "\nb " << EncodeTableSpec(b) << "\nc "
              << EncodeTableSpec(c));
    REQUIRE(SameDefinition(MergeTableSpecs(a, b), MergeTableSpecs(b, a)));
    REQUIRE(SameDefinition(MergeTableSpecs(MergeTableSpecs(a, b), c),
                           MergeTableSpecs(a, MergeTableSpecs(b, c))));
    REQUIRE(SameDefinition(MergeTableSpecs(a, a), a));
    REQUIRE(SameDefinition(MergeTableSpecs(MergeTableSpecs(a, b), b), MergeTableSpecs(a, b)));
  }
}

TableSpec Base() {
  TableSpec s;
  s.name = "t";
  s.hash_key = KeyDef{"id", ValueType::kS};
  s.created = Stamp{1, "us-1"};
  s.replicas = {"us-1", "us-2"};
  return s;
}

TEST_CASE("concurrent replica changes in two regions both stand after merging", "[table_spec]") {
  // The partition of issue 19: us-1 adds eu-1 while cut-off us-2 removes us-1.
  TableSpec east = Base(), west = Base();
  east.SetReplicaStatus("eu-1", "CREATING");
  east.updated = Stamp{10, "us-1"};
  east.membership["eu-1"] = {east.updated, {}};
  west.SetReplicaStatus("us-1", "DELETING");
  west.updated = Stamp{20, "us-2"};
  west.membership["us-1"] = {west.updated, {}};
  TableSpec merged = MergeTableSpecs(east, west);
  CHECK(SameDefinition(merged, MergeTableSpecs(west, east)));
  CHECK(merged.ReplicaStatus("eu-1") == "CREATING");
  CHECK(merged.ReplicaStatus("us-1") == "DELETING");
  CHECK(merged.ReplicaStatus("us-2") == "ACTIVE");

  // A lifecycle step of an add never undoes a later removal of it, even with a later stamp.
  TableSpec cancelled = east;
  cancelled.SetReplicaStatus("eu-1", "");
  cancelled.membership["eu-1"] = {Stamp{30, "us-1"}, {}};
  TableSpec progress = east;
  progress.replica_progress["eu-1"] = 50;
  progress.membership["eu-1"].step = Stamp{40, "eu-1"};
  CHECK(MergeTableSpecs(cancelled, progress).ReplicaStatus("eu-1").empty());
  CHECK(MergeTableSpecs(progress, cancelled).ReplicaStatus("eu-1").empty());
  // A later add brings it back.
  TableSpec readded = cancelled;
  readded.SetReplicaStatus("eu-1", "CREATING");
  readded.membership["eu-1"] = {Stamp{50, "us-2"}, {}};
  CHECK(MergeTableSpecs(cancelled, readded).ReplicaStatus("eu-1") == "CREATING");
}

// Issue 12: a GlobalSecondaryIndexUpdates Update restamps its index; made in one region
// concurrently with the index's delete in another, it must not bring the index back (DynamoDB
// deletes the index; an Update of a deleted index is ResourceNotFoundException there).
TEST_CASE("a delete of an index wins over a concurrent Update of it; a re-create wins over both",
          "[table_spec]") {
  TableSpec base = Base();
  GsiSetting g;
  g.hash_key = KeyDef{"g", ValueType::kS};
  g.stamp = g.created = Stamp{10, "us-1"};
  base.gsis["byG"] = g;
  auto round = DecodeTableSpec(EncodeTableSpec(base));
  REQUIRE(round.ok());
  CHECK(round->gsis.at("byG").created == g.created);

  TableSpec deleted = base;  // us-1 deletes the index at 20
  deleted.gsis["byG"].deleted = true;
  deleted.gsis["byG"].stamp = Stamp{20, "us-1"};
  TableSpec updated = base;  // us-2, not knowing, raises its warm throughput at 30
  updated.gsis["byG"].warm_read = 50000;
  updated.gsis["byG"].stamp = Stamp{30, "us-2"};
  for (const TableSpec& merged :
       {MergeTableSpecs(deleted, updated), MergeTableSpecs(updated, deleted)}) {
    CHECK(merged.gsis.at("byG").deleted);
    CHECK(merged.gsis.at("byG").stamp == Stamp{20, "us-1"});
  }
  // Created again after the delete: a new incarnation, which every older version loses to.
  TableSpec recreated = deleted;
  recreated.gsis["byG"] = g;
  recreated.gsis["byG"].hash_key = KeyDef{"h", ValueType::kN};
  recreated.gsis["byG"].stamp = recreated.gsis["byG"].created = Stamp{25, "us-1"};
  for (const TableSpec& merged : {MergeTableSpecs(MergeTableSpecs(recreated, updated), deleted),
                                  MergeTableSpecs(updated, MergeTableSpecs(deleted, recreated))}) {
    CHECK_FALSE(merged.gsis.at("byG").deleted);
    CHECK(merged.gsis.at("byG").hash_key.name == "h");
  }
  // Updates of one live incarnation: the newer stamp, as any setting.
  TableSpec later = updated;
  later.gsis["byG"].warm_read = 60000;
  later.gsis["byG"].stamp = Stamp{40, "us-1"};
  CHECK(MergeTableSpecs(updated, later).gsis.at("byG").warm_read == 60000);
  CHECK(MergeTableSpecs(later, updated).gsis.at("byG").warm_read == 60000);
}

TEST_CASE("a definition stored before per-member stamps decodes with them implicit",
          "[table_spec]") {
  TableSpec s = Base();
  auto decoded = DecodeTableSpec(EncodeTableSpec(s));
  REQUIRE(decoded.ok());
  CHECK(decoded->membership.empty());
  CHECK(decoded->MembershipOf("us-2").changed == s.created);
  CHECK(decoded->MembershipOf("eu-1").changed.empty());
  s.membership["eu-1"] = {Stamp{5, "us-1"}, Stamp{6, "eu-1"}};
  auto round = DecodeTableSpec(EncodeTableSpec(s));
  REQUIRE(round.ok());
  CHECK(round->membership == s.membership);
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

TEST_CASE("warm and on-demand throughput and earlier streams survive encoding", "[table_spec]") {
  TableSpec s = Base();
  s.warm = WarmSetting{15000, 0, Stamp{5, "us-1"}};
  s.on_demand = OnDemandSetting{-1, 40, Stamp{6, "us-2"}};
  GsiSetting g;
  g.hash_key = KeyDef{"g", ValueType::kS};
  g.warm_read = 30000;
  g.max_write = 9;
  g.stamp = Stamp{7, "us-1"};
  s.gsis["byG"] = g;
  // Enabled, disabled, enabled again: the first stream joins `past`, the new one starts at 30.
  s.stream = NextStreamSetting(s.stream, true, "KEYS_ONLY", Stamp{10, "us-1"});
  s.stream = NextStreamSetting(s.stream, false, "", Stamp{20, "us-1"});
  CHECK(StreamLabelUs(s) == 1);  // still the table's first stream, now disabled
  s.stream = NextStreamSetting(s.stream, true, "NEW_IMAGE", Stamp{30, "us-1"});
  CHECK(s.stream.since_us == 30);
  CHECK(s.stream.past == std::vector<std::pair<int64_t, int64_t>>{{0, 20}});
  CHECK(StreamLabelUs(s) == 30);

  auto decoded = DecodeTableSpec(EncodeTableSpec(s));
  REQUIRE(decoded.ok());
  CHECK(SameDefinition(*decoded, s));
  CHECK(decoded->warm.read_units == 15000);
  CHECK(decoded->on_demand.max_write == 40);
  CHECK(decoded->gsis.at("byG").warm_read == 30000);
  CHECK(decoded->gsis.at("byG").max_read == -1);
  CHECK(decoded->gsis.at("byG").max_write == 9);
  CHECK(decoded->stream.past == s.stream.past);
  // Shown never below DynamoDB's starting values.
  CHECK(TableWarmThroughput(*decoded).read == 15000);
  CHECK(TableWarmThroughput(*decoded).write == 4000);
  CHECK(IndexWarmThroughput(*decoded, decoded->gsis.at("byG")).read == 30000);
  // Newer stamps win, each setting on its own.
  TableSpec later = s;
  later.warm = WarmSetting{20000, 5000, Stamp{8, "us-2"}};
  later.on_demand = OnDemandSetting{1, 1, Stamp{2, "us-2"}};  // older: loses
  TableSpec merged = MergeTableSpecs(s, later);
  CHECK(merged.warm.read_units == 20000);
  CHECK(merged.on_demand.max_write == 40);
  CHECK(NewestStampUs(merged) >= 30);
}

}  // namespace
}  // namespace gtsim
