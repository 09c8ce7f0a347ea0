// Tests of region/http/dynamodb_endpoint.h: the DynamoDB JSON 1.0 protocol over real HTTP on
// 127.0.0.1 (a port picked free at run time), over a Region with in-memory storage. Each
// operation, each error shape, and the expression language end to end.
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "region/http/dynamodb_endpoint.h"
#include "region/region.h"
#include "sim/launcher/cluster.h"
#include "tests/endpoint_fixture.h"
#include "tests/raw_http_client.h"

namespace gtsim {
namespace {

using json = nlohmann::json;

using endpoint_test::Answer;
using endpoint_test::Endpoint;
using endpoint_test::Key;

TEST_CASE("CreateTable, DescribeTable and DeleteTable answer in DynamoDB's shape") {
  Endpoint e;
  e.CreateOrders();
  json t = e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["TableName"] == "orders");
  CHECK(t["TableStatus"] == "ACTIVE");
  CHECK(t["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/orders");
  CHECK(t["KeySchema"].size() == 2);
  CHECK(t["KeySchema"][0]["KeyType"] == "HASH");
  CHECK(t["AttributeDefinitions"][1]["AttributeType"] == "N");
  CHECK(t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST");
  CHECK(t["ItemCount"] == 0);
  CHECK(t["CreationDateTime"].is_number());

  Answer again =
      e.Fails("CreateTable",
              {{"TableName", "orders"},
               {"KeySchema", {{{"AttributeName", "pk"}, {"KeyType", "HASH"}}}},
               {"AttributeDefinitions", {{{"AttributeName", "pk"}, {"AttributeType", "S"}}}},
               {"BillingMode", "PAY_PER_REQUEST"}},
              "ResourceInUseException");
  CHECK(again.message() == "Table already exists: orders");

  json d = e.Ok("DeleteTable", {{"TableName", "orders"}});
  CHECK(d["TableDescription"]["TableStatus"] == "DELETING");
  e.Fails("DescribeTable", {{"TableName", "orders"}}, "ResourceNotFoundException");
  e.Fails("DeleteTable", {{"TableName", "orders"}}, "ResourceNotFoundException");
}

TEST_CASE("CreateTable validates names, key schemas and billing modes") {
  Endpoint e;
  json base = {{"TableName", "abc"},
               {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
               {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
               {"BillingMode", "PAY_PER_REQUEST"}};
  json b = base;
  b["TableName"] = "ab";
  CHECK(e.Fails("CreateTable", b, "ValidationException")
            .message()
            .find("greater than or equal to 3") != std::string::npos);
  b["TableName"] = "a b c";
  e.Fails("CreateTable", b, "ValidationException");
  b["TableName"] = std::string(256, 'x');
  e.Fails("CreateTable", b, "ValidationException");
  b = base;
  b["AttributeDefinitions"].push_back({{"AttributeName", "extra"}, {"AttributeType", "S"}});
  CHECK(e.Fails("CreateTable", b, "ValidationException").message().find("Number of attributes") !=
        std::string::npos);
  b = base;
  b["KeySchema"][0]["AttributeName"] = "other";
  e.Fails("CreateTable", b, "ValidationException");
  b = base;
  b["AttributeDefinitions"][0]["AttributeType"] = "BOOL";
  CHECK(e.Fails("CreateTable", b, "ValidationException").message() ==
        "1 validation error detected: Value 'BOOL' at 'attributeDefinitions.1.member."
        "attributeType' failed to satisfy constraint: Member must satisfy enum value set: "
        "[B, N, S]");
  b = base;
  b["AttributeDefinitions"].push_back({{"AttributeName", "id"}, {"AttributeType", "N"}});
  CHECK(e.Fails("CreateTable", b, "ValidationException")
            .message()
            .find("Duplicate AttributeName id in AttributeDefinitions") != std::string::npos);
  b = base;
  b.erase("BillingMode");  // PROVISIONED by default: needs ProvisionedThroughput
  e.Fails("CreateTable", b, "ValidationException");
  b["ProvisionedThroughput"] = {{"ReadCapacityUnits", 5}, {"WriteCapacityUnits", 5}};
  e.Ok("CreateTable", b);
  b = base;
  b["TableName"] = "with-gsi";
  b["GlobalSecondaryIndexes"] = json::array({json::object()});
  CHECK(e.Fails("CreateTable", b, "ValidationException").message() ==
        "1 validation error detected: Value null at 'globalSecondaryIndexes.1.member.indexName' "
        "failed to satisfy constraint: Member must not be null");
  b.erase("GlobalSecondaryIndexes");
  b["LocalSecondaryIndexes"] = json::array({json::object()});
  CHECK(e.Fails("CreateTable", b, "ValidationException").message() ==
        "One or more parameter values were invalid: Table KeySchema does not have a range key, "
        "which is required when specifying a LocalSecondaryIndex");
  CHECK(e.Ok("ListTables", json::object())["TableNames"].size() == 1);
  b = base;
  b["TableName"] = 5;
  e.Fails("CreateTable", b, "SerializationException");
}

TEST_CASE("CreateTable and UpdateTable keep DynamoDB's limits: 20 GSIs, 40000 capacity units") {
  Endpoint e;
  json base = {{"TableName", "abc"},
               {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
               {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
               {"BillingMode", "PAY_PER_REQUEST"}};
  auto with_gsis = [&](int n) {
    json b = base;
    for (int i = 0; i < n; ++i) {
      std::string attr = "g" + std::to_string(i);
      b["AttributeDefinitions"].push_back({{"AttributeName", attr}, {"AttributeType", "S"}});
      b["GlobalSecondaryIndexes"].push_back(
          {{"IndexName", "index" + std::to_string(i)},
           {"KeySchema", {{{"AttributeName", attr}, {"KeyType", "HASH"}}}},
           {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}});
    }
    return b;
  };
  CHECK(e.Fails("CreateTable", with_gsis(30), "ValidationException").message() ==
        "GlobalSecondaryIndex count exceeds the per-table limit of 20");
  CHECK(e.Call("ListTables", json::object()).body["TableNames"].empty());  // nothing written
  e.Ok("CreateTable", with_gsis(20));
  json add = {{"TableName", "abc"},
              {"AttributeDefinitions", {{{"AttributeName", "x"}, {"AttributeType", "S"}}}},
              {"GlobalSecondaryIndexUpdates",
               {{{"Create",
                  {{"IndexName", "one-more"},
                   {"KeySchema", {{{"AttributeName", "x"}, {"KeyType", "HASH"}}}},
                   {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}}}}}}};
  CHECK(e.Fails("UpdateTable", add, "ValidationException").message() ==
        "GlobalSecondaryIndex count exceeds the per-table limit of 20");

  json huge = base;
  huge["TableName"] = "huge";
  huge["BillingMode"] = "PROVISIONED";
  huge["ProvisionedThroughput"] = {{"ReadCapacityUnits", 5},
                                   {"WriteCapacityUnits", 1000000000000000000}};
  CHECK(e.Fails("CreateTable", huge, "LimitExceededException").message().find("40000") !=
        std::string::npos);
  huge["ProvisionedThroughput"]["WriteCapacityUnits"] = 40000;
  e.Ok("CreateTable", huge);
}

TEST_CASE("ListTables pages with Limit and ExclusiveStartTableName") {
  Endpoint e;
  for (const char* name : {"ccc", "aaa", "bbb"}) {
    e.Ok("CreateTable",
         {{"TableName", name},
          {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
          {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
          {"BillingMode", "PAY_PER_REQUEST"}});
  }
  json all = e.Ok("ListTables", json::object());
  CHECK(all["TableNames"] == json({"aaa", "bbb", "ccc"}));
  CHECK_FALSE(all.contains("LastEvaluatedTableName"));
  json p1 = e.Ok("ListTables", {{"Limit", 2}});
  CHECK(p1["TableNames"] == json({"aaa", "bbb"}));
  CHECK(p1["LastEvaluatedTableName"] == "bbb");
  json p2 = e.Ok("ListTables", {{"Limit", 2}, {"ExclusiveStartTableName", "bbb"}});
  CHECK(p2["TableNames"] == json({"ccc"}));
  CHECK_FALSE(p2.contains("LastEvaluatedTableName"));
  e.Fails("ListTables", {{"Limit", 0}}, "ValidationException");
  e.Fails("ListTables", {{"Limit", 101}}, "ValidationException");
}

TEST_CASE("PutItem, GetItem and DeleteItem with ReturnValues and projections") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder(
      "a", 1,
      {{"status", {{"S", "new"}}}, {"m", {{"M", {{"x", {{"N", "1"}}}, {"y", {{"N", "2"}}}}}}}});
  json got = e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}});
  CHECK(got["Item"]["status"]["S"] == "new");
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 2)}}) == json::object());

  json proj = e.Ok("GetItem", {{"TableName", "orders"},
                               {"Key", Key("a", 1)},
                               {"ProjectionExpression", "#s, m.y"},
                               {"ExpressionAttributeNames", {{"#s", "status"}}},
                               {"ConsistentRead", true}});
  CHECK(proj["Item"] == json({{"status", {{"S", "new"}}}, {"m", {{"M", {{"y", {{"N", "2"}}}}}}}}));

  json old =
      e.Ok("PutItem", {{"TableName", "orders"},
                       {"Item", {{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"v", {{"N", "2"}}}}},
                       {"ReturnValues", "ALL_OLD"}});
  CHECK(old["Attributes"]["status"]["S"] == "new");
  e.Fails("PutItem", {{"TableName", "orders"}, {"Item", Key("a", 1)}, {"ReturnValues", "ALL_NEW"}},
          "ValidationException");

  json del = e.Ok("DeleteItem",
                  {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"ReturnValues", "ALL_OLD"}});
  CHECK(del["Attributes"]["v"]["N"] == "2");
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("a", 1)}}) == json::object());
}

TEST_CASE("item and key validation comes out as ValidationException") {
  Endpoint e;
  e.CreateOrders();
  Answer missing = e.Fails("PutItem", {{"TableName", "orders"}, {"Item", {{"pk", {{"S", "a"}}}}}},
                           "ValidationException");
  CHECK(missing.message() ==
        "One or more parameter values were invalid: Missing the key sk in the item");
  Answer mismatch = e.Fails(
      "PutItem", {{"TableName", "orders"}, {"Item", {{"pk", {{"S", "a"}}}, {"sk", {{"S", "x"}}}}}},
      "ValidationException");
  CHECK(mismatch.message().find("Type mismatch for key sk") != std::string::npos);
  e.Fails("GetItem", {{"TableName", "orders"}, {"Key", {{"pk", {{"S", "a"}}}}}},
          "ValidationException");
  e.Fails("PutItem",
          {{"TableName", "orders"}, {"Item", {{"pk", {{"S", "a"}}}, {"sk", {{"N", "abc"}}}}}},
          "ValidationException");
  e.Fails("PutItem",
          {{"TableName", "orders"}, {"Item", {{"pk", {{"S", ""}}}, {"sk", {{"N", "1"}}}}}},
          "ValidationException");
  // Over 400 KB.
  e.Fails("PutItem",
          {{"TableName", "orders"},
           {"Item",
            {{"pk", {{"S", "a"}}},
             {"sk", {{"N", "1"}}},
             {"big", {{"S", std::string(410 * 1024, 'x')}}}}}},
          "ValidationException");
  e.Fails("PutItem", {{"TableName", "nothere"}, {"Item", Key("a", 1)}},
          "ResourceNotFoundException");
  e.Fails("GetItem", {{"TableName", "orders"}}, "ValidationException");
  e.Fails("GetItem", {{"TableName", "orders"}, {"Key", "notamap"}}, "SerializationException");
}

