#include "region/http/dynamodb_endpoint.h"

#include <httplib.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "region/expression.h"
#include "region/item_json.h"
#include "region/key_codec.h"
#include "region/status_macros.h"

namespace gtsim {
namespace {

using json = nlohmann::json;

constexpr absl::string_view kTargetPrefix = "DynamoDB_20120810.";
// Status payloads: an explicit DynamoDB error name, and the old item of a failed condition.
constexpr absl::string_view kTypePayload = "gtsim/dynamodb-error-type";
constexpr absl::string_view kItemPayload = "gtsim/dynamodb-item";
constexpr int kMaxBatchWrite = 25;
constexpr int kMaxBatchGet = 100;

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

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

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
        message = absl::StrCat("Requested resource not found: ", message);
        break;
      case absl::StatusCode::kAlreadyExists:
        type = "ResourceInUseException";
        break;
      case absl::StatusCode::kFailedPrecondition:
        type = "ConditionalCheckFailedException";
        break;
      case absl::StatusCode::kResourceExhausted:
        type = "ProvisionedThroughputExceededException";
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
    return Validation(
        "1 validation error detected: Value null at 'tableName' failed to satisfy constraint: "
        "Member must not be null");
  }
  RETURN_IF_ERROR(CheckTableName(*name));
  return *name;
}

