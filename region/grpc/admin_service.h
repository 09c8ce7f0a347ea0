// Operator controls of one region (proto/gtsim/admin.proto): liveness, replication status and
// metrics, and fault injection (cut replication from a peer, skew the write clock).
// This type is thread-safe.
#pragma once

#include <string>

#include "proto/gtsim/admin.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class AdminService final : public pb::Admin::Service {
 public:
  // `secret`: the cluster's (region/grpc/cluster_secret.h); every call must carry it.
  AdminService(Region* region, std::string secret) : region_(region), secret_(std::move(secret)) {}

  grpc::Status Ping(grpc::ServerContext*, const pb::PingRequest*, pb::PingResponse*) override;
  grpc::Status Status(grpc::ServerContext*, const pb::StatusRequest*,
                      pb::StatusResponse*) override;
  grpc::Status SetBlocked(grpc::ServerContext*, const pb::SetBlockedRequest*,
                          pb::SetBlockedResponse*) override;
  grpc::Status SetClockSkew(grpc::ServerContext*, const pb::SetClockSkewRequest*,
                            pb::SetClockSkewResponse*) override;
  grpc::Status SetLinkDelay(grpc::ServerContext*, const pb::SetLinkDelayRequest*,
                            pb::SetLinkDelayResponse*) override;

 private:
  Region* region_;
  const std::string secret_;
};

}  // namespace gtsim
