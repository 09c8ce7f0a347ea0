// The origin side of replication over gRPC (proto/gtsim/replication.proto).
//
// Each subscriber holds one bidirectional stream: its first message says where it stands, later
// messages acknowledge what it has durably applied. The stream reads the change log by position
// (OriginStream, replicator/link.h) and keeps one Write in flight, so HTTP/2 flow control slows a
// lagging subscriber without buffering the log in memory; when the log has nothing new it idles
// until the next local commit (and sends a heartbeat every kLinkHeartbeatUs so the subscriber
// sees the origin's head).
//
// Stream uses gRPC's callback API (a ServerBidiReactor per stream): no thread is parked per
// subscriber. A stream with a backlog reads its next batch as soon as the previous Write
// completes, on the gRPC thread that reports it; acknowledgements are applied as they are read.
// One notifier thread per service waits for the region's local commits
// (Region::WaitForChanges) and for due heartbeats, and wakes the idle streams. Snapshot
// (replica bootstrap: rare, bulk, one call per new replica) stays on the synchronous API.
//
// This type is thread-safe.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "proto/gtsim/replication.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class StreamService final
    : public pb::Replication::WithCallbackMethod_Stream<pb::Replication::Service> {
 public:
  // `cluster_id`: this region's cluster (gtsim-region --cluster_id); a subscriber naming
  // another one is refused (PERMISSION_DENIED, and a log line naming both).
  // `secret`: the cluster's (region/grpc/cluster_secret.h); every call must carry it.
  // Starts the notifier thread.
  StreamService(Region* region, std::string cluster_id, std::string secret);
  // Stops (see Stop). Destroy only after the server serving this service has shut down.
  ~StreamService() override;

  grpc::ServerBidiReactor<pb::StreamRequest, pb::ChangeBatch>* Stream(
      grpc::CallbackServerContext* ctx) override;

  // Replica bootstrap: streams the snapshot of one table to a new replica, chunk by chunk (one
  // chunk read per lock hold; HTTP/2 flow control paces it), each with this region's cut.
  grpc::Status Snapshot(grpc::ServerContext* ctx, const pb::SnapshotRequest* req,
                        grpc::ServerWriter<pb::SnapshotChunk>* writer) override;

  // Finishes every open stream (once its Write in flight completes), refuses new ones
  // (UNAVAILABLE) and stops the notifier; call before Server::Shutdown. Idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(streams_mu_);

  // Streams subscribed and not yet finished (for tests and status).
  int OpenStreams() ABSL_LOCKS_EXCLUDED(streams_mu_);

 private:
  class Reactor;

  // OK, or PERMISSION_DENIED (logged) when `caller` of `their_cluster` is not of this cluster.
  grpc::Status CheckCluster(const std::string& caller, const std::string& their_cluster);
  // A reactor that subscribed joins the notifier's set; false (not added) once stopping.
  bool Register(Reactor* r) ABSL_LOCKS_EXCLUDED(streams_mu_);
  void Unregister(Reactor* r) ABSL_LOCKS_EXCLUDED(streams_mu_);
  // The notifier thread: wakes idle streams after local commits and when heartbeats are due.
  void NotifierLoop();

  Region* region_;
  const std::string cluster_id_;
  const std::string secret_;
  absl::Mutex log_mu_;
  std::set<std::pair<std::string, std::string>> refusals_logged_ ABSL_GUARDED_BY(log_mu_);
  absl::Mutex streams_mu_;
  std::set<Reactor*> streams_ ABSL_GUARDED_BY(streams_mu_);
  std::atomic<bool> stopping_{false};  // set under streams_mu_ (Register checks it there)
  std::atomic<bool> notifier_stop_{false};
  std::thread notifier_;
};

}  // namespace gtsim
