// Query and Scan: pages of at most 1 MB, filters, projections, Select, indexes, segments.

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "model/item_json.h"
#include "model/key_codec.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"
#include "region/http/ddb_capacity.h"
#include "region/http/ddb_expressions.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_legacy.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

namespace {
// Item counts as DynamoDB's Select parameter asks.
enum class Select { kAll, kCount, kSpecific };

// Select, with the request's projection (`projection_param`: ProjectionExpression or
// AttributesToGet). DynamoDB's messages for Query carry a "1 validation error detected: " that
// Scan's do not.
absl::StatusOr<Select> SelectOf(const json& req, bool has_projection, bool index, bool query,
                                absl::string_view projection_param) {
  ASSIGN_OR_RETURN(auto s, OptString(req, "Select"));
  if (!s) return has_projection ? Select::kSpecific : Select::kAll;
  const absl::string_view prefix = query ? "1 validation error detected: " : "";
  // A Query of an index answers its projected attributes (the core projects them).
  if (index && *s == "ALL_PROJECTED_ATTRIBUTES" && !has_projection) return Select::kAll;
  if (*s == "ALL_ATTRIBUTES" || *s == "COUNT" || *s == "SPECIFIC_ATTRIBUTES" ||
      (index && *s == "ALL_PROJECTED_ATTRIBUTES")) {
    if (has_projection && *s != "SPECIFIC_ATTRIBUTES") {
      return Validation(absl::StrCat(prefix, "Cannot specify the ", projection_param,
                                     " when choosing to get ",
                                     *s == "COUNT" ? std::string("only the Count") : *s));
    }
    if (*s == "COUNT") return Select::kCount;
    if (*s == "SPECIFIC_ATTRIBUTES") {
      if (!has_projection) {
        return Validation(absl::StrCat(prefix,
                                       "Must specify the AttributesToGet or ProjectionExpression "
                                       "when choosing to get SPECIFIC_ATTRIBUTES"));
      }
      return Select::kSpecific;
    }
    return Select::kAll;
  }
  if (*s == "ALL_PROJECTED_ATTRIBUTES") {
    return Validation(absl::StrCat(
        prefix, "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName"));
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

constexpr int64_t kMaxPageBytes = 1 << 20;  // what one Query or Scan page reads

// What Query and Scan share after the read: filter, projection, Select, counts.
struct ReadShape {
  std::optional<expr::Condition> filter;
  std::optional<expr::Projection> projection;
  Select select = Select::kAll;
  CapacityDetail capacity = CapacityDetail::kNone;  // ReturnConsumedCapacity
  std::string index;                                // IndexName, "" for the table
};

// Shapes one page of Query or Scan. Like DynamoDB, a page reads at most 1 MB of items (before
// filtering): when `items` hold more, the page ends at the item that reaches 1 MB and its key
// becomes LastEvaluatedKey.
// `gsi`: the page reads that index, whose keys (index key and table key) then make the
// LastEvaluatedKey.
// Charges the read capacity of the bytes the page read (`consistent`: strongly consistent
// units) and fails with ProvisionedThroughputExceededException when the table cannot pay.
absl::StatusOr<json> Shape(Region* region, const ReadShape& shape, const TableSpec& spec,
                           const std::vector<Item>& items, Item last_key, bool consistent,
                           const GsiSetting* gsi = nullptr) {
  json out = json::object();
  json out_items = json::array();
  int64_t count = 0;
  size_t scanned = 0;
  int64_t bytes = 0;
  for (const Item& item : items) {
    ++scanned;
    bytes += ItemSize(item);
    ASSIGN_OR_RETURN(bool keep, Holds(shape.filter, item));
    if (keep) {
      ++count;
      if (shape.select != Select::kCount) {
        out_items.push_back(
            ItemToJson(shape.projection ? expr::Project(*shape.projection, item) : item));
      }
    }
    if (bytes >= kMaxPageBytes && scanned < items.size()) {
      last_key = gsi ? TableEngine::IndexKeyOf(spec, *gsi, item) : KeyOf(spec, item);
      break;
    }
  }
  RETURN_IF_ERROR(ChargeRead(region, spec, bytes, consistent));
  if (shape.select != Select::kCount) out["Items"] = std::move(out_items);
  if (shape.capacity != CapacityDetail::kNone) {
    Consumption c;
    c.AddRead(bytes, consistent, shape.index);
    AddConsumedCapacity(out, spec, c, shape.capacity);
  }
  out["Count"] = count;
  out["ScannedCount"] = static_cast<int64_t>(scanned);
  if (!last_key.empty()) out["LastEvaluatedKey"] = ItemToJson(last_key);
  return out;
}

// One page of a Query or Scan, read in chunks from `fetch` (a start key and a chunk size in,
// one page of the core out) until `limit` items are kept (0: no limit) or the kept items
// reach 1 MB, as DynamoDB's pages end; `keep` (null: keep all) drops items or turns them into
// what the page holds. The key of the last kept item - with the index's keys when reading
// `gsi` - is the LastEvaluatedKey when the page ends before the data does. Reading in chunks
// keeps a page's cost to what it answers, not the whole table or partition.
using Fetch = std::function<absl::StatusOr<Page>(const Item& start, int chunk)>;
absl::StatusOr<Page> ReadPage(const Fetch& fetch, Item start, int limit,
                              const std::function<bool(Item&)>& keep, const TableSpec& spec,
                              const GsiSetting* gsi) {
  constexpr int kChunk = 256;
  Page out;
  int64_t bytes = 0;
  while (true) {
    // Without `keep`, every item read is kept: read no more than the page still needs.
    int chunk = limit > 0 && !keep
                    ? std::min<int>(kChunk, limit - static_cast<int>(out.items.size()))
                    : kChunk;
    ASSIGN_OR_RETURN(Page page, fetch(start, chunk));
    for (Item& item : page.items) {
      if (keep && !keep(item)) continue;
      bytes += ItemSize(item);
      out.items.push_back(std::move(item));
      if ((limit > 0 && static_cast<int>(out.items.size()) == limit) || bytes >= kMaxPageBytes) {
        const Item& last = out.items.back();
        out.last_evaluated_key =
            gsi ? TableEngine::IndexKeyOf(spec, *gsi, last) : KeyOf(spec, last);
        return out;
      }
    }
    if (page.last_evaluated_key.empty()) return out;
    start = std::move(page.last_evaluated_key);
  }
}

// The filter, projection and Select of a Query (`query`) or Scan: FilterExpression or
// QueryFilter / ScanFilter, ProjectionExpression or AttributesToGet. `key_condition_expression`:
// the Query has one (so its placeholders are used by an expression).
absl::StatusOr<ReadShape> ReadShapeOf(const json& req, Placeholders* p, bool index, bool query,
                                      bool key_condition_expression) {
  ReadShape shape;
  ASSIGN_OR_RETURN(shape.capacity, CapacityDetailOf(req));
  if (const json* index = Field(req, "IndexName"); index && index->is_string()) {
    shape.index = index->get<std::string>();
  }
  ASSIGN_OR_RETURN(shape.filter,
                   OptCondition(req, "FilterExpression", expr::ExpressionKind::kFilter, p));
  ASSIGN_OR_RETURN(shape.projection, OptProjection(req, p));
  RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(
      *p, key_condition_expression || shape.filter || shape.projection));
  if (!shape.filter) {
    ASSIGN_OR_RETURN(shape.filter, LegacyFilter(req, query ? "QueryFilter" : "ScanFilter", p));
  }
  bool attributes_to_get = false;
  if (!shape.projection) {
    ASSIGN_OR_RETURN(shape.projection, LegacyAttributesToGet(req, p));
    attributes_to_get = shape.projection.has_value();
  }
  ASSIGN_OR_RETURN(shape.select,
                   SelectOf(req, shape.projection.has_value(), index, query,
                            attributes_to_get ? "AttributesToGet" : "ProjectionExpression"));
  return shape;
}

}  // namespace

absl::StatusOr<json> Operations::Query(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  RETURN_IF_ERROR(
      CheckNotMixed(req, {"AttributesToGet", "QueryFilter", "ConditionalOperator", "KeyConditions"},
                    {"ProjectionExpression", "FilterExpression", "KeyConditionExpression"}));
  ASSIGN_OR_RETURN(auto index, OptString(req, "IndexName"));
  ASSIGN_OR_RETURN(int limit, LimitOf(req));
  ASSIGN_OR_RETURN(auto forward, OptBool(req, "ScanIndexForward"));
  ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
  ASSIGN_OR_RETURN(Item start, ItemField(req, "ExclusiveStartKey", false));
  Placeholders p;
  RETURN_IF_ERROR(ReadPlaceholders(req, &p));
  ASSIGN_OR_RETURN(auto kc_text, OptString(req, "KeyConditionExpression"));
  if (!kc_text && !Field(req, "KeyConditions")) {
    return Validation(
        "Either the KeyConditions or KeyConditionExpression parameter must be "
        "specified in the request.");
  }
  std::optional<expr::KeyCondition> key_condition;
  if (kc_text) {
    ASSIGN_OR_RETURN(key_condition, expr::ParseKeyCondition(*kc_text, &p.ctx));
  }
  ASSIGN_OR_RETURN(ReadShape shape,
                   ReadShapeOf(req, &p, index.has_value(), /*query=*/true, kc_text.has_value()));
  if (!key_condition) {
    ASSIGN_OR_RETURN(key_condition, LegacyKeyConditions(req, &p));
  }
  const expr::KeyCondition& kc = *key_condition;
  RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
  ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
  KeyDef hash_key = spec.hash_key;
  std::optional<KeyDef> range_key = spec.range_key;
  const GsiSetting* gsi = nullptr;
  if (index) {
    auto g = spec.gsis.find(*index);
    if (g == spec.gsis.end() || g->second.deleted) {
      return Validation(absl::StrCat("The table does not have the specified index: ", *index));
    }
    if (consistent.value_or(false) && !g->second.local) {
      return Validation("Consistent reads are not supported on global secondary indexes");
    }
    gsi = &g->second;
    hash_key = gsi->hash_key;
    range_key = gsi->range_key;
  }
  ASSIGN_OR_RETURN(expr::KeyQuery kq, expr::BindKeySchema(kc, hash_key, range_key));
  if (!start.empty()) {
    // A query of an index starts from an index key plus the table key (what its
    // LastEvaluatedKey holds); the table key part is checked here, the rest by the core.
    auto ok = CheckKey(spec, gsi ? TableKeyPart(spec, start) : start);
    if (!ok.ok())
      return Validation("The provided starting key is invalid: " + std::string(ok.message()));
  }
  QueryRequest q;
  q.table = table;
  if (index) q.index = *index;
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
  auto page = ReadPage(
      [&](const Item& from, int chunk) {
        QueryRequest part = q;
        part.exclusive_start_key = from;
        part.limit = chunk;
        return region_->Query(part);
      },
      start, limit, nullptr, spec, gsi);
  if (index && absl::IsFailedPrecondition(page.status())) {
    return Validation(
        absl::StrCat("Cannot read from backfilling global secondary index: ", *index));
  }
  if (!start.empty() && absl::IsInvalidArgument(page.status()) &&
      absl::StartsWith(page.status().message(),
                       "the exclusive start key does not match the range key condition")) {
    return Validation("The provided starting key does not match the range key predicate");
  }
  if (gsi && !start.empty() && absl::IsInvalidArgument(page.status()) &&
      absl::StartsWith(page.status().message(), "the exclusive start key")) {
    // Not this index's key, or another partition's (the core says which, DynamoDB does not).
    return Validation(
        "The provided starting key is invalid: The provided key element does not match the "
        "schema");
  }
  if (!page.ok()) return page.status();
  return Shape(region_, shape, spec, page->items, page->last_evaluated_key,
               consistent.value_or(false), gsi);
}

absl::StatusOr<json> Operations::Scan(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  RETURN_IF_ERROR(CheckNotMixed(req, {"AttributesToGet", "ScanFilter", "ConditionalOperator"},
                                {"ProjectionExpression", "FilterExpression"}));
  ASSIGN_OR_RETURN(auto index, OptString(req, "IndexName"));
  ASSIGN_OR_RETURN(int limit, LimitOf(req));
  ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
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
  ASSIGN_OR_RETURN(ReadShape shape, ReadShapeOf(req, &p, index.has_value(), /*query=*/false,
                                                /*key_condition_expression=*/false));
  RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
  ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
  std::optional<GsiSetting> gsi;
  if (index) {
    auto g = spec.gsis.find(*index);
    if (g == spec.gsis.end() || g->second.deleted) {
      return Validation(absl::StrCat("The table does not have the specified index: ", *index));
    }
    if (consistent.value_or(false) && !g->second.local) {
      return Validation("Consistent reads are not supported on global secondary indexes");
    }
    ASSIGN_OR_RETURN(TableInfo info, region_->DescribeTable(table));
    if (auto st = info.index_status.find(*index);
        st != info.index_status.end() && st->second != "ACTIVE") {
      return Validation(
          absl::StrCat("Cannot read from backfilling global secondary index: ", *index));
    }
    gsi = g->second;
  }
  if (!start.empty()) {
    // A scan of an index resumes from a table key plus the index's key (its LastEvaluatedKey);
    // the table order it reads in needs the table key only.
    if (gsi) start = TableKeyPart(spec, start);
    auto ok = CheckKey(spec, start);
    if (!ok.ok())
      return Validation("The provided starting key is invalid: " + std::string(ok.message()));
  }
  // The whole table in table order; a parallel scan segment keeps the items whose hash key
  // falls in it, a scan of a global secondary index the items that have its key attributes
  // (in its projection). Limit and the 1 MB page count the kept items.
  std::function<bool(Item&)> keep = [&](Item& item) {
    auto hk = item.find(spec.hash_key.name);
    if (hk == item.end()) return false;
    if (total && *total > 1 &&
        static_cast<int64_t>(Fnv1a(EncodeHashKey(hk->second)) % *total) != *segment) {
      return false;
    }
    if (gsi) {
      std::optional<Item> in_index = IndexView(spec, *gsi, item);
      if (!in_index) return false;
      item = std::move(*in_index);
    }
    return true;
  };
  ASSIGN_OR_RETURN(Page page, ReadPage(
                                  [&](const Item& from, int chunk) {
                                    ScanRequest part;
                                    part.table = table;
                                    part.limit = chunk;
                                    part.exclusive_start_key = from;
                                    return region_->Scan(part);
                                  },
                                  start, limit, gsi || (total && *total > 1) ? keep : nullptr, spec,
                                  gsi ? &*gsi : nullptr));
  return Shape(region_, shape, spec, page.items, page.last_evaluated_key,
               consistent.value_or(false), gsi ? &*gsi : nullptr);
}

}  // namespace gtsim::ddb
