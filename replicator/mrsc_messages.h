// The vocabulary of MRSC replication (multi-Region strong consistency, docs/MRSC.md): ballots,
// item values and the messages participants exchange. Per-item CASPaxos (Rystsov 2018) over a
// table's three participants - three replicas, or two replicas and a witness.
//
//   proposer (the region a client wrote to)        each participant's acceptor
//   Prepare(key, ballot)              ------------->  promise not to take a lower ballot
//                                     <-------------  Promise(ok, its accepted ballot + value)
//   Accept(key, ballot, value[, next]) ------------>  accept unless it promised a higher ballot
//                                     <-------------  Accepted(ok[, next promised])
//   Commit(key, ballot, value)        ------------->  replicas only: the readable copy
//   SyncRequest(after_key)            ------------->  a recovering replica's catch-up
//                                     <-------------  SyncPage(items' accepted and committed state)
//
// Values are opaque: bytes plus an `exists` flag (false: the item is deleted or was never
// written). The region layer encodes its items into the bytes; the core never looks inside.
// Plain structs: thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

namespace gtsim {

// A participant's index in its table's participant list (0..2); every participant of a table
// holds the same list, in the same order.
using MrscNodeId = int;

// A CASPaxos ballot: totally ordered by (counter, node), so two proposers never share one and
// no clock takes part. Ballot{} (counter 0) is below every ballot a proposer uses.
struct Ballot {
  int64_t counter = 0;
  MrscNodeId node = -1;

  bool operator<(const Ballot& o) const {
    return std::tie(counter, node) < std::tie(o.counter, o.node);
  }
  bool operator==(const Ballot& o) const { return counter == o.counter && node == o.node; }
  bool operator!=(const Ballot& o) const { return !(*this == o); }
  bool operator<=(const Ballot& o) const { return !(o < *this); }
  bool operator>(const Ballot& o) const { return o < *this; }
  bool operator>=(const Ballot& o) const { return !(*this < o); }
  bool is_zero() const { return counter == 0; }
};

// An item's value as the protocol sees it.
struct MrscValue {
  bool exists = false;
  std::string bytes;

  static MrscValue Absent() { return MrscValue{}; }
  static MrscValue Of(std::string b) { return MrscValue{true, std::move(b)}; }
  bool operator==(const MrscValue& o) const {
    return exists == o.exists && (!exists || bytes == o.bytes);
  }
  bool operator!=(const MrscValue& o) const { return !(*this == o); }
};

struct PrepareMsg {
  std::string key;
  Ballot ballot;
};

// The answer to a Prepare. ok: the acceptor promised `ballot` (a retransmission of the same
// ballot is promised again) and reports what it accepted last; not ok: it had promised or
// accepted `promised`, which is higher.
struct PromiseMsg {
  std::string key;
  Ballot ballot;  // the Prepare's
  bool ok = false;
  Ballot promised;
  Ballot accepted;
  MrscValue value;  // accepted with `accepted`
};

// Accept `value` at `ballot`. With `next` (the 1-RTT optimisation, CASPaxos 2.2.1): once
// accepted, also promise `next` - the Prepare of the proposer's next round on the key.
struct AcceptMsg {
  std::string key;
  Ballot ballot;
  MrscValue value;
  Ballot next;  // zero: no piggybacked prepare
};

struct AcceptedMsg {
  std::string key;
  Ballot ballot;  // the Accept's
  bool ok = false;
  Ballot promised;       // not ok: the higher ballot the acceptor promised
  bool next_ok = false;  // ok and the piggybacked `next` is promised
  // Not ok: the acceptor's accepted ballot. Below the Accept's ballot, the refusal proves this
  // acceptor never took that Accept; at or above it, an earlier copy of the same Accept may have
  // been taken (its answer lost) before the acceptor moved on.
  Ballot accepted;
};

// `value` was chosen at `ballot`: replicas apply it to their readable copy unless they hold a
// newer one. Asynchronous; a lost Commit is repaired by a later round or a catch-up.
struct CommitMsg {
  std::string key;
  Ballot ballot;
  MrscValue value;
};

// Catch-up (docs/MRSC.md): one page of the peer's items in key order, after `after_key`.
struct SyncRequest {
  uint64_t sync_id = 0;
  std::string after_key;  // empty: from the first item
  int limit = 256;
};

struct SyncEntry {
  std::string key;
  Ballot accepted;
  MrscValue accepted_value;
  Ballot committed;  // zero on a witness, which holds no readable copy
  MrscValue committed_value;
};

struct SyncPage {
  uint64_t sync_id = 0;
  std::string after_key;  // the request's
  std::vector<SyncEntry> entries;
  bool done = false;  // no item after the last entry
};

using MrscMessage =
    std::variant<PrepareMsg, PromiseMsg, AcceptMsg, AcceptedMsg, CommitMsg, SyncRequest, SyncPage>;

// Where a participant's messages go: the transport (the simulator's network, gRPC) delivers
// each to `to` - or loses, delays, duplicates or reorders it; the protocol tolerates all four.
class MrscOutbox {
 public:
  virtual ~MrscOutbox() = default;
  virtual void Send(MrscNodeId to, MrscMessage message) = 0;
};

}  // namespace gtsim
