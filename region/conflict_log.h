// The last few changes from peers that last-writer-wins discarded in this region, with the
// version that beat each one: the "recent conflicts" of the admin Status RPC (gtsim status, the
// gtsim ui conflict feed). A bounded ring (kCapacity), in memory only: it starts empty when the
// region restarts. Counting every loss is ReplicatorCore's job (LostCount); this only explains
// recent ones.
//
// How a loss is found without touching the apply path: before a batch is applied, Watch copies
// the key and stamp of the last change per item that the batch will apply (seq past the
// cursor); after it, when the apply report counts losses, Record reads each watched item back: a
// watched write whose item now holds a greater stamp, or that was a put whose item is now
// deleted, lost. Limits: of several changes to one item in one batch only the last is looked at
// (earlier ones are most often replaced by it, not by a conflict), and a delete that lost to a
// delete is not seen (the kept tombstone's stamp is not read back).
//
// Not thread-safe: the Region calls it under its lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/table_engine.h"
#include "model/change.h"

namespace gtsim {

struct ConflictRecord {
  std::string table;
  Item key;
  Stamp lost;  // the discarded write (lost.region: where it was made)
  // The version kept here; empty (won_by_delete) when a delete won, its stamp not read back.
  Stamp won;
  bool won_by_delete = false;
  int64_t at_us = 0;  // this region's true clock when it discarded the write
};

class ConflictLog {
 public:
  static constexpr size_t kCapacity = 32;

  struct Watched {
    std::string table;
    Item key;
    Stamp stamp;
    bool is_delete = false;
    int64_t seq = 0;
  };
  // The item changes of `batch` past `cursor` (the receiver's cursor for batch.origin), the last
  // one per item.
  static std::vector<Watched> Watch(const ChangeBatch& batch, int64_t cursor);
  // After the batch committed with `lost_to_newer` losses and moved the cursor to `through_seq`:
  // reads each watched item up to it through `read` and keeps at most `lost_to_newer` records
  // of the writes that lost.
  void Record(const std::vector<Watched>& watched, int lost_to_newer, int64_t through_seq,
              int64_t now_us,
              const std::function<absl::StatusOr<GetResult>(const std::string& table,
                                                            const Item& key)>& read);
  // Oldest first.
  std::vector<ConflictRecord> Recent() const { return {ring_.begin(), ring_.end()}; }

 private:
  void Add(ConflictRecord r);
  std::deque<ConflictRecord> ring_;
};

}  // namespace gtsim
