// The MRSC core's acceptor, rounds and participants (replicator/mrsc_*.h), driven by hand: a
// fake network that holds every message until the test delivers, drops or answers it.
#include <catch2/catch.hpp>
#include <deque>
#include <map>
#include <memory>

#include "replicator/mrsc_acceptor.h"
#include "replicator/mrsc_node.h"
#include "replicator/mrsc_proposer.h"

// Messages are written as partial aggregates ({key, ballot, ok, promised}): the fields left out
// are the defaults the test means.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace gtsim {
namespace {

struct Sent {
  MrscNodeId from;
  MrscNodeId to;
  MrscMessage message;
};

// Collects what participants send; the test decides what arrives.
class FakeNet {
 public:
  class Box final : public MrscOutbox {
   public:
    Box(FakeNet* net, MrscNodeId from) : net_(net), from_(from) {}
    void Send(MrscNodeId to, MrscMessage m) override {
      net_->queue.push_back(Sent{from_, to, std::move(m)});
    }

   private:
    FakeNet* net_;
    MrscNodeId from_;
  };
  std::deque<Sent> queue;
};

MrscChangeFn Put(std::string v) {
  return [v](const MrscValue&) { return MrscChange{true, MrscValue::Of(v)}; };
}
MrscChangeFn Identity() {
  return [](const MrscValue&) { return MrscChange{}; };
}
MrscChangeFn Cas(MrscValue expected, std::string v) {
  return [expected, v](const MrscValue& cur) {
    return cur == expected ? MrscChange{true, MrscValue::Of(v)} : MrscChange{};
  };
}

// Three participants (the last one optionally a witness) on a FakeNet.
class Cluster {
 public:
  explicit Cluster(bool witness = false, bool fast_path = true) {
    for (int i = 0; i < 3; ++i) boxes.push_back(std::make_unique<FakeNet::Box>(&net, i));
    for (int i = 0; i < 3; ++i) {
      options[i].self = i;
      options[i].replica = {true, true, !witness};
      options[i].round_timeout_us = 1'000'000;
      options[i].fast_path = fast_path;
    }
    for (int i = 0; i < 3; ++i) Open(i);
  }
  void Open(int i) {
    auto n = MrscNode::Open(options[i], &stores[i], boxes[i].get());
    REQUIRE(n.ok());
    nodes[i] = std::move(*n);
    up[i] = true;
    nodes[i]->Start(now);
  }
  void Crash(int i) {
    nodes[i].reset();
    up[i] = false;
  }
  // Delivers queued messages (and what they cause) until none is left; messages to or from a
  // participant that is down, or across a cut pair, are dropped.
  void Deliver() {
    while (!net.queue.empty()) {
      Sent s = std::move(net.queue.front());
      net.queue.pop_front();
      if (!up[s.to] || cut.count({std::min(s.from, s.to), std::max(s.from, s.to)})) continue;
      REQUIRE(nodes[s.to]->OnMessage(s.from, s.message, now).ok());
    }
    for (int i = 0; i < 3; ++i) {
      if (!up[i]) continue;
      for (auto& c : nodes[i]->TakeCompletions()) results[c.op_id] = c.result;
    }
  }
  void Tick(int64_t us) {
    now += us;
    for (int i = 0; i < 3; ++i) {
      if (up[i]) nodes[i]->OnTimer(now);
    }
    Deliver();
  }
  MrscRoundResult Run(int at, uint64_t id, const std::string& key, MrscChangeFn f,
                      bool read = false) {
    nodes[at]->Submit(id, key, std::move(f), read, now);
    Deliver();
    REQUIRE(results.count(id));
    return results[id];
  }

