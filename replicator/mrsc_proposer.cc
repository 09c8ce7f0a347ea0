#include "replicator/mrsc_proposer.h"

#include <algorithm>

namespace gtsim {

const char* MrscOutcomeName(MrscOutcome o) {
  switch (o) {
    case MrscOutcome::kPending:
      return "pending";
    case MrscOutcome::kCommitted:
      return "committed";
    case MrscOutcome::kConditionFailed:
      return "condition-failed";
    case MrscOutcome::kConflict:
      return "conflict";
    case MrscOutcome::kNoQuorum:
      return "no-quorum";
    case MrscOutcome::kCatchingUp:
      return "catching-up";
    case MrscOutcome::kNotReplica:
      return "not-replica";
  }
  return "?";
}

MrscRound::MrscRound(std::string key, std::vector<MrscNodeId> participants, Ballot ballot,
                     Ballot next_ballot, MrscChangeFn change, int64_t deadline_us,
                     std::optional<MrscFastPath> fast,
                     std::function<Ballot(const Ballot&)> fresh_ballot, MrscRoundOptions options)
    : key_(std::move(key)),
      participants_(std::move(participants)),
      ballot_(ballot),
      next_ballot_(next_ballot),
      change_(std::move(change)),
      deadline_us_(deadline_us),
      fast_(std::move(fast)),
      fresh_ballot_(std::move(fresh_ballot)),
      options_(options),
      next_was_zero_(next_ballot.is_zero()) {}

void MrscRound::Start(int64_t now_us, MrscOutbox* out) {
  next_resend_us_ = now_us + kMrscResendUs;
  if (now_us >= deadline_us_) return Fail(MrscOutcome::kNoQuorum);
  if (fast_) {
    used_fast_ = true;
    ballot_ = fast_->ballot;
    best_accepted_ = fast_->ballot;
    best_value_ = fast_->value;
    SendAccept(out);
    return;
  }
  SendPrepare(out);
}

void MrscRound::SendPrepare(MrscOutbox* out) {
  ++prepare_attempts_;
  phase_ = Phase::kPrepare;
  answered_.clear();
  promised_.clear();
  refused_.clear();
  best_accepted_ = Ballot{};
  best_value_ = MrscValue::Absent();
  for (MrscNodeId p : participants_) out->Send(p, PrepareMsg{key_, ballot_});
}

void MrscRound::SendAccept(MrscOutbox* out) {
  phase_ = Phase::kAccept;
  answered_.clear();
  accepted_.clear();
  refused_.clear();
  never_took_.clear();
  next_promised_.clear();
  MrscChange c = change_(best_value_);
  condition_failed_ = !c.apply;
  proposal_changes_ = c.apply;
  proposal_ = c.apply ? std::move(c.value) : best_value_;
  sent_accept_.clear();
  for (MrscNodeId p : participants_) {
    sent_accept_.insert(p);
    out->Send(p, AcceptMsg{key_, ballot_, proposal_, next_ballot_});
  }
}

bool MrscRound::NothingTaken() const {
  for (MrscNodeId p : sent_accept_) {
    if (!never_took_.count(p)) return false;
  }
  return true;
}

void MrscRound::Resend(MrscOutbox* out) {
  for (MrscNodeId p : participants_) {
    if (answered_.count(p)) continue;
    if (phase_ == Phase::kPrepare) {
      out->Send(p, PrepareMsg{key_, ballot_});
    } else if (sent_accept_.count(p)) {
      out->Send(p, AcceptMsg{key_, ballot_, proposal_, next_ballot_});
    }
  }
}

void MrscRound::Fail(MrscOutcome outcome) {
  result_.outcome = outcome;
  // A changing Accept that some participant may have taken can still be finished by a later
  // round: only a proof from every participant it was sent to that it never took it rules
  // that out (AcceptedMsg::accepted).
  result_.may_have_applied = phase_ == Phase::kAccept && proposal_changes_ && !NothingTaken();
}

bool MrscRound::Refresh() {
  ballot_ = fresh_ballot_(highest_refusal_);
  if (!ballot_.is_zero() && !next_ballot_.is_zero()) next_ballot_ = fresh_ballot_(ballot_);
  if (ballot_.is_zero() || (next_ballot_.is_zero() != next_was_zero_)) {
    Fail(MrscOutcome::kNoQuorum);  // no ballot could be reserved: the store failed
    return false;
  }
  return true;
}

void MrscRound::OnPromise(MrscNodeId from, const PromiseMsg& m, int64_t now_us, MrscOutbox* out) {
  if (done() || phase_ != Phase::kPrepare || m.ballot != ballot_ || m.key != key_) return;
  if (!answered_.insert(from).second) return;
  if (!m.ok) {
    refused_.insert(from);
    highest_refusal_ = std::max(highest_refusal_, m.promised);
    if (prepare_attempts_ < kMrscPrepareAttempts) {
      // Nothing of this round was accepted anywhere yet: try again above the refusal, at once
      // (a proposer that had not heard of the item's latest ballot, e.g. the promise another
      // region's finished round piggybacked; waiting for a quorum of refusals could mean
      // waiting for a participant that is down).
      if (!Refresh()) return;
      next_resend_us_ = now_us + kMrscResendUs;
      SendPrepare(out);
      return;
    }
    if (static_cast<int>(participants_.size() - refused_.size()) < quorum()) {
      Fail(MrscOutcome::kConflict);
    }
    return;
  }
  promised_.insert(from);
  if (m.accepted > best_accepted_) {
    best_accepted_ = m.accepted;
    best_value_ = m.value;
  }
  if (static_cast<int>(promised_.size()) >= quorum()) {
    next_resend_us_ = now_us + kMrscResendUs;
    SendAccept(out);
  }
}

void MrscRound::OnAccepted(MrscNodeId from, const AcceptedMsg& m, int64_t now_us, MrscOutbox* out) {
  if (done() || phase_ != Phase::kAccept || m.ballot != ballot_ || m.key != key_) return;
  if (!answered_.insert(from).second) return;
  if (!m.ok) {
    refused_.insert(from);
    if (m.accepted < ballot_) never_took_.insert(from);
    highest_refusal_ = std::max(highest_refusal_, m.promised);
    bool quorum_lost =
        static_cast<int>(participants_.size() - refused_.size()) < options_.accept_quorum;
    if (used_fast_ && !fell_back_ && quorum_lost && (NothingTaken() || !proposal_changes_)) {
      // Nothing of this round can exist anywhere (every participant it went to refused the fast
      // Accept, or it changed nothing): run it in full, above the refusals.
      fell_back_ = true;
      if (!Refresh()) return;
      next_resend_us_ = now_us + kMrscResendUs;
      SendPrepare(out);
      return;
    }
    // A fast round that nobody took yet waits for every answer: if all prove they never took it,
    // it falls back instead of failing.
    bool may_fall_back =
        used_fast_ && !fell_back_ && accepted_.empty() && answered_.size() < sent_accept_.size();
    if (quorum_lost && !may_fall_back) Fail(MrscOutcome::kConflict);
    return;
  }
  accepted_.insert(from);
  if (m.next_ok) next_promised_.insert(from);
  if (static_cast<int>(accepted_.size()) >= options_.accept_quorum) {
    result_.outcome = condition_failed_ ? MrscOutcome::kConditionFailed : MrscOutcome::kCommitted;
    result_.value = proposal_;
    result_.ballot = ballot_;
    result_.may_have_applied = proposal_changes_;
    if (!next_ballot_.is_zero() && static_cast<int>(next_promised_.size()) >= quorum()) {
      result_.next = next_ballot_;
    }
  }
}

void MrscRound::OnTimer(int64_t now_us, MrscOutbox* out) {
  if (done()) return;
  if (now_us >= deadline_us_) return Fail(MrscOutcome::kNoQuorum);
  if (now_us >= next_resend_us_) {
    Resend(out);
    next_resend_us_ = now_us + kMrscResendUs;
  }
}

int64_t MrscRound::next_timer_us() const { return std::min(next_resend_us_, deadline_us_); }

}  // namespace gtsim
