// Bugs planted on purpose, one at a time, to show that the simulator's sweeps catch them
// (gtsim-sim --plant-bug NAME; tests/sim_property_test.cc). Each is a real bug gtsim had or
// could easily have, kept behind a check at the place it lived. Nothing but gtsim-sim's flag
// and the tests plants one; a check costs one relaxed atomic load.
//
// This is process-wide state: thread-safe, but every Region of the process shares it.
#pragma once

#include <atomic>
#include <string>

namespace gtsim {

enum class PlantedBug {
  kNone = 0,
  // A bootstrap's rewind keeps the origin's stamp at the old cursor: the origin then believes
  // its log rolled back (a false alarm that makes every peer re-read its whole log).
  kRewindKeepsStamp,
  // A cancel of a replica add that arrives before the add is dropped: the add then starts a
  // bootstrap no source serves, and the table stays UPDATING.
  kCancelBeforeAddDropped,
  // A snapshot's cut names one position past the source's log head: the new replica skips the
  // source's next write.
  kSnapshotCutAheadByOne,
  // Deleting an item leaves its index entries behind (memory storage).
  kIndexEntryLeftByDelete,
  // LWW takes a replicated change whose stamp equals the stored one as newer: a change read
  // again (after a bootstrap rewound the cursors) is applied again, and logged twice.
  kReapplyEqualStamp,
  // A region rejoining empty (--rejoin) asks no peer for what it lost, so it re-reads only the
  // peers' own writes: the tables it created and its own shipped writes never come back (the
  // defect fixed in Region::BeginRejoin).
  kRejoinWithoutReclaim,
};

inline std::atomic<int> planted_bug{0};

inline void PlantBug(PlantedBug bug) {
  planted_bug.store(static_cast<int>(bug), std::memory_order_relaxed);
}
inline bool Planted(PlantedBug bug) {
  return planted_bug.load(std::memory_order_relaxed) == static_cast<int>(bug);
}

inline const char* PlantedBugName(PlantedBug bug) {
  switch (bug) {
    case PlantedBug::kRewindKeepsStamp:
      return "rewind-keeps-stamp";
    case PlantedBug::kCancelBeforeAddDropped:
      return "cancel-before-add-dropped";
    case PlantedBug::kSnapshotCutAheadByOne:
      return "snapshot-cut-ahead-by-one";
    case PlantedBug::kIndexEntryLeftByDelete:
      return "index-entry-left-by-delete";
    case PlantedBug::kReapplyEqualStamp:
      return "reapply-equal-stamp";
    case PlantedBug::kRejoinWithoutReclaim:
      return "rejoin-without-reclaim";
    case PlantedBug::kNone:
      break;
  }
  return "none";
}

inline constexpr PlantedBug kPlantableBugs[] = {
    PlantedBug::kRewindKeepsStamp,      PlantedBug::kCancelBeforeAddDropped,
    PlantedBug::kSnapshotCutAheadByOne, PlantedBug::kIndexEntryLeftByDelete,
    PlantedBug::kReapplyEqualStamp,     PlantedBug::kRejoinWithoutReclaim};

// False when `name` names no plantable bug.
inline bool ParsePlantedBug(const std::string& name, PlantedBug* out) {
  for (PlantedBug b : kPlantableBugs) {
    if (name == PlantedBugName(b)) {
      *out = b;
      return true;
    }
  }
  return false;
}

}  // namespace gtsim
