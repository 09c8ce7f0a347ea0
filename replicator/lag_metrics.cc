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

LatencySummary LagWindow::Summarize(int64_t now_us) const {
  std::vector<int64_t> v;
  for (const auto& [at, lat] : samples_) {
    if (at >= now_us - window_us_) v.push_back(lat);
  }
  LatencySummary s;
  s.samples = static_cast<int64_t>(v.size());
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  // Nearest-rank percentile.
  auto pct = [&](double p) {
    size_t rank = static_cast<size_t>(p / 100.0 * v.size() + 0.999999);
    rank = std::min(std::max<size_t>(rank, 1), v.size());
    return v[rank - 1] / 1000.0;
  };
  s.p50_ms = pct(50);
  s.p90_ms = pct(90);
  s.p99_ms = pct(99);
  s.max_ms = v.back() / 1000.0;
  return s;
}

}  // namespace gtsim
