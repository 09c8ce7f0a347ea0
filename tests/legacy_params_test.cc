// Tests of DynamoDB's legacy request parameters at the endpoint (region/http/ddb_legacy.h):
// AttributeUpdates, Expected + ConditionalOperator, AttributesToGet, KeyConditions, QueryFilter
// and ScanFilter, each operator with its arity rules, and DynamoDB's validation messages,
// including the refusal to mix legacy and expression parameters in one request.
#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/endpoint_fixture.h"

namespace gtsim {
namespace {

using endpoint_test::Answer;
using endpoint_test::Endpoint;
using endpoint_test::Key;
using json = nlohmann::json;

constexpr const char* kInvalid = "One or more parameter values were invalid: ";

json N(int n) { return {{"N", std::to_string(n)}}; }
json S(const std::string& s) { return {{"S", s}}; }

// A condition of the legacy form: {"ComparisonOperator": op, "AttributeValueList": values}.
json Cond(const std::string& op, const std::vector<json>& values = {}) {
  json c = {{"ComparisonOperator", op}};
  if (!values.empty()) c["AttributeValueList"] = values;
  return c;
}

// The message of a ValidationException answered to `op` with `body`.
std::string Invalid(Endpoint& e, const std::string& op, const json& body) {
  return e.Fails(op, body, "ValidationException").message();
}

// The sorted sk values of `items`.
std::vector<int> Sks(const json& items) {
  std::vector<int> out;
  for (const json& i : items) out.push_back(std::stoi(i["sk"]["N"].get<std::string>()));
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("legacy AttributeUpdates: PUT, ADD and DELETE on numbers, sets and lists") {
  Endpoint e;
  e.CreateOrders();
  auto update = [&](const json& updates, const std::string& rv = "ALL_NEW") {
    return e.Ok("UpdateItem", {{"TableName", "orders"},
                               {"Key", Key("a", 1)},
                               {"AttributeUpdates", updates},
                               {"ReturnValues", rv}});
  };
  // On a missing item: PUT (the default action), ADD of a number and of a set create it.
  json r = update({{"name", {{"Value", S("x")}}},
                   {"n", {{"Action", "ADD"}, {"Value", N(5)}}},
                   {"tags", {{"Action", "ADD"}, {"Value", {{"SS", {"a", "b"}}}}}},
                   {"log", {{"Action", "ADD"}, {"Value", {{"L", json::array({S("one")})}}}}}});
  CHECK(r["Attributes"]["name"] == S("x"));
  CHECK(r["Attributes"]["n"] == N(5));
  CHECK(r["Attributes"]["tags"]["SS"] == json({"a", "b"}));
  CHECK(r["Attributes"]["log"] == json({{"L", json::array({S("one")})}}));
  // ADD adds numbers, unites sets and appends to lists; DELETE takes members out of a set;
  // DELETE without a value removes the attribute; PUT replaces.
  r = update({{"n", {{"Action", "ADD"}, {"Value", N(-2)}}},
              {"tags", {{"Action", "DELETE"}, {"Value", {{"SS", json::array({"a"})}}}}},
              {"log", {{"Action", "ADD"}, {"Value", {{"L", json::array({S("two")})}}}}},
              {"name", {{"Action", "DELETE"}}},
              {"color", {{"Action", "PUT"}, {"Value", S("red")}}}});
  json item = r["Attributes"];
  CHECK(item["n"] == N(3));
  CHECK(item["tags"]["SS"] == json({"b"}));
  CHECK(item["log"] == json({{"L", {S("one"), S("two")}}}));
  CHECK_FALSE(item.contains("name"));
  CHECK(item["color"] == S("red"));
  // UPDATED_OLD answers the attributes the updates touched, as they were.
  r = update({{"n", {{"Action", "ADD"}, {"Value", N(1)}}}}, "UPDATED_OLD");
  CHECK(r["Attributes"] == json({{"n", N(3)}}));
  // Deleting the last member of a set removes the attribute.
  r = update({{"tags", {{"Action", "DELETE"}, {"Value", {{"SS", json::array({"b"})}}}}}});
  CHECK_FALSE(r["Attributes"].contains("tags"));
  // An attribute name that is a reserved word, or has dots, is just a name.
  r = update({{"size", {{"Value", N(1)}}}, {"a.b", {{"Value", N(2)}}}});
  CHECK(r["Attributes"]["size"] == N(1));
  CHECK(r["Attributes"]["a.b"] == N(2));
}

TEST_CASE("legacy AttributeUpdates: DynamoDB's validation messages, nothing written") {
  Endpoint e;
  e.CreateOrders();
  auto body = [](const json& updates) {
    return json{{"TableName", "orders"}, {"Key", Key("a", 1)}, {"AttributeUpdates", updates}};
  };
  CHECK(Invalid(e, "UpdateItem", body({{"x", {{"Action", "PUT"}}}})) ==
        std::string(kInvalid) +
            "Only DELETE action is allowed when no attribute value is specified");
  CHECK(Invalid(e, "UpdateItem", body({{"x", {{"Action", "ADD"}}}})) ==
        std::string(kInvalid) +
            "Only DELETE action is allowed when no attribute value is specified");
  CHECK(Invalid(e, "UpdateItem", body({{"x", {{"Action", "DELETE"}, {"Value", S("v")}}}})) ==
        std::string(kInvalid) + "DELETE action with value is not supported for the type S");
  CHECK(Invalid(e, "UpdateItem", body({{"x", {{"Action", "ADD"}, {"Value", S("v")}}}})) ==
        std::string(kInvalid) + "ADD action is not supported for the type S");
  CHECK(Invalid(e, "UpdateItem", body({{"x", {{"Action", "SET"}, {"Value", S("v")}}}})) ==
        "1 validation error detected: Value 'SET' at 'attributeUpdates.x.member.action' failed "
        "to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]");
  CHECK(Invalid(e, "UpdateItem", body({{"sk", {{"Value", N(2)}}}})) ==
        std::string(kInvalid) + "Cannot update attribute sk. This attribute is part of the key");
  CHECK(Invalid(e, "UpdateItem", body({{"x", {{"Value", {{"N", "abc"}}}}}})) ==
        "A value provided cannot be converted into a number");
  // Mixed with an expression parameter.
  json mixed = body({{"x", {{"Value", S("v")}}}});
  mixed["UpdateExpression"] = "SET y = :y";
  mixed["ExpressionAttributeValues"] = {{":y", S("w")}};
  CHECK(Invalid(e, "UpdateItem", mixed) ==
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributeUpdates} Expression parameters: {UpdateExpression}");
  // Placeholders without an expression.
  json with_values = body({{"x", {{"Value", S("v")}}}});
  with_values["ExpressionAttributeValues"] = {{":y", S("w")}};
  CHECK(Invalid(e, "UpdateItem", with_values) ==
        "ExpressionAttributeValues can only be specified when using expressions");
  // Nothing was written.
  CHECK_FALSE(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}}).contains("Item"));
}

