#include "replicator/mrsc_node.h"

#include <algorithm>
#include <climits>

#include "model/status_macros.h"

namespace gtsim {
namespace {

MrscRoundResult Outcome(MrscOutcome o) {
  MrscRoundResult r;
  r.outcome = o;
  return r;
}

}  // namespace

const char* MrscStateName(MrscNode::State s) {
  return s == MrscNode::State::kServing ? "serving" : "catching-up";
}

void MrscNode::LoopOutbox::Send(MrscNodeId to, MrscMessage message) {
  if (to == node_->options_.self) {
    node_->loop_.emplace_back(to, std::move(message));
  } else {
    out_->Send(to, std::move(message));
  }
}

MrscNode::MrscNode(MrscNodeOptions options, AcceptorStore* store, MrscOutbox* out)
    : options_(std::move(options)),
      store_(store),
      acceptor_(store, options_.replica[index_of(options_.self)]),
      out_(this, out) {}

absl::StatusOr<std::unique_ptr<MrscNode>> MrscNode::Open(MrscNodeOptions options,
                                                         AcceptorStore* store, MrscOutbox* out) {
  if (options.participants.size() != options.replica.size() || options.participants.empty() ||
      std::find(options.participants.begin(), options.participants.end(), options.self) ==
          options.participants.end()) {
    return absl::InvalidArgumentError("mrsc: self must be one of the participants");
  }
  std::unique_ptr<MrscNode> node(new MrscNode(std::move(options), store, out));
  ASSIGN_OR_RETURN(int64_t floor, store->LoadBallotFloor());
  node->ballot_counter_ = floor;
  node->ballot_reserved_ = floor;
  return node;
}

size_t MrscNode::index_of(MrscNodeId id) const {
  auto it = std::find(options_.participants.begin(), options_.participants.end(), id);
  return static_cast<size_t>(it - options_.participants.begin());
}

void MrscNode::Start(int64_t now_us) {
  now_us_ = now_us;
  if (is_replica()) StartCatchUp(now_us);
}

absl::StatusOr<Ballot> MrscNode::NextBallot(const Ballot& above) {
  int64_t counter = std::max(ballot_counter_, above.counter) + 1;
  if (counter > ballot_reserved_) {
    int64_t reserve = counter + kMrscBallotBlock;
    RETURN_IF_ERROR(store_->SaveBallotFloor(reserve));
    ballot_reserved_ = reserve;
  }
  ballot_counter_ = counter;
  return Ballot{counter, options_.self};
}

void MrscNode::Submit(uint64_t op_id, const std::string& key, MrscChangeFn change, bool read,
                      int64_t now_us) {
  now_us_ = now_us;
  Pending op{op_id, std::move(change), read, false, now_us + options_.round_timeout_us};
  if (!is_replica()) return Complete(op, Outcome(MrscOutcome::kNotReplica));
  if (state_ == State::kCatchingUp) return Complete(op, Outcome(MrscOutcome::kCatchingUp));
  if (read && options_.bug_strong_read_from_local_copy) {
    auto item = acceptor_.Peek(key);
    if (!item.ok()) return Complete(op, Outcome(MrscOutcome::kNoQuorum));
    MrscRoundResult r = Outcome(MrscOutcome::kCommitted);
    r.value = item->committed_value;
    r.ballot = item->committed;
    return Complete(op, r);
  }
  Enqueue(key, std::move(op), now_us);
}

void MrscNode::Enqueue(const std::string& key, Pending op, int64_t now_us) {
  queued_[key].push_back(std::move(op));
  if (!active_.count(key)) StartNext(key, now_us);
  (void)DrainLoop(now_us);
}

void MrscNode::StartNext(const std::string& key, int64_t now_us) {
  auto q = queued_.find(key);
  while (q != queued_.end() && !q->second.empty() && !active_.count(key)) {
    if (q->second.front().not_before_us > now_us) break;  // a repair waiting to run again
    Pending op = std::move(q->second.front());
    q->second.pop_front();
    if (op.repair) op.deadline_us = std::max(op.deadline_us, now_us + options_.round_timeout_us);
    if (now_us >= op.deadline_us) {
      Complete(op, Outcome(MrscOutcome::kNoQuorum));
      continue;
    }
    auto ballot = NextBallot(Ballot{});
    auto next = NextBallot(Ballot{});
    if (!ballot.ok() || !next.ok()) {
      Complete(op, Outcome(MrscOutcome::kNoQuorum));
      continue;
    }
    std::optional<MrscFastPath> fast;
    auto f = fast_.find(key);
    if (f != fast_.end()) {
      // Only while this participant's own acceptor has seen no other proposer since.
      auto item = acceptor_.Peek(key);
      if (options_.fast_path && item.ok() && item->promised == f->second.ballot) fast = f->second;
      fast_.erase(f);
    }
    MrscRoundOptions round_options;
    if (options_.bug_ack_after_one_accept) round_options.accept_quorum = 1;
    auto round = std::make_unique<MrscRound>(
        key, options_.participants, *ballot, options_.fast_path ? *next : Ballot{}, op.change,
        op.deadline_us, fast,
        [this](const Ballot& above) {
          auto b = NextBallot(above);
          return b.ok() ? *b : Ballot{};
        },
        round_options);
    if (fast) ++fast_rounds_;
    MrscRound* r = round.get();
    active_[key] = Active{std::move(op), std::move(round)};
    r->Start(now_us, &out_);
    if (r->done()) Harvest(key, now_us);
  }
  if (q != queued_.end() && q->second.empty()) queued_.erase(q);
}

void MrscNode::Harvest(const std::string& key, int64_t now_us) {
  auto it = active_.find(key);
  if (it == active_.end() || !it->second.round->done()) return;
  Active done = std::move(it->second);
  active_.erase(it);
  MrscRoundResult result = done.round->result();
  // An identity round that a read ran is the read's answer, not a refused condition.
  if (done.op.read && result.outcome == MrscOutcome::kConditionFailed) {
    result.outcome = MrscOutcome::kCommitted;
  }
  if (result.outcome == MrscOutcome::kCommitted ||
      result.outcome == MrscOutcome::kConditionFailed) {
    CommitMsg commit{key, result.ballot, result.value};
    for (size_t i = 0; i < options_.participants.size(); ++i) {
      if (options_.replica[i]) out_.Send(options_.participants[i], commit);
    }
    if (result.next) fast_[key] = MrscFastPath{*result.next, result.value};
  }
  if (done.op.repair) {
    if (result.outcome == MrscOutcome::kCommitted ||
        result.outcome == MrscOutcome::kConditionFailed) {
      --repairs_left_;
      MaybeServing();
    } else {
      // Try again with a new deadline; the catch-up does not end until every repair is done.
      Pending again = done.op;
      again.not_before_us = now_us + kMrscRepairRetryUs;
      again.deadline_us = again.not_before_us + options_.round_timeout_us;
      queued_[key].push_back(std::move(again));
    }
  } else {
    Complete(done.op, result);
  }
  StartNext(key, now_us);
}

void MrscNode::Complete(const Pending& op, MrscRoundResult result) {
  if (op.repair) return;
  completions_.push_back(MrscCompletion{op.op_id, std::move(result)});
}

absl::StatusOr<MrscValue> MrscNode::ReadLocal(const std::string& key) {
  if (!is_replica()) return absl::FailedPreconditionError("mrsc: a witness serves no reads");
  ASSIGN_OR_RETURN(AcceptorItem item, acceptor_.Peek(key));
  return item.committed_value;
}

absl::Status MrscNode::OnMessage(MrscNodeId from, const MrscMessage& message, int64_t now_us) {
  now_us_ = now_us;
  absl::Status s = Handle(from, message, now_us);
  absl::Status d = DrainLoop(now_us);
  return s.ok() ? d : s;
}

absl::Status MrscNode::DrainLoop(int64_t now_us) {
  if (draining_) return absl::OkStatus();
  draining_ = true;
  absl::Status first;
  while (!loop_.empty()) {
    auto [from, m] = std::move(loop_.front());
    loop_.pop_front();
    absl::Status s = Handle(from, m, now_us);
    if (first.ok()) first = s;
  }
  draining_ = false;
  return first;
}

absl::Status MrscNode::Handle(MrscNodeId from, const MrscMessage& message, int64_t now_us) {
  // Ballots seen from other proposers raise this one's counter (in memory; NextBallot reserves
  // before it hands one out), so its next round starts above them.
  if (auto* m = std::get_if<PrepareMsg>(&message)) {
    ballot_counter_ = std::max(ballot_counter_, m->ballot.counter);
  } else if (auto* m = std::get_if<AcceptMsg>(&message)) {
    ballot_counter_ = std::max(ballot_counter_, std::max(m->ballot.counter, m->next.counter));
  }
  if (auto* m = std::get_if<PrepareMsg>(&message)) {
    ASSIGN_OR_RETURN(PromiseMsg reply, acceptor_.OnPrepare(*m));
    out_.Send(from, std::move(reply));
  } else if (auto* m = std::get_if<AcceptMsg>(&message)) {
    ASSIGN_OR_RETURN(AcceptedMsg reply, acceptor_.OnAccept(*m));
    out_.Send(from, std::move(reply));
  } else if (auto* m = std::get_if<CommitMsg>(&message)) {
    return acceptor_.OnCommit(*m).status();
  } else if (auto* m = std::get_if<SyncRequest>(&message)) {
    ASSIGN_OR_RETURN(SyncPage reply, acceptor_.OnSync(*m));
    out_.Send(from, std::move(reply));
  } else if (auto* m = std::get_if<PromiseMsg>(&message)) {
    auto it = active_.find(m->key);
    if (it == active_.end()) return absl::OkStatus();
    it->second.round->OnPromise(from, *m, now_us, &out_);
    Harvest(m->key, now_us);
  } else if (auto* m = std::get_if<AcceptedMsg>(&message)) {
    auto it = active_.find(m->key);
    if (it == active_.end()) return absl::OkStatus();
    it->second.round->OnAccepted(from, *m, now_us, &out_);
    Harvest(m->key, now_us);
  } else if (auto* m = std::get_if<SyncPage>(&message)) {
    return OnSyncPage(from, *m, now_us);
  }
  return absl::OkStatus();
}

void MrscNode::OnTimer(int64_t now_us) {
  now_us_ = now_us;
  std::vector<std::string> keys;
  for (auto& [key, a] : active_) keys.push_back(key);
  for (const std::string& key : keys) {
    auto it = active_.find(key);
    if (it == active_.end()) continue;
    it->second.round->OnTimer(now_us, &out_);
    Harvest(key, now_us);
  }
  // Operations waiting behind a slow round still end at their own deadline.
  for (auto& [key, q] : queued_) {
    for (auto it = q.begin(); it != q.end();) {
      if (!it->repair && now_us >= it->deadline_us) {
        Complete(*it, Outcome(MrscOutcome::kNoQuorum));
        it = q.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (state_ == State::kCatchingUp && !sync_done_) {
    for (auto& [peer, sent] : sync_sent_us_) {
      if (now_us >= sent + kMrscSyncResendUs) SendSync(peer);
    }
  }
  std::vector<std::string> waiting;
  for (auto& [key, q] : queued_) {
    if (!q.empty() && !active_.count(key) && q.front().not_before_us <= now_us) {
      waiting.push_back(key);
    }
  }
  for (const std::string& key : waiting) StartNext(key, now_us);
  (void)DrainLoop(now_us);
}

int64_t MrscNode::next_timer_us() const {
  int64_t t = INT64_MAX;
  for (auto& [key, a] : active_) t = std::min(t, a.round->next_timer_us());
  for (auto& [key, q] : queued_) {
    for (auto& op : q) {
      if (!op.repair) t = std::min(t, op.deadline_us);
    }
    if (!q.empty() && !active_.count(key)) t = std::min(t, q.front().not_before_us);
  }
  if (state_ == State::kCatchingUp && !sync_done_) {
    for (auto& [peer, sent] : sync_sent_us_) t = std::min(t, sent + kMrscSyncResendUs);
  }
  return t;
}

size_t MrscNode::pending() const {
  size_t n = active_.size();
  for (auto& [key, q] : queued_) n += q.size();
  return n;
}

void MrscNode::StartCatchUp(int64_t now_us) {
  if (!is_replica()) return;
  now_us_ = now_us;
  state_ = State::kCatchingUp;
  ++sync_id_;
  sync_done_ = false;
  sync_cursor_.clear();
  sync_sent_us_.clear();
  peer_doubt_.clear();
  in_doubt_.clear();
  for (MrscNodeId p : options_.participants) {
    if (p == options_.self) continue;
    sync_cursor_[p] = "";
    SendSync(p);
  }
  (void)DrainLoop(now_us);
}

void MrscNode::SendSync(MrscNodeId peer) {
  sync_sent_us_[peer] = now_us_;
  out_.Send(peer, SyncRequest{sync_id_, sync_cursor_[peer], kMrscSyncPage});
}

absl::Status MrscNode::OnSyncPage(MrscNodeId from, const SyncPage& page, int64_t now_us) {
  if (state_ != State::kCatchingUp || sync_done_ || page.sync_id != sync_id_) {
    return absl::OkStatus();
  }
  auto cursor = sync_cursor_.find(from);
  if (cursor == sync_cursor_.end() || page.after_key != cursor->second) return absl::OkStatus();
  for (const SyncEntry& e : page.entries) {
    ASSIGN_OR_RETURN(AcceptorItem own, acceptor_.Peek(e.key));
    if (e.committed > own.committed) {
      ASSIGN_OR_RETURN(bool applied,
                       acceptor_.OnCommit(CommitMsg{e.key, e.committed, e.committed_value}));
      (void)applied;
      own.committed = e.committed;
    }
    if (e.accepted > std::max(e.committed, own.committed)) peer_doubt_[from].insert(e.key);
    cursor->second = e.key;
  }
  if (!page.done) {
    SendSync(from);
    return absl::OkStatus();
  }
  in_doubt_ = peer_doubt_[from];
  FinishSync(now_us);
  return absl::OkStatus();
}

void MrscNode::FinishSync(int64_t now_us) {
  sync_done_ = true;
  // Its own acceptor may hold an accepted write whose Commit it never saw.
  std::string after;
  for (;;) {
    auto rows = store_->Scan(after, kMrscSyncPage);
    if (!rows.ok()) break;
    for (auto& [key, item] : *rows) {
      if (item.accepted > item.committed) in_doubt_.insert(key);
      after = key;
    }
    if (static_cast<int>(rows->size()) < kMrscSyncPage) break;
  }
  // Repairs already queued from an earlier catch-up keep their place.
  repairs_left_ = 0;
  for (auto& [key, q] : queued_) {
    for (auto& op : q) repairs_left_ += op.repair ? 1 : 0;
  }
  for (auto& [key, a] : active_) repairs_left_ += a.op.repair ? 1 : 0;
  auto identity = [](const MrscValue&) { return MrscChange{}; };
  for (const std::string& key : in_doubt_) {
    ++repair_rounds_;
    ++repairs_left_;
    Pending op{0, identity, true, true, now_us + options_.round_timeout_us};
    queued_[key].push_back(std::move(op));
    if (!active_.count(key)) StartNext(key, now_us);
  }
  MaybeServing();
}

void MrscNode::MaybeServing() {
  if (state_ == State::kCatchingUp && sync_done_ && repairs_left_ <= 0) {
    state_ = State::kServing;
  }
}

}  // namespace gtsim
