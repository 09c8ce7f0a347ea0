// What runs after the workloads stop: the final heal (Timeline::FinalHeal), the wait for every
// replica to converge (up to the scenario's `settle`), then the judgement of each table's final
// replicas - the lost-write classifier over the history of acknowledged writes (with the
// unanswered writes the replicas show committed), the counters' final values, the lock
// intervals and the index_matches queries - into the RunState's result. The expectations are
// judged later, from the whole result (checks.h's Evaluate).
//
// Runs on the runner's thread once the workloads have stopped (Workloads::Stop). An error when
// a replica could not be read, or the run was interrupted; a run that does not converge is
// logged and judged as it is.
#pragma once

#include "absl/status/status.h"
#include "sim/scenario/run_state.h"
#include "sim/scenario/timeline.h"
#include "sim/scenario/workloads.h"

namespace gtsim::scenario {

absl::Status HealAndCheck(RunState* state, Timeline* timeline, Workloads* workloads);

}  // namespace gtsim::scenario
