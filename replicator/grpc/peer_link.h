// The receiving side of replication from one peer over gRPC: a thread that keeps one stream open
// to the peer and runs the link's receiving side (ReceiverStream, replicator/link.h) on it:
// subscribe, apply each batch (data and cursor in one transaction), acknowledge it. While a
// stream is open a second thread reads ahead (at most 64 batches); the batches that arrived
// during one apply are merged and applied as one (one transaction and one ack, as if the origin
// had read them at once), so a busy receiver catches up instead of queueing small batches. On any
// break (peer down, partition, a change whose table has not arrived yet) it reconnects after
// ReconnectBackoff's delay and resumes from the durable cursor. A simulated network delay
// (Region::SetInboundDelay) holds each change back until it is due.
//
// This type is thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "proto/gtsim/replication.grpc.pb.h"
#include "region/region.h"
#include "replicator/link.h"

namespace gtsim {

class PeerLink {
 public:
  // `cluster_id`: this region's cluster. Batches from an origin of another cluster (another gtsim
  // cluster on this peer's address) are refused and logged, never applied.
  // `secret`: carried by every call (region/grpc/cluster_secret.h).
  PeerLink(Region* region, std::string origin, std::string address, std::string cluster_id,
           std::string secret);
  ~PeerLink();  // stops the thread

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();
  // One stream's life; returns when it breaks.
  void StreamOnce();
  bool SleepUnlessStopped(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);
  // Applies a batch through the receiving stream once its changes are due under the link's
  // simulated delay, and acknowledges each applied slice; false when the stream must be
  // re-established.
  bool ApplyWhenDue(ChangeBatch batch, const std::string& cluster_id, DueTimes* due,
                    const std::function<bool(int64_t)>& ack);

  // Logs `message` unless it is the same as the last one logged (a refused peer retries).
  void LogOnce(const std::string& message);

  Region* const region_;
  const std::string origin_;
  const std::string address_;
  const std::string secret_;
  ReceiverStream receiver_;  // Run's thread only
  std::string last_logged_;  // Run's thread only
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::Replication::Stub> stub_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace gtsim
