// The single-item operations: PutItem, GetItem, UpdateItem, DeleteItem.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/http/ddb_capacity.h"
#include "region/http/ddb_expressions.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_legacy.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

namespace {

// `answer` with the ConsumedCapacity `detail` asks for added.
std::function<json(const WriteResult&)> WithCapacity(std::function<json(const WriteResult&)> answer,
                                                     const TableSpec& spec, CapacityDetail detail) {
  if (detail == CapacityDetail::kNone) return answer;
  auto described = std::make_shared<const TableSpec>(spec);
  return [answer = std::move(answer), described, detail](const WriteResult& r) {
    json out = answer(r);
    Consumption c;
    c.AddWrite(r);
    AddConsumedCapacity(out, *described, c, detail);
    return out;
  };
}

}  // namespace

absl::StatusOr<json> Operations::PutItem(const json& req) {
  return RunWrite(PreparePutOrDelete(req, /*put=*/true));
}

absl::StatusOr<json> Operations::GetItem(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  RETURN_IF_ERROR(CheckNotMixed(req, {"AttributesToGet"}, {"ProjectionExpression"}));
  ASSIGN_OR_RETURN(Item key, ItemField(req, "Key", true));
  // Every read of the local copy is strongly consistent; ConsistentRead only decides the
  // read capacity charged (half for an eventually consistent read).
  ASSIGN_OR_RETURN(auto consistent, OptBool(req, "ConsistentRead"));
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  Placeholders p;
  RETURN_IF_ERROR(ReadPlaceholders(req, &p));
  ASSIGN_OR_RETURN(auto proj, OptProjection(req, &p));
  RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, proj.has_value()));
  if (!proj) {
    ASSIGN_OR_RETURN(proj, LegacyAttributesToGet(req, &p));
  }
  RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
  ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
  RETURN_IF_ERROR(CheckKey(spec, key));
  ASSIGN_OR_RETURN(GetResult r, region_->GetItem(table, key));
  RETURN_IF_ERROR(
      ChargeRead(region_, spec, r.item ? ItemSize(*r.item) : 0, consistent.value_or(false)));
  json out = json::object();
  if (r.item) out["Item"] = ItemToJson(proj ? expr::Project(*proj, *r.item) : *r.item);
  if (detail != CapacityDetail::kNone) {
    Consumption c;
    c.AddRead(r.item ? ItemSize(*r.item) : 0, consistent.value_or(false));
    AddConsumedCapacity(out, spec, c, detail);
  }
  return out;
}

absl::StatusOr<json> Operations::UpdateItem(const json& req) {
  return RunWrite(PrepareUpdate(req));
}

// UpdateItem, validated; the update runs against the item as committed before it.
absl::StatusOr<Operations::PreparedWrite> Operations::PrepareUpdate(const json& req) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  RETURN_IF_ERROR(CheckNotMixed(req, {"AttributeUpdates", "Expected"},
                                {"UpdateExpression", "ConditionExpression"}));
  ASSIGN_OR_RETURN(Item key, ItemField(req, "Key", true));
  ASSIGN_OR_RETURN(auto rv_text, OptString(req, "ReturnValues"));
  std::string rv = rv_text.value_or("NONE");
  if (rv != "NONE" && rv != "ALL_OLD" && rv != "UPDATED_OLD" && rv != "ALL_NEW" &&
      rv != "UPDATED_NEW") {
    return Validation(absl::StrCat(
        "1 validation error detected: Value '", rv,
        "' at 'returnValues' failed to satisfy constraint: Member must satisfy enum value set: "
        "[ALL_NEW, UPDATED_OLD, ALL_OLD, NONE, UPDATED_NEW]"));
  }
  ASSIGN_OR_RETURN(bool old_on_failure, ReturnOldOnConditionFailure(req));
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  Placeholders p;
  RETURN_IF_ERROR(ReadPlaceholders(req, &p));
  ASSIGN_OR_RETURN(auto update_text, OptString(req, "UpdateExpression"));
  auto plan = std::make_shared<std::optional<expr::UpdatePlan>>();
  if (update_text) {
    ASSIGN_OR_RETURN(*plan, expr::ParseUpdate(*update_text, &p.ctx));
  }
  ASSIGN_OR_RETURN(auto cond,
                   OptCondition(req, "ConditionExpression", expr::ExpressionKind::kCondition, &p));
  RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, plan->has_value() || cond));
  // The legacy forms, when no expression was given (they never come together).
  bool legacy_updates = false;
  if (!*plan) {
    ASSIGN_OR_RETURN(*plan, LegacyAttributeUpdates(req, &p));
    legacy_updates = plan->has_value();
  }
  if (!cond) {
    ASSIGN_OR_RETURN(cond, LegacyExpected(req, &p));
  }
  RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
  ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
  RETURN_IF_ERROR(CheckKey(spec, key));
  if (*plan) {
    absl::Status key_kept = expr::CheckKeyNotUpdated(**plan, KeyNames(spec));
    if (!key_kept.ok() && legacy_updates) {
      return Validation(
          absl::StrCat("One or more parameter values were invalid: ", key_kept.message()));
    }
    RETURN_IF_ERROR(key_kept);
  }
  auto condition = std::make_shared<std::optional<expr::Condition>>(std::move(cond));
  PreparedWrite w;
  w.table = std::move(table);
  w.key = key;
  // An update that only deletes (REMOVE, DELETE; AttributeUpdates DELETE) does not create a
  // missing item, as in DynamoDB; any other update, even an empty one, does.
  bool deletes_only = *plan && !(*plan)->actions.empty();
  if (*plan) {
    for (const expr::UpdateAction& a : (*plan)->actions) {
      deletes_only &= a.kind == expr::UpdateAction::Kind::kRemove ||
                      a.kind == expr::UpdateAction::Kind::kDelete;
    }
  }
  w.fn = [condition, old_on_failure, plan, legacy_updates, deletes_only, key = std::move(key)](
             const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
    ASSIGN_OR_RETURN(bool ok, Holds(*condition, current));
    if (!ok) return ConditionFailed(old_on_failure, current);
    if (!*plan) return std::optional<Item>(current ? *current : key);
    if (!current && deletes_only) return std::optional<Item>();
    absl::StatusOr<Item> next =
        expr::ApplyUpdate(**plan, current ? *current : key, current.has_value());
    if (!next.ok() && legacy_updates &&
        next.status().message() ==
            "An operand in the update expression has an incorrect data type") {
      // The same refusal, in the words DynamoDB uses for AttributeUpdates.
      return Validation("Type mismatch for attribute to update");
    }
    RETURN_IF_ERROR(next.status());
    RETURN_IF_ERROR(CheckItemSize(*next, /*update=*/true));
    return std::optional<Item>(*std::move(next));
  };
  w.answer = [rv, plan](const WriteResult& r) {
    json out = json::object();
    std::optional<Item> attrs;
    if (rv == "ALL_OLD") {
      attrs = r.old_item;
    } else if (rv == "ALL_NEW") {
      attrs = r.new_item;
    } else if (rv == "UPDATED_OLD" || rv == "UPDATED_NEW") {
      const std::optional<Item>& source = rv == "UPDATED_OLD" ? r.old_item : r.new_item;
      if (source && *plan) {
        expr::Projection updated;
        for (const auto& a : (*plan)->actions) updated.paths.push_back(a.path);
        attrs = expr::Project(updated, *source);
      }
    }
    if (attrs && !attrs->empty()) out["Attributes"] = ItemToJson(*attrs);
    return out;
  };
  w.answer = WithCapacity(std::move(w.answer), spec, detail);
  ASSIGN_OR_RETURN(w.collection_metrics, ItemCollectionMetricsWanted(req, spec));
  return w;
}