TEST_CASE("legacy Expected: Exists and Value, optimistic locking as DynamoDBMapper does it") {
  Endpoint e;
  e.CreateOrders();
  json create = {{"TableName", "orders"},
                 {"Item", {{"pk", S("a")}, {"sk", N(1)}, {"version", N(1)}}},
                 {"Expected", {{"version", {{"Exists", false}}}}}};
  e.Ok("PutItem", create);
  e.Fails("PutItem", create, "ConditionalCheckFailedException");
  // Save with the version it read: version 1 -> 2; a second save with the stale version fails.
  json save = {{"TableName", "orders"},
               {"Key", Key("a", 1)},
               {"Expected", {{"version", {{"Value", N(1)}, {"Exists", true}}}}},
               {"AttributeUpdates",
                {{"version", {{"Value", N(2)}, {"Action", "PUT"}}},
                 {"payload", {{"Value", S("new")}, {"Action", "PUT"}}}}},
               {"ReturnValues", "ALL_NEW"}};
  json r = e.Ok("UpdateItem", save);
  CHECK(r["Attributes"]["version"] == N(2));
  Answer stale = e.Fails("UpdateItem", save, "ConditionalCheckFailedException");
  CHECK(stale.message() == "The conditional request failed");
  // Value alone means Exists true.
  e.Ok("DeleteItem", {{"TableName", "orders"},
                      {"Key", Key("a", 1)},
                      {"Expected", {{"version", {{"Value", N(2)}}}}}});
  CHECK_FALSE(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}}).contains("Item"));
}

