#include "region/region.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "model/planted_bug.h"
#include "model/status_macros.h"

namespace gtsim {

absl::StatusOr<std::unique_ptr<Region>> Region::Open(std::string name,
                                                     std::vector<std::string> regions,
                                                     std::unique_ptr<Storage> storage,
                                                     Clock* clock) {
  if (std::find(regions.begin(), regions.end(), name) == regions.end()) regions.push_back(name);
  std::unique_ptr<Region> r(
      new Region(std::move(name), std::move(regions), std::move(storage), clock));
  absl::MutexLock l(&r->mu_);
  r->local_head_ = r->storage_->head_seq();
  RETURN_IF_ERROR(r->engine_.Load());
  RETURN_IF_ERROR(r->replicator_.Load());
  for (const auto& peer : r->peers_) {
    ASSIGN_OR_RETURN(auto after, r->storage_->GetMeta("reclaim_after/" + peer));
    int64_t ts = 0;
    if (after && absl::SimpleAtoi(*after, &ts)) r->reclaim_after_[peer] = ts;
  }
  ASSIGN_OR_RETURN(auto warnings, r->storage_->GetMeta("warnings"));
  if (warnings && !warnings->empty()) r->warnings_ = absl::StrSplit(*warnings, '\n');
  return r;
}

Region::Region(std::string name, std::vector<std::string> regions, std::unique_ptr<Storage> storage,
               Clock* clock)
    : name_(name),
      clock_(clock),
      storage_(std::move(storage)),
      engine_(name, regions, storage_.get(), clock),
      replicator_(name, storage_.get(), &engine_, clock) {
  for (const auto& r : regions) {
    if (r != name_) peers_.push_back(r);
  }
  std::sort(peers_.begin(), peers_.end());
  peers_.erase(std::unique(peers_.begin(), peers_.end()), peers_.end());
}

Region::~Region() {
  std::thread committer;
  {
    absl::MutexLock q(&queue_mu_);
    stopping_ = true;
    committer = std::move(committer_);
  }
  if (committer.joinable()) committer.join();  // it answers every queued write first
  absl::MutexLock l(&mu_);
  replicator_.FlushAcks().IgnoreError();
}

template <typename F>
auto Region::InTransaction(F&& f, bool local) -> decltype(f()) {
  const int64_t head_before = storage_->head_seq();
  RETURN_IF_ERROR(storage_->Begin());
  auto result = f();
  RETURN_IF_ERROR(FinishTransaction(head_before, result.status(), local));
  return result;
}

absl::Status Region::FinishTransaction(int64_t head_before, absl::Status st, bool local) {
  if (st.ok() && replicator_.acks_dirty()) st = replicator_.FlushAcks();
  if (st.ok()) st = storage_->Commit();
  // Applying replicated changes may log local records too (a bootstrap finishing, a removal
  // completing, a definition re-announced): their subscribers must hear of them at once.
  const bool logged_local = engine_.TakeLoggedLocal();
  if (!st.ok()) {
    storage_->Rollback();
    ReloadAfterRollback();
    return st;
  }
  if (local) local_writes_ += storage_->head_seq() - head_before;
  if ((local || logged_local) && storage_->head_seq() != head_before) {
    local_head_ = storage_->head_seq();
    log_grew_.SignalAll();
  }
  return absl::OkStatus();
}

void Region::ReloadAfterRollback() {
  // The engine's catalog and the cursors mirror storage; re-read them from what committed.
  engine_.Load().IgnoreError();
  replicator_.Load().IgnoreError();
}

void Region::Enqueue(PendingWrite* leader, std::vector<std::unique_ptr<PendingWrite>> queued) {
  std::vector<std::unique_ptr<PendingWrite>> refused;
  bool lead = false;
  {
    absl::MutexLock q(&queue_mu_);
    if (stopping_) {
      // The committer has answered the queue and is gone: asynchronous writes arriving now are
      // refused (a synchronous writer cannot be using a Region under destruction).
      refused.swap(queued);
    } else if (!queued.empty() && !committer_.joinable()) {
      // Asynchronous entries no caller leads (or beyond a leader's kMaxGroup): the committer's.
      committer_ = std::thread([this] { CommitterLoop(); });
    }
    if (leader != nullptr) queue_.push_back(leader);
    for (auto& w : queued) queue_.push_back(w.release());  // the queue owns them now
    if (leader != nullptr) {
      auto answered_or_leader = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return leader->done || queue_.front() == leader;
      };
      queue_mu_.Await(absl::Condition(&answered_or_leader));
      lead = !leader->done;  // else a synchronous writer ahead led the group and answered it
    }
  }
  for (auto& w : refused) {
    w->on_done(absl::UnavailableError(
        absl::StrCat("region ", name_, " is shutting down; retry against a running region")));
  }
  if (lead) AnswerAsync(LeadGroup());
}

