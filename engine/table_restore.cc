// Point-in-time recovery: TableEngine's RestoreTableToPointInTime (see table_engine.h).
//
// The algorithm. Every change this region commits to an item - a local write, a TTL delete, a
// replicated change that won LWW - is logged here in commit order with the local true time of
// its commit (applied_true_us) and the image it replaced (old_image, this region's own, also
// for replicated changes). Writes LWW discards change nothing and are not logged. So the
// replica's state at time T is a cut of the log: `cut` is the first position committed after
// T, and for each key
//   - changed at or after `cut`: the old image of its FIRST change from `cut` on (absent when
//     that change found no item);
//   - otherwise: its current version (nothing has touched it since T).
// A restore reads the log from `cut` into a map (key -> first old image) and copies the
// source's versions in key order, in steps that each hold the region's lock for one chunk.
// Each copy step first reads the log up to its head, so a key written between steps is in the
// map before its row is copied, and copied rows are exactly the keys untouched since T. Once
// the scan is done, the map's images are written and the table turns ACTIVE.
//
// Every restored row carries the restore's stamp (the target's creation stamp), so later local
// writes to the new table, stamped after it, always win. The rows are bulk loaded (no
// change-log rows: the restored table's stream starts empty, as DynamoDB's). Indexes are kept
// in step by storage as rows load, and marked ACTIVE when the restore completes.
//
// Durability: each job's summary is in storage meta under "restore/<target>"; a restore cut
// short by a restart starts again from an empty table (the log from `cut` is kept: TrimLog
// asks OldestRestoreCut).

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/table_engine.h"
#include "model/status_macros.h"

namespace gtsim {

namespace {
constexpr int64_t kPitrWindowUs = int64_t{35} * 24 * 3600 * 1'000'000;
std::string MetaKey(const std::string& target) { return "restore/" + target; }
}  // namespace

struct TableEngine::RestoreJob {
  RestoreSummary summary;
  std::string target;
  Stamp target_created;  // also the stamp of every restored row
  Stamp source_created;
  int64_t cut = 0;  // first log position after the point in time
  // In memory only (a restart starts the job again):
  bool fresh = true;         // the target's rows must be cleared before the first step
  int64_t read_through = 0;  // log read through here
  bool scanned = false;      // every source row copied or decided
  std::optional<std::pair<std::string, std::string>> after;  // scan position
  // Keys changed at or after `cut`, and their image then (nullopt: absent).
  std::map<std::pair<std::string, std::string>, std::optional<std::string>> changed;
  bool dirty = true;  // summary not yet saved
  // Changed by a transaction not known to have committed (SaveRestores clears it): a reload
  // after a rollback must not trust the in-memory state.
  bool uncommitted = true;
  bool drop = false;  // meta to delete (the target is gone)

