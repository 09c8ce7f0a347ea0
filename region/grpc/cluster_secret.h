// The per-cluster secret (issue 19 item 5): every call to a region's gRPC services - the native
// API, the admin API (partitions, clock skew) and replication - carries it as metadata, so
// another local user, who cannot read the cluster's 0600 secret file, can neither fault a cluster
// nor pull its tables. `gtsim up` draws it (DIR/secret) and gives each region --secret_file.
// The DynamoDB-compatible HTTP endpoint stays credential-free, as DynamoDB Local is.
//
// Thread-safe: pure functions.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace gtsim {

inline constexpr char kSecretMetadataKey[] = "x-gtsim-secret";

// OK when `expected` is empty (a region started by hand without --secret_file takes any call)
// or the call carries it; UNAUTHENTICATED otherwise (compared in constant time).
grpc::Status CheckSecret(const grpc::ServerContextBase& ctx, const std::string& expected);

// Adds `secret` to a call (nothing when it is empty).
void AttachSecret(grpc::ClientContext* ctx, const std::string& secret);

// The secret in `path` (its first line); PermissionDenied / NotFound naming the file.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace gtsim
