#include "region/http/dynamodb_endpoint.h"


#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <cctype>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/strip.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "region/expression.h"
#include "region/http/http_server.h"
#include "region/item_json.h"
#include "region/key_codec.h"
#include "region/status_macros.h"

namespace gtsim {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kTargetPrefix = "DynamoDB_20120810.";
constexpr absl::string_view kStreamsTargetPrefix = "DynamoDBStreams_20120810.";
// Status payloads: an explicit DynamoDB error name, and the old item of a failed condition.
constexpr absl::string_view kTypePayload = "gtsim/dynamodb-error-type";
constexpr absl::string_view kItemPayload = "gtsim/dynamodb-item";
// A JSON object whose members are added to the error body (e.g. CancellationReasons).
constexpr absl::string_view kExtraPayload = "gtsim/dynamodb-extra";
constexpr int kMaxBatchWrite = 25;
constexpr int kMaxBatchGet = 100;
constexpr size_t kMaxTransactItems = 100;
constexpr int64_t kMaxBatchGetBytes = 16 << 20;  // a BatchGetItem answer's limit
constexpr int64_t kMaxTransactBytes = 4 << 20;   // the items of one TransactWriteItems
// UpdateTable's ReplicaUpdates rules, as DynamoDB words them.
constexpr absl::string_view kReplicaUpdatesAlone =
    "One or more parameter values were invalid: ReplicaUpdates cannot be combined with other "
    "changes in one UpdateTable request";
constexpr absl::string_view kOneReplicaPerRequest =
    "One or more parameter values were invalid: Only one replica can be created, updated or "
    "deleted per UpdateTable request";
constexpr absl::string_view kNotLocalRegion =
    "Cannot add, delete, or update the local region through ReplicaUpdates. Use CreateTable, "
    "DeleteTable, or UpdateTable as required.";
constexpr int64_t kMaxPageBytes = 1 << 20;       // what one Query or Scan page reads

// --- errors -------------------------------------------------------------------------------

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
         absl::StartsWith(status.message(), "ProvisionedThroughputExceededException");
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
        if (IsThrottle(status)) {
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

// --- request fields -----------------------------------------------------------------------

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
absl::Status CheckTableName(const std::string& name, const char* member = "tableName") {
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

absl::StatusOr<std::string> TableNameOf(const json& req) {
  ASSIGN_OR_RETURN(auto name, OptString(req, "TableName"));
  if (!name) {
    return MissingMember("tableName");
  }
  RETURN_IF_ERROR(CheckTableName(*name));
  return *name;
}

// DynamoDB's checks of one attribute value as sent, with its messages, before conversion.
absl::Status CheckNumberText(const std::string& text) {
  if (CanonicalNumber(text).ok()) return absl::OkStatus();
  // Which rule it broke: syntax, precision, or range.
  size_t i = 0, digits = 0;
  bool syntax = !text.empty();
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t mantissa_start = i;
  bool seen_dot = false;
  std::string significant;
  for (; i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) ||
                             (text[i] == '.' && !seen_dot));
       ++i) {
    if (text[i] == '.') {
      seen_dot = true;
    } else {
      ++digits;
      significant.push_back(text[i]);
    }
  }
  if (digits == 0 || i == mantissa_start) syntax = false;
  if (syntax && i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') {
      syntax = false;
    } else {
      ++i;
      if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
      size_t exp_digits = 0;
      for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        ++exp_digits;
      }
      if (exp_digits == 0 || i != text.size()) syntax = false;
    }
  }
  if (!syntax) return Validation("A value provided cannot be converted into a number");
  size_t first = significant.find_first_not_of('0');
  size_t last = significant.find_last_not_of('0');
  if (first != std::string::npos && last - first + 1 > 38) {
    return Validation("Attempting to store more than 38 significant digits in a Number");
  }
  double v = std::strtod(text.c_str(), nullptr);
  if (std::fabs(v) >= 1) {
    return Validation(
        "Number overflow. Attempting to store a number with magnitude larger than supported "
        "range");
  }
  return Validation(
      "Number underflow. Attempting to store a number with magnitude smaller than supported "
      "range");
}

// `depth` counts the maps and lists `v` sits in; DynamoDB allows 32 levels of them.
absl::Status CheckValueJson(const json& v, int depth = 0) {
  if (!v.is_object()) {
    return Serialization("Unexpected value type in payload: an AttributeValue must be a map");
  }
  if (v.empty()) {
    return Validation(
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
  }
  if (v.size() > 1) {
    return Validation(
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
        "the supported datatypes");
  }
  const std::string& type = v.begin().key();
  const json& x = v.begin().value();
  if (type == "N" && x.is_string()) return CheckNumberText(x.get_ref<const std::string&>());
  if ((type == "SS" || type == "NS" || type == "BS") && x.is_array()) {
    if (x.empty()) {
      const char* kind = type == "SS" ? "string" : type == "NS" ? "number" : "binary";
      return Validation(absl::StrCat(
          "One or more parameter values were invalid: An ", kind, " set  may not be empty"));
    }
    std::vector<std::string> members;
    for (const json& m : x) {
      if (!m.is_string()) break;  // ItemFromJson reports it
      if (type == "NS") RETURN_IF_ERROR(CheckNumberText(m.get_ref<const std::string&>()));
      members.push_back(type == "NS" ? CanonicalNumber(m.get<std::string>()).value()
                                     : m.get<std::string>());
    }
    std::vector<std::string> sorted = members;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      std::vector<std::string> shown;
      for (const json& m : x) shown.push_back(m.is_string() ? m.get<std::string>() : m.dump());
      return Validation(absl::StrCat("One or more parameter values were invalid: Input collection [",
                                     absl::StrJoin(shown, ", "), "] contains duplicates."));
    }
    return absl::OkStatus();
  }
  if ((type == "M" || type == "L") && depth >= 32) {
    return Validation("Nesting Levels have exceeded supported limits");
  }
  if (type == "M" && x.is_object()) {
    for (const auto& [k, e] : x.items()) RETURN_IF_ERROR(CheckValueJson(e, depth + 1));
  }
  if (type == "L" && x.is_array()) {
    for (const json& e : x) RETURN_IF_ERROR(CheckValueJson(e, depth + 1));
  }
  return absl::OkStatus();
}

// An item, key or attribute map from a request: DynamoDB's checks, then conversion.
absl::StatusOr<Item> DdbItemFromJson(const json& object) {
  if (object.is_object()) {
    for (const auto& [name, v] : object.items()) RETURN_IF_ERROR(CheckValueJson(v));
  }
  return ItemFromJson(object);
}

absl::StatusOr<Item> ItemField(const json& req, const char* name, bool required) {
  const json* f = Field(req, name);
  if (!f) {
    if (!required) return Item{};
    return MissingMember(name);
  }
  if (!f->is_object()) {
    return Serialization(absl::StrCat("Unexpected value type in payload: ", name,
                                      " must be a map of attribute values"));
  }
  return DdbItemFromJson(*f);
}

// Rejects legacy (pre-expression) parameters, which gtsim does not implement.
absl::Status RejectLegacy(const json& req, std::initializer_list<const char*> names) {
  for (const char* n : names) {
    if (Field(req, n)) {
      return NotSupported(
          absl::StrCat("The legacy parameter ", n, " (use the expression parameters instead)"));
    }
  }
  return absl::OkStatus();
}

// --- expressions --------------------------------------------------------------------------

// The placeholder maps of one request, and the context that tracks their use.
struct Placeholders {
  std::map<std::string, std::string> names;
  std::map<std::string, AttributeValue> values;
  bool has_names = false;
  bool has_values = false;
  expr::ExpressionContext ctx;
};

absl::Status ReadPlaceholders(const json& req, Placeholders* p) {
  if (const json* n = Field(req, "ExpressionAttributeNames")) {
    if (!n->is_object()) {
      return Serialization(
          "Unexpected value type in payload: ExpressionAttributeNames must be a map");
    }
    for (const auto& [k, v] : n->items()) {
      if (!v.is_string()) {
        return Serialization(
            "Unexpected value type in payload: ExpressionAttributeNames values must be strings");
      }
      p->names[k] = v.get_ref<const std::string&>();
    }
    p->has_names = true;
  }
  if (const json* v = Field(req, "ExpressionAttributeValues")) {
    if (!v->is_object()) {
      return Serialization(
          "Unexpected value type in payload: ExpressionAttributeValues must be a map");
    }
    for (const auto& [k, val] : v->items()) {
      RETURN_IF_ERROR(CheckValueJson(val));
      ASSIGN_OR_RETURN(AttributeValue av, ValueFromJson(val, k));
      p->values[k] = std::move(av);
    }
    p->has_values = true;
  }
  p->ctx.names = p->has_names ? &p->names : nullptr;
  p->ctx.values = p->has_values ? &p->values : nullptr;
  return expr::ValidateContext(p->ctx);
}

// DynamoDB's messages for placeholders given to a request without any expression.
absl::Status CheckPlaceholdersWithoutExpressions(const Placeholders& p, bool any_expression) {
  if (any_expression) return absl::OkStatus();
  if (p.has_names) {
    return Validation("ExpressionAttributeNames can only be specified when using expressions");
  }
  if (p.has_values) {
    return Validation("ExpressionAttributeValues can only be specified when using expressions");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<expr::Condition>> OptCondition(const json& req, const char* name,
                                                            expr::ExpressionKind kind,
                                                            Placeholders* p) {
  ASSIGN_OR_RETURN(auto text, OptString(req, name));
  if (!text) return std::optional<expr::Condition>();
  ASSIGN_OR_RETURN(expr::Condition c, expr::ParseCondition(*text, &p->ctx, kind));
  return std::optional<expr::Condition>(std::move(c));
}

absl::StatusOr<std::optional<expr::Projection>> OptProjection(const json& req, Placeholders* p) {
  ASSIGN_OR_RETURN(auto text, OptString(req, "ProjectionExpression"));
  if (!text) return std::optional<expr::Projection>();
  ASSIGN_OR_RETURN(expr::Projection proj, expr::ParseProjection(*text, &p->ctx));
  return std::optional<expr::Projection>(std::move(proj));
}

absl::StatusOr<bool> Holds(const std::optional<expr::Condition>& c,
                           const std::optional<Item>& item) {
  if (!c) return true;
  return expr::Evaluate(*c, item ? &*item : nullptr);
}

// The ConditionalCheckFailedException of a write, with the old item when asked for.
absl::Status ConditionFailed(bool return_old, const std::optional<Item>& current) {
  absl::Status s = absl::FailedPreconditionError("The conditional request failed");
  if (return_old && current) s.SetPayload(kItemPayload, absl::Cord(Dump(ItemToJson(*current))));
  return s;
}

absl::StatusOr<bool> ReturnOldOnConditionFailure(const json& req) {
  ASSIGN_OR_RETURN(auto v, OptString(req, "ReturnValuesOnConditionCheckFailure"));
  if (!v || *v == "NONE") return false;
  if (*v == "ALL_OLD") return true;
  return Validation(absl::StrCat(
      "1 validation error detected: Value '", *v,
      "' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must "
      "satisfy enum value set: [ALL_OLD, NONE]"));
}

// --- tables -------------------------------------------------------------------------------

const char* TypeName(ValueType t) { return ValueTypeName(t); }

// --- streams naming -----------------------------------------------------------------------
// Every table's stream is this region's change log filtered to the table's current incarnation,
// with one shard. Its label is the table's creation time, so a table deleted and created again
// gets a new stream ARN and iterators of the old one fail with ResourceNotFoundException.

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string StreamLabel(const TableSpec& spec) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::FromUnixMicros(spec.created.ts_us),
                          absl::UTCTimeZone());
}
std::string TableArn(const std::string& region, const std::string& table) {
  return absl::StrCat("arn:aws:dynamodb:", region, ":000000000000:table/", table);
}
std::string StreamArn(const std::string& region, const TableSpec& spec) {
  return absl::StrCat(TableArn(region, spec.name), "/stream/", StreamLabel(spec));
}
std::string ShardId(const TableSpec& spec) {
  std::string ts = std::to_string(spec.created.ts_us);
  if (ts.size() < 20) ts.insert(0, 20 - ts.size(), '0');
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x",
                static_cast<unsigned>(Fnv1a(spec.name + "/" + spec.created.region) & 0xffffffffu));
  return absl::StrCat("shardId-", ts, "-", hex);
}
// Stream sequence numbers are change-log positions, zero-padded to DynamoDB's 21 digits.
std::string SequenceNumber(int64_t seq) {
  std::string n = std::to_string(seq);
  if (n.size() < 21) n.insert(0, 21 - n.size(), '0');
  return n;
}

// The stream view type of a table: its StreamSpecification's, or NEW_AND_OLD_IMAGES (what
// gtsim's change log always serves) for a table whose stream was never enabled explicitly.
std::string StreamViewOf(const TableSpec& spec) { return StreamViewTypeOf(spec); }

json KeySchemaJson(const KeyDef& hash, const std::optional<KeyDef>& range) {
  json ks = json::array();
  ks.push_back({{"AttributeName", hash.name}, {"KeyType", "HASH"}});
  if (range) ks.push_back({{"AttributeName", range->name}, {"KeyType", "RANGE"}});
  return ks;
}