absl::StatusOr<WriteResult> Region::RunWrite(const ItemWrite& write) {
  struct Run {
    TableEngine& engine;
    absl::StatusOr<WriteResult> operator()(const PutRequest& r) { return engine.PutItem(r); }
    absl::StatusOr<WriteResult> operator()(const UpdateRequest& r) { return engine.UpdateItem(r); }
    absl::StatusOr<WriteResult> operator()(const DeleteRequest& r) { return engine.DeleteItem(r); }
    absl::StatusOr<WriteResult> operator()(const MutateRequest& r) {
      return engine.MutateItem(r.table, r.key, r.fn);
    }
  };
  return std::visit(Run{engine_}, write);
}

std::vector<std::unique_ptr<Region::PendingWrite>> Region::LeadGroup() {
  // The caller is at the front of the queue and stays there until it pops the group below, so
  // no other writer leads meanwhile. Writers that queue while it waits for mu_ join its group.
  size_t taken = 0;
  {
    absl::MutexLock l(&mu_);
    std::vector<PendingWrite*> group;
    {
      absl::MutexLock q(&queue_mu_);
      for (PendingWrite* w : queue_) {
        if (group.size() == kMaxGroup) break;
        group.push_back(w);
      }
    }
    taken = group.size();
    CommitGroup(group);
  }
  std::vector<std::unique_ptr<PendingWrite>> answered;
  absl::MutexLock q(&queue_mu_);
  for (size_t i = 0; i < taken; ++i) {
    PendingWrite* w = queue_.front();
    queue_.pop_front();
    if (w->on_done) {
      answered.emplace_back(w);
    } else {
      w->done = true;  // its writer may return (and free the entry) once queue_mu_ is unlocked
    }
  }
  return answered;
}

void Region::AnswerAsync(std::vector<std::unique_ptr<PendingWrite>> answered) {
  for (auto& w : answered) w->on_done(std::move(w->result));
}

void Region::CommitterLoop() {
  for (;;) {
    {
      absl::MutexLock q(&queue_mu_);
      auto work_or_stop = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(queue_mu_) {
        return queue_.empty() ? stopping_ : static_cast<bool>(queue_.front()->on_done);
      };
      queue_mu_.Await(absl::Condition(&work_or_stop));
      if (queue_.empty()) return;
    }
    AnswerAsync(LeadGroup());
  }
}

void Region::CommitGroup(const std::vector<PendingWrite*>& group) {
  const int64_t head_before = storage_->head_seq();
  absl::Status st = storage_->Begin();
  for (size_t i = 0; st.ok() && i < group.size(); ++i) {
    st = storage_->Savepoint();
    if (!st.ok()) break;
    group[i]->result = group[i]->write();
    st = group[i]->result.ok() ? storage_->ReleaseSavepoint() : storage_->RollbackToSavepoint();
  }
  st = FinishTransaction(head_before, st, /*local=*/true);
  if (!st.ok()) {
    // Nothing of the group is kept: a write that had succeeded (or never ran) gets the error; a
    // write that failed on its own keeps its own error, which is still true.
    for (PendingWrite* w : group) {
      if (w->result.ok() || absl::IsUnknown(w->result.status())) w->result = st;
    }
  }
}

absl::StatusOr<TableInfo> Region::CreateTable(const CreateTableRequest& req) {
  absl::MutexLock l(&mu_);
  return InTransaction([&] { return engine_.CreateTable(req); });
}

absl::StatusOr<TableInfo> Region::DescribeTable(const std::string& table) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(TableInfo info, engine_.DescribeTable(table));
  for (const auto& [replica, status] : info.spec.replica_status) {
    auto it = serving_.find({table, replica});
    if (status == "CREATING" && it != serving_.end() && it->second.total > 0) {
      info.replica_progress[replica] =
          static_cast<int>(std::min<int64_t>(99, 100 * it->second.served / it->second.total));
    }
  }
  return info;
}

absl::StatusOr<TableInfo> Region::UpdateTable(const UpdateTableRequest& req) {
  absl::MutexLock l(&mu_);
  return InTransaction([&] { return engine_.UpdateTable(req); });
}