  std::string Encode() const {
    return absl::StrJoin({summary.source_table, absl::StrCat(source_created.ts_us),
                          source_created.region, absl::StrCat(target_created.ts_us),
                          target_created.region, absl::StrCat(summary.restore_us),
                          absl::StrCat(cut), std::string(summary.in_progress ? "1" : "0")},
                         "\t");
  }
  static std::optional<RestoreJob> Decode(const std::string& target, const std::string& text) {
    std::vector<std::string> f = absl::StrSplit(text, '\t');
    RestoreJob j;
    if (f.size() != 8 || !absl::SimpleAtoi(f[1], &j.source_created.ts_us) ||
        !absl::SimpleAtoi(f[3], &j.target_created.ts_us) ||
        !absl::SimpleAtoi(f[5], &j.summary.restore_us) || !absl::SimpleAtoi(f[6], &j.cut)) {
      return std::nullopt;
    }
    j.target = target;
    j.summary.source_table = f[0];
    j.source_created.region = f[2];
    j.target_created.region = f[4];
    j.summary.in_progress = f[7] == "1";
    j.read_through = j.cut - 1;
    j.dirty = false;
    j.uncommitted = false;
    return j;
  }
};

absl::Status TableEngine::LoadRestores() {
  // After a rollback, jobs whose state only committed transactions made go on where they
  // were; the others start again from what storage holds.
  auto before = std::move(restores_);
  restores_.clear();
  for (const auto& [name, t] : tables_) {
    if (t.deleted) continue;
    if (auto b = before.find(name); b != before.end() && !b->second->uncommitted &&
                                    b->second->target_created == t.spec.created) {
      restores_[name] = b->second;
      continue;
    }
    ASSIGN_OR_RETURN(auto text, storage_->GetMeta(MetaKey(name)));
    if (!text) continue;
    auto job = RestoreJob::Decode(name, *text);
    if (!job || job->target_created != t.spec.created) continue;  // an older incarnation's
    restores_[name] = std::make_shared<RestoreJob>(std::move(*job));
  }
  return absl::OkStatus();
}

std::optional<RestoreSummary> TableEngine::RestoreSummaryOf(const TableState& t) const {
  auto it = restores_.find(t.spec.name);
  if (it == restores_.end() || it->second->drop || it->second->target_created != t.spec.created) {
    return std::nullopt;
  }
  return it->second->summary;
}

std::optional<RestoreWindow> TableEngine::RestoreWindowOf(const std::string& table) {
  auto t = LiveTable(table);
  if (!t.ok()) return std::nullopt;
  auto rs = (*t)->spec.replica_settings.find(region_);
  if (rs == (*t)->spec.replica_settings.end() || !rs->second.point_in_time_recovery) {
    return std::nullopt;
  }
  const int64_t now = clock_->NowMicros();
  RestoreWindow w;
  w.latest_us = std::max(now, rs->second.pitr_since_us);
  w.earliest_us = std::max(rs->second.pitr_since_us, now - kPitrWindowUs);
  return w;
}

absl::StatusOr<TableInfo> TableEngine::BeginRestore(const RestoreRequest& req) {
  ASSIGN_OR_RETURN(const TableState* src, LiveTable(req.source));
  if (auto it = tables_.find(req.target); it != tables_.end() && !it->second.deleted) {
    return absl::AlreadyExistsError(
        absl::StrCat("table ", req.target, " already exists in region ", region_));
  }
  if (req.target.empty()) return absl::InvalidArgumentError("the target table needs a name");
  if (src->spec.ReplicaStatus(region_) != "ACTIVE") {
    return absl::FailedPreconditionError(
        absl::StrCat("the replica of table ", req.source, " in ", region_, " is not ACTIVE"));
  }
  auto window = RestoreWindowOf(req.source);
  if (!window) {
    return absl::FailedPreconditionError(absl::StrCat(
        "point-in-time recovery is not enabled for table ", req.source, " in ", region_));
  }
  const int64_t at = req.latest ? window->latest_us : req.restore_us;
  if (at < window->earliest_us || at > window->latest_us) {
    auto iso = [](int64_t us) {
      return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(us),
                              absl::UTCTimeZone());
    };
    return absl::OutOfRangeError(
        absl::StrCat("restore time ", iso(at), " is outside the restorable window of table ",
                     req.source, " in ", region_, ": ", iso(window->earliest_us),
                     " (when point-in-time recovery was "
                     "turned on, at most 35 days back) to ",
                     iso(window->latest_us), " (now)"));
  }
  ASSIGN_OR_RETURN(int64_t cut, storage_->FirstSeqAppliedAfter(at));
  if (cut <= storage_->trimmed_through()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the change log of ", region_, " no longer holds the changes since that time"));
  }

