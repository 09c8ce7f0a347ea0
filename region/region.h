// One region: its storage, table engine and replication core behind one lock.
//
// The same class serves a gtsim-region process (system clock, SQLite file, gRPC around it) and
// the deterministic simulator (virtual clock, MemoryStorage, simulated network): everything
// that talks to the outside world is handed in or sits in a caller.
//
// Every write is acknowledged (returns) only after its storage transaction has committed.
//
// Group commit: concurrent local item writes (Write, WriteAsync, WriteLed and Transact, the one
// write path) share one transaction. Each writer enqueues its write; the writer at the
// head of the queue becomes the leader, takes every write queued by then (at most kMaxGroup), runs
// each in turn inside one transaction - each in its own savepoint, so a write that fails (a
// condition, validation) is undone alone and the others go on - commits once, and only then are all
// of them answered. If the COMMIT itself fails, every write of the group that had succeeded gets
// that error and nothing of the group is kept. With one writer at a time a group holds one write.
// Asynchronous writes (WriteAsync) queue the same way without a waiting thread; a group whose
// front write is asynchronous is led by the region's committer thread. Control-plane changes and
// replicated batches run in a transaction of their own (InTransaction); both kinds end in one
// epilogue (FinishTransaction).
//
// This type is thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/table_engine.h"
#include "model/clock.h"
#include "model/snapshot.h"
#include "region/conflict_log.h"
#include "replicator/link.h"
#include "replicator/link_delay.h"
#include "replicator/replicator_core.h"
#include "storage/storage.h"

namespace gtsim {

struct InboundStatus {
  std::string origin;
  int64_t applied_seq = 0;
  bool connected = false;
  bool blocked = false;
  LinkDelay delay;  // simulated network delay on this link
  LatencySummary latency;
  LatencySummary latency_1s;  // the same over the last second only
  int64_t applied_changes = 0;
  int64_t origin_head = 0;
  // Since this region started (for /metrics): per table, every applied change's latency; the
  // changes that lost LWW to a newer version here, and those dropped for a deleted table.
  std::map<std::string, LatencyHistogram> histograms;
  int64_t lost_to_newer = 0, dropped = 0;
};
struct OutboundStatus {
  std::string peer;
  int64_t acked_seq = -1;
  int64_t pending = -1;
  PeerLag lag;  // staleness and replicated time, per table and for the pair
};
struct TableStatus {
  TableSpec spec;
  int64_t item_count = 0;
};
struct RegionStatus {
  std::string region;
  int64_t head_seq = 0;
  int64_t clock_skew_us = 0;
  std::vector<TableStatus> tables;
  std::vector<InboundStatus> inbound;    // one per peer region
  std::vector<OutboundStatus> outbound;  // one per peer region
  // Things a user must know about this region's data, e.g. that its change log rolled back
  // and which writes were lost or recovered (durable: shown after restarts too).
  std::vector<std::string> warnings;
  DiskUse disk;
  // Since this region started (for /metrics): change-log records committed by its own clients
  // (item writes and table operations), and reads by kind ("GetItem" for single and batched
  // gets, "Query", "Scan").
  int64_t local_writes = 0;
  std::map<std::string, int64_t> reads;
  // The last changes from peers that LWW discarded here, oldest first (region/conflict_log.h).
  std::vector<ConflictRecord> conflicts;
};

// What Region::SetClockSkew did. Stamps never go back within a region (LWW needs a later write
// to win over an earlier one), so after a skew is lowered the next writes are stamped just after
// last_stamp_us until the true time plus the new skew passes it.
struct ClockSkewChange {
  int64_t previous_skew_us = 0;
  int64_t skew_us = 0;
  int64_t last_stamp_us = 0;  // the newest stamp this region has given (0: none yet)
  int64_t now_us = 0;         // the true time when the skew changed
};

class Region final : public LinkOrigin, public LinkReceiver {
 public:
  // `regions` lists every region of the cluster, this one included. `clock` must outlive the
  // Region.
  static absl::StatusOr<std::unique_ptr<Region>> Open(std::string name,
                                                      std::vector<std::string> regions,
                                                      std::unique_ptr<Storage> storage,
                                                      Clock* clock);

  // Persists the peers' latest acknowledgements.
  ~Region();

