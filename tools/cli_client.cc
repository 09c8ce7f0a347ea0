#include "tools/cli_client.h"

namespace gtsim {

RegionClient::RegionClient(const std::string& address)
    : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
      api_(pb::RegionApi::NewStub(channel_)),
      admin_(pb::Admin::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> RegionClient::Context(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return ctx;
}

}  // namespace gtsim