absl::StatusOr<Item> ItemField(const json& req, const char* name, bool required) {
  const json* f = Field(req, name);
  if (!f) {
    if (!required) return Item{};
    return Validation(absl::StrCat("1 validation error detected: Value null at '", name,
                                   "' failed to satisfy constraint: Member must not be null"));
  }
  if (!f->is_object()) {
    return Serialization(absl::StrCat("Unexpected value type in payload: ", name,
                                      " must be a map of attribute values"));
  }
  return ItemFromJson(*f);
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

json TableDescription(const TableSpec& spec, int64_t item_count, const std::string& region,
                      const char* status) {
  json key_schema = json::array(), attrs = json::array();
  key_schema.push_back({{"AttributeName", spec.hash_key.name}, {"KeyType", "HASH"}});
  attrs.push_back(
      {{"AttributeName", spec.hash_key.name}, {"AttributeType", TypeName(spec.hash_key.type)}});
  if (spec.range_key) {
    key_schema.push_back({{"AttributeName", spec.range_key->name}, {"KeyType", "RANGE"}});
    attrs.push_back({{"AttributeName", spec.range_key->name},
                     {"AttributeType", TypeName(spec.range_key->type)}});
  }
  json table = {
      {"TableName", spec.name},
      {"TableArn", absl::StrCat("arn:aws:dynamodb:", region, ":000000000000:table/", spec.name)},
      {"TableId", absl::StrCat(spec.created.region, "-", spec.created.ts_us)},
      {"TableStatus", status},
      {"KeySchema", key_schema},
      {"AttributeDefinitions", attrs},
      {"ItemCount", item_count},
      {"TableSizeBytes", 0},
      {"CreationDateTime", static_cast<double>(spec.created.ts_us) / 1e6},
      {"ProvisionedThroughput",
       {{"NumberOfDecreasesToday", 0}, {"ReadCapacityUnits", 0}, {"WriteCapacityUnits", 0}}},
      {"BillingModeSummary", {{"BillingMode", "PAY_PER_REQUEST"}}},
  };
  if (spec.replicas.size() > 1) {
    json replicas = json::array();
    for (const auto& r : spec.replicas) {
      if (r != region) replicas.push_back({{"RegionName", r}, {"ReplicaStatus", "ACTIVE"}});
    }
    table["Replicas"] = replicas;
    table["GlobalTableVersion"] = "2019.11.21";
  }
  return table;
}

absl::StatusOr<ValueType> ScalarTypeOf(const std::string& t) {
  if (t == "S") return ValueType::kS;
  if (t == "N") return ValueType::kN;
  if (t == "B") return ValueType::kB;
  return Validation(absl::StrCat(
      "1 validation error detected: Value '", t,
      "' at 'attributeDefinitions.member.attributeType' failed to satisfy constraint: Member "
      "must satisfy enum value set: [B, N, S]"));
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

// A Key parameter: exactly the key attributes, of the key types.
absl::Status CheckKey(const TableSpec& spec, const Item& key) {
  size_t expected = spec.range_key ? 2 : 1;
  if (!CheckItemKey(spec, key).ok() || key.size() != expected) {
    return Validation("The provided key element does not match the schema");
  }
  return absl::OkStatus();
}

std::vector<std::string> KeyNames(const TableSpec& spec) {
  std::vector<std::string> names{spec.hash_key.name};
  if (spec.range_key) names.push_back(spec.range_key->name);
  return names;
}

// Item counts as DynamoDB's Select parameter asks.
enum class Select { kAll, kCount, kSpecific };

absl::StatusOr<Select> SelectOf(const json& req, bool has_projection) {
  ASSIGN_OR_RETURN(auto s, OptString(req, "Select"));
  if (!s) return has_projection ? Select::kSpecific : Select::kAll;
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

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

// --- operations ---------------------------------------------------------------------------

namespace {

class Operations {
 public:
  explicit Operations(Region* region) : region_(region) {}

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
    if (op == "DescribeEndpoints") {
      return json{{"Endpoints", json::array({{{"Address", host.empty() ? "127.0.0.1" : host},
                                              {"CachePeriodInMinutes", 1440}}})}};
    }
    static const std::set<std::string>* later =
        new std::set<std::string>{"UpdateTable",
                                  "UpdateTimeToLive",
                                  "DescribeTimeToLive",
                                  "TransactWriteItems",
                                  "TransactGetItems",
                                  "ListStreams",
                                  "DescribeStream",
                                  "GetShardIterator",
                                  "GetRecords",
                                  "CreateGlobalTable",
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
  absl::StatusOr<TableSpec> Spec(const std::string& table) {
    // Region::Tables() reads the catalog only (DescribeTable would count the items).
    for (TableSpec& spec : region_->Tables()) {
      if (spec.name == table) return std::move(spec);
    }
    return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
  }

  absl::StatusOr<json> CreateTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    for (const char* unsupported : {"GlobalSecondaryIndexes", "LocalSecondaryIndexes"}) {
      if (Field(req, unsupported)) return NotSupported(unsupported);
    }
    if (const json* s = Field(req, "StreamSpecification")) {
      if (s->is_object() && s->value("StreamEnabled", false)) {
        return NotSupported("StreamSpecification with StreamEnabled");
      }
    }
    ASSIGN_OR_RETURN(auto billing, OptString(req, "BillingMode"));
    if (billing && *billing != "PAY_PER_REQUEST" && *billing != "PROVISIONED") {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", *billing,
          "' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: "
          "[PROVISIONED, PAY_PER_REQUEST]"));
    }
    bool provisioned = !billing || *billing == "PROVISIONED";
    if (provisioned && !Field(req, "ProvisionedThroughput")) {
      return Validation(
          "One or more parameter values were invalid: ReadCapacityUnits and "
          "WriteCapacityUnits must both be specified when BillingMode is "
          "PROVISIONED");
    }
    if (!provisioned && Field(req, "ProvisionedThroughput")) {
      return Validation(
          "One or more parameter values were invalid: Neither ReadCapacityUnits "
          "nor WriteCapacityUnits can be specified when BillingMode is "
          "PAY_PER_REQUEST");
    }

    const json* ks = Field(req, "KeySchema");
    const json* ad = Field(req, "AttributeDefinitions");
    if (!ks || !ad) {
      return Validation(absl::StrCat("1 validation error detected: Value null at '",
                                     ks ? "attributeDefinitions" : "keySchema",
                                     "' failed to satisfy constraint: Member must not be null"));
    }
    if (!ks->is_array() || !ad->is_array()) {
      return Serialization(
          "Unexpected value type in payload: KeySchema and AttributeDefinitions "
          "must be lists");
    }
    std::map<std::string, ValueType> defs;
    for (const json& d : *ad) {
      if (!d.is_object()) return Serialization("AttributeDefinitions members must be objects");
      ASSIGN_OR_RETURN(auto name, OptString(d, "AttributeName"));
      ASSIGN_OR_RETURN(auto type, OptString(d, "AttributeType"));
      if (!name || !type) {
        return Validation(
            "One or more parameter values were invalid: AttributeDefinitions "
            "members need AttributeName and AttributeType");
      }
      ASSIGN_OR_RETURN(ValueType t, ScalarTypeOf(*type));
      if (!defs.emplace(*name, t).second) {
        return Validation(
            absl::StrCat("Invalid One or more parameter values were invalid: "
                         "Duplicate AttributeName ",
                         *name, " in AttributeDefinitions"));
      }
    }
    if (ks->empty() || ks->size() > 2) {
      return Validation(absl::StrCat(
          "1 validation error detected: Value '", Dump(*ks),
          "' at 'keySchema' failed to satisfy constraint: Member must have length less than or "
          "equal to 2 and greater than or equal to 1"));
    }
    CreateTableRequest create;
    create.table = table;
    for (size_t i = 0; i < ks->size(); ++i) {
      const json& k = (*ks)[i];
      if (!k.is_object()) return Serialization("KeySchema members must be objects");
      ASSIGN_OR_RETURN(auto name, OptString(k, "AttributeName"));
      ASSIGN_OR_RETURN(auto type, OptString(k, "KeyType"));
      if (!name || !type || (*type != "HASH" && *type != "RANGE")) {
        return Validation(
            "One or more parameter values were invalid: KeySchema members need "
            "AttributeName and a KeyType of HASH or RANGE");
      }
      if ((i == 0) != (*type == "HASH")) {
        return Validation(
            i == 0 ? "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
                   : "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type");
      }
      auto d = defs.find(*name);
      if (d == defs.end()) {
        return Validation(
            "One or more parameter values were invalid: Some index key attributes "
            "are not defined in AttributeDefinitions. Keys: [" +
            *name + "], AttributeDefinitions: [" +
            absl::StrJoin(defs, ", ",
                          [](std::string* out, const auto& kv) { out->append(kv.first); }) +
            "]");
      }
      if (i == 0) {
        create.hash_key = KeyDef{*name, d->second};
      } else {
        if (*name == create.hash_key.name) {
          return Validation("Invalid KeySchema: Some index key attribute have no definition");
        }
        create.range_key = KeyDef{*name, d->second};
      }
    }
    if (defs.size() != ks->size()) {
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
    return json{{"TableDescription",
                 TableDescription(info->spec, info->item_count, region_->name(), "ACTIVE")}};
  }

  absl::StatusOr<json> DescribeTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    auto info = region_->DescribeTable(table);
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
    }
    if (!info.ok()) return info.status();
    return json{
        {"Table", TableDescription(info->spec, info->item_count, region_->name(), "ACTIVE")}};
  }

  absl::StatusOr<json> DeleteTable(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    auto info = region_->DeleteTable(table);
    if (absl::IsNotFound(info.status())) {
      return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
    }
    if (!info.ok()) return info.status();
    return json{{"TableDescription",
                 TableDescription(info->spec, info->item_count, region_->name(), "DELETING")}};
  }

  absl::StatusOr<json> ListTables(const json& req) {
    ASSIGN_OR_RETURN(auto start, OptString(req, "ExclusiveStartTableName"));
    if (start) RETURN_IF_ERROR(CheckTableName(*start, "exclusiveStartTableName"));
    ASSIGN_OR_RETURN(auto limit, OptInt(req, "Limit"));
    if (limit && (*limit < 1 || *limit > 100)) {
      return Validation(
          absl::StrCat("1 validation error detected: Value '", *limit,
                       "' at 'limit' failed to satisfy constraint: Member must have value ",
                       *limit < 1 ? "greater than or equal to 1" : "less than or equal to 100"));
    }
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
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"Expected", "ConditionalOperator"}));
    ASSIGN_OR_RETURN(Item item, ItemField(req, "Item", true));
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
    RETURN_IF_ERROR(CheckItemKey(spec, item));
    ASSIGN_OR_RETURN(
        WriteResult r,
        region_->MutateItem(
            table, KeyOf(spec, item),
            [&](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
              ASSIGN_OR_RETURN(bool ok, Holds(cond, current));
              if (!ok) return ConditionFailed(old_on_failure, current);
              return std::optional<Item>(item);
            }));
    json out = json::object();
    if (return_old && r.old_item) out["Attributes"] = ItemToJson(*r.old_item);
    return out;
  }

  absl::StatusOr<json> GetItem(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"AttributesToGet"}));
    ASSIGN_OR_RETURN(Item key, ItemField(req, "Key", true));
    ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
    (void)consistent;  // every read of the local copy is strongly consistent
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(req, &p));
    ASSIGN_OR_RETURN(auto proj, OptProjection(req, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, proj.has_value()));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    RETURN_IF_ERROR(CheckKey(spec, key));
    ASSIGN_OR_RETURN(GetResult r, region_->GetItem(table, key));
    json out = json::object();
    if (r.item) out["Item"] = ItemToJson(proj ? expr::Project(*proj, *r.item) : *r.item);
    return out;
  }

  absl::StatusOr<json> UpdateItem(const json& req) {
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
    std::optional<expr::UpdatePlan> plan;
    if (update_text) {
      ASSIGN_OR_RETURN(plan, expr::ParseUpdate(*update_text, &p.ctx));
    }
    ASSIGN_OR_RETURN(
        auto cond, OptCondition(req, "ConditionExpression", expr::ExpressionKind::kCondition, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, plan || cond));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    RETURN_IF_ERROR(CheckKey(spec, key));
    if (plan) RETURN_IF_ERROR(expr::CheckKeyNotUpdated(*plan, KeyNames(spec)));
    ASSIGN_OR_RETURN(
        WriteResult r,
        region_->MutateItem(
            table, key,
            [&](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
              ASSIGN_OR_RETURN(bool ok, Holds(cond, current));
              if (!ok) return ConditionFailed(old_on_failure, current);
              if (!plan) return std::optional<Item>(current ? *current : key);
              ASSIGN_OR_RETURN(Item next, expr::ApplyUpdate(*plan, current ? *current : key,
                                                            current.has_value()));
              return std::optional<Item>(std::move(next));
            }));
    json out = json::object();
    std::optional<Item> attrs;
    if (rv == "ALL_OLD") {
      attrs = r.old_item;
    } else if (rv == "ALL_NEW") {
      attrs = r.new_item;
    } else if (rv == "UPDATED_OLD" || rv == "UPDATED_NEW") {
      const std::optional<Item>& source = rv == "UPDATED_OLD" ? r.old_item : r.new_item;
      if (source && plan) {
        expr::Projection updated;
        for (const auto& a : plan->actions) updated.paths.push_back(a.path);
        attrs = expr::Project(updated, *source);
      }
    }
    if (attrs && !attrs->empty()) out["Attributes"] = ItemToJson(*attrs);
    return out;
  }

  absl::StatusOr<json> DeleteItem(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"Expected", "ConditionalOperator"}));
    ASSIGN_OR_RETURN(Item key, ItemField(req, "Key", true));
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
    RETURN_IF_ERROR(CheckKey(spec, key));
    ASSIGN_OR_RETURN(
        WriteResult r,
        region_->MutateItem(
            table, key,
            [&](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
              ASSIGN_OR_RETURN(bool ok, Holds(cond, current));
              if (!ok) return ConditionFailed(old_on_failure, current);
              return std::optional<Item>();
            }));
    json out = json::object();
    if (return_old && r.old_item) out["Attributes"] = ItemToJson(*r.old_item);
    return out;
  }

  // What Query and Scan share after the read: filter, projection, Select, counts.
  struct ReadShape {
    std::optional<expr::Condition> filter;
    std::optional<expr::Projection> projection;
    Select select = Select::kAll;
  };

  absl::StatusOr<json> Shape(const ReadShape& shape, const std::vector<Item>& items,
                             const Item& last_key) {
    json out = json::object();
    json out_items = json::array();
    int64_t count = 0;
    for (const Item& item : items) {
      ASSIGN_OR_RETURN(bool keep, Holds(shape.filter, item));
      if (!keep) continue;
      ++count;
      if (shape.select == Select::kCount) continue;
      out_items.push_back(
          ItemToJson(shape.projection ? expr::Project(*shape.projection, item) : item));
    }
    if (shape.select != Select::kCount) out["Items"] = std::move(out_items);
    out["Count"] = count;
    out["ScannedCount"] = static_cast<int64_t>(items.size());
    if (!last_key.empty()) out["LastEvaluatedKey"] = ItemToJson(last_key);
    return out;
  }

  absl::StatusOr<ReadShape> ReadShapeOf(const json& req, Placeholders* p) {
    ReadShape shape;
    ASSIGN_OR_RETURN(shape.filter,
                     OptCondition(req, "FilterExpression", expr::ExpressionKind::kFilter, p));
    ASSIGN_OR_RETURN(shape.projection, OptProjection(req, p));
    ASSIGN_OR_RETURN(shape.select, SelectOf(req, shape.projection.has_value()));
    return shape;
  }

  absl::StatusOr<json> Query(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(
        req, {"KeyConditions", "QueryFilter", "AttributesToGet", "ConditionalOperator"}));
    if (Field(req, "IndexName")) return NotSupported("IndexName (secondary indexes)");
    ASSIGN_OR_RETURN(int limit, LimitOf(req));
    ASSIGN_OR_RETURN(auto forward, OptBool(req, "ScanIndexForward"));
    ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
    (void)consistent;
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
    ASSIGN_OR_RETURN(ReadShape shape, ReadShapeOf(req, &p));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    ASSIGN_OR_RETURN(expr::KeyQuery kq, expr::BindKeySchema(kc, spec.hash_key, spec.range_key));
    if (!start.empty()) {
      auto ok = CheckKey(spec, start);
      if (!ok.ok())
        return Validation("The provided starting key is invalid: " + std::string(ok.message()));
    }
    QueryRequest q;
    q.table = table;
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
    ASSIGN_OR_RETURN(Page page, region_->Query(q));
    return Shape(shape, page.items, page.last_evaluated_key);
  }

  absl::StatusOr<json> Scan(const json& req) {
    ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
    RETURN_IF_ERROR(RejectLegacy(req, {"ScanFilter", "AttributesToGet", "ConditionalOperator"}));
    if (Field(req, "IndexName")) return NotSupported("IndexName (secondary indexes)");
    ASSIGN_OR_RETURN(int limit, LimitOf(req));
    ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
    (void)consistent;
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
    ASSIGN_OR_RETURN(ReadShape shape, ReadShapeOf(req, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, shape.filter || shape.projection));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    if (!start.empty()) {
      auto ok = CheckKey(spec, start);
      if (!ok.ok())
        return Validation("The provided starting key is invalid: " + std::string(ok.message()));
    }
    if (!total || *total == 1) {
      ScanRequest s;
      s.table = table;
      s.limit = limit;
      s.exclusive_start_key = start;
      ASSIGN_OR_RETURN(Page page, region_->Scan(s));
      return Shape(shape, page.items, page.last_evaluated_key);
    }
    // A parallel scan segment: the items whose hash key falls in it, read in chunks of the
    // whole table; Limit counts the segment's items only.
    std::vector<Item> items;
    Item last_key;
    ScanRequest s;
    s.table = table;
    s.limit = 1000;
    s.exclusive_start_key = start;
    while (true) {
      ASSIGN_OR_RETURN(Page page, region_->Scan(s));
      for (Item& item : page.items) {
        auto hk = item.find(spec.hash_key.name);
        if (hk == item.end()) continue;
        if (static_cast<int64_t>(Fnv1a(EncodeHashKey(hk->second)) % *total) != *segment) continue;
        items.push_back(std::move(item));
        if (limit > 0 && static_cast<int>(items.size()) == limit) {
          last_key = KeyOf(spec, items.back());
          break;
        }
      }
      if (!last_key.empty() || page.last_evaluated_key.empty()) break;
      s.exclusive_start_key = page.last_evaluated_key;
    }
    return Shape(shape, items, last_key);
  }

  absl::StatusOr<json> BatchWriteItem(const json& req) {
    const json* ri = Field(req, "RequestItems");
    if (!ri) {
      return Validation(
          "1 validation error detected: Value null at 'requestItems' failed to "
          "satisfy constraint: Member must not be null");
    }
    if (!ri->is_object()) return Serialization("RequestItems must be a map");
    if (ri->empty()) {
      return Validation(
          "1 validation error detected: Value '{}' at 'requestItems' failed to "
          "satisfy constraint: Member must have length greater than or equal to 1");
    }
    struct Write {
      std::string table;
      Item key;
      std::optional<Item> item;  // empty: delete
    };
    std::vector<Write> writes;
    for (const auto& [table, list] : ri->items()) {
      RETURN_IF_ERROR(CheckTableName(table, "requestItems"));
      if (!list.is_array()) return Serialization("RequestItems values must be lists");
      ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
      std::set<std::string> keys;  // encoded, to find duplicates
      for (const json& w : list) {
        if (!w.is_object()) return Serialization("WriteRequest must be an object");
        const json* put = Field(w, "PutRequest");
        const json* del = Field(w, "DeleteRequest");
        if ((put != nullptr) == (del != nullptr)) {
          return Validation(
              "Supplied AttributeValue has more than one datatypes set, must "
              "contain exactly one of the supported datatypes");
        }
        Write out;
        out.table = table;
        if (put) {
          if (!put->is_object()) return Serialization("PutRequest must be an object");
          ASSIGN_OR_RETURN(Item item, ItemField(*put, "Item", true));
          RETURN_IF_ERROR(CheckItemKey(spec, item));
          out.key = KeyOf(spec, item);
          out.item = std::move(item);
        } else {
          if (!del->is_object()) return Serialization("DeleteRequest must be an object");
          ASSIGN_OR_RETURN(out.key, ItemField(*del, "Key", true));
          RETURN_IF_ERROR(CheckKey(spec, out.key));
        }
        if (!keys.insert(EncodeItem(out.key)).second) {
          return Validation("Provided list of item keys contains duplicates");
        }
        writes.push_back(std::move(out));
      }
    }
    if (writes.size() > kMaxBatchWrite) {
      return Validation(absl::StrCat(
          "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: "
          "Map value must satisfy constraint: [Member must have length less than or equal to ",
          kMaxBatchWrite, ", Member must have length greater than or equal to 1]"));
    }
    if (writes.empty()) {
      return Validation(
          "1 validation error detected: Value at 'requestItems' failed to "
          "satisfy constraint: Map value must satisfy constraint: [Member must "
          "have length greater than or equal to 1]");
    }
    for (const Write& w : writes) {
      ASSIGN_OR_RETURN(WriteResult r,
                       region_->MutateItem(
                           w.table, w.key,
                           [&](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
                             return w.item;
                           }));
      (void)r;
    }
    return json{{"UnprocessedItems", json::object()}};
  }

  absl::StatusOr<json> BatchGetItem(const json& req) {
    const json* ri = Field(req, "RequestItems");
    if (!ri) {
      return Validation(
          "1 validation error detected: Value null at 'requestItems' failed to "
          "satisfy constraint: Member must not be null");
    }
    if (!ri->is_object()) return Serialization("RequestItems must be a map");
    if (ri->empty()) {
      return Validation(
          "1 validation error detected: Value '{}' at 'requestItems' failed to "
          "satisfy constraint: Member must have length greater than or equal to 1");
    }
    size_t total = 0;
    json responses = json::object();
    struct TableRead {
      std::string table;
      std::vector<Item> keys;
      std::optional<expr::Projection> projection;
    };
    std::vector<TableRead> reads;
    for (const auto& [table, spec_json] : ri->items()) {
      RETURN_IF_ERROR(CheckTableName(table, "requestItems"));
      if (!spec_json.is_object()) return Serialization("KeysAndAttributes must be an object");
      RETURN_IF_ERROR(RejectLegacy(spec_json, {"AttributesToGet"}));
      const json* keys = Field(spec_json, "Keys");
      if (!keys || !keys->is_array() || keys->empty()) {
        return Validation(
            "1 validation error detected: Value at 'requestItems' failed to "
            "satisfy constraint: Map value must satisfy constraint: [Member must "
            "have length greater than or equal to 1]");
      }
      ASSIGN_OR_RETURN(auto consistent, OptBool(spec_json, "ConsistentRead"));
      (void)consistent;
      Placeholders p;
      RETURN_IF_ERROR(ReadPlaceholders(spec_json, &p));
      TableRead read;
      read.table = table;
      ASSIGN_OR_RETURN(read.projection, OptProjection(spec_json, &p));
      RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, read.projection.has_value()));
      RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
      ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
      std::set<std::string> seen;  // encoded keys
      for (const json& k : *keys) {
        if (!k.is_object()) return Serialization("Keys members must be maps");
        ASSIGN_OR_RETURN(Item key, ItemFromJson(k));
        RETURN_IF_ERROR(CheckKey(spec, key));
        if (!seen.insert(EncodeItem(key)).second) {
          return Validation("Provided list of item keys contains duplicates");
        }
        read.keys.push_back(std::move(key));
      }
      total += read.keys.size();
      reads.push_back(std::move(read));
    }
    if (total > kMaxBatchGet) {
      return Validation(absl::StrCat("Too many items requested for the BatchGetItem call"));
    }
    for (const TableRead& read : reads) {
      json items = json::array();
      for (const Item& key : read.keys) {
        ASSIGN_OR_RETURN(GetResult r, region_->GetItem(read.table, key));
        if (!r.item) continue;
        items.push_back(
            ItemToJson(read.projection ? expr::Project(*read.projection, *r.item) : *r.item));
      }
      responses[read.table] = std::move(items);
    }
    return json{{"Responses", responses}, {"UnprocessedKeys", json::object()}};
  }

  Region* region_;
};

}  // namespace

