// The expression parameters of DynamoDB requests (internal to region/http/): the placeholder
// maps (ExpressionAttributeNames / ExpressionAttributeValues) and their use checks, condition and
// projection parameters parsed by the one expression engine (engine/expression.h), and the
// ConditionalCheckFailedException of a write.
//
// Functions are stateless and thread-safe; a Placeholders belongs to one request (not
// thread-safe).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/expression.h"
#include "nlohmann/json.hpp"
#include "region/region.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// The placeholder maps of one request, and the context that tracks their use. `ctx` points into
// this object: do not copy or move it once read.
struct Placeholders {
  std::map<std::string, std::string> names;
  std::map<std::string, AttributeValue> values;
  bool has_names = false;
  bool has_values = false;
  expr::ExpressionContext ctx;
};

// Reads the request's ExpressionAttributeNames / ExpressionAttributeValues into `p`.
absl::Status ReadPlaceholders(const json& req, Placeholders* p);
// DynamoDB's messages for placeholders given to a request without any expression.
absl::Status CheckPlaceholdersWithoutExpressions(const Placeholders& p, bool any_expression);
// The condition (or filter: `kind`) in member `name`, nullopt when absent.
absl::StatusOr<std::optional<expr::Condition>> OptCondition(const json& req, const char* name,
                                                            expr::ExpressionKind kind,
                                                            Placeholders* p);
// The ProjectionExpression, nullopt when absent.
absl::StatusOr<std::optional<expr::Projection>> OptProjection(const json& req, Placeholders* p);
// Whether `item` (nullopt: no item) satisfies `c` (nullopt: no condition, always true).
absl::StatusOr<bool> Holds(const std::optional<expr::Condition>& c,
                           const std::optional<Item>& item);

// The ConditionalCheckFailedException of a write, with the old item when asked for.
absl::Status ConditionFailed(bool return_old, const std::optional<Item>& current);
// ReturnValuesOnConditionCheckFailure: true for ALL_OLD.
absl::StatusOr<bool> ReturnOldOnConditionFailure(const json& req);

}  // namespace gtsim::ddb
