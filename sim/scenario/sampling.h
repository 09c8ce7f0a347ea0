// Measurements taken while a scenario runs, each on its own thread:
// - Sampler: once a second, each workload's throughput and every region's replication metrics
//   (ReplicationLatency per inbound link, pending and staleness per peer) into the result, and
//   the live progress line on stderr.
// - HeartbeatProber: client-observed lag. Once a second per region, while the workloads run, a
//   heartbeat item is written there (table gtsim-heartbeat); a reader in every other region
//   polls for it until it sees it (that seq or a later one), through the final heal, so a
//   heartbeat delayed by a fault is reported with its full lag; one never seen counts with its
//   age at the end, marked censored.
//
// Both types are thread-compatible: each Run()s on its own SamplingThread, which the runner's
// thread starts and stops; what they measure goes into the RunState, which is thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "model/table_spec.h"
#include "sim/scenario/run_state.h"
#include "sim/scenario/workloads.h"

namespace gtsim::scenario {

// The thread a sampler runs on, until Stop. Thread-compatible.
class SamplingThread {
 public:
  ~SamplingThread() { Stop(); }
  void Start(std::function<void()> run) { thread_ = std::thread(std::move(run)); }
  // Asks the thread to stop (stopping() turns true) and waits for it. Idempotent.
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  bool stopping() const { return stop_; }

 private:
  std::thread thread_;
  std::atomic<bool> stop_{false};
};

class Sampler {
 public:
  // Both must outlive this.
  Sampler(RunState* state, Workloads* workloads) : state_(state), workloads_(workloads) {}

  // Samples once a second until `thread` (the one it runs on) is stopping.
  void Run(const SamplingThread& thread);

 private:
  RunState* const state_;
  Workloads* const workloads_;
};

class HeartbeatProber {
 public:
  // Both must outlive this. Writes heartbeats while `workloads` has not stopped.
  HeartbeatProber(RunState* state, const Workloads* workloads);

  // Creates the heartbeat table (a replica in every region): before Run.
  absl::Status CreateTable();
  // Writes and polls until the workloads have stopped and every heartbeat arrived, or until
  // `thread` (the one it runs on) is stopping: those not seen yet count as censored.
  void Run(const SamplingThread& thread);

 private:
  RunState* const state_;
  const Workloads* const workloads_;
  TableSpec spec_;
};

}  // namespace gtsim::scenario
