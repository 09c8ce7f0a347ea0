// The table engine of one region: the table catalog, local reads and writes with conditions,
// and the application of replicated changes with item-level last-writer-wins.
//
// Every write runs inside a transaction the caller opened on the Storage (Region does this), so
// an item version and its change-log row commit together. Local writes are stamped from the
// region's clock; conditions are evaluated against this region's copy only, as in DynamoDB.
//
// This type is thread-compatible, but not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "model/attribute_value.h"
#include "model/change.h"
#include "model/clock.h"
#include "model/snapshot.h"
#include "model/table_spec.h"
#include "storage/storage.h"

namespace gtsim {

struct Condition {
  enum class Op { kExists, kNotExists, kEquals };
  struct Clause {
    std::string attribute;
    Op op = Op::kExists;
    AttributeValue value;  // for kEquals
  };
  std::vector<Clause> clauses;  // all must hold
};

struct WriteResult {
  Stamp stamp;  // the stamp given to this write
  // Set when this region already held a newer version (its clock is behind that version's):
  // the write is acknowledged but LWW discards it at once. No change is logged or replicated.
  std::optional<Stamp> superseded_by;
  std::optional<Item> old_item;  // when asked for and an item existed
  std::optional<Item> new_item;  // the item as written (put, update)
  // DynamoDB's write units of this write (TableEngine::WriteUnits of the larger of the item
  // before and after), and of each secondary index it wrote (by index name), as metered.
  int64_t write_units = 0;
  std::map<std::string, int64_t> index_write_units;
};

struct PutRequest {
  std::string table;
  Item item;
  Condition condition;
  bool return_old = false;
};
struct UpdateRequest {
  std::string table;
  Item key;
  Item set;  // attributes to set (top level)
  std::vector<std::string> remove;
  Condition condition;
};
struct DeleteRequest {
  std::string table;
  Item key;
  Condition condition;
  bool return_old = false;
};
struct GetResult {
  std::optional<Item> item;  // empty when absent or deleted
  Stamp stamp;               // version stamp when present
};

struct RangeCondition {
  enum class Op { kNone, kEq, kLt, kLe, kGt, kGe, kBetween, kBeginsWith };
  Op op = Op::kNone;
  AttributeValue value;
  AttributeValue value2;  // upper bound for kBetween
};
struct QueryRequest {
  std::string table;
  AttributeValue hash_value;
  RangeCondition range;
  bool backward = false;
  int limit = 0;  // 0: no limit
  Item exclusive_start_key;
  // A global secondary index to query instead of the table: hash_value and range then apply
  // to the index's keys, items come in index order (index range key, then table key) with the
  // index's projection. A full page's last_evaluated_key then holds the index's key attributes
  // and the table's (as DynamoDB's LastEvaluatedKey of a GSI query), and exclusive_start_key
  // must be such a key. With or without an index, an exclusive_start_key whose range key does
  // not satisfy `range` is InvalidArgument.
  std::string index;
};
struct ScanRequest {
  std::string table;
  int limit = 0;
  Item exclusive_start_key;
};
struct Page {
  std::vector<Item> items;
  Item last_evaluated_key;  // empty on the last page
};

struct CreateTableRequest {
  std::string table;
  KeyDef hash_key;
  std::optional<KeyDef> range_key;
  std::vector<std::string> replicas;  // empty: this region only
};
// UpdateTable's ReplicaUpdates: add (kCreate) or remove (kDelete) one region's replica.
struct ReplicaUpdate {
  enum class Action { kCreate, kDelete };
  Action action = Action::kCreate;
  std::string region;
};
// UpdateTable. As in DynamoDB, a request with ReplicaUpdates holds exactly one of them and
// changes nothing else. Unset fields stay as they are.
struct UpdateTableRequest {
  std::string table;
  std::vector<ReplicaUpdate> replica_updates;
  // Group-wide settings (see table_spec.h), propagated to every replica.
  std::optional<std::string> billing_mode;  // PAY_PER_REQUEST or PROVISIONED
  std::optional<int64_t> read_capacity;     // PROVISIONED
  std::optional<int64_t> write_capacity;    // PROVISIONED; enforced on local writes
  std::optional<std::string> sse_type;      // AES256 or KMS
  std::optional<bool> ttl_enabled;
  std::optional<std::string> ttl_attribute;  // with ttl_enabled = true
  std::optional<bool> stream_enabled;
  std::optional<std::string> stream_view_type;  // with stream_enabled = true
  // WarmThroughput: raised only (a lower value than the table's current one is InvalidArgument).
  std::optional<int64_t> warm_read;
  std::optional<int64_t> warm_write;
  // OnDemandThroughput of a PAY_PER_REQUEST table: at least 1, or -1 for no limit.
  std::optional<int64_t> max_read;
  std::optional<int64_t> max_write;
  // Settings of one replica only: this region's, or `replica_region`'s when set (DynamoDB's
  // ReplicaUpdates Update, made in one region for another replica; the change reaches that
  // replica with the table definition).
  std::string replica_region;
  std::optional<bool> deletion_protection;
  std::optional<std::string> kms_key;
  std::optional<std::string> table_class;  // STANDARD or STANDARD_INFREQUENT_ACCESS
  std::optional<int64_t> read_capacity_override;
  std::optional<bool> point_in_time_recovery;
  // The replica's tags: `tags_set` added or overwritten, then `tags_remove` removed. At most
  // kMaxTagsPerReplica remain (InvalidArgument, DynamoDB's message, otherwise).
  std::map<std::string, std::string> tags_set;
  std::vector<std::string> tags_remove;
  // One global secondary index to create (group-wide; each replica backfills it) or delete.
  std::optional<std::pair<std::string, GsiSetting>> create_gsi;  // name, definition
  std::optional<std::string> delete_gsi;
  // A GlobalSecondaryIndexUpdates Update of one live global index: its WarmThroughput (raised
  // only) and OnDemandThroughput, as the table's above.
  struct IndexThroughput {
    std::string index;
    std::optional<int64_t> warm_read, warm_write, max_read, max_write;
  };
  std::optional<IndexThroughput> update_gsi;

