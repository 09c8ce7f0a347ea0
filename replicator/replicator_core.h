// The transport-free replication core of one region.
//
// As an origin it serves, to each subscribing peer, the changes that originated here, read from
// the change log by position and filtered to the tables that peer replicates. As a receiver it
// applies a peer's batch change by change (LWW for items, see table_engine.h) and moves that
// origin's durable cursor in the same transaction, so after any crash it resumes exactly where
// the committed data ends; re-delivered changes lose LWW against themselves and change nothing.
// A cursor counts in one origin log, named by the id every batch carries: a region whose data
// was wiped comes back with a new log starting at 1, the subscription says which log its
// position is in, the origin then serves from the start, and the cursor starts again from 0.
//
// The caller (Region, or the simulator through Region) owns transactions and locking.
// This type is thread-compatible, but not thread-safe.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/table_engine.h"
#include "model/change.h"
#include "model/clock.h"
#include "replicator/lag_metrics.h"
#include "storage/storage.h"

namespace gtsim {

// What applying one batch did, for metrics and lessons.
struct ApplyReport {
  std::string origin;
  int64_t cursor = 0;  // the origin position now durably applied
  int applied = 0;     // changes that won LWW (or table operations)
  int lost_to_newer = 0;
  int dropped = 0;       // for deleted tables
  bool waiting = false;  // stopped at a change whose table has not arrived yet
  // The origin's log is not the one the cursor counted in (its data was wiped): the cursor
  // started again from 0 with this batch, which the origin served from the start of its log.
  bool log_restarted = false;
  int64_t origin_log_id = 0;  // the log `cursor` counts in (0: unknown)
  int64_t cursor_stamp = 0;   // the origin's through_local_ts at `cursor` (0: unknown)
  int64_t stamp_floor = 0;    // the batch's stamp_floor when `cursor` reached its end, else 0
  std::vector<int64_t> latencies_us;        // per applied change: commit at origin -> now
  std::vector<std::string> latency_tables;  // the table of each latencies_us entry
};

// How far behind one peer is, as its origin sees it (see Freshness in lag_metrics.h).
struct PeerLag {
  struct Table {
    std::string table;
    int64_t pending = 0;  // PendingReplicationCount of this table
    Freshness freshness;
  };
  int64_t pending = 0;        // PendingReplicationCount, every table
  Freshness freshness;        // of the pair: its least fresh table
  std::vector<Table> tables;  // each table the peer replicates, by name
};

class ReplicatorCore {
 public:
  ReplicatorCore(std::string region, Storage* storage, TableEngine* engine, Clock* clock);

  // Loads the durable cursors. Call once, and again after a rolled-back transaction.
  absl::Status Load();

  // --- origin side ---
  // Up to `max_changes` local-origin changes after `after_seq` for tables `subscriber`
  // replicates: those whose current definition here lists it as a receiving replica, plus the
  // table incarnations the subscriber says it holds (`held`: a new replica needs its table's
  // changes from the snapshot cut on, even from origins that have not yet heard it was added;
  // the changes up to the cut are in its snapshot and are skipped).
  // Table definitions (CREATE_TABLE, UPDATE_TABLE) go to every region they list. Scans at most
  // a bounded number of log rows per call.
  absl::StatusOr<ChangeBatch> ReadFor(const std::string& subscriber, int64_t after_seq,
                                      int max_changes, const std::vector<HeldTable>& held = {});
  // The snapshot cut this region would give now: its own log head, and its cursor for each of
  // `peers` (0 for one it never applied from).
  std::map<std::string, int64_t> Cut(const std::vector<std::string>& peers) const;
  // The subscriber has durably applied everything up to `applied_seq`. Takes effect at once in
  // memory (Pending, AckedSeq); the position is persisted by the next FlushAcks(), so that acks
  // - one per applied batch per peer - do not each cost a transaction. An ack lost in a crash
  // only makes PendingReplicationCount overcount until the peer resubscribes from its cursor.
  void RecordAck(const std::string& subscriber, int64_t applied_seq);
  // Writes the acknowledgements recorded since the last flush, inside the caller's transaction
  // if one is open.
  absl::Status FlushAcks();
  bool acks_dirty() const { return !dirty_acks_.empty(); }
  // PendingReplicationCount towards `peer`: local changes after its last acknowledgement, for
  // tables it replicates. A peer never heard from has applied nothing.
  absl::StatusOr<int64_t> Pending(const std::string& peer);
  int64_t AckedSeq(const std::string& peer) const;
  // Pending, and the staleness and replicated time of `peer`, per table and for the pair:
  // from the commit time of the oldest local change after its acknowledged position, per
  // table it replicates (the same changes Pending counts). Reads change-log headers after the
  // acknowledged position, at most kMaxLagScan of them: a table whose oldest pending change
  // lies further on reports the age of the last row read, marked at_most.
  static constexpr int kMaxLagScan = 4096;
  absl::StatusOr<PeerLag> Lag(const std::string& peer);
  // Log rollback, origin side. A subscriber says it has applied this region's log (the current
  // log id) through `after_seq`, and that the newest local change it saw there had LWW
  // timestamp `after_local_ts` (0: unknown, from an older subscriber). The log has rolled back
  // - lost its tail to a lost or truncated WAL or a power loss - when it ends before
  // `after_seq`, or when its newest local change at or before `after_seq` is another one (the
  // lost positions were reused by new writes). Returns how many positions the subscriber is
  // ahead (at least 1) when rolled back, 0 when not.
  absl::StatusOr<int64_t> RolledBackBy(int64_t after_seq, int64_t after_local_ts);
  // Reclaim, origin side: changes that originated at `requester` and were applied and logged
  // here, with LWW timestamp > `after_ts`, items only, from this region's log after `after_seq`
  // (at most `limit` rows examined). batch.scanned_through is where to continue; batch.reclaim
  // is set and batch.reclaim_done once the log is exhausted. The first page (`after_seq` 0)
  // starts with the current definition of every table here that lists `requester` as a replica
  // (CREATE_TABLE + UPDATE_TABLE changes; UPDATE_TABLE only for a CREATING one): a region that
  // lost its log may have lost the tables too (a wiped region rejoining, Region::BeginRejoin).
  absl::StatusOr<ChangeBatch> ReadReclaim(const std::string& requester, int64_t after_ts,
                                          int64_t after_seq, int limit);

