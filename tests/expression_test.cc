// Tests of engine/expression.h: DynamoDB condition, filter, key condition, update and projection
// expressions, their validation messages, evaluation, update application, and a seeded fuzz test
// that feeds every parser token soup, random bytes and mutated valid expressions.
#include "engine/expression.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "model/item_json.h"
#include "nlohmann/json.hpp"

namespace gtsim::expr {
namespace {

// --- helpers ------------------------------------------------------------------------------

Item I(const std::string& json) {
  auto item = ParseItemJson(json);
  INFO(json << " -> " << item.status().ToString());
  REQUIRE(item.ok());
  return *item;
}

// No Catch2 assertions here: it also builds globals, before any test runs.
AttributeValue V(const std::string& json) {
  auto v = ValueFromJson(nlohmann::json::parse(json), "v");
  if (!v.ok()) {
    std::fprintf(stderr, "bad test value %s: %s\n", json.c_str(), v.status().ToString().c_str());
    std::abort();
  }
  return *v;
}

using Names = std::map<std::string, std::string>;
using Values = std::map<std::string, AttributeValue>;

// One request's placeholders and the context pointing at them. Empty maps mean "not supplied".
class Request {
 public:
  Request(Names names = {}, Values values = {})
      : names_(std::move(names)), values_(std::move(values)) {
    if (!names_.empty()) ctx_.names = &names_;
    if (!values_.empty()) ctx_.values = &values_;
  }
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ExpressionContext* ctx() { return &ctx_; }

