// DynamoDB's error answers and request-member readers (see ddb_request.h).

#include "region/http/ddb_request.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/status_macros.h"

namespace gtsim::ddb {

absl::Status Validation(absl::string_view message) { return absl::InvalidArgumentError(message); }

// A status that maps to the DynamoDB error `type` whatever its code.
absl::Status Typed(absl::StatusCode code, absl::string_view type, absl::string_view message) {
  absl::Status s(code, message);
  s.SetPayload(kTypePayload, absl::Cord(type));
  return s;
}

absl::Status Serialization(absl::string_view message) {
  return Typed(absl::StatusCode::kInvalidArgument, "SerializationException", message);
}
absl::Status NotSupported(absl::string_view what) {
  return Validation(absl::StrCat(what, " is not supported yet by gtsim"));
}

// DynamoDB's message for a required member that is missing ("tableName", "transactItems", ...).
absl::Status MissingMember(absl::string_view member) {
  return Validation(absl::StrCat("1 validation error detected: Value null at '", member,
                                 "' failed to satisfy constraint: Member must not be null"));
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// A PROVISIONED table's capacity refused the request (TableEngine::ConsumeWriteCapacity /
// ConsumeReadCapacity): ProvisionedThroughputExceededException.
bool IsThrottle(const absl::Status& status) {
  return absl::IsResourceExhausted(status) &&
         (absl::StartsWith(status.message(), "ProvisionedThroughputExceededException") ||
          absl::StartsWith(status.message(), "ThrottlingException"));
}

// The single place where absl status codes become DynamoDB errors.
DynamoDbEndpoint::Reply ErrorFor(const absl::Status& status) {
  std::string type;
  int http = 400;
  std::string message(status.message());
  if (auto t = status.GetPayload(kTypePayload)) {
    type = std::string(*t);
  } else {
    switch (status.code()) {
      case absl::StatusCode::kInvalidArgument:
      case absl::StatusCode::kOutOfRange:
        type = "ValidationException";
        break;
      case absl::StatusCode::kNotFound:
        type = "ResourceNotFoundException";
        // DynamoDB names the table in control-plane answers only ("Requested resource not
        // found: Table: T not found"); item operations say "Requested resource not found".
        message = message.empty() ? "Requested resource not found"
                                  : absl::StrCat("Requested resource not found: ", message);
        break;
      case absl::StatusCode::kAlreadyExists:
        type = "ResourceInUseException";
        break;
      case absl::StatusCode::kFailedPrecondition:
        type = "ConditionalCheckFailedException";
        break;
      case absl::StatusCode::kResourceExhausted:
        // A PROVISIONED table's capacity (IsThrottle); any other (a full disk) is internal.
        if (IsThrottle(status) && absl::StartsWith(status.message(), "ThrottlingException")) {
          // A PAY_PER_REQUEST table's OnDemandThroughput maximum (the text is gtsim's).
          type = "ThrottlingException";
          message =
              "Throughput exceeds the maximum OnDemandThroughput (MaxReadRequestUnits / "
              "MaxWriteRequestUnits) configured for the table.";
        } else if (IsThrottle(status)) {
          type = "ProvisionedThroughputExceededException";
          message =
              "The level of configured provisioned throughput for the table was exceeded. "
              "Consider increasing your provisioning level with the UpdateTable API.";
        } else {
          type = "InternalServerError";
          http = 500;
        }
        break;
      case absl::StatusCode::kUnimplemented:
        type = "UnknownOperationException";
        break;
      case absl::StatusCode::kUnavailable:
        type = "ServiceUnavailable";
        http = 503;
        break;
      default:
        type = "InternalServerError";
        http = 500;
        break;
    }
  }
  // The AWS service framework ("coral") names these two; the others are DynamoDB's own.
  std::string prefix = (type == "SerializationException" || type == "UnknownOperationException")
                           ? "com.amazon.coral.service#"
                           : "com.amazonaws.dynamodb.v20120810#";
  json body = {{"__type", prefix + type}, {"message", message}};
  if (auto item = status.GetPayload(kItemPayload)) {
    json parsed = json::parse(std::string(*item), nullptr, false);
    if (!parsed.is_discarded()) body["Item"] = parsed;
  }
  if (auto extra = status.GetPayload(kExtraPayload)) {
    json parsed = json::parse(std::string(*extra), nullptr, false);
    if (parsed.is_object()) {
      for (auto& [k, v] : parsed.items()) body[k] = v;
    }
  }
  return {http, Dump(body)};
}

const json* Field(const json& req, const char* name) {
  auto it = req.find(name);
  if (it == req.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::optional<std::string>> OptString(const json& req, const char* name) {
  const json* f = Field(req, name);
  if (!f) return std::optional<std::string>();
  if (!f->is_string()) {
    return Serialization(
        absl::StrCat("Unexpected value type in payload: ", name, " must be a string"));
  }
  return std::optional<std::string>(f->get_ref<const std::string&>());
}

absl::StatusOr<std::optional<bool>> OptBool(const json& req, const char* name) {
  const json* f = Field(req, name);
  if (!f) return std::optional<bool>();
  if (!f->is_boolean()) {
    return Serialization(
        absl::StrCat("Unexpected value type in payload: ", name, " must be a boolean"));
  }
  return std::optional<bool>(f->get<bool>());
}

absl::StatusOr<std::optional<int64_t>> OptInt(const json& req, const char* name) {
  const json* f = Field(req, name);
  if (!f) return std::optional<int64_t>();
  if (!f->is_number_integer()) {
    return Serialization(
        absl::StrCat("Unexpected value type in payload: ", name, " must be an integer"));
  }
  return std::optional<int64_t>(f->get<int64_t>());
}

// An optional Limit parameter between 1 and `max`.
absl::StatusOr<std::optional<int64_t>> BoundedLimit(const json& req, int64_t max) {
  ASSIGN_OR_RETURN(auto limit, OptInt(req, "Limit"));
  if (limit && (*limit < 1 || *limit > max)) {
    return Validation(absl::StrCat(
        "1 validation error detected: Value '", *limit,
        "' at 'limit' failed to satisfy constraint: Member must have value ",
        *limit < 1 ? "greater than or equal to 1" : absl::StrCat("less than or equal to ", max)));
  }
  return limit;
}

// Checks a table name against AWS's rules (3..255 characters of [a-zA-Z0-9_.-]).
absl::Status CheckTableName(const std::string& name, const char* member) {
  std::vector<std::string> errors;
  if (name.size() < 3) {
    errors.push_back(absl::StrCat("Value '", name, "' at '", member,
                                  "' failed to satisfy constraint: Member must have length "
                                  "greater than or equal to 3"));
  }
  if (name.size() > 255) {
    errors.push_back(absl::StrCat("Value '", name, "' at '", member,
                                  "' failed to satisfy constraint: Member must have length "
                                  "less than or equal to 255"));
  }
  bool charset_ok = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
  if (!charset_ok) {
    errors.push_back(absl::StrCat("Value '", name, "' at '", member,
                                  "' failed to satisfy constraint: Member must satisfy regular "
                                  "expression pattern: [a-zA-Z0-9_.-]+"));
  }
  if (errors.empty()) return absl::OkStatus();
  return Validation(absl::StrCat(errors.size(), " validation error", errors.size() > 1 ? "s" : "",
                                 " detected: ", absl::StrJoin(errors, "; ")));
}

absl::Status EnumError(const std::string& value, absl::string_view member,
                       absl::string_view values) {
  return Validation(absl::StrCat("1 validation error detected: Value '", value, "' at '", member,
                                 "' failed to satisfy constraint: Member must satisfy enum value "
                                 "set: [",
                                 values, "]"));
}

absl::StatusOr<std::string> TableNameOf(const json& req) {
  ASSIGN_OR_RETURN(auto name, OptString(req, "TableName"));
  if (!name) {
    return MissingMember("tableName");
  }
  RETURN_IF_ERROR(CheckTableName(*name));
  return *name;
}

}  // namespace gtsim::ddb
