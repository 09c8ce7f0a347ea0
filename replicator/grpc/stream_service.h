// The origin side of replication over gRPC (proto/gtsim/replication.proto).
//
// Each subscriber holds one bidirectional stream: its first message says where it stands, later
// messages acknowledge what it has durably applied. The handler reads the change log by position
// and keeps one Write in flight, so HTTP/2 flow control slows a lagging subscriber without
// buffering the log in memory; when the log has nothing new it waits for the next commit (and
// sends a heartbeat every second so the subscriber sees the origin's head).
//
// Uses the synchronous gRPC API: one handler thread per subscriber plus one for its acks; a
// region has at most (regions - 1) subscribers, so threads are few and the code stays linear.
// This type is thread-safe.
#pragma once

#include <atomic>
#include <set>
#include <string>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "proto/gtsim/replication.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class StreamService final : public pb::Replication::Service {
 public:
  // `cluster_id`: this region's cluster (gtsim-region --cluster_id); a subscriber naming
  // another one is refused (PERMISSION_DENIED, and a log line naming both).
  // `secret`: the cluster's (region/grpc/cluster_secret.h); every call must carry it.
  StreamService(Region* region, std::string cluster_id, std::string secret)
      : region_(region), cluster_id_(std::move(cluster_id)), secret_(std::move(secret)) {}

  grpc::Status Stream(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<pb::ChangeBatch, pb::StreamRequest>* stream) override;

  // Replica bootstrap: streams the snapshot of one table to a new replica, chunk by chunk (one
  // chunk read per lock hold; HTTP/2 flow control paces it), each with this region's cut.
  grpc::Status Snapshot(grpc::ServerContext* ctx, const pb::SnapshotRequest* req,
                        grpc::ServerWriter<pb::SnapshotChunk>* writer) override;

  // Makes every open stream return promptly (before Server::Shutdown).
  void Stop() { stopping_ = true; }

 private:
  // OK, or PERMISSION_DENIED (logged) when `caller` of `their_cluster` is not of this cluster.
  grpc::Status CheckCluster(const std::string& caller, const std::string& their_cluster);

  Region* region_;
  const std::string cluster_id_;
  const std::string secret_;
  absl::Mutex log_mu_;
  std::set<std::pair<std::string, std::string>> refusals_logged_ ABSL_GUARDED_BY(log_mu_);
  std::atomic<bool> stopping_{false};
};

}  // namespace gtsim