// DynamoDB's TableDescription of `info` as this region sees it. `status` overrides TableStatus
// (DELETING); by default it is the spec's (UPDATING while a replica is added or removed).
json TableDescription(const TableInfo& info, const std::string& region,
                      const char* status = nullptr) {
  const TableSpec& spec = info.spec;
  std::map<std::string, ValueType> attr_types{{spec.hash_key.name, spec.hash_key.type}};
  if (spec.range_key) attr_types[spec.range_key->name] = spec.range_key->type;
  json gsis = json::array();
  for (const auto& [name, g] : spec.gsis) {
    if (g.deleted) continue;
    attr_types[g.hash_key.name] = g.hash_key.type;
    if (g.range_key) attr_types[g.range_key->name] = g.range_key->type;
    json projection = {{"ProjectionType", g.projection}};
    if (!g.non_key.empty()) projection["NonKeyAttributes"] = g.non_key;
    auto st = info.index_status.find(name);
    std::string index_status = st == info.index_status.end() ? "ACTIVE" : st->second;
    json d = {{"IndexName", name},
              {"KeySchema", KeySchemaJson(g.hash_key, g.range_key)},
              {"Projection", projection},
              {"IndexStatus", index_status},
              {"ProvisionedThroughput",
               {{"NumberOfDecreasesToday", 0},
                {"ReadCapacityUnits", spec.billing.read_capacity},
                {"WriteCapacityUnits", spec.billing.write_capacity}}},
              {"IndexSizeBytes", 0},
              {"ItemCount", 0},
              {"IndexArn", absl::StrCat(TableArn(region, spec.name), "/index/", name)}};
    if (index_status == "CREATING") d["Backfilling"] = true;
    gsis.push_back(std::move(d));
  }
  json attrs = json::array();
  for (const auto& [name, type] : attr_types) {
    attrs.push_back({{"AttributeName", name}, {"AttributeType", TypeName(type)}});
  }
  std::string table_status = status ? status : spec.TableStatus();
  if (!status && spec.ReplicaStatus(region) == "CREATING") table_status = "CREATING";
  json table = {
      {"TableName", spec.name},
      {"TableArn", TableArn(region, spec.name)},
      {"TableId", absl::StrCat(spec.created.region, "-", spec.created.ts_us)},
      {"TableStatus", table_status},
      {"KeySchema", KeySchemaJson(spec.hash_key, spec.range_key)},
      {"AttributeDefinitions", attrs},
      {"ItemCount", info.item_count},
      {"TableSizeBytes", 0},
      {"CreationDateTime", static_cast<double>(spec.created.ts_us) / 1e6},
      {"ProvisionedThroughput",
       {{"NumberOfDecreasesToday", 0},
        {"ReadCapacityUnits", spec.billing.read_capacity},
        {"WriteCapacityUnits", spec.billing.write_capacity}}},
      {"BillingModeSummary", {{"BillingMode", spec.billing.mode}}},
      {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", StreamViewOf(spec)}}},
      {"LatestStreamArn", StreamArn(region, spec)},
      {"LatestStreamLabel", StreamLabel(spec)},
  };
  if (!gsis.empty()) table["GlobalSecondaryIndexes"] = std::move(gsis);
  bool deletion_protection = false;
  if (auto rs = spec.replica_settings.find(region); rs != spec.replica_settings.end()) {
    deletion_protection = rs->second.deletion_protection;
    if (!rs->second.table_class.empty()) {
      table["TableClassSummary"] = {{"TableClass", rs->second.table_class}};
    }
  }
  table["DeletionProtectionEnabled"] = deletion_protection;
  if (!spec.sse.type.empty()) {
    json sse = {{"Status", "ENABLED"}, {"SSEType", spec.sse.type}};
    if (spec.sse.type == "KMS") {
      std::string key = "alias/aws/dynamodb";
      if (auto rs = spec.replica_settings.find(region);
          rs != spec.replica_settings.end() && !rs->second.kms_key.empty()) {
        key = rs->second.kms_key;
      }
      sse["KMSMasterKeyArn"] = absl::StartsWith(key, "arn:")
                                   ? key
                                   : absl::StrCat("arn:aws:kms:", region, ":000000000000:", key);
    }
    table["SSEDescription"] = sse;
  }
  if (spec.replicas.size() > 1) {
    json replicas = json::array();
    for (const auto& r : spec.replicas) {
      if (r == region) continue;
      json d = {{"RegionName", r}, {"ReplicaStatus", spec.ReplicaStatus(r)}};
      if (auto it = info.replica_progress.find(r); it != info.replica_progress.end()) {
        d["ReplicaStatusPercentProgress"] = std::to_string(it->second);
      }
      if (auto rs = spec.replica_settings.find(r); rs != spec.replica_settings.end()) {
        if (!rs->second.table_class.empty()) {
          d["ReplicaTableClassSummary"] = {{"TableClass", rs->second.table_class}};
        }
        if (rs->second.read_capacity_override > 0) {
          d["ProvisionedThroughputOverride"] = {
              {"ReadCapacityUnits", rs->second.read_capacity_override}};
        }
        if (!rs->second.kms_key.empty()) d["KMSMasterKeyId"] = rs->second.kms_key;
      }
      replicas.push_back(std::move(d));
    }
    table["Replicas"] = replicas;
    table["GlobalTableVersion"] = "2019.11.21";
  }
  return table;
}

// The key attributes of `item` under `spec` (missing ones are left out: the engine reports them).
Item KeyOf(const TableSpec& spec, const Item& item) {
  Item key;
  for (const KeyDef* def : {&spec.hash_key, spec.range_key ? &*spec.range_key : nullptr}) {
    if (!def) continue;
    auto it = item.find(def->name);
    if (it != item.end()) key.emplace(it->first, it->second);
  }
  return key;
}

// DynamoDB's checks of an item's key attributes before anything else.
absl::Status CheckItemKey(const TableSpec& spec, const Item& item) {
  for (const KeyDef* def : {&spec.hash_key, spec.range_key ? &*spec.range_key : nullptr}) {
    if (!def) continue;
    auto it = item.find(def->name);
    if (it == item.end()) {
      return Validation(absl::StrCat("One or more parameter values were invalid: Missing the key ",
                                     def->name, " in the item"));
    }
    if (it->second.type() != def->type) {
      return Validation(absl::StrCat(
          "One or more parameter values were invalid: Type mismatch "
          "for key ",
          def->name, " expected: ", TypeName(def->type), " actual: ", TypeName(it->second.type())));
    }
  }
  return absl::OkStatus();
}

// DynamoDB's limits on key values: not empty, hash key <= 2048 bytes, range key <= 1024.
absl::Status CheckKeyValues(const TableSpec& spec, const Item& item) {
  for (const KeyDef* def : {&spec.hash_key, spec.range_key ? &*spec.range_key : nullptr}) {
    if (!def) continue;
    auto it = item.find(def->name);
    if (it == item.end() || it->second.type() == ValueType::kN) continue;
    if (it->second.scalar().empty()) {
      return Validation(absl::StrCat(
          "One or more parameter values are not valid. The AttributeValue for a key attribute "
          "cannot contain an empty ",
          def->type == ValueType::kS ? "string" : "binary", " value. Key: ", def->name));
    }
  }
  auto hk = item.find(spec.hash_key.name);
  if (hk != item.end() && hk->second.scalar().size() > 2048) {
    return Validation(
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
        "size limit of 2048 bytes");
  }
  if (spec.range_key) {
    auto rk = item.find(spec.range_key->name);
    if (rk != item.end() && rk->second.scalar().size() > 1024) {
      return Validation(
          "One or more parameter values were invalid: Aggregated size of all range keys has "
          "exceeded the size limit of 1024 bytes");
    }
  }
  return absl::OkStatus();
}

constexpr int64_t kMaxItemBytes = 400 * 1024;

// The 400 KB item limit; `update` picks UpdateItem's wording.
absl::Status CheckItemSize(const Item& item, bool update = false) {
  if (ItemSize(item) <= kMaxItemBytes) return absl::OkStatus();
  return Validation(update ? "Item size to update has exceeded the maximum allowed size"
                           : "Item size has exceeded the maximum allowed size");
}

// A whole item to write: key attributes present and typed, key limits, size.
absl::Status CheckWriteItem(const TableSpec& spec, const Item& item) {
  RETURN_IF_ERROR(CheckItemKey(spec, item));
  RETURN_IF_ERROR(CheckKeyValues(spec, item));
  return CheckItemSize(item);
}

// A Key parameter: exactly the key attributes, of the key types, within the key limits.
absl::Status CheckKey(const TableSpec& spec, const Item& key) {
  size_t expected = spec.range_key ? 2 : 1;
  if (!CheckItemKey(spec, key).ok() || key.size() != expected) {
    return Validation("The provided key element does not match the schema");
  }
  return CheckKeyValues(spec, key);
}

// `item` as a global secondary index holds it: nullopt when it lacks the index's key attributes
// (or has them with other types), else the attributes of the index's projection.
std::optional<Item> IndexView(const TableSpec& spec, const GsiSetting& g, const Item& item) {
  auto has = [&](const KeyDef& k) {
    auto it = item.find(k.name);
    return it != item.end() && it->second.type() == k.type;
  };
  if (!has(g.hash_key) || (g.range_key && !has(*g.range_key))) return std::nullopt;
  if (g.projection == "ALL") return item;
  std::vector<std::string> names = g.non_key;
  names.push_back(spec.hash_key.name);
  if (spec.range_key) names.push_back(spec.range_key->name);
  names.push_back(g.hash_key.name);
  if (g.range_key) names.push_back(g.range_key->name);
  Item out;
  for (const std::string& n : names) {
    if (auto it = item.find(n); it != item.end()) out.emplace(n, it->second);
  }
  return out;
}

// The table's key attributes of `key` (a LastEvaluatedKey of an index also holds the index's).
Item TableKeyPart(const TableSpec& spec, const Item& key) {
  Item out;
  for (const auto& [name, value] : key) {
    if (name == spec.hash_key.name || (spec.range_key && name == spec.range_key->name)) {
      out.emplace(name, value);
    }
  }
  return out;
}

std::vector<std::string> KeyNames(const TableSpec& spec) {
  std::vector<std::string> names{spec.hash_key.name};
  if (spec.range_key) names.push_back(spec.range_key->name);
  return names;
}

// Item counts as DynamoDB's Select parameter asks.
enum class Select { kAll, kCount, kSpecific };

absl::StatusOr<Select> SelectOf(const json& req, bool has_projection, bool index = false) {
  ASSIGN_OR_RETURN(auto s, OptString(req, "Select"));
  if (!s) return has_projection ? Select::kSpecific : Select::kAll;
  // A Query of an index answers its projected attributes (the core projects them).
  if (index && *s == "ALL_PROJECTED_ATTRIBUTES" && !has_projection) return Select::kAll;
  if (*s == "ALL_ATTRIBUTES" || *s == "COUNT" || *s == "SPECIFIC_ATTRIBUTES") {
    if (has_projection && *s != "SPECIFIC_ATTRIBUTES") {
      return Validation(absl::StrCat(
          "Cannot specify the ProjectionExpression when choosing to get only the ", *s));
    }
    if (*s == "COUNT") return Select::kCount;
    if (*s == "SPECIFIC_ATTRIBUTES") {
      if (!has_projection) {
        return Validation(
            "Must specify the ProjectionExpression when choosing to get "
            "SPECIFIC_ATTRIBUTES");
      }
      return Select::kSpecific;
    }
    return Select::kAll;
  }
  if (*s == "ALL_PROJECTED_ATTRIBUTES") {
    return Validation("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName");
  }
  return Validation(absl::StrCat(
      "1 validation error detected: Value '", *s,
      "' at 'select' failed to satisfy constraint: Member must satisfy enum value set: "
      "[SPECIFIC_ATTRIBUTES, COUNT, ALL_ATTRIBUTES, ALL_PROJECTED_ATTRIBUTES]"));
}

absl::StatusOr<int> LimitOf(const json& req) {
  ASSIGN_OR_RETURN(auto limit, OptInt(req, "Limit"));
  if (!limit) return 0;
  if (*limit < 1) {
    return Validation(absl::StrCat("1 validation error detected: Value '", *limit,
                                   "' at 'limit' failed to satisfy constraint: Member must have "
                                   "value greater than or equal to 1"));
  }
  return static_cast<int>(std::min<int64_t>(*limit, 1 << 30));
}

// --- table settings (CreateTable, UpdateTable) --------------------------------------------

absl::Status EnumError(const std::string& value, absl::string_view member,
                       absl::string_view values) {
  return Validation(absl::StrCat("1 validation error detected: Value '", value, "' at '", member,
                                 "' failed to satisfy constraint: Member must satisfy enum value "
                                 "set: [",
                                 values, "]"));
}

absl::Status UndefinedKeys(const std::vector<std::string>& keys,
                           const std::map<std::string, ValueType>& defs) {
  return Validation(
      "One or more parameter values were invalid: Some index key attributes are not defined in "
      "AttributeDefinitions. Keys: [" +
      absl::StrJoin(keys, ", ") + "], AttributeDefinitions: [" +
      absl::StrJoin(defs, ", ", [](std::string* out, const auto& kv) { out->append(kv.first); }) +
      "]");
}

// AttributeDefinitions: name -> type (empty when absent).
absl::StatusOr<std::map<std::string, ValueType>> AttributeDefinitionsOf(const json& req) {
  std::map<std::string, ValueType> defs;
  const json* ad = Field(req, "AttributeDefinitions");
  if (!ad) return defs;
  if (!ad->is_array()) {
    return Serialization("Unexpected value type in payload: AttributeDefinitions must be a list");
  }
  for (size_t i = 0; i < ad->size(); ++i) {
    const json& d = (*ad)[i];
    if (!d.is_object()) return Serialization("AttributeDefinitions members must be objects");
    ASSIGN_OR_RETURN(auto name, OptString(d, "AttributeName"));
    ASSIGN_OR_RETURN(auto type, OptString(d, "AttributeType"));
    if (!name || !type) {
      return Validation(
          "One or more parameter values were invalid: AttributeDefinitions "
          "members need AttributeName and AttributeType");
    }
    ValueType t = ValueType::kS;
    if (*type == "S") {
      t = ValueType::kS;
    } else if (*type == "N") {
      t = ValueType::kN;
    } else if (*type == "B") {
      t = ValueType::kB;
    } else {
      return EnumError(*type, absl::StrCat("attributeDefinitions.", i + 1, ".member.attributeType"),
                       "B, N, S");
    }
    if (!defs.emplace(*name, t).second) {
      return Validation(absl::StrCat(
          "Invalid One or more parameter values were invalid: Duplicate AttributeName ", *name,
          " in AttributeDefinitions"));
    }
  }
  return defs;
}

// One KeySchema member at position `i` (0: the HASH key, 1: the RANGE key): its AttributeName,
// or DynamoDB's error. Shared by a table's and an index's KeySchema.
absl::StatusOr<std::string> KeySchemaMember(const json& k, size_t i) {
  if (!k.is_object()) return Serialization("KeySchema members must be objects");
  ASSIGN_OR_RETURN(auto name, OptString(k, "AttributeName"));
  ASSIGN_OR_RETURN(auto type, OptString(k, "KeyType"));
  if (!name || !type || (*type != "HASH" && *type != "RANGE")) {
    return Validation(
        "One or more parameter values were invalid: KeySchema members need AttributeName and "
        "a KeyType of HASH or RANGE");
  }
  if ((i == 0) != (*type == "HASH")) {
    return Validation(i == 0
                          ? "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
                          : "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type");
  }
  return *name;
}

// A GlobalSecondaryIndex (CreateTable) or a GlobalSecondaryIndexUpdates Create (UpdateTable):
// IndexName, KeySchema (its attributes typed by `defs`) and Projection.
absl::StatusOr<std::pair<std::string, GsiSetting>> GsiOf(
    const json& g, const std::map<std::string, ValueType>& defs, const std::string& where) {
  if (!g.is_object()) return Serialization("Unexpected value type in payload: an index must be a map");
  ASSIGN_OR_RETURN(auto name, OptString(g, "IndexName"));
  if (!name) return MissingMember(where + ".indexName");
  RETURN_IF_ERROR(CheckTableName(*name, (where + ".indexName").c_str()));
  const json* ks = Field(g, "KeySchema");
  if (!ks) return MissingMember(where + ".keySchema");
  if (!ks->is_array()) return Serialization("Unexpected value type in payload: KeySchema must be a list");
  if (ks->empty() || ks->size() > 2) {
    return Validation(absl::StrCat(
        "1 validation error detected: Value '", Dump(*ks), "' at '", where,
        ".keySchema' failed to satisfy constraint: Member must have length less than or equal "
        "to 2 and greater than or equal to 1"));
  }
  GsiSetting def;
  std::vector<std::string> missing;
  for (size_t i = 0; i < ks->size(); ++i) {
    ASSIGN_OR_RETURN(std::string attr, KeySchemaMember((*ks)[i], i));
    auto d = defs.find(attr);
    if (d == defs.end()) {
      missing.push_back(attr);
      continue;
    }
    if (i == 0) {
      def.hash_key = KeyDef{attr, d->second};
    } else {
      if (attr == def.hash_key.name) {
        return Validation("Invalid KeySchema: Some index key attribute have no definition");
      }
      def.range_key = KeyDef{attr, d->second};
    }
  }
  if (!missing.empty()) return UndefinedKeys(missing, defs);
  const json* p = Field(g, "Projection");
  if (!p) return MissingMember(where + ".projection");
  if (!p->is_object()) return Serialization("Unexpected value type in payload: Projection must be a map");
  ASSIGN_OR_RETURN(auto type, OptString(*p, "ProjectionType"));
  if (!type) {
    return Validation("One or more parameter values were invalid: Unknown ProjectionType: null");
  }
  if (*type != "ALL" && *type != "KEYS_ONLY" && *type != "INCLUDE") {
    return EnumError(*type, where + ".projection.projectionType", "ALL, INCLUDE, KEYS_ONLY");
  }
  def.projection = *type;
  if (const json* nk = Field(*p, "NonKeyAttributes")) {
    if (!nk->is_array()) {
      return Serialization("Unexpected value type in payload: NonKeyAttributes must be a list");
    }
    for (const json& a : *nk) {
      if (!a.is_string()) return Serialization("NonKeyAttributes members must be strings");
      def.non_key.push_back(a.get<std::string>());
    }
    if (*type != "INCLUDE") {
      return Validation(absl::StrCat("One or more parameter values were invalid: ProjectionType is ",
                                     *type, ", but NonKeyAttributes is specified"));
    }
  }
  if (*type == "INCLUDE" && def.non_key.empty()) {
    return Validation(
        "One or more parameter values were invalid: NonKeyAttributes must be specified when "
        "ProjectionType is INCLUDE");
  }
  return std::make_pair(*name, def);
}

// ProvisionedThroughput: both capacities, each at least 1.
absl::Status ThroughputOf(const json& pt, UpdateTableRequest* u) {
  if (!pt.is_object()) {
    return Serialization("Unexpected value type in payload: ProvisionedThroughput must be a map");
  }
  ASSIGN_OR_RETURN(auto rcu, OptInt(pt, "ReadCapacityUnits"));
  ASSIGN_OR_RETURN(auto wcu, OptInt(pt, "WriteCapacityUnits"));
  if (!rcu) return MissingMember("provisionedThroughput.readCapacityUnits");
  if (!wcu) return MissingMember("provisionedThroughput.writeCapacityUnits");
  for (auto [value, member] : {std::make_pair(*rcu, "readCapacityUnits"),
                               std::make_pair(*wcu, "writeCapacityUnits")}) {
    if (value < 1) {
      return Validation(absl::StrCat("1 validation error detected: Value '", value,
                                     "' at 'provisionedThroughput.", member,
                                     "' failed to satisfy constraint: Member must have value "
                                     "greater than or equal to 1"));
    }
  }
  u->read_capacity = *rcu;
  u->write_capacity = *wcu;
  return absl::OkStatus();
}

// One ReplicaUpdates Update member: another replica's own settings (its read capacity override,
// table class, KMS key), as a request of its own (the caller checks it is not combined with
// anything else and not for the local region).
absl::StatusOr<UpdateTableRequest> ReplicaSettingsUpdateOf(const json& body,
                                                           const TableSpec& spec) {
  if (!body.is_object()) return Serialization("Unexpected value type in payload");
  UpdateTableRequest u;
  u.table = spec.name;
  ASSIGN_OR_RETURN(auto name, OptString(body, "RegionName"));
  if (!name) return MissingMember("replicaUpdates.1.member.update.regionName");
  u.replica_region = *name;
  if (Field(body, "GlobalSecondaryIndexes")) {
    return NotSupported("ReplicaUpdates Update with GlobalSecondaryIndexes (per-replica index "
                        "read capacity)");
  }
  if (const json* pt = Field(body, "ProvisionedThroughputOverride")) {
    if (!pt->is_object()) {
      return Serialization(
          "Unexpected value type in payload: ProvisionedThroughputOverride must be a map");
    }
    ASSIGN_OR_RETURN(auto rcu, OptInt(*pt, "ReadCapacityUnits"));
    if (!rcu) {
      return MissingMember(
          "replicaUpdates.1.member.update.provisionedThroughputOverride.readCapacityUnits");
    }
    if (*rcu < 1) {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", *rcu,
          "' at 'replicaUpdates.1.member.update.provisionedThroughputOverride.readCapacityUnits' "
          "failed to satisfy constraint: Member must have value greater than or equal to 1"));
    }
    if (spec.billing.mode != "PROVISIONED") {
      return Validation(absl::StrCat(
          "One or more parameter values were invalid: ProvisionedThroughputOverride applies to "
          "PROVISIONED tables only, and table ", spec.name, " is ", spec.billing.mode,
          " (a gtsim global table always is: gtsim has no write autoscaling)"));
    }
    u.read_capacity_override = *rcu;
  }
  ASSIGN_OR_RETURN(auto table_class, OptString(body, "TableClassOverride"));
  if (table_class) {
    if (*table_class != "STANDARD" && *table_class != "STANDARD_INFREQUENT_ACCESS") {
      return EnumError(*table_class, "replicaUpdates.1.member.update.tableClassOverride",
                       "STANDARD, STANDARD_INFREQUENT_ACCESS");
    }
    u.table_class = *table_class;
  }
  ASSIGN_OR_RETURN(auto key, OptString(body, "KMSMasterKeyId"));
  if (key) {
    if (spec.sse.type != "KMS") {
      return Validation(
          "One or more parameter values were invalid: KMSMasterKeyId can only be specified "
          "when SSEType is KMS");
    }
    u.kms_key = *key;
  }
  if (!u.read_capacity_override && !u.table_class && !u.kms_key) {
    return Validation(absl::StrCat(
        "One or more parameter values were invalid: the ReplicaUpdates Update for ", *name,
        " changes nothing: give ProvisionedThroughputOverride, TableClassOverride or "
        "KMSMasterKeyId"));
  }
  return u;
}

