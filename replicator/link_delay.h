// A simulated one-way network delay on the replication link from one origin region.
//
// Each change becomes due at its commit time at the origin plus `delay_us` plus a uniform
// jitter in [0, jitter_us], but never before the change ahead of it: a stream delivers in
// order, as TCP does. The receiving link applies a change only once it is due, so the measured
// ReplicationLatency is the configured delay plus gtsim's own overhead.
#pragma once

#include <cstdint>
#include <random>

namespace gtsim {

struct LinkDelay {
  int64_t delay_us = 0;
  int64_t jitter_us = 0;
  bool none() const { return delay_us <= 0 && jitter_us <= 0; }
};

// Due times for the changes of one stream, in stream order.
// This type is thread-compatible, but not thread-safe.
class DueTimes {
 public:
  explicit DueTimes(uint64_t seed) : rng_(seed) {}
  int64_t Next(int64_t commit_true_us, const LinkDelay& d) {
    int64_t jitter = 0;
    if (d.jitter_us > 0) {
      jitter = std::uniform_int_distribution<int64_t>(0, d.jitter_us)(rng_);
    }
    int64_t due = commit_true_us + (d.delay_us > 0 ? d.delay_us : 0) + jitter;
    last_ = due > last_ ? due : last_;
    return last_;
  }

 private:
  std::mt19937_64 rng_;
  int64_t last_ = 0;
};

}  // namespace gtsim
