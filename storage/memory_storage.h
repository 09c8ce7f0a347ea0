// Storage (storage/storage.h) in ordinary containers, for the deterministic simulator: no SQL,
// no encoding of the change log, no pages. Same contract as SqliteStorage (the storage tests run
// on both); what it does not do is survive the process.
//
// The state lives in a MemoryDisk that the caller keeps (shared_ptr). Writes go straight into it
// and a transaction keeps an undo log, so Commit is free and Rollback, RollbackToSavepoint or
// destroying the MemoryStorage with a transaction open (a simulated crash) undoes exactly what
// the transaction wrote. A MemoryStorage opened later on the same disk sees every committed
// write, as a region restarting on its database would.
//
// Both types are thread-compatible, but not thread-safe; one MemoryStorage at a time may have a
// disk open (a second Open fails), as one region process owns its database.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/storage.h"

namespace gtsim {

// One region's committed state: what a simulated disk keeps across a crash. Opaque: open it
// with MemoryStorage::Open. Belongs to the region that first opens it.
class MemoryDisk {
 public:
  MemoryDisk();
  ~MemoryDisk();
  MemoryDisk(const MemoryDisk&) = delete;
  MemoryDisk& operator=(const MemoryDisk&) = delete;

 private:
  friend class MemoryStorage;
  struct State;
  std::unique_ptr<State> state_;
  bool open_ = false;  // a MemoryStorage has it open
};

class MemoryStorage final : public Storage {
 public:
  // Opens `disk` for `region`. Fails with FailedPrecondition when the disk belongs to another
  // region (like SqliteStorage with another region's database) or another MemoryStorage still
  // has it open, and InvalidArgument when `disk` is null.
  static absl::StatusOr<std::unique_ptr<MemoryStorage>> Open(std::shared_ptr<MemoryDisk> disk,
                                                             const std::string& region);
  ~MemoryStorage() override;

  // No WAL: both do nothing.
  absl::Status StartBackgroundCheckpoints(const std::string& path,
                                          absl::Duration interval) override;
  void CheckpointIfWalOver(int64_t max_wal_pages) override {}
  // Begin inside a transaction, Commit outside one, Savepoint outside a transaction or inside a
  // savepoint, and ReleaseSavepoint or RollbackToSavepoint with none open fail with
  // FailedPrecondition (SQLite fails them too, with its own codes).
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
  absl::StatusOr<int64_t> TrimChangeLog(int64_t, int64_t, int) override { return 0; }
  int64_t trimmed_through() const override { return 0; }
  absl::StatusOr<int64_t> FirstSeqAppliedAfter(int64_t true_us) override;
  absl::StatusOr<DiskUse> disk_use() override { return DiskUse{0, 0, head_seq()}; }
  int64_t head_seq() const override;
  absl::StatusOr<int64_t> CountLocalChanges(int64_t after_seq,
                                            const std::vector<std::string>& tables) override;
  absl::StatusOr<int64_t> LastLocalTimestamp() override;
  absl::StatusOr<std::map<std::string, int64_t>> LoadPeerAcks() override;
  absl::Status SetPeerAck(const std::string& peer, int64_t acked_seq) override;
  absl::StatusOr<std::map<std::string, int64_t>> LoadCursors() override;
  absl::Status SetCursor(const std::string& origin, int64_t applied_seq) override;
  int64_t log_id() const override;
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
  struct Undo;  // one write's inverse
  explicit MemoryStorage(std::shared_ptr<MemoryDisk> disk);
  // Writes one version, keeping the table's registered indexes in step, and records its undo.
  absl::Status WriteRow(int64_t table_id, const std::string& hk, const std::string& rk,
                        ItemVersion version);
  // Sets one entry of a name -> position map (cursors, cursor log ids, peer acks), with undo.
  void SetPosition(std::map<std::string, int64_t>& map, const std::string& key, int64_t value);
  void Record(Undo undo);    // keeps `undo` when a transaction is open
  void UndoTo(size_t size);  // undoes the newest records until `size` are left

  std::shared_ptr<MemoryDisk> disk_;
  MemoryDisk::State& s_;
  std::map<int64_t, std::vector<IndexDef>> indexes_;  // registered, by table id
  bool in_transaction_ = false;
  bool created_new_ = false;         // Open found a memory disk never opened before
  std::optional<size_t> savepoint_;  // undo_.size() when Savepoint() was called
  std::vector<Undo> undo_;           // the open transaction's writes, oldest first
};

}  // namespace gtsim
