// The table definition members of CreateTable and UpdateTable (internal to region/http/):
// AttributeDefinitions, KeySchema members, global secondary indexes, ProvisionedThroughput, a
// ReplicaUpdates Update, and the settings both operations take (billing, SSE, stream, deletion
// protection, table class), read into the core's UpdateTableRequest with DynamoDB's messages.
// They check the request only; the core checks it against the table.
//
// Every function here is stateless and thread-safe; none throws.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "region/region.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// Index key attributes missing from AttributeDefinitions.
absl::Status UndefinedKeys(const std::vector<std::string>& keys,
                           const std::map<std::string, ValueType>& defs);
// AttributeDefinitions: name -> type (empty when absent).
absl::StatusOr<std::map<std::string, ValueType>> AttributeDefinitionsOf(const json& req);
// One KeySchema member at position `i` (0: the HASH key, 1: the RANGE key): its AttributeName,
// or DynamoDB's error. Shared by a table's and an index's KeySchema.
absl::StatusOr<std::string> KeySchemaMember(const json& k, size_t i);
// A GlobalSecondaryIndex (CreateTable) or a GlobalSecondaryIndexUpdates Create (UpdateTable):
// IndexName, KeySchema (its attributes typed by `defs`) and Projection; `where` is the member
// path for messages.
absl::StatusOr<std::pair<std::string, GsiSetting>> GsiOf(
    const json& g, const std::map<std::string, ValueType>& defs, const std::string& where);
// WarmThroughput {ReadUnitsPerSecond, WriteUnitsPerSecond} at member path `where` (e.g.
// "warmThroughput"): at least one, each at least 1. The core checks it only increases.
absl::Status WarmThroughputOf(const json& w, const std::string& where, std::optional<int64_t>* read,
                              std::optional<int64_t>* write);
// OnDemandThroughput {MaxReadRequestUnits, MaxWriteRequestUnits}: at least one (the core checks
// the values: at least 1, or -1 for no limit, and a PAY_PER_REQUEST table).
absl::Status OnDemandThroughputOf(const json& o, std::optional<int64_t>* read,
                                  std::optional<int64_t>* write);
// A Tags list (CreateTable, TagResource): keys 1-128 characters, values 0-256, no "aws:"
// prefix, at most 50 (defined in ddb_resources.cc).
absl::StatusOr<std::map<std::string, std::string>> TagsOf(const json& list);
// ProvisionedThroughput: both capacities, each at least 1.
absl::Status ThroughputOf(const json& pt, UpdateTableRequest* u);
// One ReplicaUpdates Update member: another replica's own settings (its read capacity override,
// table class, KMS key), as a request of its own (the caller checks it is not combined with
// anything else and not for the local region).
absl::StatusOr<UpdateTableRequest> ReplicaSettingsUpdateOf(const json& body, const TableSpec& spec);
// BillingMode + ProvisionedThroughput, SSESpecification, StreamSpecification,
// DeletionProtectionEnabled, TableClass, WarmThroughput and OnDemandThroughput of CreateTable
// (`current` null) or UpdateTable (the table's spec) as settings of `u`.
absl::Status TableSettingsOf(const json& req, const TableSpec* current, UpdateTableRequest* u);

}  // namespace gtsim::ddb
