// Item-level last-writer-wins, the conflict rule of DynamoDB global tables (2019.11.21).
//
// Every write carries a stamp: the microsecond timestamp of the region that accepted it, read
// from that region's (possibly skewed) clock, and that region's name. A version replaces another
// only if its stamp is greater; equal timestamps are broken by region name (a simulator choice:
// AWS does not document its tie-break). Because the rule is a total order on stamps, applying
// the same set of writes in any order, any number of times, leaves the same winner everywhere.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>

namespace gtsim {

struct Stamp {
  int64_t ts_us = 0;
  std::string region;

  bool operator<(const Stamp& o) const {
    return std::tie(ts_us, region) < std::tie(o.ts_us, o.region);
  }
  bool operator==(const Stamp& o) const { return ts_us == o.ts_us && region == o.region; }
  bool operator!=(const Stamp& o) const { return !(*this == o); }
  bool empty() const { return region.empty(); }
};

// True when a write stamped `incoming` replaces the version stamped `stored`.
inline bool Supersedes(const Stamp& incoming, const Stamp& stored) { return stored < incoming; }

}  // namespace gtsim
