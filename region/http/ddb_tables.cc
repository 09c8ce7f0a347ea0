// The control plane: CreateTable, UpdateTable, DescribeTable, DeleteTable, ListTables, TTL.

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"
#include "region/http/ddb_table_settings.h"

namespace gtsim::ddb {

namespace {

// DynamoDB's limit of global secondary indexes per table (the text is as LocalStack
// reproduces AWS's ValidationException).
constexpr size_t kMaxGsisPerTable = 20;
constexpr size_t kMaxLsisPerTable = 5;
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

}  // namespace

absl::StatusOr<json> Operations::CreateTable(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  UpdateTableRequest settings;
  settings.table = table;
  RETURN_IF_ERROR(TableSettingsOf(req, nullptr, &settings));
  {
    // A new table starts at DynamoDB's warm throughput (TableWarmThroughput): a CreateTable
    // WarmThroughput at or below it changes nothing.
    TableSpec fresh;
    if (settings.billing_mode) {
      fresh.billing.mode = *settings.billing_mode;
      fresh.billing.read_capacity = settings.read_capacity.value_or(0);
      fresh.billing.write_capacity = settings.write_capacity.value_or(0);
    }
    WarmUnits start = TableWarmThroughput(fresh);
    if (settings.warm_read && *settings.warm_read <= start.read) settings.warm_read.reset();
    if (settings.warm_write && *settings.warm_write <= start.write) settings.warm_write.reset();
  }
  if (const json* tags = Field(req, "Tags")) {
    ASSIGN_OR_RETURN(settings.tags_set, TagsOf(*tags));
  }

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
      return Serialization(
          "Unexpected value type in payload: GlobalSecondaryIndexes must be a list");
    }
    if (list->empty()) {
      return Validation(
          "One or more parameter values were invalid: List of GlobalSecondaryIndexes is empty");
    }
    if (list->size() > kMaxGsisPerTable) {
      return Validation(absl::StrCat("GlobalSecondaryIndex count exceeds the per-table limit of ",
                                     kMaxGsisPerTable));
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
  // Local secondary indexes: the table's hash key and another range key, at most 5 (DynamoDB's
  // messages, as AWS answers them). Stored as indexes of the table like the global ones.
  if (const json* list = Field(req, "LocalSecondaryIndexes")) {
    if (!list->is_array()) {
      return Serialization(
          "Unexpected value type in payload: LocalSecondaryIndexes must be a list");
    }
    if (list->empty()) {
      return Validation(
          "One or more parameter values were invalid: List of LocalSecondaryIndexes is empty");
    }
    if (list->size() > kMaxLsisPerTable) {
      return Validation(absl::StrCat(
          "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds "
          "per-table limit of ",
          kMaxLsisPerTable));
    }
    if (!create.range_key) {
      return Validation(
          "One or more parameter values were invalid: Table KeySchema does not have a range key, "
          "which is required when specifying a LocalSecondaryIndex");
    }
    for (size_t i = 0; i < list->size(); ++i) {
      ASSIGN_OR_RETURN(auto l, GsiOf((*list)[i], defs,
                                     absl::StrCat("localSecondaryIndexes.", i + 1, ".member")));
      if (!l.second.range_key) {
        return Validation(absl::StrCat(
            "One or more parameter values were invalid: Index KeySchema does not have a range key "
            "for index: ",
            l.first));
      }
      if (l.second.hash_key.name != create.hash_key.name) {
        return Validation(absl::StrCat(
            "One or more parameter values were invalid: Index KeySchema does not have the same "
            "leading hash key as table KeySchema for index: ",
            l.first, ". index hash key: ", l.second.hash_key.name,
            ", table hash key: ", create.hash_key.name));
      }
      for (const auto& g : gsis) {
        if (g.first == l.first) {
          return Validation(absl::StrCat(
              "One or more parameter values were invalid: Duplicate index name: ", l.first));
        }
      }
      used.insert(l.second.range_key->name);
      l.second.local = true;
      gsis.push_back(std::move(l));
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

absl::StatusOr<json> Operations::UpdateTable(const json& req) {
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
        for (const char* unsupported : {"KMSMasterKeyId", "ProvisionedThroughputOverride",
                                        "GlobalSecondaryIndexes", "TableClassOverride"}) {
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
      if (update) {
        // WarmThroughput / OnDemandThroughput of one global index (its ProvisionedThroughput:
        // indexes share the table's capacity here).
        if (!update->is_object()) return Serialization("Unexpected value type in payload");
        if (u.update_gsi) {
          return Validation(
              "One or more parameter values were invalid: only one GlobalSecondaryIndexUpdates "
              "Update per UpdateTable request");
        }
        const std::string where =
            absl::StrCat("globalSecondaryIndexUpdates.", i + 1, ".member.update");
        ASSIGN_OR_RETURN(auto name, OptString(*update, "IndexName"));
        if (!name) return MissingMember(where + ".indexName");
        if (Field(*update, "ProvisionedThroughput")) {
          return NotSupported(
              "GlobalSecondaryIndexUpdates Update ProvisionedThroughput (indexes share the "
              "table's capacity)");
        }
        UpdateTableRequest::IndexThroughput t;
        t.index = *name;
        const json* w = Field(*update, "WarmThroughput");
        const json* o = Field(*update, "OnDemandThroughput");
        if (!w && !o) {
          return Validation(absl::StrCat(
              "One or more parameter values were invalid: the GlobalSecondaryIndexUpdates Update "
              "of ",
              *name, " changes nothing: give WarmThroughput or OnDemandThroughput"));
        }
        if (w)
          RETURN_IF_ERROR(
              WarmThroughputOf(*w, where + ".warmThroughput", &t.warm_read, &t.warm_write));
        if (o) RETURN_IF_ERROR(OnDemandThroughputOf(*o, &t.max_read, &t.max_write));
        auto existing = spec.gsis.find(*name);
        if (existing == spec.gsis.end() || existing->second.deleted || existing->second.local) {
          return absl::NotFoundError(absl::StrCat("Index: ", *name, " not found"));
        }
        u.update_gsi = std::move(t);
        continue;
      }
      ++changes;
      if (create) {
        ASSIGN_OR_RETURN(u.create_gsi, GsiOf(*create, known,
                                             absl::StrCat("globalSecondaryIndexUpdates.", i + 1,
                                                          ".member.create")));
        auto existing = spec.gsis.find(u.create_gsi->first);
        if (existing != spec.gsis.end() && !existing->second.deleted) {
          return Validation(
              absl::StrCat("One or more parameter values were invalid: Index with name ",
                           u.create_gsi->first, " already exists on table ", table));
        }
        size_t live = 0;
        for (const auto& [n, g] : spec.gsis) live += g.deleted || g.local ? 0 : 1;
        if (live >= kMaxGsisPerTable) {
          return Validation(absl::StrCat(
              "GlobalSecondaryIndex count exceeds the per-table limit of ", kMaxGsisPerTable));
        }
      } else {
        if (!del->is_object()) return Serialization("Unexpected value type in payload");
        ASSIGN_OR_RETURN(auto name, OptString(*del, "IndexName"));
        if (!name) {
          return MissingMember(
              absl::StrCat("globalSecondaryIndexUpdates.", i + 1, ".member.delete.indexName"));
        }
        auto existing = spec.gsis.find(*name);
        // A local secondary index is no global one: it cannot be deleted (it lives as long as
        // its table, as in DynamoDB).
        if (existing == spec.gsis.end() || existing->second.deleted || existing->second.local) {
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
  if (!u.replica_updates.empty() && u.replica_updates[0].action == ReplicaUpdate::Action::kCreate &&
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

absl::StatusOr<json> Operations::UpdateTimeToLive(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  const json* spec_json = Field(req, "TimeToLiveSpecification");
  if (!spec_json) return MissingMember("timeToLiveSpecification");
  if (!spec_json->is_object()) {
    return Serialization("Unexpected value type in payload: TimeToLiveSpecification must be a map");
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
    return Validation(
        absl::StrCat("TimeToLive is active on a different AttributeName: current AttributeName is ",
                     ttl.attribute));
  }
  if (ttl.enabled == *enabled) {
    return Validation(*enabled ? "TimeToLive is already enabled"
                               : "TimeToLive is already disabled");
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

absl::StatusOr<json> Operations::DescribeTimeToLive(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  ASSIGN_OR_RETURN(TableSpec spec, Spec(table, /*control=*/true));
  json d = {{"TimeToLiveStatus", spec.ttl.enabled ? "ENABLED" : "DISABLED"}};
  if (spec.ttl.enabled) d["AttributeName"] = spec.ttl.attribute;
  return json{{"TimeToLiveDescription", d}};
}

absl::StatusOr<json> Operations::DescribeTable(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  auto info = region_->DescribeTable(table);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
  }
  if (!info.ok()) return info.status();
  return json{{"Table", TableDescription(*info, region_->name())}};
}

absl::StatusOr<json> Operations::DeleteTable(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  auto info = region_->DeleteTable(table);
  if (absl::IsNotFound(info.status())) {
    return absl::NotFoundError(absl::StrCat("Table: ", table, " not found"));
  }
  if (absl::IsFailedPrecondition(info.status()) &&
      absl::StartsWith(info.status().message(), "ResourceInUseException")) {
    return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                 absl::StrCat("Attempt to change a resource which is still in use: Table is "
                              "being updated: ",
                              table));
  }
  if (absl::IsFailedPrecondition(info.status())) {  // the replica has deletion protection
    return Validation(
        "Resource cannot be deleted as it is currently protected against deletion. Disable "
        "deletion protection first.");
  }
  if (!info.ok()) return info.status();
  return json{{"TableDescription", TableDescription(*info, region_->name(), "DELETING")}};
}

absl::StatusOr<json> Operations::ListTables(const json& req) {
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

}  // namespace gtsim::ddb
