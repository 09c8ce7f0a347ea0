// Time sources. All time in the core comes from a Clock handed in at construction, so the same
// logic runs on the system clock in a region process and on a virtual clock in the simulator.
#pragma once

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gtsim {

// The true time, in microseconds since the Unix epoch. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() override { return absl::ToUnixMicros(absl::Now()); }
};

// A clock the owner moves by hand. Thread-compatible: the simulator drives it from one thread.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(int64_t start_us = 1'700'000'000'000'000) : now_us_(start_us) {}
  int64_t NowMicros() override { return now_us_; }
  void Set(int64_t us) { now_us_ = us; }
  void Advance(int64_t us) { now_us_ += us; }

 private:
  int64_t now_us_;
};

}  // namespace gtsim