TEST_CASE("legacy Expected: every ComparisonOperator, AND and OR") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("a", 1,
             {{"n", N(5)},
              {"s", S("hello")},
              {"ss", {{"SS", {"x", "y"}}}},
              {"l", {{"L", {S("p"), N(1)}}}},
              {"b", {{"B", "AAEC"}}}});
  // Holds: UpdateItem with Expected only changes nothing and answers 200; else the condition
  // fails.
  auto holds = [&](const json& expected, const char* op = nullptr) {
    json body = {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"Expected", expected}};
    if (op) body["ConditionalOperator"] = op;
    Answer a = e.Call("UpdateItem", body);
    INFO(body.dump() << " -> " << a.body.dump());
    if (a.status != 200) CHECK(a.type() == "ConditionalCheckFailedException");
    return a.status == 200;
  };
  auto one = [&](const std::string& attr, const std::string& op,
                 const std::vector<json>& values = {}) {
    return holds({{attr, Cond(op, values)}});
  };
  CHECK(one("n", "EQ", {N(5)}));
  CHECK_FALSE(one("n", "EQ", {N(6)}));
  CHECK_FALSE(one("n", "EQ", {S("5")}));  // another type never equals
  CHECK(one("ss", "EQ", {{{"SS", {"y", "x"}}}}));
  CHECK(one("n", "NE", {N(6)}));
  CHECK_FALSE(one("n", "NE", {N(5)}));
  CHECK(one("missing", "NE", {N(5)}));
  CHECK(one("n", "LE", {N(5)}));
  CHECK_FALSE(one("n", "LT", {N(5)}));
  CHECK(one("n", "GE", {N(5)}));
  CHECK(one("n", "GT", {N(4)}));
  CHECK_FALSE(one("n", "GT", {N(5)}));
  CHECK(one("s", "LT", {S("world")}));
  CHECK(one("n", "NOT_NULL"));
  CHECK_FALSE(one("missing", "NOT_NULL"));
  CHECK(one("missing", "NULL"));
  CHECK_FALSE(one("n", "NULL"));
  CHECK(one("s", "CONTAINS", {S("ell")}));
  CHECK(one("ss", "CONTAINS", {S("x")}));
  CHECK(one("l", "CONTAINS", {N(1)}));
  CHECK_FALSE(one("s", "CONTAINS", {S("xyz")}));
  CHECK(one("s", "NOT_CONTAINS", {S("xyz")}));
  CHECK_FALSE(one("ss", "NOT_CONTAINS", {S("y")}));
  CHECK(one("s", "BEGINS_WITH", {S("he")}));
  CHECK_FALSE(one("s", "BEGINS_WITH", {S("lo")}));
  CHECK(one("b", "BEGINS_WITH", {{{"B", "AAE="}}}));
  CHECK(one("n", "IN", {N(1), N(5), N(9)}));
  CHECK_FALSE(one("n", "IN", {N(1), N(9)}));
  CHECK(one("n", "BETWEEN", {N(5), N(10)}));
  CHECK_FALSE(one("n", "BETWEEN", {N(6), N(10)}));
  CHECK(one("s", "BETWEEN", {S("a"), S("i")}));
  // A Value instead of AttributeValueList, with a ComparisonOperator.
  CHECK(holds({{"n", {{"ComparisonOperator", "GT"}, {"Value", N(1)}}}}));
  // Several conditions: AND by default, OR on request.
  json mixed = {{"n", Cond("EQ", {N(5)})}, {"s", Cond("EQ", {S("nope")})}};
  CHECK_FALSE(holds(mixed));
  CHECK_FALSE(holds(mixed, "AND"));
  CHECK(holds(mixed, "OR"));
  CHECK(holds({{"n", Cond("EQ", {N(5)})}, {"s", Cond("EQ", {S("hello")})}}, "AND"));
}

