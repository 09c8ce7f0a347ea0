// Legacy request parameters as expressions over generated placeholders (see ddb_legacy.h).
//
// DynamoDB's messages come from its API reference where it gives them; the others are as
// DynamoDB answers them according to emulators tested against it (dynalite, moto's
// aws_verified tests). README.md, "Legacy parameters", lists the texts not confirmed.

#include "region/http/ddb_legacy.h"

#include <cctype>
#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {
namespace {

// What a generated expression may hold: its names and values are placeholders, so its text
// grows with the number of attributes only; the bound keeps the engine's (quadratic) path
// checks cheap while taking far more attributes than a 400 KB item can hold usefully.
constexpr size_t kMaxLegacyExpressionBytes = 400 * 1024;
constexpr absl::string_view kInvalid = "One or more parameter values were invalid: ";
// DynamoDB's ComparisonOperator enum, in the order its messages list it.
constexpr absl::string_view kOperators =
    "IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS";

// Generated placeholders, added to the request's maps.
class Generator {
 public:
  explicit Generator(Placeholders* p) : p_(p) {}
  std::string Name(const std::string& attribute) {
    std::string key = Fresh('#', p_->names);
    p_->names[key] = attribute;
    p_->ctx.names = &p_->names;
    return key;
  }
  std::string Value(AttributeValue value) {
    std::string key = Fresh(':', p_->values);
    p_->values[key] = std::move(value);
    p_->ctx.values = &p_->values;
    return key;
  }

