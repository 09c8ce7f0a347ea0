#include "sim/scenario/steps.h"

#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sim/scenario/timeline.h"

namespace gtsim::scenario {
namespace {

// ---- What each kind changes in the replayed timeline, and when it cannot happen ---------------

std::string CheckNothing(const Action&, TimelineReplay*) { return ""; }

// A table step's `via` must hold a replica of the table.
std::string CheckVia(const Action& a, TimelineReplay* t) {
  if (!a.via.empty() && !t->replicas[a.table].count(a.via)) {
    return absl::StrCat("via ", a.via, ": it holds no replica of ", a.table);
  }
  return "";
}

std::string CheckKill(const Action& a, TimelineReplay* t) {
  if (t->killed.count(a.region))
    return absl::StrCat("cannot kill ", a.region, ": an earlier step already killed it");
  t->killed.insert(a.region);
  t->paused.erase(a.region);
  return "";
}

std::string CheckRestart(const Action& a, TimelineReplay* t) {
  if (!t->killed.count(a.region)) {
    return absl::StrCat("cannot restart ", a.region,
                        ": it is running (kill it in an earlier step first)");
  }
  t->killed.erase(a.region);
  return "";
}

std::string CheckPause(const Action& a, TimelineReplay* t) {
  if (t->killed.count(a.region) || t->paused.count(a.region))
    return absl::StrCat("cannot pause ", a.region, ": it is already killed or paused");
  t->paused.insert(a.region);
  return "";
}

std::string CheckResume(const Action& a, TimelineReplay* t) {
  if (!t->paused.count(a.region))
    return absl::StrCat("cannot resume ", a.region, ": no earlier step paused it");
  t->paused.erase(a.region);
  return "";
}

std::string CheckPauseReplication(const Action& a, TimelineReplay* t) {
  t->repl_paused.insert(a.region);
  return "";
}

std::string CheckResumeReplication(const Action& a, TimelineReplay* t) {
  if (!t->repl_paused.count(a.region))
    return absl::StrCat("cannot resume replication into ", a.region, ": no earlier step paused it");
  t->repl_paused.erase(a.region);
  return "";
}

std::string CheckStart(const Action& a, TimelineReplay* t) {
  if (t->running.count(a.workload))
    return absl::StrCat("workload ", a.workload, " is already running");
  t->running.insert(a.workload);
  return "";
}

std::string CheckStop(const Action& a, TimelineReplay* t) {
  if (!t->running.count(a.workload))
    return absl::StrCat("workload ", a.workload, " is not running");
  t->running.erase(a.workload);
  return "";
}

std::string CheckMove(const Action& a, TimelineReplay* t) {
  if (t->where[a.workload] == a.region)
    return absl::StrCat("workload ", a.workload, " already runs in ", a.region);
  t->where[a.workload] = a.region;
  for (const auto& w : t->scenario.workloads) {
    if (w.name != a.workload) continue;
    std::string why = t->WorkloadInPlace(w, a.region);
    if (!why.empty()) return why;
  }
  return "";
}

std::string CheckAddReplica(const Action& a, TimelineReplay* t) {
  const std::string& r = a.region;
  t->replica_steps[a.table].insert(r);
  if (t->replicas[a.table].count(r))
    return absl::StrCat("table ", a.table, " already has a replica in ", r);
  if (t->billing[a.table] == "PROVISIONED") {
    return absl::StrCat("table ", a.table,
                        " is PROVISIONED and cannot gain replicas "
                        "(as in DynamoDB without autoscaling); switch it to "
                        "PAY_PER_REQUEST in an earlier table_settings step");
  }
  t->replicas[a.table].insert(r);
  if (!a.via.empty() && a.via == r)
    return "via must be a region that already holds a replica, not the one being added";
  return "";
}

std::string CheckRemoveReplica(const Action& a, TimelineReplay* t) {
  const std::string& r = a.region;
  t->replica_steps[a.table].insert(r);
  if (!t->replicas[a.table].count(r))
    return absl::StrCat("table ", a.table, " has no replica in ", r, " to remove");
  if (t->replicas[a.table].size() == 1)
    return absl::StrCat("cannot remove the last replica of table ", a.table);
  for (const auto& w : t->scenario.workloads) {
    if (w.table == a.table && t->where[w.name] == r) {
      return absl::StrCat("cannot remove ", r, "'s replica of ", a.table, ": workload ", w.name,
                          " writes it there (move it first)");
    }
  }
  t->replicas[a.table].erase(r);
  return CheckVia(a, t);
}

std::string CheckCreateIndex(const Action& a, TimelineReplay* t) {
  if (!t->indexes[a.table].insert(a.index).second)
    return absl::StrCat("table ", a.table, " already has an index named ", a.index);
  return CheckVia(a, t);
}

std::string CheckDeleteIndex(const Action& a, TimelineReplay* t) {
  if (!t->indexes[a.table].erase(a.index))
    return absl::StrCat("table ", a.table, " has no index named ", a.index, " to delete");
  return CheckVia(a, t);
}

std::string CheckTableSettings(const Action& a, TimelineReplay* t) {
  if (a.settings.billing) t->billing[a.table] = *a.settings.billing;
  return CheckVia(a, t);
}

std::string CheckWipe(const Action& a, TimelineReplay* t) {
  const std::string& r = a.region;
  const Scenario& s = t->scenario;
  if (t->killed.count(r) || t->paused.count(r))
    return absl::StrCat("cannot wipe ", r, ": it is killed or paused at that point");
  if (!t->killed.empty() || !t->paused.empty()) {
    return absl::StrCat("cannot wipe ", r,
                        " while another region is killed or paused: "
                        "every peer must take part in its rejoining (restart it first)");
  }
  if (s.heartbeat && r == s.regions.front()) {
    return absl::StrCat("cannot wipe ", r,
                        ": it created the heartbeat table (the first "
                        "region), whose creation would be lost with its disk; list "
                        "another region first or set heartbeat: false");
  }
  for (const auto& table : s.tables) {
    if (!t->replicas[table.name].count(r)) continue;
    if (table.replicas.front() == r) {
      return absl::StrCat("cannot wipe ", r, ": it created table ", table.name,
                          " (its first replica), whose creation would be lost with its "
                          "disk; list another region first in the table's replicas");
    }
    if (t->replicas[table.name].size() < 2)
      return absl::StrCat("cannot wipe ", r, ": it holds the only replica of ", table.name);
    if (t->replica_steps[table.name].count(r)) {
      return absl::StrCat("cannot wipe ", r, ": an earlier step added or removed its replica of ",
                          table.name, " (wipe supports replicas held from the start)");
    }
  }
  return "";
}

std::string CheckWaitReplica(const Action& a, TimelineReplay* t) {
  if (!t->replicas[a.table].count(a.region)) {
    return absl::StrCat("waiting for ", a.region, "'s replica of ", a.table,
                        ", but no step before adds one there");
  }
  return "";
}

std::string CheckWaitIndex(const Action& a, TimelineReplay* t) {
  if (!t->indexes[a.table].count(a.index)) {
    return absl::StrCat("waiting for index ", a.index, " of ", a.table,
                        ", which neither the table nor an earlier step defines");
  }
  return "";
}

// ---- How each kind is described --------------------------------------------------------------

std::string DescribeWorkload(const Action& a) {
  return absl::StrCat(ActionKindName(a.kind), " workload ", a.workload);
}
std::string DescribeRegion(const Action& a) {
  return absl::StrCat(ActionKindName(a.kind), " ", a.region);
}
std::string DescribeMove(const Action& a) {
  return absl::StrCat("move workload ", a.workload, " to ", a.region);
}
std::string DescribePartition(const Action& a) {
  return absl::StrCat("partition: ", a.partition_text);
}
std::string DescribeHeal(const Action&) { return "heal every link"; }
std::string DescribeClock(const Action& a) {
  return absl::StrCat(ActionKindName(a.kind), " ", a.region, " ", FormatScenarioDuration(a.amount));
}
std::string DescribeDrift(const Action& a) {
  return absl::StrCat("clock drift ", a.region, " ", FormatScenarioDuration(a.amount), "/s");
}
std::string DescribeNetwork(const Action& a) {
  return absl::StrCat("network ", a.network.description);
}
std::string DescribeLink(const Action& a) {
  const LinkDelay& m = a.link.model;
  std::string what = absl::StrCat("link ", a.link.from, " -> ", a.link.to, " ",
                                  FormatScenarioDuration(absl::Microseconds(m.delay_us)));
  if (m.jitter_us > 0) {
    absl::StrAppend(&what, " +", FormatScenarioDuration(absl::Microseconds(m.jitter_us)), " ",
                    LinkDistributionName(m.distribution));
  }
  if (m.loss > 0) absl::StrAppend(&what, absl::StrFormat(" loss %.3g", m.loss));
  if (m.bandwidth_bytes_per_s > 0) absl::StrAppend(&what, " cap ", m.bandwidth_bytes_per_s, " B/s");
  return what;
}
std::string DescribeWaitFor(const Action& a) {
  return absl::StrCat("wait ", FormatScenarioDuration(a.amount));
}
std::string DescribeWaitUntil(const Action& a) {
  return absl::StrCat(ActionKindName(a.kind), " (timeout ", FormatScenarioDuration(a.amount), ")");
}
std::string DescribeAddReplica(const Action& a) {
  return absl::StrCat("add replica of ", a.table, " in ", a.region);
}
std::string DescribeRemoveReplica(const Action& a) {
  return absl::StrCat("remove replica of ", a.table, " in ", a.region);
}
std::string DescribeCreateIndex(const Action& a) {
  return absl::StrCat("create index ", a.index, " (", a.new_index.hash_key.name,
                      a.new_index.range_key ? ", " + a.new_index.range_key->name : "", ") on ",
                      a.table);
}
std::string DescribeDeleteIndex(const Action& a) {
  return absl::StrCat("delete index ", a.index, " of ", a.table);
}
std::string DescribeTableSettings(const Action& a) {
  std::vector<std::string> parts;
  const SettingsChange& c = a.settings;
  if (c.billing) parts.push_back("billing " + *c.billing);
  if (c.wcu) parts.push_back(absl::StrCat("wcu ", *c.wcu, " rcu ", c.rcu.value_or(0)));
  if (c.ttl_attribute)
    parts.push_back(c.ttl_attribute->empty() ? "TTL off" : "TTL on " + *c.ttl_attribute);
  if (c.sse) parts.push_back("SSE " + *c.sse);
  return absl::StrCat("table settings of ", a.table, ": ", absl::StrJoin(parts, ", "));
}
std::string DescribeWaitReplica(const Action& a) {
  return absl::StrCat("wait until ", a.region, "'s replica of ", a.table, " is ACTIVE (timeout ",
                      FormatScenarioDuration(a.amount), ")");
}
std::string DescribeWaitIndex(const Action& a) {
  return absl::StrCat("wait until index ", a.index, " of ", a.table,
                      " is ACTIVE in every replica (timeout ", FormatScenarioDuration(a.amount),
                      ")");
}

// ---- The table, in ActionKind's order ---------------------------------------------------------

using K = ActionKind;
using T = Timeline;
constexpr StepKind kStepKinds[] = {
    {K::kStartWorkload, "start", CheckStart, DescribeWorkload, &T::RunStartWorkload, nullptr},
    {K::kStopWorkload, "stop", CheckStop, DescribeWorkload, &T::RunStopWorkload, nullptr},
    {K::kMoveWorkload, "move", CheckMove, DescribeMove, &T::RunMoveWorkload, nullptr},
    {K::kKill, "kill", CheckKill, DescribeRegion, &T::RunKill, nullptr},
    {K::kRestart, "restart", CheckRestart, DescribeRegion, &T::RunRestart, nullptr},
    {K::kPause, "pause", CheckPause, DescribeRegion, &T::RunPause, nullptr},
    {K::kResume, "resume", CheckResume, DescribeRegion, &T::RunResume, nullptr},
    {K::kPartition, "partition", CheckNothing, DescribePartition, &T::RunPartition, nullptr},
    {K::kHeal, "heal", CheckNothing, DescribeHeal, &T::RunHeal, nullptr},
    {K::kPauseReplication, "pause replication into", CheckPauseReplication, DescribeRegion,
     &T::RunPauseReplication, nullptr},
    {K::kResumeReplication, "resume replication into", CheckResumeReplication, DescribeRegion,
     &T::RunResumeReplication, nullptr},
    {K::kClockSkew, "clock skew", CheckNothing, DescribeClock, &T::RunClockSkew, nullptr},
    {K::kClockJump, "clock jump", CheckNothing, DescribeClock, &T::RunClockJump, nullptr},
    {K::kClockDrift, "clock drift", CheckNothing, DescribeDrift, &T::RunClockDrift, nullptr},
    {K::kNetwork, "network", CheckNothing, DescribeNetwork, &T::RunNetwork, nullptr},
    {K::kLink, "link", CheckNothing, DescribeLink, &T::RunLink, nullptr},
    {K::kWaitFor, "wait", CheckNothing, DescribeWaitFor, &T::RunNothing, &T::WaitFor},
    {K::kWaitConverged, "wait until converged", CheckNothing, DescribeWaitUntil, &T::RunNothing,
     &T::WaitConverged},
    {K::kWaitCaughtUp, "wait until caught up", CheckNothing, DescribeWaitUntil, &T::RunNothing,
     &T::WaitCaughtUp},
    {K::kAddReplica, "add replica", CheckAddReplica, DescribeAddReplica, &T::RunAddReplica,
     nullptr},
    {K::kRemoveReplica, "remove replica", CheckRemoveReplica, DescribeRemoveReplica,
     &T::RunRemoveReplica, nullptr},
    {K::kCreateIndex, "create index", CheckCreateIndex, DescribeCreateIndex, &T::RunCreateIndex,
     nullptr},
    {K::kDeleteIndex, "delete index", CheckDeleteIndex, DescribeDeleteIndex, &T::RunDeleteIndex,
     nullptr},
    {K::kTableSettings, "table settings", CheckTableSettings, DescribeTableSettings,
     &T::RunTableSettings, nullptr},
    {K::kWipe, "restart with data wiped:", CheckWipe, DescribeRegion, &T::RunWipe, nullptr},
    {K::kWaitReplicaActive, "wait until replica ACTIVE", CheckWaitReplica, DescribeWaitReplica,
     &T::RunNothing, &T::WaitReplicaActive},
    {K::kWaitIndexActive, "wait until index ACTIVE", CheckWaitIndex, DescribeWaitIndex,
     &T::RunNothing, &T::WaitIndexActive},
};

// Every kind has its entry, at its own index.
constexpr bool InOrder() {
  int i = 0;
  for (const auto& k : kStepKinds) {
    if (static_cast<int>(k.kind) != i++) return false;
  }
  return i == static_cast<int>(ActionKind::kWaitIndexActive) + 1;
}
static_assert(InOrder(), "kStepKinds holds one entry per ActionKind, in ActionKind's order");

}  // namespace

TimelineReplay::TimelineReplay(const Scenario& s) : scenario(s) {
  for (const auto& w : s.workloads) {
    if (w.start) running.insert(w.name);
    where[w.name] = w.region;
  }
  for (const auto& t : s.tables) {
    replicas[t.name].insert(t.replicas.begin(), t.replicas.end());
    for (const auto& x : t.indexes) indexes[t.name].insert(x.name);
    billing[t.name] = t.billing;
  }
}

std::string TimelineReplay::WorkloadInPlace(const WorkloadSpec& w, const std::string& region) {
  if (replicas[w.table].count(region)) return "";
  return absl::StrCat("workload ", w.name, " would write table ", w.table, " in ", region,
                      ", which holds no replica of it then (replicas: ",
                      absl::StrJoin(replicas[w.table], ", "), ")");
}

const StepKind& StepKindOf(ActionKind kind) { return kStepKinds[static_cast<int>(kind)]; }

}  // namespace gtsim::scenario
