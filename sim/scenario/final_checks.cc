#include "sim/scenario/final_checks.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "model/status_macros.h"
#include "sim/scenario/checks.h"

namespace gtsim::scenario {
namespace {

// The primary key of an item of `t`, as text (for index comparisons).
std::string PrimaryKeyText(const TableRun& t, const Item& item) {
  std::string text;
  auto h = item.find(t.spec.hash_key.name);
  if (h != item.end()) text = h->second.scalar();
  if (t.spec.range_key) {
    auto r = item.find(t.spec.range_key->name);
    if (r != item.end()) absl::StrAppend(&text, "/", r->second.scalar());
  }
  return text;
}

// index_matches: in every replica, for (up to 20 of) the index hash key values its items
// carry, the index query returns exactly the items of the table with that value.
IndexCheck CheckIndex(Driver* d, const TableRun& t, const std::string& index,
                      const std::vector<ReplicaState>& replicas) {
  IndexCheck c;
  c.table = t.spec.name;
  c.index = index;
  auto x = t.indexes.find(index);
  if (x == t.indexes.end()) {
    c.mismatches.push_back("the index does not exist at the end of the run");
    return c;
  }
  const IndexSpec& def = x->second;
  auto has = [](const Item& item, const std::optional<KeyDef>& k) {
    if (!k) return true;
    auto it = item.find(k->name);
    return it != item.end() && it->second.type() == k->type;
  };
  for (const auto& rs : replicas) {
    std::map<std::string, std::pair<AttributeValue, std::set<std::string>>> expected;
    for (const auto& v : rs.versions) {
      if (!v.item || !has(*v.item, def.hash_key) || !has(*v.item, def.range_key)) continue;
      const AttributeValue& h = v.item->at(def.hash_key.name);
      auto& e = expected[h.scalar()];
      e.first = h;
      e.second.insert(PrimaryKeyText(t, *v.item));
    }
    int n = 0;
    for (const auto& [text, e] : expected) {
      if (++n > 20) break;
      ++c.queries;
      auto items = d->QueryIndex(rs.region, t.spec.name, index, e.first, absl::Seconds(10));
      if (!items.ok()) {
        c.mismatches.push_back(
            absl::StrCat(rs.region, ": querying ", index, " failed: ", items.status().message()));
        continue;
      }
      std::set<std::string> got;
      for (const auto& item : *items) got.insert(PrimaryKeyText(t, item));
      if (got == e.second) continue;
      std::vector<std::string> missing, extra;
      std::set_difference(e.second.begin(), e.second.end(), got.begin(), got.end(),
                          std::back_inserter(missing));
      std::set_difference(got.begin(), got.end(), e.second.begin(), e.second.end(),
                          std::back_inserter(extra));
      c.mismatches.push_back(absl::StrCat(
          rs.region, ": ", index, " ", def.hash_key.name, " = \"", text, "\": the table has ",
          e.second.size(), " items with it, the index returned ", got.size(),
          missing.empty() ? "" : "; missing " + absl::StrJoin(missing, ", "),
          extra.empty() ? "" : "; not in the table " + absl::StrJoin(extra, ", ")));
    }
  }
  return c;
}

// Writes that got no answer but committed anyway: the final state shows them. They join the
// history with the stamp the replica holds, so they are judged like any other.
void AddCommittedUnanswered(const TableRun& t, const std::vector<ReplicaState>& replicas,
                            const std::map<int64_t, UnansweredWrite>& unanswered,
                            History* history) {
  std::set<int64_t> present;
  for (const auto& rs : replicas) {
    for (const auto& v : rs.versions) {
      auto it = v.item ? v.item->find(kWriteIdAttribute) : Item::const_iterator();
      if (!v.item || it == v.item->end() || it->second.type() != ValueType::kS) continue;
      int64_t id;
      if (!absl::SimpleAtoi(it->second.scalar().substr(1), &id) || present.count(id)) continue;
      auto u = unanswered.find(id);
      if (u == unanswered.end() || u->second.table != t.spec.name) continue;
      present.insert(id);
      AckedWrite w;
      w.id = id;
      w.kind = u->second.kind;
      w.region = u->second.region;
      w.key = u->second.key;
      w.key_text = u->second.key_text;
      w.true_us = u->second.true_us;
      w.result.stamp = v.stamp;
      w.result.new_item = *v.item;
      history->Record(std::move(w));
    }
  }
}

// The gRPC API shows live items only: where the winning write of a key is a delete, an absent
// item stands for its tombstone.
void AddTombstones(const TableRun& t, const History& history, std::vector<ReplicaState>* replicas) {
  std::map<std::pair<std::string, std::string>, const AckedWrite*> winners;
  for (const auto& w : history.writes()) {
    if (!w.Stored()) continue;
    std::string hk, rk;
    if (!TableEngine::EncodeKeyOf(t.spec, w.key, &hk, &rk).ok()) continue;
    const AckedWrite*& cur = winners[{hk, rk}];
    if (!cur || cur->result.stamp < w.result.stamp) cur = &w;
  }
  for (auto& rs : *replicas) {
    std::set<std::pair<std::string, std::string>> live;
    for (const auto& v : rs.versions) live.insert({v.hk, v.rk});
    for (const auto& [k, w] : winners) {
      if (w->kind == WriteKind::kDelete && !live.count(k)) {
        rs.versions.push_back({k.first, k.second, w->result.stamp, std::nullopt});
      }
    }
  }
}

// Judges one table's final replicas (in the regions holding one) against its history.
absl::Status CheckTable(RunState* state, const TableRun& t, WorkloadRecord* record) {
  const Scenario& s = state->scenario();
  std::vector<ReplicaState> replicas;
  // With judge_written_keys_only, the keys of the history's writes (acknowledged or not).
  std::set<std::pair<std::string, std::string>> written;
  if (state->options().judge_written_keys_only) {
    auto add = [&](const Item& key) {
      std::string hk, rk;
      if (TableEngine::EncodeKeyOf(t.spec, key, &hk, &rk).ok()) written.insert({hk, rk});
    };
    for (const auto& w : record->history[t.spec.name].writes()) add(w.key);
    for (const auto& [id, u] : record->unanswered) {
      if (u.table == t.spec.name) add(u.key);
    }
  }
  for (const auto& r : t.spec.replicas) {
    ASSIGN_OR_RETURN(auto versions, state->driver()->Dump(r, t.spec, true));
    if (state->options().judge_written_keys_only) {
      versions.erase(std::remove_if(versions.begin(), versions.end(),
                                    [&](const TableEngine::Version& v) {
                                      return !written.count({v.hk, v.rk});
                                    }),
                     versions.end());
    }
    replicas.push_back({r, std::move(versions)});
  }
  for (const auto& e : s.expectations) {
    if (e.kind != ExpectKind::kIndexMatches || e.table != t.spec.name) continue;
    IndexCheck c = CheckIndex(state->driver(), t, e.index, replicas);
    state->WithResult([&](RunResult& r) { r.index_checks.push_back(std::move(c)); });
  }
  // Several tables: findings name theirs.
  const std::string prefix = state->tables().size() > 1 ? t.spec.name + "/" : "";
  const int64_t start_us = absl::ToUnixMicros(state->start());
  History& history = record->history[t.spec.name];
  AddCommittedUnanswered(t, replicas, record->unanswered, &history);
  AddTombstones(t, history, &replicas);
  CheckResult check = CheckAll(t.spec, history, replicas);
  std::map<int64_t, const AckedWrite*> by_id;
  for (const auto& w : history.writes()) by_id[w.id] = &w;
  state->WithResult([&](RunResult& result) {
    for (const auto& v : check.violations) {
      result.violations.push_back(RelativeStamps(
          prefix.empty() ? v : absl::StrCat("table ", t.spec.name, ": ", v), start_us));
    }
    result.acknowledged_writes += static_cast<int64_t>(history.size());
    for (const auto& [reason, n] : check.loss_counts)
      result.loss_counts[LossReasonName(reason)] += n;
    for (const auto& c : check.classified) {
      std::string reason = LossReasonName(c.reason);
      if (!IsConflictReason(reason)) continue;
      const AckedWrite* w = by_id[c.write_id];
      result.conflicts.push_back({static_cast<double>(w->true_us - start_us) / 1e6, w->region,
                                  prefix + w->key_text, reason,
                                  RelativeStamps(c.explanation, start_us)});
    }
    // Counters: the final value of every counter key, in the first replica.
    if (replicas.empty()) return;
    for (const auto& v : replicas.front().versions) {
      if (!v.item || !record->counter_keys.count({t.spec.name, v.hk, v.rk})) continue;
      auto n = v.item->find("n");
      int64_t x = 0;
      if (n != v.item->end() && absl::SimpleAtoi(n->second.scalar(), &x))
        result.final_counter_total += x;
    }
  });
  return absl::OkStatus();
}

}  // namespace

absl::Status HealAndCheck(RunState* state, Timeline* timeline, Workloads* workloads) {
  RETURN_IF_ERROR(timeline->FinalHeal());
  const absl::Time healed = absl::Now();
  const absl::Time deadline = healed + state->scenario().settle;
  while (true) {
    RETURN_IF_ERROR(state->Interrupted());
    auto c = timeline->Converged();
    if (c.ok() && *c) {
      double converge_s = absl::ToDoubleSeconds(absl::Now() - healed);
      state->WithResult([&](RunResult& r) { r.converge_s = converge_s; });
      state->Log(absl::StrFormat("converged %.2fs after the heal", converge_s));
      break;
    }
    if (absl::Now() > deadline) {
      state->Log(absl::StrCat("NOT converged within settle ",
                              FormatScenarioDuration(state->scenario().settle)));
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  RETURN_IF_ERROR(JudgeFinalState(state, workloads->record()));
  state->WithResult([&](RunResult& r) { workloads->FillTotals(&r.workloads); });
  return absl::OkStatus();
}

absl::Status JudgeFinalState(RunState* state, WorkloadRecord* record) {
  // The lost-write classifier, the counters and the index checks over the final replicas.
  for (auto& [name, t] : state->tables()) RETURN_IF_ERROR(CheckTable(state, t, record));
  state->WithResult([&](RunResult& r) {
    r.unanswered_writes = static_cast<int64_t>(record->unanswered.size());
    r.acked_increments = record->acked_increments;
    r.lock_acquisitions = static_cast<int64_t>(record->lock_intervals.size());
    r.lock_overlaps = CountLockOverlaps(record->lock_intervals, &r.lock_explanations);
  });
  return absl::OkStatus();
}

absl::StatusOr<bool> ReplicasConverged(RunState* state) {
  for (const auto& [name, t] : state->tables()) {
    std::optional<std::map<std::pair<std::string, std::string>, Item>> first;
    for (const auto& r : t.spec.replicas) {
      ASSIGN_OR_RETURN(auto versions, state->driver()->Dump(r, t.spec, false));
      std::map<std::pair<std::string, std::string>, Item> m;
      for (auto& v : versions) {
        if (v.item) m[{v.hk, v.rk}] = std::move(*v.item);
      }
      if (!first) {
        first = std::move(m);
      } else if (*first != m) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace gtsim::scenario
