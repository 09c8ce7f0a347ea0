// The DynamoDB operations of one region's endpoint (internal to region/http/), one family per
// file: ddb_tables.cc (the control plane: CreateTable, UpdateTable, DescribeTable, ListTables,
// DeleteTable, UpdateTimeToLive, DescribeTimeToLive), ddb_item_ops.cc (PutItem, GetItem,
// UpdateItem, DeleteItem), ddb_query.cc (Query, Scan), ddb_batch.cc (BatchWriteItem,
// BatchGetItem), ddb_resources.cc (tags, point-in-time recovery, the 2017.11.29 global-table
// operations), ddb_transact.cc (TransactWriteItems, TransactGetItems), ddb_streams.cc (the
// streams API); ddb_operations.cc dispatches by operation name. The operations' behaviour is
// described in dynamodb_endpoint.h.
//
// An Operations is cheap: made per request, it holds the region and the endpoint's token memory
// (both outlive it). It is thread-compatible; the region and token memory it calls are
// thread-safe, so any number of Operations may run at once. Nothing throws out of it except
// what nlohmann::json throws on a bug (the endpoint catches everything).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "region/ddb_describe.h"
#include "region/http/dynamodb_endpoint.h"
#include "region/region.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// ReturnItemCollectionMetrics: whether `req` asks SIZE (DynamoDB's enum error otherwise) and
// `spec` has local secondary indexes - only those tables answer ItemCollectionMetrics.
absl::StatusOr<bool> ItemCollectionMetricsWanted(const json& req, const TableSpec& spec);
// Whether `req` asks ReturnItemCollectionMetrics SIZE (batches and transactions, over tables).
absl::StatusOr<bool> ItemCollectionMetricsAsked(const json& req);

class Operations {
 public:
  // The single-item writes (PutItem, UpdateItem, DeleteItem), validated and ready to run as
  // Region::Write(Region::MutateRequest{table, key, fn}); `answer` shapes the operation's JSON from
  // the result. Everything they hold is owned, so they may run later (the endpoint's event loop
  // gathers a round's writes and commits them as one group through Region::WriteLed).
  struct PreparedWrite {
    std::string table;
    Item key;
    TableEngine::Mutation fn;
    std::function<json(const WriteResult&)> answer;
    // ReturnItemCollectionMetrics SIZE on a table with local secondary indexes: the answer
    // gets the ItemCollectionMetrics of `key`'s collection (see CollectionMetrics).
    bool collection_metrics = false;
  };
  Operations(Region* region, DynamoDbEndpoint::Tokens* tokens) : region_(region), tokens_(tokens) {}

  // `op` must be PutItem, UpdateItem or DeleteItem.
  absl::StatusOr<PreparedWrite> PrepareWrite(const std::string& op, const json& req);
  // Runs DynamoDB operation `op` (target prefix DynamoDB_20120810.); `host` is the request's
  // Host header (DescribeEndpoints answers it). Unknown operations: Unimplemented.
  absl::StatusOr<json> Run(const std::string& op, const json& req, const std::string& host);
  // Runs streams operation `op` (target prefix DynamoDBStreams_20120810.).
  absl::StatusOr<json> RunStreams(const std::string& op, const json& req);

 private:
  // The live table `table`. NotFound names the table for control-plane operations
  // (`control`) and not for item operations, as DynamoDB's messages do.
  absl::StatusOr<TableSpec> Spec(const std::string& table, bool control = false);

  // ddb_tables.cc
  absl::StatusOr<json> CreateTable(const json& req);
  absl::StatusOr<json> UpdateTable(const json& req);
  absl::StatusOr<json> UpdateTimeToLive(const json& req);
  absl::StatusOr<json> DescribeTimeToLive(const json& req);
  absl::StatusOr<json> DescribeTable(const json& req);
  absl::StatusOr<json> DeleteTable(const json& req);
  absl::StatusOr<json> ListTables(const json& req);