 private:
  Names names_;
  Values values_;
  ExpressionContext ctx_;
};

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

template <typename T>
std::string Err(const absl::StatusOr<T>& result) {
  REQUIRE_FALSE(result.ok());
  REQUIRE(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

// Parses and evaluates a condition against `item` (null: no item).
bool Check(const std::string& text, const Item* item, Values values = {}, Names names = {}) {
  Request r(std::move(names), std::move(values));
  INFO("condition: " << text);
  Condition c = Ok(ParseCondition(text, r.ctx()));
  return Ok(Evaluate(c, item));
}

std::string CondError(const std::string& text, Values values = {}, Names names = {},
                      ExpressionKind kind = ExpressionKind::kCondition) {
  Request r(std::move(names), std::move(values));
  INFO("condition: " << text);
  return Err(ParseCondition(text, r.ctx(), kind));
}

Item Update(const std::string& text, const Item& item, Values values = {}, Names names = {}) {
  Request r(std::move(names), std::move(values));
  INFO("update: " << text);
  UpdatePlan plan = Ok(ParseUpdate(text, r.ctx()));
  return Ok(ApplyUpdate(plan, item));
}

std::string UpdateParseError(const std::string& text, Values values = {}, Names names = {}) {
  Request r(std::move(names), std::move(values));
  INFO("update: " << text);
  return Err(ParseUpdate(text, r.ctx()));
}

std::string UpdateApplyError(const std::string& text, const Item& item, Values values = {},
                             Names names = {}) {
  Request r(std::move(names), std::move(values));
  INFO("update: " << text);
  UpdatePlan plan = Ok(ParseUpdate(text, r.ctx()));
  return Err(ApplyUpdate(plan, item));
}

Item ProjectText(const std::string& text, const Item& item, Names names = {}) {
  Request r(std::move(names));
  INFO("projection: " << text);
  return Project(Ok(ParseProjection(text, r.ctx())), item);
}

std::string ProjectionError(const std::string& text, Names names = {}) {
  Request r(std::move(names));
  INFO("projection: " << text);
  return Err(ParseProjection(text, r.ctx()));
}

std::string KeyError(const std::string& text, Values values = {}, Names names = {}) {
  Request r(std::move(names), std::move(values));
  INFO("key condition: " << text);
  return Err(ParseKeyCondition(text, r.ctx()));
}

const Values kNums = {{":one", V(R"({"N": "1"})")},
                      {":two", V(R"({"N": "2"})")},
                      {":three", V(R"({"N": "3"})")},
                      {":ten", V(R"({"N": "10"})")}};

// --- conditions: comparisons --------------------------------------------------------------

TEST_CASE("comparison operators order numbers numerically") {
  Item item = I(R"({"n": {"N": "2"}, "big": {"N": "10"}, "neg": {"N": "-1.5"}})");
  CHECK(Check("n = :two", &item, kNums));
  CHECK_FALSE(Check("n = :one", &item, kNums));
  CHECK(Check("n <> :one", &item, kNums));
  CHECK_FALSE(Check("n <> :two", &item, kNums));
  CHECK(Check("n < :three", &item, kNums));
  CHECK_FALSE(Check("n < :two", &item, kNums));
  CHECK(Check("n <= :two", &item, kNums));
  CHECK(Check("n > :one", &item, kNums));
  CHECK_FALSE(Check("n > :two", &item, kNums));
  CHECK(Check("n >= :two", &item, kNums));
  // Numerically, not as text: "10" > "2".
  CHECK(Check("big > n", &item));
  CHECK(Check("neg < :one", &item, kNums));
  // Whitespace is optional around operators.
  CHECK(Check("n=:two", &item, kNums));
  CHECK(Check("n<>:one", &item, kNums));
}

TEST_CASE("strings and binary compare by bytes") {
  Item item = I(R"({"s": {"S": "banana"}, "b": {"B": "fw=="}})");  // b = 0x7f
  Values v = {{":apple", V(R"({"S": "apple"})")},
              {":cherry", V(R"({"S": "cherry"})")},
              {":upper", V(R"({"S": "Zebra"})")},
              {":b80", V(R"({"B": "gA=="})")},  // 0x80: above 0x7f as an unsigned byte
              {":b7e", V(R"({"B": "fg=="})")}};
  CHECK(Check("s > :apple", &item, v));
  CHECK(Check("s < :cherry", &item, v));
  CHECK(Check("s > :upper", &item, v));  // 'b' (0x62) > 'Z' (0x5a)
  CHECK(Check("b < :b80", &item, v));
  CHECK(Check("b > :b7e", &item, v));
  CHECK(Check("b BETWEEN :b7e AND :b80", &item, v));
}

TEST_CASE("comparisons of mismatched types are false, and <> is true") {
  Item item = I(R"({"n": {"N": "1"}, "s": {"S": "1"}, "t": {"BOOL": true}})");
  Values v = {
      {":one", V(R"({"N": "1"})")}, {":s1", V(R"({"S": "1"})")}, {":t", V(R"({"BOOL": true})")}};
  CHECK_FALSE(Check("s = :one", &item, v));
  CHECK(Check("s <> :one", &item, v));
  CHECK_FALSE(Check("s < :one", &item, v));
  CHECK_FALSE(Check("s >= :one", &item, v));
  CHECK_FALSE(Check("n > :s1", &item, v));
  // BOOL equality works, ordering does not.
  CHECK(Check("t = :t", &item, v));
  CHECK_FALSE(Check("t <= :t", &item, v));
  CHECK_FALSE(Check("t >= :t", &item, v));
}

TEST_CASE("absent attributes: comparisons false, <> true") {
  Item item = I(R"({"n": {"N": "1"}})");
  CHECK_FALSE(Check("absent = :one", &item, kNums));
  CHECK(Check("absent <> :one", &item, kNums));
  CHECK_FALSE(Check("absent < :one", &item, kNums));
  CHECK_FALSE(Check("absent BETWEEN :one AND :two", &item, kNums));
  CHECK_FALSE(Check("absent IN (:one, :two)", &item, kNums));
  // No item at all.
  CHECK_FALSE(Check("n = :one", nullptr, kNums));
  CHECK(Check("n <> :one", nullptr, kNums));
}

TEST_CASE("equality of sets, lists and maps") {
  Item item = I(R"({"ss": {"SS": ["b", "a"]}, "ns": {"NS": ["1.50", "2"]},
                    "l": {"L": [{"S": "x"}, {"N": "1"}]}, "m": {"M": {"k": {"S": "v"}}}})");
  Values v = {{":ss", V(R"({"SS": ["a", "b"]})")},
              {":ns", V(R"({"NS": ["2", "1.5"]})")},
              {":l", V(R"({"L": [{"S": "x"}, {"N": "1.0"}]})")},
              {":l2", V(R"({"L": [{"N": "1"}, {"S": "x"}]})")},
              {":m", V(R"({"M": {"k": {"S": "v"}}})")}};
  CHECK(Check("ss = :ss", &item, v));  // sets are unordered
  CHECK(Check("ns = :ns", &item, v));  // and numbers canonical
  CHECK(Check("l = :l", &item, v));
  CHECK_FALSE(Check("l = :l2", &item, v));  // lists are ordered
  CHECK(Check("m = :m", &item, v));
  CHECK_FALSE(Check("ss < :ss", &item, v));
}

TEST_CASE("BETWEEN is inclusive and needs ordered bounds of one type") {
  Item item = I(R"({"n": {"N": "2"}, "s": {"S": "m"}})");
  CHECK(Check("n BETWEEN :one AND :three", &item, kNums));
  CHECK(Check("n BETWEEN :two AND :two", &item, kNums));
  CHECK(Check("n between :one and :two", &item, kNums));
  CHECK_FALSE(Check("n BETWEEN :three AND :ten", &item, kNums));
  Values v = {{":a", V(R"({"S": "a"})")}, {":z", V(R"({"S": "z"})")}, {":n", V(R"({"N": "1"})")}};
  CHECK(Check("s BETWEEN :a AND :z", &item, v));
  CHECK_FALSE(Check("n BETWEEN :a AND :z", &item, v));
  CHECK(CondError("s BETWEEN :z AND :a", v) ==
        "Invalid ConditionExpression: The BETWEEN operator requires upper bound to be greater "
        "than or equal to lower bound; lower bound operand: AttributeValue: {S:z}, upper bound "
        "operand: AttributeValue: {S:a}");
  CHECK(CondError("s BETWEEN :n AND :a", v) ==
        "Invalid ConditionExpression: The BETWEEN operator requires same data type for lower "
        "and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: "
        "AttributeValue: {S:a}");
  // BETWEEN binds tighter than AND.
  CHECK(Check("n BETWEEN :one AND :three AND s = s2", &item, kNums) == false);
  CHECK(Check("n BETWEEN :one AND :three AND n < :ten", &item, kNums));
}

TEST_CASE("IN matches any listed operand, up to 100") {
  Item item = I(R"({"n": {"N": "2"}, "s": {"S": "x"}, "twin": {"N": "2"}})");
  CHECK(Check("n IN (:one, :two)", &item, kNums));
  CHECK(Check("n in (:three,:two,:one)", &item, kNums));
  CHECK_FALSE(Check("n IN (:one, :three)", &item, kNums));
  CHECK(Check("n IN (:one, twin)", &item, kNums));
  CHECK_FALSE(Check("s IN (:one)", &item, kNums));
  std::string list;
  for (int i = 0; i < 100; ++i) list += (i ? ", :one" : ":one");
  CHECK_FALSE(Check("n IN (" + list + ")", &item, kNums));
  CHECK(CondError("n IN (" + list + ", :two)", kNums) ==
        "Invalid ConditionExpression: The IN operator is provided with too many operands; "
        "number of operands: 101");
  CHECK(CondError("n IN ()", kNums) ==
        "Invalid ConditionExpression: Syntax error; token: \")\", near: \"()\"");
}

// --- conditions: logic --------------------------------------------------------------------

TEST_CASE("AND, OR and NOT: precedence NOT > AND > OR, parentheses") {
  Item item = I(R"({"a": {"N": "1"}, "b": {"N": "2"}, "c": {"N": "3"}})");
  CHECK(Check("a < b AND b < c", &item));
  CHECK_FALSE(Check("a < b AND c < b", &item));
  CHECK(Check("a < b aNd b < c", &item));
  CHECK(Check("b < a OR b < c", &item));
  CHECK_FALSE(Check("b < a OR c < b", &item));
  // AND binds tighter than OR: true OR (false AND true).
  CHECK(Check("a < b OR c < b AND b < c", &item));
  // ... and parentheses override it: (true OR false) AND false.
  CHECK_FALSE(Check("(a < b OR c < b) AND c < b", &item));
  // NOT binds tighter than AND: (NOT true) AND false.
  CHECK_FALSE(Check("NOT a < b AND c < b", &item));
  CHECK(Check("NOT (a < b AND c < b)", &item));
  CHECK(Check("NOT b < a", &item));
  CHECK(Check("nOt b < a", &item));
  CHECK(Check("NOT NOT NOT NOT a < b", &item));
  CHECK(Check("(a < b OR b < a) AND (b < c AND (a < b OR b < c))", &item));
  CHECK(Check("(a) < (b)", &item));
  // Long chains stay flat.
  std::string chain = "a < b";
  for (int i = 0; i < 300; ++i) chain += " AND a < b";
  CHECK(Check(chain, &item));
}

TEST_CASE("redundant parentheses are rejected") {
  const std::string msg = "Invalid ConditionExpression: The expression has redundant parentheses;";
  CHECK(CondError("((a = :one))", kNums) == msg);
  CHECK(CondError("((a)) = :one", kNums) == msg);
  CHECK(CondError("a = ((:one))", kNums) == msg);
  CHECK(CondError("NOT ((a = :one))", kNums) == msg);
  Item item = I(R"({"a": {"N": "1"}})");
  CHECK(Check("(a = :one)", &item, kNums));
  CHECK(Check("((a = :one) AND a = :one)", &item, kNums));
}

// --- conditions: functions ----------------------------------------------------------------

TEST_CASE("attribute_exists and attribute_not_exists") {
  Item item =
      I(R"({"a": {"N": "1"}, "m": {"M": {"x": {"NULL": true}}}, "l": {"L": [{"S": "z"}]}})");
  CHECK(Check("attribute_exists(a)", &item));
  CHECK_FALSE(Check("attribute_exists(b)", &item));
  CHECK(Check("attribute_not_exists(b)", &item));
  CHECK(Check("attribute_exists (m.x)", &item));  // a NULL value exists
  CHECK(Check("attribute_exists(l[0])", &item));
  CHECK_FALSE(Check("attribute_exists(l[1])", &item));
  CHECK(Check("attribute_not_exists(id)", nullptr));
  CHECK_FALSE(Check("attribute_exists(id)", nullptr));
  CHECK(CondError("attribute_exists(:one)", kNums) ==
        "Invalid ConditionExpression: Operator or function requires a document path; operator "
        "or function: attribute_exists");
  CHECK(CondError("attribute_exists(a, b)") ==
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
        "operator or function: attribute_exists, number of operands: 2");
}

TEST_CASE("attribute_type") {
  Item item = I(R"({"s": {"S": "x"}, "ns": {"NS": ["1"]}, "m": {"M": {}}, "z": {"NULL": true}})");
  Values v = {{":S", V(R"({"S": "S"})")},  {":NS", V(R"({"S": "NS"})")},
              {":M", V(R"({"S": "M"})")},  {":NULL", V(R"({"S": "NULL"})")},
              {":N", V(R"({"S": "N"})")},  {":bad", V(R"({"S": "STRING"})")},
              {":num", V(R"({"N": "1"})")}};
  CHECK(Check("attribute_type(s, :S)", &item, v));
  CHECK(Check("attribute_type(ns, :NS)", &item, v));
  CHECK(Check("attribute_type(m, :M)", &item, v));
  CHECK(Check("attribute_type(z, :NULL)", &item, v));
  CHECK_FALSE(Check("attribute_type(s, :N)", &item, v));
  CHECK_FALSE(Check("attribute_type(absent, :S)", &item, v));
  CHECK(CondError("attribute_type(s, :bad)", v) ==
        "Invalid ConditionExpression: Invalid attribute type name found; type: STRING, valid "
        "types: {B,NULL,SS,BOOL,L,BS,N,NS,S,M}");
  CHECK(CondError("attribute_type(s, :num)", v) ==
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: attribute_type, operand type: N");
}

TEST_CASE("begins_with on strings and binary") {
  Item item = I(R"({"s": {"S": "hello world"}, "b": {"B": "AQID"}, "n": {"N": "12"}})");
  Values v = {{":he", V(R"({"S": "hello"})")},
              {":wo", V(R"({"S": "world"})")},
              {":b01", V(R"({"B": "AQ=="})")},
              {":empty", V(R"({"S": ""})")},
              {":num", V(R"({"N": "1"})")}};
  CHECK(Check("begins_with(s, :he)", &item, v));
  CHECK_FALSE(Check("begins_with(s, :wo)", &item, v));
  CHECK(Check("begins_with(s, :empty)", &item, v));
  CHECK(Check("begins_with(b, :b01)", &item, v));
  CHECK_FALSE(Check("begins_with(b, :he)", &item, v));  // type mismatch
  CHECK_FALSE(Check("begins_with(absent, :he)", &item, v));
  CHECK(CondError("begins_with(s, :num)", v) ==
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: begins_with, operand type: N");
}

TEST_CASE("contains on strings, binary, sets and lists") {
  Item item = I(R"({"s": {"S": "hello world"}, "b": {"B": "AQID"},
                    "ss": {"SS": ["cat", "dog"]}, "ns": {"NS": ["1.5", "10"]},
                    "bs": {"BS": ["AQ=="]}, "l": {"L": [{"S": "cat"}, {"N": "3"}]},
                    "word": {"S": "dog"}})");
  Values v = {{":lo", V(R"({"S": "lo w"})")}, {":cat", V(R"({"S": "cat"})")},
              {":cow", V(R"({"S": "cow"})")}, {":n15", V(R"({"N": "1.50"})")},
              {":n3", V(R"({"N": "3"})")},    {":b02", V(R"({"B": "Ag=="})")},
              {":b01", V(R"({"B": "AQ=="})")}};
  CHECK(Check("contains(s, :lo)", &item, v));
  CHECK_FALSE(Check("contains(s, :cow)", &item, v));
  CHECK(Check("contains(b, :b02)", &item, v));
  CHECK(Check("contains(ss, :cat)", &item, v));
  CHECK_FALSE(Check("contains(ss, :cow)", &item, v));
  CHECK(Check("contains(ns, :n15)", &item, v));
  CHECK(Check("contains(bs, :b01)", &item, v));
  CHECK_FALSE(Check("contains(ss, :n3)", &item, v));  // member type must match
  CHECK(Check("contains(l, :cat)", &item, v));
  CHECK(Check("contains(l, :n3)", &item, v));
  CHECK_FALSE(Check("contains(l, :cow)", &item, v));
  CHECK(Check("contains(ss, word)", &item, v));  // the operand may be a path
  CHECK_FALSE(Check("contains(absent, :cat)", &item, v));
}

TEST_CASE("size() is an operand of comparisons") {
  Item item = I(R"({"s": {"S": "hello"}, "b": {"B": "aGkgdGhlcmU="}, "ss": {"SS": ["a", "b"]},
                    "l": {"L": [{"N": "2"}, {"S": "dog"}, {"N": "7"}]},
                    "m": {"M": {"x": {"N": "2"}, "y": {"M": {}}}}, "n": {"N": "5"},
                    "t": {"BOOL": true}, "u": {"S": "h\u00e9"}})");
  Values v = {{":0", V(R"({"N": "0"})")}, {":2", V(R"({"N": "2"})")},
              {":3", V(R"({"N": "3"})")}, {":5", V(R"({"N": "5"})")},
              {":8", V(R"({"N": "8"})")}, {":dog", V(R"({"S": "dog"})")}};
  CHECK(Check("size(s) = :5", &item, v));
  CHECK(Check("size(b) = :8", &item, v));
  CHECK(Check("size(ss) = :2", &item, v));
  CHECK(Check("size(l) = :3", &item, v));
  CHECK(Check("size(m) = :2", &item, v));
  CHECK(Check("size(m.y) = :0", &item, v));
  CHECK(Check("size(u) = :3", &item, v));        // UTF-8 bytes
  CHECK_FALSE(Check("size(n) = :5", &item, v));  // numbers have no size
  CHECK_FALSE(Check("size(t) >= :0", &item, v));
  CHECK_FALSE(Check("size(absent) >= :0", &item, v));
  CHECK_FALSE(Check("size(s) = :dog", &item, v));  // compared to a string: just false
  CHECK(Check("size(s) = n", &item, v));
  CHECK(Check("size(s) <> :3", &item, v));
  CHECK(Check("size(s) > :3 AND size(s) < :8", &item, v));
  CHECK(Check("size(l) BETWEEN :2 AND :3", &item, v));
  CHECK(CondError("size(s)", v) ==
        "Invalid ConditionExpression: The function is not allowed to be used this way in an "
        "expression; function: size");
  CHECK(CondError("size(s, s) = :2", v) ==
        "Invalid ConditionExpression: Incorrect number of operands for operator or function; "
        "operator or function: size, number of operands: 2");
  CHECK(CondError("size(:2) = :2", v) ==
        "Invalid ConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: size, operand type: N");
}

TEST_CASE("function misuse and unknown functions") {
  CHECK(CondError("attribute_exists(a) < :one", kNums) ==
        "Invalid ConditionExpression: The function is not allowed to be used this way in an "
        "expression; function: attribute_exists");
  CHECK(CondError("a = contains(b, :one)", kNums) ==
        "Invalid ConditionExpression: The function is not allowed to be used this way in an "
        "expression; function: contains");
  CHECK(CondError("foo(s)") == "Invalid ConditionExpression: Invalid function name; function: foo");
  CHECK(CondError("dog(a) = :one", kNums) ==
        "Invalid ConditionExpression: Invalid function name; function: dog");
  // Function names are case-sensitive.
  CHECK(CondError("SIZE(a) = :one", kNums) ==
        "Invalid ConditionExpression: Invalid function name; function: SIZE");
  CHECK(CondError("if_not_exists(a, a) = :one", kNums) ==
        "Invalid ConditionExpression: The function is not allowed in a condition expression; "
        "function: if_not_exists");
  CHECK(CondError("list_append(a, a) = :one", kNums) ==
        "Invalid ConditionExpression: The function is not allowed in a condition expression; "
        "function: list_append");
}

TEST_CASE("the first operand must differ from the others") {
  CHECK(CondError("a = a") ==
        "Invalid ConditionExpression: The first operand must be distinct from the remaining "
        "operands for this operator or function; operator: =, first operand: [a]");
  CHECK(CondError("contains(a.b[1], a.b[1])") ==
        "Invalid ConditionExpression: The first operand must be distinct from the remaining "
        "operands for this operator or function; operator: contains, first operand: [a, b, "
        "[1]]");
  Item item = I(R"({"a": {"S": "x"}, "a1": {"S": "x"}})");
  CHECK(Check("contains(a, a1)", &item));
}

// --- conditions: paths, names, values -----------------------------------------------------

TEST_CASE("nested paths and list indexes") {
  Item item = I(R"({"a": {"M": {"b": {"L": [{"N": "1"}, {"M": {"c": {"S": "deep"}}}]},
                                "x": {"N": "1"}}},
                    "l": {"L": [{"L": [{"N": "5"}, {"N": "6"}]}]}})");
  Values v = {
      {":deep", V(R"({"S": "deep"})")}, {":six", V(R"({"N": "6"})")}, {":one", V(R"({"N": "1"})")}};
  CHECK(Check("a.b[1].c = :deep", &item, v));
  CHECK(Check("a . b [ 1 ] . c = :deep", &item, v));  // whitespace inside paths
  CHECK(Check("l[0][1] = :six", &item, v));
  CHECK(Check("a.b[0] = a.x", &item, v));
  CHECK_FALSE(Check("a.b[2].c = :deep", &item, v));  // past the end
  CHECK_FALSE(Check("a.x.y = :one", &item, v));      // through a number
  CHECK_FALSE(Check("a[0] = :one", &item, v));       // indexing a map
  CHECK_FALSE(Check("l.b = :one", &item, v));        // keying a list
  CHECK(Check("#a.#b[1].#c = :deep", &item, v, {{"#a", "a"}, {"#b", "b"}, {"#c", "c"}}));
}