// --- the endpoint ---------------------------------------------------------------------------

DynamoDbEndpoint::DynamoDbEndpoint(Region* region) : region_(region) {}

DynamoDbEndpoint::~DynamoDbEndpoint() { Stop(); }

DynamoDbEndpoint::Reply DynamoDbEndpoint::Handle(const std::string& target, const std::string& body,
                                                 const std::string& host) const {
  try {
    if (!absl::StartsWith(target, kTargetPrefix)) {
      return ErrorFor(Typed(absl::StatusCode::kUnimplemented, "UnknownOperationException",
                            target.empty() ? "Missing the X-Amz-Target header"
                                           : absl::StrCat("Unknown operation: ", target)));
    }
    std::string op = target.substr(kTargetPrefix.size());
    json req = json::parse(body.empty() ? std::string("{}") : body, nullptr,
                           /*allow_exceptions=*/false);
    if (req.is_discarded() || !req.is_object()) {
      return ErrorFor(
          Serialization("Start of structure or map found where not expected, or "
                        "the request body is not valid JSON"));
    }
    Operations ops(region_);
    absl::StatusOr<json> out = ops.Run(op, req, host);
    if (!out.ok()) return ErrorFor(out.status());
    return {200, Dump(*out)};
  } catch (const std::exception& e) {
    return ErrorFor(absl::InternalError(absl::StrCat("internal error: ", e.what())));
  } catch (...) {
    return ErrorFor(absl::InternalError("internal error"));
  }
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
  auto server = std::make_unique<httplib::Server>();
  // One thread per live keep-alive connection: SDKs keep pools of connections open.
  server->new_task_queue = [] { return new httplib::ThreadPool(64); };
  server->set_keep_alive_max_count(1 << 20);
  server->set_keep_alive_timeout(10);
  server->set_read_timeout(60, 0);
  server->set_payload_max_length(16 << 20);
  // Responses go out as headers then body: without TCP_NODELAY, Nagle's algorithm and the
  // client's delayed ACK add ~40 ms to every request.
  server->set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which would let a second process share a port
  // that is in use: keep only SO_REUSEADDR, so a busy port is an error.
  server->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  Region* region = region_;
  server->Get("/", [region](const httplib::Request&, httplib::Response& res) {
    res.set_content(absl::StrCat("healthy: dynamodb.", region->name(), ".amazonaws.com "),
                    "text/plain");
  });
  server->Post("/", [this](const httplib::Request& req, httplib::Response& res) {
    Reply reply =
        Handle(req.get_header_value("X-Amz-Target"), req.body, req.get_header_value("Host"));
    res.status = reply.http_status;
    res.set_header("x-amzn-RequestId", "gtsim");
    res.set_content(reply.body, "application/x-amz-json-1.0");
  });
  server->set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        Reply reply = ErrorFor(absl::InternalError("internal error"));
        res.status = reply.http_status;
        res.set_content(reply.body, "application/x-amz-json-1.0");
      });
  int bound =
      port == 0 ? server->bind_to_any_port(host) : (server->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, " (is the port in use by another process?)"));
  }
  httplib::Server* s = server.get();
  server_ = std::move(server);
  thread_ = std::thread([s] { s->listen_after_bind(); });
  // stop() only takes effect once the loop runs: wait for it, so Stop() never misses it.
  for (int i = 0; i < 5000 && !s->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return bound;
}

void DynamoDbEndpoint::Stop() {
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    if (!server_) return;
    server_->stop();
    server = std::move(server_);
    thread = std::move(thread_);
  }
  if (thread.joinable()) thread.join();
}

}  // namespace gtsim
