// TransactWriteItems and TransactGetItems: atomic in this region, idempotency tokens.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/item_json.h"
#include "model/key_codec.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"
#include "region/http/ddb_capacity.h"
#include "region/http/ddb_expressions.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

namespace {
constexpr size_t kMaxTransactItems = 100;
constexpr int64_t kMaxTransactBytes = 4 << 20;  // the items of one TransactWriteItems

absl::Status TransactionTooLarge(int64_t bytes) {
  return Validation(
      absl::StrCat("Transaction size has exceeded the maximum allowed size: the items of a "
                   "TransactWriteItems request may total at most 4 MB, these total ",
                   bytes, " bytes; split it into several transactions"));
}

// TransactItems of TransactWriteItems / TransactGetItems: a list of 1..100 maps.
absl::StatusOr<const json*> TransactItems(const json& req) {
  const json* items = Field(req, "TransactItems");
  if (!items) {
    return MissingMember("transactItems");
  }
  if (!items->is_array()) {
    return Serialization("Unexpected value type in payload: TransactItems must be a list");
  }
  if (items->empty() || items->size() > kMaxTransactItems) {
    // DynamoDB's two wordings: the empty list echoed, the long one named by its member.
    return Validation(
        items->empty()
            ? std::string("1 validation error detected: Value '[]' at 'transactItems' failed "
                          "to satisfy constraint: Member must have length greater than or "
                          "equal to 1")
            : absl::StrCat("1 validation error detected: Value at 'TransactItems' failed to "
                           "satisfy constraint: Member must have length less than or equal to ",
                           kMaxTransactItems));
  }
  for (const json& t : *items) {
    if (!t.is_object()) {
      return Serialization("Unexpected value type in payload: TransactItems members must be maps");
    }
  }
  return items;
}

}  // namespace