TEST_CASE("legacy Expected: DynamoDB's validation messages") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("a", 1, {{"n", N(5)}});
  auto put = [](const json& expected) {
    return json{
        {"TableName", "orders"}, {"Item", {{"pk", S("a")}, {"sk", N(1)}}}, {"Expected", expected}};
  };
  auto arity = [](const std::string& op) {
    return std::string(kInvalid) + "Invalid number of argument(s) for the " + op +
           " ComparisonOperator";
  };
  CHECK(
      Invalid(e, "PutItem", put({{"n", Cond("EQ")}})) ==
      std::string(kInvalid) +
          "Value or AttributeValueList must be used with ComparisonOperator: EQ for Attribute: n");
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("EQ", {N(1), N(2)})}})) == arity("EQ"));
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("NULL", {N(1)})}})) == arity("NULL"));
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("BETWEEN", {N(1)})}})) == arity("BETWEEN"));
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("BEGINS_WITH", {S("a"), S("b")})}})) ==
        arity("BEGINS_WITH"));
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("IN", {N(1), S("b")})}})) ==
        std::string(kInvalid) + "AttributeValues inside AttributeValueList must be of same type");
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("LT", {{{"SS", json::array({"a"})}}})}})) ==
        std::string(kInvalid) + "ComparisonOperator LT is not valid for SS AttributeValue type");
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("BEGINS_WITH", {N(1)})}})) ==
        std::string(kInvalid) +
            "ComparisonOperator BEGINS_WITH is not valid for N AttributeValue type");
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("BETWEEN", {N(5), N(1)})}})) ==
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound");
  CHECK(Invalid(e, "PutItem", put({{"n", Cond("LIKE", {N(5)})}})) ==
        "1 validation error detected: Value 'LIKE' at 'expected.n.member.comparisonOperator' "
        "failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, "
        "LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]");
  CHECK(Invalid(e, "PutItem", put({{"n", {{"Exists", true}}}})) ==
        std::string(kInvalid) + "Value must be provided when Exists is true for Attribute: n");
  CHECK(Invalid(e, "PutItem", put({{"n", json::object()}})) ==
        std::string(kInvalid) + "Value must be provided when Exists is null for Attribute: n");
  CHECK(Invalid(e, "PutItem", put({{"n", {{"Exists", false}, {"Value", N(1)}}}})) ==
        std::string(kInvalid) + "Value cannot be used when Exists is false for Attribute: n");
  CHECK(Invalid(e, "PutItem",
                put({{"n", {{"Exists", true}, {"ComparisonOperator", "EQ"}, {"Value", N(1)}}}})) ==
        std::string(kInvalid) +
            "Exists and ComparisonOperator cannot be used together for Attribute: n");
  CHECK(Invalid(e, "PutItem",
                put({{"n",
                      {{"ComparisonOperator", "EQ"},
                       {"Value", N(1)},
                       {"AttributeValueList", json::array({N(1)})}}}})) ==
        std::string(kInvalid) +
            "Value and AttributeValueList cannot be used together for Attribute: n");
  CHECK(Invalid(e, "PutItem", put({{"n", {{"AttributeValueList", json::array({N(1)})}}}})) ==
        std::string(kInvalid) +
            "AttributeValueList can only be used with a ComparisonOperator for Attribute: n");
  json bad_op = put({{"n", {{"Value", N(5)}}}});
  bad_op["ConditionalOperator"] = "XOR";
  CHECK(Invalid(e, "PutItem", bad_op) ==
        "1 validation error detected: Value 'XOR' at 'conditionalOperator' failed to satisfy "
        "constraint: Member must satisfy enum value set: [OR, AND]");
  // Mixed with ConditionExpression, in each write.
  const std::string mixing =
      "Can not use both expression and non-expression parameters in the same request: "
      "Non-expression parameters: {Expected} Expression parameters: {ConditionExpression}";
  json mixed = put({{"n", {{"Exists", false}}}});
  mixed["ConditionExpression"] = "attribute_not_exists(pk)";
  CHECK(Invalid(e, "PutItem", mixed) == mixing);
  json del = {{"TableName", "orders"},
              {"Key", Key("a", 1)},
              {"Expected", {{"n", {{"Exists", false}}}}},
              {"ConditionExpression", "attribute_exists(pk)"}};
  CHECK(Invalid(e, "DeleteItem", del) == mixing);
  json upd = del;
  upd["UpdateExpression"] = "REMOVE n";
  CHECK(Invalid(e, "UpdateItem", upd) ==
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {Expected} Expression parameters: {UpdateExpression, "
        "ConditionExpression}");
  // The item is unchanged.
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}})["Item"]["n"] == N(5));
}

