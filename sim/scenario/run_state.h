// What the parts of one scenario run share (sim/scenario/runner.cc wires them): the scenario,
// the driver and the options; the tables as the timeline's steps made them; the run's clock
// (seconds since the start); and the record every part writes into - the event log, the faults
// shown in reports, the regions' clock skews, where each workload sends its requests, and the
// RunResult itself.
//
// This type is thread-safe for the record (Log, faults, skews, workload regions, WithResult).
// The tables' replica sets and indexes are changed by the timeline thread only; workload threads
// read only their table's keys, which never change.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "model/table_spec.h"
#include "sim/scenario/driver.h"
#include "sim/scenario/result.h"
#include "sim/scenario/runner.h"
#include "sim/scenario/scenario.h"

namespace gtsim::scenario {

// A scenario table as the runner drives it.
struct TableRun {
  TableDef def;
  // Keys, and in `replicas` the regions holding a replica now, as the timeline's steps made
  // them (the timeline thread changes it; workloads read the keys only).
  TableSpec spec;
  std::map<std::string, IndexSpec> indexes;  // live indexes, as the steps made them
};

class RunState {
 public:
  // `scenario` and `driver` must outlive this.
  RunState(const Scenario& scenario, Driver* driver, const RunOptions& options);

  const Scenario& scenario() const { return s_; }
  Driver* driver() const { return d_; }
  const RunOptions& options() const { return o_; }
  // Live output goes to a terminal: the progress line is redrawn in place.
  bool live_tty() const { return live_tty_; }

  // The scenario's tables in file order (the default table for a scenario built in code), and
  // their run state by name: a fixed set, built at construction.
  const std::vector<TableDef>& defs() const { return defs_; }
  std::map<std::string, TableRun>& tables() { return tables_; }
  const TableRun& table(const std::string& name) const { return tables_.at(name); }

  // The run's start: set (before any thread starts) when the workloads are about to start, or,
  // for a history judged afterwards (gtsim check), to the start it records.
  void MarkStart(absl::Time at = absl::Now()) { start_ = at; }
  absl::Time start() const { return start_; }
  double Elapsed() const { return absl::ToDoubleSeconds(absl::Now() - start_); }

  // Appends "[  12.3s] text" to the log, and prints it when the options ask for live output.
  void Log(const std::string& text) ABSL_LOCKS_EXCLUDED(mu_);
  // Cancelled when the options' `interrupted` says so.
  absl::Status Interrupted() const;

  // Faults as reports shade them: open now under `key`; returns its index.
  int OpenFault(const std::string& key, const std::string& text) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes every open fault whose key starts with `prefix`.
  void CloseFaults(const std::string& prefix) ABSL_LOCKS_EXCLUDED(mu_);
  void CloseFault(int index) ABSL_LOCKS_EXCLUDED(mu_);
  // The texts of the faults open now.
  std::vector<std::string> ActiveFaults() ABSL_LOCKS_EXCLUDED(mu_);

  // A region's clock skew as the timeline last set it (microseconds; 0 at the start).
  int64_t Skew(const std::string& region) ABSL_LOCKS_EXCLUDED(mu_);
  void RecordSkew(const std::string& region, int64_t us) ABSL_LOCKS_EXCLUDED(mu_);

  // The region a workload sends its requests to now; a move also joins the workload's list of
  // regions in the result.
  std::string WorkloadRegion(const std::string& workload) ABSL_LOCKS_EXCLUDED(mu_);
  void MoveWorkload(const std::string& workload, const std::string& region)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Calls f(RunResult&) under the lock.
  template <typename F>
  void WithResult(F&& f) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    f(result_);
  }
  // The result, moved out: once every thread of the run has stopped.
  RunResult TakeResult() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const Scenario& s_;
  Driver* const d_;
  const RunOptions o_;
  const bool live_tty_;
  std::vector<TableDef> defs_;
  std::map<std::string, TableRun> tables_;
  absl::Time start_;

  absl::Mutex mu_;
  RunResult result_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> fault_keys_ ABSL_GUARDED_BY(mu_);         // result_.faults' keys
  std::map<std::string, std::string> regions_ ABSL_GUARDED_BY(mu_);  // workload -> region
  std::map<std::string, int64_t> skew_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gtsim::scenario
