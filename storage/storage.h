// A region's durable state: the table definitions, every item version (live items and delete
// tombstones, each with its LWW stamp), the global secondary index entries, the ordered change
// log, the per-origin replication cursors and the bootstraps in progress. Callers group writes
// into transactions with Begin/Commit, so an item, its change-log row and a cursor move commit
// together or not at all.
//
// Two implementations keep this contract; tests/storage_test.cc runs the same cases on both:
// - SqliteStorage (storage/sqlite_storage.h), opened by Storage::Open: one SQLite database (WAL,
//   synchronous=NORMAL: a committed transaction survives kill -9 of the process). Regions run on
//   it.
// - MemoryStorage (storage/memory_storage.h): ordinary containers on a MemoryDisk that outlives
//   it (a simulated crash keeps every committed write). The deterministic simulator runs on it.
//
// This type is thread-compatible, but not thread-safe: the Region owns it and serialises access.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "model/change.h"
#include "model/snapshot.h"
#include "model/table_spec.h"

namespace gtsim {

// When a commit is on disk (gtsim-region --durability), for SqliteStorage.
enum class Durability {
  // WAL with synchronous=NORMAL: a committed transaction survives kill -9 of the process and a
  // crash of gtsim; after a power loss or kernel crash the last commits before it can be gone
  // (they were in the OS page cache; the database stays consistent). The default.
  kProcess,
  // WAL with synchronous=FULL: each commit fsyncs the WAL before it is acknowledged, so it also
  // survives a power loss (docs/BENCHMARKS.md has the cost).
  kFsync,
};

// What a region's database takes on disk.
struct DiskUse {
  int64_t database_bytes = 0;  // region.db
  int64_t wal_bytes = 0;       // region.db-wal
  int64_t log_positions = 0;   // change-log positions held: head_seq() - trimmed_through()
};

struct StorageOptions {
  Durability durability = Durability::kProcess;
};

class Storage {
 public:
  // Opens (creating if missing) the SQLite database of `region` at `path` (a SqliteStorage);
  // ":memory:" for a private in-memory database, or a SQLite URI such as
  // "file:x?mode=memory&cache=shared". Fails with FailedPrecondition when the file is not a
  // gtsim database or belongs to another region, and DataLoss when SQLite finds it corrupt.
  static absl::StatusOr<std::unique_ptr<Storage>> Open(const std::string& path,
                                                       const std::string& region,
                                                       StorageOptions options = {});
  Storage() = default;
  // Closing with a transaction open rolls it back (as a crash would).
  virtual ~Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Moves WAL checkpoints - the only fsyncs under synchronous=NORMAL - off the commit path: a
  // second connection checkpoints every `interval` on its own thread (stopped by the
  // destructor), and commits no longer checkpoint. For file databases; call at most once.
  // MemoryStorage has no WAL: OK, nothing happens.
  virtual absl::Status StartBackgroundCheckpoints(const std::string& path,
                                                  absl::Duration interval) = 0;

  // Copies the WAL into the database file from this connection, outside any transaction (the
  // writer itself checkpoints completely, so the next commit restarts a short WAL), once the
  // WAL holds more than `max_wal_pages` pages. For bulk loads that would outrun the background
  // checkpointer: it bounds the WAL while costing one fsync per `max_wal_pages` pages rather
  // than one per transaction. Errors are not fatal: the WAL is only longer. MemoryStorage:
  // nothing happens.
  virtual void CheckpointIfWalOver(int64_t max_wal_pages) = 0;

  // Reads the whole file and checks its structure (SQLite's PRAGMA quick_check: time
  // proportional to the file's size). DataLoss naming what is damaged, or OK. MemoryStorage:
  // OK.
  virtual absl::Status CheckIntegrity() { return absl::OkStatus(); }
  // OK, or the DataLoss error of the first corruption met while running. From then on Begin
  // refuses with it: writes stop instead of going on into a damaged file (reads that miss the
  // damaged pages still answer).
  virtual absl::Status health() const { return absl::OkStatus(); }

  // One transaction at a time (BEGIN IMMEDIATE). Rollback is harmless when none is open.
  // Writes made outside a transaction commit one by one.
  virtual absl::Status Begin() = 0;
  virtual absl::Status Commit() = 0;
  virtual void Rollback() = 0;

  // One savepoint at a time inside an open transaction, so that one write of a group commit can
  // be undone without touching the others: Savepoint(), then either ReleaseSavepoint() (keep
  // what was written since) or RollbackToSavepoint() (undo it, head_seq() included). Both end
  // the savepoint. An error from any of them leaves the transaction to be rolled back.
  virtual absl::Status Savepoint() = 0;
  virtual absl::Status ReleaseSavepoint() = 0;
  virtual absl::Status RollbackToSavepoint() = 0;

