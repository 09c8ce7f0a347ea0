// What a table carries besides its items and settings, per replica: tags (TagResource,
// UntagResource, ListTagsOfResource), point-in-time recovery (DescribeContinuousBackups,
// UpdateContinuousBackups), and the version 2017.11.29 global-table operations, answered as
// DynamoDB answers them for version 2019.11.21 tables (the only kind gtsim has).
//
// Tags belong to one replica (AWS's rule: they are never synchronized between replicas): kept
// in this region's ReplicaSettings, so each replica's ARN, which names its region, has its own.

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"
#include "region/http/ddb_table_settings.h"

namespace gtsim::ddb {

namespace {

// DynamoDB's PITR window: 35 days back. Restorable up to now (RestoreTableToPointInTime reads
// this region's change log, exact to the last commit), where DynamoDB lags about 5 minutes.
constexpr int kRecoveryPeriodDays = 35;

// The version 2017.11.29 operations, as DynamoDB answers them.
constexpr absl::string_view kGlobalTableNotFound = "Global table with this name does not exist";
constexpr absl::string_view kV2017NotSupported =
    "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is "
    "not supported. We recommend using DynamoDB global tables version 2019.11.21, instead of "
    "version 2017.11.29 (Legacy).";

absl::Status GlobalTableNotFound() {
  return Typed(absl::StatusCode::kNotFound, "GlobalTableNotFoundException", kGlobalTableNotFound);
}

absl::Status ResourceArnNotFound(const std::string& arn) {
  // DynamoDB's text, its spelling included.
  // (ErrorFor prefixes "Requested resource not found: ".)
  return absl::NotFoundError(absl::StrCat("ResourcArn: ", arn, " not found"));
}

// Applies a change of this replica's own settings (tags, PITR). A table that is not ACTIVE
// (a replica being added or removed) is DynamoDB's ResourceInUseException.
absl::StatusOr<TableInfo> ApplyToReplica(Region* region, const UpdateTableRequest& u) {
  auto info = region->UpdateTable(u);
  if (absl::IsFailedPrecondition(info.status())) {
    return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                 info.status().message());
  }
  return info;
}

}  // namespace

absl::StatusOr<std::map<std::string, std::string>> TagsOf(const json& list) {
  if (!list.is_array())
    return Serialization("Unexpected value type in payload: Tags must be a list");
  std::map<std::string, std::string> tags;
  for (const json& t : list) {
    if (!t.is_object())
      return Serialization("Unexpected value type in payload: a Tag must be a map");
    ASSIGN_OR_RETURN(auto key, OptString(t, "Key"));
    ASSIGN_OR_RETURN(auto value, OptString(t, "Value"));
    if (!key) return MissingMember("tags.member.key");
    if (!value) return MissingMember("tags.member.value");
    if (key->empty() || key->size() > 128) {
      return Validation(
          "One or more parameter values were invalid: Tag key must be between 1 and 128 "
          "characters");
    }
    if (value->size() > 256) {
      return Validation(
          "One or more parameter values were invalid: Tag value must be between 0 and 256 "
          "characters");
    }
    if (absl::StartsWith(*key, "aws:")) {
      // AWS reserves the prefix; its exact wording here could not be confirmed (README).
      return Validation(
          "One or more parameter values were invalid: Tag keys starting with 'aws:' are reserved "
          "for system use");
    }
    tags[*key] = *value;
  }
  if (tags.size() > TableEngine::kMaxTagsPerReplica) {
    return Validation(
        absl::StrCat("One or more parameter values were invalid: The number of tags "
                     "for a resource exceeds the limit of ",
                     TableEngine::kMaxTagsPerReplica));
  }
  return tags;
}

absl::StatusOr<TableSpec> Operations::ArnTable(const json& req) {
  ASSIGN_OR_RETURN(auto arn, OptString(req, "ResourceArn"));
  if (!arn || arn->empty()) return Validation("Invalid TableArn");
  // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME - an index's or stream's ARN is no table ARN.
  std::vector<std::string> parts = absl::StrSplit(*arn, absl::MaxSplits(':', 5));
  std::vector<std::string> resource =
      parts.size() == 6 ? absl::StrSplit(parts[5], '/') : std::vector<std::string>{};
  if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "dynamodb" || resource.size() != 2 ||
      resource[0] != "table" || resource[1].empty()) {
    return Validation(
        absl::StrCat("Invalid TableArn: Invalid ResourceArn provided as input ", *arn));
  }
  // Another region's ARN names another replica: this endpoint holds none of its tags.
  if (parts[3] != region_->name()) return ResourceArnNotFound(*arn);
  auto spec = Spec(resource[1]);
  if (absl::IsNotFound(spec.status())) return ResourceArnNotFound(*arn);
  return spec;
}

absl::StatusOr<json> Operations::TagResource(const json& req) {
  const json* list = Field(req, "Tags");
  if (!list) return MissingMember("tags");
  if (list->is_array() && list->empty()) {
    return Validation("Atleast one Tag needs to be provided as Input.");  // DynamoDB's spelling
  }
  ASSIGN_OR_RETURN(auto tags, TagsOf(*list));
  ASSIGN_OR_RETURN(TableSpec spec, ArnTable(req));
  UpdateTableRequest u;
  u.table = spec.name;
  u.tags_set = std::move(tags);
  RETURN_IF_ERROR(ApplyToReplica(region_, u).status());
  return json::object();
}