// TransactWriteItems: every condition is checked against this region's copy, then every
// write is committed in one SQLite transaction, or nothing is (atomic in this region only,
// as in a DynamoDB global table; other regions receive the writes as they replicate).
absl::StatusOr<json> Operations::TransactWriteItems(const json& req) {
  ASSIGN_OR_RETURN(const json* items, TransactItems(req));
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  ASSIGN_OR_RETURN(bool metrics, ItemCollectionMetricsAsked(req));
  ASSIGN_OR_RETURN(auto token, OptString(req, "ClientRequestToken"));
  if (token && (token->empty() || token->size() > 36)) {
    return Validation(absl::StrCat(
        "1 validation error detected: Value '", *token,
        "' at 'clientRequestToken' failed to satisfy constraint: Member must have length ",
        token->empty() ? "greater than or equal to 1" : "less than or equal to 36"));
  }
  uint64_t fingerprint = Fnv1a(Dump(*items));
  if (token) {
    absl::MutexLock l(&tokens_->mu);
    auto it = tokens_->seen.find(*token);
    if (it != tokens_->seen.end() && absl::Now() - it->second.second < absl::Minutes(10)) {
      if (it->second.first != fingerprint) {
        return Typed(absl::StatusCode::kInvalidArgument, "IdempotentParameterMismatchException",
                     "The request uses the same client token as a previous, but non-identical "
                     "request.");
      }
      return json::object();  // already applied: DynamoDB answers success, writes nothing
    }
  }
  // What each entry needs, parsed and validated up front: bad input writes nothing.
  struct Entry {
    std::string kind;  // ConditionCheck, Put, Delete, Update
    std::string table;
    Item key;
    std::optional<Item> item;  // Put
    std::optional<expr::Condition> cond;
    std::optional<expr::UpdatePlan> plan;
    bool old_on_failure = false;
  };
  std::vector<Entry> entries;
  std::set<std::pair<std::string, std::string>> targets;
  // The aggregate size of the transaction's items (DynamoDB's limit: 4 MB): Put items and the
  // keys of the other actions, then what the updates make of their items.
  int64_t aggregate = 0;
  for (const json& t : *items) {
    if (t.size() != 1 || !(t.contains("ConditionCheck") || t.contains("Put") ||
                           t.contains("Delete") || t.contains("Update"))) {
      return Validation("TransactItems can only contain one of Check, Put, Update or Delete");
    }
    Entry e;
    e.kind = t.begin().key();
    const json& op = t.begin().value();
    if (!op.is_object()) {
      return Serialization(
          absl::StrCat("Unexpected value type in payload: ", e.kind, " must be a map"));
    }
    ASSIGN_OR_RETURN(e.table, TableNameOf(op));
    ASSIGN_OR_RETURN(e.old_on_failure, ReturnOldOnConditionFailure(op));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(op, &p));
    if (e.kind == "Update") {
      ASSIGN_OR_RETURN(auto text, OptString(op, "UpdateExpression"));
      if (!text) {
        return MissingMember("transactItems.member.update.updateExpression");
      }
      ASSIGN_OR_RETURN(e.plan, expr::ParseUpdate(*text, &p.ctx));
    }
    ASSIGN_OR_RETURN(e.cond,
                     OptCondition(op, "ConditionExpression", expr::ExpressionKind::kCondition, &p));
    if (e.kind == "ConditionCheck" && !e.cond) {
      return MissingMember("transactItems.member.conditionCheck.conditionExpression");
    }
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, e.cond || e.plan));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(e.table));
    if (e.kind == "Put") {
      ASSIGN_OR_RETURN(Item item, ItemField(op, "Item", true));
      RETURN_IF_ERROR(CheckWriteItem(spec, item));
      e.key = KeyOf(spec, item);
      e.item = std::move(item);
    } else {
      ASSIGN_OR_RETURN(e.key, ItemField(op, "Key", true));
      RETURN_IF_ERROR(CheckKey(spec, e.key));
    }
    if (e.plan) RETURN_IF_ERROR(expr::CheckKeyNotUpdated(*e.plan, KeyNames(spec)));
    if (!targets.emplace(e.table, EncodeItem(e.key)).second) {
      return Validation("Transaction request cannot include multiple operations on one item");
    }
    aggregate += e.item ? ItemSize(*e.item) : ItemSize(e.key);
    entries.push_back(std::move(e));
  }
  if (aggregate > kMaxTransactBytes) return TransactionTooLarge(aggregate);
  // Each entry's cancellation reason, filled in by its mutation (under the region's lock).
  std::vector<json> reasons(entries.size(), json{{"Code", "None"}});
  bool cancelled = false;
  std::vector<Region::ItemMutation> mutations;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    Region::ItemMutation m;
    m.table = e.table;
    m.key = e.key;
    m.check_only = e.kind == "ConditionCheck";
    m.fn = [&, i](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
      const Entry& e = entries[i];
      auto fail = [&](const char* code, absl::string_view message) {
        cancelled = true;
        reasons[i] = {{"Code", code}, {"Message", message}};
        if (e.old_on_failure && current && std::string(code) == "ConditionalCheckFailed") {
          reasons[i]["Item"] = ItemToJson(*current);
        }
        return absl::AbortedError(message);
      };
      auto ok = Holds(e.cond, current);
      if (!ok.ok()) return fail("ValidationError", ok.status().message());
      if (!*ok) return fail("ConditionalCheckFailed", "The conditional request failed");
      if (e.kind == "Put") return e.item;
      if (e.kind == "Delete") return std::optional<Item>();
      if (e.kind == "ConditionCheck") return current;
      auto next = expr::ApplyUpdate(*e.plan, current ? *current : e.key, current.has_value());
      if (!next.ok()) return fail("ValidationError", next.status().message());
      absl::Status size = CheckItemSize(*next, /*update=*/true);
      if (!size.ok()) return fail("ValidationError", size.message());
      aggregate += ItemSize(*next) - ItemSize(e.key);
      if (aggregate > kMaxTransactBytes) {
        return fail("ValidationError", TransactionTooLarge(aggregate).message());
      }
      return std::optional<Item>(*std::move(next));
    };
    mutations.push_back(std::move(m));
  }
  auto written = region_->Transact(mutations);
  if (!written.ok()) {
    if (!cancelled) return written.status();
    std::vector<std::string> codes;
    for (const json& r : reasons) codes.push_back(r["Code"].get<std::string>());
    absl::Status st =
        Typed(absl::StatusCode::kAborted, "TransactionCanceledException",
              absl::StrCat("Transaction cancelled, please refer cancellation reasons for "
                           "specific reasons [",
                           absl::StrJoin(codes, ", "), "]"));
    st.SetPayload(kExtraPayload, absl::Cord(Dump(json{{"CancellationReasons", reasons}})));
    return st;
  }
  // Every action of a transaction costs twice its write units; a ConditionCheck those of the
  // item it checked.
  Consumptions consumed;
  for (size_t i = 0; i < written->size(); ++i) {
    const WriteResult& r = (*written)[i];
    if (mutations[i].check_only) {
      consumed[mutations[i].table].AddWriteUnits(
          2.0 * TableEngine::WriteUnits(r.old_item ? ItemSize(*r.old_item) : 0));
    } else {
      consumed[mutations[i].table].AddWrite(r, 2);
    }
  }
  json out = json::object();
  AddConsumedCapacityList(out, region_->Tables(), consumed, detail);
  if (metrics) {
    std::vector<std::pair<std::string, Item>> written;
    for (const auto& m : mutations) {
      if (!m.check_only) written.emplace_back(m.table, m.key);
    }
    RETURN_IF_ERROR(AddCollectionMetricsMap(out, written));
  }
  if (token) {
    absl::MutexLock l(&tokens_->mu);
    // Forget tokens older than DynamoDB's 10-minute idempotency window.
    absl::Time now = absl::Now();
    for (auto it = tokens_->seen.begin(); it != tokens_->seen.end();) {
      it = now - it->second.second >= absl::Minutes(10) ? tokens_->seen.erase(it) : ++it;
    }
    tokens_->seen[*token] = {fingerprint, now};
  }
  return out;
}