  // Tables. A deleted table keeps its row (deleted = true) so late changes for it are dropped.
  struct TableRow {
    int64_t id = 0;
    TableSpec spec;
    bool deleted = false;
  };
  // Ordered by name.
  virtual absl::StatusOr<std::vector<TableRow>> LoadTables() = 0;
  // Inserts or replaces the row for spec.name; returns its id (stable per name; a new name gets
  // one more than the largest id so far).
  virtual absl::StatusOr<int64_t> PutTable(const TableSpec& spec, bool deleted) = 0;

  // Items. `item` empty means a tombstone: the item was deleted by the write `stamp`.
  struct ItemVersion {
    std::optional<std::string> item;  // EncodeItem() bytes
    Stamp stamp;
  };
  virtual absl::StatusOr<std::optional<ItemVersion>> GetItem(int64_t table_id,
                                                             const std::string& hk,
                                                             const std::string& rk) = 0;
  // Taken by value: a caller done with `version` moves it in.
  virtual absl::Status PutItem(int64_t table_id, const std::string& hk, const std::string& rk,
                               ItemVersion version) = 0;
  virtual absl::Status DeleteAllItems(int64_t table_id) = 0;  // index entries, marks, horizon too
  // Tombstone trimming (bounded disk). Each table has a tombstone horizon H, a timestamp (0 at
  // first; DeleteAllItems resets it): tombstones stamped before H may be gone. So that a write
  // a trimmed tombstone would have beaten still loses, GetItem answers for an absent key with a
  // tombstone stamped (H, "") when H > 0 (PutVersionsIfNewer, which loads another replica's
  // rows, compares with stored rows only). Raising H is the caller's promise that no write
  // stamped before H can still arrive unless it was applied here before (Region::TrimTombstones
  // says why that holds).
  virtual int64_t TombstoneHorizon(int64_t table_id) const = 0;
  // Raises the table's horizon to `horizon` (never lowers it; `limit` 0 only raises it), then
  // deletes at most `limit` tombstones stamped before it; returns how many were deleted.
  virtual absl::StatusOr<int64_t> TrimTombstones(int64_t table_id, int64_t horizon, int limit) = 0;
  // A table's live items (tombstones not counted) and the bytes of their encodings, exact and
  // read in constant time: every item write updates them in its own transaction (a rollback
  // undoes both), so DescribeTable and `gtsim status`, which poll them, never count a table
  // while the region is locked (a full count of 16 x 50,000 items stalled every write for
  // seconds). Zero for an unknown table.
  struct ItemStats {
    int64_t items = 0;
    int64_t bytes = 0;
  };
  virtual absl::StatusOr<ItemStats> ItemStatsOf(int64_t table_id) = 0;
  absl::StatusOr<int64_t> CountItems(int64_t table_id) {
    absl::StatusOr<ItemStats> s = ItemStatsOf(table_id);
    if (!s.ok()) return s.status();
    return s->items;
  }

  // Range-key bounds for Query; an absent bound is open.
  struct RangeBounds {
    std::optional<std::string> lower;
    bool lower_inclusive = true;
    std::optional<std::string> upper;
    bool upper_inclusive = true;
  };
  // Keys order byte-wise (memcmp, then the shorter first), as SQLite orders BLOBs.
  // Live items of one partition in range-key order, at most `limit` (0: all).
  virtual absl::StatusOr<std::vector<std::string>> QueryItems(int64_t table_id,
                                                              const std::string& hk,
                                                              const RangeBounds& bounds,
                                                              bool backward, int limit) = 0;
  // Live items in (hk, rk) order after the given position (or from the start), at most `limit`
  // (0: all).
  virtual absl::StatusOr<std::vector<std::string>> ScanItems(
      int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after,
      int limit) = 0;
  // Every version row (tombstones too), in key order: for convergence checks.
  struct VersionRow {
    std::string hk, rk;
    ItemVersion version;
  };
  virtual absl::StatusOr<std::vector<VersionRow>> DumpVersions(int64_t table_id) = 0;