TEST_CASE("conditional writes fail with ConditionalCheckFailedException and the old item") {
  Endpoint e;
  e.CreateOrders();
  json lock = {{"TableName", "orders"},
               {"Item", {{"pk", {{"S", "lock"}}}, {"sk", {{"N", "0"}}}, {"owner", {{"S", "a"}}}}},
               {"ConditionExpression", "attribute_not_exists(pk)"}};
  e.Ok("PutItem", lock);
  Answer a = e.Fails("PutItem", lock, "ConditionalCheckFailedException");
  CHECK(a.message() == "The conditional request failed");
  CHECK_FALSE(a.body.contains("Item"));
  lock["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD";
  a = e.Fails("PutItem", lock, "ConditionalCheckFailedException");
  CHECK(a.body["Item"]["owner"]["S"] == "a");

  json del = {{"TableName", "orders"},
              {"Key", Key("lock", 0)},
              {"ConditionExpression", "#o = :me"},
              {"ExpressionAttributeNames", {{"#o", "owner"}}},
              {"ExpressionAttributeValues", {{":me", {{"S", "b"}}}}}};
  e.Fails("DeleteItem", del, "ConditionalCheckFailedException");
  del["ExpressionAttributeValues"][":me"]["S"] = "a";
  e.Ok("DeleteItem", del);
}

TEST_CASE("UpdateItem applies update expressions with every ReturnValues mode") {
  Endpoint e;
  e.CreateOrders();
  json up = {{"TableName", "orders"},
             {"Key", Key("u", 1)},
             {"UpdateExpression", "SET #c = if_not_exists(#c, :zero) + :one, tags = :t"},
             {"ExpressionAttributeNames", {{"#c", "count"}}},
             {"ExpressionAttributeValues",
              {{":zero", {{"N", "0"}}}, {":one", {{"N", "1"}}}, {":t", {{"L", {{{"S", "x"}}}}}}}},
             {"ReturnValues", "ALL_NEW"}};
  json r = e.Ok("UpdateItem", up);
  CHECK(r["Attributes"]["count"]["N"] == "1");
  CHECK(r["Attributes"]["pk"]["S"] == "u");
  up["ReturnValues"] = "UPDATED_NEW";
  r = e.Ok("UpdateItem", up);
  CHECK(r["Attributes"] == json({{"count", {{"N", "2"}}}, {"tags", {{"L", {{{"S", "x"}}}}}}}));
  up["ReturnValues"] = "UPDATED_OLD";
  r = e.Ok("UpdateItem", up);
  CHECK(r["Attributes"]["count"]["N"] == "2");
  CHECK_FALSE(r["Attributes"].contains("pk"));
  up["ReturnValues"] = "ALL_OLD";
  r = e.Ok("UpdateItem", up);
  CHECK(r["Attributes"]["count"]["N"] == "3");
  up["ReturnValues"] = "NONE";
  CHECK(e.Ok("UpdateItem", up) == json::object());

  json rm = {{"TableName", "orders"},
             {"Key", Key("u", 1)},
             {"UpdateExpression", "REMOVE tags ADD n :five"},
             {"ConditionExpression", "#c > :three"},
             {"ExpressionAttributeNames", {{"#c", "count"}}},
             {"ExpressionAttributeValues", {{":five", {{"N", "5"}}}, {":three", {{"N", "3"}}}}},
             {"ReturnValues", "ALL_NEW"}};
  r = e.Ok("UpdateItem", rm);
  CHECK_FALSE(r["Attributes"].contains("tags"));
  CHECK(r["Attributes"]["n"]["N"] == "5");
  rm["ExpressionAttributeValues"][":three"]["N"] = "100";
  e.Fails("UpdateItem", rm, "ConditionalCheckFailedException");

  // Key attributes cannot be updated; operand types are checked.
  Answer key = e.Fails("UpdateItem",
                       {{"TableName", "orders"},
                        {"Key", Key("u", 1)},
                        {"UpdateExpression", "SET pk = :v"},
                        {"ExpressionAttributeValues", {{":v", {{"S", "z"}}}}}},
                       "ValidationException");
  CHECK(key.message().find("part of the key") != std::string::npos);
  e.Fails("UpdateItem",
          {{"TableName", "orders"},
           {"Key", Key("u", 1)},
           {"UpdateExpression", "SET n = n + :s"},
           {"ExpressionAttributeValues", {{":s", {{"S", "z"}}}}}},
          "ValidationException");
  // Without an UpdateExpression, UpdateItem creates the bare key.
  e.Ok("UpdateItem", {{"TableName", "orders"}, {"Key", Key("bare", 1)}});
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("bare", 1)}})["Item"] ==
        Key("bare", 1));
}

TEST_CASE("expression placeholders: unused, missing and syntax errors give DynamoDB's messages") {
  Endpoint e;
  e.CreateOrders();
  Answer unused =
      e.Fails("UpdateItem",
              {{"TableName", "orders"},
               {"Key", Key("u", 1)},
               {"UpdateExpression", "SET a = :a"},
               {"ExpressionAttributeValues", {{":a", {{"N", "1"}}}, {":b", {{"N", "2"}}}}}},
              "ValidationException");
  CHECK(unused.message() ==
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:b}");
  Answer unused_name = e.Fails("GetItem",
                               {{"TableName", "orders"},
                                {"Key", Key("u", 1)},
                                {"ProjectionExpression", "a"},
                                {"ExpressionAttributeNames", {{"#x", "x"}}}},
                               "ValidationException");
  CHECK(unused_name.message() ==
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}");
  Answer missing = e.Fails(
      "PutItem",
      {{"TableName", "orders"}, {"Item", Key("u", 1)}, {"ConditionExpression", "a = :nope"}},
      "ValidationException");
  CHECK(missing.message().find(":nope") != std::string::npos);
  Answer syntax =
      e.Fails("PutItem",
              {{"TableName", "orders"}, {"Item", Key("u", 1)}, {"ConditionExpression", "a = = b"}},
              "ValidationException");
  CHECK(syntax.message().find("Invalid ConditionExpression: Syntax error") == 0);
  Answer without = e.Fails("PutItem",
                           {{"TableName", "orders"},
                            {"Item", Key("u", 1)},
                            {"ExpressionAttributeValues", {{":a", {{"N", "1"}}}}}},
                           "ValidationException");
  CHECK(without.message() ==
        "ExpressionAttributeValues can only be specified when using expressions");
}

TEST_CASE("Query: key conditions, filters, projections, pagination, direction and COUNT") {
  Endpoint e;
  e.CreateOrders();
  for (int i = 1; i <= 10; ++i) e.PutOrder("p", i, {{"odd", {{"BOOL", i % 2 == 1}}}});
  e.PutOrder("other", 1);
  json q = {{"TableName", "orders"},
            {"KeyConditionExpression", "pk = :p AND sk BETWEEN :lo AND :hi"},
            {"ExpressionAttributeValues",
             {{":p", {{"S", "p"}}}, {":lo", {{"N", "3"}}}, {":hi", {{"N", "8"}}}}}};
  json r = e.Ok("Query", q);
  CHECK(r["Count"] == 6);
  CHECK(r["Items"][0]["sk"]["N"] == "3");

  json back = q;
  back["ScanIndexForward"] = false;
  back["Limit"] = 4;
  r = e.Ok("Query", back);
  CHECK(r["Count"] == 4);
  CHECK(r["Items"][0]["sk"]["N"] == "8");
  REQUIRE(r.contains("LastEvaluatedKey"));
  CHECK(r["LastEvaluatedKey"] == Key("p", 5));
  back["ExclusiveStartKey"] = r["LastEvaluatedKey"];
  r = e.Ok("Query", back);
  CHECK(r["Count"] == 2);
  CHECK(r["Items"][1]["sk"]["N"] == "3");

  json f = q;
  f["FilterExpression"] = "#o = :t";
  f["ExpressionAttributeNames"] = {{"#o", "odd"}};
  f["ExpressionAttributeValues"][":t"] = {{"BOOL", true}};
  f["ProjectionExpression"] = "sk";
  r = e.Ok("Query", f);
  CHECK(r["Count"] == 3);  // 3, 5, 7
  CHECK(r["ScannedCount"] == 6);
  CHECK(r["Items"][0] == json({{"sk", {{"N", "3"}}}}));

  json c = {{"TableName", "orders"},
            {"KeyConditionExpression", "pk = :p AND begins_with(sk, :x)"},
            {"ExpressionAttributeValues", {{":p", {{"S", "p"}}}, {":x", {{"N", "1"}}}}}};
  e.Fails("Query", c, "ValidationException");  // begins_with on a number key
  json count = {{"TableName", "orders"},
                {"KeyConditionExpression", "pk = :p"},
                {"ExpressionAttributeValues", {{":p", {{"S", "p"}}}}},
                {"Select", "COUNT"}};
  r = e.Ok("Query", count);
  CHECK(r["Count"] == 10);
  CHECK_FALSE(r.contains("Items"));

  Answer missed = e.Fails("Query",
                          {{"TableName", "orders"},
                           {"KeyConditionExpression", "sk = :s"},
                           {"ExpressionAttributeValues", {{":s", {{"N", "1"}}}}}},
                          "ValidationException");
  CHECK(missed.message().find("missed key schema element") != std::string::npos);
  e.Fails("Query", {{"TableName", "orders"}}, "ValidationException");
  e.Fails("Query",
          {{"TableName", "orders"},
           {"KeyConditionExpression", "pk = :p OR sk = :s"},
           {"ExpressionAttributeValues", {{":p", {{"S", "p"}}}, {":s", {{"N", "1"}}}}}},
          "ValidationException");
  e.Fails("Query",
          {{"TableName", "orders"},
           {"IndexName", "gsi"},
           {"KeyConditionExpression", "pk = :p"},
           {"ExpressionAttributeValues", {{":p", {{"S", "p"}}}}}},
          "ValidationException");
}

TEST_CASE("Scan: filters, pagination and parallel segments") {
  Endpoint e;
  e.CreateOrders();
  for (int i = 0; i < 30; ++i)
    e.PutOrder("p" + std::to_string(i), i, {{"v", {{"N", std::to_string(i)}}}});
  json r = e.Ok("Scan", {{"TableName", "orders"}});
  CHECK(r["Count"] == 30);

  int seen = 0, pages = 0;
  json s = {{"TableName", "orders"}, {"Limit", 7}};
  while (true) {
    r = e.Ok("Scan", s);
    seen += r["Count"].get<int>();
    ++pages;
    if (!r.contains("LastEvaluatedKey")) break;
    s["ExclusiveStartKey"] = r["LastEvaluatedKey"];
    REQUIRE(pages < 20);
  }
  CHECK(seen == 30);

  r = e.Ok("Scan",
           {{"TableName", "orders"},
            {"FilterExpression", "v >= :ten AND NOT contains(pk, :one)"},
            {"ExpressionAttributeValues", {{":ten", {{"N", "10"}}}, {":one", {{"S", "1"}}}}}});
  // 10..29 without a "1" in pk: 20, 22..29 except 21 -> 20,22,23,24,25,26,27,28,29 = 9
  CHECK(r["Count"] == 9);

  std::set<std::string> all;
  for (int seg = 0; seg < 3; ++seg) {
    json p = {{"TableName", "orders"}, {"Segment", seg}, {"TotalSegments", 3}, {"Limit", 4}};
    while (true) {
      r = e.Ok("Scan", p);
      for (const auto& item : r["Items"]) {
        CHECK(all.insert(item["pk"]["S"].get<std::string>()).second);
      }
      if (!r.contains("LastEvaluatedKey")) break;
      p["ExclusiveStartKey"] = r["LastEvaluatedKey"];
    }
  }
  CHECK(all.size() == 30);
  e.Fails("Scan", {{"TableName", "orders"}, {"Segment", 3}, {"TotalSegments", 3}},
          "ValidationException");
  e.Fails("Scan", {{"TableName", "orders"}, {"Segment", 0}}, "ValidationException");
  r = e.Ok("Scan", {{"TableName", "orders"}, {"Select", "COUNT"}});
  CHECK(r["Count"] == 30);
  CHECK_FALSE(r.contains("Items"));
}

