// The table of step kinds: for each ActionKind, its name, how a step of that kind is described
// in the log and reports, how the timeline runs it and, for a wait, how the timeline waits for
// it. Adding a step kind means adding an ActionKind, its entry here, and its parsing and
// validation in scenario.cc (which still pick the kind from the YAML key).
//
// The table is constant; thread-safe.
#pragma once

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "sim/scenario/scenario.h"

namespace gtsim::scenario {

class Timeline;  // sim/scenario/timeline.h

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