// BillingMode + ProvisionedThroughput, SSESpecification, StreamSpecification,
// DeletionProtectionEnabled and TableClass of CreateTable (`current` null) or UpdateTable (the
// table's spec) as settings of `u`. Checks only the request; the core checks the rest.
absl::Status TableSettingsOf(const json& req, const TableSpec* current, UpdateTableRequest* u) {
  ASSIGN_OR_RETURN(auto billing, OptString(req, "BillingMode"));
  if (billing && *billing != "PAY_PER_REQUEST" && *billing != "PROVISIONED") {
    return EnumError(*billing, "billingMode", "PROVISIONED, PAY_PER_REQUEST");
  }
  const json* pt = Field(req, "ProvisionedThroughput");
  if (!current) {
    bool provisioned = !billing || *billing == "PROVISIONED";
    if (provisioned && !pt) {
      return Validation(
          "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
          "must both be specified when BillingMode is PROVISIONED");
    }
    if (!provisioned && pt) {
      return Validation(
          "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
          "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST");
    }
    if (provisioned) {
      u->billing_mode = "PROVISIONED";
      RETURN_IF_ERROR(ThroughputOf(*pt, u));
    }
  } else if (billing || pt) {
    std::string mode = billing ? *billing : current->billing.mode;
    if (mode == "PAY_PER_REQUEST" && pt) {
      return Validation(
          "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
          "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST");
    }
    if (mode == "PROVISIONED" && current->billing.mode != "PROVISIONED" && !pt) {
      return Validation(
          "One or more parameter values were invalid: ProvisionedThroughput must be specified "
          "when BillingMode is PROVISIONED");
    }
    if (mode == "PROVISIONED" && current->replicas.size() > 1) {
      // A global table's capacity must be on demand or autoscaled; gtsim has no autoscaling.
      return Validation("Table write capacity should either be Pay-Per-Request or AutoScaled.");
    }
    u->billing_mode = mode;
    if (pt) RETURN_IF_ERROR(ThroughputOf(*pt, u));
  }

  if (const json* sse = Field(req, "SSESpecification")) {
    if (!sse->is_object()) {
      return Serialization("Unexpected value type in payload: SSESpecification must be a map");
    }
    ASSIGN_OR_RETURN(auto enabled, OptBool(*sse, "Enabled"));
    ASSIGN_OR_RETURN(auto type, OptString(*sse, "SSEType"));
    ASSIGN_OR_RETURN(auto key, OptString(*sse, "KMSMasterKeyId"));
    if (type && *type != "AES256" && *type != "KMS") {
      return EnumError(*type, "sSESpecification.sSEType", "AES256, KMS");
    }
    if (enabled.has_value() && !*enabled) {
      if (type || key) {
        return Validation(
            "One or more parameter values were invalid: SSEType and KMSMasterKeyId can only be "
            "specified when SSE is enabled");
      }
      if (current && !current->sse.type.empty()) {
        return NotSupported(
            "SSESpecification Enabled false (going back to the AWS owned key once SSEType is "
            "set)");
      }
      // Already on the AWS owned key: nothing to change.
    } else {
      std::string t = type.value_or("KMS");
      if (key && t != "KMS") {
        return Validation(
            "One or more parameter values were invalid: KMSMasterKeyId can only be specified "
            "when SSEType is KMS");
      }
      u->sse_type = t;
      if (key) u->kms_key = *key;
    }
  }

  if (const json* ss = Field(req, "StreamSpecification")) {
    if (!ss->is_object()) {
      return Serialization("Unexpected value type in payload: StreamSpecification must be a map");
    }
    ASSIGN_OR_RETURN(auto enabled, OptBool(*ss, "StreamEnabled"));
    ASSIGN_OR_RETURN(auto view, OptString(*ss, "StreamViewType"));
    if (!enabled) return MissingMember("streamSpecification.streamEnabled");
    if (view && *view != "NEW_IMAGE" && *view != "OLD_IMAGE" && *view != "NEW_AND_OLD_IMAGES" &&
        *view != "KEYS_ONLY") {
      return EnumError(*view, "streamSpecification.streamViewType",
                       "NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES, KEYS_ONLY");
    }
    if (*enabled) {
      if (!view) {
        return Validation(
            "One or more parameter values were invalid: StreamViewType is required when "
            "StreamEnabled is true");
      }
      if (current && current->stream.enabled) {
        return Validation(
            absl::StrCat("Table already has an enabled stream: TableName: ", current->name));
      }
      u->stream_enabled = true;
      u->stream_view_type = *view;
    } else {
      if (view) {
        return Validation(
            "One or more parameter values were invalid: StreamViewType can only be specified "
            "when StreamEnabled is true");
      }
      if (current) {
        // gtsim serves a stream for every table (DescribeTable always shows it enabled).
        return NotSupported("StreamSpecification StreamEnabled false (every gtsim table has a "
                            "stream)");
      }
    }
  }

  ASSIGN_OR_RETURN(auto protection, OptBool(req, "DeletionProtectionEnabled"));
  if (protection && (current || *protection)) u->deletion_protection = *protection;
  ASSIGN_OR_RETURN(auto table_class, OptString(req, "TableClass"));
  if (table_class) {
    if (*table_class != "STANDARD" && *table_class != "STANDARD_INFREQUENT_ACCESS") {
      return EnumError(*table_class, "tableClass", "STANDARD, STANDARD_INFREQUENT_ACCESS");
    }
    if (current || *table_class != "STANDARD") u->table_class = *table_class;
  }
  return absl::OkStatus();
}

}  // namespace

// --- operations ---------------------------------------------------------------------------

namespace {

class Operations {
 public:
  // The single-item writes (PutItem, UpdateItem, DeleteItem), validated and ready to run as
  // Region::MutateItem(table, key, fn); `answer` shapes the operation's JSON from the result.
  // Everything they hold is owned, so they may run later (the endpoint's event loop gathers a
  // round's writes and commits them as one group through Region::MutateItemsLed).
  struct PreparedWrite {
    std::string table;
    Item key;
    TableEngine::Mutation fn;
    std::function<json(const WriteResult&)> answer;
  };
  Operations(Region* region, DynamoDbEndpoint::Tokens* tokens)
      : region_(region), tokens_(tokens) {}

  // `op` must be one of the three (IsSingleItemWrite).
  absl::StatusOr<PreparedWrite> PrepareWrite(const std::string& op, const json& req) {
    if (op == "UpdateItem") return PrepareUpdate(req);
    return PreparePutOrDelete(req, /*put=*/op == "PutItem");
  }

  absl::StatusOr<json> Run(const std::string& op, const json& req, const std::string& host) {
    if (op == "CreateTable") return CreateTable(req);
    if (op == "DescribeTable") return DescribeTable(req);
    if (op == "ListTables") return ListTables(req);
    if (op == "DeleteTable") return DeleteTable(req);
    if (op == "PutItem") return PutItem(req);
    if (op == "GetItem") return GetItem(req);
    if (op == "UpdateItem") return UpdateItem(req);
    if (op == "DeleteItem") return DeleteItem(req);
    if (op == "Query") return Query(req);
    if (op == "Scan") return Scan(req);
    if (op == "BatchWriteItem") return BatchWriteItem(req);
    if (op == "BatchGetItem") return BatchGetItem(req);
    if (op == "TransactWriteItems") return TransactWriteItems(req);
    if (op == "TransactGetItems") return TransactGetItems(req);
    if (op == "UpdateTable") return UpdateTable(req);
    if (op == "UpdateTimeToLive") return UpdateTimeToLive(req);
    if (op == "DescribeTimeToLive") return DescribeTimeToLive(req);
    if (op == "DescribeEndpoints") {
      return json{{"Endpoints", json::array({{{"Address", host.empty() ? "127.0.0.1" : host},
                                              {"CachePeriodInMinutes", 1440}}})}};
    }
    static const std::set<std::string>* later =
        new std::set<std::string>{"CreateGlobalTable",
                                  "UpdateGlobalTable",
                                  "DescribeGlobalTable",
                                  "ListGlobalTables",
                                  "DescribeLimits",
                                  "TagResource",
                                  "UntagResource",
                                  "ListTagsOfResource",
                                  "ExecuteStatement",
                                  "BatchExecuteStatement",
                                  "ExecuteTransaction",
                                  "CreateBackup",
                                  "DescribeContinuousBackups",
                                  "UpdateContinuousBackups",
                                  "DescribeTableReplicaAutoScaling",
                                  "UpdateTableReplicaAutoScaling",
                                  "DescribeGlobalTableSettings",
                                  "UpdateGlobalTableSettings",
                                  "DescribeKinesisStreamingDestination"};
    if (later->count(op)) return NotSupported(absl::StrCat("The operation ", op));
    return absl::UnimplementedError(absl::StrCat("Unknown operation: ", op));
  }