  FakeNet net;
  std::vector<std::unique_ptr<FakeNet::Box>> boxes;
  MrscNodeOptions options[3];
  MemoryAcceptorStore stores[3];
  std::unique_ptr<MrscNode> nodes[3];
  bool up[3] = {false, false, false};
  std::set<std::pair<int, int>> cut;
  std::map<uint64_t, MrscRoundResult> results;
  int64_t now = 1'000'000;
};

TEST_CASE("an acceptor promises only ballots at or above its promise and reports what it took",
          "[mrsc]") {
  MemoryAcceptorStore store;
  Acceptor a(&store, true);
  auto p = a.OnPrepare({"k", Ballot{5, 1}});
  REQUIRE(p.ok());
  CHECK(p->ok);
  CHECK(p->accepted.is_zero());
  // The same ballot again is the same proposer's retransmission: promised again.
  CHECK(a.OnPrepare({"k", Ballot{5, 1}})->ok);
  auto low = a.OnPrepare({"k", Ballot{5, 0}});
  CHECK_FALSE(low->ok);
  CHECK(low->promised == Ballot{5, 1});
  auto acc = a.OnAccept({"k", Ballot{5, 1}, MrscValue::Of("v1"), Ballot{}});
  CHECK(acc->ok);
  CHECK_FALSE(a.OnAccept({"k", Ballot{4, 2}, MrscValue::Of("x"), Ballot{}})->ok);
  auto p2 = a.OnPrepare({"k", Ballot{6, 0}});
  CHECK(p2->ok);
  CHECK(p2->accepted == Ballot{5, 1});
  CHECK(p2->value == MrscValue::Of("v1"));
  // An accept below the new promise is refused and names it.
  auto late = a.OnAccept({"k", Ballot{5, 1}, MrscValue::Of("v2"), Ballot{}});
  CHECK_FALSE(late->ok);
  CHECK(late->promised == Ballot{6, 0});
}

TEST_CASE("an accept with a piggybacked prepare promises the next ballot", "[mrsc]") {
  MemoryAcceptorStore store;
  Acceptor a(&store, true);
  auto acc = a.OnAccept({"k", Ballot{1, 0}, MrscValue::Of("v"), Ballot{2, 0}});
  CHECK(acc->next_ok);
  CHECK(store.items().at("k").promised == Ballot{2, 0});
  CHECK_FALSE(a.OnPrepare({"k", Ballot{1, 2}})->ok);
}

TEST_CASE(
    "an acceptor answers a retransmitted accept as the first time, even after the "
    "piggybacked promise",
    "[mrsc]") {
  MemoryAcceptorStore store;
  Acceptor a(&store, true);
  AcceptMsg m{"k", Ballot{1, 0}, MrscValue::Of("v"), Ballot{2, 0}};
  REQUIRE(a.OnAccept(m)->ok);
  auto again = a.OnAccept(m);
  CHECK(again->ok);
  CHECK(again->next_ok);
  // A different value at the same ballot is not a retransmission.
  CHECK_FALSE(a.OnAccept({"k", Ballot{1, 0}, MrscValue::Of("w"), Ballot{2, 0}})->ok);
}

TEST_CASE("an acceptor whose store fails sends no reply and keeps its old state", "[mrsc]") {
  MemoryAcceptorStore store;
  Acceptor a(&store, true);
  store.fail_saves = true;
  CHECK_FALSE(a.OnPrepare({"k", Ballot{1, 0}}).ok());
  store.fail_saves = false;
  CHECK(a.OnPrepare({"k", Ballot{1, 0}})->ok);
}

TEST_CASE("a witness holds accepted values but keeps no readable copy", "[mrsc]") {
  MemoryAcceptorStore store;
  Acceptor w(&store, false);
  CHECK(w.OnAccept({"k", Ballot{1, 0}, MrscValue::Of("v"), Ballot{}})->ok);
  CHECK_FALSE(*w.OnCommit({"k", Ballot{1, 0}, MrscValue::Of("v")}));
  CHECK(store.items().at("k").accepted_value == MrscValue::Of("v"));
  CHECK_FALSE(store.items().at("k").committed_value.exists);
}

TEST_CASE("a round commits after a quorum of accepts, from the highest accepted value", "[mrsc]") {
  FakeNet net;
  FakeNet::Box box(&net, 0);
  int next = 10;
  MrscRound round(
      "k", {0, 1, 2}, Ballot{3, 0}, Ballot{4, 0},
      [](const MrscValue& cur) {
        return MrscChange{true, MrscValue::Of(cur.bytes + "+")};
      },
      2'000'000, std::nullopt,
      [&](const Ballot&) {
        return Ballot{++next, 0};
      });
  round.Start(0, &box);
  REQUIRE(net.queue.size() == 3);
  net.queue.clear();
  round.OnPromise(1, {"k", Ballot{3, 0}, true, Ballot{3, 0}, Ballot{1, 1}, MrscValue::Of("a")}, 0,
                  &box);
  CHECK(net.queue.empty());  // one promise is not a quorum
  round.OnPromise(2, {"k", Ballot{3, 0}, true, Ballot{3, 0}, Ballot{2, 2}, MrscValue::Of("b")}, 0,
                  &box);
  REQUIRE(net.queue.size() == 3);
  auto* accept = std::get_if<AcceptMsg>(&net.queue.front().message);
  REQUIRE(accept);
  CHECK(accept->value == MrscValue::Of("b+"));  // built on the higher accepted ballot
  round.OnAccepted(1, {"k", Ballot{3, 0}, true, Ballot{4, 0}, true}, 0, &box);
  CHECK_FALSE(round.done());
  round.OnAccepted(1, {"k", Ballot{3, 0}, true, Ballot{4, 0}, true}, 0, &box);  // a duplicate
  CHECK_FALSE(round.done());
  round.OnAccepted(2, {"k", Ballot{3, 0}, true, Ballot{4, 0}, true}, 0, &box);
  REQUIRE(round.done());
  CHECK(round.result().outcome == MrscOutcome::kCommitted);
  CHECK(round.result().value == MrscValue::Of("b+"));
  REQUIRE(round.result().next);
  CHECK(*round.result().next == Ballot{4, 0});
}

TEST_CASE(
    "a refused prepare is tried again above the refusal; refused by two at the last attempt, "
    "the round is a conflict that applied nothing",
    "[mrsc]") {
  FakeNet net;
  FakeNet::Box box(&net, 0);
  MrscRound round("k", {0, 1, 2}, Ballot{3, 0}, Ballot{}, Put("v"), 2'000'000, std::nullopt,
                  [](const Ballot& above) {
                    return Ballot{above.counter + 1, 0};
                  });
  round.Start(0, &box);
  net.queue.clear();
  round.OnPromise(1, {"k", Ballot{3, 0}, false, Ballot{7, 1}}, 0, &box);
  REQUIRE_FALSE(round.done());
  round.OnPromise(2, {"k", Ballot{3, 0}, false, Ballot{7, 1}}, 0, &box);  // old ballot: ignored
  REQUIRE(net.queue.size() == 3);
  CHECK(std::get<PrepareMsg>(net.queue.front().message).ballot == Ballot{8, 0});
  round.OnPromise(1, {"k", Ballot{8, 0}, false, Ballot{9, 1}}, 0, &box);
  CHECK_FALSE(round.done());
  round.OnPromise(1, {"k", Ballot{10, 0}, false, Ballot{11, 1}}, 0, &box);
  CHECK_FALSE(round.done());
  round.OnPromise(2, {"k", Ballot{10, 0}, false, Ballot{11, 1}}, 0, &box);
  REQUIRE(round.done());
  CHECK(round.result().outcome == MrscOutcome::kConflict);
  CHECK_FALSE(round.result().may_have_applied);
}

TEST_CASE("a conflict after another participant accepted may still take effect", "[mrsc]") {
  FakeNet net;
  FakeNet::Box box(&net, 0);
  MrscRound round("k", {0, 1, 2}, Ballot{3, 0}, Ballot{}, Put("v"), 2'000'000, std::nullopt,
                  [](const Ballot&) { return Ballot{}; });
  round.Start(0, &box);
  round.OnPromise(0, {"k", Ballot{3, 0}, true, Ballot{3, 0}}, 0, &box);
  round.OnPromise(1, {"k", Ballot{3, 0}, true, Ballot{3, 0}}, 0, &box);
  round.OnAccepted(1, {"k", Ballot{3, 0}, true, Ballot{3, 0}}, 0, &box);
  round.OnAccepted(0, {"k", Ballot{3, 0}, false, Ballot{9, 2}}, 0, &box);
  round.OnAccepted(2, {"k", Ballot{3, 0}, false, Ballot{9, 2}}, 0, &box);
  REQUIRE(round.done());
  CHECK(round.result().outcome == MrscOutcome::kConflict);
  CHECK(round.result().may_have_applied);
}

TEST_CASE(
    "a fast accept that every participant proves it never took falls back to a full "
    "round",
    "[mrsc]") {
  FakeNet net;
  FakeNet::Box box(&net, 0);
  MrscRound round("k", {0, 1, 2}, Ballot{}, Ballot{6, 0}, Put("v"), 2'000'000,
                  MrscFastPath{Ballot{5, 0}, MrscValue::Of("old")}, [](const Ballot& above) {
                    return Ballot{above.counter + 1, 0};
                  });
  round.Start(0, &box);
  REQUIRE(std::holds_alternative<AcceptMsg>(net.queue.front().message));
  net.queue.clear();
  AcceptedMsg refused{"k", Ballot{5, 0}, false, Ballot{9, 2}};
  refused.accepted = Ballot{4, 1};  // below the round's ballot: never took it
  for (int p : {0, 1, 2}) round.OnAccepted(p, refused, 0, &box);
  CHECK_FALSE(round.done());
  REQUIRE(net.queue.size() == 3);
  CHECK(std::get<PrepareMsg>(net.queue.front().message).ballot == Ballot{10, 0});
}

TEST_CASE(
    "a refusal from an acceptor that has accepted since does not prove the accept was "
    "never taken",
    "[mrsc]") {
  // Its first copy may have been taken, the answer lost, and a later ballot accepted on top:
  // the retransmission's refusal says nothing about the first copy. So no fallback: Conflict,
  // and the write may have applied.
  FakeNet net;
  FakeNet::Box box(&net, 0);
  MrscRound round("k", {0, 1, 2}, Ballot{}, Ballot{6, 0}, Put("v"), 2'000'000,
                  MrscFastPath{Ballot{5, 0}, MrscValue::Of("old")}, [](const Ballot& above) {
                    return Ballot{above.counter + 1, 0};
                  });
  round.Start(0, &box);
  AcceptedMsg refused{"k", Ballot{5, 0}, false, Ballot{9, 2}};
  refused.accepted = Ballot{4, 1};
  round.OnAccepted(0, refused, 0, &box);
  round.OnAccepted(2, refused, 0, &box);
  CHECK_FALSE(round.done());  // waits for the last answer
  refused.accepted = Ballot{7, 1};
  round.OnAccepted(1, refused, 0, &box);
  REQUIRE(round.done());
  CHECK(round.result().outcome == MrscOutcome::kConflict);
  CHECK(round.result().may_have_applied);
}

TEST_CASE("a round resends to silent participants and ends with NoQuorum at its deadline",
          "[mrsc]") {
  FakeNet net;
  FakeNet::Box box(&net, 0);
  MrscRound round("k", {0, 1, 2}, Ballot{3, 0}, Ballot{}, Put("v"), 1'000'000, std::nullopt,
                  [](const Ballot&) { return Ballot{}; });
  round.Start(0, &box);
  net.queue.clear();
  round.OnPromise(0, {"k", Ballot{3, 0}, true, Ballot{3, 0}}, 0, &box);
  round.OnTimer(kMrscResendUs, &box);
  CHECK(net.queue.size() == 2);  // the prepare again, to the two that did not answer
  CHECK_FALSE(round.done());
  round.OnTimer(1'000'000, &box);
  REQUIRE(round.done());
  CHECK(round.result().outcome == MrscOutcome::kNoQuorum);
  CHECK_FALSE(round.result().may_have_applied);
}

TEST_CASE("participants: a write commits and every replica's readable copy converges", "[mrsc]") {
  Cluster c;
  c.Deliver();
  REQUIRE(c.nodes[0]->state() == MrscNode::State::kServing);
  auto r = c.Run(0, 1, "k", Put("v1"));
  CHECK(r.outcome == MrscOutcome::kCommitted);
  for (int i = 0; i < 3; ++i) CHECK(*c.nodes[i]->ReadLocal("k") == MrscValue::Of("v1"));
  auto read = c.Run(2, 2, "k", Identity(), true);
  CHECK(read.outcome == MrscOutcome::kCommitted);
  CHECK(read.value == MrscValue::Of("v1"));
}

TEST_CASE("participants: a conditional write evaluates against the latest value everywhere",
          "[mrsc]") {
  Cluster c;
  c.Deliver();
  REQUIRE(c.Run(0, 1, "k", Put("v1")).outcome == MrscOutcome::kCommitted);
  // Region 1 never saw a Commit (cut from 0 during the write)... it still sees v1 through
  // the quorum.
  auto stale = c.Run(1, 2, "k", Cas(MrscValue::Absent(), "v2"));
  CHECK(stale.outcome == MrscOutcome::kConditionFailed);
  CHECK(stale.value == MrscValue::Of("v1"));
  auto ok = c.Run(1, 3, "k", Cas(MrscValue::Of("v1"), "v2"));
  CHECK(ok.outcome == MrscOutcome::kCommitted);
  CHECK(*c.nodes[0]->ReadLocal("k") == MrscValue::Of("v2"));
}

TEST_CASE("participants: steady writes from one region take the one-round-trip path", "[mrsc]") {
  Cluster c;
  c.Deliver();
  c.Run(0, 1, "k", Put("v1"));
  c.net.queue.clear();
  c.nodes[0]->Submit(2, "k", Put("v2"), false, c.now);
  // No Prepare: straight to Accept.
  for (const Sent& s : c.net.queue) CHECK(std::holds_alternative<AcceptMsg>(s.message));
  c.Deliver();
  CHECK(c.results[2].outcome == MrscOutcome::kCommitted);
  CHECK(c.nodes[0]->fast_rounds() == 1);
  // Another region writes in between: region 0's cached promise is gone; its next write still
  // commits (a full round, or a fallback after every participant refused the fast Accept).
  CHECK(c.Run(1, 3, "k", Put("v3")).outcome == MrscOutcome::kCommitted);
  auto r = c.Run(0, 4, "k", Cas(MrscValue::Of("v3"), "v4"));
  CHECK(r.outcome == MrscOutcome::kCommitted);
  CHECK(c.Run(2, 5, "k", Identity(), true).value == MrscValue::Of("v4"));
}

TEST_CASE("participants: a write at one region with a witness commits with the witness", "[mrsc]") {
  Cluster c(/*witness=*/true);
  c.Deliver();
  c.Crash(1);
  auto r = c.Run(0, 1, "k", Put("v1"));
  CHECK(r.outcome == MrscOutcome::kCommitted);
  CHECK(c.stores[2].items().at("k").accepted_value == MrscValue::Of("v1"));
  CHECK_FALSE(c.stores[2].items().at("k").committed_value.exists);
  // The witness serves nothing.
  c.nodes[2]->Submit(2, "k", Put("x"), false, c.now);
  c.Deliver();
  CHECK(c.results[2].outcome == MrscOutcome::kNotReplica);
  CHECK_FALSE(c.nodes[2]->ReadLocal("k").ok());
}

TEST_CASE(
    "participants: with two participants down, writes and strong reads end at their "
    "deadline with NoQuorum, eventually consistent reads go on",
    "[mrsc]") {
  Cluster c;
  c.Deliver();
  c.Run(0, 1, "k", Put("v1"));
  c.Crash(1);
  c.Crash(2);
  c.nodes[0]->Submit(2, "k", Put("v2"), false, c.now);
  c.nodes[0]->Submit(3, "k", Identity(), true, c.now);  // waits behind the write
  c.Deliver();
  for (int i = 0; i < 25 && c.results.count(3) == 0; ++i) c.Tick(100'000);
  REQUIRE(c.results.count(2));
  REQUIRE(c.results.count(3));
  CHECK(c.results[2].outcome == MrscOutcome::kNoQuorum);
  CHECK(c.results[3].outcome == MrscOutcome::kNoQuorum);
  CHECK(*c.nodes[0]->ReadLocal("k") == MrscValue::Of("v1"));
}

TEST_CASE(
    "participants: a restarted replica refuses writes until it caught up, then holds "
    "what it missed",
    "[mrsc]") {
  Cluster c;
  c.Deliver();
  c.Crash(2);
  REQUIRE(c.Run(0, 1, "a", Put("va")).outcome == MrscOutcome::kCommitted);
  REQUIRE(c.Run(1, 2, "b", Put("vb")).outcome == MrscOutcome::kCommitted);
  c.Open(2);  // Start sent its sync requests; nothing delivered yet
  CHECK(c.nodes[2]->state() == MrscNode::State::kCatchingUp);
  c.nodes[2]->Submit(3, "a", Put("x"), false, c.now);
  c.nodes[2]->Submit(4, "a", Identity(), true, c.now);
  for (auto& comp : c.nodes[2]->TakeCompletions()) c.results[comp.op_id] = comp.result;
  CHECK(c.results[3].outcome == MrscOutcome::kCatchingUp);
  CHECK(c.results[4].outcome == MrscOutcome::kCatchingUp);
  CHECK_FALSE(c.nodes[2]->ReadLocal("a")->exists);  // eventually consistent reads are served
  c.Deliver();
  CHECK(c.nodes[2]->state() == MrscNode::State::kServing);
  CHECK(*c.nodes[2]->ReadLocal("a") == MrscValue::Of("va"));
  CHECK(*c.nodes[2]->ReadLocal("b") == MrscValue::Of("vb"));
  CHECK(c.Run(2, 5, "a", Put("x")).outcome == MrscOutcome::kCommitted);
}

TEST_CASE("participants: catch-up repairs a write whose commit every replica missed", "[mrsc]") {
  Cluster c;
  c.Deliver();
  // Participant 0's write is accepted by 0 and 1, then 0 crashes before anyone learns it was
  // chosen: no Commit reaches 1 or 2.
  c.nodes[0]->Submit(1, "k", Put("v1"), false, c.now);
  std::deque<Sent> held;
  while (!c.net.queue.empty()) {
    Sent s = std::move(c.net.queue.front());
    c.net.queue.pop_front();
    if (std::holds_alternative<AcceptedMsg>(s.message) ||
        (std::holds_alternative<AcceptMsg>(s.message) && s.to == 2)) {
      continue;  // lost
    }
    REQUIRE(c.nodes[s.to]->OnMessage(s.from, s.message, c.now).ok());
  }
  REQUIRE(c.stores[1].items().at("k").accepted_value == MrscValue::Of("v1"));
  c.Crash(0);
  c.Crash(2);
  c.Open(2);
  c.Deliver();
  CHECK(c.nodes[2]->state() == MrscNode::State::kServing);
  CHECK(c.nodes[2]->repair_rounds() == 1);
  CHECK(*c.nodes[2]->ReadLocal("k") == MrscValue::Of("v1"));
  CHECK(*c.nodes[1]->ReadLocal("k") == MrscValue::Of("v1"));
}

TEST_CASE("participants: a restarted participant never reuses a ballot", "[mrsc]") {
  Cluster c;
  c.Deliver();
  c.Run(0, 1, "k", Put("v1"));
  int64_t floor = *c.stores[0].LoadBallotFloor();
  CHECK(floor >= kMrscBallotBlock);
  c.Crash(0);
  c.Open(0);
  c.Deliver();
  c.net.queue.clear();
  c.nodes[0]->Submit(2, "k", Put("v2"), false, c.now);
  auto* prepare = std::get_if<PrepareMsg>(&c.net.queue.front().message);
  REQUIRE(prepare);
  CHECK(prepare->ballot.counter > floor);
  c.Deliver();
  CHECK(c.results[2].outcome == MrscOutcome::kCommitted);
}

}  // namespace
}  // namespace gtsim
