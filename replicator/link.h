// The replication link between two regions, without a transport: the one protocol that the
// gRPC adapters (replicator/grpc/) and the deterministic simulator (sim/harness/simulation.cc) both
// run.
//
// One link carries the changes that originated at one region (the origin) to one other region
// (the receiver), as a stream the receiver opens:
//
//   receiver                                   origin
//   ReceiverStream::Subscribe()  -- Subscribe -->  OriginStream::Open()   (refusal: the stream
//   ends)
//                                <-- ChangeBatch --  OriginStream::Next()   (reclaim pages first,
//                                then
//   ReceiverStream::OnBatch()                                         changes; heartbeats when
//   idle)
//                                -- Ack ------------>  OriginStream::OnAck()
//
// - Subscribe says where the receiver stands: its durable cursor in the origin's log and which
//   log that is (a wiped origin comes back with a new log, and is then read from its start), the
//   origin's stamp at the cursor (so the origin can tell its own log rolled back), the table
//   incarnations the receiver holds (a new replica needs its table's changes from its snapshot
//   cut on), and whether the receiver lost its own log tail (reclaim: the origin first sends back
//   the receiver's own writes it holds).
// - Each batch is applied in one transaction with the cursor (Region::Apply); the receiver then
//   acknowledges the position. Anything lost in between is read again after the next
//   subscription, and loses LWW against itself.
// - A connection epoch (Subscription::epoch) makes batches of a connection older than a bootstrap
//   rewind harmless: they are refused, and the receiver subscribes again.
// - Any break (peer down, partition, a change for a table that has not arrived yet) ends the
//   stream; the receiver reconnects after ReconnectBackoff's delay and resumes from its cursor.
//
// The transport only moves these messages, enforces the cluster secret and supplies time.
// Thread-safety: each type here is thread-compatible, but not thread-safe (one per stream, used
// by one thread at a time); the regions behind the interfaces are called concurrently by many
// streams and must be thread-safe (Region is).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "model/change.h"
#include "replicator/link_delay.h"
#include "replicator/replicator_core.h"

namespace gtsim {

// Changes per batch: 512 -> 2048 took catch-up from 25 to 17 CPU us per change (BENCHMARKS.md).
inline constexpr int kLinkMaxBatch = 2048;
// An idle origin sends an empty batch this often, so the receiver learns its head (lag) and its
// stamp floor (tombstone trimming, Region::TrimTombstones).
inline constexpr int64_t kLinkHeartbeatUs = 1'000'000;

// What a receiver subscribes to an origin with, read atomically from its durable state
// (Region::SubscriptionFor).
struct Subscription {
  int64_t after_seq = 0;
  int64_t origin_log_id = 0;  // the origin log after_seq counts in (0: not known)
  std::vector<HeldTable> held;
  // Grows whenever a bootstrap rewinds the cursors; batches tagged with an older epoch
  // (ChangeBatch::subscription_epoch) are refused with Aborted, and the link subscribes again.
  int64_t epoch = 0;
  int64_t after_local_ts = 0;  // the origin's stamp at after_seq (ChangeBatch::through_local_ts)
  // After a log rollback here: ask the origin first for the writes of this region it holds with
  // a stamp newer than this (see ReplicatorCore::ReadReclaim).
  std::optional<int64_t> reclaim_after_ts;
};

// The first message of a stream, receiver -> origin.
struct SubscribeRequest {
  std::string subscriber;
  std::string cluster_id;
  Subscription at;  // epoch is the receiver's own and is not sent
};

// What the origin side of a link needs from its region (Region implements it).
class LinkOrigin {
 public:
  virtual ~LinkOrigin() = default;
  virtual const std::string& name() const = 0;
  virtual const std::vector<std::string>& peers() const = 0;
  virtual int64_t LogId() = 0;
  // See Region: the rollback check, where to serve from, the log and reclaim reads, acks.
  virtual absl::StatusOr<bool> CheckSubscriber(const std::string& subscriber, int64_t after_seq,
                                               int64_t after_local_ts, int64_t origin_log_id) = 0;
  virtual int64_t ServePositionFor(const std::string& subscriber, int64_t after_seq,
                                   int64_t origin_log_id) = 0;
  virtual absl::StatusOr<ChangeBatch> ReadFor(const std::string& subscriber, int64_t after_seq,
                                              int max_changes,
                                              const std::vector<HeldTable>& held) = 0;
  virtual absl::StatusOr<ChangeBatch> ReadReclaim(const std::string& requester, int64_t after_ts,
                                                  int64_t after_seq) = 0;
  virtual void RecordAck(const std::string& peer, int64_t applied_seq) = 0;
};

// What the receiving side of a link needs from its region (Region implements it).
class LinkReceiver {
 public:
  virtual ~LinkReceiver() = default;
  virtual const std::string& name() const = 0;
  virtual Subscription SubscriptionFor(const std::string& origin) = 0;
  virtual absl::StatusOr<ApplyReport> Apply(ChangeBatch batch) = 0;
  virtual absl::StatusOr<int> ApplyReclaimed(ChangeBatch batch) = 0;
  virtual void SetConnected(const std::string& origin, bool connected) = 0;
  // One direction of a partition: the receiver does not connect to a blocked origin.
  virtual bool IsBlocked(const std::string& origin) = 0;
  virtual LinkDelay InboundDelay(const std::string& origin) = 0;
};

// The origin side of one stream.
class OriginStream {
 public:
  // Accepts a subscription, or refuses it: PermissionDenied when the subscriber belongs to
  // another cluster (`cluster_id` is the origin's) or is not a peer; errors of the region's
  // checks. On success the subscriber's position is recorded as acknowledged, and when the
  // subscriber shows that this region's log rolled back, the region has started a new log
  // (CheckSubscriber) and this stream serves it from its start.
  // `max_changes`: per batch.
  static absl::StatusOr<OriginStream> Open(LinkOrigin* origin, const std::string& cluster_id,
                                           SubscribeRequest request,
                                           int max_changes = kLinkMaxBatch);

