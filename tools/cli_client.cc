#include "tools/cli_client.h"

#include <unistd.h>

#include "absl/synchronization/mutex.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {
namespace {

absl::Mutex secret_mu;
std::string* secret ABSL_GUARDED_BY(secret_mu) = new std::string;

}  // namespace

absl::Status RegionClient::UseSecretFile(const std::string& path) {
  std::string value;
  if (access(path.c_str(), F_OK) == 0) {
    auto read = ReadSecretFile(path);
    if (!read.ok()) return read.status();
    value = *read;
  }
  absl::MutexLock l(&secret_mu);
  *secret = value;
  return absl::OkStatus();
}

void RegionClient::AttachSecret(grpc::ClientContext* ctx) {
  absl::MutexLock l(&secret_mu);
  gtsim::AttachSecret(ctx, *secret);
}

RegionClient::RegionClient(const std::string& address)
    : channel_(grpc::CreateChannel(address, grpc::InsecureChannelCredentials())),
      api_(pb::RegionApi::NewStub(channel_)),
      admin_(pb::Admin::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> RegionClient::Context(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  AttachSecret(ctx.get());
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
