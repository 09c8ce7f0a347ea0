// A region's durable state in one SQLite database (WAL, synchronous=NORMAL: a committed
// transaction survives kill -9 of the process).
//
// Holds the table definitions, every item version (live items and delete tombstones, each with
// its LWW stamp), the ordered change log, and the per-origin replication cursors. Callers group
// writes into transactions with Begin/Commit, so an item, its change-log row and a cursor move
// commit together or not at all.
//
// This type is thread-compatible, but not thread-safe: the Region owns it and serialises access.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "region/table_spec.h"
#include "replicator/change.h"
#include "replicator/snapshot.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gtsim {

class Storage {
 public:
  // Opens (creating if missing) the database of `region` at `path`; ":memory:" for a private
  // in-memory database, or a SQLite URI such as "file:x?mode=memory&cache=shared" (the
  // simulator keeps such a database alive across a simulated crash). Fails with FailedPrecondition when the file is not a
  // gtsim database or belongs to another region, and DataLoss when SQLite finds it corrupt.
  static absl::StatusOr<std::unique_ptr<Storage>> Open(const std::string& path,
                                                       const std::string& region);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // Moves WAL checkpoints - the only fsyncs under synchronous=NORMAL - off the commit path: a
  // second connection checkpoints every `interval` on its own thread (stopped by the
  // destructor), and commits no longer checkpoint. For file databases; call at most once.
  absl::Status StartBackgroundCheckpoints(const std::string& path, absl::Duration interval);

  // Copies the WAL into the database file from this connection, outside any transaction (the
  // writer itself checkpoints completely, so the next commit restarts a short WAL). For bulk
  // loads that would outrun the background checkpointer. Errors are not fatal: the WAL is only
  // longer.
  void Checkpoint();

  // One transaction at a time (BEGIN IMMEDIATE). Rollback is harmless when none is open.
  absl::Status Begin();
  absl::Status Commit();
  void Rollback();

  // One savepoint at a time inside an open transaction, so that one write of a group commit can
  // be undone without touching the others: Savepoint(), then either ReleaseSavepoint() (keep
  // what was written since) or RollbackToSavepoint() (undo it, head_seq() included). Both end
  // the savepoint. An error from any of them leaves the transaction to be rolled back.
  absl::Status Savepoint();
  absl::Status ReleaseSavepoint();
  absl::Status RollbackToSavepoint();

  // Tables. A deleted table keeps its row (deleted = true) so late changes for it are dropped.
  struct TableRow {
    int64_t id = 0;
    TableSpec spec;
    bool deleted = false;
  };
  absl::StatusOr<std::vector<TableRow>> LoadTables();
  // Inserts or replaces the row for spec.name; returns its id (stable per name).
  absl::StatusOr<int64_t> PutTable(const TableSpec& spec, bool deleted);

  // Items. `item` empty means a tombstone: the item was deleted by the write `stamp`.
  struct ItemVersion {
    std::optional<std::string> item;  // EncodeItem() bytes
    Stamp stamp;
  };
  absl::StatusOr<std::optional<ItemVersion>> GetItem(int64_t table_id, const std::string& hk,
                                                     const std::string& rk);
  absl::Status PutItem(int64_t table_id, const std::string& hk, const std::string& rk,
                       const ItemVersion& version);
  absl::Status DeleteAllItems(int64_t table_id);
  absl::StatusOr<int64_t> CountItems(int64_t table_id);  // live items only

  // Range-key bounds for Query; an absent bound is open.
  struct RangeBounds {
    std::optional<std::string> lower;
    bool lower_inclusive = true;
    std::optional<std::string> upper;
    bool upper_inclusive = true;
  };
  // Live items of one partition in range-key order, at most `limit` (0: all).
  absl::StatusOr<std::vector<std::string>> QueryItems(int64_t table_id, const std::string& hk,
                                                      const RangeBounds& bounds, bool backward,
                                                      int limit);
  // Live items in (hk, rk) order after the given position (or from the start), at most `limit`.
  absl::StatusOr<std::vector<std::string>> ScanItems(
      int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after,
      int limit);
  // Every version row (tombstones too), in key order: for convergence checks.
  struct VersionRow {
    std::string hk, rk;
    ItemVersion version;
  };
  absl::StatusOr<std::vector<VersionRow>> DumpVersions(int64_t table_id);

  // Global secondary indexes. Storage keeps each registered index's entries in step with every
  // item write (PutItem, PutVersionIfNewer, DeleteAllItems): an item with the index's key
  // attributes, of the right types, has one entry. Registration is in memory (the engine
  // registers from the table definitions at load); entries and backfill marks are durable.
  struct IndexDef {
    std::string name;
    KeyDef hash_key;
    std::optional<KeyDef> range_key;
  };
  void SetIndexes(int64_t table_id, std::vector<IndexDef> indexes);
  // Adds entries for existing items after `after`, at most `limit` items; returns the position
  // to continue from, or nullopt when the whole table is done.
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> BackfillIndex(
      int64_t table_id, const IndexDef& index,
      const std::optional<std::pair<std::string, std::string>>& after, int limit);
  absl::Status DropIndex(int64_t table_id, const std::string& index);  // entries and mark
  absl::Status MarkBackfilled(int64_t table_id, const std::string& index);
  absl::StatusOr<bool> IsBackfilled(int64_t table_id, const std::string& index);
  // A position in an index partition: the entry's index range key (empty when the index has
  // none) and its item's table key, all encoded (see key_codec.h).
  struct IndexPosition {
    std::string grk, hk, rk;
  };
  // Live items whose index hash key encodes to `ghk`, index range key within `bounds`, in
  // (index range key, table key) order - all three descending when `backward` - strictly after
  // `after` in that order when given, at most `limit` (0: all).
  absl::StatusOr<std::vector<std::string>> QueryIndex(int64_t table_id, const std::string& index,
                                                      const std::string& ghk,
                                                      const RangeBounds& bounds, bool backward,
                                                      int limit,
                                                      const std::optional<IndexPosition>& after =
                                                          std::nullopt);