  bool HasSettings() const;
};
// Point-in-time recovery (RestoreTableToPointInTime), see engine/table_restore.cc.
struct RestoreRequest {
  std::string source;
  std::string target;
  // The point in time, in microseconds of this region's clock (the Clock handed to the engine:
  // the host's clock in a region process), or the latest restorable time (now) when `latest`.
  int64_t restore_us = 0;
  bool latest = false;
  // Overrides of what the restored table copies from the source's current definition (keys,
  // GSIs, LSIs, billing mode and capacity, encryption); unset: as the source.
  std::optional<std::string> billing_mode;  // PAY_PER_REQUEST or PROVISIONED
  std::optional<int64_t> read_capacity;     // PROVISIONED
  std::optional<int64_t> write_capacity;
  std::optional<std::string> sse_type;  // "" (DynamoDB-owned key), AES256 or KMS
  std::optional<std::string> kms_key;   // with sse_type KMS
  // The source's indexes to keep (by name; unknown names are InvalidArgument); unset: all.
  std::optional<std::vector<std::string>> gsis;
  std::optional<std::vector<std::string>> lsis;
};
// DynamoDB's RestoreSummary of a restored table (durable: shown for the table's lifetime).
struct RestoreSummary {
  std::string source_table;
  int64_t restore_us = 0;  // the point in time restored (this region's clock)
  bool in_progress = false;
};
// What point in time a table can be restored to: [earliest_us, latest_us].
struct RestoreWindow {
  int64_t earliest_us = 0;
  int64_t latest_us = 0;
};

struct TableInfo {
  TableSpec spec;
  // Live items in this replica and the bytes of their stored encodings (DynamoDB's ItemCount
  // and TableSizeBytes): exact as of the last commit, read in constant time.
  int64_t item_count = 0;
  int64_t item_bytes = 0;
  // ReplicaStatusPercentProgress of CREATING replicas, where this region knows it (the new
  // replica itself, and the source serving its snapshot).
  std::map<std::string, int> replica_progress;
  // IndexStatus of each live GSI in this replica: CREATING while it backfills, then ACTIVE.
  std::map<std::string, std::string> index_status;
  // Set on a table made by RestoreTableToPointInTime (DescribeTable only).
  std::optional<RestoreSummary> restore;
  // Per index (global and local) with entries, its ItemCount and IndexSizeBytes, exact as the
  // table's (Storage::IndexStatsOf; DescribeTable only).
  std::map<std::string, Storage::ItemStats> index_stats;
};

// How one replicated change fared.
enum class ApplyOutcome {
  kApplied,       // the change won LWW (or is a table operation) and was logged
  kLostToNewer,   // the stored version was newer: dropped, as LWW does
  kTableGone,     // its table incarnation was deleted or replaced: dropped
  kWaitForTable,  // its table has not been created here yet: retry later
};

class TableEngine {
 public:
  // DynamoDB's limit of tags per resource.
  static constexpr size_t kMaxTagsPerReplica = 50;
  // `regions` is every region of the cluster (valid replica names).
  TableEngine(std::string region, std::vector<std::string> regions, Storage* storage, Clock* clock);

