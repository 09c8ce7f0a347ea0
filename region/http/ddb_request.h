// Request plumbing shared by the DynamoDB endpoint's operations (internal to region/http/):
// the statuses that carry DynamoDB's error types, the single place where a status becomes
// DynamoDB's error answer (ErrorFor), and readers of request members that answer DynamoDB's
// SerializationException / ValidationException messages for mistyped or invalid members.
//
// Every function here is stateless and thread-safe; none throws.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "region/http/dynamodb_endpoint.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// Status payloads: an explicit DynamoDB error name, and the old item of a failed condition.
inline constexpr absl::string_view kTypePayload = "gtsim/dynamodb-error-type";
inline constexpr absl::string_view kItemPayload = "gtsim/dynamodb-item";
// A JSON object whose members are added to the error body (e.g. CancellationReasons).
inline constexpr absl::string_view kExtraPayload = "gtsim/dynamodb-extra";

// --- errors ---------------------------------------------------------------------------------

// ValidationException with `message`.
absl::Status Validation(absl::string_view message);
// A status that maps to the DynamoDB error `type` whatever its code.
absl::Status Typed(absl::StatusCode code, absl::string_view type, absl::string_view message);
// SerializationException (a member of the wrong JSON type).
absl::Status Serialization(absl::string_view message);
// ValidationException "<what> is not supported yet by gtsim".
absl::Status NotSupported(absl::string_view what);
// DynamoDB's message for a required member that is missing ("tableName", "transactItems", ...).
absl::Status MissingMember(absl::string_view member);

// `j` as compact JSON (invalid UTF-8 replaced, never throws).
std::string Dump(const json& j);

// A PROVISIONED table's capacity (ProvisionedThroughputExceededException) or a PAY_PER_REQUEST
// table's OnDemandThroughput maximum (ThrottlingException) refused the request
// (TableEngine::ConsumeWriteCapacity / ConsumeReadCapacity).
bool IsThrottle(const absl::Status& status);

// The single place where absl status codes become DynamoDB errors (HTTP status and body).
DynamoDbEndpoint::Reply ErrorFor(const absl::Status& status);

// --- request members ------------------------------------------------------------------------

// Member `name` of `req`, or null when absent or JSON null.
const json* Field(const json& req, const char* name);
// Optional members of one JSON type: nullopt when absent, SerializationException when mistyped.
absl::StatusOr<std::optional<std::string>> OptString(const json& req, const char* name);
absl::StatusOr<std::optional<bool>> OptBool(const json& req, const char* name);
absl::StatusOr<std::optional<int64_t>> OptInt(const json& req, const char* name);
// An optional Limit parameter between 1 and `max`.
absl::StatusOr<std::optional<int64_t>> BoundedLimit(const json& req, int64_t max);

// Checks a table (or index) name against AWS's rules (3..255 characters of [a-zA-Z0-9_.-]);
// `member` names it in the message.
absl::Status CheckTableName(const std::string& name, const char* member = "tableName");
// DynamoDB's message for `value` of enum member `member` outside `values` ("A, B, C").
absl::Status EnumError(const std::string& value, absl::string_view member,
                       absl::string_view values);
// The request's TableName, present and valid.
absl::StatusOr<std::string> TableNameOf(const json& req);

}  // namespace gtsim::ddb
