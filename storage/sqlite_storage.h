// Storage (storage/storage.h) in one SQLite database in WAL mode: synchronous=NORMAL (a committed
// transaction survives kill -9 of the process) or, with Durability::kFsync, FULL (it survives a
// power loss too). Every region process runs on it.
//
// This type is thread-compatible, but not thread-safe: the Region owns it and serialises access.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "storage/storage.h"

struct sqlite3;
struct sqlite3_stmt;

namespace gtsim {

class SqliteStorage final : public Storage {
 public:
  // As Storage::Open, which calls it.
  static absl::StatusOr<std::unique_ptr<SqliteStorage>> Open(const std::string& path,
                                                             const std::string& region,
                                                             StorageOptions options = {});
  absl::Status CheckIntegrity() override;
  absl::StatusOr<int64_t> TrimChangeLog(int64_t below_seq, int64_t before_true_us,
                                        int limit) override;
  int64_t trimmed_through() const override { return trimmed_through_; }
  absl::StatusOr<int64_t> FirstSeqAppliedAfter(int64_t true_us) override;
  absl::StatusOr<DiskUse> disk_use() override;
  absl::Status health() const override { return health_; }
  ~SqliteStorage() override;

  absl::Status StartBackgroundCheckpoints(const std::string& path,
                                          absl::Duration interval) override;
  void CheckpointIfWalOver(int64_t max_wal_pages) override;
  absl::Status Begin() override;
  absl::Status Commit() override;
  void Rollback() override;
  absl::Status Savepoint() override;
  absl::Status ReleaseSavepoint() override;
  absl::Status RollbackToSavepoint() override;
  absl::StatusOr<std::vector<TableRow>> LoadTables() override;
  absl::StatusOr<int64_t> PutTable(const TableSpec& spec, bool deleted) override;
  absl::StatusOr<std::optional<ItemVersion>> GetItem(int64_t table_id, const std::string& hk,
                                                     const std::string& rk) override;
  absl::Status PutItem(int64_t table_id, const std::string& hk, const std::string& rk,
                       ItemVersion version) override;
  absl::Status DeleteAllItems(int64_t table_id) override;
  int64_t TombstoneHorizon(int64_t table_id) const override;
  absl::StatusOr<int64_t> TrimTombstones(int64_t table_id, int64_t horizon, int limit) override;
  absl::StatusOr<ItemStats> ItemStatsOf(int64_t table_id) override;
  // Pages this connection has read (from its cache or the file) since it opened: a diagnostic
  // that shows what a call cost without timing it.
  int64_t PagesRead() const;
  // PRAGMA synchronous of the writing connection (1 NORMAL, 2 FULL): a diagnostic.
  absl::StatusOr<int> SynchronousLevel();
  absl::StatusOr<std::vector<std::string>> QueryItems(int64_t table_id, const std::string& hk,
                                                      const RangeBounds& bounds, bool backward,
                                                      int limit) override;
  absl::StatusOr<std::vector<std::string>> ScanItems(
      int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after,
      int limit) override;
  absl::StatusOr<std::vector<VersionRow>> DumpVersions(int64_t table_id) override;
  void SetIndexes(int64_t table_id, std::vector<IndexDef> indexes) override;
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> BackfillIndex(
      int64_t table_id, const IndexDef& index,
      const std::optional<std::pair<std::string, std::string>>& after, int limit) override;
  absl::Status DropIndex(int64_t table_id, const std::string& index) override;
  absl::Status MarkBackfilled(int64_t table_id, const std::string& index) override;
  absl::StatusOr<std::map<std::string, ItemStats>> IndexStatsOf(int64_t table_id) override;
  absl::StatusOr<bool> IsBackfilled(int64_t table_id, const std::string& index) override;
  absl::StatusOr<std::vector<std::string>> QueryIndex(
      int64_t table_id, const std::string& index, const std::string& ghk, const RangeBounds& bounds,
      bool backward, int limit, const std::optional<IndexPosition>& after = std::nullopt) override;
  absl::StatusOr<std::vector<SnapshotRow>> ScanVersions(
      int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after, int limit,
      int64_t max_bytes) override;
  absl::StatusOr<int64_t> CountVersions(int64_t table_id) override;
  absl::Status PutVersionsIfNewer(int64_t table_id, const std::vector<SnapshotRow>& rows) override;
  absl::StatusOr<std::map<std::string, BootstrapState>> LoadBootstraps() override;
  absl::Status PutBootstrap(const BootstrapState& state) override;
  absl::Status DeleteBootstrap(const std::string& table) override;
  absl::StatusOr<int64_t> AppendChange(Change change, bool is_local,
                                       int64_t applied_true_us) override;
  absl::StatusOr<std::vector<Change>> ReadLocalChanges(int64_t after_seq, int limit) override;
  absl::StatusOr<std::vector<Change>> ReadLocalChanges(int64_t after_seq, int limit,
                                                       const ChangeFilter& keep) override;
  absl::StatusOr<std::vector<Change>> ReadChanges(int64_t after_seq, int limit) override;
  int64_t head_seq() const override { return head_seq_; }
  absl::StatusOr<int64_t> CountLocalChanges(int64_t after_seq,
                                            const std::vector<std::string>& tables) override;
  absl::StatusOr<int64_t> LastLocalTimestamp() override;
  absl::StatusOr<std::map<std::string, int64_t>> LoadPeerAcks() override;
  absl::Status SetPeerAck(const std::string& peer, int64_t acked_seq) override;
  absl::StatusOr<std::map<std::string, int64_t>> LoadCursors() override;
  absl::Status SetCursor(const std::string& origin, int64_t applied_seq) override;
  int64_t log_id() const override { return log_id_; }
  absl::StatusOr<std::map<std::string, int64_t>> LoadCursorLogIds() override;
  absl::Status SetCursorLogId(const std::string& origin, int64_t log_id) override;
  // Log rollback (storage.h).
  absl::StatusOr<int64_t> LocalTimestampThrough(int64_t seq) override;
  absl::StatusOr<int64_t> NewestLocalTimestampAtOrBefore(int64_t ts) override;
  absl::StatusOr<std::map<std::string, int64_t>> LoadCursorStamps() override;
  absl::Status SetCursorStamp(const std::string& origin, int64_t ts_us) override;
  absl::StatusOr<int64_t> RenewLogId() override;
  bool created_new() const override { return created_new_; }
  absl::StatusOr<std::optional<std::string>> GetMeta(const std::string& key) override;
  absl::Status PutMeta(const std::string& key, const std::optional<std::string>& value) override;