TEST_CASE("BatchWriteItem and BatchGetItem") {
  Endpoint e;
  e.CreateOrders();
  json writes = json::array();
  for (int i = 0; i < 5; ++i) {
    writes.push_back(
        {{"PutRequest",
          {{"Item",
            {{"pk", {{"S", "b"}}}, {"sk", {{"N", std::to_string(i)}}}, {"x", {{"S", "y"}}}}}}}});
  }
  json r = e.Ok("BatchWriteItem", {{"RequestItems", {{"orders", writes}}}});
  CHECK(r["UnprocessedItems"] == json::object());
  e.Ok("BatchWriteItem",
       {{"RequestItems", {{"orders", {{{"DeleteRequest", {{"Key", Key("b", 0)}}}}}}}}});

  json keys = json::array();
  for (int i = 0; i < 5; ++i) keys.push_back(Key("b", i));
  r = e.Ok("BatchGetItem", {{"RequestItems",
                             {{"orders",
                               {{"Keys", keys},
                                {"ProjectionExpression", "sk, #x"},
                                {"ExpressionAttributeNames", {{"#x", "x"}}}}}}}});
  CHECK(r["Responses"]["orders"].size() == 4);
  CHECK(r["Responses"]["orders"][0].size() == 2);
  CHECK(r["UnprocessedKeys"] == json::object());

  json dup = json::array(
      {{{"DeleteRequest", {{"Key", Key("b", 1)}}}}, {{"DeleteRequest", {{"Key", Key("b", 1)}}}}});
  e.Fails("BatchWriteItem", {{"RequestItems", {{"orders", dup}}}}, "ValidationException");
  json many = json::array();
  for (int i = 0; i < 26; ++i) many.push_back({{"DeleteRequest", {{"Key", Key("m", i)}}}});
  e.Fails("BatchWriteItem", {{"RequestItems", {{"orders", many}}}}, "ValidationException");
  e.Fails("BatchWriteItem", {{"RequestItems", {{"nothere", writes}}}}, "ResourceNotFoundException");
  json many_keys = json::array();
  for (int i = 0; i < 101; ++i) many_keys.push_back(Key("m", i));
  e.Fails("BatchGetItem", {{"RequestItems", {{"orders", {{"Keys", many_keys}}}}}},
          "ValidationException");
  // A rejected batch writes nothing.
  json bad = writes;
  bad.push_back({{"PutRequest", {{"Item", {{"pk", {{"S", "nosk"}}}}}}}});
  bad[0]["PutRequest"]["Item"]["sk"]["N"] = "99";
  e.Fails("BatchWriteItem", {{"RequestItems", {{"orders", bad}}}}, "ValidationException");
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("b", 99)}}) == json::object());
}

TEST_CASE("DynamoDB's own messages for key limits, item size, numbers and sets") {
  Endpoint e;
  e.CreateOrders();
  auto put = [&](const json& item) {
    return e.Fails("PutItem", {{"TableName", "orders"}, {"Item", item}}, "ValidationException")
        .message();
  };
  CHECK(put({{"pk", {{"S", ""}}}, {"sk", {{"N", "1"}}}}) ==
        "One or more parameter values are not valid. The AttributeValue for a key attribute "
        "cannot contain an empty string value. Key: pk");
  CHECK(put({{"pk", {{"S", std::string(2049, 'h')}}}, {"sk", {{"N", "1"}}}}) ==
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
        "size limit of 2048 bytes");
  CHECK(put({{"pk", {{"S", "a"}}},
             {"sk", {{"N", "1"}}},
             {"big", {{"S", std::string(410 * 1024, 'x')}}}}) ==
        "Item size has exceeded the maximum allowed size");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "abc"}}}}) ==
        "A value provided cannot be converted into a number");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"n", {{"N", std::string(39, '7')}}}}) ==
        "Attempting to store more than 38 significant digits in a Number");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"n", {{"N", "1e126"}}}}) ==
        "Number overflow. Attempting to store a number with magnitude larger than supported "
        "range");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"n", {{"N", "1e-131"}}}}) ==
        "Number underflow. Attempting to store a number with magnitude smaller than supported "
        "range");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"s", {{"SS", json::array()}}}}) ==
        "One or more parameter values were invalid: An string set  may not be empty");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"s", {{"SS", {"x", "x"}}}}}) ==
        "One or more parameter values were invalid: Input collection [x, x] contains duplicates.");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"v", json::object()}}) ==
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"v", {{"S", "x"}, {"N", "1"}}}}) ==
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
        "the supported datatypes");
  auto nested = [](int levels) {
    json v = {{"S", "leaf"}};
    for (int i = 0; i < levels; ++i) v = {{"M", {{"m", v}}}};
    return v;
  };
  CHECK(put({{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"deep", nested(33)}}) ==
        "Nesting Levels have exceeded supported limits");
  e.PutOrder("deep", 1, {{"deep", nested(32)}});
  // Empty strings are fine outside keys; numbers keep 38 digits.
  e.PutOrder("ok", 1, {{"empty", {{"S", ""}}}, {"n", {{"N", std::string(38, '9')}}}});
  json got = e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("ok", 1)}});
  CHECK(got["Item"]["empty"]["S"] == "");
  CHECK(got["Item"]["n"]["N"] == std::string(38, '9'));
  // A key parameter gets the same key checks.
  CHECK(e.Fails("GetItem",
                {{"TableName", "orders"}, {"Key", {{"pk", {{"S", ""}}}, {"sk", {{"N", "1"}}}}}},
                "ValidationException")
            .message()
            .find("cannot contain an empty string value. Key: pk") != std::string::npos);
  // An update that grows an item past 400 KB writes nothing.
  Answer grow =
      e.Fails("UpdateItem",
              {{"TableName", "orders"},
               {"Key", Key("ok", 1)},
               {"UpdateExpression", "SET big = :b"},
               {"ExpressionAttributeValues", {{":b", {{"S", std::string(410 * 1024, 'y')}}}}}},
              "ValidationException");
  CHECK(grow.message() == "Item size to update has exceeded the maximum allowed size");
  CHECK_FALSE(
      e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("ok", 1)}})["Item"].contains("big"));
}

TEST_CASE("BatchWriteItem limits and BatchGetItem's 16 MB answer with UnprocessedKeys") {
  Endpoint e;
  e.CreateOrders();
  e.Ok("CreateTable",
       {{"TableName", "other"},
        {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
        {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
        {"BillingMode", "PAY_PER_REQUEST"}});
  // 20 + 10 writes over two tables: each list is fine, the total is not.
  json a = json::array(), b = json::array();
  for (int i = 0; i < 20; ++i) a.push_back({{"PutRequest", {{"Item", Key("t", i)}}}});
  for (int i = 0; i < 10; ++i) {
    b.push_back({{"PutRequest", {{"Item", {{"id", {{"S", std::to_string(i)}}}}}}}});
  }
  Answer too_many = e.Fails("BatchWriteItem", {{"RequestItems", {{"orders", a}, {"other", b}}}},
                            "ValidationException");
  CHECK(too_many.message() == "Too many items requested for the BatchWriteItem call");
  CHECK(e.Ok("Scan", {{"TableName", "orders"}, {"Select", "COUNT"}})["Count"] == 0);
  b.erase(b.begin() + 5, b.end());
  e.Ok("BatchWriteItem", {{"RequestItems", {{"orders", a}, {"other", b}}}});
  CHECK(e.Ok("Scan", {{"TableName", "other"}, {"Select", "COUNT"}})["Count"] == 5);
  // A bad item anywhere rejects the whole batch.
  json bad = a;
  bad[3]["PutRequest"]["Item"]["pk"]["S"] = "";
  Answer empty_key =
      e.Fails("BatchWriteItem", {{"RequestItems", {{"orders", bad}}}}, "ValidationException");
  CHECK(empty_key.message().find("empty string value. Key: pk") != std::string::npos);

  // 48 items of ~390 KB: about 18 MB, more than one answer may carry.
  std::string filler(390 * 1024, 'z');
  for (int i = 0; i < 48; ++i) e.PutOrder("big", i, {{"f", {{"S", filler}}}});
  json keys = json::array();
  for (int i = 0; i < 48; ++i) keys.push_back(Key("big", i));
  json r = e.Ok("BatchGetItem",
                {{"RequestItems", {{"orders", {{"Keys", keys}, {"ConsistentRead", true}}}}}});
  size_t got = r["Responses"]["orders"].size();
  CHECK(got > 0);
  CHECK(got < 48);
  REQUIRE(r["UnprocessedKeys"].contains("orders"));
  json left = r["UnprocessedKeys"]["orders"];
  CHECK(left["ConsistentRead"] == true);
  CHECK(got + left["Keys"].size() == 48);
  // Sending the unprocessed keys again fetches the rest.
  json rest = e.Ok("BatchGetItem", {{"RequestItems", r["UnprocessedKeys"]}});
  CHECK(rest["Responses"]["orders"].size() == left["Keys"].size());
  CHECK(rest["UnprocessedKeys"] == json::object());
}

TEST_CASE("TransactWriteItems: all or nothing, with CancellationReasons in AWS's shape") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("acct", 1, {{"balance", {{"N", "100"}}}});
  e.PutOrder("acct", 2, {{"balance", {{"N", "5"}}}});
  auto transfer = [](int amount) {
    json v = {{":a", {{"N", std::to_string(amount)}}}};
    return json{{"TransactItems",
                 {{{"Update",
                    {{"TableName", "orders"},
                     {"Key", Key("acct", 1)},
                     {"UpdateExpression", "SET balance = balance - :a"},
                     {"ConditionExpression", "balance >= :a"},
                     {"ExpressionAttributeValues", v},
                     {"ReturnValuesOnConditionCheckFailure", "ALL_OLD"}}}},
                  {{"Update",
                    {{"TableName", "orders"},
                     {"Key", Key("acct", 2)},
                     {"UpdateExpression", "SET balance = balance + :a"},
                     {"ExpressionAttributeValues", v}}}},
                  {{"Put", {{"TableName", "orders"}, {"Item", Key("log", amount)}}}},
                  {{"ConditionCheck",
                    {{"TableName", "orders"},
                     {"Key", Key("acct", 3)},
                     {"ConditionExpression", "attribute_not_exists(pk)"}}}}}}};
  };
  auto balance = [&](int sk) {
    return e.Ok("GetItem",
                {{"TableName", "orders"}, {"Key", Key("acct", sk)}})["Item"]["balance"]["N"];
  };
  CHECK(e.Ok("TransactWriteItems", transfer(60)) == json::object());
  CHECK(balance(1) == "40");
  CHECK(balance(2) == "65");

  Answer cancelled = e.Fails("TransactWriteItems", transfer(70), "TransactionCanceledException");
  CHECK(cancelled.message() ==
        "Transaction cancelled, please refer cancellation reasons for specific reasons "
        "[ConditionalCheckFailed, None, None, None]");
  json reasons = cancelled.body["CancellationReasons"];
  REQUIRE(reasons.size() == 4);
  CHECK(reasons[0]["Code"] == "ConditionalCheckFailed");
  CHECK(reasons[0]["Message"] == "The conditional request failed");
  CHECK(reasons[0]["Item"]["balance"]["N"] == "40");
  CHECK(reasons[1] == json{{"Code", "None"}});
  // Nothing was written: balances unchanged, no log item.
  CHECK(balance(1) == "40");
  CHECK(balance(2) == "65");
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("log", 70)}}) == json::object());

  // A failing ConditionCheck alone cancels the rest too; several failures are all reported.
  e.PutOrder("acct", 3);
  Answer both = e.Fails("TransactWriteItems", transfer(50), "TransactionCanceledException");
  CHECK(both.body["CancellationReasons"][0]["Code"] == "ConditionalCheckFailed");
  CHECK(both.body["CancellationReasons"][3]["Code"] == "ConditionalCheckFailed");
  CHECK_FALSE(both.body["CancellationReasons"][3].contains("Item"));
  CHECK(balance(2) == "65");

  // Update errors found while applying come back as a ValidationError reason.
  Answer type = e.Fails("TransactWriteItems",
                        {{"TransactItems",
                          {{{"Update",
                             {{"TableName", "orders"},
                              {"Key", Key("log", 60)},
                              {"UpdateExpression", "SET n = pk + :one"},
                              {"ExpressionAttributeValues", {{":one", {{"N", "1"}}}}}}}}}}},
                        "TransactionCanceledException");
  CHECK(type.body["CancellationReasons"][0]["Code"] == "ValidationError");

  // Validation errors come first, as one ValidationException; nothing is written.
  json dup = {{"TransactItems",
               {{{"Put", {{"TableName", "orders"}, {"Item", Key("d", 1)}}}},
                {{"Delete", {{"TableName", "orders"}, {"Key", Key("d", 1)}}}}}}};
  CHECK(e.Fails("TransactWriteItems", dup, "ValidationException").message() ==
        "Transaction request cannot include multiple operations on one item");
  CHECK(e.Fails("TransactWriteItems",
                {{"TransactItems", {{{"Get", {{"TableName", "orders"}, {"Key", Key("d", 1)}}}}}}},
                "ValidationException")
            .message() == "TransactItems can only contain one of Check, Put, Update or Delete");
  e.Fails("TransactWriteItems", {{"TransactItems", json::array()}}, "ValidationException");
  json many = json::array();
  for (int i = 0; i < 101; ++i) {
    many.push_back({{"Put", {{"TableName", "orders"}, {"Item", Key("m", i)}}}});
  }
  CHECK(e.Fails("TransactWriteItems", {{"TransactItems", many}}, "ValidationException")
            .message()
            .find("less than or equal to 100") != std::string::npos);
  many.erase(many.end() - 1);
  e.Ok("TransactWriteItems", {{"TransactItems", many}});
  CHECK(e.Ok("Query", {{"TableName", "orders"},
                       {"KeyConditionExpression", "pk = :p"},
                       {"ExpressionAttributeValues", {{":p", {{"S", "m"}}}}},
                       {"Select", "COUNT"}})["Count"] == 100);
  e.Fails("TransactWriteItems",
          {{"TransactItems", {{{"Put", {{"TableName", "nothere"}, {"Item", Key("d", 1)}}}}}}},
          "ResourceNotFoundException");
  e.Fails(
      "TransactWriteItems",
      {{"TransactItems", {{{"ConditionCheck", {{"TableName", "orders"}, {"Key", Key("d", 1)}}}}}}},
      "ValidationException");
}

