// The history of acknowledged writes of a simulated run, and the checkers that judge the final
// state of the replicas against it.
//
// Checker A (convergence): after healing, every replica holds the same live items — same keys,
// same stamps, same contents.
// Checker B (lost-write classifier): for each key, the final state is exactly the acknowledged
// write with the greatest Stamp among the acknowledged writes that were actually stored;
// anything else is an "acknowledged write lost" violation. Every other acknowledged write is
// classified (why LWW discarded it) and explained in plain words.
//
// The classifier recognises writes by the attribute "w" (kWriteIdAttribute) that the workload
// puts in every item it writes ("w123" for write 123), and tells a delete that removed an item
// from one that changed nothing by WriteResult::old_item: record deletes (and puts) made with
// return_old = true.
//
// Plain data and free functions; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/table_engine.h"
#include "model/attribute_value.h"
#include "model/table_spec.h"

namespace gtsim {

inline constexpr char kWriteIdAttribute[] = "w";

enum class WriteKind { kPut, kConditionalPut, kUpdate, kDelete };
// "put", "conditional put", "update", "delete".
const char* WriteKindName(WriteKind kind);

// One write a region acknowledged (its call returned OK).
struct AckedWrite {
  int64_t id = 0;  // unique in the run; the item's "w" attribute is "w<id>"
  WriteKind kind = WriteKind::kPut;
  std::string region;  // where it was written
  Item key;
  std::string key_text;  // for messages, e.g. "k7"
  int64_t true_us = 0;   // the true (virtual) time of the acknowledgement
  int64_t skew_us = 0;   // the region's clock skew at that moment
  WriteResult result;
  // Set when its region's disk was wiped (true time) before any other region held it or a newer
  // version of its key: lost with the disk, not stored anywhere (see LossReason::kLostWithDisk).
  std::optional<int64_t> lost_with_disk_us;

  // True when the write reached storage: not superseded on arrival, and not a delete that found
  // nothing to delete (see TableEngine::CommitLocalWrite).
  bool Stored() const;
};

class History {
 public:
  void Record(AckedWrite write) { writes_.push_back(std::move(write)); }
  void Reserve(size_t writes) { writes_.reserve(writes); }
  const std::vector<AckedWrite>& writes() const { return writes_; }
  // The write at history position `index` was lost with its region's disk at `wipe_us`.
  void MarkLostWithDisk(size_t index, int64_t wipe_us) {
    writes_[index].lost_with_disk_us = wipe_us;
  }
  size_t size() const { return writes_.size(); }

 private:
  std::vector<AckedWrite> writes_;  // in acknowledgement order
};

// One replica's final contents: TableEngine::DumpTable of the checked table.
struct ReplicaState {
  std::string region;
  std::vector<TableEngine::Version> versions;
};

// Why an acknowledged write is not the final version of its key.
enum class LossReason {
  // Replaced or deleted by a later write from a region that had already seen it: no conflict.
  kOverwritten,
  // A delete, after which a later-stamped write wrote the item again in a region whose copy was
  // empty (the delete may or may not have arrived there yet).
  kRewrittenAfterDelete,
  // A concurrent write elsewhere carried a later stamp: LWW kept that one.
  kLostToLaterTimestamp,
  // As above, but the winner was written earlier in true time: its region's clock ran ahead.
  kLostToClockAhead,
  // A concurrent delete carried a later stamp and removed it.
  kRemovedByDelete,
  // Its own region already held a newer-stamped version (the region's clock was behind it):
  // acknowledged, then discarded at once.
  kSupersededOnArrival,
  // A delete that found no item in its region's copy: acknowledged, changed nothing.
  kNoOpDelete,
  // Its region's disk was wiped before any other region had received it (or a newer version of
  // its key): acknowledged, then lost with the disk. The region rejoined empty (--rejoin).
  kLostWithDisk,
};
const char* LossReasonName(LossReason reason);

struct ClassifiedWrite {
  int64_t write_id = 0;
  LossReason reason = LossReason::kOverwritten;
  std::string explanation;  // plain words, e.g. "put k7 = w123 in us-west-2 ... lost to ..."
};

struct CheckResult {
  bool ok = true;
  std::vector<std::string> violations;
  int64_t acknowledged = 0;
  int64_t final_versions = 0;                 // keys whose final state is an acknowledged write
  std::map<LossReason, int64_t> loss_counts;  // non-final acknowledged writes, by reason
  std::vector<ClassifiedWrite> classified;    // in history order
  std::string summary;                        // one line

  // Appends `other`'s violations, counts and classifications (ok = both ok).
  void Merge(const CheckResult& other);
  void Merge(CheckResult&& other);  // the same, moving `other`'s classifications
};

// Checker A. `key_names` maps encoded hash keys to readable names for messages (optional).
CheckResult CheckConvergence(const std::vector<ReplicaState>& replicas,
                             const std::map<std::string, std::string>& key_names = {});

// Checker B, against every replica. Keys are encoded with `spec`.
CheckResult ClassifyWrites(const TableSpec& spec, const History& history,
                           const std::vector<ReplicaState>& replicas);

// Both checkers, merged, with a summary line.
CheckResult CheckAll(const TableSpec& spec, const History& history,
                     const std::vector<ReplicaState>& replicas);

}  // namespace gtsim
