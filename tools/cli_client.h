// A client of one region's gRPC services (native API and admin), for the gtsim CLI and tests.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "proto/gtsim/admin.grpc.pb.h"
#include "proto/gtsim/region.grpc.pb.h"

namespace gtsim {

class RegionClient {
 public:
  explicit RegionClient(const std::string& address);

  pb::RegionApi::Stub& api() { return *api_; }
  pb::Admin::Stub& admin() { return *admin_; }
  // A fresh call context with a deadline, carrying the cluster's secret (UseSecretFile).
  static std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(10));

  // Every call this process makes from now on carries the secret in `path` (the cluster's
  // LocalCluster::secret_path(); region/grpc/cluster_secret.h). A missing file - a cluster
  // made before secrets - means no secret. Process-wide: a process talks to one cluster.
  // Thread-safe.
  static absl::Status UseSecretFile(const std::string& path);
  // Adds that secret to a context made elsewhere.
  static void AttachSecret(grpc::ClientContext* ctx);

  // One page of the region's stream of `table`: records with sequence > after_seq, at most
  // `limit` (0: the server's default). Resume from the response's next_after_seq. NotFound when
  // the table does not exist in the region.
  absl::StatusOr<pb::ReadStreamResponse> ReadStream(const std::string& table, int64_t after_seq,
                                                    int limit = 0);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::RegionApi::Stub> api_;
  std::unique_ptr<pb::Admin::Stub> admin_;
};

}  // namespace gtsim