absl::StatusOr<json> Operations::DeleteItem(const json& req) {
  return RunWrite(PreparePutOrDelete(req, /*put=*/false));
}

absl::StatusOr<json> Operations::RunWrite(absl::StatusOr<PreparedWrite> w) {
  RETURN_IF_ERROR(w.status());
  ASSIGN_OR_RETURN(WriteResult r, region_->Write(Region::MutateRequest{w->table, w->key, w->fn}));
  json out = w->answer(r);
  if (w->collection_metrics) {
    ASSIGN_OR_RETURN(TableSpec spec, Spec(w->table));
    ASSIGN_OR_RETURN(out["ItemCollectionMetrics"], CollectionMetrics(spec, w->key));
  }
  return out;
}

// PutItem (`put`) and DeleteItem: one item written or deleted under an optional
// ConditionExpression, answering the old item when ReturnValues is ALL_OLD.
absl::StatusOr<Operations::PreparedWrite> Operations::PreparePutOrDelete(const json& req,
                                                                         bool put) {
  ASSIGN_OR_RETURN(std::string table, TableNameOf(req));
  RETURN_IF_ERROR(CheckNotMixed(req, {"Expected"}, {"ConditionExpression"}));
  ASSIGN_OR_RETURN(Item input, ItemField(req, put ? "Item" : "Key", true));
  ASSIGN_OR_RETURN(auto rv, OptString(req, "ReturnValues"));
  if (rv && *rv != "NONE" && *rv != "ALL_OLD") {
    return Validation("ReturnValues can only be ALL_OLD or NONE");
  }
  bool return_old = rv && *rv == "ALL_OLD";
  ASSIGN_OR_RETURN(bool old_on_failure, ReturnOldOnConditionFailure(req));
  ASSIGN_OR_RETURN(CapacityDetail detail, CapacityDetailOf(req));
  Placeholders p;
  RETURN_IF_ERROR(ReadPlaceholders(req, &p));
  ASSIGN_OR_RETURN(auto cond,
                   OptCondition(req, "ConditionExpression", expr::ExpressionKind::kCondition, &p));
  RETURN_IF_ERROR(CheckPlaceholdersWithoutExpressions(p, cond.has_value()));
  if (!cond) {
    ASSIGN_OR_RETURN(cond, LegacyExpected(req, &p));
  }
  RETURN_IF_ERROR(expr::CheckAllUsed(p.ctx));
  ASSIGN_OR_RETURN(TableSpec spec, Spec(table));
  std::optional<Item> next;
  if (put) {
    RETURN_IF_ERROR(CheckWriteItem(spec, input));
  } else {
    RETURN_IF_ERROR(CheckKey(spec, input));
  }
  PreparedWrite w;
  w.table = std::move(table);
  w.key = put ? KeyOf(spec, input) : input;
  if (put) next = std::move(input);
  auto condition = std::make_shared<std::optional<expr::Condition>>(std::move(cond));
  auto written = std::make_shared<std::optional<Item>>(std::move(next));
  w.fn = [condition, old_on_failure,
          written](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
    ASSIGN_OR_RETURN(bool ok, Holds(*condition, current));
    if (!ok) return ConditionFailed(old_on_failure, current);
    return *written;
  };
  w.answer = [return_old](const WriteResult& r) {
    json out = json::object();
    if (return_old && r.old_item) out["Attributes"] = ItemToJson(*r.old_item);
    return out;
  };
  w.answer = WithCapacity(std::move(w.answer), spec, detail);
  ASSIGN_OR_RETURN(w.collection_metrics, ItemCollectionMetricsWanted(req, spec));
  return w;
}

}  // namespace gtsim::ddb