 private:
  // The live table `table`. NotFound names the table for control-plane operations
  // (`control`) and not for item operations, as DynamoDB's messages do.
  absl::StatusOr<TableSpec> Spec(const std::string& table, bool control = false) {
    // Region::Tables() reads the catalog only (DescribeTable would count the items).
    for (TableSpec& spec : region_->Tables()) {
      if (spec.name == table) return std::move(spec);
    }
    return absl::NotFoundError(control ? absl::StrCat("Table: ", table, " not found") : "");
  }

  absl::StatusOr<json> CreateTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    if (Field(req, "LocalSecondaryIndexes")) return NotSupported("LocalSecondaryIndexes");
    UpdateTableRequest settings;
    settings.table = table;
    RETURN_IF_ERROR(TableSettingsOf(req, nullptr, &settings));

    const json* ks = Field(req, "KeySchema");
    const json* ad = Field(req, "AttributeDefinitions");
    if (!ks || !ad) {
      return MissingMember(ks ? "attributeDefinitions" : "keySchema");
    }
    if (!ks->is_array()) {
      return Serialization("Unexpected value type in payload: KeySchema must be a list");
    }
    ASSIGN_OR_RETURN(auto defs, AttributeDefinitionsOf(req));
    if (ks->empty() || ks->size() > 2) {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", Dump(*ks),
          "' at 'keySchema' failed to satisfy constraint: Member must have length less than or "
          "equal to 2 and greater than or equal to 1"));
    }
    CreateTableRequest create;
    create.table = table;
    for (size_t i = 0; i < ks->size(); ++i) {
      ASSIGN_OR_RETURN(std::string name, KeySchemaMember((*ks)[i], i));
      auto d = defs.find(name);
      if (d == defs.end()) {
        return Validation(
            "One or more parameter values were invalid: Some index key attributes "
            "are not defined in AttributeDefinitions. Keys: [" +
            name + "], AttributeDefinitions: [" +
            absl::StrJoin(defs, ", ",
                          [](std::string* out, const auto& kv) { out->append(kv.first); }) +
            "]");
      }
      if (i == 0) {
        create.hash_key = KeyDef{name, d->second};
      } else {
        if (name == create.hash_key.name) {
          return Validation("Invalid KeySchema: Some index key attribute have no definition");
        }
        create.range_key = KeyDef{name, d->second};
      }
    }
    // Global secondary indexes, created by settings updates right after the table.
    std::vector<std::pair<std::string, GsiSetting>> gsis;
    std::set<std::string> used = {create.hash_key.name};
    if (create.range_key) used.insert(create.range_key->name);
    if (const json* list = Field(req, "GlobalSecondaryIndexes")) {
      if (!list->is_array()) {
        return Serialization("Unexpected value type in payload: GlobalSecondaryIndexes must be a list");
      }
      if (list->empty()) {
        return Validation(
            "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty");
      }
      std::set<std::string> names;
      for (size_t i = 0; i < list->size(); ++i) {
        ASSIGN_OR_RETURN(auto g, GsiOf((*list)[i], defs,
                                       absl::StrCat("globalSecondaryIndexes.", i + 1, ".member")));
        if (!names.insert(g.first).second) {
          return Validation(absl::StrCat(
              "One or more parameter values were invalid: Duplicate index name: ", g.first));
        }
        used.insert(g.second.hash_key.name);
        if (g.second.range_key) used.insert(g.second.range_key->name);
        gsis.push_back(std::move(g));
      }
    }
    if (defs.size() != used.size()) {
      return Validation(
          "One or more parameter values were invalid: Number of attributes in "
          "KeySchema does not exactly match number of attributes defined in "
          "AttributeDefinitions");
    }
    auto info = region_->CreateTable(create);
    if (absl::IsAlreadyExists(info.status())) {
      return absl::AlreadyExistsError(absl::StrCat("Table already exists: ", table));
    }
    if (!info.ok()) return info.status();
    // The settings and indexes go in as UpdateTable changes of the new table (the core creates
    // tables with the defaults); should one fail, the table is dropped again.
    std::vector<UpdateTableRequest> updates;
    if (settings.HasSettings()) updates.push_back(settings);
    for (auto& g : gsis) {
      UpdateTableRequest u;
      u.table = table;
      u.create_gsi = std::move(g);
      updates.push_back(std::move(u));
    }
    for (const UpdateTableRequest& u : updates) {
      auto updated = region_->UpdateTable(u);
      if (!updated.ok()) {
        (void)region_->DeleteTable(table);
        return updated.status();
      }
      info = *std::move(updated);
    }
    if (!updates.empty()) {
      auto described = region_->DescribeTable(table);
      if (described.ok()) info = *std::move(described);
    }
    return json{{"TableDescription", TableDescription(*info, region_->name())}};
  }

  absl::StatusOr<json> UpdateTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    auto current = region_->DescribeTable(table);
    if (absl::IsNotFound(current.status())) {
      return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
    }
    if (!current.ok()) return current.status();
    const TableSpec& spec = current->spec;
    UpdateTableRequest u;
    u.table = table;
    // A ReplicaUpdates Update: it replaces `u` once the rest is known to be empty.
    std::optional<UpdateTableRequest> replica_settings;

    if (const json* list = Field(req, "ReplicaUpdates")) {
      if (!list->is_array()) {
        return Serialization("Unexpected value type in payload: ReplicaUpdates must be a list");
      }
      for (const json& r : *list) {
        if (!r.is_object()) return Serialization("ReplicaUpdates members must be maps");
        const json* create = Field(r, "Create");
        const json* del = Field(r, "Delete");
        const json* update = Field(r, "Update");
        if ((create != nullptr) + (del != nullptr) + (update != nullptr) != 1) {
          return Validation(
              "One or more parameter values were invalid: One of Create, Update, or Delete must "
              "be specified in a ReplicationGroupUpdate");
        }
        if (update) {
          if (replica_settings) return Validation(kOneReplicaPerRequest);
          ASSIGN_OR_RETURN(replica_settings, ReplicaSettingsUpdateOf(*update, spec));
          continue;
        }
        const json& body = create ? *create : *del;
        if (!body.is_object()) return Serialization("Unexpected value type in payload");
        ASSIGN_OR_RETURN(auto name, OptString(body, "RegionName"));
        if (!name) {
          return MissingMember(create ? "replicaUpdates.1.member.create.regionName"
                                      : "replicaUpdates.1.member.delete.regionName");
        }
        if (create) {
          for (const char* unsupported :
               {"KMSMasterKeyId", "ProvisionedThroughputOverride", "GlobalSecondaryIndexes",
                "TableClassOverride"}) {
            if (Field(body, unsupported)) {
              return NotSupported(absl::StrCat("ReplicaUpdates Create with ", unsupported));
            }
          }
        }
        u.replica_updates.push_back(ReplicaUpdate{
            create ? ReplicaUpdate::Action::kCreate : ReplicaUpdate::Action::kDelete, *name});
      }
    }

    if (const json* list = Field(req, "GlobalSecondaryIndexUpdates")) {
      if (!list->is_array()) {
        return Serialization(
            "Unexpected value type in payload: GlobalSecondaryIndexUpdates must be a list");
      }
      ASSIGN_OR_RETURN(auto defs, AttributeDefinitionsOf(req));
      // Attributes the table already defines may be left out of AttributeDefinitions.
      std::map<std::string, ValueType> known = defs;
      known.emplace(spec.hash_key.name, spec.hash_key.type);
      if (spec.range_key) known.emplace(spec.range_key->name, spec.range_key->type);
      for (const auto& [n, g] : spec.gsis) {
        if (g.deleted) continue;
        known.emplace(g.hash_key.name, g.hash_key.type);
        if (g.range_key) known.emplace(g.range_key->name, g.range_key->type);
      }
      int changes = 0;
      for (size_t i = 0; i < list->size(); ++i) {
        const json& g = (*list)[i];
        if (!g.is_object()) return Serialization("GlobalSecondaryIndexUpdates members must be maps");
        const json* create = Field(g, "Create");
        const json* del = Field(g, "Delete");
        const json* update = Field(g, "Update");
        if ((create != nullptr) + (del != nullptr) + (update != nullptr) != 1) {
          return Validation(
              "One or more parameter values were invalid: One of Create, Update, or Delete must "
              "be specified in a GlobalSecondaryIndexUpdate");
        }
        if (update) return NotSupported("GlobalSecondaryIndexUpdates Update (index throughput)");
        ++changes;
        if (create) {
          ASSIGN_OR_RETURN(u.create_gsi,
                           GsiOf(*create, known,
                                 absl::StrCat("globalSecondaryIndexUpdates.", i + 1,
                                              ".member.create")));
          auto existing = spec.gsis.find(u.create_gsi->first);
          if (existing != spec.gsis.end() && !existing->second.deleted) {
            return Validation(absl::StrCat(
                "One or more parameter values were invalid: Index with name ",
                u.create_gsi->first, " already exists on table ", table));
          }
        } else {
          if (!del->is_object()) return Serialization("Unexpected value type in payload");
          ASSIGN_OR_RETURN(auto name, OptString(*del, "IndexName"));
          if (!name) {
            return MissingMember(
                absl::StrCat("globalSecondaryIndexUpdates.", i + 1, ".member.delete.indexName"));
          }
          auto existing = spec.gsis.find(*name);
          if (existing == spec.gsis.end() || existing->second.deleted) {
            return absl::NotFoundError(absl::StrCat("Index: ", *name, " not found"));
          }
          u.delete_gsi = *name;
        }
      }
      bool backfilling = false;
      for (const auto& [n, st] : current->index_status) backfilling |= st == "CREATING";
      if (changes > 1 || (changes == 1 && backfilling)) {
        return Typed(absl::StatusCode::kResourceExhausted, "LimitExceededException",
                     "Subscriber limit exceeded: Only 1 online index can be created or deleted "
                     "simultaneously per table");
      }
    }

    RETURN_IF_ERROR(TableSettingsOf(req, &spec, &u));
    if (replica_settings) {
      if (!u.replica_updates.empty()) return Validation(kOneReplicaPerRequest);
      if (u.HasSettings()) return Validation(kReplicaUpdatesAlone);
      if (replica_settings->replica_region == region_->name()) return Validation(kNotLocalRegion);
      u = *std::move(replica_settings);
    }
    if (u.replica_updates.empty() && !u.HasSettings()) {
      return Validation(
          "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
          "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required");
    }
    if (!u.replica_updates.empty()) {
      if (u.HasSettings()) return Validation(kReplicaUpdatesAlone);
      if (u.replica_updates.size() > 1) return Validation(kOneReplicaPerRequest);
      if (u.replica_updates[0].region == region_->name()) return Validation(kNotLocalRegion);
    }
    if (spec.TableStatus() != "ACTIVE" || spec.ReplicaStatus(region_->name()) != "ACTIVE") {
      return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                   absl::StrCat("Attempt to change a resource which is still in use: Table is "
                                "being updated: ",
                                table));
    }
    if (!u.replica_updates.empty() &&
        u.replica_updates[0].action == ReplicaUpdate::Action::kCreate &&
        spec.billing.mode == "PROVISIONED") {
      return Validation("Table write capacity should either be Pay-Per-Request or AutoScaled.");
    }
    auto updated = region_->UpdateTable(u);
    if (absl::IsFailedPrecondition(updated.status())) {
      return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                   updated.status().message());
    }
    if (absl::IsNotFound(updated.status())) {
      return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
    }
    if (!updated.ok()) return updated.status();
    auto described = region_->DescribeTable(table);
    return json{{"TableDescription",
                 TableDescription(described.ok() ? *described : *updated, region_->name())}};
  }

  absl::StatusOr<json> UpdateTimeToLive(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    const json* spec_json = Field(req, "TimeToLiveSpecification");
    if (!spec_json) return MissingMember("timeToLiveSpecification");
    if (!spec_json->is_object()) {
      return Serialization(
          "Unexpected value type in payload: TimeToLiveSpecification must be a map");
    }
    ASSIGN_OR_RETURN(auto enabled, OptBool(*spec_json, "Enabled"));
    ASSIGN_OR_RETURN(auto attribute, OptString(*spec_json, "AttributeName"));
    if (!enabled) return MissingMember("timeToLiveSpecification.enabled");
    if (!attribute) return MissingMember("timeToLiveSpecification.attributeName");
    if (attribute->empty() || attribute->size() > 255) {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", *attribute,
          "' at 'timeToLiveSpecification.attributeName' failed to satisfy constraint: Member "
          "must have length ",
          attribute->empty() ? "greater than or equal to 1" : "less than or equal to 255"));
    }
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table, /*control=*/true));
    const TtlSetting& ttl = spec.ttl;
    if (ttl.enabled && ttl.attribute != *attribute) {
      return Validation(absl::StrCat(
          "TimeToLive is active on a different AttributeName: current AttributeName is ",
          ttl.attribute));
    }
    if (ttl.enabled == *enabled) {
      return Validation(*enabled ? "TimeToLive is already enabled" : "TimeToLive is already disabled");
    }
    UpdateTableRequest u;
    u.table = table;
    u.ttl_enabled = *enabled;
    if (*enabled) u.ttl_attribute = *attribute;
    auto updated = region_->UpdateTable(u);
    if (absl::IsFailedPrecondition(updated.status())) {
      return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                   updated.status().message());
    }
    if (!updated.ok()) return updated.status();
    return json{{"TimeToLiveSpecification", {{"Enabled", *enabled}, {"AttributeName", *attribute}}}};
  }

  absl::StatusOr<json> DescribeTimeToLive(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table, /*control=*/true));
    json d = {{"TimeToLiveStatus", spec.ttl.enabled ? "ENABLED" : "DISABLED"}};
    if (spec.ttl.enabled) d["AttributeName"] = spec.ttl.attribute;
    return json{{"TimeToLiveDescription", d}};
  }

  absl::StatusOr<json> DescribeTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    auto info = region_->DescribeTable(table);
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
    }
    if (!info.ok()) return info.status();
    return json{
        {"Table", TableDescription(*info, region_->name())}};
  }

  absl::StatusOr<json> DeleteTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    auto info = region_->DeleteTable(table);
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
    }
    if (absl::IsFailedPrecondition(info.status()) &&
        absl::StartsWith(info.status().message(), "ResourceInUseException")) {
      return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                   absl::StrCat("Attempt to change a resource which is still in use: Table is "
                                "being updated: ", table));
    }
    if (absl::IsFailedPrecondition(info.status())) {  // the replica has deletion protection
      return Validation(
          "Resource cannot be deleted as it is currently protected against deletion. Disable "
          "deletion protection first.");
    }
    if (!info.ok()) return info.status();
    return json{{"TableDescription",
                 TableDescription(*info, region_->name(), "DELETING")}};
  }

  absl::StatusOr<json> ListTables(const json& req) {
    ASSIGN_OR_RETURN(auto start, OptString(req, "ExclusiveStartTableName"));
    if (start) RETURN_IF_ERROR(CheckTableName(*start, "exclusiveStartTableName"));
    ASSIGN_OR_RETURN(auto limit, BoundedLimit(req, 100));
    size_t max = limit ? static_cast<size_t>(*limit) : 100;
    std::vector<std::string> names = region_->ListTables();
    std::sort(names.begin(), names.end());
    json out = {{"TableNames", json::array()}};
    auto it = start ? std::upper_bound(names.begin(), names.end(), *start) : names.begin();
    for (; it != names.end() && out["TableNames"].size() < max; ++it) {
      out["TableNames"].push_back(*it);
    }
    if (it != names.end() && !out["TableNames"].empty()) {
      out["LastEvaluatedTableName"] = out["TableNames"].back();
    }
    return out;
  }

  absl::StatusOr<json> PutItem(const json& req) {
    return RunWrite(PreparePutOrDelete(req, /*put=*/true));
  }

  absl::StatusOr<json> GetItem(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"AttributesToGet"}));
    ASSIGN_OR_RETURN(Item key, ItemField(req, "Key", true));
    // Every read of the local copy is strongly consistent; ConsistentRead only decides the
    // read capacity charged (half for an eventually consistent read).
    ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(req, &p));
    ASSIGN_OR_RETURN(auto proj, OptProjection(req, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, proj.has_value()));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    RETURN_IF_ERROR(CheckKey(spec, key));
    ASSIGN_OR_RETURN(GetResult r, region_->GetItem(table, key));
    RETURN_IF_ERROR(ChargeRead(spec, r.item ? ItemSize(*r.item) : 0, consistent.value_or(false)));
    json out = json::object();
    if (r.item) out["Item"] = ItemToJson(proj ? expr::Project(*proj, *r.item) : *r.item);
    return out;
  }

  absl::StatusOr<json> UpdateItem(const json& req) { return RunWrite(PrepareUpdate(req)); }

  // UpdateItem, validated; the update runs against the item as committed before it.
  absl::StatusOr<PreparedWrite> PrepareUpdate(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"AttributeUpdates", "Expected", "ConditionalOperator"}));
    ASSIGN_OR_RETURN(Item key, ItemField(req, "Key", true));
    ASSIGN_OR_RETURN(auto rv_text, OptString(req, "ReturnValues"));
    std::string rv = rv_text.value_or("NONE");
    if (rv != "NONE" && rv != "ALL_OLD" && rv != "UPDATED_OLD" && rv != "ALL_NEW" &&
        rv != "UPDATED_NEW") {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", rv,
          "' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: "
          "[ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"));
    }
    ASSIGN_OR_RETURN(bool old_on_failure, ReturnOldOnConditionFailure(req));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(req, &p));
    ASSIGN_OR_RETURN(auto update_text, OptString(req, "UpdateExpression"));
    auto plan = std::make_shared<std::optional<expr::UpdatePlan>>();
    if (update_text) {
      ASSIGN_OR_RETURN(*plan, expr::ParseUpdate(*update_text, &p.ctx));
    }
    ASSIGN_OR_RETURN(
        auto cond, OptCondition(req, "ConditionExpression", expr::ExpressionKind::kCondition, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, plan->has_value() || cond));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    RETURN_IF_ERROR(CheckKey(spec, key));
    if (*plan) RETURN_IF_ERROR(expr::CheckKeyNotUpdated(**plan, KeyNames(spec)));
    auto condition = std::make_shared<std::optional<expr::Condition>>(std::move(cond));
    PreparedWrite w;
    w.table = std::move(table);
    w.key = key;
    w.fn = [condition, old_on_failure, plan, key = std::move(key)](
               const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
      ASSIGN_OR_RETURN(bool ok, Holds(*condition, current));
      if (!ok) return ConditionFailed(old_on_failure, current);
      if (!*plan) return std::optional<Item>(current ? *current : key);
      ASSIGN_OR_RETURN(Item next, expr::ApplyUpdate(**plan, current ? *current : key,
                                                    current.has_value()));
      RETURN_IF_ERROR(CheckItemSize(next, /*update=*/true));
      return std::optional<Item>(std::move(next));
    };
    w.answer = [rv, plan](const WriteResult& r) {
      json out = json::object();
      std::optional<Item> attrs;
      if (rv == "ALL_OLD") {
        attrs = r.old_item;
      } else if (rv == "ALL_NEW") {
        attrs = r.new_item;
      } else if (rv == "UPDATED_OLD" || rv == "UPDATED_NEW") {
        const std::optional<Item>& source = rv == "UPDATED_OLD" ? r.old_item : r.new_item;
        if (source && *plan) {
          expr::Projection updated;
          for (const auto& a : (*plan)->actions) updated.paths.push_back(a.path);
          attrs = expr::Project(updated, *source);
        }
      }
      if (attrs && !attrs->empty()) out["Attributes"] = ItemToJson(*attrs);
      return out;
    };
    return w;
  }

  absl::StatusOr<json> DeleteItem(const json& req) {
    return RunWrite(PreparePutOrDelete(req, /*put=*/false));
  }

  absl::StatusOr<json> RunWrite(absl::StatusOr<PreparedWrite> w) {
    RETURN_IF_ERROR(w.status());
    ASSIGN_OR_RETURN(WriteResult r, region_->MutateItem(w->table, w->key, w->fn));
    return w->answer(r);
  }

  // PutItem (`put`) and DeleteItem: one item written or deleted under an optional
  // ConditionExpression, answering the old item when ReturnValues is ALL_OLD.
  absl::StatusOr<PreparedWrite> PreparePutOrDelete(const json& req, bool put) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"Expected", "ConditionalOperator"}));
    ASSIGN_OR_RETURN(Item input, ItemField(req, put ? "Item" : "Key", true));
    ASSIGN_OR_RETURN(auto rv, OptString(req, "ReturnValues"));
    if (rv && *rv != "NONE" && *rv != "ALL_OLD") {
      return Validation("ReturnValues can only be ALL_OLD or NONE");
    }
    bool return_old = rv && *rv == "ALL_OLD";
    ASSIGN_OR_RETURN(bool old_on_failure, ReturnOldOnConditionFailure(req));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(req, &p));
    ASSIGN_OR_RETURN(
        auto cond, OptCondition(req, "ConditionExpression", expr::ExpressionKind::kCondition, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, cond.has_value()));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    std::optional<Item> next;
    if (put) {
      RETURN_IF_ERROR(CheckWriteItem(spec, input));
    } else {
      RETURN_IF_ERROR(CheckKey(spec, input));
    }
    PreparedWrite w;
    w.table = std::move(table);
    w.key = put ? KeyOf(spec, input) : input;
    if (put) next = std::move(input);
    auto condition = std::make_shared<std::optional<expr::Condition>>(std::move(cond));
    auto written = std::make_shared<std::optional<Item>>(std::move(next));
    w.fn = [condition, old_on_failure, written](
               const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
      ASSIGN_OR_RETURN(bool ok, Holds(*condition, current));
      if (!ok) return ConditionFailed(old_on_failure, current);
      return *written;
    };
    w.answer = [return_old](const WriteResult& r) {
      json out = json::object();
      if (return_old && r.old_item) out["Attributes"] = ItemToJson(*r.old_item);
      return out;
    };
    return w;
  }

  // What Query and Scan share after the read: filter, projection, Select, counts.
  struct ReadShape {
    std::optional<expr::Condition> filter;
    std::optional<expr::Projection> projection;
    Select select = Select::kAll;
  };

  // Shapes one page of Query or Scan. Like DynamoDB, a page reads at most 1 MB of items (before
  // filtering): when `items` hold more, the page ends at the item that reaches 1 MB and its key
  // becomes LastEvaluatedKey.
  // `gsi`: the page reads that index, whose keys (index key and table key) then make the
  // LastEvaluatedKey.
  // Charges the read capacity of the bytes the page read (`consistent`: strongly consistent
  // units) and fails with ProvisionedThroughputExceededException when the table cannot pay.
  absl::StatusOr<json> Shape(const ReadShape& shape, const TableSpec& spec,
                             const std::vector<Item>& items, Item last_key, bool consistent,
                             const GsiSetting* gsi = nullptr) {
    json out = json::object();
    json out_items = json::array();
    int64_t count = 0;
    size_t scanned = 0;
    int64_t bytes = 0;
    for (const Item& item : items) {
      ++scanned;
      bytes += ItemSize(item);
      ASSIGN_OR_RETURN(bool keep, Holds(shape.filter, item));
      if (keep) {
        ++count;
        if (shape.select != Select::kCount) {
          out_items.push_back(
              ItemToJson(shape.projection ? expr::Project(*shape.projection, item) : item));
        }
      }
      if (bytes >= kMaxPageBytes && scanned < items.size()) {
        last_key = gsi ? TableEngine::IndexKeyOf(spec, *gsi, item) : KeyOf(spec, item);
        break;
      }
    }
    RETURN_IF_ERROR(ChargeRead(spec, bytes, consistent));
    if (shape.select != Select::kCount) out["Items"] = std::move(out_items);
    out["Count"] = count;
    out["ScannedCount"] = static_cast<int64_t>(scanned);
    if (!last_key.empty()) out["LastEvaluatedKey"] = ItemToJson(last_key);
    return out;
  }

  // Charges the read units of `bytes` read from `spec`'s table when it is PROVISIONED (see
  // Region::ConsumeReadCapacity); on-demand tables cost nothing, not even a lock.
  absl::Status ChargeRead(const TableSpec& spec, int64_t bytes, bool consistent) {
    if (spec.billing.mode != "PROVISIONED") return absl::OkStatus();
    return region_->ConsumeReadCapacity(spec.name, TableEngine::ReadUnits(bytes, consistent));
  }

  // One page of a Query or Scan, read in chunks from `fetch` (a start key and a chunk size in,
  // one page of the core out) until `limit` items are kept (0: no limit) or the kept items
  // reach 1 MB, as DynamoDB's pages end; `keep` (null: keep all) drops items or turns them into
  // what the page holds. The key of the last kept item - with the index's keys when reading
  // `gsi` - is the LastEvaluatedKey when the page ends before the data does. Reading in chunks
  // keeps a page's cost to what it answers, not the whole table or partition.
  using Fetch = std::function<absl::StatusOr<Page>(const Item& start, int chunk)>;
  absl::StatusOr<Page> ReadPage(const Fetch& fetch, Item start, int limit,
                                const std::function<bool(Item&)>& keep, const TableSpec& spec,
                                const GsiSetting* gsi) {
    constexpr int kChunk = 256;
    Page out;
    int64_t bytes = 0;
    while (true) {
      // Without `keep`, every item read is kept: read no more than the page still needs.
      int chunk = limit > 0 && !keep
                      ? std::min<int>(kChunk, limit - static_cast<int>(out.items.size()))
                      : kChunk;
      ASSIGN_OR_RETURN(Page page, fetch(start, chunk));
      for (Item& item : page.items) {
        if (keep && !keep(item)) continue;
        bytes += ItemSize(item);
        out.items.push_back(std::move(item));
        if ((limit > 0 && static_cast<int>(out.items.size()) == limit) ||
            bytes >= kMaxPageBytes) {
          const Item& last = out.items.back();
          out.last_evaluated_key =
              gsi ? TableEngine::IndexKeyOf(spec, *gsi, last) : KeyOf(spec, last);
          return out;
        }
      }
      if (page.last_evaluated_key.empty()) return out;
      start = std::move(page.last_evaluated_key);
    }
  }

  absl::StatusOr<ReadShape> ReadShapeOf(const json& req, Placeholders* p, bool index = false) {
    ReadShape shape;
    ASSIGN_OR_RETURN(shape.filter,
                     OptCondition(req, "FilterExpression", expr::ExpressionKind::kFilter, p));
    ASSIGN_OR_RETURN(shape.projection, OptProjection(req, p));
    ASSIGN_OR_RETURN(shape.select, SelectOf(req, shape.projection.has_value(), index));
    return shape;
  }

  absl::StatusOr<json> Query(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(
        req, {"KeyConditions", "QueryFilter", "AttributesToGet", "ConditionalOperator"}));
    ASSIGN_OR_RETURN(auto index, OptString(req, "IndexName"));
    ASSIGN_OR_RETURN(int limit, LimitOf(req));
    ASSIGN_OR_RETURN(auto forward, OptBool(req, "ScanIndexForward"));
    ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
    ASSIGN_OR_RETURN(Item start, ItemField(req, "ExclusiveStartKey", false));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(req, &p));
    ASSIGN_OR_RETURN(auto kc_text, OptString(req, "KeyConditionExpression"));
    if (!kc_text) {
      return Validation(
          "Either the KeyConditions or KeyConditionExpression parameter must be "
          "specified in the request.");
    }
    ASSIGN_OR_RETURN(expr::KeyCondition kc, expr::ParseKeyCondition(*kc_text, &p.ctx));
    ASSIGN_OR_RETURN(ReadShape shape, ReadShapeOf(req, &p, index.has_value()));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    KeyDef hash_key = spec.hash_key;
    std::optional<KeyDef> range_key = spec.range_key;
    const GsiSetting* gsi = nullptr;
    if (index) {
      auto g = spec.gsis.find(*index);
      if (g == spec.gsis.end() || g->second.deleted) {
        return Validation(absl::StrCat("The table does not have the specified index: ", *index));
      }
      if (consistent.value_or(false)) {
        return Validation("Consistent reads are not supported on global secondary indexes");
      }
      gsi = &g->second;
      hash_key = gsi->hash_key;
      range_key = gsi->range_key;
    }
    ASSIGN_OR_RETURN(expr::KeyQuery kq, expr::BindKeySchema(kc, hash_key, range_key));
    if (!start.empty()) {
      // A query of an index starts from an index key plus the table key (what its
      // LastEvaluatedKey holds); the table key part is checked here, the rest by the core.
      auto ok = CheckKey(spec, gsi ? TableKeyPart(spec, start) : start);
      if (!ok.ok())
        return Validation("The provided starting key is invalid: " + std::string(ok.message()));
    }
    QueryRequest q;
    q.table = table;
    if (index) q.index = *index;
    q.hash_value = kq.hash_value;
    q.backward = forward.has_value() && !*forward;
    q.limit = limit;
    q.exclusive_start_key = start;
    if (kq.range) {
      using Op = RangeCondition::Op;
      switch (kq.range->op) {
        case expr::KeyOp::kEq:
          q.range.op = Op::kEq;
          break;
        case expr::KeyOp::kLt:
          q.range.op = Op::kLt;
          break;
        case expr::KeyOp::kLe:
          q.range.op = Op::kLe;
          break;
        case expr::KeyOp::kGt:
          q.range.op = Op::kGt;
          break;
        case expr::KeyOp::kGe:
          q.range.op = Op::kGe;
          break;
        case expr::KeyOp::kBetween:
          q.range.op = Op::kBetween;
          break;
        case expr::KeyOp::kBeginsWith:
          q.range.op = Op::kBeginsWith;
          break;
      }
      q.range.value = kq.range->value;
      q.range.value2 = kq.range->value2;
      if (q.range.op == Op::kBetween &&
          ((q.range.value.type() == ValueType::kN &&
            CompareNumbers(q.range.value.scalar(), q.range.value2.scalar()) > 0) ||
           (q.range.value.type() != ValueType::kN &&
            q.range.value.scalar() > q.range.value2.scalar()))) {
        return Validation(
            "Invalid KeyConditionExpression: The BETWEEN operator requires upper "
            "bound to be greater than or equal to lower bound");
      }
    }
    auto page = ReadPage(
        [&](const Item& from, int chunk) {
          QueryRequest part = q;
          part.exclusive_start_key = from;
          part.limit = chunk;
          return region_->Query(part);
        },
        start, limit, nullptr, spec, gsi);
    if (index && absl::IsFailedPrecondition(page.status())) {
      return Validation(
          absl::StrCat("Cannot read from backfilling global secondary index: ", *index));
    }
    if (!start.empty() && absl::IsInvalidArgument(page.status()) &&
        absl::StartsWith(page.status().message(),
                         "the exclusive start key does not match the range key condition")) {
      return Validation("The provided starting key does not match the range key predicate");
    }
    if (gsi && !start.empty() && absl::IsInvalidArgument(page.status()) &&
        absl::StartsWith(page.status().message(), "the exclusive start key")) {
      // Not this index's key, or another partition's (the core says which, DynamoDB does not).
      return Validation(
          "The provided starting key is invalid: The provided key element does not match the "
          "schema");
    }
    if (!page.ok()) return page.status();
    return Shape(shape, spec, page->items, page->last_evaluated_key, consistent.value_or(false),
                 gsi);
  }

  absl::StatusOr<json> Scan(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"ScanFilter", "AttributesToGet", "ConditionalOperator"}));
    ASSIGN_OR_RETURN(auto index, OptString(req, "IndexName"));
    ASSIGN_OR_RETURN(int limit, LimitOf(req));
    ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
    ASSIGN_OR_RETURN(auto segment, OptInt(req, "Segment"));
    ASSIGN_OR_RETURN(auto total, OptInt(req, "TotalSegments"));
    if (segment.has_value() != total.has_value()) {
      return Validation(segment ? "The TotalSegments parameter is required but was not present "
                                  "in the request when Segment parameter is present"
                                : "The Segment parameter is required but was not present in the "
                                  "request when parameter TotalSegments is present");
    }
    if (total && (*total < 1 || *total > 1000000)) {
      return Validation(absl::StrCat("1 validation error detected: Value '", *total,
                                     "' at 'totalSegments' failed to satisfy constraint: Member "
                                     "must have value between 1 and 1000000"));
    }
    if (segment && (*segment < 0 || *segment >= *total)) {
      return Validation(
          absl::StrCat("The Segment parameter is zero-based and must be less than "
                       "parameter TotalSegments: Segment: ",
                       *segment, " is not less than TotalSegments: ", *total));
    }
    ASSIGN_OR_RETURN(Item start, ItemField(req, "ExclusiveStartKey", false));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(req, &p));
    ASSIGN_OR_RETURN(ReadShape shape, ReadShapeOf(req, &p, index.has_value()));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, shape.filter || shape.projection));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    std::optional<GsiSetting> gsi;
    if (index) {
      auto g = spec.gsis.find(*index);
      if (g == spec.gsis.end() || g->second.deleted) {
        return Validation(absl::StrCat("The table does not have the specified index: ", *index));
      }
      if (consistent.value_or(false)) {
        return Validation("Consistent reads are not supported on global secondary indexes");
      }
      ASSIGN_OR_RETURN(TableInfo info, region_->DescribeTable(table));
      if (auto st = info.index_status.find(*index);
          st != info.index_status.end() && st->second != "ACTIVE") {
        return Validation(
            absl::StrCat("Cannot read from backfilling global secondary index: ", *index));
      }
      gsi = g->second;
    }
    if (!start.empty()) {
      // A scan of an index resumes from a table key plus the index's key (its LastEvaluatedKey);
      // the table order it reads in needs the table key only.
      if (gsi) start = TableKeyPart(spec, start);
      auto ok = CheckKey(spec, start);
      if (!ok.ok())
        return Validation("The provided starting key is invalid: " + std::string(ok.message()));
    }
    // The whole table in table order; a parallel scan segment keeps the items whose hash key
    // falls in it, a scan of a global secondary index the items that have its key attributes
    // (in its projection). Limit and the 1 MB page count the kept items.
    std::function<bool(Item&)> keep = [&](Item& item) {
      auto hk = item.find(spec.hash_key.name);
      if (hk == item.end()) return false;
      if (total && *total > 1 &&
          static_cast<int64_t>(Fnv1a(EncodeHashKey(hk->second)) % *total) != *segment) {
        return false;
      }
      if (gsi) {
        std::optional<Item> in_index = IndexView(spec, *gsi, item);
        if (!in_index) return false;
        item = std::move(*in_index);
      }
      return true;
    };
    ASSIGN_OR_RETURN(Page page, ReadPage(
                                    [&](const Item& from, int chunk) {
                                      ScanRequest part;
                                      part.table = table;
                                      part.limit = chunk;
                                      part.exclusive_start_key = from;
                                      return region_->Scan(part);
                                    },
                                    start, limit,
                                    gsi || (total && *total > 1) ? keep : nullptr, spec,
                                    gsi ? &*gsi : nullptr));
    return Shape(shape, spec, page.items, page.last_evaluated_key, consistent.value_or(false),
                 gsi ? &*gsi : nullptr);
  }

  // The RequestItems map of BatchWriteItem / BatchGetItem: present, a map, not empty.
  absl::StatusOr<const json*> RequestItems(const json& req) {
    const json* ri = Field(req, "RequestItems");
    if (!ri) {
      return MissingMember("requestItems");
    }
    if (!ri->is_object()) {
      return Serialization("Unexpected value type in payload: RequestItems must be a map");
    }
    if (ri->empty()) {
      return Validation(
          "1 validation error detected: Value '{}' at 'requestItems' failed to "
          "satisfy constraint: Member must have length greater than or equal to 1");
    }
    return ri;
  }

  absl::StatusOr<json> BatchWriteItem(const json& req) {
    ASSIGN_OR_RETURN(const json* ri, RequestItems(req));
    std::vector<Region::ItemMutation> writes;
    std::vector<std::pair<std::string, const json*>> raw;  // each write's WriteRequest
    bool provisioned = false;
    for (const auto& [table, list] : ri->items()) {
      RETURN_IF_ERROR(CheckTableName(table, "requestItems"));
      if (!list.is_array()) {
        return Serialization("Unexpected value type in payload: RequestItems values must be lists");
      }
      if (list.empty() || list.size() > kMaxBatchWrite) {
        return Validation(absl::StrCat(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have length less than or equal to ",
            kMaxBatchWrite, ", Member must have length greater than or equal to 1]"));
      }
      ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
      provisioned |= spec.billing.mode == "PROVISIONED";
      std::set<std::string> keys;  // encoded, to find duplicates
      for (const json& w : list) {
        if (!w.is_object()) {
          return Serialization("Unexpected value type in payload: WriteRequest must be a map");
        }
        const json* put = Field(w, "PutRequest");
        const json* del = Field(w, "DeleteRequest");
        if ((put != nullptr) == (del != nullptr)) {
          return Validation(
              "Supplied AttributeValue has more than one datatypes set, must "
              "contain exactly one of the supported datatypes");
        }
        Region::ItemMutation m;
        m.table = table;
        std::optional<Item> next;
        if (put) {
          if (!put->is_object()) {
            return Serialization("Unexpected value type in payload: PutRequest must be a map");
          }
          ASSIGN_OR_RETURN(Item item, ItemField(*put, "Item", true));
          // A missing or mistyped key attribute: BatchWriteItem words it as a key mismatch
          // (PutItem names the attribute).
          if (!CheckItemKey(spec, item).ok()) {
            return Validation("The provided key element does not match the schema");
          }
          RETURN_IF_ERROR(CheckWriteItem(spec, item));
          m.key = KeyOf(spec, item);
          next = std::move(item);
        } else {
          if (!del->is_object()) {
            return Serialization("Unexpected value type in payload: DeleteRequest must be a map");
          }
          ASSIGN_OR_RETURN(m.key, ItemField(*del, "Key", true));
          RETURN_IF_ERROR(CheckKey(spec, m.key));
        }
        if (!keys.insert(EncodeItem(m.key)).second) {
          return Validation("Provided list of item keys contains duplicates");
        }
        m.fn = [next](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
          return next;
        };
        writes.push_back(std::move(m));
        raw.emplace_back(table, &w);
      }
    }
    if (writes.size() > kMaxBatchWrite) {
      return Validation("Too many items requested for the BatchWriteItem call");
    }
    if (!provisioned) {
      // One transaction for the whole batch (group commit); DynamoDB does not promise
      // atomicity here, and on-demand tables are never throttled.
      RETURN_IF_ERROR(region_->MutateItems(writes).status());
      return json{{"UnprocessedItems", json::object()}};
    }
    // With a PROVISIONED table, the writes go one at a time: those beyond its write capacity
    // come back in UnprocessedItems, as in DynamoDB; when none could be written, the answer is
    // ProvisionedThroughputExceededException.
    json unprocessed = json::object();
    size_t throttled = 0;
    absl::Status last_throttle;
    for (size_t i = 0; i < writes.size(); ++i) {
      absl::Status st = region_->MutateItems({writes[i]}).status();
      if (IsThrottle(st)) {
        ++throttled;
        last_throttle = st;
        unprocessed[raw[i].first].push_back(*raw[i].second);
        continue;
      }
      RETURN_IF_ERROR(st);
    }
    if (throttled == writes.size()) return last_throttle;
    return json{{"UnprocessedItems", std::move(unprocessed)}};
  }

  absl::StatusOr<json> BatchGetItem(const json& req) {
    ASSIGN_OR_RETURN(const json* ri, RequestItems(req));
    size_t total = 0;
    struct TableRead {
      std::string table;
      const json* request;  // its KeysAndAttributes, echoed in UnprocessedKeys
      std::vector<Item> keys;
      std::optional<expr::Projection> projection;
      bool consistent = false;  // decides the read units charged
      TableSpec spec;
    };
    std::vector<TableRead> reads;
    for (const auto& [table, spec_json] : ri->items()) {
      RETURN_IF_ERROR(CheckTableName(table, "requestItems"));
      if (!spec_json.is_object()) {
        return Serialization("Unexpected value type in payload: KeysAndAttributes must be a map");
      }
      RETURN_IF_ERROR(RejectLegacy(spec_json, {"AttributesToGet"}));
      const json* keys = Field(spec_json, "Keys");
      if (!keys || !keys->is_array() || keys->empty() || keys->size() > kMaxBatchGet) {
        return Validation(absl::StrCat(
            "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
            "Map value must satisfy constraint: [Member must have length less than or equal to ",
            kMaxBatchGet, ", Member must have length greater than or equal to 1]"));
      }
      ASSIGN_OR_RETURN(auto consistent, OptBool(spec_json, "ConsistentRead"));
      Placeholders p;
      RETURN_IF_ERROR(ReadPlaceholders(spec_json, &p));
      TableRead read;
      read.consistent = consistent.value_or(false);
      read.table = table;
      read.request = &spec_json;
      ASSIGN_OR_RETURN(read.projection, OptProjection(spec_json, &p));
      RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, read.projection.has_value()));
      RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
      ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
      std::set<std::string> seen;  // encoded keys
      for (const json& k : *keys) {
        if (!k.is_object()) return Serialization("Unexpected value type in payload: Keys members must be maps");
        ASSIGN_OR_RETURN(Item key, DdbItemFromJson(k));
        RETURN_IF_ERROR(CheckKey(spec, key));
        if (!seen.insert(EncodeItem(key)).second) {
          return Validation("Provided list of item keys contains duplicates");
        }
        read.keys.push_back(std::move(key));
      }
      read.spec = std::move(spec);
      total += read.keys.size();
      reads.push_back(std::move(read));
    }
    if (total > kMaxBatchGet) {
      return Validation("Too many items requested for the BatchGetItem call");
    }
    // DynamoDB answers at most 16 MB; keys beyond that, and the keys of a PROVISIONED table
    // from the first read its read capacity cannot pay for, come back in UnprocessedKeys with
    // the rest of their table's request, for the caller to send again. When every table was
    // throttled before any read, the answer is ProvisionedThroughputExceededException.
    json responses = json::object();
    json unprocessed = json::object();
    int64_t bytes = 0;
    size_t read_keys = 0;
    absl::Status throttle;
    for (const TableRead& read : reads) {
      json items = json::array();
      json left = json::array();
      bool throttled = false;
      for (const Item& key : read.keys) {
        if (bytes >= kMaxBatchGetBytes || throttled) {
          left.push_back(ItemToJson(key));
          continue;
        }
        ASSIGN_OR_RETURN(GetResult r, region_->GetItem(read.table, key));
        absl::Status paid = ChargeRead(read.spec, r.item ? ItemSize(*r.item) : 0, read.consistent);
        if (IsThrottle(paid)) {
          throttled = true;
          throttle = paid;
          left.push_back(ItemToJson(key));
          continue;
        }
        RETURN_IF_ERROR(paid);
        ++read_keys;
        if (!r.item) continue;
        Item shown = read.projection ? expr::Project(*read.projection, *r.item) : *r.item;
        bytes += ItemSize(shown);
        items.push_back(ItemToJson(shown));
      }
      responses[read.table] = std::move(items);
      if (!left.empty()) {
        json rest = *read.request;
        rest["Keys"] = std::move(left);
        unprocessed[read.table] = std::move(rest);
      }
    }
    if (read_keys == 0 && !throttle.ok()) return throttle;
    return json{{"Responses", responses}, {"UnprocessedKeys", unprocessed}};
  }

  static absl::Status TransactionTooLarge(int64_t bytes) {
    return Validation(absl::StrCat(
        "Transaction size has exceeded the maximum allowed size: the items of a "
        "TransactWriteItems request may total at most 4 MB, these total ", bytes,
        " bytes; split it into several transactions"));
  }

  // TransactItems of TransactWriteItems / TransactGetItems: a list of 1..100 maps.
  absl::StatusOr<const json*> TransactItems(const json& req) {
    const json* items = Field(req, "TransactItems");
    if (!items) {
      return MissingMember("transactItems");
    }
    if (!items->is_array()) {
      return Serialization("Unexpected value type in payload: TransactItems must be a list");
    }
    if (items->empty() || items->size() > kMaxTransactItems) {
      // DynamoDB's two wordings: the empty list echoed, the long one named by its member.
      return Validation(
          items->empty()
              ? std::string("1 validation error detected: Value '[]' at 'transactItems' failed "
                            "to satisfy constraint: Member must have length greater than or "
                            "equal to 1")
              : absl::StrCat("1 validation error detected: Value at 'TransactItems' failed to "
                             "satisfy constraint: Member must have length less than or equal to ",
                             kMaxTransactItems));
    }
    for (const json& t : *items) {
      if (!t.is_object()) {
        return Serialization("Unexpected value type in payload: TransactItems members must be maps");
      }
    }
    return items;
  }

  // TransactWriteItems: every condition is checked against this region's copy, then every
  // write is committed in one SQLite transaction, or nothing is (atomic in this region only,
  // as in a DynamoDB global table; other regions receive the writes as they replicate).
  absl::StatusOr<json> TransactWriteItems(const json& req) {
    ASSIGN_OR_RETURN(const json* items, TransactItems(req));
    ASSIGN_OR_RETURN(auto token, OptString(req, "ClientRequestToken"));
    if (token && (token->empty() || token->size() > 36)) {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", *token,
          "' at 'clientRequestToken' failed to satisfy constraint: Member must have length ",
          token->empty() ? "greater than or equal to 1" : "less than or equal to 36"));
    }
    uint64_t fingerprint = Fnv1a(Dump(*items));
    if (token) {
      absl::MutexLock l(&tokens_->mu);
      auto it = tokens_->seen.find(*token);
      if (it != tokens_->seen.end() && absl::Now() - it->second.second < absl::Minutes(10)) {
        if (it->second.first != fingerprint) {
          return Typed(absl::StatusCode::kInvalidArgument, "IdempotentParameterMismatchException",
                       "The request uses the same client token as a previous, but non-identical "
                       "request.");
        }
        return json::object();  // already applied: DynamoDB answers success, writes nothing
      }
    }
    // What each entry needs, parsed and validated up front: bad input writes nothing.
    struct Entry {
      std::string kind;  // ConditionCheck, Put, Delete, Update
      std::string table;
      Item key;
      std::optional<Item> item;  // Put
      std::optional<expr::Condition> cond;
      std::optional<expr::UpdatePlan> plan;
      bool old_on_failure = false;
    };
    std::vector<Entry> entries;
    std::set<std::pair<std::string, std::string>> targets;
    // The aggregate size of the transaction's items (DynamoDB's limit: 4 MB): Put items and the
    // keys of the other actions, then what the updates make of their items.
    int64_t aggregate = 0;
    for (const json& t : *items) {
      if (t.size() != 1 || !(t.contains("ConditionCheck") || t.contains("Put") ||
                             t.contains("Delete") || t.contains("Update"))) {
        return Validation("TransactItems can only contain one of Check, Put, Update or Delete");
      }
      Entry e;
      e.kind = t.begin().key();
      const json& op = t.begin().value();
      if (!op.is_object()) {
        return Serialization(absl::StrCat("Unexpected value type in payload: ", e.kind,
                                          " must be a map"));
      }
      ASSIGN_OR_RETURN(e.table, TableNameOf(op));
      ASSIGN_OR_RETURN(e.old_on_failure, ReturnOldOnConditionFailure(op));
      Placeholders p;
      RETURN_IF_ERROR(ReadPlaceholders(op, &p));
      if (e.kind == "Update") {
        ASSIGN_OR_RETURN(auto text, OptString(op, "UpdateExpression"));
        if (!text) {
          return MissingMember("transactItems.member.update.updateExpression");
        }
        ASSIGN_OR_RETURN(e.plan, expr::ParseUpdate(*text, &p.ctx));
      }
      ASSIGN_OR_RETURN(e.cond, OptCondition(op, "ConditionExpression",
                                            expr::ExpressionKind::kCondition, &p));
      if (e.kind == "ConditionCheck" && !e.cond) {
        return MissingMember("transactItems.member.conditionCheck.conditionExpression");
      }
      RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, e.cond || e.plan));
      RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
      ASSIGN_OR_RETURN(TableSpec spec, Spec(e.table));
      if (e.kind == "Put") {
        ASSIGN_OR_RETURN(Item item, ItemField(op, "Item", true));
        RETURN_IF_ERROR(CheckWriteItem(spec, item));
        e.key = KeyOf(spec, item);
        e.item = std::move(item);
      } else {
        ASSIGN_OR_RETURN(e.key, ItemField(op, "Key", true));
        RETURN_IF_ERROR(CheckKey(spec, e.key));
      }
      if (e.plan) RETURN_IF_ERROR(expr::CheckKeyNotUpdated(*e.plan, KeyNames(spec)));
      if (!targets.emplace(e.table, EncodeItem(e.key)).second) {
        return Validation("Transaction request cannot include multiple operations on one item");
      }
      aggregate += e.item ? ItemSize(*e.item) : ItemSize(e.key);
      entries.push_back(std::move(e));
    }
    if (aggregate > kMaxTransactBytes) return TransactionTooLarge(aggregate);
    // Each entry's cancellation reason, filled in by its mutation (under the region's lock).
    std::vector<json> reasons(entries.size(), json{{"Code", "None"}});
    bool cancelled = false;
    std::vector<Region::ItemMutation> mutations;
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      Region::ItemMutation m;
      m.table = e.table;
      m.key = e.key;
      m.check_only = e.kind == "ConditionCheck";
      m.fn = [&, i](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
        const Entry& e = entries[i];
        auto fail = [&](const char* code, absl::string_view message) {
          cancelled = true;
          reasons[i] = {{"Code", code}, {"Message", message}};
          if (e.old_on_failure && current && std::string(code) == "ConditionalCheckFailed") {
            reasons[i]["Item"] = ItemToJson(*current);
          }
          return absl::AbortedError(message);
        };
        auto ok = Holds(e.cond, current);
        if (!ok.ok()) return fail("ValidationError", ok.status().message());
        if (!*ok) return fail("ConditionalCheckFailed", "The conditional request failed");
        if (e.kind == "Put") return e.item;
        if (e.kind == "Delete") return std::optional<Item>();
        if (e.kind == "ConditionCheck") return current;
        auto next = expr::ApplyUpdate(*e.plan, current ? *current : e.key, current.has_value());
        if (!next.ok()) return fail("ValidationError", next.status().message());
        absl::Status size = CheckItemSize(*next, /*update=*/true);
        if (!size.ok()) return fail("ValidationError", size.message());
        aggregate += ItemSize(*next) - ItemSize(e.key);
        if (aggregate > kMaxTransactBytes) {
          return fail("ValidationError", TransactionTooLarge(aggregate).message());
        }
        return std::optional<Item>(*std::move(next));
      };
      mutations.push_back(std::move(m));
    }
    auto written = region_->MutateItems(mutations);
    if (!written.ok()) {
      if (!cancelled) return written.status();
      std::vector<std::string> codes;
      for (const json& r : reasons) codes.push_back(r["Code"].get<std::string>());
      absl::Status st =
          Typed(absl::StatusCode::kAborted, "TransactionCanceledException",
                absl::StrCat("Transaction cancelled, please refer cancellation reasons for "
                             "specific reasons [",
                             absl::StrJoin(codes, ", "), "]"));
      st.SetPayload(kExtraPayload, absl::Cord(Dump(json{{"CancellationReasons", reasons}})));
      return st;
    }
    if (token) {
      absl::MutexLock l(&tokens_->mu);
      // Forget tokens older than DynamoDB's 10-minute idempotency window.
      absl::Time now = absl::Now();
      for (auto it = tokens_->seen.begin(); it != tokens_->seen.end();) {
        it = now - it->second.second >= absl::Minutes(10) ? tokens_->seen.erase(it) : ++it;
      }
      tokens_->seen[*token] = {fingerprint, now};
    }
    return json::object();
  }

  // TransactGetItems: every item read under one lock of this region, so the answer is one
  // consistent snapshot of the local copy.
  absl::StatusOr<json> TransactGetItems(const json& req) {
    ASSIGN_OR_RETURN(const json* items, TransactItems(req));
    std::vector<std::pair<std::string, Item>> keys;
    std::vector<std::optional<expr::Projection>> projections;
    std::set<std::pair<std::string, std::string>> targets;
    std::set<std::string> provisioned;  // tables whose read capacity is charged
    for (const json& t : *items) {
      if (t.size() != 1 || !t.contains("Get")) {
        return Validation("TransactItems can only contain Get");
      }
      const json& op = t["Get"];
      if (!op.is_object()) return Serialization("Unexpected value type in payload: Get must be a map");
      ASSIGN_OR_RETURN(std::string table, TableNameOf(op));
      Placeholders p;
      RETURN_IF_ERROR(ReadPlaceholders(op, &p));
      ASSIGN_OR_RETURN(auto proj, OptProjection(op, &p));
      RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, proj.has_value()));
      RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
      ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
      if (spec.billing.mode == "PROVISIONED") provisioned.insert(table);
      ASSIGN_OR_RETURN(Item key, ItemField(op, "Key", true));
      RETURN_IF_ERROR(CheckKey(spec, key));
      if (!targets.emplace(table, EncodeItem(key)).second) {
        return Validation("Transaction request cannot include multiple operations on one item");
      }
      keys.emplace_back(table, std::move(key));
      projections.push_back(std::move(proj));
    }
    ASSIGN_OR_RETURN(std::vector<GetResult> got, region_->GetItems(keys));
    // A transactional read costs twice a strongly consistent one, as in DynamoDB.
    std::map<std::string, double> units;  // by PROVISIONED table
    for (size_t i = 0; i < got.size(); ++i) {
      if (!provisioned.count(keys[i].first)) continue;
      units[keys[i].first] +=
          2 * TableEngine::ReadUnits(got[i].item ? ItemSize(*got[i].item) : 0, true);
    }
    for (const auto& [table, n] : units) RETURN_IF_ERROR(region_->ConsumeReadCapacity(table, n));
    json responses = json::array();
    for (size_t i = 0; i < got.size(); ++i) {
      json r = json::object();
      if (got[i].item) {
        r["Item"] = ItemToJson(projections[i] ? expr::Project(*projections[i], *got[i].item)
                                              : *got[i].item);
      }
      responses.push_back(std::move(r));
    }
    return json{{"Responses", std::move(responses)}};
  }

  // --- the streams API (target prefix DynamoDBStreams_20120810.) ---------------------------

 public:
  absl::StatusOr<json> RunStreams(const std::string& op, const json& req) {
    if (op == "ListStreams") return ListStreams(req);
    if (op == "DescribeStream") return DescribeStream(req);
    if (op == "GetShardIterator") return GetShardIterator(req);
    if (op == "GetRecords") return GetRecords(req);
    return absl::UnimplementedError(absl::StrCat("Unknown operation: ", op));
  }

 private:
  static absl::Status StreamNotFound(const std::string& arn) {
    return absl::NotFoundError(absl::StrCat("Stream: ", arn, " not found"));
  }

  // The live table whose current stream `arn` names.
  absl::StatusOr<TableSpec> StreamTable(const std::string& arn) {
    std::string prefix = absl::StrCat(TableArn(region_->name(), ""));
    size_t mark = arn.find("/stream/");
    if (!absl::StartsWith(arn, "arn:aws:dynamodb:") || mark == std::string::npos ||
        arn.size() < 37 || arn.size() > 1024) {
      return Validation(absl::StrCat("Invalid StreamArn: ", arn));
    }
    if (!absl::StartsWith(arn, prefix) || mark < prefix.size()) return StreamNotFound(arn);
    std::string table = arn.substr(prefix.size(), mark - prefix.size());
    for (TableSpec& spec : region_->Tables()) {
      if (spec.name == table && StreamArn(region_->name(), spec) == arn) return std::move(spec);
    }
    return StreamNotFound(arn);
  }

  absl::StatusOr<std::optional<std::string>> StreamArnField(const json& req, bool required) {
    ASSIGN_OR_RETURN(auto arn, OptString(req, "StreamArn"));
    if (!arn && required) {
      return MissingMember("streamArn");
    }
    return arn;
  }

  absl::StatusOr<json> ListStreams(const json& req) {
    ASSIGN_OR_RETURN(auto table, OptString(req, "TableName"));
    if (table) RETURN_IF_ERROR(CheckTableName(*table));
    ASSIGN_OR_RETURN(auto limit, BoundedLimit(req, 100));
    ASSIGN_OR_RETURN(auto start, OptString(req, "ExclusiveStartStreamArn"));
    std::vector<TableSpec> specs = region_->Tables();
    std::sort(specs.begin(), specs.end(),
              [](const TableSpec& a, const TableSpec& b) { return a.name < b.name; });
    if (table && std::none_of(specs.begin(), specs.end(),
                              [&](const TableSpec& s) { return s.name == *table; })) {
      return absl::NotFoundError(absl::StrCat("Table: ", *table, " not found"));
    }
    json streams = json::array();
    bool started = !start;
    size_t max = limit ? static_cast<size_t>(*limit) : 100;
    bool more = false;
    for (const TableSpec& spec : specs) {
      if (table && spec.name != *table) continue;
      std::string arn = StreamArn(region_->name(), spec);
      if (!started) {
        started = arn == *start || spec.name > StreamTableName(*start);
        if (arn == *start) continue;
        if (!started) continue;
      }
      if (streams.size() == max) {
        more = true;
        break;
      }
      streams.push_back(
          {{"StreamArn", arn}, {"TableName", spec.name}, {"StreamLabel", StreamLabel(spec)}});
    }
    json out = {{"Streams", streams}};
    if (more) out["LastEvaluatedStreamArn"] = streams.back()["StreamArn"];
    return out;
  }

  static std::string StreamTableName(const std::string& arn) {
    size_t slash = arn.find(":table/");
    size_t mark = arn.find("/stream/");
    if (slash == std::string::npos || mark == std::string::npos || mark < slash + 7) return "";
    return arn.substr(slash + 7, mark - slash - 7);
  }

  absl::StatusOr<json> DescribeStream(const json& req) {
    ASSIGN_OR_RETURN(auto arn, StreamArnField(req, true));
    ASSIGN_OR_RETURN(auto limit, BoundedLimit(req, 100));
    (void)limit;  // one shard per stream: every Limit fits it
    ASSIGN_OR_RETURN(auto start_shard, OptString(req, "ExclusiveStartShardId"));
    ASSIGN_OR_RETURN(TableSpec spec, StreamTable(*arn));
    // The shard starts at the table's first record (or where the next one will go).
    ASSIGN_OR_RETURN(Region::TableChanges first,
                     region_->ReadTableChanges(spec.name, 0, 1, std::numeric_limits<int>::max()));
    int64_t start_seq = first.changes.empty() ? first.head_seq + 1 : first.changes[0].seq;
    json key_schema = json::array();
    key_schema.push_back({{"AttributeName", spec.hash_key.name}, {"KeyType", "HASH"}});
    if (spec.range_key) {
      key_schema.push_back({{"AttributeName", spec.range_key->name}, {"KeyType", "RANGE"}});
    }
    json shards = json::array();
    if (!start_shard || *start_shard != ShardId(spec)) {
      shards.push_back({{"ShardId", ShardId(spec)},
                        {"SequenceNumberRange",
                         {{"StartingSequenceNumber", SequenceNumber(start_seq)}}}});
    }
    return json{{"StreamDescription",
                 {{"StreamArn", *arn},
                  {"StreamLabel", StreamLabel(spec)},
                  {"StreamStatus", "ENABLED"},
                  {"StreamViewType", StreamViewOf(spec)},
                  {"CreationRequestDateTime", static_cast<double>(spec.created.ts_us / 1000) / 1e3},
                  {"TableName", spec.name},
                  {"KeySchema", key_schema},
                  {"Shards", shards}}}};
  }

  static absl::StatusOr<int64_t> SequenceOf(const std::string& text) {
    int64_t seq = 0;
    if (text.empty() || text.size() > 40 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        !absl::SimpleAtoi(text, &seq) || seq < 1) {
      return Validation(absl::StrCat("Invalid SequenceNumber: ", text));
    }
    return seq;
  }

  // A shard iterator: "<stream arn>|<shard id>|<read after this seq>|<issued, unix micros>".
  static std::string MakeIterator(const std::string& arn, const std::string& shard,
                                  int64_t after_seq) {
    return absl::StrCat(arn, "|", shard, "|", after_seq, "|", absl::ToUnixMicros(absl::Now()));
  }

  absl::StatusOr<json> GetShardIterator(const json& req) {
    ASSIGN_OR_RETURN(auto arn, StreamArnField(req, true));
    ASSIGN_OR_RETURN(auto shard, OptString(req, "ShardId"));
    ASSIGN_OR_RETURN(auto type, OptString(req, "ShardIteratorType"));
    ASSIGN_OR_RETURN(auto seq_text, OptString(req, "SequenceNumber"));
    if (!shard || !type) {
      return MissingMember(shard ? "shardIteratorType" : "shardId");
    }
    if (*type != "TRIM_HORIZON" && *type != "LATEST" && *type != "AT_SEQUENCE_NUMBER" &&
        *type != "AFTER_SEQUENCE_NUMBER") {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", *type,
          "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value "
          "set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"));
    }
    bool by_seq = *type == "AT_SEQUENCE_NUMBER" || *type == "AFTER_SEQUENCE_NUMBER";
    if (by_seq && !seq_text) {
      return Validation(absl::StrCat("A SequenceNumber is required for ShardIteratorType ",
                                     *type));
    }
    if (!by_seq && seq_text) {
      return Validation(absl::StrCat("A SequenceNumber cannot be given for ShardIteratorType ",
                                     *type));
    }
    ASSIGN_OR_RETURN(TableSpec spec, StreamTable(*arn));
    if (*shard != ShardId(spec)) {
      return absl::NotFoundError(
          absl::StrCat("Shard ", *shard, " in stream ", *arn, " does not exist"));
    }
    int64_t after = 0;
    if (*type == "LATEST") {
      ASSIGN_OR_RETURN(Region::TableChanges now, region_->ReadTableChanges(spec.name, 0, 0, 0));
      after = now.head_seq;
    } else if (by_seq) {
      ASSIGN_OR_RETURN(int64_t seq, SequenceOf(*seq_text));
      after = *type == "AT_SEQUENCE_NUMBER" ? seq - 1 : seq;
    }
    return json{{"ShardIterator", MakeIterator(*arn, *shard, after)}};
  }

  absl::StatusOr<json> GetRecords(const json& req) {
    ASSIGN_OR_RETURN(auto iterator, OptString(req, "ShardIterator"));
    if (!iterator) {
      return MissingMember("shardIterator");
    }
    ASSIGN_OR_RETURN(auto limit_opt, BoundedLimit(req, 1000));
    int limit = limit_opt ? static_cast<int>(*limit_opt) : 1000;
    std::vector<std::string> parts = absl::StrSplit(*iterator, '|');
    int64_t after = 0, issued_us = 0;
    if (iterator->size() > 2048 || parts.size() != 4 || !absl::SimpleAtoi(parts[2], &after) ||
        !absl::SimpleAtoi(parts[3], &issued_us) || after < 0) {
      return Validation("Invalid ShardIterator");
    }
    int64_t now_us = absl::ToUnixMicros(absl::Now());
    if (now_us - issued_us > 15 * 60 * 1000000ll) {
      return Typed(absl::StatusCode::kInvalidArgument, "ExpiredIteratorException",
                   absl::StrCat("Iterator expired. The iterator was created at time ",
                                issued_us / 1000, " while right now it is ", now_us / 1000,
                                " which is further in the future than the tolerated delay of "
                                "900000 milliseconds."));
    }
    ASSIGN_OR_RETURN(TableSpec spec, StreamTable(parts[0]));
    if (parts[1] != ShardId(spec)) {
      return absl::NotFoundError(
          absl::StrCat("Shard ", parts[1], " in stream ", parts[0], " does not exist"));
    }
    ASSIGN_OR_RETURN(Region::TableChanges read,
                     region_->ReadTableChanges(spec.name, after, limit));
    json records = json::array();
    for (const Change& c : read.changes) records.push_back(StreamRecord(c, StreamViewOf(spec)));
    return json{{"Records", std::move(records)},
                {"NextShardIterator", MakeIterator(parts[0], parts[1], read.scanned_through)}};
  }

  // One change as a stream record, with the images `view` asks for.
  json StreamRecord(const Change& c, const std::string& view) {
    const char* name = StreamEventName(c);
    json d = {{"ApproximateCreationDateTime", static_cast<double>(c.stamp.ts_us / 1000000)},
              {"Keys", ItemToJson(c.key)},
              {"SequenceNumber", SequenceNumber(c.seq)},
              {"StreamViewType", view}};
    int64_t size = ItemSize(c.key);
    if (c.new_image && (view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES")) {
      d["NewImage"] = ItemToJson(*c.new_image);
      size += ItemSize(*c.new_image);
    }
    if (c.old_image && (view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES")) {
      d["OldImage"] = ItemToJson(*c.old_image);
      size += ItemSize(*c.old_image);
    }
    d["SizeBytes"] = std::max<int64_t>(size, 1);
    json record = {{"eventID", absl::StrCat(c.stamp.region, "-", SequenceNumber(c.seq))},
                   {"eventName", name},
                   {"eventVersion", "1.1"},
                   {"eventSource", "aws:dynamodb"},
                   {"awsRegion", region_->name()},
                   {"dynamodb", std::move(d)}};
    // A TTL expiry, in the stream of the region that expired the item (DynamoDB's marking).
    if (c.service_delete) {
      record["userIdentity"] = {{"PrincipalId", "dynamodb.amazonaws.com"}, {"Type", "Service"}};
    }
    return record;
  }

  Region* region_;
  DynamoDbEndpoint::Tokens* tokens_;
};

}  // namespace

