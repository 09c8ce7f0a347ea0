#include "region/grpc/cluster_secret.h"

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace gtsim {

grpc::Status CheckSecret(const grpc::ServerContextBase& ctx, const std::string& expected) {
  if (expected.empty()) return grpc::Status::OK;
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(kSecretMetadataKey);
  bool match = false;
  if (it != metadata.end() && it->second.size() == expected.size()) {
    unsigned char diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) diff |= it->second.data()[i] ^ expected[i];
    match = diff == 0;
  }
  if (match) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      "this region belongs to a gtsim cluster whose secret the call does not "
                      "carry (the secret is in the cluster folder's 'secret' file, readable by "
                      "its owner only)");
}

void AttachSecret(grpc::ClientContext* ctx, const std::string& secret) {
  if (!secret.empty()) ctx->AddMetadata(kSecretMetadataKey, secret);
}

absl::StatusOr<std::string> ReadSecretFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot read the cluster secret ", path, ": ", std::strerror(errno)));
  }
  std::string line;
  std::getline(in, line);
  line = std::string(absl::StripAsciiWhitespace(line));
  if (line.empty())
    return absl::NotFoundError(absl::StrCat("the cluster secret ", path, " is empty"));
  return line;
}

}  // namespace gtsim
