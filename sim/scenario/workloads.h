// The scenario's client workloads: one thread each, sending mixed operations, counter increments
// or lock acquire/release pairs to the region the workload is in now (RunState::WorkloadRegion),
// at the workload's rate, with keys and operations drawn from the scenario's seed. Every
// acknowledged write joins the history of its table; a write that got no answer but may have
// committed is remembered as unanswered, for the final checks to find in the replicas.
//
// This type is thread-safe: the timeline starts, stops and moves workloads and the sampler reads
// their counts while they run. The record (WorkloadRecord) is read once Stop() has returned.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "sim/harness/history.h"
#include "sim/scenario/checks.h"
#include "sim/scenario/result.h"
#include "sim/scenario/run_state.h"

namespace gtsim::scenario {

// A write that got no answer and may still have committed.
struct UnansweredWrite {
  WriteKind kind;
  std::string table, region, key_text;
  Item key;
  int64_t true_us;
};

// A read that got an answer (RunOptions::record_reads): what `region` returned for the key.
struct ReadRecord {
  std::string table, region, key_text;
  Item key;
  std::optional<Item> item;          // empty: absent
  Stamp stamp;                       // the version's stamp when present
  int64_t start_us = 0, end_us = 0;  // true time: the call was sent, the answer came
};

// What the workloads wrote (and, when asked, read), for the final checks.
struct WorkloadRecord {
  std::map<std::string, History> history;         // acknowledged writes, by table
  std::map<int64_t, UnansweredWrite> unanswered;  // by write id
  // Counter items: (table, encoded hash key, encoded range key).
  std::set<std::tuple<std::string, std::string, std::string>> counter_keys;
  int64_t acked_increments = 0;
  std::vector<LockInterval> lock_intervals;
  std::vector<ReadRecord> reads;  // in answer order; only with RunOptions::record_reads
};

class Workloads {
 public:
  // `state` must outlive this.
  explicit Workloads(RunState* state);
  ~Workloads();  // Stop()s

  // Adds each workload's totals to the result and starts its thread; those with start: false
  // wait until SetRunning.
  void Start();
  // Starts (or pauses) the workload named `name`; its thread keeps going.
  void SetRunning(const std::string& name, bool running);
  // Stops every thread and waits for it. Idempotent.
  void Stop();
  bool stopped() const { return stop_; }

  // Per workload, what it did since the previous call (or the start), stamped `t`.
  std::vector<ThroughputSample> Throughput(double t);
  // Each workload's counts, into the result's totals (in Start()'s order). After Stop().
  void FillTotals(std::vector<WorkloadTotals>* totals) const;
  // The acknowledged and unanswered writes, counters and lock intervals. After Stop().
  WorkloadRecord* record() ABSL_NO_THREAD_SAFETY_ANALYSIS { return &record_; }

 private:
  struct State;
  class KeyPicker;

  void Run(State* w);
  void MixedOnce(State* w, std::mt19937_64& rng, const KeyPicker& keys, const std::string& region);
  void Read(State* w, const std::string& region, const Item& key, const std::string& key_text)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Increment(State* w, const std::string& region, const std::string& key_text);
  void LockOnce(State* w, const std::string& region, const std::string& key_text);
  absl::StatusOr<WriteResult> Write(State* w, WriteKind kind, const std::string& region,
                                    const std::string& key_text, int64_t id,
                                    const std::function<absl::StatusOr<WriteResult>()>& call);
  void Record(State* w, WriteKind kind, const std::string& region, const Item& key,
              const std::string& key_text, int64_t id, const WriteResult& result)
      ABSL_LOCKS_EXCLUDED(mu_);

  RunState* const state_;
  std::vector<std::unique_ptr<State>> workloads_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> next_id_{0};

  absl::Mutex mu_;
  WorkloadRecord record_ ABSL_GUARDED_BY(mu_);
};

}  // namespace gtsim::scenario
