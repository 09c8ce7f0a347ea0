// One CASPaxos round on one item, proposed by one participant of an MRSC table (docs/MRSC.md):
// the write, conditional write, delete or strongly consistent read a client sent to that region.
//
//   Start        Prepare(b) to every participant            (skipped on the 1-RTT fast path)
//   OnPromise    a quorum of promises: take the value with the highest accepted ballot, apply the
//                change to it, send Accept(b, new value, next prepare) to every participant
//   OnAccepted   a quorum of accepts: the round is decided (Committed or ConditionFailed)
//   OnTimer      resends to participants that have not answered, every kMrscResendUs; at the
//                deadline the round ends with NoQuorum
//
// A refused Prepare is tried again at once with a ballot above the refusal (nothing was accepted
// yet, so this cannot apply anything twice), up to kMrscPrepareAttempts Prepares: it serves a
// proposer that had not heard of the item's latest ballot. When a quorum refuses the last one,
// the round ends with Conflict: another region keeps writing the item.
//
// Outcomes: Committed (the change is chosen; durable at a quorum), ConditionFailed (the change
// function refused: the round committed "no change", so the refusal is as linearizable as a
// write), Conflict (another proposer's higher ballot made a quorum impossible: the client's
// ReplicatedWriteConflictException; retryable), NoQuorum (the deadline passed first: the region
// maps it to an error, never blocks). For Conflict and NoQuorum, `may_have_applied` says whether
// the new value may still take effect: true once an Accept carrying a real change was sent and
// not every participant it went to proved it never took it (a later round can find it accepted
// at one participant and finish it). A refusal is proof only when the acceptor's accepted ballot
// is below the round's: a retransmitted or duplicated Accept can be refused after its first copy
// was taken. Identity rounds (reads, refused conditions) never apply anything.
//
// The fast path (CASPaxos 2.2.1): a round started with a FastPath (the ballot the same proposer's
// last round on the key had promised by a quorum, and the value it chose) sends Accept at once:
// one round trip. When every participant it went to proves it never took it - another proposer
// went on since, and nothing of this round was accepted anywhere - or a quorum refuses an Accept
// that changes nothing (a read, a refused condition), the round falls back once to a full round
// with a higher ballot; a quorum refusing a changing fast Accept that one participant took ends it
// with Conflict.
//
// The round only produces messages (to the outbox) and consumes replies; time is handed in.
// Thread-safety: thread-compatible, but not thread-safe (owned by one MrscNode).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "replicator/mrsc_messages.h"

namespace gtsim {

inline constexpr int64_t kMrscResendUs = 100'000;
// Prepares one round sends (each above the refusals of the last) before it is a Conflict.
inline constexpr int kMrscPrepareAttempts = 3;

// What a round does to the item: from the latest chosen value, either a new value, or "no
// change" (apply = false: the condition failed, or a read).
struct MrscChange {
  bool apply = false;
  MrscValue value;
};
using MrscChangeFn = std::function<MrscChange(const MrscValue& current)>;

enum class MrscOutcome {
  kPending,
  kCommitted,
  kConditionFailed,
  kConflict,
  kNoQuorum,
  kCatchingUp,  // refused by MrscNode before any round: the participant is catching up
  kNotReplica,  // refused by MrscNode: a witness serves no reads or writes
};
const char* MrscOutcomeName(MrscOutcome o);

struct MrscRoundResult {
  MrscOutcome outcome = MrscOutcome::kPending;
  MrscValue value;  // decided: the item's value after the round (what a read returns)
  Ballot ballot;    // decided: the ballot the value was chosen at
  bool may_have_applied = false;
  // Committed/ConditionFailed with a quorum of promises for `next`: the proposer's next round on
  // the key may take the fast path with it (and `value`).
  std::optional<Ballot> next;
};

struct MrscFastPath {
  Ballot ballot;  // promised by a quorum
  MrscValue value;
};

// The knobs a planted-bug test turns (tests/mrsc_sim_test.cc); production uses the defaults.
struct MrscRoundOptions {
  // Accepts needed before the round is decided; a quorum is 2 of 3. 1 is planted bug (a):
  // acknowledged once durable in one region only.
  int accept_quorum = 2;
};

class MrscRound {
 public:
  // `participants`: every participant of the table, the proposing one included. `ballot` must be
  // fresh (MrscBallotSource); `next_ballot` is piggybacked on the Accept (zero: none). With `fast`,
  // `ballot` is ignored until a fallback. `fresh_ballot` supplies a fallback's ballots above the
  // given one - the highest refusal seen (a zero ballot: none could be reserved, and the round
  // ends with NoQuorum).
  MrscRound(std::string key, std::vector<MrscNodeId> participants, Ballot ballot,
            Ballot next_ballot, MrscChangeFn change, int64_t deadline_us,
            std::optional<MrscFastPath> fast, std::function<Ballot(const Ballot&)> fresh_ballot,
            MrscRoundOptions options = {});