// --- the endpoint ---------------------------------------------------------------------------

// Runs the operations that are neither single-item writes nor GetItem, off the event loop.
struct DynamoDbEndpoint::Workers {
  explicit Workers(int n) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { Work(); });
  }
  // Joins the threads; tasks not started by then are dropped (their requests go unanswered:
  // the server has closed their connections already).
  ~Workers() {
    {
      absl::MutexLock l(&mu);
      stopping = true;
    }
    for (auto& t : threads) t.join();
  }
  void Add(std::function<void()> task) {
    absl::MutexLock l(&mu);
    tasks.push_back(std::move(task));
  }
  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock l(&mu);
        auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
          return stopping || !tasks.empty();
        };
        mu.Await(absl::Condition(&ready));
        if (stopping) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task();
    }
  }
  absl::Mutex mu;
  std::deque<std::function<void()>> tasks ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::vector<std::thread> threads;
};

namespace {

// The single-item writes an event-loop thread has read and validated in its current batch of
// events, not yet submitted.
thread_local std::vector<Region::AsyncMutation> t_loop_writes;

bool IsSingleItemWrite(absl::string_view op) {
  return op == "PutItem" || op == "UpdateItem" || op == "DeleteItem";
}

// The request body as a JSON object, or DynamoDB's SerializationException.
absl::StatusOr<json> ParseBody(const std::string& body) {
  json req = json::parse(body.empty() ? std::string("{}") : body, nullptr,
                         /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) {
    return Serialization(
        "Start of structure or map found where not expected, or the request body is not valid "
        "JSON");
  }
  return req;
}

DynamoDbEndpoint::Reply ReplyOf(const absl::StatusOr<json>& out) {
  if (!out.ok()) return ErrorFor(out.status());
  return {200, Dump(*out)};
}

}  // namespace

