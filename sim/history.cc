#include "sim/history.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "region/item_json.h"

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
  if (s.size() < 2 || s[0] != 'w' || !absl::SimpleAtoi(s.substr(1), &id)) return std::nullopt;
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
  return absl::StrCat(what, " in ", w.region, " at ts ", w.result.stamp.ts_us);
}

// "put w130 from eu-west-1 at ts 1700000000124000".
std::string DescribeOther(const AckedWrite& w) {
  return absl::StrCat(WriteKindName(w.kind), " w", w.id, " from ", w.region, " at ts ",
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

ClassifiedWrite Classify(const AckedWrite& w, const std::vector<const AckedWrite*>& stored,
                         const std::map<Stamp, const AckedWrite*>& by_stamp) {
  ClassifiedWrite c;
  c.write_id = w.id;
  if (w.result.superseded_by) {
    c.reason = LossReason::kSupersededOnArrival;
    auto it = by_stamp.find(*w.result.superseded_by);
    std::string newer = it != by_stamp.end()
                            ? absl::StrCat("w", it->second->id, " from ", it->second->region,
                                           " at ts ", it->second->result.stamp.ts_us)
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
  if (!w.Stored()) {
    c.reason = LossReason::kNoOpDelete;
    c.explanation = absl::StrCat(Describe(w), " deleted nothing: the item was absent from ",
                                 w.region, "'s copy");
    return c;
  }
  auto next =
      std::upper_bound(stored.begin(), stored.end(), w.result.stamp,
                       [](const Stamp& s, const AckedWrite* x) { return s < x->result.stamp; });
  if (next == stored.end()) {  // cannot happen for a non-final stored write
    c.reason = LossReason::kLostToLaterTimestamp;
    c.explanation = absl::StrCat(Describe(w), " lost to an unknown later write");
    return c;
  }
  const AckedWrite& s = **next;
  bool deletes = s.kind == WriteKind::kDelete;
  // Did the successor's region hold `w` as its current version when it wrote? Same-region
  // writes are committed in stamp order, so a same-region successor always saw it.
  bool saw = WriteIdOf(s.result.old_item) == w.id || s.region == w.region;
  if (saw) {
    c.reason = LossReason::kOverwritten;
    c.explanation = absl::StrCat(Describe(w), deletes ? " was deleted by " : " was overwritten by ",
                                 DescribeOther(s), ", which had seen it (no conflict)");
  } else if (w.kind == WriteKind::kDelete && !deletes && !s.result.old_item) {
    c.reason = LossReason::kRewrittenAfterDelete;
    c.explanation =
        absl::StrCat(Describe(w), " was followed by ", DescribeOther(s),
                     ", which found no item in ", s.region, "'s copy and wrote it again");
  } else if (deletes) {
    c.reason = LossReason::kRemovedByDelete;
    c.explanation = absl::StrCat(Describe(w), " removed by a concurrent ", DescribeOther(s),
                                 " (later timestamp wins)");
  } else if (s.true_us < w.true_us) {
    c.reason = LossReason::kLostToClockAhead;
    c.explanation = absl::StrCat(
        Describe(w), " lost to ", DescribeOther(s), " (later timestamp wins), although w", s.id,
        " was written ", Ms(w.true_us - s.true_us), " earlier in true time: ", s.region,
        "'s clock had ", SkewText(s.skew_us), ", ", w.region, "'s ", SkewText(w.skew_us));
  } else {
    c.reason = LossReason::kLostToLaterTimestamp;
    c.explanation =
        absl::StrCat(Describe(w), " lost to ", DescribeOther(s), " (later timestamp wins)");
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
  }
  return "?";
}

bool AckedWrite::Stored() const {
  if (result.superseded_by) return false;
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

CheckResult ClassifyWrites(const TableSpec& spec, const History& history,
                           const std::vector<ReplicaState>& replicas) {
  CheckResult r;
  r.acknowledged = static_cast<int64_t>(history.size());
  size_t listed = 0, unlisted = 0;

  std::map<KeyCode, std::vector<const AckedWrite*>> by_key;  // history order
  std::map<Stamp, const AckedWrite*> by_stamp;               // stored writes
  std::map<std::string, std::string> key_names;
  for (const auto& w : history.writes()) {
    KeyCode code;
    absl::Status st = TableEngine::EncodeKeyOf(spec, w.key, &code.first, &code.second);
    if (!st.ok()) {
      AddViolation(&r, &listed, &unlisted,
                   absl::StrCat("write w", w.id, " has a bad key: ", st.message()));
      continue;
    }
    by_key[code].push_back(&w);
    key_names[code.first] = w.key_text;
    if (w.Stored()) by_stamp[w.result.stamp] = &w;
  }
  std::vector<std::map<KeyCode, const TableEngine::Version*>> held(replicas.size());
  for (size_t i = 0; i < replicas.size(); ++i) {
    for (const auto& v : replicas[i].versions) {
      held[i][{v.hk, v.rk}] = &v;
      if (!by_key.count({v.hk, v.rk})) {
        AddViolation(
            &r, &listed, &unlisted,
            absl::StrCat(replicas[i].region, " holds ", VersionText(&v), " for key ",
                         KeyName(v.hk, key_names), ", which no acknowledged write touched"));
      }
    }
  }

  std::map<int64_t, ClassifiedWrite> classified;  // by write id
  for (const auto& [key, writes] : by_key) {
    std::vector<const AckedWrite*> stored;
    for (const AckedWrite* w : writes) {
      if (w->Stored()) stored.push_back(w);
    }
    std::stable_sort(stored.begin(), stored.end(), [](const AckedWrite* a, const AckedWrite* b) {
      return a->result.stamp < b->result.stamp;
    });
    const AckedWrite* winner = stored.empty() ? nullptr : stored.back();
    if (winner) ++r.final_versions;
    for (size_t i = 0; i < replicas.size(); ++i) {
      auto it = held[i].find(key);
      const TableEngine::Version* v = it == held[i].end() ? nullptr : it->second;
      bool good;
      if (winner == nullptr) {
        good = v == nullptr;
      } else if (winner->kind == WriteKind::kDelete) {
        good = v != nullptr && !v->item && v->stamp == winner->result.stamp;
      } else {
        good = v != nullptr && v->item && v->stamp == winner->result.stamp &&
               winner->result.new_item && *v->item == *winner->result.new_item;
      }
      if (good) continue;
      std::string key_text = writes.front()->key_text;
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
    for (const AckedWrite* w : writes) {
      if (w == winner) continue;
      ClassifiedWrite c = Classify(*w, stored, by_stamp);
      ++r.loss_counts[c.reason];
      classified[w->id] = std::move(c);
    }
  }
  for (const auto& w : history.writes()) {
    auto it = classified.find(w.id);
    if (it != classified.end()) r.classified.push_back(std::move(it->second));
  }
  FinishList(&r, unlisted, "lost-write violations");
  r.summary = r.ok ? "no acknowledged write lost"
                   : absl::StrCat(listed + unlisted, " lost-write violations");
  return r;
}

CheckResult CheckAll(const TableSpec& spec, const History& history,
                     const std::vector<ReplicaState>& replicas) {
  std::map<std::string, std::string> key_names;
  for (const auto& w : history.writes()) {
    std::string hk, rk;
    if (TableEngine::EncodeKeyOf(spec, w.key, &hk, &rk).ok()) key_names[hk] = w.key_text;
  }
  CheckResult convergence = CheckConvergence(replicas, key_names);
  CheckResult writes = ClassifyWrites(spec, history, replicas);
  CheckResult all = convergence;
  all.Merge(writes);
  std::vector<std::string> losses;
  for (const auto& [reason, n] : all.loss_counts) {
    losses.push_back(absl::StrCat(LossReasonName(reason), "=", n));
  }
  all.summary =
      absl::StrCat(convergence.summary, "; ", writes.summary, "; ", all.acknowledged,
                   " acknowledged, ", all.final_versions,
                   " final, not final: ", losses.empty() ? "none" : absl::StrJoin(losses, " "));
  return all;
}

}  // namespace gtsim