TEST_CASE("legacy AttributesToGet in GetItem, BatchGetItem, Query and Scan") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("a", 1, {{"x", N(1)}, {"y", N(2)}, {"size", N(3)}});
  json got = e.Ok("GetItem", {{"TableName", "orders"},
                              {"Key", Key("a", 1)},
                              {"AttributesToGet", {"x", "size", "missing"}}});
  CHECK(got["Item"] == json({{"x", N(1)}, {"size", N(3)}}));
  json batch =
      e.Ok("BatchGetItem",
           {{"RequestItems",
             {{"orders",
               {{"Keys", json::array({Key("a", 1)})}, {"AttributesToGet", json::array({"y"})}}}}}});
  CHECK(batch["Responses"]["orders"] == json::array({{{"y", N(2)}}}));
  json q = e.Ok("Query", {{"TableName", "orders"},
                          {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                          {"AttributesToGet", {"pk", "y"}}});
  CHECK(q["Items"] == json::array({{{"pk", S("a")}, {"y", N(2)}}}));
  json s = e.Ok("Scan", {{"TableName", "orders"},
                         {"AttributesToGet", json::array({"sk"})},
                         {"Select", "SPECIFIC_ATTRIBUTES"}});
  CHECK(s["Items"] == json::array({{{"sk", N(1)}}}));

  CHECK(Invalid(e, "GetItem",
                {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"AttributesToGet", {"x", "x"}}}) ==
        std::string(kInvalid) + "Duplicate value in attribute name: x");
  CHECK(Invalid(
            e, "GetItem",
            {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"AttributesToGet", json::array()}}) ==
        "1 validation error detected: Value '[]' at 'attributesToGet' failed to satisfy "
        "constraint: Member must have length greater than or equal to 1");
  const std::string mixing =
      "Can not use both expression and non-expression parameters in the same request: "
      "Non-expression parameters: {AttributesToGet} Expression parameters: {ProjectionExpression}";
  CHECK(Invalid(e, "GetItem",
                {{"TableName", "orders"},
                 {"Key", Key("a", 1)},
                 {"AttributesToGet", json::array({"x"})},
                 {"ProjectionExpression", "y"}}) == mixing);
  CHECK(Invalid(e, "BatchGetItem",
                {{"RequestItems",
                  {{"orders",
                    {{"Keys", json::array({Key("a", 1)})},
                     {"AttributesToGet", json::array({"y"})},
                     {"ProjectionExpression", "x"}}}}}}) == mixing);
  // Select with AttributesToGet, as DynamoDB words it (Query's messages carry a prefix).
  CHECK(Invalid(e, "Scan",
                {{"TableName", "orders"},
                 {"AttributesToGet", json::array({"x"})},
                 {"Select", "COUNT"}}) ==
        "Cannot specify the AttributesToGet when choosing to get only the Count");
  CHECK(Invalid(e, "Scan",
                {{"TableName", "orders"},
                 {"AttributesToGet", json::array({"x"})},
                 {"Select", "ALL_ATTRIBUTES"}}) ==
        "Cannot specify the AttributesToGet when choosing to get ALL_ATTRIBUTES");
  CHECK(Invalid(e, "Query",
                {{"TableName", "orders"},
                 {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                 {"AttributesToGet", json::array({"x"})},
                 {"Select", "COUNT"}}) ==
        "1 validation error detected: Cannot specify the AttributesToGet when choosing to get "
        "only the Count");
  CHECK(Invalid(e, "Scan", {{"TableName", "orders"}, {"Select", "SPECIFIC_ATTRIBUTES"}}) ==
        "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
        "SPECIFIC_ATTRIBUTES");
}

