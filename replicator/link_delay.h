// A simulated one-way network on the replication link from one origin region: latency with a
// distribution, loss on a reliable stream, and a bandwidth cap.
//
// The model, per change of a stream, in stream order:
//   1. Bandwidth: the change is "sent" once the link has finished sending the changes ahead of
//      it; it occupies the link for size / bandwidth_bytes_per_s (no cap when 0). So a burst
//      larger than the link drains at the configured throughput.
//   2. Latency: delay_us plus a draw from the distribution (see LinkDistribution).
//   3. Loss: the stream is reliable (TCP), so a lost packet is not dropped but retransmitted:
//      each transmission is lost with probability `loss`, and every loss adds a retransmission
//      timeout of max(200 ms, 2 x delay) (Linux's minimum RTO) before the next attempt.
//   4. Order: a change is never due before the change ahead of it (head-of-line blocking), as
//      on one TCP connection.
// The receiving link applies a change only once it is due (commit time at the origin + the
// above), so the measured ReplicationLatency is the modelled network plus gtsim's own overhead.
#pragma once

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"

namespace gtsim {

// How the random part of a link's latency is drawn (`jitter_us` is its scale):
//   kConstant:    no random part (jitter ignored).
//   kUniform:     uniform in [0, jitter]          (the default; mean jitter/2).
//   kNormal:      normal with standard deviation jitter, truncated at -delay (mean 0).
//   kExponential: exponential with mean jitter (a long tail of slow deliveries).
enum class LinkDistribution { kUniform = 0, kConstant = 1, kNormal = 2, kExponential = 3 };

inline const char* LinkDistributionName(LinkDistribution d) {
  switch (d) {
    case LinkDistribution::kConstant:
      return "constant";
    case LinkDistribution::kNormal:
      return "normal";
    case LinkDistribution::kExponential:
      return "exponential";
    case LinkDistribution::kUniform:
      return "uniform";
  }
  return "uniform";
}

// False when `name` is not one of constant, uniform, normal, exponential.
inline bool ParseLinkDistribution(const std::string& name, LinkDistribution* out) {
  for (auto d : {LinkDistribution::kUniform, LinkDistribution::kConstant, LinkDistribution::kNormal,
                 LinkDistribution::kExponential}) {
    if (name == LinkDistributionName(d)) {
      *out = d;
      return true;
    }
  }
  return false;
}

struct LinkDelay {
  int64_t delay_us = 0;
  int64_t jitter_us = 0;
  LinkDistribution distribution = LinkDistribution::kUniform;
  double loss = 0;                    // probability in [0, 1) that one transmission is lost
  int64_t bandwidth_bytes_per_s = 0;  // 0: unlimited
  bool none() const {
    return delay_us <= 0 && jitter_us <= 0 && loss <= 0 && bandwidth_bytes_per_s <= 0;
  }
  bool operator==(const LinkDelay& o) const {
    return delay_us == o.delay_us && jitter_us == o.jitter_us && distribution == o.distribution &&
           loss == o.loss && bandwidth_bytes_per_s == o.bandwidth_bytes_per_s;
  }
};

// "DELAY[/JITTER[/DISTRIBUTION[/LOSS[/BANDWIDTH_BYTES_PER_S]]]]", e.g.
// "35ms/5ms/normal/0.01/1000000": the form gtsim-region's --inbound_delay takes after "PEER=".
// False when malformed.
inline bool ParseLinkSpec(const std::string& text, LinkDelay* out) {
  std::vector<std::string> parts = absl::StrSplit(text, '/');
  LinkDelay d;
  absl::Duration delay, jitter;
  if (parts.empty() || parts.size() > 5 || !absl::ParseDuration(parts[0], &delay)) return false;
  d.delay_us = absl::ToInt64Microseconds(delay);
  if (parts.size() > 1) {
    if (!absl::ParseDuration(parts[1], &jitter)) return false;
    d.jitter_us = absl::ToInt64Microseconds(jitter);
  }
  if (parts.size() > 2 && !ParseLinkDistribution(parts[2], &d.distribution)) return false;
  if (parts.size() > 3 && (!absl::SimpleAtod(parts[3], &d.loss) || d.loss < 0 || d.loss >= 1)) {
    return false;
  }
  if (parts.size() > 4 &&
      (!absl::SimpleAtoi(parts[4], &d.bandwidth_bytes_per_s) || d.bandwidth_bytes_per_s < 0)) {
    return false;
  }
  if (d.delay_us < 0 || d.jitter_us < 0) return false;
  *out = d;
  return true;
}
inline std::string FormatLinkSpec(const LinkDelay& d) {
  return absl::StrCat(d.delay_us, "us/", d.jitter_us, "us/", LinkDistributionName(d.distribution),
                      "/", d.loss, "/", d.bandwidth_bytes_per_s);
}

// The retransmission timeout a lost transmission costs on a link with this delay.
inline int64_t RetransmitTimeoutUs(const LinkDelay& d) {
  return std::max<int64_t>(200'000, 2 * std::max<int64_t>(d.delay_us, 0));
}

// Due times for the changes of one stream, in stream order.
// This type is thread-compatible, but not thread-safe.
class DueTimes {
 public:
  explicit DueTimes(uint64_t seed) : rng_(seed) {}
  // `bytes`: the change's approximate size on the wire (only matters with a bandwidth cap).
  int64_t Next(int64_t commit_true_us, const LinkDelay& d, int64_t bytes = 0) {
    int64_t sent = commit_true_us;
    if (d.bandwidth_bytes_per_s > 0) {
      sent = std::max(sent, link_free_us_) + bytes * 1'000'000 / d.bandwidth_bytes_per_s;
      link_free_us_ = sent;
    }
    int64_t latency = std::max<int64_t>(d.delay_us, 0) + Random(d);
    if (d.loss > 0) {
      std::bernoulli_distribution lost(std::min(d.loss, 0.99));
      while (lost(rng_)) latency += RetransmitTimeoutUs(d);
    }
    int64_t due = sent + std::max<int64_t>(latency, 0);
    last_ = std::max(due, last_);
    return last_;
  }

 private:
  int64_t Random(const LinkDelay& d) {
    if (d.jitter_us <= 0) return 0;
    switch (d.distribution) {
      case LinkDistribution::kConstant:
        return 0;
      case LinkDistribution::kNormal:
        return static_cast<int64_t>(
            std::normal_distribution<double>(0, static_cast<double>(d.jitter_us))(rng_));
      case LinkDistribution::kExponential:
        return static_cast<int64_t>(
            std::exponential_distribution<double>(1.0 / static_cast<double>(d.jitter_us))(rng_));
      case LinkDistribution::kUniform:
        break;
    }
    return std::uniform_int_distribution<int64_t>(0, d.jitter_us)(rng_);
  }

  std::mt19937_64 rng_;
  int64_t last_ = 0;
  int64_t link_free_us_ = 0;
};

}  // namespace gtsim
