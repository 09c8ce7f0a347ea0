// ReturnConsumedCapacity (internal to region/http/): what an operation consumed, per table and
// per secondary index, in DynamoDB's units and answer shape. The units themselves are the core's
// (TableEngine::ReadUnits / WriteUnits / IndexWriteUnits: reads per started 4 KB, half for
// eventually consistent reads; writes per started KB of the larger of the item before and after;
// index writes per projected entry); transactions count twice, as in DynamoDB. On-demand tables
// report the request units they would be billed, PROVISIONED tables the capacity units they were
// charged.
//
// Stateless and thread-safe; a Consumption is thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "region/region.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// ReturnConsumedCapacity: NONE (the default), TOTAL or INDEXES; ValidationException otherwise.
enum class CapacityDetail { kNone, kTotal, kIndexes };
absl::StatusOr<CapacityDetail> CapacityDetailOf(const json& req);

// Units consumed on one table and its indexes.
struct Consumption {
  double table_read = 0;
  double table_write = 0;
  std::map<std::string, std::pair<double, double>> indexes;  // name -> (read, write)

  // A write's units (WriteResult), twice for a transaction.
  void AddWrite(const WriteResult& r, double factor = 1);
  // Units of a write that was not applied (a failed condition still costs a write).
  void AddWriteUnits(double units) { table_write += units; }
  // Reading `bytes` from the table or, when `index` is set, that index.
  void AddRead(int64_t bytes, bool consistent, const std::string& index = "", double factor = 1);
};

// One ConsumedCapacity object of `table` for `spec` (which tells global from local indexes).
json ConsumedCapacityJson(const TableSpec& spec, const Consumption& c, CapacityDetail detail);

// Consumption by table name, for the operations over several tables (batches, transactions).
using Consumptions = std::map<std::string, Consumption>;

// Adds "ConsumedCapacity" to `out` as a list with one object per table of `c` (BatchWriteItem,
// BatchGetItem, TransactWriteItems, TransactGetItems) unless `detail` is NONE; `specs` are the
// live tables (those gone meanwhile are reported without index detail).
void AddConsumedCapacityList(json& out, const std::vector<TableSpec>& specs, const Consumptions& c,
                             CapacityDetail detail);

// Adds "ConsumedCapacity" to `out` (one object) unless `detail` is NONE.
void AddConsumedCapacity(json& out, const TableSpec& spec, const Consumption& c,
                         CapacityDetail detail);

}  // namespace gtsim::ddb
