// Dispatch of operation names to Operations' methods, and what the families share.

#include "region/http/ddb_operations.h"

#include <map>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

absl::StatusOr<Operations::PreparedWrite> Operations::PrepareWrite(const std::string& op,
                                                                   const json& req) {
  if (op == "UpdateItem") return PrepareUpdate(req);
  return PreparePutOrDelete(req, /*put=*/op == "PutItem");
}

absl::StatusOr<json> Operations::Run(const std::string& op, const json& req,
                                     const std::string& host) {
  using Handler = absl::StatusOr<json> (Operations::*)(const json&);
  static const auto* handlers = new std::map<std::string, Handler>{
      {"CreateTable", &Operations::CreateTable},
      {"DescribeTable", &Operations::DescribeTable},
      {"ListTables", &Operations::ListTables},
      {"DeleteTable", &Operations::DeleteTable},
      {"PutItem", &Operations::PutItem},
      {"GetItem", &Operations::GetItem},
      {"UpdateItem", &Operations::UpdateItem},
      {"DeleteItem", &Operations::DeleteItem},
      {"Query", &Operations::Query},
      {"Scan", &Operations::Scan},
      {"BatchWriteItem", &Operations::BatchWriteItem},
      {"BatchGetItem", &Operations::BatchGetItem},
      {"TransactWriteItems", &Operations::TransactWriteItems},
      {"TransactGetItems", &Operations::TransactGetItems},
      {"UpdateTable", &Operations::UpdateTable},
      {"UpdateTimeToLive", &Operations::UpdateTimeToLive},
      {"DescribeTimeToLive", &Operations::DescribeTimeToLive},
      {"TagResource", &Operations::TagResource},
      {"UntagResource", &Operations::UntagResource},
      {"ListTagsOfResource", &Operations::ListTagsOfResource},
      {"DescribeContinuousBackups", &Operations::DescribeContinuousBackups},
      {"UpdateContinuousBackups", &Operations::UpdateContinuousBackups},
      {"RestoreTableToPointInTime", &Operations::RestoreTableToPointInTime},
      {"CreateGlobalTable", &Operations::CreateGlobalTable},
      {"UpdateGlobalTable", &Operations::GlobalTableByName},
      {"DescribeGlobalTable", &Operations::GlobalTableByName},
      {"DescribeGlobalTableSettings", &Operations::GlobalTableByName},
      {"UpdateGlobalTableSettings", &Operations::GlobalTableByName},
      {"ListGlobalTables", &Operations::ListGlobalTables},
  };
  if (auto h = handlers->find(op); h != handlers->end()) return (this->*(h->second))(req);
  if (op == "DescribeEndpoints") {
    return json{{"Endpoints", json::array({{{"Address", host.empty() ? "127.0.0.1" : host},
                                            {"CachePeriodInMinutes", 1440}}})}};
  }
  // Known DynamoDB operations gtsim does not implement yet.
  static const std::set<std::string>* later =
      new std::set<std::string>{"DescribeLimits",
                                "ExecuteStatement",
                                "BatchExecuteStatement",
                                "ExecuteTransaction",
                                "CreateBackup",
                                "DescribeTableReplicaAutoScaling",
                                "UpdateTableReplicaAutoScaling",
                                "DescribeKinesisStreamingDestination"};
  if (later->count(op)) return NotSupported(absl::StrCat("The operation ", op));
  return absl::UnimplementedError(absl::StrCat("Unknown operation: ", op));
}

absl::StatusOr<json> Operations::RunStreams(const std::string& op, const json& req) {
  using Handler = absl::StatusOr<json> (Operations::*)(const json&);
  static const auto* handlers = new std::map<std::string, Handler>{
      {"ListStreams", &Operations::ListStreams},
      {"DescribeStream", &Operations::DescribeStream},
      {"GetShardIterator", &Operations::GetShardIterator},
      {"GetRecords", &Operations::GetRecords},
  };
  if (auto h = handlers->find(op); h != handlers->end()) return (this->*(h->second))(req);
  return absl::UnimplementedError(absl::StrCat("Unknown operation: ", op));
}

absl::StatusOr<TableSpec> Operations::Spec(const std::string& table, bool control) {
  // Region::Tables() reads the catalog only (DescribeTable would count the items).
  for (TableSpec& spec : region_->Tables()) {
    if (spec.name == table) return std::move(spec);
  }
  return absl::NotFoundError(control ? absl::StrCat("Table: ", table, " not found") : "");
}

absl::Status ChargeRead(Region* region, const TableSpec& spec, int64_t bytes, bool consistent) {
  if (!ReadsMetered(spec)) return absl::OkStatus();
  return region->ConsumeReadCapacity(spec.name, TableEngine::ReadUnits(bytes, consistent));
}

}  // namespace gtsim::ddb
