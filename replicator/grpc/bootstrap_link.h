// The new-replica side of a replica bootstrap over gRPC: a thread that watches the Region for
// bootstraps still loading (Region::PendingBootstraps), streams each table's snapshot from its
// source region (Replication.Snapshot) and loads every chunk through Region::LoadSnapshotChunk,
// one transaction per chunk; a second thread receives and decodes the next chunks while one
// loads. Progress is durable per chunk, so after any break - the source
// restarting, this process restarting, the network - it resumes after the last loaded key,
// keeping the cut recorded by the first chunk. Retries with backoff until the bootstrap is done
// or cancelled (the table removed or deleted).
//
// This type is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "proto/gtsim/replication.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class BootstrapLink {
 public:
  // `peers`: region name -> gRPC address of every other region.
  // `cluster_id`: as PeerLink's; a snapshot from another cluster is refused.
  BootstrapLink(Region* region, std::map<std::string, std::string> peers, std::string cluster_id,
                std::string secret);
  ~BootstrapLink();  // stops the thread

  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run();
  // Streams the rest of one snapshot; OK when its last chunk is loaded.
  absl::Status LoadOnce(const BootstrapState& b);
  bool SleepUnlessStopped(absl::Duration d) ABSL_LOCKS_EXCLUDED(mu_);

  Region* const region_;
  std::map<std::string, std::string> peers_;
  const std::string cluster_id_;
  const std::string secret_;
  std::map<std::string, std::unique_ptr<pb::Replication::Stub>> stubs_;  // Run's thread only
  std::thread thread_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* current_ ABSL_GUARDED_BY(mu_) = nullptr;
};

}  // namespace gtsim