TEST_CASE("expression attribute names stand for any attribute name") {
  Item item = I(R"({"and": {"N": "1"}, "a.b": {"S": "dot"}, "a": {"M": {"b": {"S": "nested"}}},
                    "size": {"N": "2"}, "3x y!": {"N": "3"}})");
  Values v = {{":one", V(R"({"N": "1"})")},
              {":dot", V(R"({"S": "dot"})")},
              {":nested", V(R"({"S": "nested"})")}};
  CHECK(Check("#n = :one", &item, v, {{"#n", "and"}}));
  // A name holding a dot is one attribute, not a path.
  CHECK(Check("#n = :dot", &item, v, {{"#n", "a.b"}}));
  CHECK(Check("a.b = :nested", &item, v));
  CHECK(Check("#weird > :one", &item, v, {{"#weird", "3x y!"}}));
  CHECK(Check("#123 > :one", &item, v, {{"#123", "size"}}));
  CHECK(Check("#_ > :one", &item, v, {{"#_", "size"}}));
}

TEST_CASE("reserved words need a name placeholder") {
  CHECK(CondError("size = :one", kNums) ==
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: "
        "size");
  CHECK(CondError("a.Status = :one", kNums) ==
        "Invalid ConditionExpression: Attribute name is a reserved keyword; reserved keyword: "
        "Status");
  CHECK(UpdateParseError("SET #a = :one, value = :two", kNums, {{"#a", "a"}}) ==
        "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: "
        "value");
  CHECK(ProjectionError("id, name") ==
        "Invalid ProjectionExpression: Attribute name is a reserved keyword; reserved keyword: "
        "name");
  // The whole documented list, first to last, in any case.
  CHECK(CondError("abort = :one", kNums).find("reserved keyword: abort") != std::string::npos);
  CHECK(CondError("Zone = :one", kNums).find("reserved keyword: Zone") != std::string::npos);
  CHECK(CondError("FLATTERN = :one", kNums).find("reserved keyword") != std::string::npos);
  // Function names are not attribute names.
  Item item = I(R"({"s": {"S": "abc"}})");
  CHECK(Check("size(s) = :three", &item, kNums));
}

TEST_CASE("undefined placeholders are reported") {
  CHECK(CondError("a = :nope", kNums) ==
        "Invalid ConditionExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :nope");
  CHECK(CondError("#x = :one", kNums, {{"#a", "a"}}) ==
        "Invalid ConditionExpression: An expression attribute name used in the document path "
        "is not defined; attribute name: #x");
  CHECK(CondError("a = :v", {}, {}, ExpressionKind::kFilter) ==
        "Invalid FilterExpression: An expression attribute value used in expression is not "
        "defined; attribute value: :v");
  CHECK(UpdateParseError("SET #name = :val1", {{":val2", V(R"({"N": "4"})")}},
                         {{"#wrongname", "hello"}}) ==
        "Invalid UpdateExpression: An expression attribute name used in the document path is "
        "not defined; attribute name: #name");
  CHECK(ProjectionError("a.#n2", {{"#wrong", "b"}}) ==
        "Invalid ProjectionExpression: An expression attribute name used in the document path "
        "is not defined; attribute name: #n2");
}

TEST_CASE("unused placeholders across the expressions of one request") {
  Names names = {{"#a", "a"}, {"#b", "b"}, {"#unused", "u"}};
  Values values = {
      {":v", V(R"({"N": "1"})")}, {":w", V(R"({"N": "2"})")}, {":x", V(R"({"N": "3"})")}};
  ExpressionContext ctx;
  ctx.names = &names;
  ctx.values = &values;
  REQUIRE(ValidateContext(ctx).ok());
  REQUIRE(ParseCondition("#a = :v OR #b = :w", &ctx).ok());  // used even if short-circuited
  REQUIRE(ParseUpdate("SET #a = :x", &ctx).ok());
  absl::Status s = CheckAllUsed(ctx);
  CHECK(s.message() ==
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}");
  REQUIRE(ParseProjection("#unused", &ctx).ok());
  CHECK(CheckAllUsed(ctx).ok());

  Values values2 = {
      {":v", V(R"({"N": "1"})")}, {":val2", V(R"({"N": "1"})")}, {":val3", V(R"({"N": "1"})")}};
  ExpressionContext ctx2;
  ctx2.values = &values2;
  REQUIRE(ParseCondition("a = :v", &ctx2).ok());
  CHECK(CheckAllUsed(ctx2).message() ==
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:val2, "
        ":val3}");
}