 private:
  template <class Map>
  std::string Fresh(char prefix, const Map& taken) {
    std::string key;
    do {
      key = absl::StrCat(std::string(1, prefix), "legacy", next_++);
    } while (taken.count(key));
    return key;
  }
  Placeholders* p_;
  int next_ = 0;
};

// Parses generated text with the legacy size bound, then restores the client's bound.
template <class T>
absl::StatusOr<T> ParseGenerated(
    Placeholders* p, const std::function<absl::StatusOr<T>(expr::ExpressionContext*)>& parse) {
  const size_t saved = p->ctx.max_expression_bytes;
  p->ctx.max_expression_bytes = kMaxLegacyExpressionBytes;
  absl::StatusOr<T> out = parse(&p->ctx);
  p->ctx.max_expression_bytes = saved;
  return out;
}

// One AttributeValue as sent (DynamoDB's checks), converted.
absl::StatusOr<AttributeValue> ReadValue(const json& v, const std::string& attribute) {
  RETURN_IF_ERROR(CheckValueJson(v));
  return ValueFromJson(v, attribute);
}

const char* TypeOf(const AttributeValue& v) { return ValueTypeName(v.type()); }

// One condition of the legacy form, read: attribute ComparisonOperator values...
struct Term {
  std::string attribute;
  std::string op;
  std::vector<AttributeValue> values;
};

bool IsOperator(const std::string& op) {
  for (absl::string_view known : absl::StrSplit(kOperators, ", ")) {
    if (op == known) return true;
  }
  return false;
}

// The value types `op` compares against; empty: any type.
std::set<ValueType> TypesFor(const std::string& op) {
  if (op == "EQ" || op == "NE") return {};
  if (op == "BEGINS_WITH") return {ValueType::kS, ValueType::kB};
  return {ValueType::kS, ValueType::kN, ValueType::kB};
}

// DynamoDB's checks of a term's AttributeValueList: arity, one type, types `op` takes, and
// BETWEEN's bounds in order.
absl::Status CheckOperands(const Term& t) {
  const size_t n = t.values.size();
  bool arity_ok = false;
  if (t.op == "NULL" || t.op == "NOT_NULL") {
    arity_ok = n == 0;
  } else if (t.op == "IN") {
    arity_ok = n >= 1;
  } else if (t.op == "BETWEEN") {
    arity_ok = n == 2;
  } else {
    arity_ok = n == 1;
  }
  if (!arity_ok) {
    return Validation(absl::StrCat(kInvalid, "Invalid number of argument(s) for the ", t.op,
                                   " ComparisonOperator"));
  }
  for (const AttributeValue& v : t.values) {
    if (v.type() != t.values[0].type()) {
      return Validation(
          absl::StrCat(kInvalid, "AttributeValues inside AttributeValueList must be of same type"));
    }
  }
  std::set<ValueType> types = TypesFor(t.op);
  for (const AttributeValue& v : t.values) {
    if (!types.empty() && !types.count(v.type())) {
      return Validation(absl::StrCat(kInvalid, "ComparisonOperator ", t.op, " is not valid for ",
                                     TypeOf(v), " AttributeValue type"));
    }
  }
  if (t.op == "BETWEEN") {
    const AttributeValue& lo = t.values[0];
    const AttributeValue& hi = t.values[1];
    bool reversed = lo.type() == ValueType::kN ? CompareNumbers(lo.scalar(), hi.scalar()) > 0
                                               : lo.scalar() > hi.scalar();
    if (reversed) {
      return Validation(
          "The BETWEEN condition was provided a range where the lower bound is greater than the "
          "upper bound");
    }
  }
  return absl::OkStatus();
}

// A term as expression text.
std::string TermText(const Term& t, Generator* g) {
  const std::string a = g->Name(t.attribute);
  std::vector<std::string> v;
  for (const AttributeValue& value : t.values) v.push_back(g->Value(value));
  if (t.op == "NULL") return absl::StrCat("attribute_not_exists(", a, ")");
  if (t.op == "NOT_NULL") return absl::StrCat("attribute_exists(", a, ")");
  if (t.op == "CONTAINS") return absl::StrCat("contains(", a, ", ", v[0], ")");
  if (t.op == "NOT_CONTAINS") return absl::StrCat("NOT contains(", a, ", ", v[0], ")");
  if (t.op == "BEGINS_WITH") return absl::StrCat("begins_with(", a, ", ", v[0], ")");
  if (t.op == "IN") return absl::StrCat(a, " IN (", absl::StrJoin(v, ", "), ")");
  if (t.op == "BETWEEN") return absl::StrCat(a, " BETWEEN ", v[0], " AND ", v[1]);
  const char* op = t.op == "EQ"   ? " = "
                   : t.op == "NE" ? " <> "
                   : t.op == "LT" ? " < "
                   : t.op == "LE" ? " <= "
                   : t.op == "GT" ? " > "
                                  : " >= ";
  return absl::StrCat(a, op, v[0]);
}

// The AttributeValueList (or, in Expected, a Value standing for it) of `c`.
absl::Status ReadValues(const json& c, const std::string& attribute, Term* t) {
  if (const json* list = Field(c, "AttributeValueList")) {
    if (!list->is_array()) {
      return Serialization("Unexpected value type in payload: AttributeValueList must be a list");
    }
    for (const json& v : *list) {
      ASSIGN_OR_RETURN(AttributeValue value, ReadValue(v, attribute));
      t->values.push_back(std::move(value));
    }
  } else if (const json* v = Field(c, "Value")) {
    ASSIGN_OR_RETURN(AttributeValue value, ReadValue(*v, attribute));
    t->values.push_back(std::move(value));
  }
  return absl::OkStatus();
}

// The ComparisonOperator of one condition of map member `member` (its name in messages,
// e.g. "scanFilter"): present and one of DynamoDB's.
absl::StatusOr<std::string> OperatorOf(const json& c, const std::string& member,
                                       const std::string& attribute, bool required) {
  ASSIGN_OR_RETURN(auto op, OptString(c, "ComparisonOperator"));
  std::string where = absl::StrCat(member, ".", attribute, ".member.comparisonOperator");
  if (!op) {
    if (!required) return std::string();
    return Validation(absl::StrCat("1 validation error detected: Value null at '", where,
                                   "' failed to satisfy constraint: Member must not be null"));
  }
  if (!IsOperator(*op)) return EnumError(*op, where, kOperators);
  return *op;
}

// A map member of conditions (QueryFilter, ScanFilter, KeyConditions) as terms.
absl::StatusOr<std::vector<Term>> ConditionsOf(const json& map, const char* name,
                                               const std::string& member) {
  if (!map.is_object()) {
    return Serialization(
        absl::StrCat("Unexpected value type in payload: ", name, " must be a map"));
  }
  std::vector<Term> terms;
  for (const auto& [attribute, c] : map.items()) {
    if (!c.is_object()) {
      return Serialization(
          absl::StrCat("Unexpected value type in payload: ", name, " members must be maps"));
    }
    Term t;
    t.attribute = attribute;
    ASSIGN_OR_RETURN(t.op, OperatorOf(c, member, attribute, /*required=*/true));
    if (const json* list = Field(c, "AttributeValueList")) {
      if (!list->is_array()) {
        return Serialization("Unexpected value type in payload: AttributeValueList must be a list");
      }
      for (const json& v : *list) {
        ASSIGN_OR_RETURN(AttributeValue value, ReadValue(v, attribute));
        t.values.push_back(std::move(value));
      }
    }
    RETURN_IF_ERROR(CheckOperands(t));
    terms.push_back(std::move(t));
  }
  return terms;
}

// ConditionalOperator: how terms combine.
absl::StatusOr<std::string> JoinerOf(const json& req) {
  ASSIGN_OR_RETURN(auto op, OptString(req, "ConditionalOperator"));
  if (!op || *op == "AND") return std::string(" AND ");
  if (*op == "OR") return std::string(" OR ");
  return EnumError(*op, "conditionalOperator", "OR, AND");
}

absl::StatusOr<std::optional<expr::Condition>> ParseTerms(const std::vector<Term>& terms,
                                                          const std::string& joiner,
                                                          expr::ExpressionKind kind,
                                                          Placeholders* p) {
  if (terms.empty()) return std::optional<expr::Condition>();
  Generator g(p);
  std::vector<std::string> texts;
  for (const Term& t : terms) texts.push_back(TermText(t, &g));
  std::string text = absl::StrJoin(texts, joiner);
  ASSIGN_OR_RETURN(expr::Condition c,
                   ParseGenerated<expr::Condition>(p, [&](expr::ExpressionContext* ctx) {
                     return expr::ParseCondition(text, ctx, kind);
                   }));
  return std::optional<expr::Condition>(std::move(c));
}

}  // namespace