absl::StatusOr<json> Operations::UntagResource(const json& req) {
  const json* keys = Field(req, "TagKeys");
  if (!keys) return MissingMember("tagKeys");
  if (!keys->is_array()) {
    return Serialization("Unexpected value type in payload: TagKeys must be a list");
  }
  if (keys->empty()) return Validation("Atleast one Tag Key needs to be provided as Input.");
  UpdateTableRequest u;
  for (const json& k : *keys) {
    if (!k.is_string()) return Serialization("TagKeys members must be strings");
    u.tags_remove.push_back(k.get<std::string>());
  }
  ASSIGN_OR_RETURN(TableSpec spec, ArnTable(req));
  u.table = spec.name;
  RETURN_IF_ERROR(ApplyToReplica(region_, u).status());
  return json::object();
}

absl::StatusOr<json> Operations::ListTagsOfResource(const json& req) {
  ASSIGN_OR_RETURN(auto next, OptString(req, "NextToken"));
  ASSIGN_OR_RETURN(TableSpec spec, ArnTable(req));
  // One page holds every tag (at most 50); a NextToken (a key) starts after that key.
  json tags = json::array();
  if (auto rs = spec.replica_settings.find(region_->name()); rs != spec.replica_settings.end()) {
    for (const auto& [k, v] : rs->second.tags) {
      if (next && k <= *next) continue;
      tags.push_back({{"Key", k}, {"Value", v}});
    }
  }
  return json{{"Tags", std::move(tags)}};
}

namespace {

// ContinuousBackupsDescription of this region's replica: its restore window (the engine's, so
// what it shows is what RestoreTableToPointInTime accepts), none when PITR is off.
json ContinuousBackups(const std::optional<RestoreWindow>& window) {
  json pitr;
  if (window) {
    pitr = {{"PointInTimeRecoveryStatus", "ENABLED"},
            {"RecoveryPeriodInDays", kRecoveryPeriodDays},
            {"EarliestRestorableDateTime", static_cast<double>(window->earliest_us) / 1e6},
            {"LatestRestorableDateTime", static_cast<double>(window->latest_us) / 1e6}};
  } else {
    pitr = {{"PointInTimeRecoveryStatus", "DISABLED"}};
  }
  return {{"ContinuousBackupsStatus", "ENABLED"}, {"PointInTimeRecoveryDescription", pitr}};
}

absl::Status TableNotFound(const std::string& table) {
  // The error type DescribeContinuousBackups documents; the text as moto answers it (AWS's own
  // could not be confirmed).
  return Typed(absl::StatusCode::kNotFound, "TableNotFoundException",
               absl::StrCat("Table not found: ", table));
}

}  // namespace

absl::StatusOr<json> Operations::DescribeContinuousBackups(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  auto spec = Spec(table);
  if (absl::IsNotFound(spec.status())) return TableNotFound(table);
  if (!spec.ok()) return spec.status();
  return json{{"ContinuousBackupsDescription", ContinuousBackups(region_->RestoreWindowOf(table))}};
}

absl::StatusOr<json> Operations::UpdateContinuousBackups(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  const json* s = Field(req, "PointInTimeRecoverySpecification");
  if (!s) return MissingMember("pointInTimeRecoverySpecification");
  if (!s->is_object()) {
    return Serialization(
        "Unexpected value type in payload: PointInTimeRecoverySpecification must be a map");
  }
  ASSIGN_OR_RETURN(auto enabled, OptBool(*s, "PointInTimeRecoveryEnabled"));
  if (!enabled) {
    return MissingMember("pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled");
  }
  ASSIGN_OR_RETURN(auto days, OptInt(*s, "RecoveryPeriodInDays"));
  if (days && (*days < 1 || *days > kRecoveryPeriodDays)) {
    return Validation(absl::StrCat(
        "1 validation error detected: Value '", *days,
        "' at 'pointInTimeRecoverySpecification.recoveryPeriodInDays' failed to satisfy "
        "constraint: Member must have value less than or equal to 35 and greater than or equal "
        "to 1"));
  }
  if (days && *days != kRecoveryPeriodDays) {
    return NotSupported("RecoveryPeriodInDays other than 35");
  }
  auto spec = Spec(table);
  if (absl::IsNotFound(spec.status())) return TableNotFound(table);
  if (!spec.ok()) return spec.status();
  UpdateTableRequest u;
  u.table = table;
  u.point_in_time_recovery = *enabled;
  RETURN_IF_ERROR(ApplyToReplica(region_, u).status());
  return json{{"ContinuousBackupsDescription", ContinuousBackups(region_->RestoreWindowOf(table))}};
}

// --- version 2017.11.29 global tables: none exist here --------------------------------------

absl::StatusOr<json> Operations::CreateGlobalTable(const json& req) {
  ASSIGN_OR_RETURN(auto name, OptString(req, "GlobalTableName"));
  if (!name) return MissingMember("globalTableName");
  return Validation(kV2017NotSupported);
}

absl::StatusOr<json> Operations::GlobalTableByName(const json& req) {
  ASSIGN_OR_RETURN(auto name, OptString(req, "GlobalTableName"));
  if (!name) return MissingMember("globalTableName");
  return GlobalTableNotFound();
}

absl::StatusOr<json> Operations::ListGlobalTables(const json& req) {
  ASSIGN_OR_RETURN(auto limit, BoundedLimit(req, 100));
  (void)limit;
  return json{{"GlobalTables", json::array()}};
}

}  // namespace gtsim::ddb
