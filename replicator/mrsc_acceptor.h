// A CASPaxos acceptor for one participant of MRSC tables (docs/MRSC.md), and the store it
// persists through.
//
// Per item it holds the promised ballot, the accepted ballot and value, and - on a replica, not
// on a witness - the readable copy: the last value it learned was chosen (Commit, catch-up), the
// copy eventually consistent reads serve. The rules:
// - Prepare(b): promised if b >= promised and b >= accepted (b equal to the promise is the same
//   proposer's retransmission: ballots are never reused, MrscBallotSource), else rejected naming
//   the higher ballot. The promise reports the accepted ballot and value.
// - Accept(b, v[, next]): accepted if b >= promised; then accepted = (b, v) and, when `next` is
//   above b, promised = next (the piggybacked prepare). Else rejected naming the promise -
//   unless it is a retransmission of the Accept it took last (same ballot and value), which is
//   answered as the first time (its first answer may have been lost).
// - Commit(b, v): the readable copy takes v when b is above the copy's ballot.
// Every change is saved in the store before the reply is returned, so a reply means durable:
// an acknowledged write is on disk in two regions. A store error is returned and no reply is
// sent (the proposer sees silence, as from a crash).
//
// Thread-safety: Acceptor is thread-compatible, but not thread-safe (its owner, MrscNode, is
// driven by one thread); AcceptorStore implementations say their own.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replicator/mrsc_messages.h"

namespace gtsim {

// One item's durable protocol state.
struct AcceptorItem {
  Ballot promised;
  Ballot accepted;
  MrscValue accepted_value;
  Ballot committed;
  MrscValue committed_value;
};

// Where an acceptor keeps its state. Save must be durable when it returns (a region's SQLite
// transaction; the simulator's in-memory store survives its participant's crash). Also holds
// the participant's ballot floor: every ballot counter at or below it may have been used.
class AcceptorStore {
 public:
  virtual ~AcceptorStore() = default;
  // The item's state; a default AcceptorItem when the item was never touched.
  virtual absl::StatusOr<AcceptorItem> Load(const std::string& key) = 0;
  virtual absl::Status Save(const std::string& key, const AcceptorItem& item) = 0;
  // Up to `limit` items after `after_key` (all when empty) in key order.
  virtual absl::StatusOr<std::vector<std::pair<std::string, AcceptorItem>>> Scan(
      const std::string& after_key, int limit) = 0;
  virtual absl::StatusOr<int64_t> LoadBallotFloor() = 0;
  virtual absl::Status SaveBallotFloor(int64_t floor) = 0;
};

// AcceptorStore in memory, for tests and the simulator: the object outlives the participant
// that uses it, as a disk outlives a process. `fail_saves` makes every Save fail (a full disk).
// Thread-compatible.
class MemoryAcceptorStore final : public AcceptorStore {
 public:
  absl::StatusOr<AcceptorItem> Load(const std::string& key) override;
  absl::Status Save(const std::string& key, const AcceptorItem& item) override;
  absl::StatusOr<std::vector<std::pair<std::string, AcceptorItem>>> Scan(
      const std::string& after_key, int limit) override;
  absl::StatusOr<int64_t> LoadBallotFloor() override { return floor_; }
  absl::Status SaveBallotFloor(int64_t floor) override;

  bool fail_saves = false;
  const std::map<std::string, AcceptorItem>& items() const { return items_; }

 private:
  std::map<std::string, AcceptorItem> items_;
  int64_t floor_ = 0;
};

class Acceptor {
 public:
  // `store` must outlive the acceptor. `replica`: false for a witness (Commit is ignored and
  // the readable copy stays empty).
  Acceptor(AcceptorStore* store, bool replica) : store_(store), replica_(replica) {}

  absl::StatusOr<PromiseMsg> OnPrepare(const PrepareMsg& m);
  absl::StatusOr<AcceptedMsg> OnAccept(const AcceptMsg& m);
  // Applies a chosen value to the readable copy; true when it was newer.
  absl::StatusOr<bool> OnCommit(const CommitMsg& m);
  // One page of this participant's items for a catching-up peer.
  absl::StatusOr<SyncPage> OnSync(const SyncRequest& m);

  // The item's state, for the owning participant (its readable copy, its 1-RTT check).
  absl::StatusOr<AcceptorItem> Peek(const std::string& key) { return store_->Load(key); }

 private:
  AcceptorStore* store_;
  bool replica_;
};

}  // namespace gtsim
