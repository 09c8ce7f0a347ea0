// A table's definition as every replica holds it: keys, replica set (with each replica's
// lifecycle status) and incarnation.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/attribute_value.h"
#include "model/lww.h"

namespace gtsim {

struct KeyDef {
  std::string name;
  ValueType type = ValueType::kS;  // kS, kN or kB
  bool operator==(const KeyDef& o) const { return name == o.name && type == o.type; }
};

// Group-wide settings: changed by UpdateTable in any replica's region and applied by the others
// when the control record reaches them. Each carries the stamp of the change that set it and
// converges by LWW on its own: two regions changing the same setting concurrently end with the
// later stamp's value everywhere; changes to different settings both survive.
struct BillingSetting {
  std::string mode = "PAY_PER_REQUEST";  // or "PROVISIONED"
  int64_t read_capacity = 0;             // PROVISIONED only
  int64_t write_capacity = 0;            // PROVISIONED only; enforced on local writes
  Stamp stamp;
};
struct SseSetting {
  std::string type;  // "" (DynamoDB-owned key, no SSEDescription), "AES256" or "KMS"
  Stamp stamp;
};
struct TtlSetting {
  bool enabled = false;
  std::string attribute;
  Stamp stamp;
};
struct StreamSetting {
  bool enabled = false;
  std::string view_type;  // KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES
  Stamp stamp;
  // When the current stream began (microseconds): 0 for the stream the table was created with
  // (it dates from `created`), else the stamp of the UpdateTable that enabled the stream again
  // after it had been disabled - re-enabling makes a new stream, with a new ARN and label.
  int64_t since_us = 0;
  // The earlier streams of this incarnation, oldest first, each [since_us, ended_us) (since 0:
  // the table's first stream); every one is DISABLED.
  std::vector<std::pair<int64_t, int64_t>> past;
};
// WarmThroughput (UpdateTable / CreateTable), group-wide ("always synchronized" in AWS's
// classes): 0 means never raised, DynamoDB's default (see ddb_describe.cc). Only increases.
struct WarmSetting {
  int64_t read_units = 0;
  int64_t write_units = 0;
  Stamp stamp;
};
// OnDemandThroughput of a PAY_PER_REQUEST table: the most request units per second; -1 (or 0,
// never set) means no limit. Group-wide in gtsim (AWS lets a replica override the read limit;
// gtsim has no per-replica override).
struct OnDemandSetting {
  int64_t max_read = -1;
  int64_t max_write = -1;
  Stamp stamp;
};
// A global secondary index, group-wide. Each replica backfills it from its own items (its
// IndexStatus, CREATING then ACTIVE, is per replica and not part of the definition).
struct GsiSetting {
  KeyDef hash_key;
  std::optional<KeyDef> range_key;
  std::string projection = "ALL";    // ALL, KEYS_ONLY or INCLUDE
  std::vector<std::string> non_key;  // INCLUDE: the projected non-key attributes
  bool deleted = false;              // a deleted index keeps its stamp so LWW can order it
  Stamp stamp;
  // When this incarnation of the index was created (its create's stamp; an Update and the
  // delete keep it; empty in definitions stored before it was kept). Merging orders an index's
  // versions by incarnation first, then a delete before any other change of that incarnation,
  // then by stamp: an Update made concurrently with (even after) a delete in another region
  // does not bring the index back, and a later re-create does (see MergeTableSpecs).
  Stamp created;
  // A local secondary index (CreateTable's LocalSecondaryIndexes): the table's hash key, another
  // range key; defined with the table and never added or removed later. Stored, indexed and
  // queried as the global ones are (gtsim's indexes are written in the item's transaction, so
  // a ConsistentRead of either is exact).
  bool local = false;
  // The index's WarmThroughput (0: never raised) and OnDemandThroughput (-1: no limit), set with
  // the index or by a GlobalSecondaryIndexUpdates Update (which restamps the index).
  int64_t warm_read = 0;
  int64_t warm_write = 0;
  int64_t max_read = -1;
  int64_t max_write = -1;
};

// Settings of one replica, made in its region and applied only there; the others know them to
// describe the replica (and to refuse removing a protected one).
struct ReplicaSettings {
  bool deletion_protection = false;
  std::string kms_key;                 // KMSMasterKeyId when SSE is KMS ("" : the default key)
  std::string table_class;             // "" (STANDARD) or STANDARD_INFREQUENT_ACCESS
  int64_t read_capacity_override = 0;  // ProvisionedThroughputOverride; 0: none
  bool point_in_time_recovery = false;
  Stamp stamp;
  // Since when point-in-time recovery has been on (microseconds, this region's clock; 0 while
  // off): DescribeContinuousBackups' EarliestRestorableDateTime.
  int64_t pitr_since_us = 0;
  // This replica's tags (TagResource, CreateTable's Tags): made in its region and never copied
  // to another replica, as in AWS (each replica's ARN carries its own).
  std::map<std::string, std::string> tags;
};

// How one region's entry in a table's replica set was last decided. Two kinds of change:
// - `changed`: an add or a removal of the replica, made by UpdateTable (or DeleteTable of that
//   replica) in any region; the newest wins, whatever happened since;
// - `step`: a lifecycle step the replica announces itself - bootstrap progress, ACTIVE, gone
//   after DELETING - ordered among steps of the same add or removal only.
// So a removal acknowledged in one region is undone only by a later add, never by a step of the
// add it removed; concurrent changes to different regions' entries all survive.
struct ReplicaMembership {
  Stamp changed;
  Stamp step;
  bool operator==(const ReplicaMembership& o) const {
    return changed == o.changed && step == o.step;
  }
};

struct TableSpec {
  std::string name;
  KeyDef hash_key;
  std::optional<KeyDef> range_key;
  // Regions holding a replica, sorted. A regional table lists only its own region.
  std::vector<std::string> replicas;
  // Identifies this incarnation of the table: when and where CreateTable ran. A table deleted
  // and created again under the same name is a different incarnation.
  Stamp created;
  // Replicas that are not ACTIVE, by region: "CREATING" (being bootstrapped from a snapshot) or
  // "DELETING" (being removed). Every region listed here is also in `replicas`.
  std::map<std::string, std::string> replica_status;
  // When each region last began serving as the snapshot source of a new replica (microseconds,
  // its clock): AWS refuses to delete such a replica for 24 hours (kSourceHoldUs). Part of the
  // replica set: it travels and merges with `replicas`.
  std::map<std::string, int64_t> sourced_at_us;
  // ReplicaStatusPercentProgress of CREATING replicas as each last announced it (in 10 % steps),
  // so that every replica's DescribeTable shows it. Part of the replica set, like the above.
  std::map<std::string, int> replica_progress;
  // The stamp of the newest change anywhere in the definition made by a replica-set or
  // lifecycle change or a re-announcement (each logs the definition with a new `updated`).
  // Empty until the first such change (the definition then dates from `created`).
  Stamp updated;
  // Per region ever listed, what orders its entry in the replica set (see MergeTableSpecs): a
  // region without an entry that is listed in `replicas` dates from `created`. Entries stay
  // when a replica is removed (tombstones, at most one per region of the cluster), so an older
  // record can never bring a removed replica back.
  std::map<std::string, ReplicaMembership> membership;
  BillingSetting billing;
  SseSetting sse;
  TtlSetting ttl;
  StreamSetting stream;
  WarmSetting warm;
  OnDemandSetting on_demand;
  std::map<std::string, ReplicaSettings> replica_settings;  // by region
  std::map<std::string, GsiSetting> gsis;                   // by index name, deleted too