absl::Status CheckNotMixed(const json& req, std::initializer_list<const char*> legacy,
                           std::initializer_list<const char*> expression) {
  std::vector<std::string> given_expression;
  for (const char* name : expression) {
    if (Field(req, name)) given_expression.push_back(name);
  }
  if (given_expression.empty()) return absl::OkStatus();
  const bool key_condition_expression = Field(req, "KeyConditionExpression") != nullptr;
  std::vector<std::string> given_legacy;
  for (const char* name : legacy) {
    if (!Field(req, name)) continue;
    if (std::string(name) == "KeyConditions" && !key_condition_expression) continue;
    given_legacy.push_back(name);
  }
  if (given_legacy.empty()) return absl::OkStatus();
  return Validation(
      absl::StrCat("Can not use both expression and non-expression parameters in the same request: "
                   "Non-expression parameters: {",
                   absl::StrJoin(given_legacy, ", "), "} Expression parameters: {",
                   absl::StrJoin(given_expression, ", "), "}"));
}

absl::StatusOr<std::optional<expr::Condition>> LegacyExpected(const json& req, Placeholders* p) {
  ASSIGN_OR_RETURN(std::string joiner, JoinerOf(req));
  const json* expected = Field(req, "Expected");
  if (!expected) return std::optional<expr::Condition>();
  if (!expected->is_object()) {
    return Serialization("Unexpected value type in payload: Expected must be a map");
  }
  std::vector<Term> terms;
  for (const auto& [attribute, c] : expected->items()) {
    if (!c.is_object()) {
      return Serialization("Unexpected value type in payload: Expected members must be maps");
    }
    const bool has_list = Field(c, "AttributeValueList") != nullptr;
    const bool has_value = Field(c, "Value") != nullptr;
    ASSIGN_OR_RETURN(auto exists, OptBool(c, "Exists"));
    ASSIGN_OR_RETURN(std::string op, OperatorOf(c, "expected", attribute, /*required=*/false));
    const std::string for_attribute = absl::StrCat(" for Attribute: ", attribute);
    if (has_list && has_value) {
      return Validation(absl::StrCat(
          kInvalid, "Value and AttributeValueList cannot be used together", for_attribute));
    }
    Term t;
    t.attribute = attribute;
    if (!op.empty()) {
      if (exists.has_value()) {
        return Validation(absl::StrCat(
            kInvalid, "Exists and ComparisonOperator cannot be used together", for_attribute));
      }
      if (op != "NULL" && op != "NOT_NULL" && !has_list && !has_value) {
        return Validation(absl::StrCat(kInvalid,
                                       "Value or AttributeValueList must be used with "
                                       "ComparisonOperator: ",
                                       op, for_attribute));
      }
      t.op = op;
      RETURN_IF_ERROR(ReadValues(c, attribute, &t));
      RETURN_IF_ERROR(CheckOperands(t));
    } else if (has_list) {
      return Validation(
          absl::StrCat(kInvalid, "AttributeValueList can only be used with a ComparisonOperator",
                       for_attribute));
    } else {
      // The Exists / Value shorthand: Value means "equals it"; Exists false, "is absent".
      const bool must_exist = exists.value_or(true);
      if (must_exist && !has_value) {
        return Validation(absl::StrCat(kInvalid, "Value must be provided when Exists is ",
                                       exists.has_value() ? "true" : "null", for_attribute));
      }
      if (!must_exist && has_value) {
        return Validation(
            absl::StrCat(kInvalid, "Value cannot be used when Exists is false", for_attribute));
      }
      t.op = must_exist ? "EQ" : "NULL";
      RETURN_IF_ERROR(ReadValues(c, attribute, &t));
    }
    terms.push_back(std::move(t));
  }
  return ParseTerms(terms, joiner, expr::ExpressionKind::kCondition, p);
}