DynamoDbEndpoint::DynamoDbEndpoint(Region* region) : region_(region) {}

DynamoDbEndpoint::~DynamoDbEndpoint() { Stop(); }

DynamoDbEndpoint::Reply DynamoDbEndpoint::Handle(const std::string& target, const std::string& body,
                                                 const std::string& host) const {
  try {
    bool streams = absl::StartsWith(target, kStreamsTargetPrefix);
    if (!streams && !absl::StartsWith(target, kTargetPrefix)) {
      return ErrorFor(Typed(absl::StatusCode::kUnimplemented, "UnknownOperationException",
                            target.empty() ? "Missing the X-Amz-Target header"
                                           : absl::StrCat("Unknown operation: ", target)));
    }
    std::string op = target.substr(streams ? kStreamsTargetPrefix.size() : kTargetPrefix.size());
    absl::StatusOr<json> req = ParseBody(body);
    if (!req.ok()) return ErrorFor(req.status());
    Operations ops(region_, tokens_.get());
    return ReplyOf(streams ? ops.RunStreams(op, *req) : ops.Run(op, *req, host));
  } catch (const std::exception& e) {
    return ErrorFor(absl::InternalError(absl::StrCat("internal error: ", e.what())));
  } catch (...) {
    return ErrorFor(absl::InternalError("internal error"));
  }
}

