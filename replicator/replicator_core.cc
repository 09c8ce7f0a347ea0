#include "replicator/replicator_core.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "model/planted_bug.h"
#include "model/status_macros.h"

namespace gtsim {

namespace {
// The value for `key` in a per-region map of counts or positions; 0 when there is none.
int64_t ValueOr0(const std::map<std::string, int64_t>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : it->second;
}
// Log rows examined per ReadFor call when most are for tables the subscriber does not hold.
constexpr int kMaxScan = 4096;
// A batch stops growing past this many bytes of item images (gRPC messages stay well under the
// receiver's limit even with 400 KB items).
constexpr int64_t kMaxBatchBytes = 4 << 20;
}  // namespace

const char* StreamEventName(const Change& c) {
  return c.kind == ChangeKind::kDelete ? "REMOVE" : c.old_image ? "MODIFY" : "INSERT";
}

const char* ChangeKindName(ChangeKind kind) {
  switch (kind) {
    case ChangeKind::kPut:
      return "PUT";
    case ChangeKind::kDelete:
      return "DELETE";
    case ChangeKind::kCreateTable:
      return "CREATE_TABLE";
    case ChangeKind::kDeleteTable:
      return "DELETE_TABLE";
    case ChangeKind::kUpdateTable:
      return "UPDATE_TABLE";
  }
  return "?";
}

ReplicatorCore::ReplicatorCore(std::string region, Storage* storage, TableEngine* engine,
                               Clock* clock)
    : region_(std::move(region)), storage_(storage), engine_(engine), clock_(clock) {}

absl::Status ReplicatorCore::Load() {
  ASSIGN_OR_RETURN(cursors_, storage_->LoadCursors());
  ASSIGN_OR_RETURN(cursor_log_ids_, storage_->LoadCursorLogIds());
  ASSIGN_OR_RETURN(cursor_stamps_, storage_->LoadCursorStamps());
  // Acknowledgements recorded since the last flush are in memory only (RecordAck). A reload
  // after a rolled-back transaction (a failed conditional write, say) must not forget them, or
  // PendingReplicationCount overcounts until each peer acknowledges again; a rolled-back flush
  // leaves them to flush again.
  ASSIGN_OR_RETURN(auto durable_acks, storage_->LoadPeerAcks());
  dirty_acks_.clear();
  for (const auto& [peer, seq] : durable_acks) {
    int64_t& a = acked_[peer];
    a = std::max(a, seq);
  }
  for (const auto& [peer, seq] : acked_) {
    auto d = durable_acks.find(peer);
    if (d == durable_acks.end() || d->second < seq) dirty_acks_.insert(peer);
  }
  return absl::OkStatus();
}

absl::StatusOr<ChangeBatch> ReplicatorCore::ReadFor(const std::string& subscriber,
                                                    int64_t after_seq, int max_changes,
                                                    const std::vector<HeldTable>& held) {
  ChangeBatch batch;
  batch.origin = region_;
  batch.origin_head = storage_->head_seq();
  batch.origin_log_id = storage_->log_id();
  batch.scanned_through = after_seq;
  int limit = std::min(kMaxScan, std::max(max_changes, 1));
  // Table definitions go where they say (to every replica they list, and to a region whose
  // add this very record cancelled, so it drops what it loaded); other changes follow the
  // table's current spec (which a deleted table keeps) and what the subscriber holds.
  auto is_relevant = [&](const Change& c) {
    if (c.kind == ChangeKind::kCreateTable || c.kind == ChangeKind::kUpdateTable) {
      return c.spec && (c.spec->HasReplica(subscriber) ||
                        c.spec->MembershipOf(subscriber).changed == c.stamp);
    }
    const TableSpec* spec = engine_->SpecOf(c.table);
    if (spec && spec->created == c.table_created && spec->Receives(subscriber)) return true;
    return std::any_of(held.begin(), held.end(), [&](const HeldTable& h) {
      return h.name == c.table && h.created == c.table_created && c.seq > h.after_seq;
    });
  };
  // Rows for other tables come back undecoded: a subscriber far behind on a long log of
  // tables it does not hold costs only their headers.
  // The filter sees the rows in log order, so `kept` comes out sorted.
  std::vector<int64_t> kept;
  ASSIGN_OR_RETURN(auto rows, storage_->ReadLocalChanges(after_seq, limit, [&](const Change& c) {
    bool relevant = is_relevant(c);
    if (relevant) kept.push_back(c.seq);
    return relevant;
  }));
  batch.changes.reserve(std::min(rows.size(), static_cast<size_t>(std::max(max_changes, 0))));
  int64_t bytes = 0;
  bool cut_short = false;
  for (auto& c : rows) {
    bool relevant = std::binary_search(kept.begin(), kept.end(), c.seq);
    batch.scanned_through = c.seq;
    if (relevant) {
      c.old_image.reset();       // receivers compute their own
      c.service_delete = false;  // a TTL expiry is an ordinary delete everywhere else
      if (c.new_image) bytes += ItemSize(*c.new_image);
      batch.changes.push_back(std::move(c));
      if (static_cast<int>(batch.changes.size()) >= max_changes || bytes >= kMaxBatchBytes) {
        cut_short = batch.scanned_through != rows.back().seq;
        break;
      }
    }
  }
  // Every local change was read: the subscriber has seen this log up to its head, even when
  // its last rows are changes replicated here (which are not served). A bootstrap's cut names
  // the source's head, so the new replica's cursor must be able to reach it.
  if (!cut_short && static_cast<int>(rows.size()) < limit) {
    batch.scanned_through = std::max(batch.scanned_through, batch.origin_head);
  }
  ASSIGN_OR_RETURN(batch.through_local_ts, storage_->LocalTimestampThrough(batch.scanned_through));
  // The caller holds the region's lock, so no local write has taken a stamp it has not logged.
  if (batch.scanned_through >= batch.origin_head) batch.stamp_floor = engine_->StampFloor();
  return batch;
}

absl::StatusOr<int64_t> ReplicatorCore::RolledBackBy(int64_t after_seq, int64_t after_local_ts) {
  if (after_seq <= 0) return 0;
  const int64_t head = storage_->head_seq();
  if (head < after_seq) return after_seq - head;
  if (after_local_ts == 0) return 0;
  ASSIGN_OR_RETURN(int64_t here, storage_->LocalTimestampThrough(after_seq));
  if (here == after_local_ts) return 0;
  // The positions were reused: how many is not known here; the subscriber is at least one
  // change ahead of what this log holds.
  return 1;
}

absl::StatusOr<ChangeBatch> ReplicatorCore::ReadReclaim(const std::string& requester,
                                                        int64_t after_ts, int64_t after_seq,
                                                        int limit) {
  ChangeBatch batch;
  batch.origin = region_;
  batch.origin_log_id = storage_->log_id();
  batch.reclaim = true;
  batch.scanned_through = after_seq;
  if (after_seq == 0) {
    // First page: the current definition of every table here that lists the requester, so a
    // requester that lost them too (a wiped region rejoining) holds each table before its items
    // arrive - the definitions of tables it created or changed itself are its own lost writes.
    // As a CREATE_TABLE (makes a table it does not hold) then an UPDATE_TABLE (merges into one
    // it holds); a CREATING replica gets the UPDATE_TABLE only, which starts its bootstrap.
    for (const TableSpec& spec : engine_->Tables()) {
      const std::string status = spec.ReplicaStatus(requester);
      if (status.empty() || status == "DELETING") continue;
      for (ChangeKind kind : {ChangeKind::kCreateTable, ChangeKind::kUpdateTable}) {
        if (kind == ChangeKind::kCreateTable && status == "CREATING") continue;
        Change c;
        c.kind = kind;
        c.table = spec.name;
        c.table_created = spec.created;
        c.stamp = spec.Version();
        c.spec = spec;
        batch.changes.push_back(std::move(c));
      }
    }
  }
  ASSIGN_OR_RETURN(auto rows, storage_->ReadChanges(after_seq, std::max(limit, 1)));
  for (auto& c : rows) {
    batch.scanned_through = c.seq;
    if (c.kind != ChangeKind::kPut && c.kind != ChangeKind::kDelete) continue;
    if (c.stamp.region != requester || c.stamp.ts_us <= after_ts) continue;
    c.old_image.reset();
    c.service_delete = false;
    batch.changes.push_back(std::move(c));
  }
  batch.origin_head = storage_->head_seq();
  batch.reclaim_done = batch.scanned_through >= batch.origin_head;
  return batch;
}

absl::StatusOr<int> ReplicatorCore::ApplyReclaimed(ChangeBatch batch) {
  int restored = 0;
  for (auto& c : batch.changes) {
    if (c.kind == ChangeKind::kCreateTable || c.kind == ChangeKind::kUpdateTable) {
      // A definition (the first page, ReadReclaim): applied as from the origin, which holds it.
      ASSIGN_OR_RETURN(ApplyOutcome outcome, engine_->ApplyRemote(std::move(c)));
      (void)outcome;  // held already, or learned: either way this region now has it
      continue;
    }
    // Every item change of a reclaim batch originated here (ReadReclaim); the wire form names a
    // batch's origin, not each change's, so the stamp's region is this one.
    c.stamp.region = region_;
    ASSIGN_OR_RETURN(bool wrote, engine_->RestoreOwnChange(std::move(c)));
    if (wrote) ++restored;
  }
  return restored;
}

void ReplicatorCore::RecordAck(const std::string& subscriber, int64_t applied_seq) {
  int64_t& a = acked_[subscriber];
  if (applied_seq <= a) return;
  a = applied_seq;
  dirty_acks_.insert(subscriber);
}

absl::Status ReplicatorCore::FlushAcks() {
  for (const auto& peer : dirty_acks_) RETURN_IF_ERROR(storage_->SetPeerAck(peer, acked_[peer]));
  dirty_acks_.clear();
  return absl::OkStatus();
}

int64_t ReplicatorCore::AckedSeq(const std::string& peer) const { return ValueOr0(acked_, peer); }

absl::StatusOr<int64_t> ReplicatorCore::Pending(const std::string& peer) {
  int64_t acked = AckedSeq(peer);
  std::vector<std::string> tables;
  for (const auto& spec : engine_->Tables()) {
    if (spec.HasReplica(peer)) tables.push_back(spec.name);
  }
  return storage_->CountLocalChanges(acked, tables);
}

absl::StatusOr<PeerLag> ReplicatorCore::Lag(const std::string& peer) {
  const int64_t acked = AckedSeq(peer);
  const int64_t now = clock_->NowMicros();
  PeerLag lag;
  std::map<std::string, PeerLag::Table> tables;  // by name
  for (const auto& spec : engine_->Tables()) {
    if (!spec.HasReplica(peer)) continue;
    PeerLag::Table& t = tables[spec.name];
    t.table = spec.name;
    ASSIGN_OR_RETURN(t.pending, storage_->CountLocalChanges(acked, {spec.name}));
    lag.pending += t.pending;
  }
  // The oldest pending change of each table with any: the first of its rows after `acked`.
  std::map<std::string, int64_t> oldest;  // table -> commit_true_us
  size_t behind = 0;
  for (const auto& [name, t] : tables) behind += t.pending > 0;
  int64_t after = acked, last_commit_us = 0;
  int scanned = 0;
  constexpr int kChunk = 512;
  while (oldest.size() < behind && scanned < kMaxLagScan) {
    ASSIGN_OR_RETURN(
        auto rows, storage_->ReadLocalChanges(after, kChunk, [](const Change&) { return false; }));
    for (const auto& c : rows) {
      after = c.seq;
      last_commit_us = c.commit_true_us;
      ++scanned;
      auto it = tables.find(c.table);
      if (it != tables.end() && it->second.pending > 0) oldest.emplace(c.table, c.commit_true_us);
    }
    if (static_cast<int>(rows.size()) < kChunk) break;  // read to the head
  }
  std::optional<int64_t> pair_oldest;
  bool pair_at_most = false;
  for (auto& [name, t] : tables) {
    std::optional<int64_t> first;
    bool at_most = false;
    if (auto it = oldest.find(name); it != oldest.end()) {
      first = it->second;
    } else if (t.pending > 0 && last_commit_us != 0) {
      first = last_commit_us;  // beyond the scan: no older than the last row read
      at_most = true;
    }
    t.freshness = FreshnessAt(now, first);
    t.freshness.at_most = at_most;
    if (first && (!pair_oldest || *first < *pair_oldest)) {
      pair_oldest = first;
      pair_at_most = at_most;
    }
    lag.tables.push_back(std::move(t));
  }
  lag.freshness = FreshnessAt(now, pair_oldest);
  lag.freshness.at_most = pair_at_most;
  return lag;
}

absl::Status ReplicatorCore::CheckStamps(const ChangeBatch& batch) const {
  const int64_t now = clock_->NowMicros();
  for (const auto& c : batch.changes) {
    int64_t newest = c.stamp.ts_us;
    if (c.spec) newest = std::max(newest, NewestStampUs(*c.spec));
    if (newest - now <= kMaxStampAheadUs) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        "refused changes from ", batch.origin, ": a change to table ", c.table, " is stamped ",
        absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(newest), absl::UTCTimeZone()),
        ", ", absl::FormatDuration(absl::Microseconds(newest - now)),
        " ahead of this region's clock; gtsim accepts stamps at most ",
        absl::FormatDuration(absl::Microseconds(kMaxStampAheadUs)),
        " ahead (the largest clock skew plus a minute). Check ", batch.origin,
        "'s clock; its changes wait until this region's clock is within the bound"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ApplyReport> ReplicatorCore::ApplyBatch(ChangeBatch batch) {
  ApplyReport report;
  report.origin = batch.origin;
  int64_t cursor = Cursor(batch.origin);
  report.origin_log_id = CursorLogId(batch.origin);
  if (batch.origin_log_id != 0 && batch.origin_log_id != report.origin_log_id) {
    if (report.origin_log_id != 0) {
      // The origin's log restarted (its database is new); the origin served this batch from
      // the start of the new log, because the subscription named the old one.
      report.log_restarted = true;
      cursor = 0;
      RETURN_IF_ERROR(storage_->SetCursor(batch.origin, 0));
      origin_head_[batch.origin] = batch.origin_head;
    }
    report.origin_log_id = batch.origin_log_id;
    RETURN_IF_ERROR(storage_->SetCursorLogId(batch.origin, batch.origin_log_id));
  }
  report.cursor = cursor;
  const int64_t stamp_before = report.log_restarted ? 0 : CursorStamp(batch.origin);
  int64_t last_stamp_us = 0;  // of the last change applied from this batch
  int64_t now = clock_->NowMicros();
  for (auto& c : batch.changes) {
    if (c.seq <= cursor) continue;                                 // already applied: a re-delivery
    const int64_t seq = c.seq, commit_true_us = c.commit_true_us;  // `c` is moved below
    const int64_t stamp_us = c.stamp.ts_us;
    std::string table = c.table;
    ASSIGN_OR_RETURN(ApplyOutcome outcome, engine_->ApplyRemote(std::move(c)));
    if (outcome == ApplyOutcome::kWaitForTable) {
      report.waiting = true;
      break;
    }
    if (outcome == ApplyOutcome::kApplied) {
      ++report.applied;
      report.latencies_us.push_back(now - commit_true_us);
      report.latency_tables.push_back(std::move(table));
    } else if (outcome == ApplyOutcome::kLostToNewer) {
      ++report.lost_to_newer;
    } else {
      ++report.dropped;
    }
    report.cursor = seq;
    last_stamp_us = stamp_us;
  }
  if (!report.waiting) report.cursor = std::max(report.cursor, batch.scanned_through);
  if (report.cursor > cursor) RETURN_IF_ERROR(storage_->SetCursor(batch.origin, report.cursor));
  // The stamp the origin's log has at the cursor: the batch's when the cursor reached its end,
  // else that of the last change applied (a local change of the origin, so its newest there).
  report.cursor_stamp = stamp_before;
  if (report.cursor == batch.scanned_through && batch.through_local_ts != 0) {
    report.cursor_stamp = batch.through_local_ts;
  } else if (report.cursor > cursor && last_stamp_us != 0) {
    report.cursor_stamp = last_stamp_us;
  }
  if (report.cursor == batch.scanned_through) report.stamp_floor = batch.stamp_floor;
  if (report.cursor_stamp != stamp_before || report.log_restarted) {
    RETURN_IF_ERROR(storage_->SetCursorStamp(batch.origin, report.cursor_stamp));
  }
  return report;
}

std::map<std::string, int64_t> ReplicatorCore::Cut(const std::vector<std::string>& peers) const {
  std::map<std::string, int64_t> cut;
  for (const auto& p : peers) cut[p] = Cursor(p);
  cut[region_] = storage_->head_seq() + (Planted(PlantedBug::kSnapshotCutAheadByOne) ? 1 : 0);
  return cut;
}

absl::Status ReplicatorCore::RewindTo(const std::map<std::string, int64_t>& cut) {
  for (const auto& [origin, seq] : cut) {
    if (origin == region_) continue;
    stamp_floors_.erase(origin);
    if (Cursor(origin) > seq) {
      RETURN_IF_ERROR(storage_->SetCursor(origin, seq));
      // The origin's stamp at the old position does not hold at `seq`; kept, it would make the
      // origin believe its log rolled back (RolledBackBy) when this region subscribes from `seq`.
      // Unknown until the next batch brings the stamp at the new position.
      if (!Planted(PlantedBug::kRewindKeepsStamp)) {
        RETURN_IF_ERROR(storage_->SetCursorStamp(origin, 0));
      }
    }
  }
  return absl::OkStatus();
}

void ReplicatorCore::Committed(const ApplyReport& report) {
  int64_t& cursor = cursors_[report.origin];
  cursor = report.log_restarted ? report.cursor : std::max(cursor, report.cursor);
  if (report.origin_log_id != 0) cursor_log_ids_[report.origin] = report.origin_log_id;
  cursor_stamps_[report.origin] = report.cursor_stamp;
  int64_t& floor = stamp_floors_[report.origin];
  floor = report.log_restarted ? report.stamp_floor : std::max(floor, report.stamp_floor);
  int64_t now = clock_->NowMicros();
  LagWindow& lag = lag_[report.origin];
  auto& histograms = histograms_[report.origin];
  for (size_t i = 0; i < report.latencies_us.size(); ++i) {
    lag.Record(now, report.latencies_us[i]);
    if (i < report.latency_tables.size()) {
      histograms[report.latency_tables[i]].Record(report.latencies_us[i]);
    }
  }
  applied_count_[report.origin] += report.applied;
  if (report.lost_to_newer) lost_count_[report.origin] += report.lost_to_newer;
  if (report.dropped) dropped_count_[report.origin] += report.dropped;
}

int64_t ReplicatorCore::Cursor(const std::string& origin) const {
  return ValueOr0(cursors_, origin);
}

int64_t ReplicatorCore::StampFloor(const std::string& origin) const {
  return ValueOr0(stamp_floors_, origin);
}

int64_t ReplicatorCore::CursorStamp(const std::string& origin) const {
  return ValueOr0(cursor_stamps_, origin);
}

int64_t ReplicatorCore::CursorLogId(const std::string& origin) const {
  return ValueOr0(cursor_log_ids_, origin);
}

LatencySummary ReplicatorCore::Latency(const std::string& origin, int64_t window_us) const {
  auto it = lag_.find(origin);
  return it == lag_.end() ? LatencySummary{} : it->second.Summarize(clock_->NowMicros(), window_us);
}

std::map<std::string, LatencyHistogram> ReplicatorCore::LatencyHistograms(
    const std::string& origin) const {
  auto it = histograms_.find(origin);
  return it == histograms_.end() ? std::map<std::string, LatencyHistogram>{} : it->second;
}

int64_t ReplicatorCore::LostCount(const std::string& origin) const {
  return ValueOr0(lost_count_, origin);
}

int64_t ReplicatorCore::DroppedCount(const std::string& origin) const {
  return ValueOr0(dropped_count_, origin);
}

int64_t ReplicatorCore::AppliedCount(const std::string& origin) const {
  return ValueOr0(applied_count_, origin);
}

int64_t ReplicatorCore::OriginHead(const std::string& origin) const {
  return ValueOr0(origin_head_, origin);
}

void ReplicatorCore::NoteOriginHead(const std::string& origin, int64_t head) {
  int64_t& h = origin_head_[origin];
  h = std::max(h, head);
}

}  // namespace gtsim