TEST_CASE("the placeholder maps themselves are validated") {
  Names empty_names;
  Values empty_values;
  Names bad = {{"a", "a"}};
  Names lone = {{"#", "a"}};
  Names dash = {{"#a-b", "a"}};
  Names empty_name = {{"#a", ""}};
  Values bad_values = {{"a", V(R"({"S": "b"})")}};
  auto validate = [](const Names* n, const Values* v) {
    ExpressionContext ctx;
    ctx.names = n;
    ctx.values = v;
    return std::string(ValidateContext(ctx).message());
  };
  CHECK(validate(&empty_names, nullptr) == "ExpressionAttributeNames must not be empty");
  CHECK(validate(nullptr, &empty_values) == "ExpressionAttributeValues must not be empty");
  CHECK(validate(&bad, nullptr) ==
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"a\"");
  CHECK(validate(&lone, nullptr) ==
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#\"");
  CHECK(validate(&dash, nullptr) ==
        "ExpressionAttributeNames contains invalid key: Syntax error; key: \"#a-b\"");
  CHECK(validate(&empty_name, nullptr) ==
        "ExpressionAttributeNames contains invalid value: Empty attribute name for key #a");
  CHECK(validate(nullptr, &bad_values) ==
        "ExpressionAttributeValues contains invalid key: Syntax error; key: \"a\"");
  CHECK(validate(nullptr, nullptr).empty());
}

// --- syntax errors ------------------------------------------------------------------------

TEST_CASE("syntax errors name the token and what is near it") {
  CHECK(CondError("foo") ==
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"foo\"");
  CHECK(CondError("s == :one", kNums) ==
        "Invalid ConditionExpression: Syntax error; token: \"=\", near: \"==\"");
  CHECK(CondError("a = :one b", kNums) ==
        "Invalid ConditionExpression: Syntax error; token: \"b\", near: \":one b\"");
  CHECK(CondError("a > 4") ==
        "Invalid ConditionExpression: Syntax error; token: \"4\", near: \"> 4\"");
  CHECK(CondError("a = !!") ==
        "Invalid ConditionExpression: Syntax error; token: \"!\", near: \"= !!\"");
  CHECK(CondError("a AND b = :one", kNums) ==
        "Invalid ConditionExpression: Syntax error; token: \"AND\", near: \"a AND\"");
  CHECK(CondError("a = AND", kNums) ==
        "Invalid ConditionExpression: Syntax error; token: \"AND\", near: \"= AND\"");
  CHECK(CondError("(a = :one", kNums) ==
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \":one\"");
  CHECK(UpdateParseError("SET MyStr = my Num") ==
        "Invalid UpdateExpression: Syntax error; token: \"Num\", near: \"my Num\"");
  CHECK(UpdateParseError("SET a = :one, #, b = :two", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \"#\", near: \", #,\"");
  CHECK(UpdateParseError("SET path = VALUE 1") ==
        "Invalid UpdateExpression: Syntax error; token: \"1\", near: \"VALUE 1\"");
  // Bare names start with a letter.
  CHECK(UpdateParseError("SET _123 = :one", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \"_\", near: \"SET _123\"");
  CHECK(UpdateParseError("SET 123a = :one", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \"123\", near: \"SET 123a\"");
  CHECK(UpdateParseError("HELLO b = :one", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \"HELLO\", near: \"HELLO\"");
  CHECK(UpdateParseError("SET a = :", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \":\", near: \"= :\"");
  CHECK(UpdateParseError("SET :a = :one", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \":a\", near: \"SET :a\"");
  CHECK(UpdateParseError("SET a[:one] = :two", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \":one\", near: \"[:one]\"");
  CHECK(UpdateParseError("SET a[#n] = :two", kNums) ==
        "Invalid UpdateExpression: Syntax error; token: \"#n\", near: \"[#n]\"");
  CHECK(ProjectionError("a,") ==
        "Invalid ProjectionExpression: Syntax error; token: \"<EOF>\", near: \",\"");
  CHECK(ProjectionError(",a") ==
        "Invalid ProjectionExpression: Syntax error; token: \",\", near: \",a\"");
  CHECK(ProjectionError("a,,b") ==
        "Invalid ProjectionExpression: Syntax error; token: \",\", near: \",,b\"");
  CHECK(ProjectionError("(a1)") ==
        "Invalid ProjectionExpression: Syntax error; token: \"(\", near: \"(a1\"");
  // Non-ASCII characters are reported whole.
  CHECK(CondError("a = \xc3\xa9") ==
        "Invalid ConditionExpression: Syntax error; token: \"\xc3\xa9\", near: \"= \xc3\xa9\"");
}

TEST_CASE("empty and oversized expressions") {
  Request r;
  CHECK(Err(ParseCondition("", r.ctx())) ==
        "Invalid ConditionExpression: The expression can not be empty;");
  CHECK(Err(ParseCondition("", r.ctx(), ExpressionKind::kFilter)) ==
        "Invalid FilterExpression: The expression can not be empty;");
  CHECK(Err(ParseUpdate("", r.ctx())) ==
        "Invalid UpdateExpression: The expression can not be empty;");
  CHECK(Err(ParseProjection("", r.ctx())) ==
        "Invalid ProjectionExpression: The expression can not be empty;");
  CHECK(Err(ParseKeyCondition("", r.ctx())) ==
        "Invalid KeyConditionExpression: The expression can not be empty;");
  CHECK(Err(ParseCondition("  ", r.ctx())) ==
        "Invalid ConditionExpression: Syntax error; token: \"<EOF>\", near: \"\"");
  std::string projection = "a";
  while (projection.size() < kMaxExpressionBytes) projection += ",a";
  projection.resize(kMaxExpressionBytes - 1);  // "a,a,...,a"
  // At the limit the size is fine (the repeated path is what is wrong).
  CHECK(Err(ParseProjection(projection, r.ctx())).find("overlap") != std::string::npos);
  projection += ",b";
  CHECK(Err(ParseProjection(projection, r.ctx())) ==
        "Invalid ProjectionExpression: Expression size has exceeded the maximum allowed size; "
        "expression size: 4097");
  CHECK(Err(ParseCondition(std::string(5000, '('), r.ctx())) ==
        "Invalid ConditionExpression: Expression size has exceeded the maximum allowed size; "
        "expression size: 5000");
}

TEST_CASE("nesting is bounded") {
  Request r({}, kNums);
  std::string deep = std::string(2000, '(') + "a = :one" + std::string(2000, ')');
  CHECK(Err(ParseCondition(deep, r.ctx())) ==
        "Invalid ConditionExpression: The expression has too many nesting levels; maximum: 64");
  std::string nots;
  for (int i = 0; i < 900; ++i) nots += "NOT ";
  CHECK(Err(ParseCondition(nots + "a = :one", r.ctx())).find("too many nesting levels") !=
        std::string::npos);
  std::string sizes = "a = ";
  for (int i = 0; i < 300; ++i) sizes += "size(";
  sizes += "b" + std::string(300, ')');
  CHECK(Err(ParseCondition(sizes, r.ctx())).find("too many nesting levels") != std::string::npos);
  std::string appends = "SET a = ";
  for (int i = 0; i < 200; ++i) appends += "if_not_exists(b, ";
  appends += ":one" + std::string(200, ')');
  CHECK(Err(ParseUpdate(appends, r.ctx())).find("too many nesting levels") != std::string::npos);
  // 63 levels are fine.
  std::string ok = std::string(63, '(') + "a = :one" + std::string(63, ')');
  CHECK(Err(ParseCondition(ok, r.ctx())) ==
        "Invalid ConditionExpression: The expression has redundant parentheses;");
}

TEST_CASE("document paths are limited to 32 levels") {
  std::string path = "a";
  for (int i = 0; i < 31; ++i) path += ".b";
  Request r;
  CHECK(ParseProjection(path, r.ctx()).ok());
  CHECK(Err(ParseProjection(path + ".b", r.ctx())) ==
        "Invalid ProjectionExpression: The document path has too many nesting levels; nesting "
        "levels: 33");
  std::string long_path = "a";
  while (long_path.size() < 4000) long_path += "[0]";
  CHECK(Err(ParseUpdate("REMOVE " + long_path, r.ctx())).find("nesting levels: 1334") !=
        std::string::npos);
}

// --- key conditions -----------------------------------------------------------------------

TEST_CASE("key conditions: accepted shapes") {
  Values v = {{":h", V(R"({"S": "user1"})")},
              {":lo", V(R"({"N": "1"})")},
              {":hi", V(R"({"N": "9"})")},
              {":p", V(R"({"S": "2024-"})")}};
  auto parse = [&](const std::string& text, Names names = {}) {
    Request r(std::move(names), v);
    return Ok(ParseKeyCondition(text, r.ctx()));
  };
  KeyCondition k = parse("pk = :h");
  REQUIRE(k.terms.size() == 1);
  CHECK(k.terms[0].attribute == "pk");
  CHECK(k.terms[0].op == KeyOp::kEq);
  CHECK(k.terms[0].value == V(R"({"S": "user1"})"));

  k = parse("pk = :h AND sk BETWEEN :lo AND :hi");
  REQUIRE(k.terms.size() == 2);
  CHECK(k.terms[1].attribute == "sk");
  CHECK(k.terms[1].op == KeyOp::kBetween);
  CHECK(k.terms[1].value == V(R"({"N": "1"})"));
  CHECK(k.terms[1].value2 == V(R"({"N": "9"})"));

  k = parse("begins_with(#s, :p) AND #h = :h", {{"#s", "sk"}, {"#h", "pk"}});
  REQUIRE(k.terms.size() == 2);
  CHECK(k.terms[0].attribute == "sk");
  CHECK(k.terms[0].op == KeyOp::kBeginsWith);
  CHECK(k.terms[1].attribute == "pk");

  // A value on the left is turned around.
  k = parse(":lo < sk AND pk = :h");
  CHECK(k.terms[0].op == KeyOp::kGt);
  k = parse("(pk = :h) AND (sk >= :lo)");
  CHECK(k.terms[1].op == KeyOp::kGe);
  for (auto [text, op] : std::vector<std::pair<std::string, KeyOp>>{{"sk < :lo", KeyOp::kLt},
                                                                    {"sk <= :lo", KeyOp::kLe},
                                                                    {"sk > :lo", KeyOp::kGt},
                                                                    {"sk >= :lo", KeyOp::kGe},
                                                                    {":lo >= sk", KeyOp::kLe},
                                                                    {":lo = sk", KeyOp::kEq}}) {
    CHECK(parse("pk = :h AND " + text).terms[1].op == op);
  }

  // The whole condition can also be evaluated against items.
  k = parse("pk = :h AND sk BETWEEN :lo AND :hi");
  Item in = I(R"({"pk": {"S": "user1"}, "sk": {"N": "5"}})");
  Item out = I(R"({"pk": {"S": "user1"}, "sk": {"N": "10"}})");
  CHECK(Ok(Evaluate(k.condition, &in)));
  CHECK_FALSE(Ok(Evaluate(k.condition, &out)));
}

TEST_CASE("key conditions: DynamoDB's shape errors") {
  Values v = {{":a", V(R"({"S": "1"})")}, {":b", V(R"({"S": "1"})")}};
  CHECK(KeyError("a > b and size(b) > c or a > c") ==
        "Invalid operator used in KeyConditionExpression: OR");
  CHECK(KeyError("a in (b, size(c), d)") == "Invalid operator used in KeyConditionExpression: IN");
  CHECK(KeyError("attribute_exists(a)") ==
        "Invalid operator used in KeyConditionExpression: attribute_exists");
  CHECK(KeyError("attribute_not_exists(a)") ==
        "Invalid operator used in KeyConditionExpression: attribute_not_exists");
  CHECK(KeyError("contains(a.d, b)") ==
        "Invalid operator used in KeyConditionExpression: contains");
  CHECK(KeyError("not a > b") == "Invalid operator used in KeyConditionExpression: NOT");
  CHECK(KeyError("a <> b") == "Invalid operator used in KeyConditionExpression: <>");
  CHECK(KeyError("attribute_type(a, :a)", {{":a", V(R"({"S": "S"})")}}) ==
        "Invalid operator used in KeyConditionExpression: attribute_type");
  CHECK(KeyError("attribute_type(a, :a)", {{":a", V(R"({"N": "1"})")}}) ==
        "Invalid KeyConditionExpression: Incorrect operand type for operator or function; "
        "operator or function: attribute_type, operand type: N");
  CHECK(KeyError(":a between size(b) and size(a) and b > :b", v) ==
        "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key "
        "attribute as its first operand");
  CHECK(KeyError("begins_with(:a, b) and a > :b", v) ==
        "Invalid condition in KeyConditionExpression: begins_with operator must have the key "
        "attribute as its first operand");
  for (const char* text :
       {"size(b) > a AND a.b > b AND b > c", "a > size(b.d)", "a between size(b) and size(a)"}) {
    CHECK(KeyError(text) == "KeyConditionExpressions cannot contain nested operations");
  }
  for (const char* text :
       {"b > a.b", "b between c[1] and d", "a between b and size(a)", "begins_with(a, b)"}) {
    CHECK(KeyError(text) ==
          "Invalid condition in KeyConditionExpression: Multiple attribute names used in one "
          "condition");
  }
  for (const char* text : {"b.d > a AND c.d > e.f", "a.d > c", "b[0] > a"}) {
    CHECK(KeyError(text) == "KeyConditionExpressions cannot have conditions on nested attributes");
  }
  Values n = {{":a", V(R"({"N": "1"})")}, {":b", V(R"({"N": "1"})")}};
  for (const char* text : {":b > :a AND a < :b", ":a > b AND :a < :b"}) {
    CHECK(KeyError(text, n) ==
          "Invalid condition in KeyConditionExpression: No key attribute specified");
  }
  for (const char* text :
       {"b > :a AND b < :a and c = :a and d = :a", "(a > :a and b > :a) and (b > :a and c > :a)"}) {
    CHECK(KeyError(text, n) == "KeyConditionExpressions must only contain one condition per key");
  }
  CHECK(KeyError("a between :b and :a", {{":a", V(R"({"S": "a"})")}, {":b", V(R"({"N": "1"})")}}) ==
        "Invalid KeyConditionExpression: The BETWEEN operator requires same data type for lower "
        "and upper bounds; lower bound operand: AttributeValue: {N:1}, upper bound operand: "
        "AttributeValue: {S:a}");
  CHECK(KeyError("a between :b and :a", {{":a", V(R"({"S": "a"})")}, {":b", V(R"({"S": "b"})")}}) ==
        "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater "
        "than or equal to lower bound; lower bound operand: AttributeValue: {S:b}, upper bound "
        "operand: AttributeValue: {S:a}");
  CHECK(KeyError("things are not gonna be ok")
            .rfind("Invalid KeyConditionExpression: Syntax error; ", 0) == 0);
  CHECK(KeyError("a > 4").rfind("Invalid KeyConditionExpression: Syntax error; ", 0) == 0);
}

TEST_CASE("key conditions bound to a key schema") {
  Values v = {{":h", V(R"({"S": "u"})")}, {":n", V(R"({"N": "5"})")}, {":s", V(R"({"S": "x"})")}};
  auto bind = [&](const std::string& text, const KeyDef& hash, std::optional<KeyDef> range) {
    Request r({}, v);
    KeyCondition k = Ok(ParseKeyCondition(text, r.ctx()));
    return BindKeySchema(k, hash, range);
  };
  KeyDef pk{"pk", ValueType::kS};
  KeyDef sk{"sk", ValueType::kN};
  KeyQuery q = Ok(bind("pk = :h", pk, sk));
  CHECK(q.hash_name == "pk");
  CHECK(q.hash_value == V(R"({"S": "u"})"));
  CHECK_FALSE(q.range.has_value());
  q = Ok(bind("sk > :n AND pk = :h", pk, sk));
  REQUIRE(q.range.has_value());
  CHECK(q.range->attribute == "sk");
  CHECK(q.range->op == KeyOp::kGt);
  CHECK(Err(bind("sk = :n", pk, sk)) == "Query condition missed key schema element: pk");
  CHECK(Err(bind("pk = :h AND extra = :n", pk, sk)) == "Query key condition not supported");
  CHECK(Err(bind("pk = :h AND sk = :n", pk, std::nullopt)) == "Query key condition not supported");
  CHECK(Err(bind("pk > :h", pk, sk)) == "Query key condition not supported");
  CHECK(Err(bind("pk = :n", pk, sk)) ==
        "One or more parameter values were invalid: Condition parameter type does not match "
        "schema type");
  CHECK(Err(bind("pk = :h AND sk < :s", pk, sk)) ==
        "One or more parameter values were invalid: Condition parameter type does not match "
        "schema type");
}

// --- update expressions -------------------------------------------------------------------

TEST_CASE("SET writes values, copies and nested paths") {
  Item item = I(R"({"id": {"S": "k"}, "a": {"S": "hello"},
                    "m": {"M": {"x": {"N": "1"}, "c": {"M": {"y": {"N": "3"}}}}},
                    "l": {"L": [{"S": "one"}, {"S": "two"}, {"S": "three"}]}})");
  Values v = {{":v", V(R"({"N": "4"})")},
              {":s", V(R"({"S": "new"})")},
              {":m", V(R"({"M": {"k": {"L": []}}})")}};
  CHECK(Update("SET b = :v", item, v)["b"] == V(R"({"N": "4"})"));
  CHECK(Update("set b = :v", item, v).count("b") == 1);  // keywords are case-insensitive
  CHECK(Update("  sEt   b=:v  ", item, v).count("b") == 1);
  CHECK(Update("SET b = a", item)["b"] == V(R"({"S": "hello"})"));
  CHECK(Update("SET a = a", item)["a"] == V(R"({"S": "hello"})"));
  Item nested = Update("SET m.x = :s, m.c.z = :v, m.fresh = :m", item, v);
  CHECK(nested["m"] ==
        V(R"({"M": {"x": {"S": "new"}, "c": {"M": {"y": {"N": "3"}, "z": {"N": "4"}}},
                                    "fresh": {"M": {"k": {"L": []}}}}})"));
  CHECK(Update("SET l[1] = :s", item, v)["l"] ==
        V(R"({"L": [{"S": "one"}, {"S": "new"}, {"S": "three"}]})"));
  CHECK(Update("SET z = m.c.y", item)["z"] == V(R"({"N": "3"})"));
  CHECK(Update("SET #a = :v", item, v, {{"#a", "a.b"}})["a.b"] == V(R"({"N": "4"})"));
  // Operands read the item as it was: "SET x = :v, y = x" cannot see the new x.
  CHECK(UpdateApplyError("SET x = :v, y = x", item, v) ==
        "The provided expression refers to an attribute that does not exist in the item");
  // ... and REMOVE a SET b = a copies the old a.
  Item moved = Update("REMOVE a SET b = a", item);
  CHECK(moved.count("a") == 0);
  CHECK(moved["b"] == V(R"({"S": "hello"})"));
  // Clauses in any order, each keyword once.
  Item multi = Update(
      "REMOVE l ADD n :v SET b = :s DELETE absent :ss", item,
      {{":v", V(R"({"N": "4"})")}, {":s", V(R"({"S": "x"})")}, {":ss", V(R"({"SS": ["q"]})")}});
  CHECK(multi.count("l") == 0);
  CHECK(multi["n"] == V(R"({"N": "4"})"));
  CHECK(multi["b"] == V(R"({"S": "x"})"));
}

TEST_CASE("SET arithmetic is exact") {
  Item item = I(
      R"({"n": {"N": "0.1"}, "s": {"S": "x"},
          "big": {"N": "99999999999999999999999999999999999999"}})");
  Values v = {{":p2", V(R"({"N": "0.2"})")},
              {":one", V(R"({"N": "1"})")},
              {":seven", V(R"({"N": "7"})")},
              {":s", V(R"({"S": "dog"})")},
              {":tiny", V(R"({"N": "1e-130"})")}};
  CHECK(Update("SET n = n + :p2", item, v)["n"] == V(R"({"N": "0.3"})"));
  CHECK(Update("SET n = n - :p2", item, v)["n"] == V(R"({"N": "-0.1"})"));
  CHECK(Update("SET r = :seven - n", item, v)["r"] == V(R"({"N": "6.9"})"));
  CHECK(Update("SET r = :p2+:p2", item, v)["r"] == V(R"({"N": "0.4"})"));
  CHECK(Update("SET r = (n + :p2)", item, v)["r"] == V(R"({"N": "0.3"})"));
  CHECK(Update("SET r = (n) + (:p2)", item, v)["r"] == V(R"({"N": "0.3"})"));
  CHECK(Update("SET r = big - big", item, v)["r"] == V(R"({"N": "0"})"));
  CHECK(Update("SET r = big + :one", item, v)["r"] ==
        V(R"({"N": "100000000000000000000000000000000000000"})"));
  CHECK(UpdateApplyError("SET r = big + :p2", item, v) ==
        "Attempting to store more than 38 significant digits in a Number");
  CHECK(UpdateApplyError("SET r = n + :tiny", item, v) ==
        "Attempting to store more than 38 significant digits in a Number");
  CHECK(UpdateApplyError("SET s = s + s", item, v) ==
        "An operand in the update expression has an incorrect data type");
  CHECK(UpdateApplyError("SET r = absent + :one", item, v) ==
        "The provided expression refers to an attribute that does not exist in the item");
  CHECK(UpdateParseError("SET b = :s + :one", v) ==
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
        "or function: +, operand type: S");
  CHECK(UpdateParseError("SET b = :one - :s", v) ==
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
        "or function: -, operand type: S");
  // Exactly one + or - per value.
  CHECK(UpdateParseError("SET b = :one + :one + :one", v) ==
        "Invalid UpdateExpression: Syntax error; token: \"+\", near: \":one +\"");
  CHECK(UpdateParseError("SET b = (:one + :one) + :one", v) ==
        "Invalid UpdateExpression: Syntax error; token: \"+\", near: \") +\"");
}

TEST_CASE("if_not_exists") {
  Item item = I(R"({"a": {"N": "2"}, "m": {"M": {"x": {"S": "here"}}}})");
  Values v = {{":v", V(R"({"N": "3"})")}, {":w", V(R"({"N": "5"})")}};
  CHECK(Update("SET a = if_not_exists(a, :v)", item, v)["a"] == V(R"({"N": "2"})"));
  CHECK(Update("SET b = if_not_exists(c, :v)", item, v)["b"] == V(R"({"N": "3"})"));
  CHECK(Update("SET b = if_not_exists(a, :v)", item, v)["b"] == V(R"({"N": "2"})"));
  CHECK(Update("SET b = if_not_exists (m.x, :v)", item, v)["b"] == V(R"({"S": "here"})"));
  CHECK(Update("SET b = if_not_exists(b, :v)+:w", item, v)["b"] == V(R"({"N": "8"})"));
  CHECK(Update("SET c = if_not_exists(c, if_not_exists(a, :v))", item, v)["c"] ==
        V(R"({"N": "2"})"));
  CHECK(UpdateParseError("SET b = if_not_exists(:v, :w)", v) ==
        "Invalid UpdateExpression: Operator or function requires a document path; operator or "
        "function: if_not_exists");
  CHECK(UpdateParseError("SET b = if_not_exists(if_not_exists(a, :v), :w)", v) ==
        "Invalid UpdateExpression: Operator or function requires a document path; operator or "
        "function: if_not_exists");
  CHECK(UpdateParseError("SET c = if_not_exists(c, :v+:w)", v) ==
        "Invalid UpdateExpression: Syntax error; token: \"+\", near: \":v+:w\"");
  CHECK(UpdateParseError("SET b = if_not_exists(a)", v) ==
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
        "operator or function: if_not_exists, number of operands: 1");
}

TEST_CASE("list_append") {
  Item item = I(R"({"l": {"L": [{"S": "hi"}, {"N": "2"}]}, "s": {"S": "x"}})");
  Values v = {{":a", V(R"({"L": [{"N": "4"}, {"S": "hello"}]})")},
              {":b", V(R"({"L": [{"S": "dog"}]})")},
              {":empty", V(R"({"L": []})")},
              {":s", V(R"({"S": "hi"})")}};
  CHECK(Update("SET l = list_append(l, :a)", item, v)["l"] ==
        V(R"({"L": [{"S": "hi"}, {"N": "2"}, {"N": "4"}, {"S": "hello"}]})"));
  CHECK(Update("SET l = list_append(:b, l)", item, v)["l"] ==
        V(R"({"L": [{"S": "dog"}, {"S": "hi"}, {"N": "2"}]})"));
  CHECK(Update("SET n = list_append(:a, :b)", item, v)["n"] ==
        V(R"({"L": [{"N": "4"}, {"S": "hello"}, {"S": "dog"}]})"));
  CHECK(Update("SET n = list_append(if_not_exists(n, :empty), :b)", item, v)["n"] ==
        V(R"({"L": [{"S": "dog"}]})"));
  CHECK(UpdateApplyError("SET s = list_append(s, :a)", item, v) ==
        "An operand in the update expression has an incorrect data type");
  CHECK(UpdateParseError("SET a = list_append(:a, :s)", v) ==
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator "
        "or function: list_append, operand type: S");
  CHECK(UpdateParseError("SET a = list_append(:a)", v) ==
        "Invalid UpdateExpression: Incorrect number of operands for operator or function; "
        "operator or function: list_append, number of operands: 1");
  CHECK(UpdateParseError("SET a = LIST_APPEND(:a, :b)", v) ==
        "Invalid UpdateExpression: Invalid function name; function: LIST_APPEND");
  CHECK(UpdateParseError("SET a = list_append(list_append(:a, :b), :b)", v) ==
        "Invalid UpdateExpression: The function is not allowed to be used this way in an "
        "expression; function: list_append");
  CHECK(UpdateParseError("SET a = f(b,c,d)") ==
        "Invalid UpdateExpression: Invalid function name; function: f");
  CHECK(UpdateParseError("SET a = size(b)") ==
        "Invalid UpdateExpression: The function is not allowed in an update expression; "
        "function: size");
}

TEST_CASE("REMOVE, list indexes and original positions") {
  Item item = I(R"({"a": {"S": "x"}, "m": {"M": {"b": {"N": "1"}}},
                    "l": {"L": [{"N": "2"}, {"N": "3"}, {"N": "4"}, {"N": "5"}, {"N": "6"},
                        {"N": "7"}]},
                    "d": {"M": {"c": {"L": [{"S": "hi"}, {"M": {"x": {"M": {"y": {"L": [{"N": "3"},
                        {"N": "5"}, {"N": "7"}]}}}, "q": {"N": "2"}}}]}}}})");
  Values v = {{":v", V(R"({"N": "17"})")}};
  CHECK(Update("REMOVE a", item).count("a") == 0);
  CHECK(Update("REMOVE nope", item) == item);
  CHECK(Update("REMOVE m.b", item)["m"] == V(R"({"M": {}})"));  // empty maps stay
  CHECK(Update("REMOVE l[17]", item) == item);
  CHECK(Update("REMOVE l[0], l[1]", item)["l"] ==
        V(R"({"L": [{"N": "4"}, {"N": "5"}, {"N": "6"}, {"N": "7"}]})"));
  CHECK(Update("REMOVE l[1] SET l[3] = :v", item, v)["l"] ==
        V(R"({"L": [{"N": "2"}, {"N": "4"}, {"N": "17"}, {"N": "6"}, {"N": "7"}]})"));
  CHECK(Update("SET l[3] = :v REMOVE l[1]", item, v)["l"] ==
        V(R"({"L": [{"N": "2"}, {"N": "4"}, {"N": "17"}, {"N": "6"}, {"N": "7"}]})"));
  CHECK(Update("REMOVE d.c[1].x.y[1], d.c[1].q", item)["d"] ==
        V(R"({"M": {"c": {"L": [{"S": "hi"}, {"M": {"x": {"M": {"y": {"L": [{"N": "3"},
          {"N": "7"}]}}}}}]}}})"));
  CHECK(UpdateApplyError("REMOVE a.c", item) ==
        "The document path provided in the update expression is invalid for update");
  CHECK(UpdateApplyError("REMOVE c.c", item) ==
        "The document path provided in the update expression is invalid for update");
  CHECK(UpdateApplyError("REMOVE a[0]", item) ==
        "The document path provided in the update expression is invalid for update");
  // When the item does not exist at all, DynamoDB ignores such REMOVEs.
  Item key = I(R"({"id": {"S": "k"}})");
  Request r;
  UpdatePlan plan = Ok(ParseUpdate("REMOVE x.y, z[0]", r.ctx()));
  CHECK(Ok(ApplyUpdate(plan, key, /*item_exists=*/false)) == key);
  CHECK_FALSE(ApplyUpdate(plan, key, /*item_exists=*/true).ok());
}