  // --- receiver side ---
  // The clock bound (model/clock.h): FailedPrecondition, naming the origin, the stamp and how
  // far ahead it is, when a change of `batch` (an item's stamp, or any stamp in a table
  // definition) is more than kMaxStampAheadUs ahead of this region's true clock. Such a batch
  // must be refused whole (Region::Apply does), leaving the cursor where it is.
  absl::Status CheckStamps(const ChangeBatch& batch) const;
  // Applies a batch inside the caller's open transaction. Call Committed() after COMMIT.
  // By value: its changes are moved into the change log, so pass an rvalue to avoid a copy.
  absl::StatusOr<ApplyReport> ApplyBatch(ChangeBatch batch);
  void Committed(const ApplyReport& report);
  // Bootstrap: moves each origin's durable cursor back to `cut` where it is ahead of it, inside
  // the caller's transaction; call Load() after COMMIT. Re-reading changes is harmless (LWW).
  absl::Status RewindTo(const std::map<std::string, int64_t>& cut);
  int64_t Cursor(const std::string& origin) const;
  // The id of the origin log Cursor(origin) counts in; 0 when not known yet.
  int64_t CursorLogId(const std::string& origin) const;
  // The origin's through_local_ts at Cursor(origin) (0: unknown).
  int64_t CursorStamp(const std::string& origin) const;
  // Every change of `origin` not applied here is stamped at or after this (0: unknown). From the
  // origin's stamp_floor in the last batch applied to its head; in memory only (0 after a
  // restart), reset by RewindTo (the changes after the cut come again, and for a table being
  // bootstrapped they were never applied) and when the origin's log restarts.
  int64_t StampFloor(const std::string& origin) const;
  // Reclaim, receiver side: applies the changes of a reclaim batch (this region's own, lost
  // from its log, held by the origin) inside the caller's transaction: table definitions as
  // from the origin (a table this region lacks is created, one it holds merges them); each item
  // change this region lacks is written and logged again as a local change, so it reaches every
  // peer. Returns how many items were restored.
  absl::StatusOr<int> ApplyReclaimed(ChangeBatch batch);
  // ReplicationLatency from `origin`: over the recent window, or with `window_us` > 0 over
  // that shorter one (the last second for per-second series).
  LatencySummary Latency(const std::string& origin, int64_t window_us = 0) const;
  // Since this region started: per table, the latency of every change applied from `origin`.
  std::map<std::string, LatencyHistogram> LatencyHistograms(const std::string& origin) const;
  // Since this region started: changes from `origin` that lost LWW to a newer version here,
  // and those dropped because their table was deleted.
  int64_t LostCount(const std::string& origin) const;
  int64_t DroppedCount(const std::string& origin) const;
  int64_t AppliedCount(const std::string& origin) const;
  int64_t OriginHead(const std::string& origin) const;
  void NoteOriginHead(const std::string& origin, int64_t head);

 private:
  std::string region_;
  Storage* storage_;
  TableEngine* engine_;
  Clock* clock_;
  std::map<std::string, int64_t> cursors_;         // durable, per origin
  std::map<std::string, int64_t> cursor_log_ids_;  // durable, per origin
  std::map<std::string, int64_t> cursor_stamps_;   // durable, per origin
  std::map<std::string, int64_t> stamp_floors_;    // in memory, per origin (StampFloor)
  std::map<std::string, int64_t> acked_;           // per subscribing peer, in memory
  std::set<std::string> dirty_acks_;               // acked_ entries not yet persisted
  std::map<std::string, LagWindow> lag_;
  std::map<std::string, std::map<std::string, LatencyHistogram>> histograms_;  // origin, table
  std::map<std::string, int64_t> lost_count_, dropped_count_;
  std::map<std::string, int64_t> applied_count_;
  std::map<std::string, int64_t> origin_head_;
};

}  // namespace gtsim
