// The scenario checkers' verdicts: each expectation judged against what a run measured, with a
// plain-words explanation. Pure functions of their inputs; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sim/scenario/result.h"
#include "sim/scenario/scenario.h"

namespace gtsim::scenario {

// One time a region held the lock: from its acknowledged conditional put to its release.
struct LockInterval {
  std::string region;
  double start = 0, end = 0;  // seconds since the run started (true time)
};

// How many pairs of intervals from different regions overlap in time, i.e. how often two
// regions held the "exclusive" lock at once. Explains the first few in `explanations`.
int64_t CountLockOverlaps(const std::vector<LockInterval>& intervals,
                          std::vector<std::string>* explanations);

// LossReasonName values that mean a conflict (LWW chose between concurrent writes), as opposed
// to an ordinary overwrite or a delete that found nothing.
bool IsConflictReason(const std::string& reason);

// Rewrites the lost-write classifier's absolute stamps ("ts 1796056190787537", microseconds
// since the epoch) as seconds since `start_us` ("ts +4.787537s"): exact, and readable.
std::string RelativeStamps(const std::string& text, int64_t start_us);

// Judges `e` against `r` (its expectations list is not read).
ExpectationResult Evaluate(const Expectation& e, const RunResult& r);

}  // namespace gtsim::scenario
