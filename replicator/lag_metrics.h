// ReplicationLatency as AWS reports it: per (source -> destination) pair, the time from the
// write's commit at the source to its application at the destination, summarised over a recent
// window. Both ends read the same true clock (one machine, or the simulator's virtual clock).
//
// This type is thread-compatible, but not thread-safe.
#pragma once

#include <cstdint>
#include <cstddef>
#include <deque>
#include <utility>

namespace gtsim {

struct LatencySummary {
  int64_t samples = 0;
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, max_ms = 0;
};

class LagWindow {
 public:
  // Keeps samples newer than `window_us` before the latest one, at most `max_samples`.
  explicit LagWindow(int64_t window_us = 60'000'000, size_t max_samples = 100'000)
      : window_us_(window_us), max_samples_(max_samples) {}

  void Record(int64_t at_us, int64_t latency_us);
  // Percentiles of the samples within the window ending at `now_us`.
  LatencySummary Summarize(int64_t now_us) const;

 private:
  int64_t window_us_;
  size_t max_samples_;
  std::deque<std::pair<int64_t, int64_t>> samples_;  // (applied at, latency), oldest first
};

}  // namespace gtsim
