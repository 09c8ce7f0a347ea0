// The in-process endpoint fixture of endpoint_tests: a Region with in-memory storage
// ("us-east-1" of us-east-1 + us-west-2) served by a DynamoDbEndpoint on a free 127.0.0.1 port,
// and helpers that call it over real HTTP and check DynamoDB's answer shapes.
#pragma once

#include <httplib.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include "region/http/dynamodb_endpoint.h"
#include "region/region.h"

namespace gtsim {
namespace endpoint_test {

using json = nlohmann::json;

struct Answer {
  int status = 0;
  json body;
  std::string type() const {
    std::string t = body.value("__type", "");
    size_t hash = t.find('#');
    return hash == std::string::npos ? t : t.substr(hash + 1);
  }
  std::string message() const { return body.value("message", ""); }
};

struct Endpoint {
  SystemClock clock;
  std::unique_ptr<Region> region;
  std::unique_ptr<DynamoDbEndpoint> endpoint;
  int port = 0;

  Endpoint() {
    auto storage = Storage::Open(":memory:", "us-east-1");
    REQUIRE(storage.ok());
    auto r = Region::Open("us-east-1", {"us-east-1", "us-west-2"}, *std::move(storage), &clock);
    REQUIRE(r.ok());
    region = *std::move(r);
    endpoint = std::make_unique<DynamoDbEndpoint>(region.get());
    auto bound = endpoint->Start("127.0.0.1:0");
    INFO(bound.status().ToString());
    REQUIRE(bound.ok());
    port = *bound;
  }
  ~Endpoint() { endpoint->Stop(); }

  Answer Raw(const std::string& target, const std::string& body) {
    httplib::Client client("127.0.0.1", port);
    httplib::Headers headers;
    if (!target.empty()) headers.emplace("X-Amz-Target", target);
    auto res = client.Post("/", headers, body, "application/x-amz-json-1.0");
    REQUIRE(res);
    Answer a;
    a.status = res->status;
    a.body = json::parse(res->body, nullptr, false);
    REQUIRE_FALSE(a.body.is_discarded());
    CHECK(res->get_header_value("Content-Type") == "application/x-amz-json-1.0");
    return a;
  }
  Answer Call(const std::string& op, const json& body) {
    return Raw("DynamoDB_20120810." + op, body.dump());
  }
  json Ok(const std::string& op, const json& body) {
    Answer a = Call(op, body);
    INFO(op << " " << body.dump() << " -> " << a.body.dump());
    REQUIRE(a.status == 200);
    return a.body;
  }
  Answer Fails(const std::string& op, const json& body, const std::string& type) {
    Answer a = Call(op, body);
    INFO(op << " " << body.dump() << " -> " << a.body.dump());
    CHECK(a.status == 400);
    CHECK(a.type() == type);
    return a;
  }

  // "orders": pk (S) + sk (N).
  void CreateOrders() {
    Ok("CreateTable", {{"TableName", "orders"},
                       {"KeySchema",
                        {{{"AttributeName", "pk"}, {"KeyType", "HASH"}},
                         {{"AttributeName", "sk"}, {"KeyType", "RANGE"}}}},
                       {"AttributeDefinitions",
                        {{{"AttributeName", "pk"}, {"AttributeType", "S"}},
                         {{"AttributeName", "sk"}, {"AttributeType", "N"}}}},
                       {"BillingMode", "PAY_PER_REQUEST"}});
  }
  void PutOrder(const std::string& pk, int sk, const json& extra = json::object()) {
    json item = {{"pk", {{"S", pk}}}, {"sk", {{"N", std::to_string(sk)}}}};
    for (const auto& [k, v] : extra.items()) item[k] = v;
    Ok("PutItem", {{"TableName", "orders"}, {"Item", item}});
  }
};

inline json Key(const std::string& pk, int sk) {
  return {{"pk", {{"S", pk}}}, {"sk", {{"N", std::to_string(sk)}}}};
}

}  // namespace endpoint_test
}  // namespace gtsim