TEST_CASE("TransactWriteItems honours ClientRequestToken; TransactGetItems reads a snapshot") {
  Endpoint e;
  e.CreateOrders();
  json add = {{"ClientRequestToken", "token-1"},
              {"TransactItems",
               {{{"Update",
                  {{"TableName", "orders"},
                   {"Key", Key("c", 1)},
                   {"UpdateExpression", "ADD n :one"},
                   {"ExpressionAttributeValues", {{":one", {{"N", "1"}}}}}}}}}}};
  e.Ok("TransactWriteItems", add);
  e.Ok("TransactWriteItems", add);  // the same token again: applied once
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("c", 1)}})["Item"]["n"]["N"] == "1");
  json changed = add;
  changed["TransactItems"][0]["Update"]["ExpressionAttributeValues"][":one"]["N"] = "2";
  e.Fails("TransactWriteItems", changed, "IdempotentParameterMismatchException");
  add["ClientRequestToken"] = "token-2";
  e.Ok("TransactWriteItems", add);
  CHECK(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("c", 1)}})["Item"]["n"]["N"] == "2");

  e.PutOrder("c", 2, {{"x", {{"S", "y"}}}});
  json got = e.Ok("TransactGetItems", {{"TransactItems",
                                        {{{"Get", {{"TableName", "orders"}, {"Key", Key("c", 1)}}}},
                                         {{"Get", {{"TableName", "orders"}, {"Key", Key("c", 9)}}}},
                                         {{"Get",
                                           {{"TableName", "orders"},
                                            {"Key", Key("c", 2)},
                                            {"ProjectionExpression", "#x"},
                                            {"ExpressionAttributeNames", {{"#x", "x"}}}}}}}}});
  REQUIRE(got["Responses"].size() == 3);
  CHECK(got["Responses"][0]["Item"]["n"]["N"] == "2");
  CHECK(got["Responses"][1] == json::object());
  CHECK(got["Responses"][2]["Item"] == json{{"x", {{"S", "y"}}}});
  e.Fails("TransactGetItems",
          {{"TransactItems",
            {{{"Get", {{"TableName", "orders"}, {"Key", Key("c", 1)}}}},
             {{"Get", {{"TableName", "orders"}, {"Key", Key("c", 1)}}}}}}},
          "ValidationException");
  e.Fails("TransactGetItems",
          {{"TransactItems", {{{"Put", {{"TableName", "orders"}, {"Item", Key("c", 1)}}}}}}},
          "ValidationException");
}

