// One participant of an MRSC table (docs/MRSC.md): its acceptor, the rounds it proposes for the
// clients of its region, its readable copy and its catch-up. Transport-free: the owner (a
// region process over gRPC, or sim/harness/mrsc_sim.cc) hands in the outbox and the time, feeds
// it every message that arrives, and calls OnTimer at next_timer_us().
//
// - Submit runs a client's write, conditional write, delete or strong read as one CASPaxos round
//   on the item (replicator/mrsc_proposer.h), one round per item at a time: later operations on
//   the same item wait in order, each with its own deadline from its submission. The result
//   comes back from TakeCompletions(). After Committed/ConditionFailed the chosen value goes to
//   this replica's readable copy at once and to the other replicas in a Commit (asynchronous).
// - Reads: ReadLocal is the eventually consistent read (the local readable copy, no round trip);
//   a strong read is Submit(read = true): an identity round, one round trip on the fast path.
// - Ballots come from a per-participant counter whose floor is persisted in blocks
//   (kMrscBallotBlock): after a crash it restarts above every ballot it may have used, so a
//   ballot is never reused with another value.
// - Catch-up: a replica starts (and restarts after a crash) catching up; the owner may also call
//   StartCatchUp when it regains contact after a partition. Meanwhile writes and strong reads
//   are refused with kCatchingUp (eventually consistent reads are served). It pages through one
//   other participant's items (SyncRequest/SyncPage, to both, the first to finish counts), takes
//   every committed value newer than its own, and then runs an identity round on every item
//   whose latest accepted ballot (the peer's or its own) is above what it knows committed - a
//   write that may be chosen but whose Commit it missed. Any write acknowledged before the
//   catch-up began was accepted by two of three participants, so by the peer or by this one:
//   once these rounds are done its readable copy holds it (or something newer).
// - A witness (replica = false) only answers as an acceptor: Submit answers kNotReplica,
//   ReadLocal FailedPrecondition, Commit is ignored.
//
// Thread-safety: thread-compatible, but not thread-safe: one thread drives a node (the owner
// serialises messages, timers and client calls).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "replicator/mrsc_acceptor.h"
#include "replicator/mrsc_messages.h"
#include "replicator/mrsc_proposer.h"

namespace gtsim {

// Ballot counters reserved per durable save of the floor.
inline constexpr int64_t kMrscBallotBlock = 1024;
inline constexpr int64_t kMrscDefaultRoundTimeoutUs = 2'000'000;
// How often a catching-up participant asks again a peer that has not answered.
inline constexpr int64_t kMrscSyncResendUs = 200'000;
inline constexpr int kMrscSyncPage = 64;
// How long a catch-up repair round that failed (conflict, no quorum) waits before it runs again.
inline constexpr int64_t kMrscRepairRetryUs = 200'000;

struct MrscNodeOptions {
  MrscNodeId self = 0;
  // The table's participants in order, and which of them are replicas (the others: witness).
  std::vector<MrscNodeId> participants = {0, 1, 2};
  std::vector<bool> replica = {true, true, true};
  int64_t round_timeout_us = kMrscDefaultRoundTimeoutUs;
  bool fast_path = true;  // the 1-RTT optimisation
  // Planted bugs for the checker's self-test (tests/mrsc_sim_test.cc); never set otherwise.
  bool bug_ack_after_one_accept = false;         // (a): acknowledged when durable in one region
  bool bug_strong_read_from_local_copy = false;  // (b): a strong read without a round
};

struct MrscCompletion {
  uint64_t op_id = 0;
  MrscRoundResult result;
};

class MrscNode {
 public:
  enum class State { kCatchingUp, kServing };

  // `store` and `out` must outlive the node. Loads the ballot floor; a replica starts catching
  // up at once (Start sends the first requests).
  static absl::StatusOr<std::unique_ptr<MrscNode>> Open(MrscNodeOptions options,
                                                        AcceptorStore* store, MrscOutbox* out);
  void Start(int64_t now_us);