 private:
  class Stmt;
  explicit SqliteStorage(sqlite3* db, std::string region);
  absl::Status Exec(const std::string& sql);
  absl::StatusOr<Stmt> Prepare(absl::string_view sql);
  absl::Status Init(StorageOptions options);
  absl::Status SqlError(int rc, const std::string& what);
  // Replaces the index entries of one item (`item` empty: removes them).
  absl::Status IndexItem(int64_t table_id, const std::string& hk, const std::string& rk,
                         const std::optional<std::string>& item);
  // `bytes`: the size of the item's encoding (the entry's share of index_stats).
  absl::Status AddIndexEntry(int64_t table_id, const IndexDef& index, const std::string& hk,
                             const std::string& rk, const Item& item, int64_t bytes);
  absl::StatusOr<std::vector<Change>> ReadChangeRows(const std::string& sql, int64_t after_seq,
                                                     int limit, const ChangeFilter* keep = nullptr);

  sqlite3* db_;
  std::string region_;
  std::string path_;             // the database file ("" or ":memory:" for memory databases)
  int64_t trimmed_through_ = 0;  // see trimmed_through(); gtsim_meta 'trimmed_through'
  // Tombstone horizons by table id (TombstoneHorizon), mirroring tombstone_horizons.
  std::map<int64_t, int64_t> horizons_;
  absl::Status LoadHorizons();
  std::thread checkpointer_;
  absl::Notification stop_checkpointer_;
  // Prepared statement cache, by SQL text. Hashed, and looked up by string_view: every storage
  // call goes through it, and an ordered map of std::string keys cost a string allocation and
  // several long memcmps per call (5 % of the simulator's CPU).
  absl::flat_hash_map<std::string, sqlite3_stmt*> statements_;
  std::map<int64_t, std::vector<IndexDef>> indexes_;  // by table id
  int64_t head_seq_ = 0;
  int64_t wal_pages_ = 0;  // pages in the WAL after the last commit (sqlite3_wal_hook)
  int64_t log_id_ = 0;
  bool created_new_ = false;        // Init found no gtsim database
  absl::Status health_;             // the first corruption met (SqlError), then Begin refuses
  int64_t savepoint_head_seq_ = 0;  // head_seq_ when Savepoint() was called
};

}  // namespace gtsim
