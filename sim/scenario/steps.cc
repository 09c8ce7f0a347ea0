#include "sim/scenario/steps.h"

#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "sim/scenario/timeline.h"

namespace gtsim::scenario {
namespace {

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
    {K::kStartWorkload, "start", DescribeWorkload, &T::RunStartWorkload, nullptr},
    {K::kStopWorkload, "stop", DescribeWorkload, &T::RunStopWorkload, nullptr},
    {K::kMoveWorkload, "move", DescribeMove, &T::RunMoveWorkload, nullptr},
    {K::kKill, "kill", DescribeRegion, &T::RunKill, nullptr},
    {K::kRestart, "restart", DescribeRegion, &T::RunRestart, nullptr},
    {K::kPause, "pause", DescribeRegion, &T::RunPause, nullptr},
    {K::kResume, "resume", DescribeRegion, &T::RunResume, nullptr},
    {K::kPartition, "partition", DescribePartition, &T::RunPartition, nullptr},
    {K::kHeal, "heal", DescribeHeal, &T::RunHeal, nullptr},
    {K::kPauseReplication, "pause replication into", DescribeRegion, &T::RunPauseReplication,
     nullptr},
    {K::kResumeReplication, "resume replication into", DescribeRegion, &T::RunResumeReplication,
     nullptr},
    {K::kClockSkew, "clock skew", DescribeClock, &T::RunClockSkew, nullptr},
    {K::kClockJump, "clock jump", DescribeClock, &T::RunClockJump, nullptr},
    {K::kClockDrift, "clock drift", DescribeDrift, &T::RunClockDrift, nullptr},
    {K::kNetwork, "network", DescribeNetwork, &T::RunNetwork, nullptr},
    {K::kLink, "link", DescribeLink, &T::RunLink, nullptr},
    {K::kWaitFor, "wait", DescribeWaitFor, &T::RunNothing, &T::WaitFor},
    {K::kWaitConverged, "wait until converged", DescribeWaitUntil, &T::RunNothing,
     &T::WaitConverged},
    {K::kWaitCaughtUp, "wait until caught up", DescribeWaitUntil, &T::RunNothing, &T::WaitCaughtUp},
    {K::kAddReplica, "add replica", DescribeAddReplica, &T::RunAddReplica, nullptr},
    {K::kRemoveReplica, "remove replica", DescribeRemoveReplica, &T::RunRemoveReplica, nullptr},
    {K::kCreateIndex, "create index", DescribeCreateIndex, &T::RunCreateIndex, nullptr},
    {K::kDeleteIndex, "delete index", DescribeDeleteIndex, &T::RunDeleteIndex, nullptr},
    {K::kTableSettings, "table settings", DescribeTableSettings, &T::RunTableSettings, nullptr},
    {K::kWipe, "restart with data wiped:", DescribeRegion, &T::RunWipe, nullptr},
    {K::kWaitReplicaActive, "wait until replica ACTIVE", DescribeWaitReplica, &T::RunNothing,
     &T::WaitReplicaActive},
    {K::kWaitIndexActive, "wait until index ACTIVE", DescribeWaitIndex, &T::RunNothing,
     &T::WaitIndexActive},
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

const StepKind& StepKindOf(ActionKind kind) { return kStepKinds[static_cast<int>(kind)]; }

}  // namespace gtsim::scenario