  // Loads the catalog and the last stamp from storage. Call once before anything else, and
  // again after a rolled-back transaction.
  absl::Status Load();

  const std::string& region() const { return region_; }
  void set_clock_skew_us(int64_t skew) { skew_us_ = skew; }
  int64_t clock_skew_us() const { return skew_us_; }
  // The newest stamp this engine has given or adopted (0: none yet).
  int64_t last_stamp_us() const { return last_stamp_us_; }
  // Every local change from now on is stamped at or after this (ChangeBatch::stamp_floor).
  int64_t StampFloor();
  // Tombstone trimming, one step of at most `max_rows`: raises every table's tombstone horizon
  // to `horizon` and drops the tombstones stamped before it (Storage::TrimTombstones) - except
  // tables being bootstrapped or restored here, and tables some replica of which is not ACTIVE
  // in this definition (this region may be serving it a snapshot). Returns tombstones dropped.
  absl::StatusOr<int64_t> TrimTombstones(int64_t horizon, int max_rows);
  int64_t TombstoneHorizon(const std::string& table) const;  // 0 for an unknown table

  // Control plane.
  absl::StatusOr<TableInfo> CreateTable(const CreateTableRequest& req);
  absl::StatusOr<TableInfo> DescribeTable(const std::string& table);
  std::vector<std::string> ListTables() const;
  // Deletes this region's replica: a regional table is deleted (and the deletion replicated);
  // for a global table only this replica goes, as a replica removal (the others keep the table
  // and stop streaming here; one left is regional again). FailedPrecondition when this replica
  // has deletion protection, or ("ResourceInUseException: ...") while a replica is added or
  // removed.
  absl::StatusOr<TableInfo> DeleteTable(const std::string& table);
  // Live tables, with their specs.
  std::vector<TableSpec> Tables() const;
  // A table's spec even if deleted; nullopt when never seen.
  std::optional<TableSpec> FindSpec(const std::string& table) const;
  // The same without a copy; valid until the next change to the catalog.
  const TableSpec* SpecOf(const std::string& table) const;
  // Adds or removes a replica, or changes settings (see UpdateTableRequest). Validation errors
  // are InvalidArgument (adding the local or an unknown region, more than one replica update,
  // ReplicaUpdates with other changes, a PROVISIONED table gaining a replica, bad values); a
  // table that is not ACTIVE (another add or remove in flight: DynamoDB's
  // ResourceInUseException) or removing a replica with deletion protection is
  // FailedPrecondition. Logs an UPDATE_TABLE control record: the new replica bootstraps when it
  // receives it; the other replicas take the settings by LWW.
  absl::StatusOr<TableInfo> UpdateTable(const UpdateTableRequest& req);

