// DynamoDB's legacy (pre-expression) request parameters, translated into the one expression
// engine (engine/expression.h): each becomes expression text over generated placeholders
// (#legacyN / :legacyN, added to the request's Placeholders, skipping names the request
// uses), which the engine parses as it parses what clients write, so the legacy forms evaluate
// exactly as their expression forms do. There is no second evaluator.
//
//   Expected + ConditionalOperator          -> ConditionExpression    (PutItem, UpdateItem,
//                                                                     DeleteItem)
//   AttributeUpdates                        -> UpdateExpression       (UpdateItem)
//   AttributesToGet                         -> ProjectionExpression   (GetItem, BatchGetItem,
//                                                                     Query, Scan)
//   KeyConditions                           -> KeyConditionExpression (Query)
//   QueryFilter / ScanFilter
//     + ConditionalOperator                 -> FilterExpression       (Query / Scan)
//
// What only the legacy forms have is checked here first, with DynamoDB's messages:
// ComparisonOperator names and AttributeValueList arity and types, Expected's Exists / Value
// rules, AttributeUpdates' actions, KeyConditions' shape; and CheckNotMixed refuses a request
// that mixes legacy and expression parameters. Each function returns nullopt when its legacy
// parameter is absent. Errors are InvalidArgument (ValidationException) or
// SerializationException statuses.
//
// Stateless functions; thread-safe. A Placeholders belongs to one request.
#pragma once

#include <initializer_list>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/expression.h"
#include "nlohmann/json.hpp"
#include "region/http/ddb_expressions.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// DynamoDB's ValidationException when `req` holds any of `legacy` together with any of
// `expression` ("Can not use both expression and non-expression parameters in the same
// request: Non-expression parameters: {AttributeUpdates} Expression parameters:
// {UpdateExpression}"), each list in the order given. KeyConditions counts only against
// KeyConditionExpression, as in DynamoDB: a Query may pair it with a FilterExpression.
absl::Status CheckNotMixed(const json& req, std::initializer_list<const char*> legacy,
                           std::initializer_list<const char*> expression);

// Expected (with ConditionalOperator) as a condition.
absl::StatusOr<std::optional<expr::Condition>> LegacyExpected(const json& req, Placeholders* p);
// QueryFilter or ScanFilter (`member`, with ConditionalOperator) as a filter.
absl::StatusOr<std::optional<expr::Condition>> LegacyFilter(const json& req, const char* member,
                                                            Placeholders* p);
// AttributesToGet as a projection of top-level attributes.
absl::StatusOr<std::optional<expr::Projection>> LegacyAttributesToGet(const json& req,
                                                                      Placeholders* p);
// KeyConditions as a key condition (bind it with expr::BindKeySchema).
absl::StatusOr<std::optional<expr::KeyCondition>> LegacyKeyConditions(const json& req,
                                                                      Placeholders* p);
// AttributeUpdates as an update plan. (Key attributes: expr::CheckKeyNotUpdated, whose message
// DynamoDB prefixes with "One or more parameter values were invalid: " for AttributeUpdates.)
absl::StatusOr<std::optional<expr::UpdatePlan>> LegacyAttributeUpdates(const json& req,
                                                                       Placeholders* p);

}  // namespace gtsim::ddb