  // The new definition: the source's keys, indexes, billing and encryption, made here now.
  const TableSpec& from = src->spec;
  TableSpec spec;
  spec.name = req.target;
  spec.hash_key = from.hash_key;
  spec.range_key = from.range_key;
  spec.replicas = {region_};
  spec.created = NextStamp();
  spec.billing = from.billing;
  spec.billing.stamp = spec.created;
  if (req.billing_mode) {
    if (*req.billing_mode != "PAY_PER_REQUEST" && *req.billing_mode != "PROVISIONED") {
      return absl::InvalidArgumentError("billing mode must be PAY_PER_REQUEST or PROVISIONED");
    }
    spec.billing.mode = *req.billing_mode;
  }
  if (req.read_capacity) spec.billing.read_capacity = *req.read_capacity;
  if (req.write_capacity) spec.billing.write_capacity = *req.write_capacity;
  if (spec.billing.mode == "PAY_PER_REQUEST") {
    spec.billing.read_capacity = spec.billing.write_capacity = 0;
  } else if (spec.billing.read_capacity <= 0 || spec.billing.write_capacity <= 0) {
    return absl::InvalidArgumentError(
        "a PROVISIONED table needs read and write capacity of at least 1");
  }
  spec.sse = from.sse;
  spec.sse.stamp = spec.created;
  ReplicaSettings rs;
  if (auto it = from.replica_settings.find(region_); it != from.replica_settings.end()) {
    rs.kms_key = it->second.kms_key;
  }
  if (req.sse_type) {
    if (!req.sse_type->empty() && *req.sse_type != "AES256" && *req.sse_type != "KMS") {
      return absl::InvalidArgumentError("SSE type must be AES256 or KMS");
    }
    spec.sse.type = *req.sse_type;
    rs.kms_key.clear();
  }
  if (req.kms_key) rs.kms_key = *req.kms_key;
  if (spec.sse.type != "KMS") rs.kms_key.clear();
  rs.stamp = spec.created;
  spec.replica_settings[region_] = rs;
  auto keep = [](const std::optional<std::vector<std::string>>& names, const std::string& name) {
    return !names || std::find(names->begin(), names->end(), name) != names->end();
  };
  for (const auto* names : {&req.gsis, &req.lsis}) {
    if (!*names) continue;
    for (const auto& n : **names) {
      auto g = from.gsis.find(n);
      if (g == from.gsis.end() || g->second.deleted || g->second.local != (names == &req.lsis)) {
        return absl::InvalidArgumentError(absl::StrCat("table ", req.source, " has no ",
                                                       names == &req.lsis ? "local" : "global",
                                                       " secondary index ", n));
      }
    }
  }
  for (const auto& [name, g] : from.gsis) {
    if (g.deleted || !keep(g.local ? req.lsis : req.gsis, name)) continue;
    GsiSetting copy = g;
    copy.stamp = copy.created = spec.created;
    spec.gsis[name] = std::move(copy);
  }

  auto existing = tables_.find(req.target);
  if (existing != tables_.end()) RETURN_IF_ERROR(storage_->DeleteAllItems(existing->second.id));
  ASSIGN_OR_RETURN(int64_t id, storage_->PutTable(spec, /*deleted=*/false));
  Change c;
  c.kind = ChangeKind::kCreateTable;
  c.table = spec.name;
  c.table_created = spec.created;
  c.stamp = spec.created;
  c.commit_true_us = clock_->NowMicros();
  c.spec = spec;
  RETURN_IF_ERROR(storage_->AppendChange(c, true, c.commit_true_us).status());
  tables_[spec.name] = TableState{id, spec, false};
  RETURN_IF_ERROR(SyncIndexes(tables_[spec.name]));

  auto job = std::make_shared<RestoreJob>();
  job->target = spec.name;
  job->target_created = spec.created;
  job->source_created = from.created;
  job->summary = RestoreSummary{req.source, at, true};
  job->cut = cut;
  job->read_through = cut - 1;
  job->fresh = false;  // the table is new and empty
  restores_[spec.name] = job;
  return DescribeTable(spec.name);
}

bool TableEngine::HasPendingRestores() const {
  for (const auto& [name, job] : restores_) {
    if (job->summary.in_progress && !job->drop) return true;
  }
  return false;
}

std::optional<int64_t> TableEngine::OldestRestoreCut() const {
  std::optional<int64_t> oldest;
  for (const auto& [name, job] : restores_) {
    if (!job->summary.in_progress || job->drop) continue;
    oldest = oldest ? std::min(*oldest, job->cut) : job->cut;
  }
  return oldest;
}