  // TTL: deletes up to about `max_rows` scanned items whose TTL attribute (a number, epoch
  // seconds) is at or before this region's clock, in tables with TTL enabled, continuing where
  // the previous call stopped. The deletes are ordinary local deletes (they replicate as such)
  // and use no write capacity. Returns how many items expired.
  absl::StatusOr<int> ExpireItems(int max_rows);

  // GSIs: backfills up to `max_rows` items of the indexes still CREATING in this replica;
  // an index turns ACTIVE here when its backfill reaches the end. Returns rows examined.
  absl::StatusOr<int> BackfillIndexes(int max_rows);
  bool HasPendingBackfills() const { return !backfill_.empty(); }

  // Whether a local control record was logged since the last call (then clears it): applying
  // replicated changes can log some (TableEngine::LogTableUpdate), and the region must wake
  // its subscribers for them.
  bool TakeLoggedLocal() { return std::exchange(logged_local_, false); }

  // --- replica bootstrap (see model/snapshot.h) ---
  // Source side: up to `limit` version rows after `after`, and the table's version count when
  // `with_total`. FailedPrecondition unless this region holds an ACTIVE replica of that
  // incarnation and `subscriber` is listed as CREATING.
  absl::StatusOr<SnapshotChunk> ReadSnapshotRows(
      const std::string& table, const Stamp& created, const std::string& subscriber,
      const std::optional<std::pair<std::string, std::string>>& after, int limit, bool with_total);
  // New-replica side. Bootstraps this region still has to load (not `loaded`).
  const std::map<std::string, BootstrapState>& bootstraps() const { return bootstraps_; }
  // Loads a chunk's rows with LWW (no change-log rows) and records the progress, `cut` on the
  // first chunk. NotFound / FailedPrecondition when no such bootstrap is in progress.
  absl::Status LoadSnapshotChunk(const SnapshotChunk& chunk);
  // The bootstrap of `table` is complete: this replica becomes ACTIVE and says so to the
  // other replicas with an UPDATE_TABLE record.
  absl::Status FinishBootstrap(const std::string& table);

  // Data plane, local.
  absl::StatusOr<WriteResult> PutItem(const PutRequest& req);
  absl::StatusOr<WriteResult> UpdateItem(const UpdateRequest& req);
  absl::StatusOr<WriteResult> DeleteItem(const DeleteRequest& req);
  absl::StatusOr<GetResult> GetItem(const std::string& table, const Item& key);
  // A read-modify-write of one item against this region's copy, for callers with their own
  // condition and update languages (the DynamoDB endpoint). `fn` gets the current live item
  // (nullopt when absent) and returns the new item (nullopt: delete it) or an error, in which
  // case nothing is written. The new item must keep the key. The result always carries
  // old_item and new_item.
  using Mutation =
      std::function<absl::StatusOr<std::optional<Item>>(const std::optional<Item>& current)>;
  absl::StatusOr<WriteResult> MutateItem(const std::string& table, const Item& key,
                                         const Mutation& fn);
  absl::StatusOr<Page> Query(const QueryRequest& req);
  absl::StatusOr<Page> Scan(const ScanRequest& req);

  // Provisioned read capacity, charged by callers that meter reads (the DynamoDB endpoint) after
  // the read: takes `units` from the table's read bucket in this region, or fails with
  // ResourceExhausted (ProvisionedThroughputExceededException) and takes nothing. The bucket
  // holds one second's worth of the table's read capacity - this replica's read capacity
  // override when it has one - and refills at that rate per second; a read costing more than
  // the whole bucket passes when the bucket is full and leaves it in debt. On-demand tables
  // pass unless they have an OnDemandThroughput MaxReadRequestUnits, which fills the bucket the
  // same way and fails with ResourceExhausted "ThrottlingException: ...". NotFound for a table
  // that does not exist.
  absl::Status ConsumeReadCapacity(const std::string& table, double units);
  // DynamoDB's read units for `bytes` read in one request: one per started 4 KB (at least one),
  // half that for an eventually consistent read.
  static double ReadUnits(int64_t bytes, bool consistent);
  // DynamoDB's write units of writing an item of `bytes`: one per started KB, at least one.
  static int64_t WriteUnits(int64_t bytes);
  // The write units each secondary index of `spec` costs when an item goes from `before` to
  // `after` (nullopt: absent): indexes the write leaves unchanged cost nothing; one whose key
  // changed costs a delete and a put. Sizes are of the projected entries.
  static std::map<std::string, int64_t> IndexWriteUnits(const TableSpec& spec,
                                                        const std::optional<Item>& before,
                                                        const std::optional<Item>& after);

