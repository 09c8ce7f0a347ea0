// Replication lag figures, all read on the true clock (one machine, or the simulator's virtual
// clock; separate hosts must keep their clocks in step, e.g. by NTP).
// - ReplicationLatency as AWS reports it (LagWindow): per (source -> destination) pair, the time
//   from the write's commit at the source to its application at the destination, summarised
//   over a recent window. It only holds deliveries: while a link is cut nothing is delivered and
//   the window keeps showing the small latencies from before the cut.
// - LatencyHistogram: the same latencies since the region started, in fixed buckets, for
//   Prometheus.
// - Freshness: how far behind a destination is now. Its staleness is the age of the oldest
//   write committed at the source and not yet acknowledged as applied by the destination (0
//   when caught up); its replicated time is the source commit time up to which the destination
//   has applied everything (now when caught up). CockroachDB's replicated-time gauge is the
//   model: it grows with every second a cut lasts, and drops to 0 once the destination applies
//   the backlog.
//
// These types are thread-compatible, but not thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
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
  // Percentiles of the samples within the window ending at `now_us`; with `window_us` > 0, of
  // those within that shorter window instead (e.g. the last second, for per-second series).
  LatencySummary Summarize(int64_t now_us, int64_t window_us = 0) const;

 private:
  int64_t window_us_;
  size_t max_samples_;
  std::deque<std::pair<int64_t, int64_t>> samples_;  // (applied at, latency), oldest first
};

// Cumulative latency counts in fixed buckets (upper bounds in seconds, Prometheus' `le`).
class LatencyHistogram {
 public:
  static constexpr std::array<double, 17> kBoundsSeconds = {
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  void Record(int64_t latency_us);
  // Observations <= kBoundsSeconds[i] (cumulative, as Prometheus wants them).
  int64_t CumulativeCount(size_t i) const;
  int64_t count() const { return count_; }
  double sum_seconds() const { return sum_us_ / 1e6; }

 private:
  std::array<int64_t, kBoundsSeconds.size()> buckets_{};  // per bucket, not cumulative
  int64_t count_ = 0;
  double sum_us_ = 0;
};

// How far behind one destination is now, for one table or for all the tables of a pair.
struct Freshness {
  int64_t staleness_us = 0;        // 0 when caught up
  int64_t replicated_time_us = 0;  // source true time; `now` when caught up
  // The oldest pending write lies beyond what was examined (a bounded scan of the source's
  // log): the true staleness is at most staleness_us.
  bool at_most = false;
};
// From the source commit time of the oldest write the destination has not acknowledged yet
// (none: caught up). A commit time after `now_us` (another host's clock ahead) counts as now.
Freshness FreshnessAt(int64_t now_us, std::optional<int64_t> oldest_pending_commit_us);

}  // namespace gtsim
