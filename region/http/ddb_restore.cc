// RestoreTableToPointInTime: a new regional table in this region holding what this region's
// replica of the source held at a point in time (see TableEngine::BeginRestore). The answer is
// DynamoDB's: the new table's TableDescription, CREATING with a RestoreSummary whose
// RestoreInProgress is true; the region's upkeep thread fills the table and it turns ACTIVE.
//
// Error texts: the types are those the API reference lists for the operation; the messages of
// TableNotFoundException and TableAlreadyExistsException follow moto, the others the
// reference's descriptions of the exceptions (AWS's exact texts could not be confirmed; README).

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"
#include "region/http/ddb_table_settings.h"

namespace gtsim::ddb {

namespace {

absl::Status SourceNotFound(const std::string& table) {
  return Typed(absl::StatusCode::kNotFound, "TableNotFoundException",
               absl::StrCat("Table not found: ", table));
}
absl::Status TargetExists(const std::string& table) {
  return Typed(absl::StatusCode::kAlreadyExists, "TableAlreadyExistsException",
               absl::StrCat("Table already exists: ", table));
}
absl::Status PitrUnavailable() {
  return Typed(absl::StatusCode::kFailedPrecondition, "PointInTimeRecoveryUnavailableException",
               "Point in time recovery has not yet been enabled for this source table.");
}
absl::Status InvalidRestoreTime() {
  return Typed(absl::StatusCode::kOutOfRange, "InvalidRestoreTimeException",
               "RestoreDateTime must be between EarliestRestorableDateTime and "
               "LatestRestorableDateTime.");
}

// The source table's name, from SourceTableName or SourceTableArn (a table of this region).
absl::StatusOr<std::string> SourceOf(const json& req, const std::string& region) {
  ASSIGN_OR_RETURN(auto name, OptString(req, "SourceTableName"));
  ASSIGN_OR_RETURN(auto arn, OptString(req, "SourceTableArn"));
  if (name && arn) {
    return Validation("Only one of SourceTableName or SourceTableArn can be specified");
  }
  if (name) {
    RETURN_IF_ERROR(CheckTableName(*name, "sourceTableName"));
    return *name;
  }
  if (!arn) return Validation("Either SourceTableName or SourceTableArn must be specified");
  // arn:aws:dynamodb:REGION:ACCOUNT:table/NAME
  std::vector<std::string> parts = absl::StrSplit(*arn, ':');
  if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "dynamodb" ||
      !absl::StartsWith(parts[5], "table/") || parts[5].size() <= 6 ||
      absl::StrContains(parts[5].substr(6), '/')) {
    return Validation(absl::StrCat("Invalid TableArn: ", *arn));
  }
  if (parts[3] != region) {
    return NotSupported(absl::StrCat("A restore from a table of another region (", parts[3],
                                     "; cross-region restore): call the endpoint of that region"));
  }
  return parts[5].substr(6);
}

// The names kept by an index override list, each checked against the source's index: gtsim
// restores an index as it is (a different KeySchema or Projection is refused).
absl::StatusOr<std::optional<std::vector<std::string>>> IndexOverride(const json& req,
                                                                      const char* member,
                                                                      const TableSpec& spec,
                                                                      bool local) {
  const json* list = Field(req, member);
  if (!list) return std::optional<std::vector<std::string>>();
  if (!list->is_array()) {
    return Serialization(
        absl::StrCat("Unexpected value type in payload: ", member, " must be a list"));
  }
  std::vector<std::string> names;
  for (const json& g : *list) {
    if (!g.is_object()) {
      return Serialization(
          absl::StrCat("Unexpected value type in payload: ", member, " members must be maps"));
    }
    ASSIGN_OR_RETURN(auto name, OptString(g, "IndexName"));
    if (!name) return MissingMember(absl::StrCat(member, ".member.indexName"));
    auto it = spec.gsis.find(*name);
    if (it == spec.gsis.end() || it->second.deleted || it->second.local != local) {
      return Validation(
          absl::StrCat("One or more parameter values were invalid: ", local ? "Local" : "Global",
                       " secondary index ", *name, " does not exist on the source table"));
    }
    const GsiSetting& s = it->second;
    if (const json* ks = Field(g, "KeySchema"); ks && ks->is_array()) {
      std::vector<std::string> want = {s.hash_key.name};
      if (s.range_key) want.push_back(s.range_key->name);
      std::vector<std::string> got;
      for (const json& k : *ks) {
        if (k.is_object() && k.contains("AttributeName") && k["AttributeName"].is_string()) {
          got.push_back(k["AttributeName"].get<std::string>());
        }
      }
      if (got != want) return NotSupported("An index override that changes the KeySchema");
    }
    if (const json* p = Field(g, "Projection"); p && p->is_object()) {
      ASSIGN_OR_RETURN(auto type, OptString(*p, "ProjectionType"));
      if (type && *type != s.projection) {
        return NotSupported("An index override that changes the Projection");
      }
    }
    names.push_back(*name);
  }
  return std::optional<std::vector<std::string>>(std::move(names));
}

}  // namespace