  const std::string& name() const override { return name_; }
  // The other regions of the cluster, sorted.
  const std::vector<std::string>& peers() const override { return peers_; }

  // Tables and items (the native API).
  absl::StatusOr<TableInfo> CreateTable(const CreateTableRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<TableInfo> DescribeTable(const std::string& table) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> ListTables() ABSL_LOCKS_EXCLUDED(mu_);
  // Deletes this region's replica only (see TableEngine::DeleteTable).
  absl::StatusOr<TableInfo> DeleteTable(const std::string& table) ABSL_LOCKS_EXCLUDED(mu_);
  // DynamoDB's UpdateTable with ReplicaUpdates: adds or removes one replica, asynchronously.
  // Errors: see TableEngine::UpdateTable (InvalidArgument for validation, FailedPrecondition
  // for ResourceInUse). Returns the new definition: TableStatus UPDATING, the replica CREATING
  // or DELETING. An added replica bootstraps from a snapshot of this region's replica; a removed
  // one deletes its table and items when it receives the change.
  absl::StatusOr<TableInfo> UpdateTable(const UpdateTableRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  // One local item write: a put, an update, a delete, or a read-modify-write (see
  // TableEngine::MutateItem; its `fn` runs under the region's lock, so keep it short and do not
  // call back into the Region from it).
  struct MutateRequest {
    std::string table;
    Item key;
    TableEngine::Mutation fn;
  };
  using ItemWrite = std::variant<PutRequest, UpdateRequest, DeleteRequest, MutateRequest>;
  // Every local item write goes through the group commit (top of this file), in one of three
  // ways that differ only in who waits and who leads the group:
  // - Write: the calling thread waits for the result (and leads the group when it is first).
  // - WriteAsync: for servers that must not park a thread per write (the gRPC callback API).
  //   `done` gets the result once the group has committed (or failed), called on the thread
  //   that led the group - a synchronous writer's, or the region's committer thread, started on
  //   first use - never under the region's locks. Keep `done` short: the next group waits for
  //   it. Every submitted write is answered; one submitted while the Region is being destroyed
  //   gets Unavailable.
  // - WriteLed: several writes, led by the calling thread, for an event loop that gathers the
  //   writes of many connections and wants no thread handoff: they queue together behind any
  //   group in progress, then this thread commits them as one group (each with its own outcome)
  //   and runs their `done`s before returning. Only when a synchronous writer queued ahead leads
  //   them instead, or there are more than kMaxGroup, do some `done`s run on that writer's or the
  //   committer thread.
  using WriteDone = std::function<void(absl::StatusOr<WriteResult>)>;
  absl::StatusOr<WriteResult> Write(ItemWrite write) ABSL_LOCKS_EXCLUDED(mu_);
  void WriteAsync(ItemWrite write, WriteDone done) ABSL_LOCKS_EXCLUDED(mu_);
  struct AsyncWrite {
    ItemWrite write;
    WriteDone done;
  };
  void WriteLed(std::vector<AsyncWrite> writes) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<GetResult> GetItem(const std::string& table, const Item& key)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One entry of Transact: a read-modify-write of one item (see TableEngine::MutateItem), or
  // with `check_only` a read whose `fn` only judges the item (its returned item is ignored and
  // nothing is written for this entry).
  struct ItemMutation {
    std::string table;
    Item key;
    TableEngine::Mutation fn;
    bool check_only = false;
  };
  // Several read-modify-writes written all or none (DynamoDB's TransactWriteItems, atomic in
  // this region only), as one write of the group commit (in its own savepoint). The (table, key)
  // pairs must be distinct (InvalidArgument otherwise, before any `fn` runs), so every `fn`
  // sees its item as committed before this transaction. Every `fn` is called, in order, even
  // after an earlier one failed, so a caller can record each entry's outcome; if any entry
  // fails, nothing is written and the first failure is returned. Results are in entry order
  // (check_only ones carry old_item only). The `fn`s run under the region's lock: keep them
  // short, do not call back into the Region.
  absl::StatusOr<std::vector<WriteResult>> Transact(const std::vector<ItemMutation>& entries)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Reads several items under one lock, so together they are one consistent snapshot of this
  // region (DynamoDB's TransactGetItems). Fails as GetItem does for the first bad entry.
  absl::StatusOr<std::vector<GetResult>> GetItems(
      const std::vector<std::pair<std::string, Item>>& keys) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Page> Query(const QueryRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<Page> Scan(const ScanRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  // Charges provisioned read capacity (see TableEngine::ConsumeReadCapacity). Reads above do
  // not charge themselves: callers that meter reads (the DynamoDB endpoint) call this after.
  absl::Status ConsumeReadCapacity(const std::string& table, double units) ABSL_LOCKS_EXCLUDED(mu_);

  // This region's own stream for one table: the item changes (puts and deletes, local and
  // replicated) of the table's current incarnation that this region applied, from its change
  // log, with seq > after_seq, oldest first, at most `limit`. Reads at most `max_scan` log
  // entries (all kinds, all tables); `scanned_through` says how far it looked, so a reader
  // resumes from there even when `changes` is empty. NotFound when the table does not exist.
  // Takes the region's lock once per chunk of 1000 log entries, not for the whole scan.
  struct TableChanges {
    std::vector<Change> changes;
    int64_t scanned_through = 0;
    int64_t head_seq = 0;  // the log's latest sequence at read time
  };
  absl::StatusOr<TableChanges> ReadTableChanges(const std::string& table, int64_t after_seq,
                                                int limit, int max_scan = 100000)
      ABSL_LOCKS_EXCLUDED(mu_);

  // GSIs: one backfill step (see TableEngine::BackfillIndexes), in one transaction.
  absl::StatusOr<int> BackfillIndexes(int max_rows = 2000) ABSL_LOCKS_EXCLUDED(mu_);
  // TTL: one sweep step (see TableEngine::ExpireItems), in one transaction.
  absl::StatusOr<int> ExpireItems(int max_rows = 1000) ABSL_LOCKS_EXCLUDED(mu_);

  // Point-in-time recovery (see TableEngine::BeginRestore): creates the restored table, which
  // is CREATING until RestoreSteps has filled it (the region's upkeep thread steps it; each
  // step holds the lock for one chunk). Errors as BeginRestore's.
  absl::StatusOr<TableInfo> RestoreTableToPointInTime(const RestoreRequest& req)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One step of the oldest restore in progress, in one transaction; 0 when none runs.
  absl::StatusOr<int> RestoreSteps(int max_rows = 2000) ABSL_LOCKS_EXCLUDED(mu_);
  // Steps the restore of `table` until it completes (taking the lock once per step), then
  // describes it. For callers that want to wait (the CLI).
  absl::StatusOr<TableInfo> FinishRestore(const std::string& table) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<RestoreWindow> RestoreWindowOf(const std::string& table) ABSL_LOCKS_EXCLUDED(mu_);

  // Bounded disk: one step (at most `max_rows` rows, one transaction) of trimming the change log
  // to what is still needed - every row some peer has not acknowledged, everything committed
  // in the last `retention` (streams readers, a rejoining region, log-rollback repair read
  // that far back), and the newest local row a subscriber is checked against. Returns the rows
  // deleted (0: nothing to trim now). A peer that has never acknowledged anything (a region
  // that has not yet connected) holds the whole log.
  // While any table here has point-in-time recovery on, its 35-day window (kPitrWindow) is the
  // retention if that is longer.
  absl::StatusOr<int64_t> TrimLog(absl::Duration retention, int max_rows = 5000)
      ABSL_LOCKS_EXCLUDED(mu_);
  static constexpr absl::Duration kPitrWindow = absl::Hours(24 * 35);

  // Bounded disk, tombstones: one step (at most `max_rows`) of dropping delete tombstones no
  // write can still need. A tombstone stamped T is dropped only when (1) T is older than
  // `min_age` - which must be at least the largest clock skew of any region plus the
  // difference between hosts' clocks (kMaxStampAheadUs), so no write made from now on, by any
  // region, is stamped before T - and (2) for every peer, everything it logged that this
  // region has not yet applied is stamped at or after T (its stamp_floor, sent with each batch
  // that reaches its log's head, ReplicatorCore::StampFloor). A peer not heard from since this
  // region started (or since a bootstrap rewound the cursors) holds every tombstone. What then
  // can still arrive stamped before T was applied here before; the table's horizon
  // (Storage::TombstoneHorizon) makes it lose to the missing tombstone again. Returns the
  // tombstones dropped.
  absl::StatusOr<int64_t> TrimTombstones(absl::Duration min_age, int max_rows = 5000)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The table's tombstone horizon here (Storage::TombstoneHorizon; 0: unknown table, or none).
  int64_t TombstoneHorizon(const std::string& table) ABSL_LOCKS_EXCLUDED(mu_);

  // Where to serve a subscriber from. One that has never read this region's log
  // (`origin_log_id` 0: a new or rejoined database) and asks for positions already trimmed
  // cannot have them: it starts after them, and a loud warning (here, in Status().warnings)
  // says its replicas of this region's tables must be removed and added again to bootstrap
  // what it missed. Anyone else is served from `after_seq` (or refused by ReadFor).
  int64_t ServePositionFor(const std::string& subscriber, int64_t after_seq,
                           int64_t origin_log_id) override ABSL_LOCKS_EXCLUDED(mu_);

  // Replication, origin side. `held`: see ReplicatorCore::ReadFor. FailedPrecondition when
  // `after_seq` is before the trimmed part of the log (Storage::trimmed_through): the
  // subscriber would miss changes, so it must be given the table again by bootstrap.
  absl::StatusOr<ChangeBatch> ReadFor(const std::string& subscriber, int64_t after_seq,
                                      int max_changes,
                                      const std::vector<HeldTable>& held = {}) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until a change that originated in this region is logged past `after_seq` (replicated
  // changes applied here do not count: they are never served to peers) or `timeout` passes;
  // true if one was.
  bool WaitForChanges(int64_t after_seq, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes effect at once in memory; persisted with the next transaction, by a RecordAck coming
  // kAckFlushIntervalUs or more after the last flush, or by the destructor. An ack lost in a
  // crash only makes PendingReplicationCount overcount until the peer resubscribes (a
  // subscription carries its cursor).
  void RecordAck(const std::string& peer, int64_t applied_seq) override ABSL_LOCKS_EXCLUDED(mu_);

  // Replication, receiver side: applies a batch in one transaction (data + cursor). By value:
  // its changes move into the change log, so a caller done with the batch passes an rvalue.
  absl::StatusOr<ApplyReport> Apply(ChangeBatch batch) override ABSL_LOCKS_EXCLUDED(mu_);
  int64_t Cursor(const std::string& origin) ABSL_LOCKS_EXCLUDED(mu_);
  // What a receiving link subscribes to `origin` with, read atomically: the durable cursor, the
  // table incarnations held here, and the subscription epoch. The epoch grows whenever a
  // bootstrap rewinds the cursors; batches tagged with an older epoch (ChangeBatch::
  // subscription_epoch) are refused with Aborted, and the link must subscribe again.
  using Subscription = gtsim::Subscription;
  Subscription SubscriptionFor(const std::string& origin) override ABSL_LOCKS_EXCLUDED(mu_);
  // This region's change-log id (see ChangeBatch::origin_log_id).
  int64_t LogId() override ABSL_LOCKS_EXCLUDED(mu_);

  // Log rollback (a lost or truncated WAL, a power loss), origin side. Called with each new
  // subscription: when `subscriber` has applied more of this region's current log
  // (`origin_log_id`) than the log now holds (ReplicatorCore::RolledBackBy), the log is treated
  // as rolled back: a new log id is drawn (every peer then re-reads the log from its start, so
  // no later write is skipped at a reused position; streams serving the old id end), the loss
  // is logged loudly to stderr and kept in Status().warnings, and every peer is asked for this
  // region's writes it holds that this region lost (reclaim). Returns true if it rolled back.
  absl::StatusOr<bool> CheckSubscriber(const std::string& subscriber, int64_t after_seq,
                                       int64_t after_local_ts, int64_t origin_log_id) override
      ABSL_LOCKS_EXCLUDED(mu_);
  // A region started with an empty database in place of one it lost (gtsim-region --rejoin):
  // its tables and its own writes that reached a peer exist only at its peers now (peers stream
  // their own writes only). Asks every peer for them, as after a log rollback (reclaim from the
  // start: the definitions of the tables that list this region, then this region's writes the
  // peer holds), durably, so a restart before every peer answered asks again. Call once, right
  // after Open on the new database, before any link starts.
  absl::Status BeginRejoin() ABSL_LOCKS_EXCLUDED(mu_);
  // Reclaim, origin side: one page of `requester`'s own writes held here (ReadReclaim).
  absl::StatusOr<ChangeBatch> ReadReclaim(const std::string& requester, int64_t after_ts,
                                          int64_t after_seq) override ABSL_LOCKS_EXCLUDED(mu_);
  // Reclaim, receiver side: restores the lost writes of one reclaim batch from `batch.origin`
  // in one transaction; on the batch marked reclaim_done, that peer's reclaim is complete.
  absl::StatusOr<int> ApplyReclaimed(ChangeBatch batch) override ABSL_LOCKS_EXCLUDED(mu_);

  // Replica bootstrap (see model/snapshot.h), source side: one chunk of the snapshot of
  // `table` for the new replica `subscriber`, rows after `after`, with this region's cut now.
  struct SnapshotRequest {
    std::string subscriber;
    std::string table;
    Stamp table_created;
    std::optional<std::pair<std::string, std::string>> after;  // none: from the start
    int max_rows = 2000;
  };
  absl::StatusOr<SnapshotChunk> ReadSnapshot(const SnapshotRequest& req) ABSL_LOCKS_EXCLUDED(mu_);
  // New-replica side: bootstraps still loading their snapshot (source, resume position).
  std::vector<BootstrapState> PendingBootstraps() ABSL_LOCKS_EXCLUDED(mu_);
  // The log position of the newest local change (what WaitForChanges waits beyond).
  int64_t LocalHead() ABSL_LOCKS_EXCLUDED(mu_);
  // Loads one chunk in one transaction (bulk, no change-log rows). The first chunk also records
  // the cut and rewinds this region's cursors to it. Once the last chunk is in and every
  // cursor has reached the cut, the replica turns ACTIVE.
  absl::Status LoadSnapshotChunk(const SnapshotChunk& chunk) ABSL_LOCKS_EXCLUDED(mu_);
  void SetConnected(const std::string& origin, bool connected) override ABSL_LOCKS_EXCLUDED(mu_);

  // Faults.
  // Offsets the clock this region stamps writes with by `skew_us`; refused (InvalidArgument,
  // nothing changed) beyond +-kMaxClockSkewUs. Says what changed and where the stamps stand.
  absl::StatusOr<ClockSkewChange> SetClockSkew(int64_t skew_us) ABSL_LOCKS_EXCLUDED(mu_);
  // A blocked peer's changes are not applied here (one direction of a partition).
  void SetBlocked(const std::string& peer, bool blocked) ABSL_LOCKS_EXCLUDED(mu_);
  bool IsBlocked(const std::string& peer) override ABSL_LOCKS_EXCLUDED(mu_);
  // A simulated network delay on the link from `origin` to this region (see link_delay.h).
  void SetInboundDelay(const std::string& origin, LinkDelay delay) ABSL_LOCKS_EXCLUDED(mu_);
  LinkDelay InboundDelay(const std::string& origin) override ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<RegionStatus> Status() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<std::vector<TableEngine::Version>> DumpTable(const std::string& table)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<TableSpec> Tables() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Region(std::string name, std::vector<std::string> regions, std::unique_ptr<Storage> storage,
         Clock* clock);
  // Runs `f` in one transaction; rolls back (and reloads in-memory state) if it fails.
  // `local`: what `f` logs originated here (wakes WaitForChanges), rather than replicated.
  template <typename F>
  auto InTransaction(F&& f, bool local = true) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> decltype(f());
  void ReloadAfterRollback() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Turns every fully loaded bootstrap whose cursors reached its cut ACTIVE.
  void MaybeFinishBootstraps() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Group commit of local item writes (see the top of this file): one entry of the queue.
  // `write` runs under mu_ inside the group's transaction.
  using LocalWrite = std::function<absl::StatusOr<WriteResult>()>;
  struct PendingWrite {
    LocalWrite write;
    // Replaced by the write's result, or by the group's error if it never ran. No message: a
    // status without one is stored inline, so this costs no allocation per write.
    absl::StatusOr<WriteResult> result = absl::UnknownError("");
    bool done = false;  // answered: `result` is final (synchronous writers)
    WriteDone on_done;  // asynchronous writers: the queue owns the entry until it is answered
  };
  static constexpr size_t kMaxGroup = 512;
  static constexpr int64_t kAckFlushIntervalUs = 100'000;
  // The one way into the queue. Queues `leader` (a synchronous entry owned by the caller, or
  // null) and then `queued` (asynchronous entries, owned by the queue from now on). With a
  // leader, waits until it is answered or at the front, then leads the group that starts there
  // and answers its asynchronous entries; without one, the committer thread leads them.
  void Enqueue(PendingWrite* leader, std::vector<std::unique_ptr<PendingWrite>> queued)
      ABSL_LOCKS_EXCLUDED(mu_, queue_mu_);
  // Runs one ItemWrite against the engine.
  absl::StatusOr<WriteResult> RunWrite(const ItemWrite& write) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by the writer at the front of the queue: commits the group that starts there and
  // takes it off the queue. Synchronous entries are marked done; asynchronous ones are returned
  // for the caller to answer with AnswerAsync, outside the locks.
  std::vector<std::unique_ptr<PendingWrite>> LeadGroup() ABSL_LOCKS_EXCLUDED(mu_, queue_mu_);
  static void AnswerAsync(std::vector<std::unique_ptr<PendingWrite>> answered);
  // The committer thread: leads every group whose front write is asynchronous (no caller thread
  // waits to lead it). Returns once stopping_ is set and the queue is empty.
  void CommitterLoop() ABSL_LOCKS_EXCLUDED(mu_, queue_mu_);
  // Ends the transaction begun when the log head was `head_before`, whose work returned `st`:
  // flushes acks and commits, or rolls back (and reloads in-memory state) when anything failed;
  // returns the outcome. After a commit that logged a change originating here (`local`, or a
  // local record the engine logged while applying replicated changes), wakes WaitForChanges.
  absl::Status FinishTransaction(int64_t head_before, absl::Status st, bool local)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs a group in one transaction and fills in every result.
  void CommitGroup(const std::vector<PendingWrite*>& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string name_;
  std::vector<std::string> peers_;
  Clock* const clock_;
  absl::Mutex mu_;
  absl::CondVar log_grew_;  // signalled after every commit that logged a local change
  // The log position of the newest local change (at Open: the head, a safe upper bound).
  int64_t local_head_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Storage> storage_ ABSL_GUARDED_BY(mu_);
  TableEngine engine_ ABSL_GUARDED_BY(mu_);
  ReplicatorCore replicator_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> blocked_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> connected_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LinkDelay> inbound_delay_ ABSL_GUARDED_BY(mu_);
  int64_t last_ack_flush_us_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t local_writes_ ABSL_GUARDED_BY(mu_) = 0;  // see RegionStatus::local_writes
  ConflictLog conflicts_ ABSL_GUARDED_BY(mu_);     // see RegionStatus::conflicts
  std::map<std::string, int64_t> reads_ ABSL_GUARDED_BY(mu_);
  // Writers waiting for group commit, oldest first; the front one leads the next group. Lock
  // order: mu_ before queue_mu_ (a leader holding mu_ takes its group from the queue).
  absl::Mutex queue_mu_ ABSL_ACQUIRED_AFTER(mu_);
  std::deque<PendingWrite*> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread committer_ ABSL_GUARDED_BY(queue_mu_);
  int64_t subscription_epoch_ ABSL_GUARDED_BY(mu_) = 0;
  // Log rollback repair: per peer, the stamp after which to reclaim this region's own writes
  // from it (durable in storage meta "reclaim_after/PEER"); and the warnings for Status().
  std::map<std::string, int64_t> reclaim_after_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> reclaimed_ ABSL_GUARDED_BY(mu_);  // restored so far, per peer
  std::vector<std::string> warnings_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> trim_warned_ ABSL_GUARDED_BY(mu_);  // subscribers told (ReadFor)
  void AddWarning(const std::string& text) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Origins whose last batch was refused for a stamp beyond the clock bound (warned once).
  std::set<std::string> future_warned_ ABSL_GUARDED_BY(mu_);
  // Source side: snapshot rows served and the table's size, per (table, new replica).
  struct Serving {
    int64_t served = 0;
    int64_t total = 0;
  };
  std::map<std::pair<std::string, std::string>, Serving> serving_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gtsim