std::vector<std::string> Region::ListTables() {
  absl::MutexLock l(&mu_);
  return engine_.ListTables();
}

absl::StatusOr<TableInfo> Region::DeleteTable(const std::string& table) {
  absl::MutexLock l(&mu_);
  return InTransaction([&] { return engine_.DeleteTable(table); });
}

absl::StatusOr<WriteResult> Region::Write(ItemWrite write) {
  PendingWrite self;
  self.write = [this, &write]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return RunWrite(write); };
  Enqueue(&self, {});
  return std::move(self.result);
}

void Region::WriteAsync(ItemWrite write, WriteDone done) {
  std::vector<std::unique_ptr<PendingWrite>> queued;
  queued.push_back(std::make_unique<PendingWrite>());
  queued[0]->write = [this, write = std::move(write)]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return RunWrite(write); };
  queued[0]->on_done = std::move(done);
  Enqueue(nullptr, std::move(queued));
}

void Region::WriteLed(std::vector<AsyncWrite> writes) {
  if (writes.empty()) return;
  std::vector<std::unique_ptr<PendingWrite>> queued;
  for (AsyncWrite& w : writes) {
    auto entry = std::make_unique<PendingWrite>();
    entry->write = [this, write = std::move(w.write)]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return RunWrite(write); };
    entry->on_done = std::move(w.done);
    queued.push_back(std::move(entry));
  }
  // The caller's own place in the queue, ahead of its writes: a no-op write that makes it lead
  // the group they start.
  PendingWrite self;
  self.write = []() -> absl::StatusOr<WriteResult> { return WriteResult{}; };
  Enqueue(&self, std::move(queued));
}

absl::StatusOr<std::vector<WriteResult>> Region::Transact(
    const std::vector<ItemMutation>& entries) {
  std::set<std::pair<std::string, std::string>> seen;
  for (const ItemMutation& e : entries) {
    if (!seen.emplace(e.table, EncodeItem(e.key)).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("Transact got two entries for one item of table ", e.table,
                       "; each item may appear once"));
    }
  }
  std::vector<WriteResult> results;
  PendingWrite self;
  // One write of the group: its savepoint undoes every entry when any fails.
  self.write = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) -> absl::StatusOr<WriteResult> {
    results.clear();
    absl::Status first = absl::OkStatus();
    for (const ItemMutation& e : entries) {
      WriteResult r;
      absl::Status st;
      if (e.check_only) {
        auto got = engine_.GetItem(e.table, e.key);
        st = got.status();
        if (got.ok()) {
          st = e.fn(got->item).status();
          r.old_item = got->item;
        }
      } else {
        auto written = engine_.MutateItem(e.table, e.key, e.fn);
        st = written.status();
        if (written.ok()) r = *std::move(written);
      }
      if (!st.ok() && first.ok()) first = st;
      results.push_back(std::move(r));
    }
    if (!first.ok()) return first;
    return WriteResult{};
  };
  Enqueue(&self, {});
  RETURN_IF_ERROR(self.result.status());
  return results;
}

absl::StatusOr<std::vector<GetResult>> Region::GetItems(
    const std::vector<std::pair<std::string, Item>>& keys) {
  absl::MutexLock l(&mu_);
  reads_["GetItem"] += static_cast<int64_t>(keys.size());
  std::vector<GetResult> out;
  for (const auto& [table, key] : keys) {
    ASSIGN_OR_RETURN(GetResult r, engine_.GetItem(table, key));
    out.push_back(std::move(r));
  }
  return out;
}

absl::StatusOr<Region::TableChanges> Region::ReadTableChanges(const std::string& table,
                                                              int64_t after_seq, int limit,
                                                              int max_scan) {
  std::optional<TableSpec> spec;
  TableChanges out;
  {
    absl::MutexLock l(&mu_);
    for (TableSpec& t : engine_.Tables()) {
      if (t.name == table) spec = std::move(t);
    }
    out.head_seq = storage_->head_seq();
  }
  if (!spec) {
    return absl::NotFoundError(absl::StrCat("table ", table, " does not exist in region ", name_));
  }
  out.scanned_through = after_seq;
  int scanned = 0;
  constexpr int kChunk = 1000;
  while (scanned < max_scan && (limit <= 0 || static_cast<int>(out.changes.size()) < limit)) {
    std::vector<Change> chunk;
    {
      // One chunk per lock hold, so a long scan never stalls writes for long.
      absl::MutexLock l(&mu_);
      ASSIGN_OR_RETURN(
          chunk, storage_->ReadChanges(out.scanned_through, std::min(kChunk, max_scan - scanned)));
    }
    if (chunk.empty()) break;
    for (Change& c : chunk) {
      ++scanned;
      out.scanned_through = c.seq;
      if (c.table == table && c.table_created == spec->created &&
          (c.kind == ChangeKind::kPut || c.kind == ChangeKind::kDelete)) {
        out.changes.push_back(std::move(c));
        if (limit > 0 && static_cast<int>(out.changes.size()) == limit) break;
      }
    }
  }
  return out;
}