  // A client operation on `key`. `change` sees the latest chosen value; `read`: a strong read
  // (change must be the identity). Refused at once (in TakeCompletions) while catching up or on
  // a witness.
  void Submit(uint64_t op_id, const std::string& key, MrscChangeFn change, bool read,
              int64_t now_us);
  // The eventually consistent read.
  absl::StatusOr<MrscValue> ReadLocal(const std::string& key);

  // A message from participant `from`. A store error is returned (no reply was sent).
  absl::Status OnMessage(MrscNodeId from, const MrscMessage& message, int64_t now_us);
  void OnTimer(int64_t now_us);
  // When OnTimer must run next (INT64_MAX: nothing pending).
  int64_t next_timer_us() const;

  void StartCatchUp(int64_t now_us);
  State state() const { return state_; }
  bool is_replica() const { return options_.replica[index_of(options_.self)]; }
  std::vector<MrscCompletion> TakeCompletions() { return std::move(completions_); }
  // Rounds in flight or waiting, repairs included.
  size_t pending() const;
  // Rounds that took the 1-RTT fast path, and catch-up repair rounds run (statistics).
  int64_t fast_rounds() const { return fast_rounds_; }
  int64_t repair_rounds() const { return repair_rounds_; }

 private:
  // Sends to itself are handled in place (after the current message), never by the transport.
  class LoopOutbox final : public MrscOutbox {
   public:
    LoopOutbox(MrscNode* node, MrscOutbox* out) : node_(node), out_(out) {}
    void Send(MrscNodeId to, MrscMessage message) override;

   private:
    MrscNode* node_;
    MrscOutbox* out_;
  };
  struct Pending {
    uint64_t op_id = 0;
    MrscChangeFn change;
    bool read = false;
    bool repair = false;
    int64_t deadline_us = 0;
    int64_t not_before_us = 0;  // a repair that failed waits this long before it runs again
  };
  struct Active {
    Pending op;
    std::unique_ptr<MrscRound> round;
  };

  MrscNode(MrscNodeOptions options, AcceptorStore* store, MrscOutbox* out);
  size_t index_of(MrscNodeId id) const;
  absl::StatusOr<Ballot> NextBallot(const Ballot& above);
  absl::Status Handle(MrscNodeId from, const MrscMessage& message, int64_t now_us);
  absl::Status DrainLoop(int64_t now_us);
  void Enqueue(const std::string& key, Pending op, int64_t now_us);
  void StartNext(const std::string& key, int64_t now_us);
  void Harvest(const std::string& key, int64_t now_us);
  void Complete(const Pending& op, MrscRoundResult result);
  absl::Status OnSyncPage(MrscNodeId from, const SyncPage& page, int64_t now_us);
  void SendSync(MrscNodeId peer);
  void FinishSync(int64_t now_us);
  void MaybeServing();

  MrscNodeOptions options_;
  AcceptorStore* store_;
  Acceptor acceptor_;
  LoopOutbox out_;
  std::deque<std::pair<MrscNodeId, MrscMessage>> loop_;
  bool draining_ = false;

  int64_t ballot_counter_ = 0;
  int64_t ballot_reserved_ = 0;

  std::map<std::string, std::deque<Pending>> queued_;
  std::map<std::string, Active> active_;
  std::map<std::string, MrscFastPath> fast_;
  std::vector<MrscCompletion> completions_;

  State state_ = State::kServing;
  uint64_t sync_id_ = 0;
  bool sync_done_ = false;  // a peer's items are all read; repairs may remain
  std::map<MrscNodeId, std::string> sync_cursor_;  // per peer asked: the last key received
  std::map<MrscNodeId, int64_t> sync_sent_us_;
  std::set<std::string> in_doubt_;  // items to repair, from the peer being read
  std::map<MrscNodeId, std::set<std::string>> peer_doubt_;
  int repairs_left_ = 0;
  int64_t now_us_ = 0;
  int64_t fast_rounds_ = 0;
  int64_t repair_rounds_ = 0;
};

const char* MrscStateName(MrscNode::State s);

}  // namespace gtsim
