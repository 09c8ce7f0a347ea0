// What the Terraform AWS provider (and other clients, issue 12) call besides items: tags, point-in-
// time recovery, WarmThroughput in DescribeTable, KMS DescribeKey on the same URL, disabling a
// regional table's stream, the 2017.11.29 global-table operations, local secondary indexes and
// ReturnConsumedCapacity.

#include <httplib.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/endpoint_fixture.h"

namespace gtsim {
namespace {

using endpoint_test::Answer;
using endpoint_test::Endpoint;
using endpoint_test::Key;
using json = nlohmann::json;

const char* kArn = "arn:aws:dynamodb:us-east-1:000000000000:table/orders";

json Tags(std::initializer_list<std::pair<const char*, const char*>> kv) {
  json out = json::array();
  for (const auto& [k, v] : kv) out.push_back({{"Key", k}, {"Value", v}});
  return out;
}

TEST_CASE("TagResource, UntagResource and ListTagsOfResource keep this replica's tags",
          "[endpoint][terraform][tags]") {
  Endpoint ep;
  ep.Ok("CreateTable",
        {{"TableName", "orders"},
         {"KeySchema", {{{"AttributeName", "pk"}, {"KeyType", "HASH"}}}},
         {"AttributeDefinitions", {{{"AttributeName", "pk"}, {"AttributeType", "S"}}}},
         {"BillingMode", "PAY_PER_REQUEST"},
         {"Tags", Tags({{"team", "payments"}})}});
  CHECK(ep.Ok("ListTagsOfResource", {{"ResourceArn", kArn}})["Tags"] ==
        Tags({{"team", "payments"}}));
  ep.Ok("TagResource", {{"ResourceArn", kArn}, {"Tags", Tags({{"env", "test"}, {"team", "x"}})}});
  CHECK(ep.Ok("ListTagsOfResource", {{"ResourceArn", kArn}})["Tags"] ==
        Tags({{"env", "test"}, {"team", "x"}}));
  ep.Ok("UntagResource", {{"ResourceArn", kArn}, {"TagKeys", {"team", "absent"}}});
  CHECK(ep.Ok("ListTagsOfResource", {{"ResourceArn", kArn}})["Tags"] == Tags({{"env", "test"}}));

  SECTION("DynamoDB's refusals, nothing written") {
    CHECK(ep.Fails("TagResource", {{"ResourceArn", kArn}, {"Tags", json::array()}},
                   "ValidationException")
              .message() == "Atleast one Tag needs to be provided as Input.");
    CHECK(ep.Fails("ListTagsOfResource", json::object(), "ValidationException").message() ==
          "Invalid TableArn");
    std::string index_arn = std::string(kArn) + "/index/byX";
    CHECK(ep.Fails("ListTagsOfResource", {{"ResourceArn", index_arn}}, "ValidationException")
              .message() == "Invalid TableArn: Invalid ResourceArn provided as input " + index_arn);
    // Another region's ARN names another replica, whose tags are its own.
    std::string west = "arn:aws:dynamodb:us-west-2:000000000000:table/orders";
    CHECK(ep.Fails("ListTagsOfResource", {{"ResourceArn", west}}, "ResourceNotFoundException")
              .message() == "Requested resource not found: ResourcArn: " + west + " not found");
    ep.Fails("TagResource", {{"ResourceArn", kArn}, {"Tags", Tags({{"aws:x", "1"}})}},
             "ValidationException");
    ep.Fails("TagResource",
             {{"ResourceArn", kArn}, {"Tags", Tags({{"k", std::string(257, 'v').c_str()}})}},
             "ValidationException");
    json many = json::array();
    for (int i = 0; i < 50; ++i) many.push_back({{"Key", "k" + std::to_string(i)}, {"Value", "v"}});
    ep.Fails("TagResource", {{"ResourceArn", kArn}, {"Tags", many}}, "ValidationException");
    CHECK(ep.Ok("ListTagsOfResource", {{"ResourceArn", kArn}})["Tags"] == Tags({{"env", "test"}}));
  }
}

TEST_CASE("DescribeContinuousBackups and UpdateContinuousBackups: PITR per replica",
          "[endpoint][terraform][pitr]") {
  Endpoint ep;
  ep.CreateOrders();
  json d = ep.Ok("DescribeContinuousBackups", {{"TableName", "orders"}});
  CHECK(d["ContinuousBackupsDescription"]["ContinuousBackupsStatus"] == "ENABLED");
  CHECK(d["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"] ==
        json{{"PointInTimeRecoveryStatus", "DISABLED"}});
  json u = ep.Ok("UpdateContinuousBackups",
                 {{"TableName", "orders"},
                  {"PointInTimeRecoverySpecification", {{"PointInTimeRecoveryEnabled", true}}}});
  json pitr = u["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"];
  CHECK(pitr["PointInTimeRecoveryStatus"] == "ENABLED");
  CHECK(pitr["RecoveryPeriodInDays"] == 35);
  CHECK(pitr["EarliestRestorableDateTime"].get<double>() <=
        pitr["LatestRestorableDateTime"].get<double>());
  d = ep.Ok("DescribeContinuousBackups", {{"TableName", "orders"}});
  CHECK(d["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
         ["PointInTimeRecoveryStatus"] == "ENABLED");
  ep.Ok("UpdateContinuousBackups",
        {{"TableName", "orders"},
         {"PointInTimeRecoverySpecification", {{"PointInTimeRecoveryEnabled", false}}}});
  d = ep.Ok("DescribeContinuousBackups", {{"TableName", "orders"}});
  CHECK(d["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
         ["PointInTimeRecoveryStatus"] == "DISABLED");
  ep.Fails("DescribeContinuousBackups", {{"TableName", "nope"}}, "TableNotFoundException");
  ep.Fails("UpdateContinuousBackups", {{"TableName", "orders"}}, "ValidationException");
}

TEST_CASE("DescribeTable has WarmThroughput ACTIVE on the table and every GSI",
          "[endpoint][terraform][warm]") {
  Endpoint ep;
  ep.Ok("CreateTable", {{"TableName", "orders"},
                        {"KeySchema", {{{"AttributeName", "pk"}, {"KeyType", "HASH"}}}},
                        {"AttributeDefinitions",
                         {{{"AttributeName", "pk"}, {"AttributeType", "S"}},
                          {{"AttributeName", "g"}, {"AttributeType", "S"}}}},
                        {"GlobalSecondaryIndexes",
                         {{{"IndexName", "byG"},
                           {"KeySchema", {{{"AttributeName", "g"}, {"KeyType", "HASH"}}}},
                           {"Projection", {{"ProjectionType", "ALL"}}}}}},
                        {"BillingMode", "PAY_PER_REQUEST"}});
  // An index CreateTable names has nothing to backfill: ACTIVE with its table (Terraform's
  // waiter passes at once; a CLI reading right after sees what the endpoint says).
  json t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE");
  CHECK(t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["Status"] == "ACTIVE");
  CHECK_FALSE(t["GlobalSecondaryIndexes"][0].contains("Backfilling"));
  // One added later to a table with an item is CREATING until it has backfilled (gtsim-region
  // runs these steps in the background).
  ep.Ok("PutItem",
        {{"TableName", "orders"}, {"Item", {{"pk", {{"S", "a"}}}, {"g", {{"S", "x"}}}}}});
  ep.Ok("UpdateTable",
        {{"TableName", "orders"},
         {"AttributeDefinitions", {{{"AttributeName", "pk"}, {"AttributeType", "S"}}}},
         {"GlobalSecondaryIndexUpdates",
          {{{"Create",
             {{"IndexName", "byPk"},
              {"KeySchema", {{{"AttributeName", "pk"}, {"KeyType", "HASH"}}}},
              {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}}}}}}});
  t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  REQUIRE(t["GlobalSecondaryIndexes"].size() == 2);
  CHECK(t["GlobalSecondaryIndexes"][1]["IndexName"] == "byPk");
  CHECK(t["GlobalSecondaryIndexes"][1]["WarmThroughput"]["Status"] == "CREATING");
  for (int i = 0; i < 100; ++i) REQUIRE(ep.region->BackfillIndexes().ok());
  t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["WarmThroughput"] ==
        json{{"ReadUnitsPerSecond", 12000}, {"WriteUnitsPerSecond", 4000}, {"Status", "ACTIVE"}});
  CHECK(t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["Status"] == "ACTIVE");
  CHECK(t["GlobalSecondaryIndexes"][1]["WarmThroughput"]["Status"] == "ACTIVE");
}

json GsiTable() {
  return {{"TableName", "orders"},
          {"KeySchema", {{{"AttributeName", "pk"}, {"KeyType", "HASH"}}}},
          {"AttributeDefinitions",
           {{{"AttributeName", "pk"}, {"AttributeType", "S"}},
            {{"AttributeName", "g"}, {"AttributeType", "S"}}}},
          {"GlobalSecondaryIndexes",
           {{{"IndexName", "byG"},
             {"KeySchema", {{{"AttributeName", "g"}, {"KeyType", "HASH"}}}},
             {"Projection", {{"ProjectionType", "ALL"}}}}}},
          {"BillingMode", "PAY_PER_REQUEST"}};
}

TEST_CASE("UpdateTable WarmThroughput raises the table's and an index's, never lowers them",
          "[endpoint][terraform][warm]") {
  Endpoint ep;
  json create = GsiTable();
  create["WarmThroughput"] = {{"ReadUnitsPerSecond", 15000}};
  create["GlobalSecondaryIndexes"][0]["WarmThroughput"] = {{"WriteUnitsPerSecond", 5000}};
  json t = ep.Ok("CreateTable", create)["TableDescription"];
  CHECK(t["WarmThroughput"]["ReadUnitsPerSecond"] == 15000);
  CHECK(t["WarmThroughput"]["WriteUnitsPerSecond"] == 4000);
  CHECK(t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["ReadUnitsPerSecond"] == 12000);
  CHECK(t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["WriteUnitsPerSecond"] == 5000);

  t = ep.Ok("UpdateTable",
            {{"TableName", "orders"},
             {"WarmThroughput",
              {{"ReadUnitsPerSecond", 20000}, {"WriteUnitsPerSecond", 6000}}}})["TableDescription"];
  CHECK(t["WarmThroughput"] ==
        json{{"ReadUnitsPerSecond", 20000}, {"WriteUnitsPerSecond", 6000}, {"Status", "ACTIVE"}});
  // A lower value, or one below the default, is refused and changes nothing.
  Answer lower = ep.Fails(
      "UpdateTable", {{"TableName", "orders"}, {"WarmThroughput", {{"WriteUnitsPerSecond", 5999}}}},
      "ValidationException");
  CHECK(lower.message() ==
        "One or more parameter values were invalid: WarmThroughput can only be increased: "
        "requested WriteUnitsPerSecond 5999 for table is less than its current warm throughput "
        "of 6000");
  CHECK(ep.Fails("UpdateTable",
                 {{"TableName", "orders"}, {"WarmThroughput", {{"ReadUnitsPerSecond", 0}}}},
                 "ValidationException")
            .message() ==
        "1 validation error detected: Value '0' at 'warmThroughput.readUnitsPerSecond' failed to "
        "satisfy constraint: Member must have value greater than or equal to 1");
  ep.Fails("UpdateTable", {{"TableName", "orders"}, {"WarmThroughput", json::object()}},
           "ValidationException");
  // One index, by GlobalSecondaryIndexUpdates Update.
  json gsi_update = {
      {"TableName", "orders"},
      {"GlobalSecondaryIndexUpdates",
       {{{"Update",
          {{"IndexName", "byG"}, {"WarmThroughput", {{"ReadUnitsPerSecond", 30000}}}}}}}}};
  t = ep.Ok("UpdateTable", gsi_update)["TableDescription"];
  json g = t["GlobalSecondaryIndexes"][0]["WarmThroughput"];
  CHECK(g["ReadUnitsPerSecond"] == 30000);
  CHECK(g["WriteUnitsPerSecond"] == 5000);
  gsi_update["GlobalSecondaryIndexUpdates"][0]["Update"]["WarmThroughput"] = {
      {"ReadUnitsPerSecond", 100}};
  CHECK(ep.Fails("UpdateTable", gsi_update, "ValidationException").message() ==
        "One or more parameter values were invalid: WarmThroughput can only be increased: "
        "requested ReadUnitsPerSecond 100 for index byG is less than its current warm "
        "throughput of 30000");
  gsi_update["GlobalSecondaryIndexUpdates"][0]["Update"]["IndexName"] = "nope";
  ep.Fails("UpdateTable", gsi_update, "ResourceNotFoundException");
  t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["WarmThroughput"]["ReadUnitsPerSecond"] == 20000);
  CHECK(t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["ReadUnitsPerSecond"] == 30000);
}

TEST_CASE("OnDemandThroughput: stored and shown for PAY_PER_REQUEST tables and indexes, -1 unset",
          "[endpoint][terraform][ondemand]") {
  Endpoint ep;
  json create = GsiTable();
  create["OnDemandThroughput"] = {{"MaxReadRequestUnits", 100}};
  json t = ep.Ok("CreateTable", create)["TableDescription"];
  CHECK(t["OnDemandThroughput"] ==
        json{{"MaxReadRequestUnits", 100}, {"MaxWriteRequestUnits", -1}});
  CHECK(t["GlobalSecondaryIndexes"][0]["OnDemandThroughput"] ==
        json{{"MaxReadRequestUnits", -1}, {"MaxWriteRequestUnits", -1}});
  t = ep.Ok("UpdateTable",
            {{"TableName", "orders"},
             {"OnDemandThroughput",
              {{"MaxReadRequestUnits", -1}, {"MaxWriteRequestUnits", 50}}}})["TableDescription"];
  CHECK(t["OnDemandThroughput"] == json{{"MaxReadRequestUnits", -1}, {"MaxWriteRequestUnits", 50}});
  t = ep.Ok("UpdateTable",
            {{"TableName", "orders"},
             {"GlobalSecondaryIndexUpdates",
              {{{"Update",
                 {{"IndexName", "byG"},
                  {"OnDemandThroughput", {{"MaxWriteRequestUnits", 7}}}}}}}}})["TableDescription"];
  CHECK(t["GlobalSecondaryIndexes"][0]["OnDemandThroughput"]["MaxWriteRequestUnits"] == 7);
  // DynamoDB's message for a value that is neither -1 nor at least 1.
  CHECK(ep.Fails("UpdateTable",
                 {{"TableName", "orders"}, {"OnDemandThroughput", {{"MaxWriteRequestUnits", 0}}}},
                 "ValidationException")
            .message() ==
        "One or more parameter values were invalid: Requested MaxWriteRequestUnits for "
        "OnDemandThroughput for table is outside of valid range");
  // Not on a PROVISIONED table (and such a table shows none).
  ep.Ok("UpdateTable",
        {{"TableName", "orders"},
         {"BillingMode", "PROVISIONED"},
         {"ProvisionedThroughput", {{"ReadCapacityUnits", 5}, {"WriteCapacityUnits", 5}}}});
  CHECK(ep.Fails("UpdateTable",
                 {{"TableName", "orders"}, {"OnDemandThroughput", {{"MaxReadRequestUnits", 5}}}},
                 "ValidationException")
            .message() ==
        "One or more parameter values were invalid: OnDemandThroughput applies only to "
        "PAY_PER_REQUEST tables, and table orders is PROVISIONED");
  t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK_FALSE(t.contains("OnDemandThroughput"));
  // A PROVISIONED table's warm throughput is its capacity.
  CHECK(t["WarmThroughput"]["ReadUnitsPerSecond"] == 5);
}

TEST_CASE("OnDemandThroughput maxima throttle with ThrottlingException; -1 lifts them",
          "[endpoint][terraform][ondemand]") {
  Endpoint ep;
  ep.CreateOrders();
  for (int i = 0; i < 10; ++i) ep.PutOrder("r", i);
  ep.Ok("UpdateTable",
        {{"TableName", "orders"},
         {"OnDemandThroughput", {{"MaxReadRequestUnits", 1}, {"MaxWriteRequestUnits", 1}}}});
  json get = {{"TableName", "orders"}, {"Key", Key("r", 0)}, {"ConsistentRead", true}};
  Answer throttled;
  for (int i = 0; i < 200 && throttled.status != 400; ++i) throttled = ep.Call("GetItem", get);
  CHECK(throttled.type() == "ThrottlingException");
  CHECK(throttled.message() ==
        "Throughput exceeds the maximum OnDemandThroughput (MaxReadRequestUnits / "
        "MaxWriteRequestUnits) configured for the table.");
  json put = {{"TableName", "orders"}, {"Item", {{"pk", {{"S", "w"}}}, {"sk", {{"N", "1"}}}}}};
  throttled = Answer{};
  for (int i = 0; i < 200 && throttled.status != 400; ++i) throttled = ep.Call("PutItem", put);
  CHECK(throttled.type() == "ThrottlingException");
  // A batch: the writes beyond the maximum come back unprocessed (or all are throttled).
  json writes = json::array();
  for (int i = 0; i < 10; ++i) {
    writes.push_back(
        {{"PutRequest", {{"Item", {{"pk", {{"S", "b"}}}, {"sk", {{"N", std::to_string(i)}}}}}}}});
  }
  Answer b = ep.Call("BatchWriteItem", {{"RequestItems", {{"orders", writes}}}});
  if (b.status == 200) {
    CHECK(b.body["UnprocessedItems"]["orders"].size() >= 8);
  } else {
    CHECK(b.type() == "ThrottlingException");
  }
  ep.Ok("UpdateTable",
        {{"TableName", "orders"},
         {"OnDemandThroughput", {{"MaxReadRequestUnits", -1}, {"MaxWriteRequestUnits", -1}}}});
  for (int i = 0; i < 20; ++i) ep.Ok("GetItem", get);
  for (int i = 0; i < 20; ++i) ep.Ok("PutItem", put);
  CHECK(ep.Ok("BatchWriteItem", {{"RequestItems", {{"orders", writes}}}})["UnprocessedItems"]
            .empty());
}

// KMS's DescribeKey on the DynamoDB URL, in JSON 1.1.
Answer Kms(Endpoint& ep, const json& body) {
  httplib::Client client("127.0.0.1", ep.port);
  auto res = client.Post("/", {{"X-Amz-Target", "TrentService.DescribeKey"}}, body.dump(),
                         "application/x-amz-json-1.1");
  REQUIRE(res);
  CHECK(res->get_header_value("Content-Type") == "application/x-amz-json-1.1");
  return Answer{res->status, json::parse(res->body, nullptr, false)};
}

TEST_CASE("KMS DescribeKey alias/aws/dynamodb answers the region's AWS managed key",
          "[endpoint][terraform][kms]") {
  Endpoint ep;
  Answer a = Kms(ep, {{"KeyId", "alias/aws/dynamodb"}});
  REQUIRE(a.status == 200);
  json m = a.body["KeyMetadata"];
  CHECK(m["KeyManager"] == "AWS");
  CHECK(m["Enabled"] == true);
  CHECK(m["KeyState"] == "Enabled");
  std::string id = m["KeyId"];
  CHECK(id.size() == 36);
  CHECK(m["Arn"] == "arn:aws:kms:us-east-1:000000000000:key/" + id);
  // Stable: the same key by id, by ARN, and on the next call.
  CHECK(Kms(ep, {{"KeyId", id}}).body["KeyMetadata"]["KeyId"] == id);
  CHECK(Kms(ep, {{"KeyId", m["Arn"]}}).body["KeyMetadata"]["KeyId"] == id);
  Answer missing = Kms(ep, {{"KeyId", "alias/other"}});
  CHECK(missing.status == 400);
  CHECK(missing.type() == "NotFoundException");
}

TEST_CASE("A regional table's stream can be disabled", "[endpoint][terraform][streams]") {
  Endpoint ep;
  ep.CreateOrders();
  ep.Ok("UpdateTable",
        {{"TableName", "orders"},
         {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "KEYS_ONLY"}}}});
  ep.Ok("UpdateTable",
        {{"TableName", "orders"}, {"StreamSpecification", {{"StreamEnabled", false}}}});
  json t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK_FALSE(t.contains("StreamSpecification"));
  std::string arn = t["LatestStreamArn"];
  json s = ep.Raw("DynamoDBStreams_20120810.DescribeStream", json{{"StreamArn", arn}}.dump()).body;
  CHECK(s["StreamDescription"]["StreamStatus"] == "DISABLED");
  ep.PutOrder("while-disabled", 1);
  // Enabled again: a new stream, with its own ARN and label.
  ep.Ok("UpdateTable",
        {{"TableName", "orders"},
         {"StreamSpecification", {{"StreamEnabled", true}, {"StreamViewType", "NEW_IMAGE"}}}});
  t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
  CHECK(t["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE");
  std::string new_arn = t["LatestStreamArn"];
  CHECK(new_arn != arn);
  CHECK(t["LatestStreamLabel"] != s["StreamDescription"]["StreamLabel"]);
  CHECK(new_arn.substr(new_arn.size() - t["LatestStreamLabel"].get<std::string>().size()) ==
        t["LatestStreamLabel"]);
  ep.PutOrder("after", 2);
  // The old stream still answers, DISABLED; ListStreams lists both, oldest first.
  s = ep.Raw("DynamoDBStreams_20120810.DescribeStream", json{{"StreamArn", arn}}.dump()).body;
  CHECK(s["StreamDescription"]["StreamStatus"] == "DISABLED");
  json fresh =
      ep.Raw("DynamoDBStreams_20120810.DescribeStream", json{{"StreamArn", new_arn}}.dump()).body;
  CHECK(fresh["StreamDescription"]["StreamStatus"] == "ENABLED");
  json list = ep.Raw("DynamoDBStreams_20120810.ListStreams", json{{"TableName", "orders"}}.dump())
                  .body["Streams"];
  REQUIRE(list.size() == 2);
  CHECK(list[0]["StreamArn"] == arn);
  CHECK(list[1]["StreamArn"] == new_arn);
  // Each stream holds the writes made while it was the table's: the new one only "after"; the
  // write made while the stream was disabled is in neither.
  auto records = [&](const std::string& stream_arn) {
    json d =
        ep.Raw("DynamoDBStreams_20120810.DescribeStream", json{{"StreamArn", stream_arn}}.dump())
            .body["StreamDescription"];
    json it = ep.Raw("DynamoDBStreams_20120810.GetShardIterator",
                     json{{"StreamArn", stream_arn},
                          {"ShardId", d["Shards"][0]["ShardId"]},
                          {"ShardIteratorType", "TRIM_HORIZON"}}
                         .dump())
                  .body;
    json r = ep.Raw("DynamoDBStreams_20120810.GetRecords",
                    json{{"ShardIterator", it["ShardIterator"]}}.dump())
                 .body["Records"];
    std::vector<std::string> keys;
    for (const auto& rec : r) keys.push_back(rec["dynamodb"]["Keys"]["pk"]["S"]);
    return keys;
  };
  CHECK(records(new_arn) == std::vector<std::string>{"after"});
  CHECK(records(arn).empty());
}

TEST_CASE("The 2017.11.29 global-table operations answer as for 2019.11.21 tables",
          "[endpoint][terraform][v2017]") {
  Endpoint ep;
  ep.CreateOrders();
  for (const char* op : {"DescribeGlobalTable", "DescribeGlobalTableSettings", "UpdateGlobalTable",
                         "UpdateGlobalTableSettings"}) {
    INFO(op);
    CHECK(ep.Fails(op, {{"GlobalTableName", "orders"}}, "GlobalTableNotFoundException").message() ==
          "Global table with this name does not exist");
  }
  CHECK(ep.Ok("ListGlobalTables", json::object()) == json{{"GlobalTables", json::array()}});
  CHECK(ep.Fails("CreateGlobalTable",
                 {{"GlobalTableName", "orders"},
                  {"ReplicationGroup",
                   {{{"RegionName", "us-east-1"}}, {{"RegionName", "us-west-2"}}}}},
                 "ValidationException")
            .message() ==
        "One or more parameter values were invalid: DynamoDB global tables version 2017.11.29 is "
        "not supported. We recommend using DynamoDB global tables version 2019.11.21, instead of "
        "version 2017.11.29 (Legacy).");
}

json LsiTable(const json& lsis) {
  return {{"TableName", "orders"},
          {"KeySchema",
           {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
            {{"AttributeName", "sk"}, {"KeyType", "RANGE"}}}},
          {"AttributeDefinitions",
           {{{"AttributeName", "pk"}, {"AttributeType", "S"}},
            {{"AttributeName", "sk"}, {"AttributeType", "N"}},
            {{"AttributeName", "alt"}, {"AttributeType", "S"}}}},
          {"LocalSecondaryIndexes", lsis},
          {"BillingMode", "PAY_PER_REQUEST"}};
}

TEST_CASE("ReturnItemCollectionMetrics SIZE: the item collection of a table with LSIs",
          "[endpoint][terraform][lsi][collections]") {
  Endpoint ep;
  json lsi = {{"IndexName", "byAlt"},
              {"KeySchema",
               {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                {{"AttributeName", "alt"}, {"KeyType", "RANGE"}}}},
              {"Projection", {{"ProjectionType", "ALL"}}}};
  ep.Ok("CreateTable", LsiTable(json::array({lsi})));
  json item = {{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"alt", {{"S", "x"}}}};
  const json expected = {{"ItemCollectionKey", {{"pk", {{"S", "a"}}}}},
                         {"SizeEstimateRangeGB", {0.0, 1.0}}};
  json put = {{"TableName", "orders"}, {"Item", item}, {"ReturnItemCollectionMetrics", "SIZE"}};
  CHECK(ep.Ok("PutItem", put)["ItemCollectionMetrics"] == expected);
  json update = {{"TableName", "orders"},
                 {"Key", {{"pk", {{"S", "a"}}}, {"sk", {{"N", "2"}}}}},
                 {"UpdateExpression", "SET alt = :v"},
                 {"ExpressionAttributeValues", {{":v", {{"S", "y"}}}}},
                 {"ReturnItemCollectionMetrics", "SIZE"}};
  CHECK(ep.Ok("UpdateItem", update)["ItemCollectionMetrics"] == expected);
  json del = {{"TableName", "orders"},
              {"Key", {{"pk", {{"S", "a"}}}, {"sk", {{"N", "2"}}}}},
              {"ReturnItemCollectionMetrics", "SIZE"}};
  CHECK(ep.Ok("DeleteItem", del)["ItemCollectionMetrics"] == expected);
  // NONE, or no parameter: nothing.
  put["ReturnItemCollectionMetrics"] = "NONE";
  CHECK_FALSE(ep.Ok("PutItem", put).contains("ItemCollectionMetrics"));
  put["ReturnItemCollectionMetrics"] = "ALL";
  CHECK(ep.Fails("PutItem", put, "ValidationException").message() ==
        "1 validation error detected: Value 'ALL' at 'returnItemCollectionMetrics' failed to "
        "satisfy constraint: Member must satisfy enum value set: [SIZE, NONE]");

  // Batches and transactions: by table, one entry per item collection written.
  auto put_request = [](const char* pk, int sk) {
    return json{
        {"PutRequest", {{"Item", {{"pk", {{"S", pk}}}, {"sk", {{"N", std::to_string(sk)}}}}}}}};
  };
  json batch =
      ep.Ok("BatchWriteItem",
            {{"RequestItems",
              {{"orders", {put_request("a", 3), put_request("a", 4), put_request("b", 1)}}}},
             {"ReturnItemCollectionMetrics", "SIZE"}});
  REQUIRE(batch["ItemCollectionMetrics"]["orders"].size() == 2);
  CHECK(batch["ItemCollectionMetrics"]["orders"][0]["ItemCollectionKey"] ==
        json{{"pk", {{"S", "a"}}}});
  CHECK(batch["ItemCollectionMetrics"]["orders"][1]["ItemCollectionKey"] ==
        json{{"pk", {{"S", "b"}}}});
  json tx = ep.Ok(
      "TransactWriteItems",
      {{"TransactItems",
        {{{"Put",
           {{"TableName", "orders"}, {"Item", {{"pk", {{"S", "c"}}}, {"sk", {{"N", "1"}}}}}}}}}},
       {"ReturnItemCollectionMetrics", "SIZE"}});
  CHECK(tx["ItemCollectionMetrics"] == json{{"orders",
                                             {{{"ItemCollectionKey", {{"pk", {{"S", "c"}}}}},
                                               {"SizeEstimateRangeGB", {0.0, 1.0}}}}}});

  // A table without local secondary indexes answers none, as DynamoDB.
  Endpoint plain;
  plain.CreateOrders();
  json p = {{"TableName", "orders"},
            {"Item", {{"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}}},
            {"ReturnItemCollectionMetrics", "SIZE"}};
  CHECK_FALSE(plain.Ok("PutItem", p).contains("ItemCollectionMetrics"));
  json b = plain.Ok("BatchWriteItem", {{"RequestItems", {{"orders", {put_request("a", 2)}}}},
                                       {"ReturnItemCollectionMetrics", "SIZE"}});
  CHECK_FALSE(b.contains("ItemCollectionMetrics"));
}

TEST_CASE("LocalSecondaryIndexes: stored, described, queried with ConsistentRead",
          "[endpoint][terraform][lsi]") {
  Endpoint ep;
  json lsi = {{"IndexName", "byAlt"},
              {"KeySchema",
               {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                {{"AttributeName", "alt"}, {"KeyType", "RANGE"}}}},
              {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}};
  SECTION("DynamoDB's refusals") {
    json other_hash = lsi;
    other_hash["KeySchema"][0]["AttributeName"] = "alt";
    other_hash["KeySchema"][1]["AttributeName"] = "sk";
    CHECK(ep.Fails("CreateTable", LsiTable(json::array({other_hash})), "ValidationException")
              .message() ==
          "One or more parameter values were invalid: Index KeySchema does not have the same "
          "leading hash key as table KeySchema for index: byAlt. index hash key: alt, table hash "
          "key: pk");
    json no_range = lsi;
    no_range["KeySchema"].erase(1);
    CHECK(ep.Fails("CreateTable", LsiTable(json::array({no_range})), "ValidationException")
              .message() ==
          "One or more parameter values were invalid: Index KeySchema does not have a range key "
          "for index: byAlt");
    json six = json::array();
    for (int i = 0; i < 6; ++i) {
      json l = lsi;
      l["IndexName"] = "byAlt" + std::to_string(i);
      six.push_back(l);
    }
    CHECK(ep.Fails("CreateTable", LsiTable(six), "ValidationException").message() ==
          "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds "
          "per-table limit of 5");
    ep.Fails("DescribeTable", {{"TableName", "orders"}}, "ResourceNotFoundException");
  }
  SECTION("queried") {
    ep.Ok("CreateTable", LsiTable(json::array({lsi})));
    json t = ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"];
    REQUIRE(t["LocalSecondaryIndexes"].size() == 1);
    CHECK(t["LocalSecondaryIndexes"][0]["IndexName"] == "byAlt");
    CHECK_FALSE(t.contains("GlobalSecondaryIndexes"));
    ep.PutOrder("a", 1, {{"alt", {{"S", "z"}}}, {"v", {{"N", "1"}}}});
    ep.PutOrder("a", 2, {{"alt", {{"S", "y"}}}});
    ep.PutOrder("a", 3);  // no alt: not in the index
    // Created with the table, the index is ACTIVE at once: no backfill.
    json q = ep.Ok("Query", {{"TableName", "orders"},
                             {"IndexName", "byAlt"},
                             {"ConsistentRead", true},
                             {"KeyConditionExpression", "pk = :p"},
                             {"ExpressionAttributeValues", {{":p", {{"S", "a"}}}}}});
    REQUIRE(q["Count"] == 2);
    CHECK(q["Items"][0]["alt"]["S"] == "y");   // in the index's range-key order
    CHECK_FALSE(q["Items"][1].contains("v"));  // KEYS_ONLY
    // An LSI is not a GSI: GlobalSecondaryIndexUpdates cannot delete it.
    ep.Fails("UpdateTable",
             {{"TableName", "orders"},
              {"GlobalSecondaryIndexUpdates", {{{"Delete", {{"IndexName", "byAlt"}}}}}}},
             "ResourceNotFoundException");
  }
}

TEST_CASE("ReturnConsumedCapacity TOTAL and INDEXES in DynamoDB's units",
          "[endpoint][terraform][capacity]") {
  Endpoint ep;
  ep.Ok("CreateTable", {{"TableName", "orders"},
                        {"KeySchema",
                         {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                          {{"AttributeName", "sk"}, {"KeyType", "RANGE"}}}},
                        {"AttributeDefinitions",
                         {{{"AttributeName", "pk"}, {"AttributeType", "S"}},
                          {{"AttributeName", "sk"}, {"AttributeType", "N"}},
                          {{"AttributeName", "g"}, {"AttributeType", "S"}}}},
                        {"GlobalSecondaryIndexes",
                         {{{"IndexName", "byG"},
                           {"KeySchema", {{{"AttributeName", "g"}, {"KeyType", "HASH"}}}},
                           {"Projection", {{"ProjectionType", "KEYS_ONLY"}}}}}},
                        {"BillingMode", "PAY_PER_REQUEST"}});
  std::string big(1500, 'x');  // a ~1.5 KB item: 2 write units, 1 read unit
  json item = {
      {"pk", {{"S", "a"}}}, {"sk", {{"N", "1"}}}, {"g", {{"S", "G"}}}, {"b", {{"S", big}}}};
  json put = ep.Ok("PutItem",
                   {{"TableName", "orders"}, {"Item", item}, {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(put["ConsumedCapacity"] ==
        json{{"TableName", "orders"}, {"CapacityUnits", 3.0}, {"WriteCapacityUnits", 3.0}});
  put = ep.Ok("PutItem",
              {{"TableName", "orders"}, {"Item", item}, {"ReturnConsumedCapacity", "INDEXES"}});
  // The index entry (keys only) is unchanged by the same put: only the table is written.
  CHECK(put["ConsumedCapacity"]["Table"]["CapacityUnits"] == 2.0);
  CHECK_FALSE(put["ConsumedCapacity"].contains("GlobalSecondaryIndexes"));
  json changed = item;
  changed["g"] = {{"S", "H"}};
  put = ep.Ok("PutItem",
              {{"TableName", "orders"}, {"Item", changed}, {"ReturnConsumedCapacity", "INDEXES"}});
  // The index key changed: a delete and a put of a small entry.
  CHECK(put["ConsumedCapacity"]["GlobalSecondaryIndexes"]["byG"]["CapacityUnits"] == 2.0);
  CHECK(put["ConsumedCapacity"]["CapacityUnits"] == 4.0);

  json get =
      ep.Ok("GetItem",
            {{"TableName", "orders"}, {"Key", Key("a", 1)}, {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(get["ConsumedCapacity"]["CapacityUnits"] == 0.5);  // eventually consistent
  get = ep.Ok("GetItem", {{"TableName", "orders"},
                          {"Key", Key("a", 1)},
                          {"ConsistentRead", true},
                          {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(get["ConsumedCapacity"]["ReadCapacityUnits"] == 1.0);
  json q = ep.Ok("Query", {{"TableName", "orders"},
                           {"KeyConditionExpression", "pk = :p"},
                           {"ExpressionAttributeValues", {{":p", {{"S", "a"}}}}},
                           {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(q["ConsumedCapacity"]["CapacityUnits"] == 0.5);
  // Batches and transactions: one object per table; transactions count twice.
  json small = {{"pk", {{"S", "b"}}}, {"sk", {{"N", "1"}}}};
  json bw = ep.Ok("BatchWriteItem",
                  {{"RequestItems", {{"orders", {{{"PutRequest", {{"Item", small}}}}}}}},
                   {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(bw["ConsumedCapacity"] ==
        json::array(
            {{{"TableName", "orders"}, {"CapacityUnits", 1.0}, {"WriteCapacityUnits", 1.0}}}));
  json bg =
      ep.Ok("BatchGetItem", {{"RequestItems", {{"orders", {{"Keys", {Key("a", 1), Key("b", 1)}}}}}},
                             {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(bg["ConsumedCapacity"][0]["CapacityUnits"] == 1.0);  // 2 items, 0.5 each
  json tw = ep.Ok("TransactWriteItems",
                  {{"TransactItems", {{{"Put", {{"TableName", "orders"}, {"Item", small}}}}}},
                   {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(tw["ConsumedCapacity"][0]["CapacityUnits"] == 2.0);
  json tg = ep.Ok("TransactGetItems",
                  {{"TransactItems", {{{"Get", {{"TableName", "orders"}, {"Key", Key("a", 1)}}}}}},
                   {"ReturnConsumedCapacity", "TOTAL"}});
  CHECK(tg["ConsumedCapacity"][0]["ReadCapacityUnits"] == 2.0);
  json none = ep.Ok("PutItem", {{"TableName", "orders"}, {"Item", item}});
  CHECK_FALSE(none.contains("ConsumedCapacity"));
  ep.Fails("PutItem", {{"TableName", "orders"}, {"Item", item}, {"ReturnConsumedCapacity", "ALL"}},
           "ValidationException");
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

TEST_CASE("DescribeTable's TableSizeBytes follows the items; a global table says EVENTUAL",
          "[endpoint][terraform]") {
  endpoint_test::Endpoint ep;
  ep.Ok("CreateTable",
        {{"TableName", "sized"},
         {"KeySchema", {{{"AttributeName", "pk"}, {"KeyType", "HASH"}}}},
         {"AttributeDefinitions", {{{"AttributeName", "pk"}, {"AttributeType", "S"}}}},
         {"BillingMode", "PAY_PER_REQUEST"}});
  auto describe = [&] { return ep.Ok("DescribeTable", {{"TableName", "sized"}})["Table"]; };
  CHECK(describe()["TableSizeBytes"] == 0);
  for (int i = 0; i < 10; ++i) {
    ep.Ok(
        "PutItem",
        {{"TableName", "sized"},
         {"Item",
          {{"pk", {{"S", "k" + std::to_string(i)}}}, {"blob", {{"S", std::string(1000, 'x')}}}}}});
  }
  json t = describe();
  CHECK(t["ItemCount"] == 10);
  CHECK(t["TableSizeBytes"].get<int64_t>() >= 10 * 1000);
  CHECK(t["TableSizeBytes"].get<int64_t>() < 10 * 1200);
  CHECK_FALSE(t.contains("MultiRegionConsistency"));  // a regional table
  ep.Ok("DeleteItem", {{"TableName", "sized"}, {"Key", {{"pk", {{"S", "k0"}}}}}});
  CHECK(describe()["TableSizeBytes"].get<int64_t>() < t["TableSizeBytes"].get<int64_t>());
  ep.Ok("UpdateTable", {{"TableName", "sized"},
                        {"ReplicaUpdates", {{{"Create", {{"RegionName", "us-west-2"}}}}}}});
  CHECK(describe()["MultiRegionConsistency"] == "EVENTUAL");
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

// Issue 12 item 4: each index's ItemCount and IndexSizeBytes are the items it holds (exact at
// every call, as the table's are).
TEST_CASE("DescribeTable's index ItemCount and IndexSizeBytes follow the items each index holds",
          "[endpoint][terraform][lsi]") {
  Endpoint ep;
  json req = LsiTable(json::array({{{"IndexName", "byAlt"},
                                    {"KeySchema",
                                     {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                                      {{"AttributeName", "alt"}, {"KeyType", "RANGE"}}}},
                                    {"Projection", {{"ProjectionType", "ALL"}}}}}));
  req["AttributeDefinitions"].push_back({{"AttributeName", "g"}, {"AttributeType", "S"}});
  req["GlobalSecondaryIndexes"] = {{{"IndexName", "byG"},
                                    {"KeySchema", {{{"AttributeName", "g"}, {"KeyType", "HASH"}}}},
                                    {"Projection", {{"ProjectionType", "ALL"}}}}};
  ep.Ok("CreateTable", req);
  auto describe = [&] { return ep.Ok("DescribeTable", {{"TableName", "orders"}})["Table"]; };
  auto index = [](const json& t, const char* kind) { return t[kind][0]; };
  json t = describe();
  CHECK(index(t, "GlobalSecondaryIndexes")["ItemCount"] == 0);
  CHECK(index(t, "GlobalSecondaryIndexes")["IndexSizeBytes"] == 0);
  CHECK(index(t, "LocalSecondaryIndexes")["ItemCount"] == 0);
  CHECK(index(t, "LocalSecondaryIndexes")["IndexSizeBytes"] == 0);

  // Ten items: every one has alt (in the LSI), the even ones g (in the GSI); the odd ones are
  // larger, so the GSI's size is not the table's scaled.
  for (int i = 0; i < 10; ++i) {
    json item = {{"pk", {{"S", "p"}}},
                 {"sk", {{"N", std::to_string(i)}}},
                 {"alt", {{"S", "a" + std::to_string(i)}}},
                 {"pad", {{"S", std::string(i % 2 ? 900 : 100, 'x')}}}};
    if (i % 2 == 0) item["g"] = {{"S", "g" + std::to_string(i)}};
    ep.Ok("PutItem", {{"TableName", "orders"}, {"Item", item}});
  }
  t = describe();
  json gsi = index(t, "GlobalSecondaryIndexes"), lsi = index(t, "LocalSecondaryIndexes");
  CHECK(t["ItemCount"] == 10);
  CHECK(lsi["ItemCount"] == 10);
  CHECK(lsi["IndexSizeBytes"] == t["TableSizeBytes"]);  // the same items, all projected
  CHECK(gsi["ItemCount"] == 5);
  const int64_t gsi_bytes = gsi["IndexSizeBytes"].get<int64_t>();
  CHECK(gsi_bytes >= 5 * 100);
  CHECK(gsi_bytes < 5 * 200);

  // Losing the GSI key leaves the GSI only; a delete leaves both.
  ep.Ok("UpdateItem", {{"TableName", "orders"},
                       {"Key", {{"pk", {{"S", "p"}}}, {"sk", {{"N", "0"}}}}},
                       {"UpdateExpression", "REMOVE g"}});
  ep.Ok("DeleteItem",
        {{"TableName", "orders"}, {"Key", {{"pk", {{"S", "p"}}}, {"sk", {{"N", "1"}}}}}});
  t = describe();
  gsi = index(t, "GlobalSecondaryIndexes");
  lsi = index(t, "LocalSecondaryIndexes");
  CHECK(t["ItemCount"] == 9);
  CHECK(lsi["ItemCount"] == 9);
  CHECK(lsi["IndexSizeBytes"] == t["TableSizeBytes"]);
  CHECK(gsi["ItemCount"] == 4);
  CHECK(gsi["IndexSizeBytes"].get<int64_t>() < gsi_bytes);
  CHECK(gsi["IndexSizeBytes"].get<int64_t>() >= 4 * 100);
  // UpdateTable's and DeleteTable's TableDescription carry the same figures.
  json updated = ep.Ok(
      "UpdateTable",
      {{"TableName", "orders"}, {"TableClass", "STANDARD_INFREQUENT_ACCESS"}})["TableDescription"];
  CHECK(index(updated, "GlobalSecondaryIndexes")["ItemCount"] == 4);
  CHECK(index(updated, "LocalSecondaryIndexes")["IndexSizeBytes"] == t["TableSizeBytes"]);
  json deleted = ep.Ok("DeleteTable", {{"TableName", "orders"}})["TableDescription"];
  CHECK(index(deleted, "GlobalSecondaryIndexes")["IndexSizeBytes"] == gsi["IndexSizeBytes"]);
}

}  // namespace
}  // namespace gtsim