  // Applies one change that originated in another region (LWW for items). Logs applied
  // changes in this region's change log as replicated (not forwarded again). By value: the
  // change becomes the logged one, so a caller that moves it in pays no copy.
  absl::StatusOr<ApplyOutcome> ApplyRemote(Change change);
  // After a log rollback: one of this region's own item writes, lost from its database and
  // sent back by a peer that held it. Written (LWW) and logged again as a local change, with
  // its stamp, when this region lacks it; true if so. Inside the caller's transaction.
  absl::StatusOr<bool> RestoreOwnChange(Change change);

  // --- point-in-time recovery (engine/table_restore.cc) ---
  // A new regional table `req.target` (never a replica, never replicated) that holds exactly
  // what this replica of `req.source` held at the point in time: the state after every change
  // this region committed (local writes, TTL deletes, replicated changes that won LWW) up to
  // and including that time, and none after. Its keys, GSIs, LSIs, billing and encryption are
  // the source's current ones (see RestoreRequest's overrides); streams, TTL, PITR, tags and
  // deletion protection are not copied (DynamoDB's rule). The table starts restoring (its
  // DescribeTable: CREATING, RestoreInProgress); RestoreStep fills it. Errors: NotFound (no
  // source), AlreadyExists (target), FailedPrecondition (PITR off here), OutOfRange (outside
  // RestoreWindowOf), InvalidArgument (overrides). Inside the caller's transaction; call
  // SaveRestores after it commits.
  absl::StatusOr<TableInfo> BeginRestore(const RestoreRequest& req);
  // The window of `table` in this region; nullopt when its PITR is off (or no such table).
  // Earliest: when PITR was turned on, at most 35 days back; latest: now (gtsim's log is exact
  // to the last commit, where DynamoDB lags about five minutes).
  std::optional<RestoreWindow> RestoreWindowOf(const std::string& table);
  bool HasPendingRestores() const;
  // One step of the oldest restore in progress: reads up to `max_rows` log rows or copies up to
  // `max_rows` items. The table turns ACTIVE (indexes ACTIVE too) in the step that completes
  // it. Inside the caller's transaction; call SaveRestores after it commits. Returns rows done.
  absl::StatusOr<int> RestoreStep(int max_rows);
  // After the transaction of BeginRestore or RestoreStep committed: persists restore summaries
  // changed since the last call. Outside a transaction.
  absl::Status SaveRestores();
  // The oldest change-log position a restore in progress still reads (trimming keeps it).
  std::optional<int64_t> OldestRestoreCut() const;

  // The stored version of every item of a table, tombstones included, in key order: used by
  // checkers to compare replicas.
  struct Version {
    std::string hk, rk;  // key encodings (see key_codec.h)
    Stamp stamp;
    std::optional<Item> item;  // empty: a delete tombstone
  };
  absl::StatusOr<std::vector<Version>> DumpTable(const std::string& table);

 private:
  struct TableState {
    int64_t id = 0;
    TableSpec spec;
    bool deleted = false;
  };
  absl::StatusOr<const TableState*> LiveTable(const std::string& table) const;
  // Validates a full key (exactly the key attributes, right types) and returns it encoded.
  absl::Status EncodeKey(const TableState& t, const Item& key, std::string* hk,
                         std::string* rk) const;

 public:
  // Encodes a full key of `spec` (for checkers that hold keys, not encodings).
  static absl::Status EncodeKeyOf(const TableSpec& spec, const Item& key, std::string* hk,
                                  std::string* rk);

