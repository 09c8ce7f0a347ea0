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
#include "absl/status/statusor.h"
#include "sim/scenario/run_state.h"
#include "sim/scenario/timeline.h"
#include "sim/scenario/workloads.h"

namespace gtsim::scenario {

absl::Status HealAndCheck(RunState* state, Timeline* timeline, Workloads* workloads);

// The judgement alone, as HealAndCheck ends with it and `gtsim check` runs it on a recorded
// history: reads every table's replicas once (no heal, no wait) and fills the result's
// violations, loss counts, conflicts (explained), acknowledged and unanswered writes, counters,
// lock intervals and index checks from `record`. The unanswered writes the replicas show
// committed join record->history. An error when a replica could not be read.
absl::Status JudgeFinalState(RunState* state, WorkloadRecord* record);

// Whether every table's replicas (in the regions holding one) hold the same live items now.
// An error when a replica could not be read.
absl::StatusOr<bool> ReplicasConverged(RunState* state);

}  // namespace gtsim::scenario