// TransactGetItems: every item read under one lock of this region, so the answer is one
// consistent snapshot of the local copy.
absl::StatusOr<json> Operations::TransactGetItems(const json& req) {
  ASSIGN_OR_RETURN(const json* items, TransactItems(req));
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  std::vector<std::pair<std::string, Item>> keys;
  std::vector<std::optional<expr::Projection>> projections;
  std::set<std::pair<std::string, std::string>> targets;
  std::set<std::string> provisioned;  // tables whose read capacity is charged
  for (const json& t : *items) {
    if (t.size() != 1 || !t.contains("Get")) {
      return Validation("TransactItems can only contain Get");
    }
    const json& op = t["Get"];
    if (!op.is_object())
      return Serialization("Unexpected value type in payload: Get must be a map");
    ASSIGN_OR_RETURN(std::string table, TableNameOf(op));
    Placeholders p;
    RETURN_IF_ERROR(ReadPlaceholders(op, &p));
    ASSIGN_OR_RETURN(auto proj, OptProjection(op, &p));
    RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, proj.has_value()));
    RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
    ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
    if (ReadsMetered(spec)) provisioned.insert(table);
    ASSIGN_OR_RETURN(Item key, ItemField(op, "Key", true));
    RETURN_IF_ERROR(CheckKey(spec, key));
    if (!targets.emplace(table, EncodeItem(key)).second) {
      return Validation("Transaction request cannot include multiple operations on one item");
    }
    keys.emplace_back(table, std::move(key));
    projections.push_back(std::move(proj));
  }
  ASSIGN_OR_RETURN(std::vector<GetResult> got, region_->GetItems(keys));
  // A transactional read costs twice a strongly consistent one, as in DynamoDB.
  std::map<std::string, double> units;  // by PROVISIONED table
  for (size_t i = 0; i < got.size(); ++i) {
    if (!provisioned.count(keys[i].first)) continue;
    units[keys[i].first] +=
        2 * TableEngine::ReadUnits(got[i].item ? ItemSize(*got[i].item) : 0, true);
  }
  for (const auto& [table, n] : units) RETURN_IF_ERROR(region_->ConsumeReadCapacity(table, n));
  Consumptions consumed;
  for (size_t i = 0; i < got.size(); ++i) {
    consumed[keys[i].first].AddRead(got[i].item ? ItemSize(*got[i].item) : 0, true, "", 2);
  }
  json responses = json::array();
  for (size_t i = 0; i < got.size(); ++i) {
    json r = json::object();
    if (got[i].item) {
      r["Item"] =
          ItemToJson(projections[i] ? expr::Project(*projections[i], *got[i].item) : *got[i].item);
    }
    responses.push_back(std::move(r));
  }
  json out = {{"Responses", std::move(responses)}};
  AddConsumedCapacityList(out, region_->Tables(), consumed, detail);
  return out;
}

}  // namespace gtsim::ddb
