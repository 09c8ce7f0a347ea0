// Tests of the pre-parse JSON checks (model/json_limits.h).
#include "model/json_limits.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/endpoint_fixture.h"

namespace gtsim {
namespace {

std::string Nested(int levels, const std::string& inner = "1") {
  std::string text;
  for (int i = 0; i < levels; ++i) text += i % 2 ? "[" : "{\"k\":";
  text += inner;
  for (int i = levels - 1; i >= 0; --i) text += i % 2 ? "]" : "}";
  return text;
}

TEST_CASE("CheckJsonShape lets through nesting up to the limit", "[json_limits]") {
  CHECK(CheckJsonShape("", 1).ok());
  CHECK(CheckJsonShape("17", 0).ok());
  CHECK(CheckJsonShape("{}", 1).ok());
  CHECK(CheckJsonShape("[[], {}, [{}]]", 3).ok());
  const std::string deep = Nested(40);
  REQUIRE(nlohmann::json::accept(deep));
  CHECK(CheckJsonShape(deep, 40).ok());
  CHECK(!CheckJsonShape(deep, 39).ok());
  // Siblings do not add up: depth is how deep, not how many.
  std::string wide = "[";
  for (int i = 0; i < 10000; ++i) wide += "[[1]],";
  wide += "[]]";
  CHECK(CheckJsonShape(wide, 3).ok());
}

TEST_CASE("CheckJsonShape refuses deeper nesting at the first bracket beyond the limit",
          "[json_limits]") {
  absl::Status s = CheckJsonShape("[[[[", 3);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(s.message() == "the JSON is nested more than 3 levels deep (at byte 3)");
  CHECK(CheckJsonShape("{\"a\":[{\"b\":[1]}]}", 3).message() ==
        "the JSON is nested more than 3 levels deep (at byte 11)");
  // 10 MB of "[": refused after max_depth + 1 bytes (the message says where it stopped); the
  // same text given to nlohmann would build millions of nested arrays.
  const std::string hostile(10 << 20, '[');
  s = CheckJsonShape(hostile, kMaxRequestJsonDepth);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(s.message() == "the JSON is nested more than 128 levels deep (at byte 128)");
}

TEST_CASE("CheckJsonShape does not count brackets inside strings", "[json_limits]") {
  CHECK(CheckJsonShape(R"({"s": "[[[[{{{{"})", 1).ok());
  CHECK(CheckJsonShape(R"(["\"[[[[", "\\", "x\\\"[[[["])", 1).ok());
  // An escaped backslash ends before the quote: the quote closes the string, and what follows
  // counts again.
  CHECK(!CheckJsonShape(R"(["\\", [[1]]])", 2).ok());
  CHECK(CheckJsonShape(R"(["\\", [[1]]])", 3).ok());
  // A string that never ends hides what follows (the parser refuses the text anyway).
  CHECK(CheckJsonShape(R"(["[[[[)", 1).ok());
  CHECK(CheckJsonShape("[\"\\", 1).ok());  // ends in the middle of an escape
}

TEST_CASE("CheckJsonShape: unbalanced closing brackets do not lower the depth below zero",
          "[json_limits]") {
  CHECK(!CheckJsonShape("]]]][[[", 2).ok());
  CHECK(CheckJsonShape("]]]][[", 2).ok());
}

TEST_CASE("kMaxRequestJsonDepth fits the deepest valid DynamoDB request", "[json_limits]") {
  // BatchWriteItem with an attribute value of 32 levels of maps (DynamoDB's limit).
  std::string value = R"({"S":"x"})";
  for (int i = 0; i < 32; ++i) value = R"({"M":{"m":)" + value + "}}";
  const std::string body =
      R"({"RequestItems":{"t":[{"PutRequest":{"Item":{"pk":{"S":"a"},"v":)" + value + "}}}]}}";
  REQUIRE(nlohmann::json::accept(body));
  CHECK(CheckJsonShape(body, kMaxRequestJsonDepth).ok());
  CHECK(!CheckJsonShape(body, 70).ok());  // it really is about 71 deep
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

TEST_CASE("the endpoint refuses an over-deep body before parsing it", "[json_limits]") {
  endpoint_test::Endpoint e;
  // 10 MB of brackets: refused at once (parsed, it would take ~250 MB).
  auto deep = e.Raw("DynamoDB_20120810.PutItem", std::string(10 << 20, '['));
  CHECK(deep.status == 400);
  CHECK(deep.type() == "ValidationException");
  CHECK(deep.body["message"] == "Nesting Levels have exceeded supported limits");
  // An item nested 200 levels deep, through the whole request path.
  std::string value = R"({"S":"x"})";
  for (int i = 0; i < 200; ++i) value = R"({"M":{"a":)" + value + "}}";
  auto item = e.Raw("DynamoDB_20120810.PutItem",
                    R"({"TableName":"t","Item":{"id":{"S":"k"},"deep":)" + value + "}}");
  CHECK(item.status == 400);
  CHECK(item.type() == "ValidationException");
}

}  // namespace
}  // namespace gtsim
