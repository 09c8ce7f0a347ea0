// The table of step kinds: for each ActionKind, its name, how ParseScenario checks that a step
// of that kind can happen where the file puts it, how a step of that kind is described in the
// log and reports, how the timeline runs it and, for a wait, how the timeline waits for it.
// Adding a step kind means adding an ActionKind, its entry here, and its YAML form in
// scenario.cc's ParseStep (which reads a step's keys into an Action).
//
// The table is constant; thread-safe.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "sim/scenario/scenario.h"

namespace gtsim::scenario {

class Timeline;  // sim/scenario/timeline.h

// The timeline's lasting effect on regions, workloads and tables, as ParseScenario replays the
// file's steps (those without `for` or `every`) to reject the ones that cannot happen.
struct TimelineReplay {
  // Starts from the scenario's regions (all up), workloads and tables.
  explicit TimelineReplay(const Scenario& s);
  // Empty when workload `w` may write its table in `region` (a replica is there), else why not.
  std::string WorkloadInPlace(const WorkloadSpec& w, const std::string& region);

  const Scenario& scenario;
  std::set<std::string> killed, paused, repl_paused;  // regions
  std::set<std::string> running;                      // workloads
  std::map<std::string, std::string> where;           // workload -> region
  // Per table: the regions holding a replica, the live indexes, the regions a step added or
  // removed, the billing mode.
  std::map<std::string, std::set<std::string>> replicas, indexes, replica_steps;
  std::map<std::string, std::string> billing;
};

// What running one step did, as the timeline logs and undoes it.
struct StepRun {
  std::string region;  // the step's target region ("random" already drawn)
  std::string desc;    // the log's line for it (without the step's note)
  // With `for`: how to undo the step, and the fault it opened (closed when undone; -1: none).
  std::function<absl::Status()> undo;
  int fault = -1;
  bool skipped = false;  // nothing was done (the reason is logged already)
};

struct StepKind {
  ActionKind kind;
  const char* name;  // ActionKindName
  // Applies a step of this kind to `replay`: empty, or why the step cannot happen there.
  std::string (*check)(const Action& a, TimelineReplay* replay);
  // The step's action in words ("kill us-east-1"), without its for/every.
  std::string (*describe)(const Action& a);
  // Does the step, in the timeline's thread; fills `run`.
  absl::Status (Timeline::*run)(const Action& a, StepRun* run);
  // A wait: blocks the timeline until it is over, after `run` (null for the other kinds).
  absl::Status (Timeline::*wait)(const Action& a);
};

// The entry of `kind` (every ActionKind has one).
const StepKind& StepKindOf(ActionKind kind);

}  // namespace gtsim::scenario