absl::StatusOr<json> Operations::RestoreTableToPointInTime(const json& req) {
  ASSIGN_OR_RETURN(auto target, OptString(req, "TargetTableName"));
  if (!target) return MissingMember("targetTableName");
  RETURN_IF_ERROR(CheckTableName(*target, "targetTableName"));
  ASSIGN_OR_RETURN(std::string source, SourceOf(req, region_->name()));
  const json* at = Field(req, "RestoreDateTime");
  ASSIGN_OR_RETURN(auto latest, OptBool(req, "UseLatestRestorableTime"));
  if (at && !at->is_number()) {
    return Serialization("Unexpected value type in payload: RestoreDateTime must be a timestamp");
  }
  const bool use_latest = latest.value_or(false);
  if (at && use_latest) {
    return Validation("Only one of RestoreDateTime or UseLatestRestorableTime can be specified");
  }
  if (!at && !use_latest) {
    return Validation("Either RestoreDateTime or UseLatestRestorableTime must be specified");
  }
  if (Field(req, "OnDemandThroughputOverride")) {
    return NotSupported("OnDemandThroughputOverride");
  }

  auto spec = Spec(source);
  if (absl::IsNotFound(spec.status())) return SourceNotFound(source);
  if (!spec.ok()) return spec.status();
  if (Spec(*target).ok()) return TargetExists(*target);
  auto window = region_->RestoreWindowOf(source);
  if (!window) return PitrUnavailable();

  RestoreRequest r;
  r.source = source;
  r.target = *target;
  r.latest = use_latest;
  if (at) {
    double seconds = at->get<double>();
    if (!std::isfinite(seconds)) return InvalidRestoreTime();
    r.restore_us = static_cast<int64_t>(std::llround(seconds * 1e6));
    if (r.restore_us < window->earliest_us || r.restore_us > window->latest_us) {
      return InvalidRestoreTime();
    }
  }
  ASSIGN_OR_RETURN(auto billing, OptString(req, "BillingModeOverride"));
  if (billing && *billing != "PAY_PER_REQUEST" && *billing != "PROVISIONED") {
    return EnumError(*billing, "billingModeOverride", "PROVISIONED, PAY_PER_REQUEST");
  }
  r.billing_mode = billing;
  const std::string mode = billing.value_or(spec->billing.mode);
  if (const json* pt = Field(req, "ProvisionedThroughputOverride")) {
    if (mode == "PAY_PER_REQUEST") {
      return Validation(
          "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
          "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST");
    }
    UpdateTableRequest u;
    RETURN_IF_ERROR(ThroughputOf(*pt, &u));
    r.read_capacity = u.read_capacity;
    r.write_capacity = u.write_capacity;
  } else if (mode == "PROVISIONED" && spec->billing.mode != "PROVISIONED") {
    return Validation(
        "One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
        "must both be specified when BillingMode is PROVISIONED");
  }
  if (const json* sse = Field(req, "SSESpecificationOverride")) {
    if (!sse->is_object()) {
      return Serialization(
          "Unexpected value type in payload: SSESpecificationOverride must be a map");
    }
    ASSIGN_OR_RETURN(auto enabled, OptBool(*sse, "Enabled"));
    ASSIGN_OR_RETURN(auto type, OptString(*sse, "SSEType"));
    ASSIGN_OR_RETURN(auto key, OptString(*sse, "KMSMasterKeyId"));
    if (type && *type != "AES256" && *type != "KMS") {
      return EnumError(*type, "sSESpecificationOverride.sSEType", "AES256, KMS");
    }
    if (enabled.has_value() && !*enabled) {
      if (type || key) {
        return Validation(
            "One or more parameter values were invalid: SSEType and KMSMasterKeyId can only be "
            "specified when SSE is enabled");
      }
      r.sse_type = "";
    } else {
      r.sse_type = type.value_or("KMS");
      if (key && *r.sse_type != "KMS") {
        return Validation(
            "One or more parameter values were invalid: KMSMasterKeyId can only be specified "
            "when SSEType is KMS");
      }
      if (key) r.kms_key = *key;
    }
  }
  ASSIGN_OR_RETURN(r.gsis, IndexOverride(req, "GlobalSecondaryIndexOverride", *spec, false));
  ASSIGN_OR_RETURN(r.lsis, IndexOverride(req, "LocalSecondaryIndexOverride", *spec, true));

  auto info = region_->RestoreTableToPointInTime(r);
  if (!info.ok()) {
    // What changed since the checks above (a concurrent create, PITR turned off).
    switch (info.status().code()) {
      case absl::StatusCode::kNotFound:
        return SourceNotFound(source);
      case absl::StatusCode::kAlreadyExists:
        return TargetExists(*target);
      case absl::StatusCode::kOutOfRange:
        return InvalidRestoreTime();
      case absl::StatusCode::kFailedPrecondition:
        if (!region_->RestoreWindowOf(source)) return PitrUnavailable();
        return Typed(absl::StatusCode::kFailedPrecondition, "ResourceInUseException",
                     info.status().message());
      default:
        return info.status();
    }
  }
  return json{{"TableDescription", TableDescription(*info, region_->name())}};
}

}  // namespace gtsim::ddb