TEST_CASE("streams API: every write this region applied, per table, with images") {
  Endpoint e;
  e.CreateOrders();
  json table = e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(table["StreamSpecification"]["StreamEnabled"] == true);
  CHECK(table["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES");
  std::string arn = table["LatestStreamArn"];
  CHECK(arn.rfind("arn:aws:dynamodb:us-east-1:000000000000:table/orders/stream/", 0) == 0);
  CHECK(arn.substr(arn.size() - table["LatestStreamLabel"].get<std::string>().size()) ==
        table["LatestStreamLabel"]);

  auto streams_call = [&](const std::string& op, const json& body) {
    return e.Raw("DynamoDBStreams_20120810." + op, body.dump());
  };
  Answer list = streams_call("ListStreams", json::object());
  REQUIRE(list.status == 200);
  REQUIRE(list.body["Streams"].size() == 1);
  CHECK(list.body["Streams"][0]["StreamArn"] == arn);
  CHECK(list.body["Streams"][0]["TableName"] == "orders");

  e.PutOrder("s", 1, {{"v", {{"N", "1"}}}});
  e.PutOrder("s", 1, {{"v", {{"N", "2"}}}});
  e.Ok("DeleteItem", {{"TableName", "orders"}, {"Key", Key("s", 1)}});
  e.Ok("DeleteItem", {{"TableName", "orders"}, {"Key", Key("s", 1)}});  // absent: no record

  Answer desc = streams_call("DescribeStream", {{"StreamArn", arn}});
  REQUIRE(desc.status == 200);
  json sd = desc.body["StreamDescription"];
  CHECK(sd["StreamStatus"] == "ENABLED");
  CHECK(sd["StreamViewType"] == "NEW_AND_OLD_IMAGES");
  CHECK(sd["TableName"] == "orders");
  REQUIRE(sd["Shards"].size() == 1);
  std::string shard = sd["Shards"][0]["ShardId"];
  std::string first_seq = sd["Shards"][0]["SequenceNumberRange"]["StartingSequenceNumber"];
  CHECK(first_seq.size() == 21);

  Answer it =
      streams_call("GetShardIterator",
                   {{"StreamArn", arn}, {"ShardId", shard}, {"ShardIteratorType", "TRIM_HORIZON"}});
  REQUIRE(it.status == 200);
  Answer recs = streams_call("GetRecords", {{"ShardIterator", it.body["ShardIterator"]}});
  REQUIRE(recs.status == 200);
  json r = recs.body["Records"];
  REQUIRE(r.size() == 3);
  CHECK(r[0]["eventName"] == "INSERT");
  CHECK(r[1]["eventName"] == "MODIFY");
  CHECK(r[2]["eventName"] == "REMOVE");
  CHECK(r[0]["eventSource"] == "aws:dynamodb");
  CHECK(r[0]["awsRegion"] == "us-east-1");
  CHECK(r[0]["dynamodb"]["Keys"] == Key("s", 1));
  CHECK(r[0]["dynamodb"]["NewImage"]["v"]["N"] == "1");
  CHECK_FALSE(r[0]["dynamodb"].contains("OldImage"));
  CHECK(r[1]["dynamodb"]["OldImage"]["v"]["N"] == "1");
  CHECK(r[1]["dynamodb"]["NewImage"]["v"]["N"] == "2");
  CHECK(r[2]["dynamodb"]["OldImage"]["v"]["N"] == "2");
  CHECK_FALSE(r[2]["dynamodb"].contains("NewImage"));
  CHECK(r[0]["dynamodb"]["SequenceNumber"] == first_seq);
  CHECK(r[0]["dynamodb"]["SizeBytes"] > 0);
  CHECK(r[0]["dynamodb"]["ApproximateCreationDateTime"] > 1.7e9);

  // The next iterator continues after the last record; new writes appear there.
  std::string next = recs.body["NextShardIterator"];
  CHECK(streams_call("GetRecords", {{"ShardIterator", next}}).body["Records"].empty());
  e.PutOrder("s", 2);
  json later = streams_call("GetRecords", {{"ShardIterator", next}}).body;
  REQUIRE(later["Records"].size() == 1);
  CHECK(later["Records"][0]["dynamodb"]["Keys"] == Key("s", 2));

  // AT / AFTER a sequence number, LATEST, and Limit.
  std::string second = r[1]["dynamodb"]["SequenceNumber"];
  auto records_from = [&](const json& body) {
    Answer a = streams_call("GetShardIterator", body);
    REQUIRE(a.status == 200);
    return streams_call("GetRecords", {{"ShardIterator", a.body["ShardIterator"]}, {"Limit", 2}})
        .body["Records"];
  };
  json at = records_from({{"StreamArn", arn},
                          {"ShardId", shard},
                          {"ShardIteratorType", "AT_SEQUENCE_NUMBER"},
                          {"SequenceNumber", second}});
  REQUIRE(at.size() == 2);
  CHECK(at[0]["eventName"] == "MODIFY");
  json after = records_from({{"StreamArn", arn},
                             {"ShardId", shard},
                             {"ShardIteratorType", "AFTER_SEQUENCE_NUMBER"},
                             {"SequenceNumber", second}});
  REQUIRE(after.size() == 2);
  CHECK(after[0]["eventName"] == "REMOVE");
  CHECK(records_from({{"StreamArn", arn}, {"ShardId", shard}, {"ShardIteratorType", "LATEST"}})
            .empty());

  // Errors.
  Answer bad_shard = streams_call(
      "GetShardIterator",
      {{"StreamArn", arn}, {"ShardId", "shardId-nope"}, {"ShardIteratorType", "LATEST"}});
  CHECK(bad_shard.type() == "ResourceNotFoundException");
  CHECK(streams_call(
            "GetShardIterator",
            {{"StreamArn", arn}, {"ShardId", shard}, {"ShardIteratorType", "AT_SEQUENCE_NUMBER"}})
            .type() == "ValidationException");
  CHECK(streams_call("GetShardIterator",
                     {{"StreamArn", arn}, {"ShardId", shard}, {"ShardIteratorType", "SOMETIME"}})
            .type() == "ValidationException");
  CHECK(streams_call("DescribeStream", {{"StreamArn", arn + "x"}}).type() ==
        "ResourceNotFoundException");
  CHECK(streams_call("GetRecords", {{"ShardIterator", "garbage"}}).type() == "ValidationException");
  CHECK(streams_call("Frobnicate", json::object()).type() == "UnknownOperationException");
  CHECK(streams_call("ListStreams", {{"TableName", "nothere"}}).type() ==
        "ResourceNotFoundException");
  // CreateTable checks the view type.
  json create = {{"TableName", "streamed"},
                 {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
                 {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
                 {"BillingMode", "PAY_PER_REQUEST"},
                 {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "ALL"}}}};
  CHECK(e.Fails("CreateTable", create, "ValidationException").message().find("streamViewType") !=
        std::string::npos);
  create["StreamSpecification"]["StreamViewType"] = "NEW_AND_OLD_IMAGES";
  CHECK(e.Ok("CreateTable", create)["TableDescription"]["LatestStreamArn"].is_string());
  // A table deleted and created again has a new stream; the old one is gone.
  e.Ok("DeleteTable", {{"TableName", "orders"}});
  CHECK(streams_call("GetRecords", {{"ShardIterator", next}}).type() ==
        "ResourceNotFoundException");
  json left = streams_call("ListStreams", json::object()).body["Streams"];
  REQUIRE(left.size() == 1);
  CHECK(left[0]["TableName"] == "streamed");
  // ListStreams pages with Limit and ExclusiveStartStreamArn.
  for (const char* name : {"s-a", "s-b", "s-c"}) {
    create["TableName"] = name;
    e.Ok("CreateTable", create);
  }
  std::vector<std::string> names;
  json page = {{"Limit", 1}};
  for (int i = 0; i < 10; ++i) {
    Answer a = streams_call("ListStreams", page);
    REQUIRE(a.status == 200);
    for (const json& st : a.body["Streams"]) names.push_back(st["TableName"]);
    if (!a.body.contains("LastEvaluatedStreamArn")) break;
    page["ExclusiveStartStreamArn"] = a.body["LastEvaluatedStreamArn"];
  }
  CHECK(names == std::vector<std::string>{"s-a", "s-b", "s-c", "streamed"});
}

TEST_CASE("Query and Scan pages stop at 1 MB read, with LastEvaluatedKey") {
  Endpoint e;
  e.CreateOrders();
  std::string filler(100 * 1024, 'p');
  for (int i = 0; i < 30; ++i) e.PutOrder("mb", i, {{"f", {{"S", filler}}}});
  for (const char* op : {"Query", "Scan"}) {
    json req = {{"TableName", "orders"}};
    if (std::string(op) == "Query") {
      req["KeyConditionExpression"] = "pk = :p";
      req["ExpressionAttributeValues"] = {{":p", {{"S", "mb"}}}};
    }
    json first = e.Ok(op, req);
    CHECK(first["Count"] == 11);  // the 11th item reaches 1 MB
    CHECK(first["ScannedCount"] == 11);
    CHECK(first["LastEvaluatedKey"] == Key("mb", 10));
    int total = 0, pages = 0;
    for (json page = req;;) {
      ++pages;
      json r = e.Ok(op, page);
      total += r["Count"].get<int>();
      if (!r.contains("LastEvaluatedKey")) break;
      page["ExclusiveStartKey"] = r["LastEvaluatedKey"];
    }
    CHECK(total == 30);
    CHECK(pages == 3);  // 11 + 11 + 8
    // COUNT and filters count within the same 1 MB.
    json counted = req;
    counted["Select"] = "COUNT";
    CHECK(e.Ok(op, counted)["Count"] == 11);
  }
}

TEST_CASE("Region::Transact writes every entry in one transaction or none") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("r", 1, {{"v", {{"N", "1"}}}});
  auto key = [](int sk) {
    return Item{{"pk", AttributeValue::S("r")}, {"sk", AttributeValue::N(std::to_string(sk))}};
  };
  auto put = [&](int sk) {
    return [item = key(sk)](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
      return std::optional<Item>(item);
    };
  };
  int calls = 0;
  std::vector<Region::ItemMutation> entries;
  entries.push_back({"orders", key(2), put(2)});
  entries.push_back(
      {"orders", key(1),
       [&](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
         ++calls;
         REQUIRE(current);  // sees the committed item
         return absl::FailedPreconditionError("no");
       },
       /*check_only=*/true});
  entries.push_back(
      {"orders", key(3), [&](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
         ++calls;  // called although an earlier entry failed
         return std::optional<Item>(key(3));
       }});
  auto failed = e.region->Transact(entries);
  CHECK(absl::IsFailedPrecondition(failed.status()));
  CHECK(calls == 2);
  CHECK_FALSE(e.region->GetItem("orders", key(2))->item);
  CHECK_FALSE(e.region->GetItem("orders", key(3))->item);

  // The check passes now: both writes land, the checked item is untouched.
  entries[1].fn = [](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
    return std::optional<Item>();  // ignored: check_only writes nothing
  };
  auto done = e.region->Transact(entries);
  REQUIRE(done.ok());
  REQUIRE(done->size() == 3);
  CHECK((*done)[1].old_item->at("v") == AttributeValue::N("1"));
  CHECK(e.region->GetItem("orders", key(1))->item);
  CHECK(e.region->GetItem("orders", key(2))->item);
  CHECK(e.region->GetItem("orders", key(3))->item);

  // Two entries for one item are refused before any runs.
  calls = 0;
  entries[0].key = key(3);
  CHECK(absl::IsInvalidArgument(e.region->Transact(entries).status()));
  CHECK(calls == 0);
}

json Streams(Endpoint& e, const std::string& op, const json& body) {
  Answer a = e.Raw("DynamoDBStreams_20120810." + op, body.dump());
  INFO(op << " -> " << a.body.dump());
  REQUIRE(a.status == 200);
  return a.body;
}

void Backfill(Endpoint& e) {
  for (int i = 0; i < 100; ++i) {
    auto n = e.region->BackfillIndexes();
    REQUIRE(n.ok());
  }
}