  bool HasReplica(const std::string& region) const;
  // "ACTIVE", "CREATING" or "DELETING"; "" when `region` holds no replica.
  std::string ReplicaStatus(const std::string& region) const;
  // A replica every origin sends the table's changes to: listed and ACTIVE. (A CREATING
  // replica asks for them itself once its snapshot cut is known, see ReplicatorCore::ReadFor;
  // a DELETING one gets none.)
  bool Receives(const std::string& region) const;
  // DynamoDB's TableStatus: UPDATING while a replica is being added or removed, else ACTIVE.
  std::string TableStatus() const;
  // The stamp the definition was last changed with (`updated`, else `created`).
  const Stamp& Version() const { return updated.empty() ? created : updated; }
  // `region`'s entry in `membership`; for a listed region without one, {created, {}}; for an
  // unlisted region without one, empty stamps (older than any change).
  ReplicaMembership MembershipOf(const std::string& region) const;
  // Sets `region`'s replica status ("ACTIVE", "CREATING", "DELETING"; "" removes it from the
  // replica set, with its progress). Does not touch `membership`.
  void SetReplicaStatus(const std::string& region, const std::string& status);
};

// What a replica holds after receiving `incoming` while holding `local` (same incarnation).
// Every part converges on its own by last-writer-wins, so the result is the same whatever order
// definitions arrive in (commutative, associative, idempotent; tests/table_spec_test.cc):
// - each region's entry in the replica set (listed or not, status, progress) from the side
//   whose ReplicaMembership for it is newer: the later `changed`, else the later `step`;
// - `sourced_at_us` per region: the later; `updated`: the later;
// - each setting (and each replica's settings, each GSI) from the side with the newer stamp.
TableSpec MergeTableSpecs(const TableSpec& local, const TableSpec& incoming);
bool SameDefinition(const TableSpec& a, const TableSpec& b);  // by encoding
// Whether the two hold the same definition apart from `updated` (the stamp of the record that
// carried it): a region that holds more than a record it received re-announces what it holds.
bool SameContent(const TableSpec& a, const TableSpec& b);
// The newest stamp anywhere in the definition (creation, replica set, every setting), in
// microseconds: what the clock bound checks on a replicated definition.
int64_t NewestStampUs(const TableSpec& spec);

std::string EncodeTableSpec(const TableSpec& spec);
absl::StatusOr<TableSpec> DecodeTableSpec(const std::string& text);

// The view type of a table's stream: its StreamSpecification's, or NEW_AND_OLD_IMAGES (what
// gtsim's change log always serves) for a table whose stream was never enabled explicitly.
std::string StreamViewTypeOf(const TableSpec& spec);

// The warm throughput of the table (or of index `g`) as DescribeTable shows it: what UpdateTable
// raised it to, never below DynamoDB's starting values - 12,000 read and 4,000 write units per
// second on demand, a PROVISIONED table's capacity.
struct WarmUnits {
  int64_t read = 0;
  int64_t write = 0;
};
WarmUnits TableWarmThroughput(const TableSpec& spec);
// Whether the table's reads / writes are metered: PROVISIONED capacity, or a PAY_PER_REQUEST
// table's OnDemandThroughput maximum (see TableEngine::ConsumeReadCapacity).
bool ReadsMetered(const TableSpec& spec);
bool WritesMetered(const TableSpec& spec);
WarmUnits IndexWarmThroughput(const TableSpec& spec, const GsiSetting& g);

// The stream setting after UpdateTable sets StreamEnabled to `enabled` (with `view`) at `stamp`
// on a table whose setting is `before` and which was created at `created_us`. Enabling a stream
// that was disabled begins a new stream: the old one joins `past`, and the new one's since_us is
// `stamp` - the caller makes sure its millisecond (the stream label's precision) is later than
// the old stream's (see StreamLabelUs).
StreamSetting NextStreamSetting(const StreamSetting& before, bool enabled, const std::string& view,
                                const Stamp& stamp);
// When the current stream began, in microseconds: its since_us, else the table's creation.
int64_t StreamLabelUs(const TableSpec& spec);

// Parses "name:S" / "name:N" / "name:B" as a key definition.
absl::StatusOr<KeyDef> ParseKeyDef(const std::string& text);

}  // namespace gtsim