  // ddb_resources.cc
  absl::StatusOr<json> TagResource(const json& req);
  absl::StatusOr<json> UntagResource(const json& req);
  absl::StatusOr<json> ListTagsOfResource(const json& req);
  absl::StatusOr<json> DescribeContinuousBackups(const json& req);
  absl::StatusOr<json> UpdateContinuousBackups(const json& req);
  absl::StatusOr<json> RestoreTableToPointInTime(const json& req);  // ddb_restore.cc
  absl::StatusOr<json> CreateGlobalTable(const json& req);
  // DescribeGlobalTable, UpdateGlobalTable, DescribeGlobalTableSettings,
  // UpdateGlobalTableSettings: GlobalTableNotFoundException (no 2017.11.29 table exists).
  absl::StatusOr<json> GlobalTableByName(const json& req);
  absl::StatusOr<json> ListGlobalTables(const json& req);
  // The live table a request's ResourceArn names, in this region; DynamoDB's errors otherwise.
  absl::StatusOr<TableSpec> ArnTable(const json& req);

  // ddb_item_ops.cc
  absl::StatusOr<json> PutItem(const json& req);
  absl::StatusOr<json> GetItem(const json& req);
  absl::StatusOr<json> UpdateItem(const json& req);
  absl::StatusOr<json> DeleteItem(const json& req);
  // UpdateItem, validated; the update runs against the item as committed before it.
  absl::StatusOr<PreparedWrite> PrepareUpdate(const json& req);
  // PutItem (`put`) and DeleteItem: one item written or deleted under an optional condition,
  // answering the old item when ReturnValues is ALL_OLD.
  absl::StatusOr<PreparedWrite> PreparePutOrDelete(const json& req, bool put);
  // Runs a prepared write now (Region::Write) and answers it.
  absl::StatusOr<json> RunWrite(absl::StatusOr<PreparedWrite> w);

  // ddb_query.cc
  absl::StatusOr<json> Query(const json& req);
  absl::StatusOr<json> Scan(const json& req);

  // ddb_batch.cc
  absl::StatusOr<json> BatchWriteItem(const json& req);
  absl::StatusOr<json> BatchGetItem(const json& req);

  // ddb_transact.cc
  absl::StatusOr<json> TransactWriteItems(const json& req);
  absl::StatusOr<json> TransactGetItems(const json& req);

  // ddb_collections.cc
  // DynamoDB's ItemCollectionMetrics of the item collection (the items sharing a hash key
  // value) that `key` belongs to, in table `spec` (which has local secondary indexes):
  // ItemCollectionKey and SizeEstimateRangeGB, from the items' sizes plus their entries in the
  // table's local indexes, read from this region's copy right after the write.
  absl::StatusOr<json> CollectionMetrics(const TableSpec& spec, const Item& key);
  // BatchWriteItem's / TransactWriteItems' ItemCollectionMetrics: by table, one entry per item
  // collection written in a table with local secondary indexes; nothing for the others.
  absl::Status AddCollectionMetricsMap(
      json& out, const std::vector<std::pair<std::string, Item>>& written_keys);

  // ddb_streams.cc
  absl::StatusOr<json> ListStreams(const json& req);
  absl::StatusOr<json> DescribeStream(const json& req);
  absl::StatusOr<json> GetShardIterator(const json& req);
  absl::StatusOr<json> GetRecords(const json& req);
  // The live table one of whose streams (StreamsOf: the current one or an earlier, disabled
  // one) `arn` names, with that stream.
  absl::StatusOr<std::pair<TableSpec, StreamPeriod>> StreamTable(const std::string& arn);
  // One change as a stream record, with the images `view` asks for.
  json StreamRecord(const Change& c, const std::string& view);

  Region* region_;
  DynamoDbEndpoint::Tokens* tokens_;
};

// Charges the read units of `bytes` read from `spec`'s table when it is PROVISIONED (see
// Region::ConsumeReadCapacity); on-demand tables cost nothing, not even a lock.
absl::Status ChargeRead(Region* region, const TableSpec& spec, int64_t bytes, bool consistent);

}  // namespace gtsim::ddb