  // Snapshots (replica bootstrap). Version rows (tombstones too) in (hk, rk) order after
  // `after` (or from the start), at most `limit`, stopping early once `max_bytes` of items.
  absl::StatusOr<std::vector<SnapshotRow>> ScanVersions(
      int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after,
      int limit, int64_t max_bytes);
  absl::StatusOr<int64_t> CountVersions(int64_t table_id);  // tombstones too
  // Writes `row` unless the stored version is at least as new (LWW); no change-log row.
  absl::Status PutVersionIfNewer(int64_t table_id, const SnapshotRow& row);
  // Bootstraps in progress at this (new) replica, by table name.
  absl::StatusOr<std::map<std::string, BootstrapState>> LoadBootstraps();
  absl::Status PutBootstrap(const BootstrapState& state);
  absl::Status DeleteBootstrap(const std::string& table);

  // The change log. Sequences are dense, increasing and never reused.
  // `applied_true_us` is the local true time at commit.
  absl::StatusOr<int64_t> AppendChange(const Change& change, bool is_local,
                                       int64_t applied_true_us);
  // Changes that originated in this region with seq > after_seq, oldest first.
  absl::StatusOr<std::vector<Change>> ReadLocalChanges(int64_t after_seq, int limit);
  // The same rows, but only those `keep` accepts are decoded in full (without old_image); the
  // others come back with their header only (seq, kind, table, incarnation, stamp, and spec for
  // table operations), so a caller filtering a long log does not pay for their item images.
  using ChangeFilter = std::function<bool(const Change& header)>;
  absl::StatusOr<std::vector<Change>> ReadLocalChanges(int64_t after_seq, int limit,
                                                       const ChangeFilter& keep);
  // Every change (local and replicated) with seq > after_seq, oldest first.
  absl::StatusOr<std::vector<Change>> ReadChanges(int64_t after_seq, int limit);
  int64_t head_seq() const { return head_seq_; }
  // Local-origin changes with seq > after_seq whose table is one of `tables`.
  absl::StatusOr<int64_t> CountLocalChanges(int64_t after_seq,
                                            const std::vector<std::string>& tables);

  // The LWW timestamp of the newest local-origin change (0 when none).
  absl::StatusOr<int64_t> LastLocalTimestamp();

  // Origin side: per peer, the last position it acknowledged (kept so PendingReplicationCount
  // survives a restart of this region).
  absl::StatusOr<std::map<std::string, int64_t>> LoadPeerAcks();
  absl::Status SetPeerAck(const std::string& peer, int64_t acked_seq);

  // Replication cursors: per origin region, the last origin sequence durably applied here.
  absl::StatusOr<std::map<std::string, int64_t>> LoadCursors();
  absl::Status SetCursor(const std::string& origin, int64_t applied_seq);
  // This database's change-log id (random, drawn when the database is created; never 0), and,
  // per origin, the id of the origin log its cursor counts in (absent: not known yet).
  int64_t log_id() const { return log_id_; }
  absl::StatusOr<std::map<std::string, int64_t>> LoadCursorLogIds();
  absl::Status SetCursorLogId(const std::string& origin, int64_t log_id);

 private:
  class Stmt;
  explicit Storage(sqlite3* db, std::string region);
  absl::Status Exec(const std::string& sql);
  absl::StatusOr<Stmt> Prepare(absl::string_view sql);
  absl::Status Init();
  absl::Status SqlError(int rc, const std::string& what);
  // Replaces the index entries of one item (`item` empty: removes them).
  absl::Status IndexItem(int64_t table_id, const std::string& hk, const std::string& rk,
                         const std::optional<std::string>& item);
  absl::Status AddIndexEntry(int64_t table_id, const IndexDef& index, const std::string& hk,
                             const std::string& rk, const Item& item);
  absl::StatusOr<std::vector<Change>> ReadChangeRows(const std::string& sql, int64_t after_seq,
                                                     int limit,
                                                     const ChangeFilter* keep = nullptr);

  sqlite3* db_;
  std::string region_;
  std::thread checkpointer_;
  absl::Notification stop_checkpointer_;
  // Prepared statement cache, by SQL text. Hashed, and looked up by string_view: every storage
  // call goes through it, and an ordered map of std::string keys cost a string allocation and
  // several long memcmps per call (5 % of the simulator's CPU).
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_;
  std::map<int64_t, std::vector<IndexDef>> indexes_;  // by table id
  int64_t head_seq_ = 0;
  int64_t log_id_ = 0;
  int64_t savepoint_head_seq_ = 0;  // head_seq_ when Savepoint() was called
};

}  // namespace gtsim
