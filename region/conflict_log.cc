#include "region/conflict_log.h"

#include <map>
#include <utility>

#include "model/attribute_value.h"

namespace gtsim {

std::vector<ConflictLog::Watched> ConflictLog::Watch(const ChangeBatch& batch, int64_t cursor) {
  std::vector<Watched> out;
  std::map<std::pair<std::string, std::string>, size_t> last;  // (table, key text) -> index
  for (const Change& c : batch.changes) {
    if (c.seq <= cursor) continue;  // a re-delivery: skipped, never a loss
    if (c.kind != ChangeKind::kPut && c.kind != ChangeKind::kDelete) continue;
    Watched w{c.table, c.key, c.stamp, c.kind == ChangeKind::kDelete, c.seq};
    auto [it, fresh] = last.try_emplace({c.table, EncodeItem(c.key)}, out.size());
    if (fresh) {
      out.push_back(std::move(w));
    } else {
      out[it->second] = std::move(w);
    }
  }
  return out;
}

void ConflictLog::Record(
    const std::vector<Watched>& watched, int lost_to_newer, int64_t through_seq, int64_t now_us,
    const std::function<absl::StatusOr<GetResult>(const std::string&, const Item&)>& read) {
  int found = 0;
  for (const Watched& w : watched) {
    if (found >= lost_to_newer) break;
    if (w.seq > through_seq) continue;  // not applied yet (the batch waits for a table)
    absl::StatusOr<GetResult> kept = read(w.table, w.key);
    if (!kept.ok()) continue;  // the table is gone: dropped, not a conflict
    ConflictRecord r{w.table, w.key, w.stamp, {}, false, now_us};
    if (kept->item) {
      if (!(w.stamp < kept->stamp)) continue;  // it was applied
      r.won = kept->stamp;
    } else {
      if (w.is_delete) continue;  // absent after a delete: applied or lost, cannot tell
      r.won_by_delete = true;
    }
    Add(std::move(r));
    ++found;
  }
}

void ConflictLog::Add(ConflictRecord r) {
  ring_.push_back(std::move(r));
  while (ring_.size() > kCapacity) ring_.pop_front();
}

}  // namespace gtsim
