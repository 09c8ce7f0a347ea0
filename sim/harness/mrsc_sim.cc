#include "sim/harness/mrsc_sim.h"

#include <array>
#include <climits>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "replicator/mrsc_node.h"

namespace gtsim {
namespace {

constexpr int kParticipants = 3;
constexpr int64_t kSettleLimitUs = 600'000'000;

uint64_t Fnv(uint64_t h, const std::string& s) {
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::optional<std::string> AsOptional(const MrscValue& v) {
  return v.exists ? std::optional<std::string>(v.bytes) : std::nullopt;
}
MrscValue AsValue(const std::optional<std::string>& v) {
  return v ? MrscValue::Of(*v) : MrscValue::Absent();
}

class Sim {
 public:
  explicit Sim(const MrscSimOptions& o) : o_(o), rng_(o.seed) {
    for (int i = 0; i < kParticipants; ++i) {
      p_[i].outbox.sim = this;
      p_[i].outbox.from = i;
    }
    for (int i = 0; i < kParticipants; ++i) {
      for (int j = i + 1; j < kParticipants; ++j) {
        double scale = Uniform(0.5, 2.0);
        if (!o_.scale_latency_per_pair) scale = 1;
        int64_t l = static_cast<int64_t>(o_.latency_base_us * scale);
        latency_[i][j] = latency_[j][i] = l;
      }
    }
    double scale_crash = Uniform(0, 1) < 0.2 ? 0 : Uniform(0, 2);
    double scale_part = Uniform(0, 1) < 0.2 ? 0 : Uniform(0, 2);
    crash_p_ = o_.faults ? o_.crash_probability * scale_crash : 0;
    part_p_ = o_.faults ? o_.partition_probability * scale_part : 0;
    loss_ = o_.loss_probability;
    dup_ = o_.duplicate_probability;
    result_.options = o_;
  }

  MrscSimResult Run();

 private:
  struct Outbox final : MrscOutbox {
    Sim* sim = nullptr;
    int from = 0;
    void Send(MrscNodeId to, MrscMessage m) override { sim->Send(from, to, std::move(m)); }
  };
  struct Participant {
    MemoryAcceptorStore store;
    std::unique_ptr<MrscNode> node;
    Outbox outbox;
    bool up = false;
    int64_t incarnation = 0;
    int64_t timer_token = 0;
  };
  struct Event {
    int64_t at;
    uint64_t seq;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  struct Client {
    int issued = 0;
    int counter = 0;
    std::map<std::string, std::optional<std::string>> seen;  // per key: the last value known
  };
  struct InFlight {
    int client = -1;  // -1: a final read
    int node = 0;
    RegisterOp op;
    int64_t submitted_us = 0;
  };

  double Uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng_); }
  int64_t UniformInt(int64_t a, int64_t b) {
    return std::uniform_int_distribution<int64_t>(a, b)(rng_);
  }
  bool Chance(double p) { return p > 0 && Uniform(0, 1) < p; }
  void At(int64_t t, std::function<void()> fn) { events_.push({t, seq_++, std::move(fn)}); }
  bool Cut(int a, int b) const { return cut_.count({std::min(a, b), std::max(a, b)}) > 0; }
  bool IsReplica(int i) const { return !(o_.witness && i == kParticipants - 1); }
  MrscNodeOptions NodeOptions(int i) const {
    MrscNodeOptions n;
    n.self = i;
    n.participants = {0, 1, 2};
    n.replica = {true, true, !o_.witness};
    n.round_timeout_us = o_.round_timeout_us;
    n.fast_path = o_.fast_path;
    n.bug_ack_after_one_accept = o_.bug_ack_after_one_accept;
    n.bug_strong_read_from_local_copy = o_.bug_strong_read_from_local_copy;
    return n;
  }

  void Send(int from, int to, MrscMessage m);
  void Deliver(int to, int from, int64_t incarnation, const MrscMessage& m);
  void AfterTouch(int i);
  void Record(int node, const MrscCompletion& c);
  void Open(int i);
  void Crash(int i);
  void Partition();
  void ScheduleClient(int c);
  void Issue(int c);
  void RunUntilIdle(const char* phase);
  void Settle();

  MrscSimOptions o_;
  std::mt19937_64 rng_;
  std::array<Participant, kParticipants> p_;
  int64_t latency_[kParticipants][kParticipants] = {};
  double crash_p_ = 0, part_p_ = 0, loss_ = 0, dup_ = 0;
  std::priority_queue<Event, std::vector<Event>, Later> events_;
  uint64_t seq_ = 0;
  int64_t now_ = 0;
  int64_t event_no_ = 0;
  uint64_t next_op_ = 0;
  std::set<std::pair<int, int>> cut_;
  std::array<bool, kParticipants> isolated_ = {false, false, false};
  std::vector<Client> clients_;
  std::map<uint64_t, InFlight> inflight_;
  std::map<uint64_t, MrscOutcome> final_outcome_;  // the final reads'
  int clients_done_ = 0;
  MrscSimResult result_;
};

void Sim::Send(int from, int to, MrscMessage m) {
  ++result_.messages;
  if (Cut(from, to) || Chance(loss_)) {
    ++result_.messages_lost;
    return;
  }
  int copies = Chance(dup_) ? 2 : 1;
  int64_t inc = p_[to].incarnation;
  for (int k = 0; k < copies; ++k) {
    int64_t delay = latency_[from][to] + UniformInt(0, o_.latency_jitter_us);
    At(now_ + delay, [this, to, from, inc, m] { Deliver(to, from, inc, m); });
  }
}

void Sim::Deliver(int to, int from, int64_t incarnation, const MrscMessage& m) {
  // A message in flight to a participant that crashed since is lost with its connection.
  if (!p_[to].up || p_[to].incarnation != incarnation) return;
  absl::Status s = p_[to].node->OnMessage(from, m, now_);
  if (!s.ok()) result_.errors.push_back(absl::StrCat("participant ", to, ": ", s.ToString()));
  AfterTouch(to);
}

void Sim::AfterTouch(int i) {
  Participant& p = p_[i];
  if (!p.up) return;
  for (const MrscCompletion& c : p.node->TakeCompletions()) Record(i, c);
  int64_t t = p.node->next_timer_us();
  if (t == INT64_MAX) return;
  int64_t token = ++p.timer_token;
  int64_t inc = p.incarnation;
  At(std::max(t, now_), [this, i, token, inc] {
    Participant& q = p_[i];
    if (!q.up || q.incarnation != inc || q.timer_token != token) return;
    q.node->OnTimer(now_);
    AfterTouch(i);
  });
}

void Sim::Record(int node, const MrscCompletion& c) {
  auto it = inflight_.find(c.op_id);
  if (it == inflight_.end()) return;
  InFlight f = std::move(it->second);
  inflight_.erase(it);
  RegisterOp op = std::move(f.op);
  const MrscRoundResult& r = c.result;
  if (f.client < 0) final_outcome_[op.id] = r.outcome;
  bool read = op.kind == RegisterOp::Kind::kRead;
  bool record = false;
  switch (r.outcome) {
    case MrscOutcome::kCommitted:
      op.result = RegisterOp::Result::kOk;
      if (read) {
        op.value = AsOptional(r.value);
        ++result_.reads;
      } else {
        ++result_.committed;
      }
      record = true;
      break;
    case MrscOutcome::kConditionFailed:
      op.result = RegisterOp::Result::kCasFailed;
      ++result_.condition_failed;
      record = true;
      break;
    case MrscOutcome::kConflict:
    case MrscOutcome::kNoQuorum:
      if (r.outcome == MrscOutcome::kConflict) ++result_.conflicts;
      if (r.outcome == MrscOutcome::kNoQuorum) ++result_.no_quorum;
      if (!read && r.may_have_applied) {
        op.result = RegisterOp::Result::kUnknown;
        ++result_.unknown;
        ++(r.outcome == MrscOutcome::kConflict ? result_.unknown_conflicts
                                               : result_.unknown_timeouts);
        record = true;
      }
      break;
    case MrscOutcome::kCatchingUp:
      ++result_.catching_up;
      break;
    default:
      result_.errors.push_back(
          absl::StrCat("op ", op.id, ": unexpected outcome ", MrscOutcomeName(r.outcome)));
  }
  if (record) {
    if (op.result != RegisterOp::Result::kUnknown) {
      op.complete = ++event_no_;
      if (f.client >= 0) {
        (read ? result_.read_latency_us : result_.write_latency_us)
            .push_back(now_ - f.submitted_us);
      }
    }
    if (f.client >= 0 && op.result == RegisterOp::Result::kOk) {
      clients_[f.client].seen[op.key] = op.value;
    }
    result_.history.push_back(std::move(op));
  }
  if (f.client >= 0) ScheduleClient(f.client);
}

void Sim::Open(int i) {
  Participant& p = p_[i];
  auto node = MrscNode::Open(NodeOptions(i), &p.store, &p.outbox);
  if (!node.ok()) {
    result_.errors.push_back(absl::StrCat("open participant ", i, ": ", node.status().ToString()));
    return;
  }
  p.node = std::move(*node);
  p.up = true;
  ++p.incarnation;
  p.node->Start(now_);
  AfterTouch(i);
}

void Sim::Crash(int i) {
  Participant& p = p_[i];
  if (!p.up) return;
  ++result_.crashes;
  p.up = false;
  p.node.reset();
  ++p.incarnation;
  // Its clients' operations end without an answer: a write may have taken effect.
  std::vector<uint64_t> lost;
  for (auto& [id, f] : inflight_) {
    if (f.node == i) lost.push_back(id);
  }
  for (uint64_t id : lost) {
    InFlight f = std::move(inflight_[id]);
    inflight_.erase(id);
    if (f.op.kind != RegisterOp::Kind::kRead) {
      f.op.result = RegisterOp::Result::kUnknown;
      ++result_.unknown;
      result_.history.push_back(std::move(f.op));
    }
    if (f.client >= 0) ScheduleClient(f.client);
  }
  At(now_ + UniformInt(50'000, 600'000), [this, i] {
    if (!p_[i].up) Open(i);
  });
}

void Sim::Partition() {
  int a = static_cast<int>(UniformInt(0, kParticipants - 1));
  int b = (a + 1 + static_cast<int>(UniformInt(0, kParticipants - 2))) % kParticipants;
  std::pair<int, int> pair{std::min(a, b), std::max(a, b)};
  if (cut_.count(pair)) return;
  ++result_.partitions;
  cut_.insert(pair);
  for (int i = 0; i < kParticipants; ++i) {
    bool alone = true;
    for (int j = 0; j < kParticipants; ++j) alone = alone && (i == j || Cut(i, j));
    if (alone) isolated_[i] = true;
  }
  At(now_ + UniformInt(100'000, 1'500'000), [this, pair] {
    cut_.erase(pair);
    // A participant that was cut off from both others regained contact: it catches up on
    // what it missed (one that kept a quorum partner missed nothing it needs to refuse for).
    for (int i : {pair.first, pair.second}) {
      if (!isolated_[i]) continue;
      isolated_[i] = false;
      if (p_[i].up && IsReplica(i)) {
        p_[i].node->StartCatchUp(now_);
        AfterTouch(i);
      }
    }
  });
}

void Sim::ScheduleClient(int c) {
  Client& cl = clients_[c];
  if (cl.issued >= o_.ops_per_client) {
    ++clients_done_;
    return;
  }
  At(now_ + UniformInt(0, 2 * o_.think_us), [this, c] { Issue(c); });
}

void Sim::Issue(int c) {
  Client& cl = clients_[c];
  ++cl.issued;
  ++result_.ops;
  if (Chance(crash_p_)) {
    int victim = static_cast<int>(UniformInt(0, kParticipants - 1));
    At(now_ + UniformInt(0, 100'000), [this, victim] { Crash(victim); });
  }
  if (Chance(part_p_)) Partition();
  int replicas = o_.witness ? kParticipants - 1 : kParticipants;
  int node = static_cast<int>(UniformInt(0, replicas - 1));
  if (o_.pin_clients) node = c % replicas;
  if (!p_[node].up) {
    ScheduleClient(c);  // the region is down: the client's request fails to connect
    return;
  }
  RegisterOp op;
  op.id = ++next_op_;
  op.key = absl::StrCat("k", UniformInt(0, o_.keys - 1));
  op.where = absl::StrCat("client ", c, " at participant ", node);
  std::string fresh = absl::StrCat("c", c, "-", ++cl.counter);
  double roll = Uniform(0, 1);
  MrscChangeFn change;
  bool read = false;
  if (roll < 0.30) {
    op.kind = RegisterOp::Kind::kWrite;
    op.value = fresh;
    change = [v = fresh](const MrscValue&) { return MrscChange{true, MrscValue::Of(v)}; };
  } else if (roll < 0.38) {
    op.kind = RegisterOp::Kind::kWrite;
    op.value = std::nullopt;
    change = [](const MrscValue&) { return MrscChange{true, MrscValue::Absent()}; };
  } else if (roll < 0.65) {
    op.kind = RegisterOp::Kind::kCas;
    auto seen = cl.seen.find(op.key);
    op.expected = seen == cl.seen.end() ? std::nullopt : seen->second;
    op.value = fresh;
    MrscValue expected = AsValue(op.expected);
    change = [expected, v = fresh](const MrscValue& cur) {
      return cur == expected ? MrscChange{true, MrscValue::Of(v)} : MrscChange{};
    };
  } else {
    op.kind = RegisterOp::Kind::kRead;
    read = true;
    change = [](const MrscValue&) { return MrscChange{}; };
  }
  op.invoke = ++event_no_;
  std::string key = op.key;
  uint64_t id = op.id;
  inflight_[id] = InFlight{c, node, std::move(op), now_};
  p_[node].node->Submit(id, key, std::move(change), read, now_);
  AfterTouch(node);
}

void Sim::RunUntilIdle(const char* phase) {
  while (!events_.empty()) {
    Event e = events_.top();
    events_.pop();
    now_ = std::max(now_, e.at);
    if (now_ > kSettleLimitUs) {
      result_.errors.push_back(absl::StrCat(phase, ": did not settle by ", kSettleLimitUs, " us"));
      return;
    }
    e.fn();
  }
}

void Sim::Settle() {
  cut_.clear();
  loss_ = 0;
  dup_ = 0;
  crash_p_ = 0;
  part_p_ = 0;
  for (int i = 0; i < kParticipants; ++i) {
    if (!p_[i].up) Open(i);
  }
  RunUntilIdle("settle");
  for (int i = 0; i < kParticipants; ++i) {
    if (!IsReplica(i)) continue;
    p_[i].node->StartCatchUp(now_);
    AfterTouch(i);
    RunUntilIdle("catch-up");
    if (p_[i].node->state() != MrscNode::State::kServing) {
      result_.errors.push_back(absl::StrCat("participant ", i, " still catching up at the end"));
    }
  }
  // Convergence: after catching up, every replica's readable copy is the same.
  std::vector<std::string> keys;
  for (int k = 0; k < o_.keys; ++k) keys.push_back(absl::StrCat("k", k));
  bool converged = true;
  auto copies_agree = [&](const char* when) {
    for (const std::string& key : keys) {
      std::optional<MrscValue> first;
      for (int i = 0; i < kParticipants; ++i) {
        if (!IsReplica(i)) continue;
        auto v = p_[i].node->ReadLocal(key);
        if (!v.ok()) continue;
        if (!first) {
          first = *v;
        } else if (*first != *v) {
          converged = false;
          result_.errors.push_back(absl::StrCat("replicas differ on ", key, " ", when));
        }
      }
    }
  };
  copies_agree("after catch-up");
  // Every key read strongly from every replica: part of the history, so an acknowledged write
  // that was lost makes these reads contradict it.
  std::map<std::string, std::optional<std::string>> final_read;
  for (const std::string& key : keys) {
    for (int i = 0; i < kParticipants; ++i) {
      if (!IsReplica(i)) continue;
      RegisterOp op;
      op.id = ++next_op_;
      op.key = key;
      op.kind = RegisterOp::Kind::kRead;
      op.where = absl::StrCat("final read at participant ", i);
      op.invoke = ++event_no_;
      uint64_t id = op.id;
      inflight_[id] = InFlight{-1, i, std::move(op), now_};
      p_[i].node->Submit(
          id, key, [](const MrscValue&) { return MrscChange{}; }, true, now_);
      AfterTouch(i);
      RunUntilIdle("final reads");
      if (inflight_.count(id)) {
        result_.errors.push_back(absl::StrCat("final read of ", key, " at ", i, " unanswered"));
        inflight_.erase(id);
      } else if (result_.history.back().id == id) {
        final_read[key] = result_.history.back().value;
      } else {
        result_.errors.push_back(absl::StrCat("final read of ", key, " at ", i, ": ",
                                              MrscOutcomeName(final_outcome_[id])));
      }
    }
  }
  copies_agree("after the final reads");
  for (const std::string& key : keys) {
    auto v = p_[0].node->ReadLocal(key);
    if (v.ok() && final_read.count(key) && AsOptional(*v) != final_read[key]) {
      converged = false;
      result_.errors.push_back(absl::StrCat("readable copy of ", key, " is not the latest value"));
    }
  }
  result_.converged = converged;
}

MrscSimResult Sim::Run() {
  for (int i = 0; i < kParticipants; ++i) Open(i);
  RunUntilIdle("start");
  clients_.resize(o_.clients);
  for (int c = 0; c < o_.clients; ++c) ScheduleClient(c);
  RunUntilIdle("workload");
  if (clients_done_ != o_.clients) result_.errors.push_back("some clients never finished");
  Settle();
  result_.virtual_us = now_;
  for (auto& p : p_) {
    if (p.node) {
      result_.fast_rounds += p.node->fast_rounds();
      result_.repair_rounds += p.node->repair_rounds();
    }
  }
  result_.linearizability = CheckLinearizable(result_.history);
  uint64_t h = 1469598103934665603ull;
  for (const RegisterOp& op : result_.history) {
    h = Fnv(h, absl::StrCat(DescribeOp(op), op.invoke, ",", op.complete, op.where));
  }
  h = Fnv(h, absl::StrCat(result_.messages, ",", result_.messages_lost, ",", now_));
  result_.digest = h;
  return std::move(result_);
}

}  // namespace

std::string MrscSimResult::Line() const {
  return absl::StrCat(
      "seed ", options.seed, options.witness ? " (witness)" : "", ": ops ", ops, ", committed ",
      committed, ", cas refused ", condition_failed, ", strong reads ", reads, ", conflicts ",
      conflicts, ", no quorum ", no_quorum, ", catching up ", catching_up, ", unknown ", unknown,
      " (", unknown_conflicts, " conflicts, ", unknown_timeouts, " timeouts)", ", fast rounds ",
      fast_rounds, ", repairs ", repair_rounds, ", crashes ", crashes, ", partitions ", partitions,
      ", messages ", messages, " (", messages_lost, " lost), ", virtual_us / 1000,
      " ms virtual: ", ok() ? "OK" : "FAIL");
}

absl::StatusOr<MrscSimResult> RunMrscSimulation(const MrscSimOptions& options) {
  if (options.clients < 1 || options.clients > 16) {
    return absl::InvalidArgumentError("mrsc sim: clients must be 1..16");
  }
  if (options.keys < 1 || options.ops_per_client < 0 || options.round_timeout_us <= 0) {
    return absl::InvalidArgumentError("mrsc sim: keys >= 1, ops_per_client >= 0, timeout > 0");
  }
  Sim sim(options);
  return sim.Run();
}

}  // namespace gtsim