absl::StatusOr<GetResult> Region::GetItem(const std::string& table, const Item& key) {
  absl::MutexLock l(&mu_);
  ++reads_["GetItem"];
  return engine_.GetItem(table, key);
}

absl::StatusOr<Page> Region::Query(const QueryRequest& req) {
  absl::MutexLock l(&mu_);
  ++reads_["Query"];
  return engine_.Query(req);
}

absl::StatusOr<Page> Region::Scan(const ScanRequest& req) {
  absl::MutexLock l(&mu_);
  ++reads_["Scan"];
  return engine_.Scan(req);
}

absl::Status Region::ConsumeReadCapacity(const std::string& table, double units) {
  absl::MutexLock l(&mu_);
  return engine_.ConsumeReadCapacity(table, units);
}

absl::StatusOr<int> Region::BackfillIndexes(int max_rows) {
  absl::MutexLock l(&mu_);
  if (!engine_.HasPendingBackfills()) return 0;
  return InTransaction([&] { return engine_.BackfillIndexes(max_rows); });
}

absl::StatusOr<int> Region::ExpireItems(int max_rows) {
  absl::MutexLock l(&mu_);
  const auto tables = engine_.Tables();
  if (std::none_of(tables.begin(), tables.end(),
                   [](const TableSpec& t) { return t.ttl.enabled; })) {
    return 0;
  }
  return InTransaction([&] { return engine_.ExpireItems(max_rows); });
}

absl::StatusOr<TableInfo> Region::RestoreTableToPointInTime(const RestoreRequest& req) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(TableInfo info, InTransaction([&] { return engine_.BeginRestore(req); }));
  RETURN_IF_ERROR(engine_.SaveRestores());
  return info;
}

absl::StatusOr<int> Region::RestoreSteps(int max_rows) {
  absl::MutexLock l(&mu_);
  if (!engine_.HasPendingRestores()) return 0;
  ASSIGN_OR_RETURN(int done, InTransaction([&] { return engine_.RestoreStep(max_rows); }));
  RETURN_IF_ERROR(engine_.SaveRestores());
  return done;
}

absl::StatusOr<TableInfo> Region::FinishRestore(const std::string& table) {
  while (true) {
    ASSIGN_OR_RETURN(TableInfo info, DescribeTable(table));
    if (!info.restore || !info.restore->in_progress) return info;
    ASSIGN_OR_RETURN(int done, RestoreSteps());
    if (done == 0) return DescribeTable(table);  // dropped meanwhile (its table deleted)
  }
}

std::optional<RestoreWindow> Region::RestoreWindowOf(const std::string& table) {
  absl::MutexLock l(&mu_);
  return engine_.RestoreWindowOf(table);
}

absl::StatusOr<int64_t> Region::TrimLog(absl::Duration retention, int max_rows) {
  absl::MutexLock l(&mu_);
  int64_t min_acked = storage_->head_seq();
  for (const auto& peer : peers_) min_acked = std::min(min_acked, replicator_.AckedSeq(peer));
  // A restore in progress still reads the log from its cut.
  if (auto cut = engine_.OldestRestoreCut()) min_acked = std::min(min_acked, *cut - 1);
  // Point-in-time recovery keeps its window's changes: 35 days while any table here has it on.
  for (const TableSpec& spec : engine_.Tables()) {
    auto rs = spec.replica_settings.find(name_);
    if (rs != spec.replica_settings.end() && rs->second.point_in_time_recovery) {
      retention = std::max(retention, kPitrWindow);
    }
  }
  const int64_t cutoff = clock_->NowMicros() - absl::ToInt64Microseconds(retention);
  return InTransaction([&] { return storage_->TrimChangeLog(min_acked + 1, cutoff, max_rows); },
                       /*local=*/false);
}