TEST_CASE("SET past the end of a list appends, in index order") {
  Item item = I(R"({"a": {"L": [{"S": "one"}, {"S": "two"}, {"S": "three"}]}, "s": {"S": "x"}})");
  Values v = {{":a1", V(R"({"S": "a1"})")},
              {":a2", V(R"({"S": "a2"})")},
              {":a3", V(R"({"S": "a3"})")},
              {":a4", V(R"({"S": "a4"})")}};
  CHECK(Update("SET a[7] = :a1", item, v)["a"] ==
        V(R"({"L": [{"S": "one"}, {"S": "two"}, {"S": "three"}, {"S": "a1"}]})"));
  CHECK(Update("SET a[84] = :a1, a[37] = :a2, a[17] = :a3, a[50] = :a4", item, v)["a"] ==
        V(R"({"L": [{"S": "one"}, {"S": "two"}, {"S": "three"}, {"S": "a3"}, {"S": "a2"},
                    {"S": "a4"}, {"S": "a1"}]})"));
  for (const char* text : {"SET s[0] = :a1", "SET b[0] = :a1", "SET s.c = :a1", "SET a.c = :a1",
                           "SET c.c = :a1", "SET a[9].x = :a1"}) {
    CHECK(UpdateApplyError(text, item, v) ==
          "The document path provided in the update expression is invalid for update");
  }
}