void DynamoDbEndpoint::CommitLoopWrites() const {
  if (!t_loop_writes.empty()) region_->MutateItemsLed(std::exchange(t_loop_writes, {}));
}

std::optional<Region::AsyncMutation> DynamoDbEndpoint::BeginWrite(
    absl::string_view op, const std::string& body, std::function<void(Reply)> answer) const {
  absl::StatusOr<Operations::PreparedWrite> w;
  try {
    absl::StatusOr<json> req = ParseBody(body);
    if (!req.ok()) {
      answer(ErrorFor(req.status()));
      return std::nullopt;
    }
    w = Operations(region_, tokens_.get()).PrepareWrite(std::string(op), *req);
  } catch (const std::exception& e) {
    w = absl::InternalError(absl::StrCat("internal error: ", e.what()));
  }
  if (!w.ok()) {
    answer(ErrorFor(w.status()));
    return std::nullopt;
  }
  // Both closures run on the thread that leads the group commit (the loop's, or the region's
  // committer thread): nothing may throw out of them.
  Region::AsyncMutation m;
  m.table = std::move(w->table);
  m.key = std::move(w->key);
  m.fn = [fn = std::move(w->fn)](const std::optional<Item>& current)
      -> absl::StatusOr<std::optional<Item>> {
    try {
      return fn(current);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("internal error: ", e.what()));
    }
  };
  m.done = [shape = std::move(w->answer), answer = std::move(answer)](
               absl::StatusOr<WriteResult> r) {
    Reply reply;
    try {
      reply = r.ok() ? ReplyOf(shape(*r)) : ErrorFor(r.status());
    } catch (const std::exception& e) {
      reply = ErrorFor(absl::InternalError(absl::StrCat("internal error: ", e.what())));
    }
    answer(std::move(reply));
  };
  return m;
}

