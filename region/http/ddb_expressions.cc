// Expression parameters and placeholders of requests (see ddb_expressions.h).

#include "region/http/ddb_expressions.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

absl::Status ReadPlaceholders(const json& req, Placeholders* p) {
  if (const json* n = Field(req, "ExpressionAttributeNames")) {
    if (!n->is_object()) {
      return Serialization(
          "Unexpected value type in payload: ExpressionAttributeNames must be a map");
    }
    for (const auto& [k, v] : n->items()) {
      if (!v.is_string()) {
        return Serialization(
            "Unexpected value type in payload: ExpressionAttributeNames values must be strings");
      }
      p->names[k] = v.get_ref<const std::string&>();
    }
    p->has_names = true;
  }
  if (const json* v = Field(req, "ExpressionAttributeValues")) {
    if (!v->is_object()) {
      return Serialization(
          "Unexpected value type in payload: ExpressionAttributeValues must be a map");
    }
    for (const auto& [k, val] : v->items()) {
      RETURN_IF_ERROR(CheckValueJson(val));
      ASSIGN_OR_RETURN(AttributeValue av, ValueFromJson(val, k));
      p->values[k] = std::move(av);
    }
    p->has_values = true;
  }
  p->ctx.names = p->has_names ? &p->names : nullptr;
  p->ctx.values = p->has_values ? &p->values : nullptr;
  return expr::ValidateContext(p->ctx);
}

// DynamoDB's messages for placeholders given to a request without any expression.
absl::Status CheckPlaceholdersWithoutExpressions(const Placeholders& p, bool any_expression) {
  if (any_expression) return absl::OkStatus();
  if (p.has_names) {
    return Validation("ExpressionAttributeNames can only be specified when using expressions");
  }
  if (p.has_values) {
    return Validation("ExpressionAttributeValues can only be specified when using expressions");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<expr::Condition>> OptCondition(const json& req, const char* name,
                                                            expr::ExpressionKind kind,
                                                            Placeholders* p) {
  ASSIGN_OR_RETURN(auto text, OptString(req, name));
  if (!text) return std::optional<expr::Condition>();
  ASSIGN_OR_RETURN(expr::Condition c, expr::ParseCondition(*text, &p->ctx, kind));
  return std::optional<expr::Condition>(std::move(c));
}

absl::StatusOr<std::optional<expr::Projection>> OptProjection(const json& req, Placeholders* p) {
  ASSIGN_OR_RETURN(auto text, OptString(req, "ProjectionExpression"));
  if (!text) return std::optional<expr::Projection>();
  ASSIGN_OR_RETURN(expr::Projection proj, expr::ParseProjection(*text, &p->ctx));
  return std::optional<expr::Projection>(std::move(proj));
}

absl::StatusOr<bool> Holds(const std::optional<expr::Condition>& c,
                           const std::optional<Item>& item) {
  if (!c) return true;
  return expr::Evaluate(*c, item ? &*item : nullptr);
}

// The ConditionalCheckFailedException of a write, with the old item when asked for.
absl::Status ConditionFailed(bool return_old, const std::optional<Item>& current) {
  absl::Status s = absl::FailedPreconditionError("The conditional request failed");
  if (return_old && current) s.SetPayload(kItemPayload, absl::Cord(Dump(ItemToJson(*current))));
  return s;
}

absl::StatusOr<bool> ReturnOldOnConditionFailure(const json& req) {
  ASSIGN_OR_RETURN(auto v, OptString(req, "ReturnValuesOnConditionCheckFailure"));
  if (!v || *v == "NONE") return false;
  if (*v == "ALL_OLD") return true;
  return Validation(absl::StrCat(
      "1 validation error detected: Value '", *v,
      "' at 'returnValuesOnConditionCheckFailure' failed to satisfy constraint: Member must "
      "satisfy enum value set: [ALL_OLD, NONE]"));
}

}  // namespace gtsim::ddb
