// Runs a scenario against a cluster through a Driver: creates the table, applies the network
// model, runs the workloads (one thread each) while the timeline injects faults, then heals
// everything, waits for convergence, checks the final replicas against the history of
// acknowledged writes and judges the expectations.
//
// Reproducibility: the seed fixes each workload's sequence of keys and operations and every
// random fault target; real processes and real time decide the interleaving, so two runs of
// one seed do the same things but may see different conflicts.
#pragma once

#include <functional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sim/scenario/driver.h"
#include "sim/scenario/result.h"
#include "sim/scenario/scenario.h"

namespace gtsim::scenario {

struct RunOptions {
  // A live progress line (elapsed/total, ops/s, lag, active faults) and events on stderr.
  bool live = true;
  // Polled often; when it returns true the run stops early with Cancelled (Ctrl-C).
  std::function<bool()> interrupted;
  // Deadline of each workload operation.
  absl::Duration op_timeout = absl::Seconds(1);
  // Keep every answered read in WorkloadRecord::reads (gtsim traffic's history does; a
  // scenario's checks do not read them).
  bool record_reads = false;
  // Write ids start after this one (items carry "w<id>"): gtsim traffic starts each run's ids
  // at its start time in microseconds, so runs against one table never share an id.
  int64_t first_write_id = 0;
  // The final checks judge only the keys the run wrote (gtsim check: a table may hold items
  // written before the run or by others); a scenario's tables are its own, every item judged.
  bool judge_written_keys_only = false;
};

// The run's measurements and verdicts; an error when the run could not be carried out (the
// table could not be created, a region could not be restarted, interrupted). The caller owns
// the cluster's processes and stops them either way.
absl::StatusOr<RunResult> RunScenario(const Scenario& scenario, Driver* driver,
                                      const RunOptions& options);

}  // namespace gtsim::scenario