absl::StatusOr<int64_t> Region::TrimTombstones(absl::Duration min_age, int max_rows) {
  absl::MutexLock l(&mu_);
  int64_t horizon = clock_->NowMicros() - absl::ToInt64Microseconds(min_age);
  for (const auto& peer : peers_) horizon = std::min(horizon, replicator_.StampFloor(peer));
  if (horizon <= 0) return 0;
  return InTransaction([&] { return engine_.TrimTombstones(horizon, max_rows); },
                       /*local=*/false);
}

int64_t Region::TombstoneHorizon(const std::string& table) {
  absl::MutexLock l(&mu_);
  return engine_.TombstoneHorizon(table);
}

int64_t Region::ServePositionFor(const std::string& subscriber, int64_t after_seq,
                                 int64_t origin_log_id) {
  absl::MutexLock l(&mu_);
  const int64_t trimmed = storage_->trimmed_through();
  if (origin_log_id != 0 || after_seq >= trimmed) return after_seq;
  if (trim_warned_.insert(subscriber).second) {
    AddWarning(absl::StrCat(
        subscriber,
        " joined with an empty database after this region's change log was trimmed "
        "through position ",
        trimmed,
        ": it cannot re-read those changes, so it starts after them. Its replicas of this "
        "region's tables miss what was written before: remove them and add them again "
        "(update-table --remove-replica, then --add-replica) so they bootstrap from a snapshot"));
  }
  return trimmed;
}

absl::StatusOr<ChangeBatch> Region::ReadFor(const std::string& subscriber, int64_t after_seq,
                                            int max_changes, const std::vector<HeldTable>& held) {
  absl::MutexLock l(&mu_);
  if (after_seq < storage_->trimmed_through()) {
    std::string message = absl::StrCat(
        subscriber, " asks for this region's change log after position ", after_seq,
        ", but positions through ", storage_->trimmed_through(),
        " have been trimmed (every peer had acknowledged them and they were older than the "
        "retention): it would miss changes. Remove its replicas and add them again (update-table "
        "--remove-replica, then --add-replica) so they bootstrap from a snapshot");
    if (trim_warned_.insert(subscriber).second) AddWarning(message);
    return absl::FailedPreconditionError(message);
  }
  return replicator_.ReadFor(subscriber, after_seq, max_changes, held);
}

