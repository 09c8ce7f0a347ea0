#include "sim/harness/history.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "model/item_json.h"

namespace gtsim {
namespace {

// At most this many violations of one kind are spelled out; the rest are counted.
constexpr size_t kMaxListed = 20;

using KeyCode = std::pair<std::string, std::string>;  // (hk, rk) encodings

std::optional<int64_t> WriteIdOf(const std::optional<Item>& item) {
  if (!item) return std::nullopt;
  auto it = item->find(kWriteIdAttribute);
  if (it == item->end() || it->second.type() != ValueType::kS) return std::nullopt;
  const std::string& s = it->second.scalar();
  int64_t id = 0;
  if (s.size() < 2 || s[0] != 'w' || !absl::SimpleAtoi(absl::string_view(s).substr(1), &id)) {
    return std::nullopt;
  }
  return id;
}

std::string Ms(int64_t us) {
  if (us % 1000 == 0) return absl::StrCat(us / 1000, " ms");
  return absl::StrFormat("%.1f ms", us / 1000.0);
}

std::string SkewText(int64_t skew_us) {
  if (skew_us == 0) return "no skew";
  return absl::StrCat("skew ", skew_us > 0 ? "+" : "-", Ms(skew_us > 0 ? skew_us : -skew_us));
}

std::string StampText(const Stamp& s) {
  return absl::StrCat("ts ", s.ts_us, " from ", s.region.empty() ? "?" : s.region);
}

// "put k7 = w123 in us-west-2 at ts 1700000000123456".
std::string Describe(const AckedWrite& w) {
  std::string what = w.kind == WriteKind::kDelete
                         ? absl::StrCat("delete ", w.key_text, " (w", w.id, ")")
                         : absl::StrCat(WriteKindName(w.kind), " ", w.key_text, " = w", w.id);
  absl::StrAppend(&what, " in ", w.region, " at ts ", w.result.stamp.ts_us);
  return what;
}

// Appends "put w130 from eu-west-1 at ts 1700000000124000".
void AppendOther(std::string* out, const AckedWrite& w) {
  absl::StrAppend(out, WriteKindName(w.kind), " w", w.id, " from ", w.region, " at ts ",
                  w.result.stamp.ts_us);
}

std::string ItemText(const Item& item) {
  auto id = WriteIdOf(item);
  if (id) return absl::StrCat("w", *id);
  return ItemToJson(item).dump();
}

std::string VersionText(const TableEngine::Version* v) {
  if (v == nullptr) return "nothing";
  if (!v->item) return absl::StrCat("a tombstone (", StampText(v->stamp), ")");
  return absl::StrCat(ItemText(*v->item), " (", StampText(v->stamp), ")");
}

std::string KeyName(const std::string& hk, const std::map<std::string, std::string>& names) {
  auto it = names.find(hk);
  if (it != names.end()) return it->second;
  std::string s = hk.size() > 1 ? hk.substr(1) : hk;  // skip the type byte
  bool printable = std::all_of(s.begin(), s.end(),
                               [](char c) { return std::isprint(static_cast<unsigned char>(c)); });
  return printable ? s : absl::StrCat("<", s.size(), " key bytes>");
}

void AddViolation(CheckResult* r, size_t* listed, size_t* unlisted, std::string text) {
  r->ok = false;
  if (*listed < kMaxListed) {
    r->violations.push_back(std::move(text));
    ++*listed;
  } else {
    ++*unlisted;
  }
}

void FinishList(CheckResult* r, size_t unlisted, const std::string& what) {
  if (unlisted > 0) r->violations.push_back(absl::StrCat("... and ", unlisted, " more ", what));
}

// The stored write of one key with exactly `stamp`, among `stored` (sorted by stamp).
const AckedWrite* FindByStamp(const std::vector<const AckedWrite*>& stored, const Stamp& stamp) {
  auto it =
      std::lower_bound(stored.begin(), stored.end(), stamp,
                       [](const AckedWrite* x, const Stamp& s) { return x->result.stamp < s; });
  return it != stored.end() && (*it)->result.stamp == stamp ? *it : nullptr;
}

// `stored`: the stored writes of w's key, sorted by stamp (the version that superseded a write
// on arrival is its own key's, so it is looked up there); `next`: for a stored write, the first
// of them with a greater stamp (null if none).
ClassifiedWrite Classify(const AckedWrite& w, const std::vector<const AckedWrite*>& stored,
                         const AckedWrite* next) {
  ClassifiedWrite c;
  c.write_id = w.id;
  if (w.result.superseded_by) {
    c.reason = LossReason::kSupersededOnArrival;
    const AckedWrite* by = FindByStamp(stored, *w.result.superseded_by);
    std::string newer = by != nullptr ? absl::StrCat("w", by->id, " from ", by->region, " at ts ",
                                                     by->result.stamp.ts_us)
                                      : StampText(*w.result.superseded_by);
    std::string what = w.kind == WriteKind::kDelete
                           ? absl::StrCat("delete ", w.key_text, " (w", w.id, ")")
                           : absl::StrCat(WriteKindName(w.kind), " ", w.key_text, " = w", w.id);
    c.explanation = absl::StrCat(what, " superseded on arrival in ", w.region, ": its clock (",
                                 SkewText(w.skew_us), ") stamped it ts ", w.result.stamp.ts_us,
                                 ", before the stored version ", newer,
                                 "; acknowledged, then discarded by LWW");
    return c;
  }
  if (w.lost_with_disk_us) {
    c.reason = LossReason::kLostWithDisk;
    c.explanation = Describe(w);
    absl::StrAppend(&c.explanation, " had reached no other region when ", w.region,
                    "'s disk was wiped ", Ms(*w.lost_with_disk_us - w.true_us),
                    " later; acknowledged, then lost with the disk (the region rejoined empty)");
    return c;
  }
  if (!w.Stored()) {
    c.reason = LossReason::kNoOpDelete;
    c.explanation = Describe(w);
    absl::StrAppend(&c.explanation, " deleted nothing: the item was absent from ", w.region,
                    "'s copy");
    return c;
  }
  c.explanation = Describe(w);
  if (next == nullptr) {  // cannot happen for a non-final stored write
    c.reason = LossReason::kLostToLaterTimestamp;
    absl::StrAppend(&c.explanation, " lost to an unknown later write");
    return c;
  }
  const AckedWrite& s = *next;
  bool deletes = s.kind == WriteKind::kDelete;
  // Did the successor's region hold `w` as its current version when it wrote? Same-region
  // writes are committed in stamp order, so a same-region successor always saw it.
  bool saw = WriteIdOf(s.result.old_item) == w.id || s.region == w.region;
  std::string& e = c.explanation;  // starts with Describe(w)
  if (saw) {
    c.reason = LossReason::kOverwritten;
    absl::StrAppend(&e, deletes ? " was deleted by " : " was overwritten by ");
    AppendOther(&e, s);
    absl::StrAppend(&e, ", which had seen it (no conflict)");
  } else if (w.kind == WriteKind::kDelete && !deletes && !s.result.old_item) {
    c.reason = LossReason::kRewrittenAfterDelete;
    absl::StrAppend(&e, " was followed by ");
    AppendOther(&e, s);
    absl::StrAppend(&e, ", which found no item in ", s.region, "'s copy and wrote it again");
  } else if (deletes) {
    c.reason = LossReason::kRemovedByDelete;
    absl::StrAppend(&e, " removed by a concurrent ");
    AppendOther(&e, s);
    absl::StrAppend(&e, " (later timestamp wins)");
  } else if (s.true_us < w.true_us) {
    c.reason = LossReason::kLostToClockAhead;
    absl::StrAppend(&e, " lost to ");
    AppendOther(&e, s);
    absl::StrAppend(&e, " (later timestamp wins), although w", s.id, " was written ",
                    Ms(w.true_us - s.true_us), " earlier in true time: ", s.region, "'s clock had ",
                    SkewText(s.skew_us), ", ", w.region, "'s ", SkewText(w.skew_us));
  } else {
    c.reason = LossReason::kLostToLaterTimestamp;
    absl::StrAppend(&e, " lost to ");
    AppendOther(&e, s);
    absl::StrAppend(&e, " (later timestamp wins)");
  }
  return c;
}

}  // namespace

const char* WriteKindName(WriteKind kind) {
  switch (kind) {
    case WriteKind::kPut:
      return "put";
    case WriteKind::kConditionalPut:
      return "conditional put";
    case WriteKind::kUpdate:
      return "update";
    case WriteKind::kDelete:
      return "delete";
  }
  return "?";
}

const char* LossReasonName(LossReason reason) {
  switch (reason) {
    case LossReason::kOverwritten:
      return "overwritten";
    case LossReason::kRewrittenAfterDelete:
      return "rewritten-after-delete";
    case LossReason::kLostToLaterTimestamp:
      return "later-timestamp";
    case LossReason::kLostToClockAhead:
      return "clock-ahead";
    case LossReason::kRemovedByDelete:
      return "removed-by-delete";
    case LossReason::kSupersededOnArrival:
      return "superseded-on-arrival";
    case LossReason::kNoOpDelete:
      return "no-op-delete";
    case LossReason::kLostWithDisk:
      return "lost-with-disk";
  }
  return "?";
}

bool AckedWrite::Stored() const {
  if (result.superseded_by || lost_with_disk_us) return false;
  return result.new_item.has_value() || result.old_item.has_value();
}

void CheckResult::Merge(const CheckResult& other) {
  ok = ok && other.ok;
  violations.insert(violations.end(), other.violations.begin(), other.violations.end());
  acknowledged = std::max(acknowledged, other.acknowledged);
  final_versions = std::max(final_versions, other.final_versions);
  for (const auto& [reason, n] : other.loss_counts) loss_counts[reason] += n;
  classified.insert(classified.end(), other.classified.begin(), other.classified.end());
}

void CheckResult::Merge(CheckResult&& other) {
  std::vector<ClassifiedWrite> moved = std::move(other.classified);
  other.classified.clear();
  Merge(static_cast<const CheckResult&>(other));
  if (classified.empty()) {
    classified = std::move(moved);
  } else {
    classified.insert(classified.end(), std::make_move_iterator(moved.begin()),
                      std::make_move_iterator(moved.end()));
  }
}

CheckResult CheckConvergence(const std::vector<ReplicaState>& replicas,
                             const std::map<std::string, std::string>& key_names) {
  CheckResult r;
  std::vector<std::map<KeyCode, const TableEngine::Version*>> live(replicas.size());
  std::map<KeyCode, bool> all_keys;
  for (size_t i = 0; i < replicas.size(); ++i) {
    for (const auto& v : replicas[i].versions) {
      if (!v.item) continue;
      live[i][{v.hk, v.rk}] = &v;
      all_keys[{v.hk, v.rk}] = true;
    }
  }
  size_t listed = 0, unlisted = 0;
  for (const auto& [key, unused] : all_keys) {
    std::vector<const TableEngine::Version*> found;
    for (const auto& m : live) {
      auto it = m.find(key);
      found.push_back(it == m.end() ? nullptr : it->second);
    }
    bool same = std::all_of(found.begin(), found.end(), [&](const TableEngine::Version* v) {
      const TableEngine::Version* f = found.front();
      if (v == nullptr || f == nullptr) return v == f;
      return v->stamp == f->stamp && *v->item == *f->item;
    });
    if (same) continue;
    std::vector<std::string> parts;
    for (size_t i = 0; i < replicas.size(); ++i) {
      parts.push_back(absl::StrCat(replicas[i].region, " has ",
                                   found[i] ? VersionText(found[i]) : "no live item"));
    }
    AddViolation(&r, &listed, &unlisted,
                 absl::StrCat("not converged: replicas differ on ", KeyName(key.first, key_names),
                              ": ", absl::StrJoin(parts, "; ")));
  }
  FinishList(&r, unlisted, "differing keys");
  r.summary =
      r.ok ? "converged" : absl::StrCat("NOT converged (", listed + unlisted, " differing keys)");
  return r;
}

namespace {

// The history grouped by key, each key encoded once (CheckAll needs the groups twice, and the
// encoding, map lookups and copies per write used to dominate the checkers' time).
struct KeyedHistory {
  std::vector<KeyCode> keys;                           // distinct keys, in key order
  std::vector<std::vector<const AckedWrite*>> writes;  // per key, in history order
  std::vector<int64_t> key_of;  // per history write: its key's position, -1 for a bad key
  absl::flat_hash_map<KeyCode, size_t> index;                       // key -> position in `keys`
  std::vector<std::pair<const AckedWrite*, std::string>> bad_keys;  // write, error message
  std::map<std::string, std::string> names;                         // encoded hash key -> key_text
};

KeyedHistory GroupByKey(const TableSpec& spec, const History& history) {
  KeyedHistory k;
  std::vector<int64_t>& key_of = k.key_of;  // first in first-seen order, then in key order
  key_of.assign(history.size(), -1);
  std::vector<KeyCode> seen;
  absl::flat_hash_map<KeyCode, size_t> first_seen;
  for (size_t i = 0; i < history.size(); ++i) {
    const AckedWrite& w = history.writes()[i];
    KeyCode code;
    absl::Status st = TableEngine::EncodeKeyOf(spec, w.key, &code.first, &code.second);
    if (!st.ok()) {
      k.bad_keys.emplace_back(&w, std::string(st.message()));
      continue;
    }
    auto [it, inserted] = first_seen.try_emplace(code, seen.size());
    if (inserted) seen.push_back(std::move(code));
    key_of[i] = static_cast<int64_t>(it->second);
  }
  // Key order (not first-seen order) decides the order violations are listed in.
  std::vector<size_t> order(seen.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seen[a] < seen[b]; });
  std::vector<size_t> rank(seen.size());
  for (size_t r = 0; r < order.size(); ++r) rank[order[r]] = r;
  k.writes.resize(seen.size());
  for (size_t i = 0; i < history.size(); ++i) {
    if (key_of[i] < 0) continue;
    key_of[i] = static_cast<int64_t>(rank[key_of[i]]);
    k.writes[key_of[i]].push_back(&history.writes()[i]);
  }
  for (auto& [code, pos] : first_seen) pos = rank[pos];
  k.index = std::move(first_seen);
  k.keys.reserve(seen.size());
  for (size_t r = 0; r < order.size(); ++r) {
    k.keys.push_back(std::move(seen[order[r]]));
    k.names[k.keys.back().first] = k.writes[r].back()->key_text;
  }
  return k;
}

CheckResult ClassifyGrouped(const KeyedHistory& k, const History& history,
                            const std::vector<ReplicaState>& replicas) {
  CheckResult r;
  r.acknowledged = static_cast<int64_t>(history.size());
  size_t listed = 0, unlisted = 0;
  for (const auto& [w, message] : k.bad_keys) {
    AddViolation(&r, &listed, &unlisted,
                 absl::StrCat("write w", w->id, " has a bad key: ", message));
  }
  // held[i][key position]: replica i's version of that key, if any.
  std::vector<std::vector<const TableEngine::Version*>> held(
      replicas.size(), std::vector<const TableEngine::Version*>(k.keys.size(), nullptr));
  for (size_t i = 0; i < replicas.size(); ++i) {
    for (const auto& v : replicas[i].versions) {
      auto it = k.index.find(KeyCode{v.hk, v.rk});
      if (it != k.index.end()) {
        held[i][it->second] = &v;
      } else {
        AddViolation(&r, &listed, &unlisted,
                     absl::StrCat(replicas[i].region, " holds ", VersionText(&v), " for key ",
                                  KeyName(v.hk, k.names), ", which no acknowledged write touched"));
      }
    }
  }

  // Per key: its stored writes by stamp; the last one is the winner. Per stored write (by
  // history position): the next stored write of its key with a greater stamp.
  std::vector<std::vector<const AckedWrite*>> stored(k.keys.size());
  std::vector<const AckedWrite*> next(history.size(), nullptr);
  auto position = [&](const AckedWrite* w) { return w - history.writes().data(); };
  for (size_t key = 0; key < k.keys.size(); ++key) {
    const auto& writes = k.writes[key];
    for (const AckedWrite* w : writes) {
      if (w->Stored()) stored[key].push_back(w);
    }
    std::stable_sort(
        stored[key].begin(), stored[key].end(),
        [](const AckedWrite* a, const AckedWrite* b) { return a->result.stamp < b->result.stamp; });
    const auto& by_stamp = stored[key];
    for (size_t i = 0, j = 0; i < by_stamp.size(); ++i) {
      j = std::max(j, i + 1);
      while (j < by_stamp.size() && !(by_stamp[i]->result.stamp < by_stamp[j]->result.stamp)) ++j;
      if (j < by_stamp.size()) next[position(by_stamp[i])] = by_stamp[j];
    }
    const AckedWrite* winner = stored[key].empty() ? nullptr : stored[key].back();
    if (winner) ++r.final_versions;
    for (size_t i = 0; i < replicas.size(); ++i) {
      const TableEngine::Version* v = held[i][key];
      bool good;
      if (winner == nullptr) {
        good = v == nullptr;
      } else if (winner->kind == WriteKind::kDelete) {
        // Its tombstone, or nothing once the tombstone was trimmed (Region::TrimTombstones).
        good = v == nullptr || (!v->item && v->stamp == winner->result.stamp);
      } else {
        good = v != nullptr && v->item && v->stamp == winner->result.stamp &&
               winner->result.new_item && *v->item == *winner->result.new_item;
      }
      if (good) continue;
      const std::string& key_text = writes.front()->key_text;
      if (winner == nullptr) {
        AddViolation(&r, &listed, &unlisted,
                     absl::StrCat("key ", key_text, ": no acknowledged write stored anything, but ",
                                  replicas[i].region, " holds ", VersionText(v)));
      } else {
        AddViolation(&r, &listed, &unlisted,
                     absl::StrCat("acknowledged write lost: ", Describe(*winner),
                                  " has the greatest stamp of the stored writes of ", key_text,
                                  ", but ", replicas[i].region, " holds ", VersionText(v)));
      }
    }
  }

  // Every other write, classified in history order.
  r.classified.reserve(history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    const AckedWrite& w = history.writes()[i];
    if (k.key_of[i] < 0) continue;  // a bad key, reported above
    const auto& key_stored = stored[k.key_of[i]];
    if (!key_stored.empty() && key_stored.back() == &w) continue;  // the winner
    ClassifiedWrite c = Classify(w, key_stored, next[i]);
    ++r.loss_counts[c.reason];
    r.classified.push_back(std::move(c));
  }
  FinishList(&r, unlisted, "lost-write violations");
  r.summary = r.ok ? "no acknowledged write lost"
                   : absl::StrCat(listed + unlisted, " lost-write violations");
  return r;
}

}  // namespace

CheckResult ClassifyWrites(const TableSpec& spec, const History& history,
                           const std::vector<ReplicaState>& replicas) {
  return ClassifyGrouped(GroupByKey(spec, history), history, replicas);
}

CheckResult CheckAll(const TableSpec& spec, const History& history,
                     const std::vector<ReplicaState>& replicas) {
  KeyedHistory keyed = GroupByKey(spec, history);
  CheckResult all = CheckConvergence(replicas, keyed.names);
  const std::string convergence_summary = all.summary;
  CheckResult writes = ClassifyGrouped(keyed, history, replicas);
  const std::string writes_summary = writes.summary;
  all.Merge(std::move(writes));
  std::vector<std::string> losses;
  for (const auto& [reason, n] : all.loss_counts) {
    losses.push_back(absl::StrCat(LossReasonName(reason), "=", n));
  }
  all.summary =
      absl::StrCat(convergence_summary, "; ", writes_summary, "; ", all.acknowledged,
                   " acknowledged, ", all.final_versions,
                   " final, not final: ", losses.empty() ? "none" : absl::StrJoin(losses, " "));
  return all;
}

}  // namespace gtsim