TEST_CASE("ADD adds numbers and unites sets") {
  Item item = I(R"({"n": {"N": "3"}, "s": {"S": "hi"}, "ss": {"SS": ["cat", "dog"]},
                    "ns": {"NS": ["1", "2"]}, "bs": {"BS": ["AQ=="]},
                    "m": {"M": {"hits": {"N": "1"}}}})");
  Values v = {{":four", V(R"({"N": "4"})")},
              {":neg", V(R"({"N": "-3.5"})")},
              {":pig", V(R"({"SS": ["pig", "cat"]})")},
              {":ns", V(R"({"NS": ["2", "3.0"]})")},
              {":bs", V(R"({"BS": ["Ag=="]})")},
              {":p2", V(R"({"N": "0.2"})")},
              {":p1", V(R"({"N": "0.1"})")}};
  CHECK(Update("ADD n :four", item, v)["n"] == V(R"({"N": "7"})"));
  CHECK(Update("ADD n :neg", item, v)["n"] == V(R"({"N": "-0.5"})"));
  CHECK(Update("ADD added :four", item, v)["added"] == V(R"({"N": "4"})"));
  CHECK(Update("ADD ss :pig", item, v)["ss"] == V(R"({"SS": ["cat", "dog", "pig"]})"));
  CHECK(Update("ADD ns :ns", item, v)["ns"] == V(R"({"NS": ["1", "2", "3"]})"));
  CHECK(Update("ADD bs :bs", item, v)["bs"] == V(R"({"BS": ["AQ==", "Ag=="]})"));
  CHECK(Update("ADD fresh :pig", item, v)["fresh"] == V(R"({"SS": ["cat", "pig"]})"));
  CHECK(Update("ADD m.hits :four", item, v)["m"] == V(R"({"M": {"hits": {"N": "5"}}})"));
  Item decimal = Update("ADD x :p1", I(R"({"x": {"N": "0.2"}})"), v);
  CHECK(decimal["x"] == V(R"({"N": "0.3"})"));
  CHECK(Update("ADD n :four, ss :pig", item, v).size() == item.size());
  CHECK(UpdateApplyError("ADD s :four", item, v) ==
        "An operand in the update expression has an incorrect data type");
  CHECK(UpdateApplyError("ADD ss :ns", item, v) ==
        "An operand in the update expression has an incorrect data type");
  CHECK(UpdateApplyError("ADD n :pig", item, v) ==
        "An operand in the update expression has an incorrect data type");
  Values bad = {{":s", V(R"({"S": "hello"})")}, {":l", V(R"({"L": []})")},
                {":m", V(R"({"M": {}})")},      {":b", V(R"({"BOOL": true})")},
                {":z", V(R"({"NULL": true})")}, {":bin", V(R"({"B": "AQ=="})")}};
  CHECK(UpdateParseError("ADD a :s", bad) ==
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
        "ADD, operand type: STRING");
  CHECK(UpdateParseError("ADD a :l", bad).find("operand type: LIST") != std::string::npos);
  CHECK(UpdateParseError("ADD a :m", bad).find("operand type: MAP") != std::string::npos);
  CHECK(UpdateParseError("ADD a :b", bad).find("operand type: BOOLEAN") != std::string::npos);
  CHECK(UpdateParseError("ADD a :z", bad).find("operand type: NULL") != std::string::npos);
  CHECK(UpdateParseError("ADD a :bin", bad).find("operand type: BINARY") != std::string::npos);
  CHECK(UpdateParseError("ADD a b", bad) ==
        "Invalid UpdateExpression: Syntax error; token: \"b\", near: \"a b\"");
}

TEST_CASE("DELETE takes members out of sets") {
  Item item = I(R"({"ss": {"SS": ["cat", "dog", "mouse"]}, "ns": {"NS": ["1", "2.5"]},
                    "b": {"S": "hi"}})");
  Values v = {{":cm", V(R"({"SS": ["cat", "mouse"]})")},
              {":pig", V(R"({"SS": ["pig"]})")},
              {":all", V(R"({"SS": ["cat", "dog", "mouse", "pig"]})")},
              {":n", V(R"({"NS": ["2.50"]})")},
              {":num", V(R"({"N": "1"})")},
              {":s", V(R"({"S": "hello"})")}};
  CHECK(Update("DELETE ss :cm", item, v)["ss"] == V(R"({"SS": ["dog"]})"));
  CHECK(Update("DELETE ss :pig", item, v) == item);
  CHECK(Update("DELETE ss :all", item, v).count("ss") == 0);  // no empty sets
  CHECK(Update("DELETE ns :n", item, v)["ns"] == V(R"({"NS": ["1"]})"));
  CHECK(Update("DELETE nothing :pig", item, v) == item);
  CHECK(UpdateApplyError("DELETE b :pig", item, v) ==
        "An operand in the update expression has an incorrect data type");
  CHECK(UpdateApplyError("DELETE ns :pig", item, v) ==
        "An operand in the update expression has an incorrect data type");
  CHECK(UpdateParseError("DELETE a :num", v) ==
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
        "DELETE, operand type: NUMBER");
  CHECK(UpdateParseError("DELETE a :s", v) ==
        "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: "
        "DELETE, operand type: STRING");
}

TEST_CASE("update parse errors: sections, overlaps and conflicts") {
  Values v = {{":val1", V(R"({"N": "1"})")}, {":val2", V(R"({"N": "2"})")}};
  CHECK(UpdateParseError("SET a = :val1 SET b = :val2", v) ==
        "Invalid UpdateExpression: The \"SET\" section can only be used once in an update "
        "expression;");
  CHECK(UpdateParseError("SET a = :val1 REMOVE c SET b = :val2", v) ==
        "Invalid UpdateExpression: The \"SET\" section can only be used once in an update "
        "expression;");
  CHECK(UpdateParseError("remove a REMOVE b") ==
        "Invalid UpdateExpression: The \"REMOVE\" section can only be used once in an update "
        "expression;");
  CHECK(UpdateParseError("SET a = :val1 REMOVE a", v) ==
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a]");
  CHECK(UpdateParseError("SET #a1 = :val1, #a2 = :val2", v, {{"#a1", "a"}, {"#a2", "a"}}) ==
        "Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
        "rewrite one of these paths; path one: [a], path two: [a]");
  for (const char* text : {"SET a = :val1, a.b = :val2", "SET a.b = :val1, a = :val2",
                           "SET a.b = :val1, a.b.c = :val2", "SET a.b.c.d.e = :val1, a.b = :val2",
                           "SET a = :val1, a[1] = :val2", "SET a[1][1] = :val1, a[1] = :val2",
                           "SET a[1][1][1][1] = :val1, a[1][1][1][1] = :val2"}) {
    CHECK(UpdateParseError(text, v).find("Two document paths overlap") != std::string::npos);
  }
  CHECK(UpdateParseError("SET a.b = :val1, a[1] = :val2", v) ==
        "Invalid UpdateExpression: Two document paths conflict with each other; must remove or "
        "rewrite one of these paths; path one: [a, b], path two: [a, [1]]");
  CHECK(UpdateParseError("SET a.b.c = :val1, a.b[2] = :val2", v).find("conflict") !=
        std::string::npos);
  CHECK(UpdateParseError("ADD a :val1 DELETE a.b :val2", v).find("overlap") != std::string::npos);
  // Non-overlapping changes to one attribute are fine.
  Item item = I(R"({"a": {"M": {"x": {"N": "3"}, "y": {"N": "4"}, "c": {"M": {"y": {"N": "3"}}}}},
                    "b": {"M": {"x": {"N": "1"}, "y": {"N": "2"}}}})");
  Item updated = Update("SET a.b = :val1, a.c.d = :val2, b.x = :val2 REMOVE a.x, b.y", item, v);
  CHECK(updated == I(R"({"a": {"M": {"y": {"N": "4"}, "b": {"N": "1"},
                                      "c": {"M": {"y": {"N": "3"}, "d": {"N": "2"}}}}},
                         "b": {"M": {"x": {"N": "2"}}}})"));
  CHECK(UpdateParseError("SET set = :val1", v) ==
        "Invalid UpdateExpression: Syntax error; token: \"set\", near: \"SET set\"");
  CHECK(UpdateParseError("SET a = :val1,", v) ==
        "Invalid UpdateExpression: Syntax error; token: \"<EOF>\", near: \",\"");
}

TEST_CASE("key attributes cannot be updated") {
  Request r({}, {{":v", V(R"({"N": "4"})")}});
  for (const char* text : {"SET p = :v", "REMOVE c", "ADD p :v", "SET x = :v, c.y = :v"}) {
    UpdatePlan plan = Ok(ParseUpdate(text, r.ctx()));
    absl::Status s = CheckKeyNotUpdated(plan, {"p", "c"});
    CHECK(s.message().find("This attribute is part of the key") != std::string::npos);
  }
  UpdatePlan plan = Ok(ParseUpdate("SET p = :v", r.ctx()));
  CHECK(CheckKeyNotUpdated(plan, {"p"}).message() ==
        "Cannot update attribute p. This attribute is part of the key");
  CHECK(CheckKeyNotUpdated(Ok(ParseUpdate("SET x = p", r.ctx())), {"p"}).ok());
}

// --- numbers ------------------------------------------------------------------------------