  // Global secondary indexes. Storage keeps each registered index's entries in step with every
  // item write (PutItem, PutVersionsIfNewer, DeleteAllItems): an item with the index's key
  // attributes, of the right types, has one entry. Registration is in memory (the engine
  // registers from the table definitions at load); entries and backfill marks are durable.
  // A write to a table with no registered index leaves the table's entries as they are.
  struct IndexDef {
    std::string name;
    KeyDef hash_key;
    std::optional<KeyDef> range_key;
  };
  virtual void SetIndexes(int64_t table_id, std::vector<IndexDef> indexes) = 0;
  // Adds entries for existing items after `after`, at most `limit` (> 0) version rows; returns
  // the position to continue from, or nullopt when the whole table is done.
  virtual absl::StatusOr<std::optional<std::pair<std::string, std::string>>> BackfillIndex(
      int64_t table_id, const IndexDef& index,
      const std::optional<std::pair<std::string, std::string>>& after, int limit) = 0;
  virtual absl::Status DropIndex(int64_t table_id,
                                 const std::string& index) = 0;  // entries and mark
  virtual absl::Status MarkBackfilled(int64_t table_id, const std::string& index) = 0;
  // Per index of the table (global and local), the entries it holds and the bytes of the stored
  // encodings of their items (DescribeTable's index ItemCount and IndexSizeBytes), kept exact as
  // ItemStatsOf's are: every entry written or removed updates them in its own transaction, each
  // entry counting its item's size when the entry was written. Indexes without entries are
  // absent. Read in time proportional to the number of indexes, never to their entries.
  virtual absl::StatusOr<std::map<std::string, ItemStats>> IndexStatsOf(int64_t table_id) = 0;
  virtual absl::StatusOr<bool> IsBackfilled(int64_t table_id, const std::string& index) = 0;
  // A position in an index partition: the entry's index range key (empty when the index has
  // none) and its item's table key, all encoded (see key_codec.h).
  struct IndexPosition {
    std::string grk, hk, rk;
  };
  // Live items whose index hash key encodes to `ghk`, index range key within `bounds`, in
  // (index range key, table key) order - all three descending when `backward` - strictly after
  // `after` in that order when given, at most `limit` (0: all).
  virtual absl::StatusOr<std::vector<std::string>> QueryIndex(
      int64_t table_id, const std::string& index, const std::string& ghk, const RangeBounds& bounds,
      bool backward, int limit, const std::optional<IndexPosition>& after = std::nullopt) = 0;

  // Snapshots (replica bootstrap). Version rows (tombstones too) in (hk, rk) order after
  // `after` (or from the start), at most `limit`, stopping early once `max_bytes` of items.
  virtual absl::StatusOr<std::vector<SnapshotRow>> ScanVersions(
      int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after, int limit,
      int64_t max_bytes) = 0;
  virtual absl::StatusOr<int64_t> CountVersions(int64_t table_id) = 0;  // tombstones too
  // Writes each row unless the stored version is at least as new (LWW); no change-log rows.
  virtual absl::Status PutVersionsIfNewer(int64_t table_id,
                                          const std::vector<SnapshotRow>& rows) = 0;
  // Bootstraps in progress at this (new) replica, by table name.
  virtual absl::StatusOr<std::map<std::string, BootstrapState>> LoadBootstraps() = 0;
  virtual absl::Status PutBootstrap(const BootstrapState& state) = 0;
  virtual absl::Status DeleteBootstrap(const std::string& table) = 0;

  // The change log. Sequences are dense, increasing and never reused.
  // `applied_true_us` is the local true time at commit. `change` is taken by value (a caller
  // done with it moves it in); its seq is ignored, and service_delete is kept for local changes
  // only.
  virtual absl::StatusOr<int64_t> AppendChange(Change change, bool is_local,
                                               int64_t applied_true_us) = 0;
  // Changes that originated in this region with seq > after_seq, oldest first, at most `limit`
  // (0: all).
  virtual absl::StatusOr<std::vector<Change>> ReadLocalChanges(int64_t after_seq, int limit) = 0;
  // The same rows, but only those `keep` accepts are decoded in full (without old_image); the
  // others come back with their header only (seq, kind, table, incarnation, stamp, and spec for
  // table operations), so a caller filtering a long log does not pay for their item images.
  using ChangeFilter = std::function<bool(const Change& header)>;
  virtual absl::StatusOr<std::vector<Change>> ReadLocalChanges(int64_t after_seq, int limit,
                                                               const ChangeFilter& keep) = 0;
  // Every change (local and replicated) with seq > after_seq, oldest first.
  virtual absl::StatusOr<std::vector<Change>> ReadChanges(int64_t after_seq, int limit) = 0;
  virtual int64_t head_seq() const = 0;
  // Bounded disk: deletes change-log rows, oldest first and at most `limit`, with
  // seq < `below_seq` that committed here before `before_true_us`, except the newest
  // local-origin row below `below_seq` (a subscriber resubscribing there is checked against its
  // stamp, LocalTimestampThrough). The head row is never deleted (head_seq() survives a
  // restart). Returns how many were deleted. MemoryStorage (the simulator's short runs) trims
  // nothing and returns 0.
  virtual absl::StatusOr<int64_t> TrimChangeLog(int64_t below_seq, int64_t before_true_us,
                                                int limit) = 0;
  // Point-in-time recovery: the first log position committed here after `true_us` (this
  // region's true clock, as AppendChange's applied_true_us), or head_seq() + 1 when none is.
  // Reads back from the head, so a recent time costs little.
  virtual absl::StatusOr<int64_t> FirstSeqAppliedAfter(int64_t true_us) = 0;
  // The largest position trimmed so far (0: none). Positions at or before it may be gone: a
  // subscriber can be served only from a position at or past it.
  virtual int64_t trimmed_through() const = 0;
  virtual absl::StatusOr<DiskUse> disk_use() = 0;
  // Local-origin changes with seq > after_seq whose table is one of `tables`.
  virtual absl::StatusOr<int64_t> CountLocalChanges(int64_t after_seq,
                                                    const std::vector<std::string>& tables) = 0;