absl::StatusOr<std::optional<expr::Condition>> LegacyFilter(const json& req, const char* member,
                                                            Placeholders* p) {
  ASSIGN_OR_RETURN(std::string joiner, JoinerOf(req));
  const json* filter = Field(req, member);
  if (!filter) return std::optional<expr::Condition>();
  std::string camel(member);
  camel[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(camel[0])));
  ASSIGN_OR_RETURN(std::vector<Term> terms, ConditionsOf(*filter, member, camel));
  return ParseTerms(terms, joiner, expr::ExpressionKind::kFilter, p);
}

absl::StatusOr<std::optional<expr::Projection>> LegacyAttributesToGet(const json& req,
                                                                      Placeholders* p) {
  const json* list = Field(req, "AttributesToGet");
  if (!list) return std::optional<expr::Projection>();
  if (!list->is_array()) {
    return Serialization("Unexpected value type in payload: AttributesToGet must be a list");
  }
  if (list->empty()) {
    return Validation(
        "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1");
  }
  std::set<std::string> seen;
  Generator g(p);
  std::vector<std::string> names;
  for (const json& a : *list) {
    if (!a.is_string()) {
      return Serialization(
          "Unexpected value type in payload: AttributesToGet members must be strings");
    }
    const std::string& name = a.get_ref<const std::string&>();
    if (!seen.insert(name).second) {
      return Validation(absl::StrCat(kInvalid, "Duplicate value in attribute name: ", name));
    }
    names.push_back(g.Name(name));
  }
  std::string text = absl::StrJoin(names, ", ");
  ASSIGN_OR_RETURN(expr::Projection proj,
                   ParseGenerated<expr::Projection>(p, [&](expr::ExpressionContext* ctx) {
                     return expr::ParseProjection(text, ctx);
                   }));
  return std::optional<expr::Projection>(std::move(proj));
}

absl::StatusOr<std::optional<expr::KeyCondition>> LegacyKeyConditions(const json& req,
                                                                      Placeholders* p) {
  const json* conditions = Field(req, "KeyConditions");
  if (!conditions) return std::optional<expr::KeyCondition>();
  ASSIGN_OR_RETURN(std::vector<Term> terms,
                   ConditionsOf(*conditions, "KeyConditions", "keyConditions"));
  if (terms.size() != 1 && terms.size() != 2) {
    return Validation("Conditions can be of length 1 or 2 only");
  }
  for (const Term& t : terms) {
    if (t.op != "EQ" && t.op != "LT" && t.op != "LE" && t.op != "GT" && t.op != "GE" &&
        t.op != "BEGINS_WITH" && t.op != "BETWEEN") {
      return Validation("Attempted conditional constraint is not an indexable operation");
    }
  }
  Generator g(p);
  std::vector<std::string> texts;
  for (const Term& t : terms) texts.push_back(TermText(t, &g));
  std::string text = absl::StrJoin(texts, " AND ");
  ASSIGN_OR_RETURN(expr::KeyCondition kc,
                   ParseGenerated<expr::KeyCondition>(p, [&](expr::ExpressionContext* ctx) {
                     return expr::ParseKeyCondition(text, ctx);
                   }));
  return std::optional<expr::KeyCondition>(std::move(kc));
}