 private:
  absl::Status ValidateItem(const TableState& t, const Item& item) const;
  Item KeyOf(const TableState& t, const Item& item) const;
  Stamp NextStamp();
  // The live item of a stored version, decoded (nullopt: absent or a tombstone).
  static absl::StatusOr<std::optional<Item>> LiveItemOf(
      const std::optional<Storage::ItemVersion>& stored);
  // Writes a new version (or tombstone when `item` is empty) of a local write and logs it.
  // `current` is LiveItemOf(stored), which the caller has already decoded for its condition.
  // `service_delete`: a TTL expiry - consumes no capacity, marked in this region's stream only.
  absl::StatusOr<WriteResult> CommitLocalWrite(const TableState& t, const std::string& hk,
                                               const std::string& rk, const Item& key,
                                               const std::optional<Storage::ItemVersion>& stored,
                                               std::optional<Item> current,
                                               std::optional<Item> item,
                                               bool service_delete = false);
  absl::Status CheckCondition(const Condition& cond, const std::optional<Item>& current) const;
  // A table that accepts local writes: live, and this region's replica not CREATING.
  absl::StatusOr<const TableState*> WritableTable(const std::string& table) const;
  // A stamp newer than both the clock's and `after` (a table definition's version must grow
  // even when this region's clock is behind the region that made the previous one).
  Stamp NextStampAfter(const Stamp& after);
  absl::StatusOr<ApplyOutcome> ApplyTableUpdate(const Change& change);
  // Registers the table's live GSIs with storage, drops deleted ones, and queues backfills of
  // indexes this replica has not backfilled yet. Call after any change of t.spec.
  absl::Status SyncIndexes(const TableState& t);
  absl::StatusOr<Page> QueryIndex(const TableState& t, const QueryRequest& req);
  // Where a query of index `g` continues after `start` (a LastEvaluatedKey of a query of the
  // same index partition `hash_value`); InvalidArgument for any other key.
  absl::StatusOr<Storage::IndexPosition> IndexPositionOf(const TableState& t,
                                                         const std::string& index,
                                                         const GsiSetting& g,
                                                         const AttributeValue& hash_value,
                                                         const Item& start) const;

 public:
  // The key attributes of `item` in a query of index `g`: the table's and the index's.
  static Item IndexKeyOf(const TableSpec& spec, const GsiSetting& g, const Item& item);

