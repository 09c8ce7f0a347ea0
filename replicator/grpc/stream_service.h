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

#include "proto/gtsim/replication.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class StreamService final : public pb::Replication::Service {
 public:
  explicit StreamService(Region* region) : region_(region) {}

  grpc::Status Stream(grpc::ServerContext* ctx,
                      grpc::ServerReaderWriter<pb::ChangeBatch, pb::StreamRequest>* stream) override;

  // Replica bootstrap: streams the snapshot of one table to a new replica, chunk by chunk (one
  // chunk read per lock hold; HTTP/2 flow control paces it), each with this region's cut.
  grpc::Status Snapshot(grpc::ServerContext* ctx, const pb::SnapshotRequest* req,
                        grpc::ServerWriter<pb::SnapshotChunk>* writer) override;

  // Makes every open stream return promptly (before Server::Shutdown).
  void Stop() { stopping_ = true; }

 private:
  Region* region_;
  std::atomic<bool> stopping_{false};
};

}  // namespace gtsim
