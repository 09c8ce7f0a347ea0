// What a scenario run measured and concluded: the input of the checkers' verdicts and of every
// report (terminal summary, JSON, CSV, HTML, JUnit). Times are seconds since the run started.
//
// Plain data; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace gtsim::scenario {

// One second of one directed pair, as the receiving region reported it.
struct LagSample {
  double t = 0;
  std::string from, to;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t samples = 0;   // ReplicationLatency samples in the region's recent window
  int64_t pending = -1;  // PendingReplicationCount from -> to (-1: unknown, e.g. origin down)
  // The same latency over the last second only: the per-second series, which returns to the
  // link's normal latency once a backlog has drained (the window above keeps it for 60 s).
  double p99_1s_ms = 0;
  int64_t samples_1s = 0;
  // How far behind `to` is now, as `from` reported it: the age of the oldest write committed
  // in `from` and not yet acknowledged by `to` (0: caught up; -1: unknown, e.g. origin down).
  double staleness_ms = -1;
};

// Client-observed end-to-end lag: a heartbeat written in `from`, first seen by a reader in `to`.
// Never dropped: one not seen by the end of the run counts with its age then, marked censored
// (its true lag is at least that).
struct HeartbeatSample {
  double t = 0;  // when it was written
  std::string from, to;
  double lag_ms = 0;
  bool censored = false;
};

// Operations in one second of one workload.
struct ThroughputSample {
  double t = 0;
  std::string workload, region;
  int64_t ok = 0, failed = 0, conditional_failed = 0;
  int64_t acked_writes = 0;  // of `ok`, the writes (the rest are reads)
};

struct FaultInterval {
  double start = 0, end = -1;  // end -1: still active at the end of the workload phase
  std::string text;
};

// A write LWW dropped in a conflict (or an overwrite), for the conflict timeline.
struct ConflictEvent {
  double t = 0;  // when the losing write was acknowledged
  std::string region, key, reason, explanation;
};

struct WorkloadTotals {
  std::string name, kind;
  std::vector<std::string> regions;  // where it ran, in order (a move adds one)
  int64_t attempted = 0, ok = 0, failed = 0, conditional_failed = 0, acked_writes = 0;
  double availability() const {
    return attempted ? double(ok + conditional_failed) / attempted : 1;
  }
};

// An index_matches check: in every replica, the index queried for each value of its hash key
// found in the table, compared with the table's items carrying that value.
struct IndexCheck {
  std::string table, index;
  int64_t queries = 0;
  std::vector<std::string> mismatches;  // in words: region, value, missing and extra keys
};

struct ExpectationResult {
  std::string name;
  int line = 0;
  bool passed = false;
  std::string detail;  // plain words: what was measured, and on failure why
};

struct RunResult {
  std::string scenario, file;
  uint64_t seed = 0;
  std::vector<std::string> regions;
  std::string network;
  double duration_s = 0;         // the workload phase
  double converge_s = -1;        // from the final heal to every replica identical (-1: never)
  std::vector<std::string> log;  // "[  3.0s] kill us-east-1", ...
  std::vector<LagSample> lag;
  std::vector<HeartbeatSample> heartbeats;
  std::vector<ThroughputSample> throughput;
  std::vector<FaultInterval> faults;
  std::vector<ConflictEvent> conflicts;
  std::vector<WorkloadTotals> workloads;
  std::map<std::string, int64_t> loss_counts;  // by LossReasonName
  int64_t acknowledged_writes = 0, unanswered_writes = 0;
  int64_t acked_increments = 0, final_counter_total = 0;
  int64_t lock_acquisitions = 0, lock_overlaps = 0;
  std::vector<std::string> lock_explanations;  // the first overlaps, in words
  std::vector<std::string> violations;         // convergence and lost-write checker findings
  std::vector<IndexCheck> index_checks;
  std::vector<ExpectationResult> expectations;
  bool all_passed() const {
    for (const auto& e : expectations) {
      if (!e.passed) return false;
    }
    return true;
  }
};

}  // namespace gtsim::scenario
