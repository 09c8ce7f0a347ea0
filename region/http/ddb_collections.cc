// ReturnItemCollectionMetrics: the size of the item collections that writes touch, in tables
// with local secondary indexes (see ddb_operations.h).

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

namespace {
bool HasLocalIndex(const TableSpec& spec) {
  for (const auto& [name, g] : spec.gsis) {
    if (g.local && !g.deleted) return true;
  }
  return false;
}
}  // namespace

absl::StatusOr<bool> ItemCollectionMetricsAsked(const json& req) {
  ASSIGN_OR_RETURN(auto v, OptString(req, "ReturnItemCollectionMetrics"));
  if (v && *v != "SIZE" && *v != "NONE") {
    return EnumError(*v, "returnItemCollectionMetrics", "SIZE, NONE");
  }
  return v && *v == "SIZE";
}

absl::StatusOr<bool> ItemCollectionMetricsWanted(const json& req, const TableSpec& spec) {
  ASSIGN_OR_RETURN(bool asked, ItemCollectionMetricsAsked(req));
  // DynamoDB answers them only for tables with local secondary indexes.
  return asked && HasLocalIndex(spec);
}

absl::StatusOr<json> Operations::CollectionMetrics(const TableSpec& spec, const Item& key) {
  auto hash = key.find(spec.hash_key.name);
  if (hash == key.end()) return absl::InternalError("item collection key without a hash key");
  // Every item of the collection, page by page (a collection has at most 10 GB in DynamoDB).
  QueryRequest q;
  q.table = spec.name;
  q.hash_value = hash->second;
  int64_t bytes = 0;
  do {
    ASSIGN_OR_RETURN(Page page, region_->Query(q));
    for (const Item& item : page.items) {
      bytes += ItemSize(item);
      for (const auto& [name, g] : spec.gsis) {
        if (!g.local || g.deleted) continue;
        if (auto entry = IndexView(spec, g, item)) bytes += ItemSize(*entry);
      }
    }
    q.exclusive_start_key = std::move(page.last_evaluated_key);
  } while (!q.exclusive_start_key.empty());
  // DynamoDB's estimate is a range in GB; gtsim's is the whole GB around the exact size.
  const double gb = std::floor(static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return json{{"ItemCollectionKey", ItemToJson(Item{{hash->first, hash->second}})},
              {"SizeEstimateRangeGB", json::array({gb, gb + 1.0})}};
}

absl::Status Operations::AddCollectionMetricsMap(
    json& out, const std::vector<std::pair<std::string, Item>>& written_keys) {
  std::map<std::string, TableSpec> specs;
  std::set<std::pair<std::string, std::string>> done;  // (table, encoded hash key value)
  json metrics = json::object();
  for (const auto& [table, key] : written_keys) {
    auto s = specs.find(table);
    if (s == specs.end()) {
      ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
      s = specs.emplace(table, std::move(spec)).first;
    }
    const TableSpec& spec = s->second;
    if (!HasLocalIndex(spec)) continue;
    auto hash = key.find(spec.hash_key.name);
    if (hash == key.end()) continue;
    if (!done.emplace(table, EncodeItem(Item{{hash->first, hash->second}})).second) continue;
    ASSIGN_OR_RETURN(json m, CollectionMetrics(spec, key));
    metrics[table].push_back(std::move(m));
  }
  if (!metrics.empty()) out["ItemCollectionMetrics"] = std::move(metrics);
  return absl::OkStatus();
}

}  // namespace gtsim::ddb