  void Start(int64_t now_us, MrscOutbox* out);
  void OnPromise(MrscNodeId from, const PromiseMsg& m, int64_t now_us, MrscOutbox* out);
  void OnAccepted(MrscNodeId from, const AcceptedMsg& m, int64_t now_us, MrscOutbox* out);
  void OnTimer(int64_t now_us, MrscOutbox* out);

  bool done() const { return result_.outcome != MrscOutcome::kPending; }
  const MrscRoundResult& result() const { return result_; }
  // When OnTimer should next run (a resend or the deadline).
  int64_t next_timer_us() const;
  const std::string& key() const { return key_; }
  // The ballot of the current phase (replies for other ballots are ignored).
  const Ballot& ballot() const { return ballot_; }
  bool used_fast_path() const { return used_fast_; }

 private:
  enum class Phase { kPrepare, kAccept };
  void SendPrepare(MrscOutbox* out);
  void SendAccept(MrscOutbox* out);
  void Resend(MrscOutbox* out);
  void Fail(MrscOutcome outcome);
  // New ballots above the highest refusal; false (the round failed) when none could be had.
  bool Refresh();
  int quorum() const { return static_cast<int>(participants_.size()) / 2 + 1; }

  // Accept phase: every participant sent the Accept proved it never took it.
  bool NothingTaken() const;

  std::string key_;
  std::vector<MrscNodeId> participants_;
  Ballot ballot_;
  Ballot next_ballot_;
  MrscChangeFn change_;
  int64_t deadline_us_;
  std::optional<MrscFastPath> fast_;
  std::function<Ballot(const Ballot&)> fresh_ballot_;
  MrscRoundOptions options_;

  Phase phase_ = Phase::kPrepare;
  bool used_fast_ = false;
  bool next_was_zero_ = true;
  bool fell_back_ = false;
  int prepare_attempts_ = 0;
  std::set<MrscNodeId> answered_;     // in the current phase
  std::set<MrscNodeId> promised_;     // prepare phase: ok
  std::set<MrscNodeId> accepted_;     // accept phase: ok
  std::set<MrscNodeId> refused_;      // current phase: refused
  std::set<MrscNodeId> sent_accept_;  // accept phase: who was sent the Accept
  // Accept phase: refusals that prove the acceptor never took it (AcceptedMsg::accepted). A
  // refusal alone does not: a duplicate may be refused after the first copy was taken.
  std::set<MrscNodeId> never_took_;
  std::set<MrscNodeId> next_promised_;
  Ballot highest_refusal_;
  Ballot best_accepted_;  // prepare phase: the highest accepted ballot among the promises
  MrscValue best_value_;
  MrscValue proposal_;  // accept phase: the value sent
  bool proposal_changes_ = false;
  bool condition_failed_ = false;
  int64_t next_resend_us_ = 0;
  MrscRoundResult result_;
};

}  // namespace gtsim