TEST_CASE("UpdateTable: indexes, billing with throttling, SSE, streams, replicas, validation") {
  Endpoint e;
  e.CreateOrders();
  for (int i = 0; i < 3; ++i)
    e.PutOrder("p", i, {{"cat", {{"S", i < 2 ? "red" : "blue"}}}, {"x", {{"N", "1"}}}});
  e.PutOrder("p", 9);  // no "cat": not in the index

  // Validation, with DynamoDB's names and messages; none of it changes the table.
  CHECK(e.Fails("UpdateTable", {{"TableName", "orders"}}, "ValidationException").message() ==
        "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
        "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required");
  CHECK(e.Fails("UpdateTable", {{"TableName", "nothere"}, {"BillingMode", "PAY_PER_REQUEST"}},
                "ResourceNotFoundException")
            .message() == "Requested resource not found: Table: nothere not found");
  json create_local = {{"TableName", "orders"},
                       {"ReplicaUpdates", {{{"Create", {{"RegionName", "us-east-1"}}}}}}};
  CHECK(e.Fails("UpdateTable", create_local, "ValidationException").message() ==
        "Cannot add, delete, or update the local region through ReplicaUpdates. Use "
        "CreateTable, DeleteTable, or UpdateTable as required.");
  json two = {
      {"TableName", "orders"},
      {"ReplicaUpdates",
       {{{"Create", {{"RegionName", "us-west-2"}}}}, {{"Delete", {{"RegionName", "x-1"}}}}}}};
  e.Fails("UpdateTable", two, "ValidationException");
  json mixed = {{"TableName", "orders"},
                {"BillingMode", "PAY_PER_REQUEST"},
                {"ReplicaUpdates", {{{"Create", {{"RegionName", "us-west-2"}}}}}}};
  e.Fails("UpdateTable", mixed, "ValidationException");
  CHECK(e.Fails("UpdateTable", {{"TableName", "orders"}, {"BillingMode", "PROVISIONED"}},
                "ValidationException")
            .message() ==
        "One or more parameter values were invalid: ProvisionedThroughput must be specified "
        "when BillingMode is PROVISIONED");
  json gsi = {{"TableName", "orders"},
              {"AttributeDefinitions", {{{"AttributeName", "cat"}, {"AttributeType", "S"}}}},
              {"GlobalSecondaryIndexUpdates",
               {{{"Create",
                  {{"IndexName", "by-cat"},
                   {"KeySchema", {{{"AttributeName", "cat"}, {"KeyType", "HASH"}}}},
                   {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}}}}}}};
  json undefined = gsi;
  undefined.erase("AttributeDefinitions");
  CHECK(
      e.Fails("UpdateTable", undefined, "ValidationException")
          .message()
          .find("Some index key attributes are not defined in AttributeDefinitions. Keys: [cat]") !=
      std::string::npos);
  json t = e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK_FALSE(t.contains("GlobalSecondaryIndexes"));
  CHECK(t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST");

  // A GSI: CREATING while it backfills, then ACTIVE; Query by IndexName gives its projection.
  json created = e.Ok("UpdateTable", gsi)["TableDescription"];
  REQUIRE(created["GlobalSecondaryIndexes"].size() == 1);
  CHECK(created["GlobalSecondaryIndexes"][0]["IndexName"] == "by-cat");
  CHECK(created["GlobalSecondaryIndexes"][0]["Projection"]["ProjectionType"] == "KEYS_ONLY");
  CHECK(created["GlobalSecondaryIndexes"][0]["IndexStatus"] == "CREATING");
  CHECK(created["GlobalSecondaryIndexes"][0]["Backfilling"] == true);
  // A Query of `index` for cat = "red".
  auto red_in = [](const std::string& index) {
    return json{{"TableName", "orders"},
                {"IndexName", index},
                {"KeyConditionExpression", "cat = :c"},
                {"ExpressionAttributeValues", {{":c", {{"S", "red"}}}}}};
  };
  // While it backfills: no reads of it, and no other index change.
  CHECK(e.Fails("Query", red_in("by-cat"), "ValidationException").message() ==
        "Cannot read from backfilling global secondary index: by-cat");
  json second = gsi;
  second["GlobalSecondaryIndexUpdates"][0]["Create"]["IndexName"] = "by-cat-2";
  CHECK(e.Fails("UpdateTable", second, "LimitExceededException").message() ==
        "Subscriber limit exceeded: Only 1 online index can be created or deleted "
        "simultaneously per table");
  Backfill(e);
  t = e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE");
  CHECK(t["GlobalSecondaryIndexes"][0]["KeySchema"][0]["AttributeName"] == "cat");
  json q = e.Ok("Query", red_in("by-cat"));
  REQUIRE(q["Count"] == 2);
  for (const json& item : q["Items"]) {
    CHECK(item.contains("pk"));
    CHECK(item.contains("sk"));
    CHECK(item["cat"] == json{{"S", "red"}});
    CHECK_FALSE(item.contains("x"));  // KEYS_ONLY
  }
  CHECK(e.Fails("Query", red_in("nope"), "ValidationException").message() ==
        "The table does not have the specified index: nope");
  // Scan of the index: the items that have its key, in its projection.
  json scanned = e.Ok("Scan", {{"TableName", "orders"}, {"IndexName", "by-cat"}});
  CHECK(scanned["Count"] == 3);
  for (const json& item : scanned["Items"]) {
    CHECK(item.contains("cat"));
    CHECK_FALSE(item.contains("x"));
  }
  CHECK(e.Ok("Scan", {{"TableName", "orders"}, {"IndexName", "by-cat"}, {"Limit", 2}})["Count"] ==
        2);
  CHECK(e.Fails("Scan", {{"TableName", "orders"}, {"IndexName", "nope"}}, "ValidationException")
            .message() == "The table does not have the specified index: nope");
  e.Fails("UpdateTable",
          {{"TableName", "orders"},
           {"GlobalSecondaryIndexUpdates", {{{"Delete", {{"IndexName", "nope"}}}}}}},
          "ResourceNotFoundException");
  // Deleting it: gone from DescribeTable and from reads.
  e.Ok("UpdateTable", {{"TableName", "orders"},
                       {"GlobalSecondaryIndexUpdates", {{{"Delete", {{"IndexName", "by-cat"}}}}}}});
  CHECK_FALSE(
      e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"].contains("GlobalSecondaryIndexes"));
  CHECK(e.Fails("Scan", {{"TableName", "orders"}, {"IndexName", "by-cat"}}, "ValidationException")
            .message() == "The table does not have the specified index: by-cat");

  // SSE, deletion protection and the stream's view type, which GetRecords then follows.
  e.Ok("UpdateTable", {{"TableName", "orders"},
                       {"SSESpecification", {{"Enabled", true}, {"SSEType", "KMS"}}},
                       {"DeletionProtectionEnabled", true}});
  e.Ok("UpdateTable",
       {{"TableName", "orders"},
        {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "KEYS_ONLY"}}}});
  t = e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["SSEDescription"]["Status"] == "ENABLED");
  CHECK(t["SSEDescription"]["SSEType"] == "KMS");
  CHECK(t["DeletionProtectionEnabled"] == true);
  CHECK(e.Fails("DeleteTable", {{"TableName", "orders"}}, "ValidationException").message() ==
        "Resource cannot be deleted as it is currently protected against deletion. Disable "
        "deletion protection first.");
  CHECK(t["StreamSpecification"]["StreamViewType"] == "KEYS_ONLY");
  CHECK(
      e.Fails("UpdateTable",
              {{"TableName", "orders"},
               {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "NEW_IMAGE"}}}},
              "ValidationException")
          .message() == "Table already has an enabled stream: TableName: orders");
  std::string arn = t["LatestStreamArn"];
  json sd = Streams(e, "DescribeStream", {{"StreamArn", arn}})["StreamDescription"];
  CHECK(sd["StreamViewType"] == "KEYS_ONLY");
  std::string it = Streams(e, "GetShardIterator",
                           {{"StreamArn", arn},
                            {"ShardId", sd["Shards"][0]["ShardId"]},
                            {"ShardIteratorType", "TRIM_HORIZON"}})["ShardIterator"];
  json records = Streams(e, "GetRecords", {{"ShardIterator", it}})["Records"];
  REQUIRE(records.size() == 4);
  for (const json& r : records) {
    CHECK(r["dynamodb"].contains("Keys"));
    CHECK_FALSE(r["dynamodb"].contains("NewImage"));
    CHECK(r["dynamodb"]["StreamViewType"] == "KEYS_ONLY");
  }
  // A regional table's stream may be disabled (terraform_api_test.cc covers the rest).
  e.Ok("UpdateTable",
       {{"TableName", "orders"}, {"StreamSpecification", {{"StreamEnabled", false}}}});

  // PROVISIONED: writes beyond the WCU are throttled; batches return them unprocessed.
  json prov = e.Ok("UpdateTable",
                   {{"TableName", "orders"},
                    {"BillingMode", "PROVISIONED"},
                    {"ProvisionedThroughput",
                     {{"ReadCapacityUnits", 1}, {"WriteCapacityUnits", 1}}}})["TableDescription"];
  CHECK(prov["BillingModeSummary"]["BillingMode"] == "PROVISIONED");
  CHECK(prov["ProvisionedThroughput"]["WriteCapacityUnits"] == 1);
  Answer throttled;
  for (int i = 0; i < 200 && throttled.status != 400; ++i) {
    throttled = e.Call("PutItem", {{"TableName", "orders"}, {"Item", Key("t", i)}});
  }
  CHECK(throttled.status == 400);
  CHECK(throttled.type() == "ProvisionedThroughputExceededException");
  CHECK(throttled.message().find("provisioned throughput for the table was exceeded") !=
        std::string::npos);
  json batch = json::array();
  for (int i = 0; i < 5; ++i) batch.push_back({{"PutRequest", {{"Item", Key("b", i)}}}});
  Answer b = e.Call("BatchWriteItem", {{"RequestItems", {{"orders", batch}}}});
  if (b.status == 200) {
    CHECK(b.body["UnprocessedItems"]["orders"].size() >= 3);  // at most ~2 s of refill
  } else {
    CHECK(b.type() == "ProvisionedThroughputExceededException");
  }
  CHECK(e.Fails("UpdateTable",
                {{"TableName", "orders"},
                 {"ReplicaUpdates", {{{"Create", {{"RegionName", "us-west-2"}}}}}}},
                "ValidationException")
            .message() == "Table write capacity should either be Pay-Per-Request or AutoScaled.");

  // ReplicaUpdates Create: the table is UPDATING (its new replica CREATING) and takes no other
  // change meanwhile.
  e.Ok("UpdateTable", {{"TableName", "orders"}, {"BillingMode", "PAY_PER_REQUEST"}});
  json added =
      e.Ok("UpdateTable",
           {{"TableName", "orders"},
            {"ReplicaUpdates", {{{"Create", {{"RegionName", "us-west-2"}}}}}}})["TableDescription"];
  CHECK(added["TableStatus"] == "UPDATING");
  CHECK(added["GlobalTableVersion"] == "2019.11.21");
  REQUIRE(added["Replicas"].size() == 1);
  CHECK(added["Replicas"][0]["RegionName"] == "us-west-2");
  CHECK(added["Replicas"][0]["ReplicaStatus"] == "CREATING");
  Answer busy = e.Fails(
      "UpdateTable",
      {{"TableName", "orders"}, {"ReplicaUpdates", {{{"Delete", {{"RegionName", "us-west-2"}}}}}}},
      "ResourceInUseException");
  CHECK(busy.message().find("Attempt to change a resource which is still in use") == 0);
}

TEST_CASE("CreateTable with indexes and settings, and bad ones create nothing") {
  Endpoint e;
  json create = {
      {"TableName", "people"},
      {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
      {"AttributeDefinitions",
       {{{"AttributeName", "id"}, {"AttributeType", "S"}},
        {{"AttributeName", "city"}, {"AttributeType", "S"}}}},
      {"BillingMode", "PAY_PER_REQUEST"},
      {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "NEW_IMAGE"}}},
      {"GlobalSecondaryIndexes",
       {{{"IndexName", "by-city"},
         {"KeySchema", {{{"AttributeName", "city"}, {"KeyType", "HASH"}}}},
         {"Projection", {{"ProjectionType", "INCLUDE"}, {"NonKeyAttributes", {"name"}}}}}}}};
  json bad = create;
  bad["GlobalSecondaryIndexes"][0]["Projection"] = {{"ProjectionType", "INCLUDE"}};
  e.Fails("CreateTable", bad, "ValidationException");
  bad = create;
  bad["GlobalSecondaryIndexes"][0]["KeySchema"][0]["AttributeName"] = "zip";
  e.Fails("CreateTable", bad, "ValidationException");
  CHECK(e.Ok("ListTables", json::object())["TableNames"].empty());

  json t = e.Ok("CreateTable", create)["TableDescription"];
  CHECK(t["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE");
  REQUIRE(t["GlobalSecondaryIndexes"].size() == 1);
  CHECK(t["AttributeDefinitions"].size() == 2);
  e.Ok("PutItem", {{"TableName", "people"},
                   {"Item",
                    {{"id", {{"S", "1"}}},
                     {"city", {{"S", "Oslo"}}},
                     {"name", {{"S", "Ann"}}},
                     {"age", {{"N", "40"}}}}}});
  Backfill(e);
  json q = e.Ok("Query", {{"TableName", "people"},
                          {"IndexName", "by-city"},
                          {"KeyConditionExpression", "city = :c"},
                          {"ExpressionAttributeValues", {{":c", {{"S", "Oslo"}}}}}});
  REQUIRE(q["Items"].size() == 1);
  CHECK(q["Items"][0]["name"] == json{{"S", "Ann"}});
  CHECK_FALSE(q["Items"][0].contains("age"));  // INCLUDE name only
}

