#include "tools/cli_client.h"

#include "region/grpc/convert.h"

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

absl::StatusOr<pb::ReadStreamResponse> RegionClient::ReadStream(const std::string& table,
                                                                int64_t after_seq, int limit) {
  pb::ReadStreamRequest req;
  req.set_table(table);
  req.set_after_seq(after_seq);
  req.set_limit(limit);
  pb::ReadStreamResponse resp;
  grpc::Status s = api_->ReadStream(Context().get(), req, &resp);
  if (!s.ok()) return FromGrpc(s);
  return resp;
}

}  // namespace gtsim
