// CreateTable / UpdateTable members read into the core's requests (see ddb_table_settings.h).

#include "region/http/ddb_table_settings.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/status_macros.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

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
    return Validation(
        i == 0 ? "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
               : "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type");
  }
  return *name;
}

// A GlobalSecondaryIndex (CreateTable) or a GlobalSecondaryIndexUpdates Create (UpdateTable):
// IndexName, KeySchema (its attributes typed by `defs`) and Projection.
absl::StatusOr<std::pair<std::string, GsiSetting>> GsiOf(
    const json& g, const std::map<std::string, ValueType>& defs, const std::string& where) {
  if (!g.is_object())
    return Serialization("Unexpected value type in payload: an index must be a map");
  ASSIGN_OR_RETURN(auto name, OptString(g, "IndexName"));
  if (!name) return MissingMember(where + ".indexName");
  RETURN_IF_ERROR(CheckTableName(*name, (where + ".indexName").c_str()));
  const json* ks = Field(g, "KeySchema");
  if (!ks) return MissingMember(where + ".keySchema");
  if (!ks->is_array())
    return Serialization("Unexpected value type in payload: KeySchema must be a list");
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
  if (!p->is_object())
    return Serialization("Unexpected value type in payload: Projection must be a map");
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
      return Validation(
          absl::StrCat("One or more parameter values were invalid: ProjectionType is ", *type,
                       ", but NonKeyAttributes is specified"));
    }
  }
  if (*type == "INCLUDE" && def.non_key.empty()) {
    return Validation(
        "One or more parameter values were invalid: NonKeyAttributes must be specified when "
        "ProjectionType is INCLUDE");
  }
  if (const json* w = Field(g, "WarmThroughput")) {
    std::optional<int64_t> r, wr;
    RETURN_IF_ERROR(WarmThroughputOf(*w, where + ".warmThroughput", &r, &wr));
    def.warm_read = r.value_or(0);
    def.warm_write = wr.value_or(0);
  }
  if (const json* o = Field(g, "OnDemandThroughput")) {
    std::optional<int64_t> r, wr;
    RETURN_IF_ERROR(OnDemandThroughputOf(*o, &r, &wr));
    def.max_read = r.value_or(-1);
    def.max_write = wr.value_or(-1);
  }
  return std::make_pair(*name, def);
}

absl::Status WarmThroughputOf(const json& w, const std::string& where, std::optional<int64_t>* read,
                              std::optional<int64_t>* write) {
  if (!w.is_object()) {
    return Serialization("Unexpected value type in payload: WarmThroughput must be a map");
  }
  ASSIGN_OR_RETURN(*read, OptInt(w, "ReadUnitsPerSecond"));
  ASSIGN_OR_RETURN(*write, OptInt(w, "WriteUnitsPerSecond"));
  if (!*read && !*write) {
    return Validation(
        "One or more parameter values were invalid: WarmThroughput needs ReadUnitsPerSecond, "
        "WriteUnitsPerSecond or both");
  }
  for (auto [v, member] : {std::make_pair(*read, "readUnitsPerSecond"),
                           std::make_pair(*write, "writeUnitsPerSecond")}) {
    if (v && *v < 1) {
      return Validation(absl::StrCat("1 validation error detected: Value '", *v, "' at '", where,
                                     ".", member,
                                     "' failed to satisfy constraint: Member must have value "
                                     "greater than or equal to 1"));
    }
  }
  return absl::OkStatus();
}

absl::Status OnDemandThroughputOf(const json& o, std::optional<int64_t>* read,
                                  std::optional<int64_t>* write) {
  if (!o.is_object()) {
    return Serialization("Unexpected value type in payload: OnDemandThroughput must be a map");
  }
  ASSIGN_OR_RETURN(*read, OptInt(o, "MaxReadRequestUnits"));
  ASSIGN_OR_RETURN(*write, OptInt(o, "MaxWriteRequestUnits"));
  if (!*read && !*write) {
    return Validation(
        "One or more parameter values were invalid: OnDemandThroughput needs "
        "MaxReadRequestUnits, MaxWriteRequestUnits or both");
  }
  return absl::OkStatus();
}

constexpr int64_t kMaxTableCapacityUnits = 40000;

// ProvisionedThroughput: both capacities, each at least 1 and at most the per-table quota.
absl::Status ThroughputOf(const json& pt, UpdateTableRequest* u) {
  if (!pt.is_object()) {
    return Serialization("Unexpected value type in payload: ProvisionedThroughput must be a map");
  }
  ASSIGN_OR_RETURN(auto rcu, OptInt(pt, "ReadCapacityUnits"));
  ASSIGN_OR_RETURN(auto wcu, OptInt(pt, "WriteCapacityUnits"));
  if (!rcu) return MissingMember("provisionedThroughput.readCapacityUnits");
  if (!wcu) return MissingMember("provisionedThroughput.writeCapacityUnits");
  for (auto [value, member] :
       {std::make_pair(*rcu, "readCapacityUnits"), std::make_pair(*wcu, "writeCapacityUnits")}) {
    if (value < 1) {
      return Validation(absl::StrCat("1 validation error detected: Value '", value,
                                     "' at 'provisionedThroughput.", member,
                                     "' failed to satisfy constraint: Member must have value "
                                     "greater than or equal to 1"));
    }
    // DynamoDB's default per-table quota. The message text is gtsim's (DynamoDB answers
    // LimitExceededException; its exact text could not be confirmed).
    if (value > kMaxTableCapacityUnits) {
      return Typed(absl::StatusCode::kResourceExhausted, "LimitExceededException",
                   absl::StrCat("Subscriber limit exceeded: ", member, " ", value,
                                " exceeds the per-table quota of ", kMaxTableCapacityUnits,
                                " capacity units"));
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
    return NotSupported(
        "ReplicaUpdates Update with GlobalSecondaryIndexes (per-replica index "
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
          "PROVISIONED tables only, and table ",
          spec.name, " is ", spec.billing.mode,
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
      // Allowed on a regional table; the core refuses it on a global table with DynamoDB's
      // "Disabling Stream is not allowed for a Global Table replica." CreateTable with
      // StreamEnabled false leaves the table as it is (its stream is gtsim's implicit one).
      if (current) u->stream_enabled = false;
    }
  }

  if (const json* w = Field(req, "WarmThroughput")) {
    RETURN_IF_ERROR(WarmThroughputOf(*w, "warmThroughput", &u->warm_read, &u->warm_write));
  }
  if (const json* o = Field(req, "OnDemandThroughput")) {
    RETURN_IF_ERROR(OnDemandThroughputOf(*o, &u->max_read, &u->max_write));
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

}  // namespace gtsim::ddb