TEST_CASE("legacy KeyConditions: hash and range operators, and DynamoDB's refusals") {
  Endpoint e;
  e.CreateOrders();
  for (int sk = 1; sk <= 5; ++sk) e.PutOrder("a", sk, {{"odd", {{"BOOL", sk % 2 == 1}}}});
  e.PutOrder("b", 1);
  auto query = [&](const json& range) {
    json kc = {{"pk", Cond("EQ", {S("a")})}};
    if (!range.is_null()) kc["sk"] = range;
    return e.Ok("Query", {{"TableName", "orders"}, {"KeyConditions", kc}});
  };
  CHECK(Sks(query(nullptr)["Items"]) == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(Sks(query(Cond("EQ", {N(3)}))["Items"]) == std::vector<int>{3});
  CHECK(Sks(query(Cond("LT", {N(3)}))["Items"]) == std::vector<int>{1, 2});
  CHECK(Sks(query(Cond("LE", {N(3)}))["Items"]) == std::vector<int>{1, 2, 3});
  CHECK(Sks(query(Cond("GT", {N(3)}))["Items"]) == std::vector<int>{4, 5});
  CHECK(Sks(query(Cond("GE", {N(3)}))["Items"]) == std::vector<int>{3, 4, 5});
  CHECK(Sks(query(Cond("BETWEEN", {N(2), N(4)}))["Items"]) == std::vector<int>{2, 3, 4});
  // With QueryFilter, and with a FilterExpression (DynamoDB takes KeyConditions with the
  // expression parameters other than KeyConditionExpression).
  json f = e.Ok("Query", {{"TableName", "orders"},
                          {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                          {"QueryFilter", {{"odd", Cond("EQ", {{{"BOOL", true}}})}}}});
  CHECK(Sks(f["Items"]) == std::vector<int>{1, 3, 5});
  CHECK(f["ScannedCount"] == 5);
  f = e.Ok("Query", {{"TableName", "orders"},
                     {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                     {"FilterExpression", "odd = :f"},
                     {"ExpressionAttributeValues", {{":f", {{"BOOL", false}}}}}});
  CHECK(Sks(f["Items"]) == std::vector<int>{2, 4});

  auto refused = [&](const json& kc) {
    return Invalid(e, "Query", {{"TableName", "orders"}, {"KeyConditions", kc}});
  };
  CHECK(refused(json::object()) == "Conditions can be of length 1 or 2 only");
  CHECK(refused({{"pk", Cond("EQ", {S("a")})},
                 {"sk", Cond("EQ", {N(1)})},
                 {"odd", Cond("EQ", {{{"BOOL", true}}})}}) ==
        "Conditions can be of length 1 or 2 only");
  CHECK(refused({{"pk", Cond("EQ", {S("a")})}, {"sk", Cond("NE", {N(1)})}}) ==
        "Attempted conditional constraint is not an indexable operation");
  CHECK(refused({{"pk", Cond("EQ")}}) ==
        std::string(kInvalid) + "Invalid number of argument(s) for the EQ ComparisonOperator");
  CHECK(refused({{"sk", Cond("EQ", {N(1)})}}) == "Query condition missed key schema element: pk");
  CHECK(refused({{"pk", Cond("EQ", {S("a")})}, {"sk", Cond("BETWEEN", {N(4), N(2)})}}) ==
        "The BETWEEN condition was provided a range where the lower bound is greater than the "
        "upper bound");
  CHECK(Invalid(e, "Query",
                {{"TableName", "orders"},
                 {"KeyConditions", {{"pk", {{"AttributeValueList", json::array({S("a")})}}}}}}) ==
        "1 validation error detected: Value null at 'keyConditions.pk.member.comparisonOperator' "
        "failed to satisfy constraint: Member must not be null");
  CHECK(Invalid(e, "Query",
                {{"TableName", "orders"},
                 {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                 {"KeyConditionExpression", "pk = :a"},
                 {"ExpressionAttributeValues", {{":a", S("a")}}}}) ==
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {KeyConditions} Expression parameters: "
        "{KeyConditionExpression}");
}

TEST_CASE("legacy KeyConditions: BEGINS_WITH on a string range key") {
  Endpoint e;
  e.Ok("CreateTable", {{"TableName", "docs"},
                       {"KeySchema",
                        {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                         {{"AttributeName", "path"}, {"KeyType", "RANGE"}}}},
                       {"AttributeDefinitions",
                        {{{"AttributeName", "pk"}, {"AttributeType", "S"}},
                         {{"AttributeName", "path"}, {"AttributeType", "S"}}}},
                       {"BillingMode", "PAY_PER_REQUEST"}});
  for (const char* p : {"a/1", "a/2", "b/1"}) {
    e.Ok("PutItem", {{"TableName", "docs"}, {"Item", {{"pk", S("x")}, {"path", S(p)}}}});
  }
  json q = e.Ok(
      "Query",
      {{"TableName", "docs"},
       {"KeyConditions", {{"pk", Cond("EQ", {S("x")})}, {"path", Cond("BEGINS_WITH", {S("a/")})}}},
       {"ScanIndexForward", false}});
  REQUIRE(q["Items"].size() == 2);
  CHECK(q["Items"][0]["path"] == S("a/2"));
  CHECK(q["Items"][1]["path"] == S("a/1"));
}

TEST_CASE("legacy QueryFilter and ScanFilter: operators, ConditionalOperator, refusals") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("a", 1, {{"n", N(1)}, {"s", S("apple")}});
  e.PutOrder("a", 2, {{"n", N(2)}, {"s", S("banana")}, {"tags", {{"SS", json::array({"red"})}}}});
  e.PutOrder("a", 3, {{"n", N(3)}});
  auto scan = [&](const json& filter, const char* op = nullptr) {
    json body = {{"TableName", "orders"}, {"ScanFilter", filter}};
    if (op) body["ConditionalOperator"] = op;
    return Sks(e.Ok("Scan", body)["Items"]);
  };
  using V = std::vector<int>;
  CHECK(scan({{"n", Cond("EQ", {N(2)})}}) == V{2});
  CHECK(scan({{"n", Cond("NE", {N(2)})}}) == V{1, 3});
  CHECK(scan({{"n", Cond("LE", {N(2)})}}) == V{1, 2});
  CHECK(scan({{"n", Cond("LT", {N(2)})}}) == V{1});
  CHECK(scan({{"n", Cond("GE", {N(2)})}}) == V{2, 3});
  CHECK(scan({{"n", Cond("GT", {N(2)})}}) == V{3});
  CHECK(scan({{"s", Cond("NOT_NULL")}}) == V{1, 2});
  CHECK(scan({{"s", Cond("NULL")}}) == V{3});
  CHECK(scan({{"s", Cond("CONTAINS", {S("an")})}}) == V{2});
  CHECK(scan({{"tags", Cond("CONTAINS", {S("red")})}}) == V{2});
  CHECK(scan({{"s", Cond("NOT_CONTAINS", {S("an")})}}) == V{1, 3});
  CHECK(scan({{"s", Cond("BEGINS_WITH", {S("app")})}}) == V{1});
  CHECK(scan({{"n", Cond("IN", {N(1), N(3)})}}) == V{1, 3});
  CHECK(scan({{"n", Cond("BETWEEN", {N(2), N(3)})}}) == V{2, 3});
  json two = {{"n", Cond("EQ", {N(1)})}, {"s", Cond("EQ", {S("banana")})}};
  CHECK(scan(two).empty());
  CHECK(scan(two, "OR") == V{1, 2});
  json q = e.Ok("Query", {{"TableName", "orders"},
                          {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                          {"QueryFilter", two},
                          {"ConditionalOperator", "OR"},
                          {"Select", "COUNT"}});
  CHECK(q["Count"] == 2);
  CHECK_FALSE(q.contains("Items"));

  CHECK(Invalid(e, "Scan", {{"TableName", "orders"}, {"ScanFilter", {{"n", Cond("GT")}}}}) ==
        std::string(kInvalid) + "Invalid number of argument(s) for the GT ComparisonOperator");
  CHECK(Invalid(e, "Scan",
                {{"TableName", "orders"},
                 {"ScanFilter", {{"n", {{"AttributeValueList", json::array({N(1)})}}}}}}) ==
        "1 validation error detected: Value null at 'scanFilter.n.member.comparisonOperator' "
        "failed to satisfy constraint: Member must not be null");
  CHECK(Invalid(e, "Scan",
                {{"TableName", "orders"},
                 {"ScanFilter", {{"n", Cond("EQ", {N(1)})}}},
                 {"FilterExpression", "n = :n"},
                 {"ExpressionAttributeValues", {{":n", N(1)}}}}) ==
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {ScanFilter} Expression parameters: {FilterExpression}");
  CHECK(Invalid(e, "Query",
                {{"TableName", "orders"},
                 {"KeyConditionExpression", "pk = :a"},
                 {"ExpressionAttributeValues", {{":a", S("a")}}},
                 {"QueryFilter", {{"n", Cond("EQ", {N(1)})}}}}) ==
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {QueryFilter} Expression parameters: {KeyConditionExpression}");
  CHECK(Invalid(e, "Scan",
                {{"TableName", "orders"},
                 {"ScanFilter", {{"n", Cond("EQ", {N(1)})}}},
                 {"AttributesToGet", json::array({"n"})},
                 {"ConditionalOperator", "OR"},
                 {"ProjectionExpression", "n"}}) ==
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributesToGet, ScanFilter, ConditionalOperator} "
        "Expression parameters: {ProjectionExpression}");
}

TEST_CASE("legacy parameters with many attributes exceed no expression size limit") {
  Endpoint e;
  e.CreateOrders();
  // 300 attributes: the generated UpdateExpression and condition are far over the 4 KB that
  // DynamoDB allows the expressions clients write, which binds no legacy request.
  json updates = json::object();
  json expected = json::object();
  for (int i = 0; i < 300; ++i) {
    updates["attribute_" + std::to_string(i)] = {{"Value", N(i)}};
    expected["attribute_" + std::to_string(i)] = {{"Exists", false}};
  }
  json r = e.Ok("UpdateItem", {{"TableName", "orders"},
                               {"Key", Key("a", 1)},
                               {"AttributeUpdates", updates},
                               {"Expected", expected},
                               {"ReturnValues", "ALL_NEW"}});
  CHECK(r["Attributes"].size() == 302);
  CHECK(r["Attributes"]["attribute_299"] == N(299));
  json all = json::array();
  for (int i = 0; i < 300; ++i) all.push_back("attribute_" + std::to_string(i));
  json got =
      e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"AttributesToGet", all}});
  CHECK(got["Item"].size() == 300);
}

TEST_CASE("legacy parameters leave client placeholders to the expressions they pair with") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("a", 1, {{"n", N(1)}});
  // No expression: placeholders are refused, as DynamoDB refuses them.
  CHECK(Invalid(e, "Query",
                {{"TableName", "orders"},
                 {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                 {"ExpressionAttributeValues", {{":a", S("a")}}}}) ==
        "ExpressionAttributeValues can only be specified when using expressions");
  CHECK(Invalid(e, "GetItem",
                {{"TableName", "orders"},
                 {"Key", Key("a", 1)},
                 {"AttributesToGet", json::array({"pk"})},
                 {"ExpressionAttributeNames", {{"#p", "pk"}}}}) ==
        "ExpressionAttributeNames can only be specified when using expressions");
  // A client placeholder named like a generated one is not taken over.
  json q = e.Ok("Query", {{"TableName", "orders"},
                          {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                          {"FilterExpression", "#legacy0 = :legacy0"},
                          {"ExpressionAttributeNames", {{"#legacy0", "n"}}},
                          {"ExpressionAttributeValues", {{":legacy0", N(1)}}}});
  CHECK(q["Count"] == 1);
  // ... and an unused one is still reported.
  CHECK(Invalid(e, "Query",
                {{"TableName", "orders"},
                 {"KeyConditions", {{"pk", Cond("EQ", {S("a")})}}},
                 {"FilterExpression", "n = :one"},
                 {"ExpressionAttributeValues", {{":one", N(1)}, {":two", N(2)}}}}) ==
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:two}");
}

TEST_CASE("UpdateItem that only deletes attributes does not create a missing item") {
  Endpoint e;
  e.CreateOrders();
  auto missing = [&](int sk) {
    return !e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", sk)}}).contains("Item");
  };
  // As DynamoDB does (ScyllaDB's test_update_item_non_existent, run against it): DELETE
  // without a value, DELETE of set members, and REMOVE write nothing on a missing item...
  e.Ok("UpdateItem", {{"TableName", "orders"},
                      {"Key", Key("a", 1)},
                      {"AttributeUpdates", {{"x", {{"Action", "DELETE"}}}}}});
  CHECK(missing(1));
  json delete_members = {{"Action", "DELETE"}, {"Value", {{"NS", json::array({"4"})}}}};
  e.Ok("UpdateItem", {{"TableName", "orders"},
                      {"Key", Key("a", 2)},
                      {"AttributeUpdates", {{"x", delete_members}}}});
  CHECK(missing(2));
  e.Ok("UpdateItem",
       {{"TableName", "orders"}, {"Key", Key("a", 3)}, {"UpdateExpression", "REMOVE x"}});
  CHECK(missing(3));
  // ... while an empty update creates the item with its key.
  e.Ok("UpdateItem",
       {{"TableName", "orders"}, {"Key", Key("a", 4)}, {"AttributeUpdates", json::object()}});
  CHECK_FALSE(missing(4));
}

TEST_CASE("legacy AttributeUpdates on an attribute of another type: Type mismatch") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("a", 1, {{"n", N(1)}, {"s", S("x")}});
  auto update = [&](const json& updates) {
    return Invalid(e, "UpdateItem",
                   {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"AttributeUpdates", updates}});
  };
  CHECK(update({{"n", {{"Action", "DELETE"}, {"Value", {{"NS", json::array({"1"})}}}}}}) ==
        "Type mismatch for attribute to update");
  CHECK(update({{"s", {{"Action", "ADD"}, {"Value", N(1)}}}}) ==
        "Type mismatch for attribute to update");
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}})["Item"]["n"] == N(1));
}

}  // namespace
}  // namespace gtsim
