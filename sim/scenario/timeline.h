// The scenario's timeline: sets up the tables and the network, then runs the steps in file
// order (a step with `at` waits until that time), each through its entry in the step table
// (steps.h); undoes the faults with `for` when they are due, runs the recurring steps (`every`)
// in the background and lets clocks drift. At the end, FinalHeal undoes every fault still in
// place. It keeps what the faults changed - regions killed or paused, links cut or delayed,
// clock skews - so a region that comes back is told the current ones.
//
// This type is thread-compatible, but not thread-safe: every method runs on the runner's thread
// (the "timeline thread"). What it records goes into the RunState, which is thread-safe.
#pragma once

#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "replicator/link_delay.h"
#include "sim/scenario/run_state.h"
#include "sim/scenario/steps.h"
#include "sim/scenario/workloads.h"

namespace gtsim::scenario {

class Timeline {
 public:
  // Both must outlive this.
  Timeline(RunState* state, Workloads* workloads);

  // Creates a scenario table from its first replica's region, sets its billing, creates its
  // indexes and waits until every index is ACTIVE in every replica: the workloads start on the
  // table as the file describes it.
  absl::Status CreateTable(const TableDef& def);
  // Sets every directed link to `net`'s model (no delay where it lists none).
  absl::Status ApplyNetwork(const NetworkSpec& net);

  // Runs the steps (from the RunState's start), then waits until `end`.
  absl::Status Run(absl::Time end);
  // Runs every undo still scheduled, stops clock drift, resumes and restarts every region that
  // is down and restores every link.
  absl::Status FinalHeal();

  // For every table, every region holding a replica is up and holds the same items (contents,
  // not stamps).
  absl::StatusOr<bool> Converged();

  // ---- The step kinds (steps.cc's table points here) ----------------------------------------
  absl::Status RunStartWorkload(const Action& a, StepRun* run);
  absl::Status RunStopWorkload(const Action& a, StepRun* run);
  absl::Status RunMoveWorkload(const Action& a, StepRun* run);
  absl::Status RunKill(const Action& a, StepRun* run);
  absl::Status RunRestart(const Action& a, StepRun* run);
  absl::Status RunPause(const Action& a, StepRun* run);
  absl::Status RunResume(const Action& a, StepRun* run);
  absl::Status RunPartition(const Action& a, StepRun* run);
  absl::Status RunHeal(const Action& a, StepRun* run);
  absl::Status RunPauseReplication(const Action& a, StepRun* run);
  absl::Status RunResumeReplication(const Action& a, StepRun* run);
  absl::Status RunClockSkew(const Action& a, StepRun* run);
  absl::Status RunClockJump(const Action& a, StepRun* run);
  absl::Status RunClockDrift(const Action& a, StepRun* run);
  absl::Status RunNetwork(const Action& a, StepRun* run);
  absl::Status RunLink(const Action& a, StepRun* run);
  absl::Status RunAddReplica(const Action& a, StepRun* run);
  absl::Status RunRemoveReplica(const Action& a, StepRun* run);
  absl::Status RunCreateIndex(const Action& a, StepRun* run);
  absl::Status RunDeleteIndex(const Action& a, StepRun* run);
  absl::Status RunTableSettings(const Action& a, StepRun* run);
  absl::Status RunWipe(const Action& a, StepRun* run);
  absl::Status RunNothing(const Action& a, StepRun* run);  // waits: their `wait` does it
  absl::Status WaitFor(const Action& a);
  absl::Status WaitConverged(const Action& a);
  absl::Status WaitCaughtUp(const Action& a);
  absl::Status WaitReplicaActive(const Action& a);
  absl::Status WaitIndexActive(const Action& a);

 private:
  bool Down(const std::string& r) const { return killed_.count(r) || paused_.count(r); }
  // A kill or pause of a region that is down already: logs that it is skipped and marks `run`.
  bool SkipDown(StepRun* run);
  // Applies one step through its table entry; a revertible fault with `for` schedules its
  // undoing.
  absl::Status Apply(const Step& st);
  // Runs the scheduled undos and recurring occurrences that are due, and the clock drift.
  absl::Status RunDue();
  absl::Status WaitUntil(absl::Time t);
  // Polls `check` until it holds or the action's timeout passes (logged either way; the
  // timeline goes on). `fine`: poll every 20 ms rather than 100 ms; `why_not`: appended to the
  // log line when it did not hold; `on_done`: called when it held.
  absl::Status WaitUntilDone(const Action& a, const std::string& what,
                             const std::function<absl::StatusOr<bool>()>& check, bool fine,
                             const std::function<std::string()>& why_not = nullptr,
                             const std::function<void()>& on_done = nullptr);

  absl::Status Block(const std::string& origin, const std::string& receiver, int delta);
  absl::Status SetSkew(const std::string& r, int64_t us);
  std::string PickRandom();
  absl::Status Restart(const std::string& r);
  absl::Status Resume(const std::string& r);
  // A region that was down missed the changes made meanwhile to its cuts, clock and links:
  // tell it the current ones.
  absl::Status Reassert(const std::string& r);
  absl::Status Wipe(const std::string& r);

  // UpdateTable in `region`, retried while the table is UPDATING or the region does not
  // answer, for up to a minute; due undos still run meanwhile.
  absl::Status UpdateWithRetry(const std::string& region, const UpdateTableRequest& req);
  // The region a table operation is called in: the step's `via`, else the first region holding
  // a replica that is up and is not the step's target.
  absl::StatusOr<std::string> Via(const TableRun& t, const Action& a);
  // A table step's UpdateTable, called in Via(); appends " (via R)" to the run's description.
  absl::Status UpdateVia(const Action& a, const UpdateTableRequest& req, StepRun* run);
  absl::StatusOr<bool> ReplicaActive(const TableRun& t, const std::string& region);
  absl::StatusOr<bool> IndexActive(const TableRun& t, const std::string& index,
                                   std::set<std::string>* active, absl::Time began, bool log);
  absl::StatusOr<bool> CaughtUp(std::map<std::string, int64_t>* heads, std::string* behind);

  RunState* const state_;
  Workloads* const workloads_;
  const Scenario& s_;
  Driver* const d_;
  std::mt19937_64 rng_;  // random fault targets
  absl::Time last_drift_;
  std::multimap<absl::Time, std::function<absl::Status()>> pending_;
  std::map<std::pair<std::string, std::string>, int> blocks_;  // (origin, receiver) -> cuts
  std::map<std::pair<std::string, std::string>, LinkDelay> links_;
  std::set<std::string> killed_, paused_;
  std::map<std::string, double> drift_;  // us per second
  std::string behind_;                   // the last lagging pair CaughtUp saw
};

}  // namespace gtsim::scenario