TEST_CASE("decimal arithmetic keeps 38 significant digits exactly") {
  CHECK(Ok(AddNumbers("0.1", "0.2")) == "0.3");
  CHECK(Ok(AddNumbers("0.3", "0.1", /*subtract=*/true)) == "0.2");
  CHECK(Ok(AddNumbers("1", "-1")) == "0");
  CHECK(Ok(AddNumbers("-5", "3")) == "-2");
  CHECK(Ok(AddNumbers("-5", "-3", true)) == "-2");
  CHECK(Ok(AddNumbers("100000000000000000000.00000001", "1", true)) ==
        "99999999999999999999.00000001");
  CHECK(Ok(AddNumbers("1.5e3", "2.5")) == "1502.5");
  // 38 digits in, 38 digits out.
  CHECK(Ok(AddNumbers("12345678901234567890123456789012345678",
                      "11111111111111111111111111111111111111")) ==
        "23456790012345679001234567900123456789");
  CHECK(Ok(AddNumbers("0.00000000000000000000000000000000000001",
                      "0.99999999999999999999999999999999999998")) ==
        "0.99999999999999999999999999999999999999");
  // A carry that adds a digit but stays at 38 significant digits (trailing zeros).
  CHECK(Ok(AddNumbers("99999999999999999999999999999999999999", "1")) ==
        "100000000000000000000000000000000000000");
  CHECK(Err(AddNumbers("99999999999999999999999999999999999999", "0.1")) ==
        "Attempting to store more than 38 significant digits in a Number");
  CHECK(Err(AddNumbers("1e125", "0.000001")) ==
        "Attempting to store more than 38 significant digits in a Number");
  CHECK(Err(AddNumbers("9.9999999999999999999999999999999999999e125", "1e88")) ==
        "Number overflow. Attempting to store a number with magnitude larger than supported "
        "range");
  CHECK(Err(AddNumbers("1.1e-130", "1e-130", true)) ==
        "Number underflow. Attempting to store a number with magnitude smaller than supported "
        "range");
  CHECK(Ok(AddNumbers("1e-130", "1e-130")) == Ok(CanonicalNumber("2e-130")));
  CHECK_FALSE(AddNumbers("abc", "1").ok());
}

// --- projections --------------------------------------------------------------------------

TEST_CASE("projection of top-level attributes") {
  Item item = I(R"({"p": {"S": "k"}, "a": {"S": "hello"}, "b": {"S": "hi"}})");
  CHECK(ProjectText("a", item) == I(R"({"a": {"S": "hello"}})"));
  CHECK(ProjectText(" a  ,   b  ", item) == I(R"({"a": {"S": "hello"}, "b": {"S": "hi"}})"));
  CHECK(ProjectText("#name", item, {{"#name", "a"}}) == I(R"({"a": {"S": "hello"}})"));
  CHECK(ProjectText("nonexistent", item).empty());
}

TEST_CASE("projection of nested paths keeps structure") {
  Item item = I(R"({"p": {"S": "k"}, "b": {"S": "hello"}, "a.b": {"S": "dotted"},
      "a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"}, {"M": {"x": {"S": "hi"}, "y": {"S": "yo"}}}]},
                  "c": {"N": "5"}}}})");
  CHECK(ProjectText("a.b", item) ==
        I(R"({"a": {"M": {"b": {"L": [{"N": "2"}, {"N": "4"}, {"M": {"x": {"S": "hi"},
          "y": {"S": "yo"}}}]}}}})"));
  CHECK(ProjectText("a.b[0]", item) == I(R"({"a": {"M": {"b": {"L": [{"N": "2"}]}}}})"));
  CHECK(ProjectText("a.b[2].y", item) ==
        I(R"({"a": {"M": {"b": {"L": [{"M": {"y": {"S": "yo"}}}]}}}})"));
  CHECK(ProjectText("a.b[2], a.b[0]", item) ==
        I(R"({"a": {"M": {"b": {"L": [{"N": "2"}, {"M": {"x": {"S": "hi"},
          "y": {"S": "yo"}}}]}}}})"));
  CHECK(ProjectText("a.b[0],a.c", item) ==
        I(R"({"a": {"M": {"b": {"L": [{"N": "2"}]}, "c": {"N": "5"}}}})"));
  CHECK(ProjectText("a.c,b", item) == I(R"({"a": {"M": {"c": {"N": "5"}}}, "b": {"S": "hello"}})"));
  CHECK(ProjectText("a.x, a.b[0], x, a.b[3].x", item) ==
        I(R"({"a": {"M": {"b": {"L": [{"N": "2"}]}}}})"));
  CHECK(ProjectText("#n", item, {{"#n", "a.b"}}) == I(R"({"a.b": {"S": "dotted"}})"));
  CHECK(ProjectText("#n1.#n2", item, {{"#n1", "a"}, {"#n2", "c"}}) ==
        I(R"({"a": {"M": {"c": {"N": "5"}}}})"));
  for (const char* absent :
       {"x", "a.b[3]", "a.x", "a.x.y", "a.b[3].x", "a.b.x", "a[0]", "a.b[0].x", "a.b[0][0]"}) {
    INFO(absent);
    CHECK(ProjectText(absent, item).empty());
  }
}

TEST_CASE("projection errors") {
  for (const char* text : {"a, a", "a.b, a.b", "a[1], a[1]", "a, a.b", "a.b, a", "a.b, a.b[2]",
                           "a, a.b[2].c", "a.b.d.e, a.b"}) {
    CHECK(ProjectionError(text).find("Two document paths overlap") != std::string::npos);
  }
  CHECK(ProjectionError("a.b[0],a.b[0]") ==
        "Invalid ProjectionExpression: Two document paths overlap with each other; must remove "
        "or rewrite one of these paths; path one: [a, b, [0]], path two: [a, b, [0]]");
  CHECK(ProjectionError("a.b, a[1]") ==
        "Invalid ProjectionExpression: Two document paths conflict with each other; must "
        "remove or rewrite one of these paths; path one: [a, b], path two: [a, [1]]");
  CHECK(ProjectionError("a.b.c, a.b[1]").find("conflict") != std::string::npos);
  Request r;
  for (const char* text : {"a, b", "a.b, a.c", "a.b.d, a.b.e", "a[1], a[2]", "a.b, a.c[2]"}) {
    CHECK(ParseProjection(text, r.ctx()).ok());
  }
}

// --- fuzzing ------------------------------------------------------------------------------

// Runs one input through every parser; whatever parses is also evaluated / applied. Each call
// must return a result or InvalidArgument with a message; crashes and hangs fail the test.
struct FuzzStats {
  int inputs = 0;
  int parsed = 0;
  int rejected = 0;
};

class Fuzzer {
 public:
  Fuzzer()
      : names_({{"#n", "a"}, {"#m", "b.c"}, {"#k", "pk"}, {"#e", ""}}),
        values_({{":v", V(R"({"N": "1"})")},
                 {":w", V(R"({"S": "x"})")},
                 {":big", V(R"({"N": "99999999999999999999999999999999999999"})")},
                 {":s", V(R"({"SS": ["a", "b"]})")},
                 {":ns", V(R"({"NS": ["1", "2"]})")},
                 {":l", V(R"({"L": [{"N": "1"}]})")},
                 {":m", V(R"({"M": {"a": {"N": "1"}}})")},
                 {":b", V(R"({"B": "AQ=="})")},
                 {":t", V(R"({"S": "N"})")},
                 {":z", V(R"({"NULL": true})")}}),
        item_(I(
            R"({"pk": {"S": "k"}, "a": {"N": "5"}, "b": {"M": {"c": {"L": [{"N": "1"},
                {"S": "x"}]}}},
                    "s": {"SS": ["a"]}, "l": {"L": [{"L": [{"N": "2"}]}, {"M": {}}]},
                    "b.c": {"S": "dotted"}, "n": {"N": "0.1"}})")) {}

  void Run(const std::string& input) {
    ++stats_.inputs;
    for (int kind = 0; kind < 5; ++kind) {
      ExpressionContext ctx;
      ctx.names = &names_;
      ctx.values = &values_;
      absl::Status status;
      switch (kind) {
        case 0:
        case 1: {
          auto c = ParseCondition(input, &ctx,
                                  kind == 0 ? ExpressionKind::kCondition : ExpressionKind::kFilter);
          status = c.status();
          if (c.ok()) {
            REQUIRE(Evaluate(*c, &item_).ok());
            REQUIRE(Evaluate(*c, nullptr).ok());
          }
          break;
        }
        case 2: {
          auto k = ParseKeyCondition(input, &ctx);
          status = k.status();
          if (k.ok()) {
            REQUIRE(Evaluate(k->condition, &item_).ok());
            (void)BindKeySchema(*k, KeyDef{"pk", ValueType::kS}, KeyDef{"a", ValueType::kN});
          }
          break;
        }
        case 3: {
          auto u = ParseUpdate(input, &ctx);
          status = u.status();
          if (u.ok()) {
            auto applied = ApplyUpdate(*u, item_);
            if (!applied.ok()) {
              REQUIRE(applied.status().code() == absl::StatusCode::kInvalidArgument);
            }
            (void)ApplyUpdate(*u, Item{{"pk", AttributeValue::S("k")}}, false);
          }
          break;
        }
        case 4: {
          auto p = ParseProjection(input, &ctx);
          status = p.status();
          if (p.ok()) (void)Project(*p, item_);
          break;
        }
      }
      if (status.ok()) {
        ++stats_.parsed;
        (void)CheckAllUsed(ctx);
      } else {
        ++stats_.rejected;
        INFO("input: " << input);
        REQUIRE(status.code() == absl::StatusCode::kInvalidArgument);
        REQUIRE_FALSE(status.message().empty());
      }
    }
  }

  const FuzzStats& stats() const { return stats_; }

 private:
  Names names_;
  Values values_;
  Item item_;
  FuzzStats stats_;
};

const std::vector<std::string> kFuzzTokens = {
    "a",
    "b",
    "c",
    "l",
    "s",
    "n",
    "pk",
    "size",
    "value",
    "#n",
    "#m",
    "#k",
    "#e",
    "#undefined",
    ":v",
    ":w",
    ":big",
    ":s",
    ":ns",
    ":l",
    ":m",
    ":b",
    ":t",
    ":z",
    ":undefined",
    "AND",
    "and",
    "OR",
    "NOT",
    "BETWEEN",
    "IN",
    "SET",
    "set",
    "REMOVE",
    "ADD",
    "DELETE",
    "(",
    ")",
    "((",
    "))",
    "[",
    "]",
    "[0]",
    "[1]",
    "[99999999999]",
    "0",
    "1",
    "12",
    ",",
    ".",
    "=",
    "==",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "+",
    "-",
    "size(",
    "attribute_exists(",
    "attribute_not_exists(",
    "attribute_type(",
    "begins_with(",
    "contains(",
    "if_not_exists(",
    "list_append(",
    "foo(",
    "#",
    ":",
    "_",
    "!",
    "\"",
    "'",
    "\\",
    "\xff",
    "\xc3\xa9",
    "\xe2\x82",
    " ",
    "\t",
    "\n",
    std::string(1, '\0'),
};

std::string TokenSoup(std::mt19937* rng) {
  std::uniform_int_distribution<int> count(0, 40);
  std::uniform_int_distribution<size_t> pick(0, kFuzzTokens.size() - 1);
  std::uniform_int_distribution<int> coin(0, 3);
  std::string out;
  for (int i = count(*rng); i > 0; --i) {
    out += kFuzzTokens[pick(*rng)];
    if (coin(*rng) != 0) out += ' ';
  }
  return out;
}

std::string RandomBytes(std::mt19937* rng) {
  std::uniform_int_distribution<int> length(0, 64);
  std::uniform_int_distribution<int> byte(0, 255);
  std::string out;
  for (int i = length(*rng); i > 0; --i) out.push_back(static_cast<char>(byte(*rng)));
  return out;
}

const std::vector<std::string> kValidExpressions = {
    "a = :v",
    "#n <> :w AND NOT (b.c[0] < :v OR a BETWEEN :v AND :big)",
    "attribute_exists(#m) OR attribute_not_exists(b.c[1])",
    "attribute_type(a, :t)",
    "begins_with(b.c[1], :w) AND contains(s, :w)",
    "size(l) >= :v AND a IN (:v, :big, n)",
    "pk = :w AND a BETWEEN :v AND :big",
    "#k = :w AND begins_with(a, :w)",
    "pk = :w AND a > :v",
    "SET a = a + :v, b.c[5] = :w REMOVE l[0], l[1] ADD s :s DELETE ns :ns",
    "SET n = if_not_exists(n, :v) - :v, l = list_append(l, :l)",
    "SET #n = list_append(if_not_exists(x, :l), :l), y = :m REMOVE #m",
    "ADD a :v, s :s",
    "DELETE s :s SET a = (a + :big)",
    "a, b.c[0], l[1], #m",
    "#n, l[0][0]",
    "(a = :v) AND ((b = :w) OR c = :v)",
    "NOT NOT a = :v",
};