absl::StatusOr<int> TableEngine::RestoreStep(int max_rows) {
  std::shared_ptr<RestoreJob> job;
  for (const auto& [name, j] : restores_) {
    if (j->summary.in_progress && !j->drop) {
      job = j;
      break;
    }
  }
  if (!job || max_rows <= 0) return 0;
  job->uncommitted = true;
  auto tgt = tables_.find(job->target);
  if (tgt == tables_.end() || tgt->second.deleted ||
      tgt->second.spec.created != job->target_created) {
    job->drop = job->dirty = true;  // the target was deleted meanwhile
    return 0;
  }
  auto src = tables_.find(job->summary.source_table);
  if (src == tables_.end() || src->second.deleted ||
      src->second.spec.created != job->source_created) {
    // The source is gone, and with it the items the restore had still to copy: the restore
    // fails and its table goes, as a restore that cannot finish.
    job->drop = job->dirty = true;
    RETURN_IF_ERROR(DeleteTable(job->target).status());
    return 0;
  }
  const int64_t target_id = tgt->second.id;
  if (job->fresh) {
    RETURN_IF_ERROR(storage_->DeleteAllItems(target_id));
    job->fresh = false;
  }
  int done = 0;
  if (!job->scanned) {
    // The log first, up to its head: every key written since the cut is then known.
    while (job->read_through < storage_->head_seq() && done < max_rows) {
      ASSIGN_OR_RETURN(auto changes, storage_->ReadChanges(job->read_through, max_rows - done));
      if (changes.empty()) break;
      for (Change& c : changes) {
        job->read_through = c.seq;
        ++done;
        if (c.table != job->summary.source_table || c.table_created != job->source_created ||
            (c.kind != ChangeKind::kPut && c.kind != ChangeKind::kDelete)) {
          continue;
        }
        std::string hk, rk;
        RETURN_IF_ERROR(EncodeKey(src->second, c.key, &hk, &rk));
        job->changed.emplace(
            std::make_pair(std::move(hk), std::move(rk)),
            c.old_image ? std::optional<std::string>(EncodeItem(*c.old_image)) : std::nullopt);
      }
    }
    if (job->read_through < storage_->head_seq()) return done;  // more log next step
    // Then one chunk of the source's rows: those untouched since the cut are as they were.
    ASSIGN_OR_RETURN(
        auto rows, storage_->ScanVersions(src->second.id, job->after, max_rows, int64_t{64} << 20));
    std::vector<SnapshotRow> load;
    for (SnapshotRow& row : rows) {
      job->after = std::make_pair(row.hk, row.rk);
      if (!row.item || job->changed.count(*job->after)) continue;
      row.stamp = job->target_created;
      load.push_back(std::move(row));
    }
    RETURN_IF_ERROR(storage_->PutVersionsIfNewer(target_id, load));
    done += static_cast<int>(rows.size());
    if (rows.empty()) job->scanned = true;  // (a chunk can stop short at its byte limit)
    return std::max(done, 1);
  }
  // Then the keys changed since the cut, as their first change found them.
  std::vector<SnapshotRow> load;
  auto it = job->changed.begin();
  for (; it != job->changed.end() && done < max_rows; it = job->changed.erase(it), ++done) {
    if (!it->second) continue;
    load.push_back(
        SnapshotRow{it->first.first, it->first.second, std::move(it->second), job->target_created});
  }
  RETURN_IF_ERROR(storage_->PutVersionsIfNewer(target_id, load));
  if (!job->changed.empty()) return done;
  // Complete: the indexes, maintained as rows loaded, are whole.
  for (const auto& [name, g] : tgt->second.spec.gsis) {
    if (g.deleted) continue;
    RETURN_IF_ERROR(storage_->MarkBackfilled(target_id, name));
    backfill_.erase({job->target, name});
  }
  job->summary.in_progress = false;
  job->dirty = true;
  return std::max(done, 1);
}

absl::Status TableEngine::SaveRestores() {
  for (auto it = restores_.begin(); it != restores_.end();) {
    RestoreJob& job = *it->second;
    job.uncommitted = false;
    if (job.dirty) {
      RETURN_IF_ERROR(storage_->PutMeta(MetaKey(job.target),
                                        job.drop ? std::nullopt : std::optional(job.Encode())));
      job.dirty = false;
    }
    it = job.drop ? restores_.erase(it) : std::next(it);
  }
  return absl::OkStatus();
}

}  // namespace gtsim
