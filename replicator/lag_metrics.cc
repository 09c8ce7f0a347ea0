#include "replicator/lag_metrics.h"

#include <algorithm>
#include <vector>

namespace gtsim {

void LagWindow::Record(int64_t at_us, int64_t latency_us) {
  samples_.emplace_back(at_us, std::max<int64_t>(0, latency_us));
  while (samples_.size() > max_samples_ ||
         (!samples_.empty() && samples_.front().first < at_us - window_us_)) {
    samples_.pop_front();
  }
}

LatencySummary LagWindow::Summarize(int64_t now_us, int64_t window_us) const {
  const int64_t from = now_us - (window_us > 0 ? std::min(window_us, window_us_) : window_us_);
  std::vector<int64_t> v;
  // Newest first: a short window stops early.
  for (auto it = samples_.rbegin(); it != samples_.rend() && it->first >= from; ++it) {
    if (it->first <= now_us) v.push_back(it->second);
  }
  LatencySummary s;
  s.samples = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  // Nearest-rank percentiles by selection, not a full sort: Status() asks for them under the
  // region's lock, with up to max_samples_ samples per pair.
  auto pct = [&](double p) {
    size_t rank = static_cast<size_t>(p / 100.0 * v.size() + 0.999999);
    rank = std::min(std::max<size_t>(rank, 1), v.size());
    std::nth_element(v.begin(), v.begin() + (rank - 1), v.end());
    return v[rank - 1] / 1000.0;
  };
  s.max_ms = *std::max_element(v.begin(), v.end()) / 1000.0;
  s.p99_ms = pct(99);
  s.p90_ms = pct(90);
  s.p50_ms = pct(50);
  return s;
}

void LatencyHistogram::Record(int64_t latency_us) {
  latency_us = std::max<int64_t>(0, latency_us);
  ++count_;
  sum_us_ += static_cast<double>(latency_us);
  for (size_t i = 0; i < kBoundsSeconds.size(); ++i) {
    if (latency_us <= static_cast<int64_t>(kBoundsSeconds[i] * 1e6 + 0.5)) {
      ++buckets_[i];
      return;
    }
  }
  // Beyond the last bound: counted in +Inf only (count_).
}

int64_t LatencyHistogram::CumulativeCount(size_t i) const {
  int64_t n = 0;
  for (size_t b = 0; b <= i && b < buckets_.size(); ++b) n += buckets_[b];
  return n;
}

Freshness FreshnessAt(int64_t now_us, std::optional<int64_t> oldest_pending_commit_us) {
  Freshness f;
  if (!oldest_pending_commit_us) {
    f.replicated_time_us = now_us;
    return f;
  }
  f.replicated_time_us = std::min(*oldest_pending_commit_us, now_us);
  f.staleness_us = now_us - f.replicated_time_us;
  return f;
}

}  // namespace gtsim