bool Region::WaitForChanges(int64_t after_seq, absl::Duration timeout) {
  absl::MutexLock l(&mu_);
  absl::Time deadline = absl::Now() + timeout;
  while (local_head_ <= after_seq) {
    if (log_grew_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
  }
  return local_head_ > after_seq;
}

void Region::RecordAck(const std::string& peer, int64_t applied_seq) {
  absl::MutexLock l(&mu_);
  replicator_.RecordAck(peer, applied_seq);
  const int64_t now = clock_->NowMicros();
  if (replicator_.acks_dirty() && now - last_ack_flush_us_ >= kAckFlushIntervalUs) {
    // Losing an acknowledgement only makes PendingReplicationCount overcount until the next one.
    replicator_.FlushAcks().IgnoreError();
    last_ack_flush_us_ = now;
  }
}

absl::StatusOr<ApplyReport> Region::Apply(ChangeBatch batch) {
  absl::MutexLock l(&mu_);
  if (blocked_.count(batch.origin)) {
    return absl::UnavailableError("replication from " + batch.origin + " is cut (partition)");
  }
  if (batch.subscription_epoch >= 0 && batch.subscription_epoch != subscription_epoch_) {
    return absl::AbortedError(absl::StrCat("a bootstrap moved the cursors since this stream from ",
                                           batch.origin, " was opened; subscribe again"));
  }
  if (absl::Status bound = replicator_.CheckStamps(batch); !bound.ok()) {
    if (future_warned_.insert(batch.origin).second) AddWarning(std::string(bound.message()));
    return bound;
  }
  future_warned_.erase(batch.origin);
  replicator_.NoteOriginHead(batch.origin, batch.origin_head);
  std::vector<ConflictLog::Watched> watched =
      ConflictLog::Watch(batch, replicator_.Cursor(batch.origin));
  auto report =
      InTransaction([&] { return replicator_.ApplyBatch(std::move(batch)); }, /*local=*/false);
  if (report.ok()) {
    replicator_.Committed(*report);
    if (report->lost_to_newer > 0) {
      conflicts_.Record(
          watched, report->lost_to_newer, report->cursor, clock_->NowMicros(),
          [&](const std::string& table, const Item& key) { return engine_.GetItem(table, key); });
    }
    if (!engine_.bootstraps().empty()) MaybeFinishBootstraps();
  }
  return report;
}

int64_t Region::LogId() {
  absl::MutexLock l(&mu_);
  return storage_->log_id();
}

Region::Subscription Region::SubscriptionFor(const std::string& origin) {
  absl::MutexLock l(&mu_);
  Subscription s;
  s.after_seq = replicator_.Cursor(origin);
  s.origin_log_id = replicator_.CursorLogId(origin);
  s.after_local_ts = replicator_.CursorStamp(origin);
  if (auto it = reclaim_after_.find(origin); it != reclaim_after_.end()) {
    s.reclaim_after_ts = it->second;
  }
  for (const auto& spec : engine_.Tables()) {
    HeldTable h{spec.name, spec.created, 0};
    // A bootstrapping table needs this origin's changes only after the snapshot cut.
    auto b = engine_.bootstraps().find(spec.name);
    if (b != engine_.bootstraps().end() && b->second.cut) {
      auto at = b->second.cut->find(origin);
      if (at != b->second.cut->end()) h.after_seq = at->second;
    }
    s.held.push_back(std::move(h));
  }
  s.epoch = subscription_epoch_;
  return s;
}

absl::StatusOr<SnapshotChunk> Region::ReadSnapshot(const SnapshotRequest& req) {
  absl::MutexLock l(&mu_);
  auto key = std::make_pair(req.table, req.subscriber);
  auto it = serving_.find(key);
  bool fresh = !req.after || it == serving_.end();
  ASSIGN_OR_RETURN(SnapshotChunk chunk,
                   engine_.ReadSnapshotRows(req.table, req.table_created, req.subscriber, req.after,
                                            std::max(1, req.max_rows), fresh));
  // Taken under the same lock as the rows: every change the cut names is in them.
  chunk.cut = replicator_.Cut(peers_);
  chunk.source = name_;
  Serving& s = serving_[key];
  if (fresh) s = Serving{0, chunk.total_rows};
  s.served += static_cast<int64_t>(chunk.rows.size());
  chunk.total_rows = s.total;
  if (chunk.last) serving_.erase(key);
  return chunk;
}

int64_t Region::LocalHead() {
  absl::MutexLock l(&mu_);
  return local_head_;
}

std::vector<BootstrapState> Region::PendingBootstraps() {
  absl::MutexLock l(&mu_);
  std::vector<BootstrapState> out;
  for (const auto& [table, b] : engine_.bootstraps()) {
    if (!b.loaded) out.push_back(b);
  }
  return out;
}

absl::Status Region::LoadSnapshotChunk(const SnapshotChunk& chunk) {
  absl::MutexLock l(&mu_);
  auto b = engine_.bootstraps().find(chunk.table);
  const bool first = b != engine_.bootstraps().end() && !b->second.cut;
  auto done = InTransaction([&]() -> absl::StatusOr<bool> {
    RETURN_IF_ERROR(engine_.LoadSnapshotChunk(chunk));
    if (first) RETURN_IF_ERROR(replicator_.RewindTo(chunk.cut));
    return true;
  });
  RETURN_IF_ERROR(done.status());
  // A snapshot is loaded faster than the background checkpointer copies it: bound the WAL
  // (64 MB of 4 KB pages), at one fsync per bound rather than per chunk.
  storage_->CheckpointIfWalOver(16384);
  if (first) {
    // The rewound cursors are durable: reload them and make every link subscribe again, now
    // declaring this table, from the rewound positions.
    replicator_.Load().IgnoreError();
    ++subscription_epoch_;
  }
  MaybeFinishBootstraps();
  return absl::OkStatus();
}

void Region::MaybeFinishBootstraps() {
  std::vector<std::string> ready;
  for (const auto& [table, b] : engine_.bootstraps()) {
    if (!b.loaded || !b.cut) continue;
    bool caught_up = true;
    for (const auto& [origin, seq] : *b.cut) {
      if (origin != name_ && replicator_.Cursor(origin) < seq) caught_up = false;
    }
    if (caught_up) ready.push_back(table);
  }
  for (const auto& table : ready) {
    auto st = InTransaction([&]() -> absl::StatusOr<bool> {
      RETURN_IF_ERROR(engine_.FinishBootstrap(table));
      return true;
    });
    (void)st;  // retried after the next applied batch or chunk
  }
}

int64_t Region::Cursor(const std::string& origin) {
  absl::MutexLock l(&mu_);
  return replicator_.Cursor(origin);
}

void Region::SetConnected(const std::string& origin, bool connected) {
  absl::MutexLock l(&mu_);
  if (connected) {
    connected_.insert(origin);
  } else {
    connected_.erase(origin);
  }
}

absl::StatusOr<ClockSkewChange> Region::SetClockSkew(int64_t skew_us) {
  if (skew_us > kMaxClockSkewUs || skew_us < -kMaxClockSkewUs) {
    return absl::InvalidArgumentError(
        absl::StrCat("a clock skew of ", absl::FormatDuration(absl::Microseconds(skew_us)),
                     " is refused: gtsim allows at most ",
                     absl::FormatDuration(absl::Microseconds(kMaxClockSkewUs)), " either way"));
  }
  absl::MutexLock l(&mu_);
  ClockSkewChange change;
  change.previous_skew_us = engine_.clock_skew_us();
  change.skew_us = skew_us;
  change.last_stamp_us = engine_.last_stamp_us();
  change.now_us = clock_->NowMicros();
  engine_.set_clock_skew_us(skew_us);
  return change;
}

void Region::SetBlocked(const std::string& peer, bool blocked) {
  absl::MutexLock l(&mu_);
  if (blocked) {
    blocked_.insert(peer);
  } else {
    blocked_.erase(peer);
  }
}

bool Region::IsBlocked(const std::string& peer) {
  absl::MutexLock l(&mu_);
  return blocked_.count(peer) > 0;
}

void Region::SetInboundDelay(const std::string& origin, LinkDelay delay) {
  absl::MutexLock l(&mu_);
  if (delay.none()) {
    inbound_delay_.erase(origin);
  } else {
    inbound_delay_[origin] = delay;
  }
}

LinkDelay Region::InboundDelay(const std::string& origin) {
  absl::MutexLock l(&mu_);
  auto it = inbound_delay_.find(origin);
  return it == inbound_delay_.end() ? LinkDelay{} : it->second;
}

absl::StatusOr<RegionStatus> Region::Status() {
  absl::MutexLock l(&mu_);
  RegionStatus s;
  s.region = name_;
  s.head_seq = storage_->head_seq();
  s.clock_skew_us = engine_.clock_skew_us();
  for (const auto& name : engine_.ListTables()) {
    ASSIGN_OR_RETURN(TableInfo info, engine_.DescribeTable(name));
    s.tables.push_back(TableStatus{info.spec, info.item_count});
  }
  for (const auto& peer : peers_) {
    InboundStatus in;
    in.origin = peer;
    in.applied_seq = replicator_.Cursor(peer);
    in.connected = connected_.count(peer) > 0;
    in.blocked = blocked_.count(peer) > 0;
    if (auto it = inbound_delay_.find(peer); it != inbound_delay_.end()) in.delay = it->second;
    in.latency = replicator_.Latency(peer);
    in.latency_1s = replicator_.Latency(peer, 1'000'000);
    in.histograms = replicator_.LatencyHistograms(peer);
    in.lost_to_newer = replicator_.LostCount(peer);
    in.dropped = replicator_.DroppedCount(peer);
    in.applied_changes = replicator_.AppliedCount(peer);
    in.origin_head = replicator_.OriginHead(peer);
    s.inbound.push_back(in);
    OutboundStatus out;
    out.peer = peer;
    out.acked_seq = replicator_.AckedSeq(peer);
    ASSIGN_OR_RETURN(out.lag, replicator_.Lag(peer));
    out.pending = out.lag.pending;
    s.outbound.push_back(out);
  }
  s.warnings = warnings_;
  s.local_writes = local_writes_;
  s.reads = reads_;
  s.conflicts = conflicts_.Recent();
  ASSIGN_OR_RETURN(s.disk, storage_->disk_use());
  if (absl::Status health = storage_->health(); !health.ok()) {
    s.warnings.insert(s.warnings.begin(), std::string(health.message()));
  }
  return s;
}

void Region::AddWarning(const std::string& text) {
  std::fprintf(stderr, "gtsim-region %s: WARNING: %s\n", name_.c_str(), text.c_str());
  warnings_.push_back(text);
  if (warnings_.size() > 20) warnings_.erase(warnings_.begin());
  storage_->PutMeta("warnings", absl::StrJoin(warnings_, "\n")).IgnoreError();
}

absl::StatusOr<bool> Region::CheckSubscriber(const std::string& subscriber, int64_t after_seq,
                                             int64_t after_local_ts, int64_t origin_log_id) {
  absl::MutexLock l(&mu_);
  if (origin_log_id == 0 || origin_log_id != storage_->log_id()) return false;
  ASSIGN_OR_RETURN(int64_t ahead, replicator_.RolledBackBy(after_seq, after_local_ts));
  if (ahead == 0) return false;
  const int64_t head = storage_->head_seq();
  // This region's own writes that it lost have stamps after the newest local change it still
  // holds from before them; the subscriber saw up to after_local_ts of them.
  int64_t kept_ts = 0;
  if (after_local_ts != 0) {
    ASSIGN_OR_RETURN(kept_ts, storage_->NewestLocalTimestampAtOrBefore(after_local_ts - 1));
  } else {
    ASSIGN_OR_RETURN(kept_ts, storage_->LocalTimestampThrough(std::min(head, after_seq)));
  }
  const int64_t old_id = storage_->log_id();
  ASSIGN_OR_RETURN(int64_t new_id, storage_->RenewLogId());
  for (const auto& peer : peers_) {
    RETURN_IF_ERROR(storage_->PutMeta("reclaim_after/" + peer, absl::StrCat(kept_ts)));
    reclaim_after_[peer] = kept_ts;
    reclaimed_[peer] = 0;
  }
  AddWarning(absl::StrCat(
      "this region's change log rolled back: ", subscriber, " had applied it through position ",
      after_seq, ", but it now ",
      head < after_seq ? absl::StrCat("ends at ", head, " (", after_seq - head, " positions lost)")
                       : std::string("holds other changes there (the lost positions were reused)"),
      ". Acknowledged changes made or applied here after ",
      kept_ts ? absl::FormatTime(absl::FromUnixMicros(kept_ts), absl::UTCTimeZone())
              : std::string("the start"),
      " were lost from this region's database (a lost or truncated WAL file, or a power loss "
      "under --durability=normal). Started a new change log (id ",
      old_id, " -> ", new_id,
      ") so every peer re-reads it and no later write is skipped; asking every peer for this "
      "region's writes it holds (the count restored appears here when done)."));
  // Inbound streams subscribe again, now with the reclaim request.
  ++subscription_epoch_;
  return true;
}

absl::Status Region::BeginRejoin() {
  absl::MutexLock l(&mu_);
  for (const auto& peer : peers_) {
    if (Planted(PlantedBug::kRejoinWithoutReclaim)) break;
    RETURN_IF_ERROR(storage_->PutMeta("reclaim_after/" + peer, "0"));
    reclaim_after_[peer] = 0;
    reclaimed_[peer] = 0;
  }
  AddWarning(
      "rejoined with an empty database: asking every peer for the tables that list this region "
      "and for this region's writes it holds (the count restored appears here when done); "
      "writes this region acknowledged that no peer received are lost");
  return absl::OkStatus();
}

absl::StatusOr<ChangeBatch> Region::ReadReclaim(const std::string& requester, int64_t after_ts,
                                                int64_t after_seq) {
  absl::MutexLock l(&mu_);
  return replicator_.ReadReclaim(requester, after_ts, after_seq, 2048);
}

absl::StatusOr<int> Region::ApplyReclaimed(ChangeBatch batch) {
  absl::MutexLock l(&mu_);
  const std::string origin = batch.origin;
  const bool done = batch.reclaim_done;
  ASSIGN_OR_RETURN(int restored, InTransaction([&]() -> absl::StatusOr<int> {
                     return replicator_.ApplyReclaimed(std::move(batch));
                   }));
  reclaimed_[origin] += restored;
  if (done && reclaim_after_.erase(origin)) {
    RETURN_IF_ERROR(storage_->PutMeta("reclaim_after/" + origin, std::nullopt));
    AddWarning(absl::StrCat("lost-writes repair: ", origin, " sent back ", reclaimed_[origin],
                            " of this region's lost writes, now restored here and replicated "
                            "again",
                            reclaim_after_.empty() ? " (every peer has answered)" : ""));
  }
  return restored;
}

absl::StatusOr<std::vector<TableEngine::Version>> Region::DumpTable(const std::string& table) {
  absl::MutexLock l(&mu_);
  return engine_.DumpTable(table);
}

std::vector<TableSpec> Region::Tables() {
  absl::MutexLock l(&mu_);
  return engine_.Tables();
}

}  // namespace gtsim