std::string Mutate(const std::string& base, std::mt19937* rng) {
  std::string s = base;
  std::uniform_int_distribution<int> op(0, 5);
  std::uniform_int_distribution<int> times(1, 4);
  for (int t = times(*rng); t > 0; --t) {
    std::uniform_int_distribution<size_t> at(0, s.size());
    size_t i = at(*rng);
    switch (op(*rng)) {
      case 0:  // delete a span
        if (!s.empty())
          s.erase(std::min(i, s.size() - 1), std::uniform_int_distribution<size_t>(1, 5)(*rng));
        break;
      case 1:  // insert a token
        s.insert(
            i, kFuzzTokens[std::uniform_int_distribution<size_t>(0, kFuzzTokens.size() - 1)(*rng)]);
        break;
      case 2:  // replace a byte
        if (!s.empty())
          s[std::min(i, s.size() - 1)] =
              static_cast<char>(std::uniform_int_distribution<int>(0, 255)(*rng));
        break;
      case 3:  // duplicate a span
        if (!s.empty()) {
          size_t from = std::min(i, s.size() - 1);
          s.insert(from, s.substr(from, std::uniform_int_distribution<size_t>(1, 12)(*rng)));
        }
        break;
      case 4:  // truncate
        s.resize(i);
        break;
      case 5:  // splice in another valid expression
        s.insert(i, kValidExpressions[std::uniform_int_distribution<size_t>(
                        0, kValidExpressions.size() - 1)(*rng)]);
        break;
    }
  }
  return s;
}

// Random expressions from the grammar, so evaluation and update application get exercised too.
class Grammar {
 public:
  explicit Grammar(uint32_t seed) : rng_(seed) {}

  std::string Path() {
    static const std::vector<std::string> heads = {"a", "b", "l", "s", "n", "pk", "#n", "#m", "zz"};
    static const std::vector<std::string> steps = {".c", "[0]", "[1]", ".x", "[7]"};
    std::string p = Pick(heads);
    for (int i = Int(0, 2); i > 0; --i) p += Pick(steps);
    return p;
  }
  std::string Value() {
    static const std::vector<std::string> values = {":v", ":w", ":big", ":s", ":ns",
                                                    ":l", ":m", ":b",   ":t", ":z"};
    return Pick(values);
  }
  std::string Operand() {
    int r = Int(0, 9);
    if (r < 6) return Path();
    if (r < 9) return Value();
    return "size(" + Path() + ")";
  }
  std::string Condition(int depth) {
    static const std::vector<std::string> ops = {"=", "<>", "<", "<=", ">", ">="};
    switch (Int(0, depth > 0 ? 12 : 7)) {
      case 0:
      case 1:
        return Operand() + " " + Pick(ops) + " " + Operand();
      case 2:
        return Operand() + " BETWEEN " + Operand() + " AND " + Operand();
      case 3: {
        std::string list = Operand();
        for (int i = Int(0, 3); i > 0; --i) list += ", " + Operand();
        return Operand() + " IN (" + list + ")";
      }
      case 4:
        return (Int(0, 1) ? "attribute_exists(" : "attribute_not_exists(") + Path() + ")";
      case 5:
        return "attribute_type(" + Path() + ", :t)";
      case 6:
        return "begins_with(" + Path() + ", " + Value() + ")";
      case 7:
        return "contains(" + Path() + ", " + Operand() + ")";
      case 8:
        return "(" + Condition(depth - 1) + ")";
      case 9:
        return "NOT " + Condition(depth - 1);
      case 10:
      case 11:
        return Condition(depth - 1) + " AND " + Condition(depth - 1);
      default:
        return Condition(depth - 1) + " OR " + Condition(depth - 1);
    }
  }
  std::string Update() {
    std::vector<std::string> clauses;
    if (Int(0, 1)) {
      std::string set = "SET ";
      for (int i = Int(1, 3); i > 0; --i) {
        if (set.size() > 4) set += ", ";
        switch (Int(0, 4)) {
          case 0:
            set += Path() + " = " + Operand();
            break;
          case 1:
            set += Path() + " = " + Operand() + (Int(0, 1) ? " + " : " - ") + Operand();
            break;
          case 2:
            set += Path() + " = if_not_exists(" + Path() + ", " + Value() + ")";
            break;
          case 3:
            set += Path() + " = list_append(" + Operand() + ", " + Operand() + ")";
            break;
          default:
            set += Path() + " = if_not_exists(" + Path() + ", :v) + :v";
            break;
        }
      }
      clauses.push_back(set);
    }
    if (Int(0, 1)) clauses.push_back("REMOVE " + Path() + (Int(0, 1) ? ", " + Path() : ""));
    if (Int(0, 1)) clauses.push_back("ADD " + Path() + " " + (Int(0, 1) ? ":v" : ":s"));
    if (Int(0, 1)) clauses.push_back("DELETE " + Path() + " " + (Int(0, 1) ? ":s" : ":ns"));
    if (clauses.empty()) clauses.push_back("REMOVE " + Path());
    std::shuffle(clauses.begin(), clauses.end(), rng_);
    std::string out;
    for (const std::string& c : clauses) out += (out.empty() ? "" : " ") + c;
    return out;
  }
  std::string Projection() {
    std::string out = Path();
    for (int i = Int(0, 3); i > 0; --i) out += ", " + Path();
    return out;
  }
  std::mt19937& rng() { return rng_; }

 private:
  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  const std::string& Pick(const std::vector<std::string>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }
  std::mt19937 rng_;
};

TEST_CASE("fuzz: grammatical expressions, mutated or not, evaluate consistently") {
  Fuzzer fuzzer;
  Grammar g(7);
  Names names = {{"#n", "a"}, {"#m", "b.c"}};
  Values values = {{":v", V(R"({"N": "1"})")},
                   {":w", V(R"({"S": "x"})")},
                   {":big", V(R"({"N": "9e125"})")},
                   {":s", V(R"({"SS": ["a", "b"]})")},
                   {":ns", V(R"({"NS": ["1", "2"]})")},
                   {":l", V(R"({"L": [{"N": "1"}]})")},
                   {":m", V(R"({"M": {"a": {"N": "1"}}})")},
                   {":b", V(R"({"B": "AQ=="})")},
                   {":t", V(R"({"S": "N"})")},
                   {":z", V(R"({"NULL": true})")}};
  Item item =
      I(R"({"pk": {"S": "k"}, "a": {"N": "5"}, "b": {"M": {"c": {"L": [{"N": "1"}, {"S": "x"}]}}},
                    "s": {"SS": ["a"]}, "l": {"L": [{"L": [{"N": "2"}]}, {"M": {}}]},
                    "b.c": {"S": "dotted"}, "n": {"N": "0.1"}})");
  int conditions = 0, updates = 0, projections = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string c = g.Condition(3);
    std::string u = g.Update();
    std::string p = g.Projection();
    fuzzer.Run(c);
    fuzzer.Run(u);
    fuzzer.Run(p);
    fuzzer.Run(Mutate(c, &g.rng()));
    fuzzer.Run(Mutate(u, &g.rng()));
    ExpressionContext ctx;
    ctx.names = &names;
    ctx.values = &values;
    auto parsed = ParseCondition(c, &ctx);
    if (parsed.ok()) {
      ++conditions;
      // NOT (c) is the negation of c, with or without an item.
      auto negated = ParseCondition("NOT (" + c + ")", &ctx);
      if (negated.ok()) {
        for (const Item* it : std::vector<const Item*>{&item, nullptr}) {
          INFO(c);
          CHECK(Ok(Evaluate(*negated, it)) == !Ok(Evaluate(*parsed, it)));
        }
      }
    }
    auto plan = ParseUpdate(u, &ctx);
    if (plan.ok()) {
      ++updates;
      auto applied = ApplyUpdate(*plan, item);
      // Attributes the plan does not target survive; the same plan gives the same item.
      if (applied.ok() && CheckKeyNotUpdated(*plan, {"pk"}).ok()) {
        CHECK(applied->at("pk") == item.at("pk"));
      }
      auto again = ApplyUpdate(*plan, item);
      CHECK(again.ok() == applied.ok());
      if (again.ok() && applied.ok()) CHECK(*again == *applied);
    }
    auto projection = ParseProjection(p, &ctx);
    if (projection.ok()) {
      ++projections;
      for (const auto& [name, value] : Project(*projection, item)) CHECK(item.count(name) == 1);
    }
  }
  WARN("grammar: " << fuzzer.stats().inputs << " inputs x 5 parsers, " << fuzzer.stats().parsed
                   << " parsed; " << conditions << " conditions, " << updates << " updates, "
                   << projections << " projections valid");
  CHECK(conditions > 1000);
  CHECK(updates > 500);
  CHECK(projections > 500);
}

TEST_CASE("fuzz: valid seeds parse") {
  Fuzzer fuzzer;
  for (const std::string& e : kValidExpressions) fuzzer.Run(e);
  // Every seed is accepted by at least one parser.
  CHECK(fuzzer.stats().parsed >= static_cast<int>(kValidExpressions.size()));
}

TEST_CASE("fuzz: token soup and random bytes never crash or hang") {
  Fuzzer fuzzer;
  auto start = std::chrono::steady_clock::now();
  for (uint32_t seed : {1u, 2u, 3u}) {
    std::mt19937 rng(seed);
    for (int i = 0; i < 5000; ++i) fuzzer.Run(TokenSoup(&rng));
    for (int i = 0; i < 2000; ++i) fuzzer.Run(RandomBytes(&rng));
  }
  // Long hostile inputs near the size limit.
  std::mt19937 rng(4);
  for (int i = 0; i < 200; ++i) {
    std::string s;
    while (s.size() < kMaxExpressionBytes - 60) s += TokenSoup(&rng);
    fuzzer.Run(s);
  }
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("token soup / bytes: " << fuzzer.stats().inputs << " inputs x 5 parsers, "
                              << fuzzer.stats().parsed << " parsed, " << fuzzer.stats().rejected
                              << " rejected, " << seconds << " s");
  CHECK(fuzzer.stats().inputs >= 21000);
  CHECK(fuzzer.stats().parsed > 0);
  CHECK(seconds < 120);
}

TEST_CASE("fuzz: mutated valid expressions never crash or hang") {
  Fuzzer fuzzer;
  auto start = std::chrono::steady_clock::now();
  std::mt19937 rng(20240601);
  std::uniform_int_distribution<size_t> pick(0, kValidExpressions.size() - 1);
  for (int i = 0; i < 10000; ++i) fuzzer.Run(Mutate(kValidExpressions[pick(rng)], &rng));
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  WARN("mutations: " << fuzzer.stats().inputs << " inputs x 5 parsers, " << fuzzer.stats().parsed
                     << " parsed, " << fuzzer.stats().rejected << " rejected, " << seconds << " s");
  CHECK(fuzzer.stats().inputs == 10000);
  CHECK(fuzzer.stats().parsed > 500);  // mutations keep many inputs meaningful
  CHECK(seconds < 120);
}

}  // namespace
}  // namespace gtsim::expr
