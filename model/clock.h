// Time sources. All time in the core comes from a Clock handed in at construction, so the same
// logic runs on the system clock in a region process and on a virtual clock in the simulator.
#pragma once

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace gtsim {

// The largest clock skew a region accepts (gtsim clock --skew, a scenario's clock step, the
// simulator): one hour either way. Enough for every lesson on skew; small enough that a region
// whose stamps ran ahead (its stamps never go back, so LWW holds within it) is on true time
// again within the hour.
inline constexpr int64_t kMaxClockSkewUs = int64_t{3600} * 1'000'000;
// How far ahead of a receiver's true clock a stamp from a peer may be: the largest skew plus a
// minute for the difference between hosts' clocks. A change (item or table definition) or
// snapshot row stamped further ahead is refused with its batch: one far-future stamp would win
// every later write to its item and, through settings, make other regions stamp in the future.
inline constexpr int64_t kMaxStampAheadUs = kMaxClockSkewUs + 60 * 1'000'000;

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