absl::StatusOr<std::optional<expr::UpdatePlan>> LegacyAttributeUpdates(const json& req,
                                                                       Placeholders* p) {
  const json* updates = Field(req, "AttributeUpdates");
  if (!updates) return std::optional<expr::UpdatePlan>();
  if (!updates->is_object()) {
    return Serialization("Unexpected value type in payload: AttributeUpdates must be a map");
  }
  Generator g(p);
  std::vector<std::string> set, remove, add, del;
  for (const auto& [attribute, u] : updates->items()) {
    if (!u.is_object()) {
      return Serialization(
          "Unexpected value type in payload: AttributeUpdates members must be maps");
    }
    ASSIGN_OR_RETURN(auto action_text, OptString(u, "Action"));
    const std::string action = action_text.value_or("PUT");
    if (action != "ADD" && action != "PUT" && action != "DELETE") {
      return EnumError(action, absl::StrCat("attributeUpdates.", attribute, ".member.action"),
                       "ADD, PUT, DELETE");
    }
    const json* value_json = Field(u, "Value");
    if (!value_json) {
      if (action != "DELETE") {
        return Validation(absl::StrCat(
            kInvalid, "Only DELETE action is allowed when no attribute value is specified"));
      }
      remove.push_back(g.Name(attribute));
      continue;
    }
    ASSIGN_OR_RETURN(AttributeValue value, ReadValue(*value_json, attribute));
    const ValueType type = value.type();
    const bool is_set = type == ValueType::kSS || type == ValueType::kNS || type == ValueType::kBS;
    if (action == "DELETE" && !is_set) {
      return Validation(absl::StrCat(
          kInvalid, "DELETE action with value is not supported for the type ", TypeOf(value)));
    }
    if (action == "ADD" && !is_set && type != ValueType::kN && type != ValueType::kL) {
      return Validation(
          absl::StrCat(kInvalid, "ADD action is not supported for the type ", TypeOf(value)));
    }
    const std::string name = g.Name(attribute);
    if (action == "PUT") {
      set.push_back(absl::StrCat(name, " = ", g.Value(std::move(value))));
    } else if (action == "DELETE") {
      del.push_back(absl::StrCat(name, " ", g.Value(std::move(value))));
    } else if (type == ValueType::kL) {
      // ADD of a list appends to the list there, or starts one.
      std::string empty = g.Value(AttributeValue::L({}));
      set.push_back(absl::StrCat(name, " = list_append(if_not_exists(", name, ", ", empty, "), ",
                                 g.Value(std::move(value)), ")"));
    } else {
      add.push_back(absl::StrCat(name, " ", g.Value(std::move(value))));
    }
  }
  std::vector<std::string> clauses;
  if (!set.empty()) clauses.push_back(absl::StrCat("SET ", absl::StrJoin(set, ", ")));
  if (!remove.empty()) clauses.push_back(absl::StrCat("REMOVE ", absl::StrJoin(remove, ", ")));
  if (!add.empty()) clauses.push_back(absl::StrCat("ADD ", absl::StrJoin(add, ", ")));
  if (!del.empty()) clauses.push_back(absl::StrCat("DELETE ", absl::StrJoin(del, ", ")));
  if (clauses.empty()) return std::optional<expr::UpdatePlan>();
  std::string text = absl::StrJoin(clauses, " ");
  ASSIGN_OR_RETURN(expr::UpdatePlan plan,
                   ParseGenerated<expr::UpdatePlan>(p, [&](expr::ExpressionContext* ctx) {
                     return expr::ParseUpdate(text, ctx);
                   }));
  return std::optional<expr::UpdatePlan>(std::move(plan));
}

}  // namespace gtsim::ddb
