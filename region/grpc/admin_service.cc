#include "region/grpc/admin_service.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {

grpc::Status AdminService::Ping(grpc::ServerContext* ctx, const pb::PingRequest*,
                                pb::PingResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  resp->set_region(region_->name());
  resp->set_pid(getpid());
  return grpc::Status::OK;
}

grpc::Status AdminService::Status(grpc::ServerContext* ctx, const pb::StatusRequest*,
                                  pb::StatusResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  auto status = region_->Status();
  if (!status.ok()) return ToGrpc(status.status());
  ToProto(*status, resp);
  return grpc::Status::OK;
}

grpc::Status AdminService::SetLinkDelay(grpc::ServerContext* ctx,
                                        const pb::SetLinkDelayRequest* req,
                                        pb::SetLinkDelayResponse*) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  const auto& peers = region_->peers();
  if (std::find(peers.begin(), peers.end(), req->origin()) == peers.end()) {
    return ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("\"", req->origin(), "\" is not a peer of region ", region_->name())));
  }
  if (req->delay_us() < 0 || req->jitter_us() < 0) {
    return ToGrpc(absl::InvalidArgumentError("a link delay and its jitter cannot be negative"));
  }
  LinkDelay d{req->delay_us(), req->jitter_us()};
  if (!req->distribution().empty() && !ParseLinkDistribution(req->distribution(), &d.distribution)) {
    return ToGrpc(absl::InvalidArgumentError(absl::StrCat(
        "unknown delay distribution \"", req->distribution(),
        "\"; use constant, uniform, normal or exponential")));
  }
  if (req->loss() < 0 || req->loss() >= 1 || req->bandwidth_bytes_per_s() < 0) {
    return ToGrpc(absl::InvalidArgumentError(
        "link loss must be in [0, 1) and bandwidth cannot be negative"));
  }
  d.loss = req->loss();
  d.bandwidth_bytes_per_s = req->bandwidth_bytes_per_s();
  region_->SetInboundDelay(req->origin(), d);
  return grpc::Status::OK;
}

grpc::Status AdminService::SetBlocked(grpc::ServerContext* ctx, const pb::SetBlockedRequest* req,
                                      pb::SetBlockedResponse*) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  const auto& peers = region_->peers();
  if (std::find(peers.begin(), peers.end(), req->peer()) == peers.end()) {
    return ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("\"", req->peer(), "\" is not a peer of region ", region_->name())));
  }
  region_->SetBlocked(req->peer(), req->blocked());
  return grpc::Status::OK;
}

grpc::Status AdminService::SetClockSkew(grpc::ServerContext* ctx,
                                        const pb::SetClockSkewRequest* req,
                                        pb::SetClockSkewResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  auto change = region_->SetClockSkew(req->skew_us());
  if (!change.ok()) return ToGrpc(change.status());
  resp->set_previous_skew_us(change->previous_skew_us);
  resp->set_last_stamp_us(change->last_stamp_us);
  resp->set_now_us(change->now_us);
  return grpc::Status::OK;
}

}  // namespace gtsim