 private:
  // Storage bounds for a range condition on spec's range key.
  static absl::StatusOr<Storage::RangeBounds> BoundsFor(const TableSpec& spec,
                                                        const RangeCondition& range);
  // Logs `next` as a local UPDATE_TABLE control record stamped `stamp` (and notes it for
  // TakeLoggedLocal).
  absl::Status LogTableUpdate(const TableSpec& next, const Stamp& stamp);
  // Removes `region`, whose replica is still CREATING, from the replica set at once: the add is
  // cancelled and the table is ACTIVE again. The region drops whatever it had loaded when the
  // new definition reaches it (ApplyTableUpdate), however late.
  absl::StatusOr<TableInfo> CancelReplicaAdd(const TableState& t, const std::string& region);
  absl::StatusOr<TableInfo> UpdateReplicas(const TableState& t, const UpdateTableRequest& req);
  absl::StatusOr<TableInfo> UpdateSettings(const TableState& t, const UpdateTableRequest& req);
  // Provisioned write capacity: takes `units` from the table's bucket or fails with
  // ResourceExhausted (ProvisionedThroughputExceededException). The bucket works as the read
  // bucket does (see ConsumeReadCapacity): a write bigger than the whole bucket passes when it
  // is full. On-demand tables pass unless they have an OnDemandThroughput MaxWriteRequestUnits
  // (ResourceExhausted "ThrottlingException: ..." beyond it).
  absl::Status ConsumeWriteCapacity(const TableState& t, int64_t units);
  // Makes this region a CREATING replica of spec's table: an empty table and a bootstrap.
  absl::Status StartBootstrap(const TableSpec& spec);
  // Records a bootstrap of spec's table (held here already) from BootstrapSourceFor(spec).
  absl::Status AddBootstrap(const TableSpec& spec);
  // InvalidArgument when `region`'s replica of `spec` served as the source of a new replica less
  // than 24 hours ago (AWS's rule for deleting a replica); `what` names the refused operation.
  absl::Status CheckNotRecentSource(const TableSpec& spec, const std::string& region,
                                    const std::string& what) const;
  // Drops this region's replica (items and bootstrap) without logging a DELETE_TABLE.
  // kSilently: nothing is logged (the replica set no longer lists this region: a cancelled
  // add). kStep: the last step of a removal that reached this region (it was DELETING); kLeave:
  // this region leaves on its own (DeleteTable of one replica of a global table). Both log the
  // definition without this region so the others finish the removal.
  enum class Drop { kSilently, kStep, kLeave };
  absl::Status DropLocalReplica(TableState& t, Drop how);
  // The region a CREATING replica of `spec` in this region loads its snapshot from: the region
  // that added it while that one is ACTIVE, else the first ACTIVE replica (its source was
  // removed meanwhile, e.g. by a concurrent change), else the adder.
  std::string BootstrapSourceFor(const TableSpec& spec) const;
  // A bootstrap whose source is no longer ACTIVE in `t.spec` starts over from another ACTIVE
  // replica (rows already loaded stay: loading is LWW, and the new snapshot's cut decides
  // which changes are streamed).
  absl::Status RetargetBootstrap(const TableState& t);
  // Logs this region's definition of `t` again under a new `updated`, so regions that sent a
  // definition lacking part of it (they did not know a concurrent replica change or setting)
  // learn it: it reaches every replica it lists.
  absl::Status Reannounce(TableState& t);
  // This region, which no longer holds `t` (deleted), is listed DELETING in its definition:
  // logs the last step of that removal (the region gone), as DropLocalReplica does.
  absl::Status AnnounceGone(TableState& t);
  // Applies, with LWW and without logging, this region's own logged changes to `t` after
  // `after_seq` (a bootstrap's cut of this region's log): see FinishBootstrap.
  absl::Status ReapplyOwnChanges(const TableState& t, int64_t after_seq);

  std::string region_;
  bool logged_local_ = false;         // see TakeLoggedLocal
  std::vector<std::string> regions_;  // sorted
  Storage* storage_;
  Clock* clock_;
  int64_t skew_us_ = 0;
  int64_t last_stamp_us_ = 0;
  std::map<std::string, TableState> tables_;          // by name, deleted ones too
  std::map<std::string, BootstrapState> bootstraps_;  // by table, mirrors storage
  struct Bucket {
    double tokens = 0;
    int64_t refilled_us = 0;
    int64_t capacity = 0;
  };
  // Refills `bucket` for `capacity` units per second and takes `units` (see
  // ConsumeReadCapacity); false when the bucket cannot pay.
  bool TakeTokens(Bucket& bucket, int64_t capacity, double units);
  std::map<std::string, Bucket> write_buckets_;  // PROVISIONED tables, in memory
  std::map<std::string, Bucket> read_buckets_;
  // GSI backfills still running here, by (table, index): where to continue.
  std::map<std::pair<std::string, std::string>, std::optional<std::pair<std::string, std::string>>>
      backfill_;
  // Restores by target table (engine/table_restore.cc); reloaded from storage meta by Load.
  struct RestoreJob;
  std::map<std::string, std::shared_ptr<RestoreJob>> restores_;
  absl::Status LoadRestores();
  // A live table's restore summary, if it was restored.
  std::optional<RestoreSummary> RestoreSummaryOf(const TableState& t) const;
  // `spec` (the definition of the table stored as `table_id`) with the table's and its indexes'
  // item figures as of now (Storage::ItemStatsOf / IndexStatsOf: constant time).
  absl::StatusOr<TableInfo> WithFigures(TableSpec spec, int64_t table_id);
  // Where ExpireItems continues, per table (none: from the start).
  std::map<std::string, std::optional<std::pair<std::string, std::string>>> ttl_cursor_;
};

}  // namespace gtsim