TEST_CASE("UpdateTimeToLive and DescribeTimeToLive") {
  Endpoint e;
  e.CreateOrders();
  json d = e.Ok("DescribeTimeToLive", {{"TableName", "orders"}});
  CHECK(d["TimeToLiveDescription"] == json{{"TimeToLiveStatus", "DISABLED"}});
  json on = {{"TableName", "orders"},
             {"TimeToLiveSpecification", {{"Enabled", true}, {"AttributeName", "expires"}}}};
  json r = e.Ok("UpdateTimeToLive", on);
  CHECK(r["TimeToLiveSpecification"] == on["TimeToLiveSpecification"]);
  d = e.Ok("DescribeTimeToLive", {{"TableName", "orders"}});
  CHECK(d["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED");
  CHECK(d["TimeToLiveDescription"]["AttributeName"] == "expires");
  CHECK(e.Fails("UpdateTimeToLive", on, "ValidationException").message() ==
        "TimeToLive is already enabled");
  json other = on;
  other["TimeToLiveSpecification"]["AttributeName"] = "other";
  other["TimeToLiveSpecification"]["Enabled"] = false;
  CHECK(e.Fails("UpdateTimeToLive", other, "ValidationException").message() ==
        "TimeToLive is active on a different AttributeName: current AttributeName is expires");
  json off = on;
  off["TimeToLiveSpecification"]["Enabled"] = false;
  e.Ok("UpdateTimeToLive", off);
  d = e.Ok("DescribeTimeToLive", {{"TableName", "orders"}});
  CHECK(d["TimeToLiveDescription"]["TimeToLiveStatus"] == "DISABLED");
  e.Fails("DescribeTimeToLive", {{"TableName", "nothere"}}, "ResourceNotFoundException");
  e.Fails("UpdateTimeToLive", {{"TableName", "orders"}}, "ValidationException");
}

TEST_CASE("protocol errors: unknown operations, bad JSON, unsupported operations") {
  Endpoint e;
  Answer unknown = e.Raw("DynamoDB_20120810.Frobnicate", "{}");
  CHECK(unknown.status == 400);
  CHECK(unknown.type() == "UnknownOperationException");
  CHECK(unknown.body["__type"] == "com.amazon.coral.service#UnknownOperationException");
  CHECK(e.Raw("", "{}").type() == "UnknownOperationException");
  CHECK(e.Raw("Other_2020.ListTables", "{}").type() == "UnknownOperationException");
  Answer bad = e.Raw("DynamoDB_20120810.ListTables", "{\"Limit\": ");
  CHECK(bad.status == 400);
  CHECK(bad.type() == "SerializationException");
  CHECK(e.Raw("DynamoDB_20120810.ListTables", "[1,2]").type() == "SerializationException");
  Answer later = e.Raw("DynamoDB_20120810.ExecuteStatement", "{}");
  CHECK(later.type() == "ValidationException");
  CHECK(later.message().find("not supported yet by gtsim") != std::string::npos);
  json v = e.Ok("ListTables", json::object());
  CHECK(v["TableNames"] == json::array());
  json ep = e.Ok("DescribeEndpoints", json::object());
  CHECK(ep["Endpoints"][0]["CachePeriodInMinutes"] == 1440);
  // Validation errors use DynamoDB's own namespace.
  Answer val = e.Call("DescribeTable", {{"TableName", "x"}});
  CHECK(val.body["__type"] == "com.amazonaws.dynamodb.v20120810#ValidationException");
}

TEST_CASE("keep-alive connections and concurrent clients") {
  Endpoint e;
  e.CreateOrders();
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client client("127.0.0.1", e.port);
      client.set_keep_alive(true);
      httplib::Headers h{{"X-Amz-Target", "DynamoDB_20120810.PutItem"}};
      for (int i = 0; i < 50; ++i) {
        json body = {{"TableName", "orders"}, {"Item", Key("t" + std::to_string(t), i)}};
        auto res = client.Post("/", h, body.dump(), "application/x-amz-json-1.0");
        if (res && res->status == 200) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == 400);
  CHECK(e.Ok("Scan", {{"TableName", "orders"}, {"Select", "COUNT"}})["Count"] == 400);
}

TEST_CASE("pipelined writes on one connection run and are answered in request order") {
  Endpoint e;
  e.CreateOrders();
  // One burst: a put, then increments and a bad request among them, all read in one round of
  // the event loop and committed as one group; each must see the writes before it.
  auto request = [](const std::string& op, const json& body) {
    std::string text = body.dump();
    return "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810." + op +
           "\r\nContent-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
  };
  const json increment = {{"TableName", "orders"},
                          {"Key", Key("p", 1)},
                          {"UpdateExpression", "SET n = n + :one"},
                          {"ExpressionAttributeValues", {{":one", {{"N", "1"}}}}},
                          {"ReturnValues", "UPDATED_NEW"}};
  std::string burst = request(
      "PutItem", {{"TableName", "orders"},
                  {"Item", {{"pk", {{"S", "p"}}}, {"sk", {{"N", "1"}}}, {"n", {{"N", "0"}}}}}});
  for (int i = 0; i < 10; ++i) {
    burst += request("UpdateItem", increment);
    if (i == 4) burst += request("PutItem", {{"TableName", "orders"}});  // no Item: 400
  }
  // A read pipelined after writes sees them, though it runs on the loop thread and they are
  // committed in a group: the writes read so far are committed first.
  burst += request("GetItem", {{"TableName", "orders"}, {"Key", Key("p", 1)}});
  burst += request("DeleteItem",
                   {{"TableName", "orders"}, {"Key", Key("p", 1)}, {"ReturnValues", "ALL_OLD"}});
  burst += request("Query", {{"TableName", "orders"},
                             {"KeyConditionExpression", "pk = :p"},
                             {"ExpressionAttributeValues", {{":p", {{"S", "p"}}}}}});
  RawHttpClient::Client c(e.port);
  c.Send(burst);
  CHECK(c.Read().status == 200);
  for (int i = 0; i < 10; ++i) {
    RawHttpClient::Reply r = c.Read();
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body)["Attributes"]["n"]["N"] == std::to_string(i + 1));
    if (i == 4) {
      RawHttpClient::Reply bad = c.Read();
      CHECK(bad.status == 400);
      CHECK(bad.head.find("x-amzn-RequestId: gtsim") != std::string::npos);
    }
  }
  CHECK(json::parse(c.Read().body)["Item"]["n"]["N"] == "10");
  RawHttpClient::Reply deleted = c.Read();
  CHECK(json::parse(deleted.body)["Attributes"]["n"]["N"] == "10");
  CHECK(json::parse(c.Read().body)["Count"] == 0);  // the Query (a worker's) ran after it
  // The health answer and other paths.
  c.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  RawHttpClient::Reply health = c.Read();
  CHECK(health.status == 200);
  CHECK(health.body == "healthy: dynamodb.us-east-1.amazonaws.com ");
  c.Send("POST /other HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  CHECK(c.Read().status == 404);
}

TEST_CASE("mutated requests never crash and never answer 500 (seeded)") {
  Endpoint e;
  e.CreateOrders();
  e.PutOrder("f", 1, {{"n", {{"N", "1"}}}});
  std::string stream_arn =
      e.Ok("DescribeTable", {{"TableName", "orders"}})["Table"]["LatestStreamArn"];
  const std::vector<std::pair<std::string, json>> seeds = {
      {"PutItem",
       {{"TableName", "orders"},
        {"Item", Key("f", 2)},
        {"ConditionExpression", "attribute_not_exists(pk) AND size(#a) > :v"},
        {"ExpressionAttributeNames", {{"#a", "a"}}},
        {"ExpressionAttributeValues", {{":v", {{"N", "1"}}}}}}},
      {"UpdateItem",
       {{"TableName", "orders"},
        {"Key", Key("f", 1)},
        {"UpdateExpression",
         "SET n = n + :v, l = list_append(if_not_exists(l, :e), :e) REMOVE x[0]"},
        {"ExpressionAttributeValues", {{":v", {{"N", "1"}}}, {":e", {{"L", json::array()}}}}},
        {"ReturnValues", "UPDATED_NEW"}}},
      {"Query",
       {{"TableName", "orders"},
        {"KeyConditionExpression", "pk = :p AND sk BETWEEN :a AND :b"},
        {"Limit", 2},
        {"ExpressionAttributeValues",
         {{":p", {{"S", "f"}}}, {":a", {{"N", "0"}}}, {":b", {{"N", "9"}}}}}}},
      {"Scan",
       {{"TableName", "orders"},
        {"Segment", 0},
        {"TotalSegments", 2},
        {"FilterExpression", "contains(pk, :s)"},
        {"ExpressionAttributeValues", {{":s", {{"S", "f"}}}}}}},
      // Legacy parameters (tests/legacy_params_test.cc), translated into expressions.
      {"UpdateItem",
       {{"TableName", "orders"},
        {"Key", Key("f", 1)},
        {"Expected",
         {{"n",
           {{"ComparisonOperator", "BETWEEN"},
            {"AttributeValueList", {{{"N", "0"}}, {{"N", "9"}}}}}},
          {"v", {{"Exists", false}}}}},
        {"ConditionalOperator", "OR"},
        {"AttributeUpdates",
         {{"n", {{"Action", "ADD"}, {"Value", {{"N", "1"}}}}},
          {"l", {{"Action", "ADD"}, {"Value", {{"L", json::array({{{"S", "x"}}})}}}}},
          {"x", {{"Action", "DELETE"}}}}},
        {"ReturnValues", "UPDATED_OLD"}}},
      {"Query",
       {{"TableName", "orders"},
        {"KeyConditions",
         {{"pk",
           {{"ComparisonOperator", "EQ"}, {"AttributeValueList", json::array({{{"S", "f"}}})}}},
          {"sk",
           {{"ComparisonOperator", "GE"}, {"AttributeValueList", json::array({{{"N", "0"}}})}}}}},
        {"QueryFilter",
         {{"n",
           {{"ComparisonOperator", "IN"}, {"AttributeValueList", {{{"N", "1"}}, {{"N", "2"}}}}}}}},
        {"AttributesToGet", {"pk", "n"}}}},
      {"Scan",
       {{"TableName", "orders"},
        {"ScanFilter",
         {{"pk",
           {{"ComparisonOperator", "BEGINS_WITH"},
            {"AttributeValueList", json::array({{{"S", "f"}}})}}},
          {"n", {{"ComparisonOperator", "NOT_NULL"}}}}},
        {"ConditionalOperator", "AND"}}},
      {"BatchGetItem",
       {{"RequestItems",
         {{"orders", {{"Keys", json::array({Key("f", 1)})}, {"AttributesToGet", {"n", "pk"}}}}}}}},
      {"BatchWriteItem",
       {{"RequestItems", {{"orders", {{{"PutRequest", {{"Item", Key("g", 1)}}}}}}}}}},
      {"DynamoDBStreams_20120810.GetShardIterator",
       {{"StreamArn", stream_arn},
        {"ShardId", "shardId-00000000000000000001-00000000"},
        {"ShardIteratorType", "AT_SEQUENCE_NUMBER"},
        {"SequenceNumber", "000000000000000000001"}}},
      {"DynamoDBStreams_20120810.GetRecords",
       {{"ShardIterator",
         stream_arn + "|shardId-1|0|" + std::to_string(absl::ToUnixMicros(absl::Now()))},
        {"Limit", 5}}},
      {"TransactWriteItems",
       {{"ClientRequestToken", "t"},
        {"TransactItems",
         {{{"Update",
            {{"TableName", "orders"},
             {"Key", Key("f", 1)},
             {"UpdateExpression", "SET n = n + :v"},
             {"ConditionExpression", "n < :v"},
             {"ExpressionAttributeValues", {{":v", {{"N", "10"}}}}}}}},
          {{"ConditionCheck",
            {{"TableName", "orders"},
             {"Key", Key("f", 2)},
             {"ConditionExpression", "attribute_exists(pk)"}}}}}}}},
      {"UpdateTable",
       {{"TableName", "orders"},
        {"AttributeDefinitions", {{{"AttributeName", "c"}, {"AttributeType", "S"}}}},
        {"GlobalSecondaryIndexUpdates",
         {{{"Create",
            {{"IndexName", "g1"},
             {"KeySchema", {{{"AttributeName", "c"}, {"KeyType", "HASH"}}}},
             {"Projection", {{"ProjectionType", "INCLUDE"}, {"NonKeyAttributes", {"n"}}}}}}}}}}},
      {"UpdateTable",
       {{"TableName", "orders"},
        {"BillingMode", "PROVISIONED"},
        {"ProvisionedThroughput", {{"ReadCapacityUnits", 100}, {"WriteCapacityUnits", 100}}},
        {"SSESpecification", {{"Enabled", true}, {"SSEType", "KMS"}}},
        {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "NEW_IMAGE"}}}}},
      {"UpdateTimeToLive",
       {{"TableName", "orders"},
        {"TimeToLiveSpecification", {{"Enabled", true}, {"AttributeName", "exp"}}}}},
      {"Query",
       {{"TableName", "orders"},
        {"IndexName", "g1"},
        {"KeyConditionExpression", "c = :c"},
        {"ExpressionAttributeValues", {{":c", {{"S", "x"}}}}}}},
      {"CreateTable",
       {{"TableName", "fuzzed"},
        {"KeySchema", {{{"AttributeName", "id"}, {"KeyType", "HASH"}}}},
        {"AttributeDefinitions", {{{"AttributeName", "id"}, {"AttributeType", "S"}}}},
        {"BillingMode", "PAY_PER_REQUEST"}}},
  };
  std::mt19937 rng(20260522);
  const std::string alphabet = "{}[]\":,0123456789.-eE#:() =<>abcSNLMpksz\\u00";
  int answered = 0;
  for (int i = 0; i < 3000; ++i) {
    const auto& [op, body] = seeds[rng() % seeds.size()];
    std::string text = body.dump();
    int edits = 1 + rng() % 4;
    for (int k = 0; k < edits && !text.empty(); ++k) {
      size_t pos = rng() % text.size();
      switch (rng() % 3) {
        case 0:
          text[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          text.erase(pos, 1 + rng() % 3);
          break;
        default:
          text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
      }
    }
    std::string target = op.find('.') == std::string::npos ? "DynamoDB_20120810." + op : op;
    DynamoDbEndpoint::Reply r = e.endpoint->Handle(target, text);
    INFO(op << " " << text << " -> " << r.body);
    REQUIRE((r.http_status == 200 || r.http_status == 400));
    json parsed = json::parse(r.body, nullptr, false);
    REQUIRE_FALSE(parsed.is_discarded());
    if (r.http_status == 400) REQUIRE(parsed.contains("__type"));
    ++answered;
  }
  CHECK(answered == 3000);
}

