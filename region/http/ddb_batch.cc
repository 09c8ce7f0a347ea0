// BatchWriteItem and BatchGetItem, with UnprocessedItems / UnprocessedKeys.

#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/item_json.h"
#include "model/key_codec.h"
#include "model/status_macros.h"
#include "region/http/ddb_capacity.h"
#include "region/http/ddb_expressions.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_legacy.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

namespace {
constexpr int kMaxBatchWrite = 25;
constexpr int kMaxBatchGet = 100;
constexpr int64_t kMaxBatchGetBytes = 16 << 20;  // a BatchGetItem answer's limit

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

}  // namespace

absl::StatusOr<json> Operations::BatchWriteItem(const json& req) {
  ASSIGN_OR_RETURN(const json* ri, RequestItems(req));
  std::vector<Region::ItemMutation> writes;
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  ASSIGN_OR_RETURN(bool metrics, ItemCollectionMetricsAsked(req));
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
    provisioned |= WritesMetered(spec);  // PROVISIONED, or an OnDemandThroughput maximum
    std::set<std::string> keys;          // encoded, to find duplicates
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
  Consumptions consumed;
  std::vector<std::pair<std::string, Item>> written;  // for ItemCollectionMetrics
  auto answer = [&](json unprocessed) -> absl::StatusOr<json> {
    json out = {{"UnprocessedItems", std::move(unprocessed)}};
    AddConsumedCapacityList(out, region_->Tables(), consumed, detail);
    if (metrics) RETURN_IF_ERROR(AddCollectionMetricsMap(out, written));
    return out;
  };
  if (!provisioned) {
    // One transaction for the whole batch (group commit); DynamoDB does not promise
    // atomicity here, and on-demand tables are never throttled.
    ASSIGN_OR_RETURN(std::vector<WriteResult> results, region_->Transact(writes));
    for (size_t i = 0; i < results.size(); ++i) consumed[writes[i].table].AddWrite(results[i]);
    for (const auto& w : writes) written.emplace_back(w.table, w.key);
    return answer(json::object());
  }
  // With a PROVISIONED table, the writes go one at a time: those beyond its write capacity
  // come back in UnprocessedItems, as in DynamoDB; when none could be written, the answer is
  // ProvisionedThroughputExceededException.
  json unprocessed = json::object();
  size_t throttled = 0;
  absl::Status last_throttle;
  for (size_t i = 0; i < writes.size(); ++i) {
    auto result = region_->Transact({writes[i]});
    absl::Status st = result.status();
    if (result.ok()) {
      consumed[writes[i].table].AddWrite(result->front());
      written.emplace_back(writes[i].table, writes[i].key);
    }
    if (IsThrottle(st)) {
      ++throttled;
      last_throttle = st;
      unprocessed[raw[i].first].push_back(*raw[i].second);
      continue;
    }
    RETURN_IF_ERROR(st);
  }
  if (throttled == writes.size()) return last_throttle;
  return answer(std::move(unprocessed));
}

absl::StatusOr<json> Operations::BatchGetItem(const json& req) {
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
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  for (const auto& [table, spec_json] : ri->items()) {
    RETURN_IF_ERROR(CheckTableName(table, "requestItems"));
    if (!spec_json.is_object()) {
      return Serialization("Unexpected value type in payload: KeysAndAttributes must be a map");
    }
    RETURN_IF_ERROR(CheckNotMixed(spec_json, {"AttributesToGet"}, {"ProjectionExpression"}));
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
    if (!read.projection) {
      ASSIGN_OR_RETURN(read.projection, LegacyAttributesToGet(spec_json, &p));
    }
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    std::set<std::string> seen;  // encoded keys
    for (const json& k : *keys) {
      if (!k.is_object())
        return Serialization("Unexpected value type in payload: Keys members must be maps");
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
  Consumptions consumed;
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
      absl::Status paid =
          ChargeRead(region_, read.spec, r.item ? ItemSize(*r.item) : 0, read.consistent);
      if (IsThrottle(paid)) {
        throttled = true;
        throttle = paid;
        left.push_back(ItemToJson(key));
        continue;
      }
      RETURN_IF_ERROR(paid);
      consumed[read.table].AddRead(r.item ? ItemSize(*r.item) : 0, read.consistent);
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
  json out = {{"Responses", responses}, {"UnprocessedKeys", unprocessed}};
  AddConsumedCapacityList(out, region_->Tables(), consumed, detail);
  return out;
}

}  // namespace gtsim::ddb