  // The next batch to send at `now_us`, or nullopt when there is nothing to send before
  // idle_until_us() (or a local change, whichever comes first): reclaim pages first when the
  // subscriber asked for them, then changes from its position, then a heartbeat once
  // kLinkHeartbeatUs passed without a batch. Aborted when the log restarted under a new id
  // since the stream opened (the subscriber must subscribe again); other errors of ReadFor.
  // Call Sent() once the transport has taken a returned batch.
  absl::StatusOr<std::optional<ChangeBatch>> Next(int64_t now_us);
  void Sent(int64_t now_us) { last_sent_us_ = now_us; }
  // When an idle stream must send its next heartbeat.
  int64_t idle_until_us() const { return last_sent_us_ + kLinkHeartbeatUs; }
  // The origin's head at the last read: wait for local changes beyond it.
  int64_t origin_head() const { return origin_head_; }
  // The subscriber durably applied everything up to `applied_seq`.
  void OnAck(int64_t applied_seq);
  const std::string& subscriber() const { return subscriber_; }

 private:
  OriginStream(LinkOrigin* origin, std::string subscriber)
      : origin_(origin), subscriber_(std::move(subscriber)) {}

  LinkOrigin* origin_;
  std::string subscriber_;
  int max_changes_ = kLinkMaxBatch;
  int64_t position_ = 0;
  std::vector<HeldTable> held_;
  int64_t serving_log_id_ = 0;
  std::optional<int64_t> reclaim_after_ts_;  // set until the reclaim pages are all sent
  int64_t reclaim_after_seq_ = 0;
  int64_t last_sent_us_ = INT64_MIN / 2;  // a heartbeat is due at once
  int64_t origin_head_ = 0;
};

// A batch held back by a link's simulated delay (replicator/link_delay.h): its changes come due
// one by one, in order, and are applied in slices - each slice what has come due by then.
class DelayedBatch {
 public:
  // Due at once when `due_us` is empty (no delay on the link).
  DelayedBatch(ChangeBatch batch, std::vector<int64_t> due_us)
      : batch_(std::move(batch)), due_us_(std::move(due_us)) {}
  bool done() const { return done_; }
  // When the next change comes due (0: now).
  int64_t next_due_us() const { return due_us_.empty() ? 0 : due_us_[next_]; }
  // The changes due by `now_us` (call only when next_due_us() <= now_us), as a batch of their own
  // whose scanned_through is its last change's position, or the whole batch's once the last one
  // is in (and only then its through_local_ts and stamp_floor, which hold at its end).
  ChangeBatch TakeDue(int64_t now_us);

 private:
  ChangeBatch batch_;
  std::vector<int64_t> due_us_;  // per change of batch_
  size_t next_ = 0;
  bool done_ = false;
};

// The receiving side of one stream.
class ReceiverStream {
 public:
  // `cluster_id`: the receiver's; batches from an origin of another cluster are refused.
  ReceiverStream(LinkReceiver* receiver, std::string origin, std::string cluster_id);

  // Reads the receiver's durable position; the first message of a new connection.
  SubscribeRequest Subscribe();

  // What the receiver does with a batch.
  struct Outcome {
    std::optional<int64_t> ack;  // acknowledge this position (the batch is durably applied)
    bool keep_going = true;      // false: end the stream and reconnect after a backoff
    // Why the stream ended, when the receiver should say so (a refused origin, a bad batch, an
    // unexpected apply error); empty for the expected breaks (partition, bootstrap rewind, a
    // table not arrived yet).
    std::string error;
  };
  // `cluster_id`: the cluster the batch's origin names. Applies the batch (or the reclaimed
  // writes it carries) through the receiver, tagged with this connection's epoch.
  Outcome OnBatch(ChangeBatch batch, const std::string& cluster_id);

  // The link's simulated delay on `batch` (LinkDelay, from the receiver): see DelayedBatch.
  DelayedBatch Delay(ChangeBatch batch, DueTimes* due);

  const std::string& origin() const { return origin_; }
  // The subscription epoch of the last Subscribe().
  int64_t epoch() const { return epoch_; }

 private:
  LinkReceiver* receiver_;
  std::string origin_;
  std::string cluster_id_;
  int64_t epoch_ = 0;
};

// When to reconnect after a stream breaks: from `min_us`, doubling per break up to `max_us`,
// back to `min_us` once a connection has lasted `stable_us`.
class ReconnectBackoff {
 public:
  ReconnectBackoff(int64_t min_us, int64_t max_us, int64_t stable_us)
      : min_us_(min_us), max_us_(max_us), stable_us_(stable_us), next_us_(min_us) {}
  void Connected(int64_t now_us) { connected_at_us_ = now_us; }
  // The stream broke (or could not connect) at `now_us`: how long to wait before trying again.
  int64_t Broke(int64_t now_us);

 private:
  int64_t min_us_, max_us_, stable_us_;
  int64_t next_us_;
  std::optional<int64_t> connected_at_us_;
};

}  // namespace gtsim
