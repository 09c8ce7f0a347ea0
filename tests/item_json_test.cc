// Tests of model/item_json.h: DynamoDB's JSON attribute-value form, as the AWS CLI writes it.
#include "model/item_json.h"

#include <catch2/catch.hpp>
#include <string>

namespace gtsim {
namespace {

Item Parse(const std::string& text) {
  auto item = ParseItemJson(text);
  INFO(text << " -> " << item.status().ToString());
  REQUIRE(item.ok());
  return *item;
}

// The error ParseItemJson gives for `text`, which must be InvalidArgument.
std::string ParseError(const std::string& text) {
  auto item = ParseItemJson(text);
  INFO(text);
  REQUIRE_FALSE(item.ok());
  CHECK(item.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(item.status().message());
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

constexpr char kEveryType[] = R"({
  "id": {"S": "o1"},
  "n": {"N": "-1.50"},
  "bin": {"B": "aGk="},
  "yes": {"BOOL": true},
  "nothing": {"NULL": true},
  "m": {"M": {"inner": {"N": "1e2"}, "l": {"L": [{"S": "x"}, {"BOOL": false}]}}},
  "l": {"L": [{"N": "1"}, {"S": "two"}, {"M": {}}]},
  "ss": {"SS": ["b", "a"]},
  "ns": {"NS": ["10", "2.0"]},
  "bs": {"BS": ["AAE=", "//8="]}
})";

TEST_CASE("ParseItemJson reads every attribute type", "[item_json]") {
  Item item = Parse(kEveryType);
  REQUIRE(item.size() == 10);
  CHECK(item["id"] == AttributeValue::S("o1"));
  CHECK(item["n"] == AttributeValue::N("-1.5"));
  CHECK(item["bin"] == AttributeValue::B("hi"));
  CHECK(item["yes"] == AttributeValue::Bool(true));
  CHECK(item["nothing"] == AttributeValue::Null());
  CHECK(item["m"] == AttributeValue::M({{"inner", AttributeValue::N("100")},
                                        {"l", AttributeValue::L({AttributeValue::S("x"),
                                                                 AttributeValue::Bool(false)})}}));
  CHECK(item["l"] == AttributeValue::L({AttributeValue::N("1"), AttributeValue::S("two"),
                                        AttributeValue::M({})}));
  CHECK(item["ss"] == AttributeValue::SS({"a", "b"}));
  CHECK(item["ns"] == AttributeValue::NS({"2", "10"}));
  CHECK(item["bs"] == AttributeValue::BS({std::string("\x00\x01", 2), std::string("\xff\xff", 2)}));
}

TEST_CASE("ItemToJson prints what ParseItemJson reads back", "[item_json]") {
  Item item = Parse(kEveryType);
  nlohmann::json j = ItemToJson(item);
  CHECK(j["n"] == nlohmann::json{{"N", "-1.5"}});
  CHECK(j["bin"] == nlohmann::json{{"B", "aGk="}});
  CHECK(j["nothing"] == nlohmann::json{{"NULL", true}});
  CHECK(j["bs"]["BS"] == nlohmann::json::array({"AAE=", "//8="}));  // sorted by raw bytes
  auto again = ItemFromJson(j);
  REQUIRE(again.ok());
  CHECK(*again == item);
  auto reparsed = ParseItemJson(j.dump());
  REQUIRE(reparsed.ok());
  CHECK(*reparsed == item);
  CHECK(ItemToJson(*reparsed) == j);
}

TEST_CASE("binary values with every byte survive base64", "[item_json]") {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  Item item{{"b", AttributeValue::B(all)}, {"bs", AttributeValue::BS({all, "z"})}};
  auto back = ItemFromJson(ItemToJson(item));
  REQUIRE(back.ok());
  CHECK(*back == item);
}

TEST_CASE("malformed JSON is rejected with InvalidArgument", "[item_json]") {
  for (const std::string bad : {"", "{", "{\"id\": {\"S\": \"1\"}", "{'id': 1}", "not json",
                                "{\"id\": {\"S\": \"1\"}} trailing"}) {
    std::string msg = ParseError(bad);
    CHECK(Contains(msg, "malformed JSON"));
  }
}

TEST_CASE("an item that is not a JSON object is rejected", "[item_json]") {
  for (const std::string bad : {"[]", "42", "\"id\"", "null", "[{\"id\": {\"S\": \"1\"}}]"}) {
    std::string msg = ParseError(bad);
    CHECK(Contains(msg, "JSON object"));
  }
}

TEST_CASE("an unknown type key is rejected, naming the attribute and the valid types",
          "[item_json]") {
  std::string msg = ParseError(R"({"price": {"DECIMAL": "1"}})");
  CHECK(Contains(msg, "price"));
  CHECK(Contains(msg, "DECIMAL"));
  CHECK(Contains(msg, "SS"));
}

TEST_CASE("a value with two type keys, or none, is rejected", "[item_json]") {
  CHECK(Contains(ParseError(R"({"id": {"S": "1", "N": "1"}})"), "id"));
  CHECK(Contains(ParseError(R"({"id": {}})"), "id"));
  CHECK(Contains(ParseError(R"({"id": "plain string"})"), "id"));
}

TEST_CASE("N must be a JSON string holding a valid number", "[item_json]") {
  std::string not_string = ParseError(R"({"qty": {"N": 5}})");
  CHECK(Contains(not_string, "qty"));
  CHECK(Contains(not_string, "string"));
  std::string bad_number = ParseError(R"({"qty": {"N": "five"}})");
  CHECK(Contains(bad_number, "qty"));
  CHECK(Contains(bad_number, "five"));
  CHECK(Contains(ParseError(R"({"qty": {"N": "1e200"}})"), "qty"));
}

TEST_CASE("values of the wrong JSON type are rejected, naming the attribute", "[item_json]") {
  CHECK(Contains(ParseError(R"({"name": {"S": 1}})"), "name"));
  CHECK(Contains(ParseError(R"({"ok": {"BOOL": "true"}})"), "ok"));
  CHECK(Contains(ParseError(R"({"nil": {"NULL": false}})"), "nil"));
  CHECK(Contains(ParseError(R"({"blob": {"B": "not base64!"}})"), "blob"));
  CHECK(Contains(ParseError(R"({"map": {"M": []}})"), "map"));
  CHECK(Contains(ParseError(R"({"list": {"L": {}}})"), "list"));
  CHECK(Contains(ParseError(R"({"tags": {"SS": "a"}})"), "tags"));
  CHECK(Contains(ParseError(R"({"tags": {"SS": ["a", 1]}})"), "tags"));
  CHECK(Contains(ParseError(R"({"nums": {"NS": ["1", "x"]}})"), "nums"));
  CHECK(Contains(ParseError(R"({"bins": {"BS": ["@@"]}})"), "bins"));
}

TEST_CASE("an empty set is rejected", "[item_json]") {
  for (const std::string type : {"SS", "NS", "BS"}) {
    std::string msg = ParseError(R"({"tags": {")" + type + R"(": []}})");
    INFO(msg);
    CHECK(Contains(msg, "tags"));
    CHECK(Contains(msg, "non-empty"));
  }
}

TEST_CASE("a set with duplicate members is rejected", "[item_json]") {
  std::string ss = ParseError(R"({"tags": {"SS": ["a", "b", "a"]}})");
  CHECK(Contains(ss, "tags"));
  CHECK(Contains(ss, "duplicate"));
  // "1" and "1.0" are the same number.
  CHECK(Contains(ParseError(R"({"nums": {"NS": ["1", "1.0"]}})"), "duplicate"));
  CHECK(Contains(ParseError(R"({"bins": {"BS": ["aGk=", "aGk="]}})"), "duplicate"));
}

TEST_CASE("errors inside maps and lists name the full path", "[item_json]") {
  std::string in_map = ParseError(R"({"order": {"M": {"qty": {"N": "x"}}}})");
  CHECK(Contains(in_map, "order"));
  CHECK(Contains(in_map, "qty"));
  std::string in_list = ParseError(R"({"lines": {"L": [{"S": "ok"}, {"N": true}]}})");
  CHECK(Contains(in_list, "lines"));
  CHECK(Contains(in_list, "[1]"));
}

TEST_CASE("an empty attribute name is rejected", "[item_json]") {
  CHECK(Contains(ParseError(R"({"": {"S": "x"}})"), "empty"));
}

}  // namespace
}  // namespace gtsim