TEST_CASE("Start reports a busy port, and Stop is idempotent") {
  Endpoint e;
  DynamoDbEndpoint other(e.region.get());
  auto busy = other.Start("127.0.0.1:" + std::to_string(e.port));
  CHECK(absl::IsUnavailable(busy.status()));
  CHECK(absl::IsInvalidArgument(other.Start("nonsense").status()));
  other.Stop();
  other.Stop();
}

TEST_CASE("cluster.json files from before the endpoint still load, without an endpoint") {
  std::string dir =
      std::filesystem::temp_directory_path() / ("gtsim-endpoint-old-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ofstream out(dir + "/cluster.json");
    out << R"({"version": 1, "partitions": [], "regions": [{"name": "us-east-1", "port": 7001,
              "address": "127.0.0.1:7001", "pid": 0, "clock_skew_us": 0,
              "data_dir": ")"
        << dir << R"(/us-east-1"}]})";
  }
  auto loaded = LocalCluster::Load(dir, "/bin/true");
  INFO(loaded.status().ToString());
  REQUIRE(loaded.ok());
  REQUIRE(loaded->regions().size() == 1);
  CHECK(loaded->regions()[0].dynamodb_port == 0);
  CHECK(loaded->regions()[0].dynamodb_url().empty());
  // Saved again, it records the field; new clusters get a port of their own.
  REQUIRE(loaded->Save().ok());
  std::filesystem::remove_all(dir);
  auto fresh = LocalCluster::Create(dir, {"us-east-1", "us-west-2"}, "/bin/true");
  REQUIRE(fresh.ok());
  for (const auto& r : fresh->regions()) {
    CHECK(r.dynamodb_port > 0);
    CHECK(r.dynamodb_port != r.port);
    CHECK(r.dynamodb_url() == "http://127.0.0.1:" + std::to_string(r.dynamodb_port));
  }
  auto reloaded = LocalCluster::Load(dir, "/bin/true");
  REQUIRE(reloaded.ok());
  CHECK(reloaded->regions()[1].dynamodb_port == fresh->regions()[1].dynamodb_port);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

TEST_CASE("Query of a GSI pages: LastEvaluatedKey holds index and table keys, 1 MB pages too") {
  Endpoint e;
  e.CreateOrders();
  e.Ok("UpdateTable",
       {{"TableName", "orders"},
        {"AttributeDefinitions", {{{"AttributeName", "cat"}, {"AttributeType", "S"}}}},
        {"GlobalSecondaryIndexUpdates",
         {{{"Create",
            {{"IndexName", "by-cat"},
             {"KeySchema", {{{"AttributeName", "cat"}, {"KeyType", "HASH"}}}},
             {"Projection", {{"ProjectionType", "ALL"}}}}}}}}});
  // 30 items of 100 KB in one index partition (no index range key: ordered by table key).
  std::string filler(100 * 1024, 'p');
  for (int i = 0; i < 30; ++i) {
    e.PutOrder(i % 2 ? "odd" : "even", i, {{"cat", {{"S", "c"}}}, {"f", {{"S", filler}}}});
  }
  Backfill(e);
  json req = {{"TableName", "orders"},
              {"IndexName", "by-cat"},
              {"KeyConditionExpression", "cat = :c"},
              {"ExpressionAttributeValues", {{":c", {{"S", "c"}}}}}};
  for (bool forward : {true, false}) {
    INFO("forward " << forward);
    for (int limit : {0, 7}) {
      INFO("limit " << limit);
      json page = req;
      page["ScanIndexForward"] = forward;
      if (limit) page["Limit"] = limit;
      std::vector<std::string> seen;
      int pages = 0;
      while (true) {
        REQUIRE(++pages < 20);
        json r = e.Ok("Query", page);
        CHECK(r["Count"].get<int>() <= (limit ? limit : 11));  // 1 MB: at most 11 of 100 KB
        for (const json& item : r["Items"]) {
          seen.push_back(item["pk"]["S"].get<std::string>() + item["sk"]["N"].get<std::string>());
        }
        if (!r.contains("LastEvaluatedKey")) break;
        json lek = r["LastEvaluatedKey"];
        CHECK(lek.size() == 3);
        CHECK(lek.contains("cat"));
        CHECK(lek.contains("pk"));
        CHECK(lek.contains("sk"));
        page["ExclusiveStartKey"] = lek;
      }
      CHECK(seen.size() == 30);
      CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 30);
      // Table key order ("even" < "odd", then sk), reversed when backward.
      CHECK(seen.front() == (forward ? "even0" : "odd29"));
      CHECK(pages == (limit ? 5 : 3));  // 7+7+7+7+2 or 11+11+8
    }
  }
  json bad = req;
  bad["ExclusiveStartKey"] = Key("even", 0);  // a table key only
  CHECK(e.Fails("Query", bad, "ValidationException").message() ==
        "The provided starting key is invalid: The provided key element does not match the "
        "schema");
  // Scan of the index resumes from its LastEvaluatedKey (index key included) too.
  json scan = {{"TableName", "orders"}, {"IndexName", "by-cat"}, {"Limit", 8}};
  int scanned = 0;
  for (int pages = 1;; ++pages) {
    REQUIRE(pages < 20);
    json r = e.Ok("Scan", scan);
    scanned += r["Count"].get<int>();
    if (!r.contains("LastEvaluatedKey")) break;
    CHECK(r["LastEvaluatedKey"].contains("cat"));
    scan["ExclusiveStartKey"] = r["LastEvaluatedKey"];
  }
  CHECK(scanned == 30);
}

TEST_CASE("PROVISIONED read capacity: reads throttle, batches return UnprocessedKeys") {
  Endpoint e;
  e.CreateOrders();
  for (int i = 0; i < 10; ++i) e.PutOrder("r", i);
  e.Ok("UpdateTable",
       {{"TableName", "orders"},
        {"BillingMode", "PROVISIONED"},
        {"ProvisionedThroughput", {{"ReadCapacityUnits", 1}, {"WriteCapacityUnits", 100}}}});
  json get = {{"TableName", "orders"}, {"Key", Key("r", 0)}, {"ConsistentRead", true}};
  Answer throttled;
  for (int i = 0; i < 200 && throttled.status != 400; ++i) throttled = e.Call("GetItem", get);
  CHECK(throttled.type() == "ProvisionedThroughputExceededException");
  json keys = json::array();
  for (int i = 0; i < 10; ++i) keys.push_back(Key("r", i));
  json batch = {{"RequestItems", {{"orders", {{"Keys", keys}, {"ConsistentRead", true}}}}}};
  // RCU 1 pays for at most about one strongly consistent read per second: the rest come back
  // unprocessed, or the whole call is throttled when not one fits.
  Answer b = e.Call("BatchGetItem", batch);
  if (b.status == 200) {
    CHECK(b.body["UnprocessedKeys"]["orders"]["Keys"].size() >= 8);
    CHECK(b.body["UnprocessedKeys"]["orders"]["ConsistentRead"] == true);
    CHECK(b.body["Responses"]["orders"].size() +
              b.body["UnprocessedKeys"]["orders"]["Keys"].size() ==
          10);
  } else {
    CHECK(b.type() == "ProvisionedThroughputExceededException");
  }
  json tget = {{"TransactItems", json::array()}};
  for (int i = 0; i < 3; ++i) {
    tget["TransactItems"].push_back({{"Get", {{"TableName", "orders"}, {"Key", Key("r", i)}}}});
  }
  // Transactional reads cost double: 6 units never fit a bucket of 1 twice in a row.
  Answer t1 = e.Call("TransactGetItems", tget);
  Answer t2 = e.Call("TransactGetItems", tget);
  CHECK((t1.status == 400 || t2.status == 400));
  e.Ok("UpdateTable", {{"TableName", "orders"}, {"BillingMode", "PAY_PER_REQUEST"}});
  for (int i = 0; i < 20; ++i) e.Ok("GetItem", get);
  CHECK(e.Ok("BatchGetItem", batch)["UnprocessedKeys"].empty());
}

TEST_CASE("TransactWriteItems: 4 MB of items at most; item operations on a missing table") {
  Endpoint e;
  e.CreateOrders();
  std::string big(390 * 1024, 'x');
  json items = json::array();
  for (int i = 0; i < 11; ++i) {
    json item = Key("t", i);
    item["v"] = {{"S", big}};
    items.push_back({{"Put", {{"TableName", "orders"}, {"Item", item}}}});
  }
  Answer a = e.Fails("TransactWriteItems", {{"TransactItems", items}}, "ValidationException");
  CHECK(a.message().find("4 MB") != std::string::npos);
  CHECK_FALSE(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("t", 0)}}).contains("Item"));
  // Updates that grow items past the aggregate cancel the transaction.
  json ten = items;
  ten.erase(10);
  e.Ok("TransactWriteItems", {{"TransactItems", ten}});
  json grow = {{"Update",
                {{"TableName", "orders"},
                 {"Key", Key("t", 10)},
                 {"UpdateExpression", "SET v = :v"},
                 {"ExpressionAttributeValues", {{":v", {{"S", big}}}}}}}};
  json mixed = json::array({grow});
  for (int i = 0; i < 10; ++i) {
    mixed.push_back({{"Update",
                      {{"TableName", "orders"},
                       {"Key", Key("t", i)},
                       {"UpdateExpression", "SET w = :w"},
                       {"ExpressionAttributeValues", {{":w", {{"N", "1"}}}}}}}});
  }
  Answer c =
      e.Fails("TransactWriteItems", {{"TransactItems", mixed}}, "TransactionCanceledException");
  CHECK(c.body.dump().find("4 MB") != std::string::npos);
  CHECK_FALSE(e.Ok("GetItem", {{"TableName", "orders"}, {"Key", Key("t", 10)}}).contains("Item"));
  CHECK(e.Fails("GetItem", {{"TableName", "nothere"}, {"Key", Key("t", 0)}},
                "ResourceNotFoundException")
            .message() == "Requested resource not found");
  CHECK(
      e.Fails("DescribeTable", {{"TableName", "nothere"}}, "ResourceNotFoundException").message() ==
      "Requested resource not found: Table: nothere not found");
}

}  // namespace
}  // namespace gtsim