absl::StatusOr<int> DynamoDbEndpoint::Start(const std::string& address) {
  absl::MutexLock lock(&mu_);
  if (server_) return absl::FailedPreconditionError("the DynamoDB endpoint is already started");
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the DynamoDB endpoint address \"", address, "\" must be HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  auto workers = std::make_unique<Workers>(kWorkerThreads);
  Workers* pool = workers.get();
  auto server = std::make_unique<HttpServer>(
      [this, pool](HttpServer::Request req, HttpServer::Responder respond) {
        if (req.target != "/" || (req.method != "GET" && req.method != "POST")) {
          HttpServer::Response res;
          res.status = 404;
          res.body = "Not Found";
          return respond(std::move(res));
        }
        if (req.method == "GET") {
          HttpServer::Response res;
          res.body = absl::StrCat("healthy: dynamodb.", region_->name(), ".amazonaws.com ");
          return respond(std::move(res));
        }
        auto answer = [respond](Reply reply) {
          HttpServer::Response res;
          res.status = reply.http_status;
          res.content_type = "application/x-amz-json-1.0";
          res.headers.emplace_back("x-amzn-RequestId", "gtsim");
          res.body = std::move(reply.body);
          respond(std::move(res));
        };
        const std::string& target = req.Header("x-amz-target");
        absl::string_view op = target;
        if (absl::ConsumePrefix(&op, kTargetPrefix) && IsSingleItemWrite(op)) {
          // Validated here; committed with the rest of this loop's batch (after_batch below).
          std::optional<Region::AsyncMutation> w = BeginWrite(op, req.body, std::move(answer));
          if (w) t_loop_writes.push_back(*std::move(w));
          return;
        }
        // Anything else runs after the writes this loop has read so far: a pipelined read
        // sees the writes sent before it on its connection.
        CommitLoopWrites();
        if (op == "GetItem") {  // one short read under the region's lock: on the loop thread
          return answer(Handle(target, req.body, req.Header("host")));
        }
        pool->Add([this, req = std::move(req), answer = std::move(answer)] {
          answer(Handle(req.Header("x-amz-target"), req.body, req.Header("host")));
        });
      },
      kEventLoops,
      // Once a loop has read every ready connection: its writes, one group commit, led by the
      // loop thread itself (Region::MutateItemsLed), so no thread hands anything to another.
      [this] { CommitLoopWrites(); });
  absl::StatusOr<int> bound = server->Start(host, port);
  if (!bound.ok()) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", address,
                                               " (is the port in use by another process?): ",
                                               bound.status().message()));
  }
  server_ = std::move(server);
  workers_ = std::move(workers);
  return *bound;
}

void DynamoDbEndpoint::Stop() {
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<Workers> workers;
  {
    absl::MutexLock lock(&mu_);
    server = std::move(server_);
    workers = std::move(workers_);
  }
  // The server first: once it has stopped, no handler adds work to the pool.
  if (server) server->Stop();
  workers.reset();
}

}  // namespace gtsim
