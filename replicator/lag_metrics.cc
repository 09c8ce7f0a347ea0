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

}  // namespace gtsim