  // The LWW timestamp of the newest local-origin change (0 when none).
  virtual absl::StatusOr<int64_t> LastLocalTimestamp() = 0;

  // Origin side: per peer, the last position it acknowledged (kept so PendingReplicationCount
  // survives a restart of this region).
  virtual absl::StatusOr<std::map<std::string, int64_t>> LoadPeerAcks() = 0;
  virtual absl::Status SetPeerAck(const std::string& peer, int64_t acked_seq) = 0;

  // Replication cursors: per origin region, the last origin sequence durably applied here.
  virtual absl::StatusOr<std::map<std::string, int64_t>> LoadCursors() = 0;
  virtual absl::Status SetCursor(const std::string& origin, int64_t applied_seq) = 0;
  // This database's change-log id (random, drawn when the database is created; never 0), and,
  // per origin, the id of the origin log its cursor counts in (absent: not known yet).
  virtual int64_t log_id() const = 0;
  virtual absl::StatusOr<std::map<std::string, int64_t>> LoadCursorLogIds() = 0;
  virtual absl::Status SetCursorLogId(const std::string& origin, int64_t log_id) = 0;

  // Log rollback (a lost or truncated WAL, a power loss): a subscriber remembers, with its
  // cursor, the LWW timestamp of the origin's newest local change at or before the cursor; the
  // origin compares it with what its own log holds there, so a log that lost its tail - and may
  // since have reused those positions for new writes - is found out instead of silently skipped.
  // The LWW timestamp of the newest local-origin change with seq <= `seq` (0 when none).
  virtual absl::StatusOr<int64_t> LocalTimestampThrough(int64_t seq) = 0;
  // The largest LWW timestamp <= `ts` among local-origin changes (0 when none). Reads the whole
  // local log: for the rare repair after a rollback only.
  virtual absl::StatusOr<int64_t> NewestLocalTimestampAtOrBefore(int64_t ts) = 0;
  // Per origin, the timestamp a subscriber's cursor was checked against (see above).
  virtual absl::StatusOr<std::map<std::string, int64_t>> LoadCursorStamps() = 0;
  virtual absl::Status SetCursorStamp(const std::string& origin, int64_t ts_us) = 0;
  // Draws a new change-log id (durable at once; call outside a transaction). The log goes on at
  // head_seq() + 1, but a peer that sees the new id re-reads the log from its start (what it
  // holds of it: trimmed_through() goes back to 0).
  virtual absl::StatusOr<int64_t> RenewLogId() = 0;
  // Whether Open found no gtsim database and created a new one (a missing, empty or zero-byte
  // file, or a new memory disk).
  virtual bool created_new() const = 0;
  // Small durable facts by key (e.g. a repair still to do). Outside a transaction only.
  virtual absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& key) = 0;
  virtual absl::Status PutMeta(const std::string& key, const std::optional<std::string>& value) = 0;

 protected:
  // The entry `index` has for `item`: its encoded index hash key and index range key (empty
  // when the index has none); nullopt when the item lacks one of the index's key attributes or
  // has it with another type (such an item is not in the index).
  static std::optional<std::pair<std::string, std::string>> IndexKeyOf(const IndexDef& index,
                                                                       const Item& item);
  // A new database's change-log id: random, positive, never 0.
  static int64_t NewLogId();
};

}  // namespace gtsim
