// Tests of model/attribute_value.h: number canonicalisation and ordering, and the binary item
// encoding used for storage and replication.
#include "model/attribute_value.h"

#include <catch2/catch.hpp>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace gtsim {
namespace {

std::string Canonical(const std::string& text) {
  auto n = CanonicalNumber(text);
  INFO("CanonicalNumber(\"" << text << "\") -> " << n.status().ToString());
  REQUIRE(n.ok());
  return *n;
}

AttributeValue Num(const std::string& text) { return AttributeValue::N(Canonical(text)); }

// An item holding one attribute of every type, nested maps and lists included.
Item EveryType() {
  Item inner{{"flag", AttributeValue::Bool(false)},
             {"list", AttributeValue::L({Num("-2.5"), AttributeValue::S("x"),
                                         AttributeValue::M({{"deep", AttributeValue::Null()}})})}};
  return Item{
      {"s", AttributeValue::S("hello, world")},
      {"empty_s", AttributeValue::S("")},
      {"n", Num("-123.456")},
      {"b", AttributeValue::B(std::string("\x00\x01\xff\x80", 4))},
      {"yes", AttributeValue::Bool(true)},
      {"no", AttributeValue::Bool(false)},
      {"nothing", AttributeValue::Null()},
      {"m", AttributeValue::M(inner)},
      {"empty_m", AttributeValue::M({})},
      {"l", AttributeValue::L({AttributeValue::S("a"), Num("1"), AttributeValue::L({})})},
      {"ss", AttributeValue::SS({"pear", "apple", "fig"})},
      {"ns", AttributeValue::NS({"10", "-1", "0.5"})},
      {"bs", AttributeValue::BS({std::string("\x00", 1), "\xff\xfe", "abc"})},
  };
}

TEST_CASE("numbers are canonicalised so that equal numbers have equal text", "[attribute_value]") {
  CHECK(Canonical("1.50") == "1.5");
  CHECK(Canonical("-0") == "0");
  CHECK(Canonical("0") == "0");
  CHECK(Canonical("0.000") == "0");
  CHECK(Canonical("-0.0e5") == "0");
  CHECK(Canonical("1e2") == "100");
  CHECK(Canonical("1E2") == "100");
  CHECK(Canonical("0.0012e3") == "1.2");
  CHECK(Canonical("007") == "7");
  CHECK(Canonical("-007.50") == "-7.5");
  CHECK(Canonical("000.25") == "0.25");
  CHECK(Canonical("12.5e-3") == "0.0125");
  CHECK(Canonical("-1.50e3") == "-1500");
  CHECK(Canonical("+42") == "42");
  CHECK(Canonical("100") == "100");
  CHECK(Canonical("1e-130") == "0." + std::string(129, '0') + "1");
  CHECK(Canonical("9.99e125") == "999" + std::string(123, '0'));
  // 38 significant digits is DynamoDB's maximum and still accepted.
  CHECK(Canonical("12345678901234567890123456789012345678") ==
        "12345678901234567890123456789012345678");
}

TEST_CASE("malformed number text is rejected with InvalidArgument", "[attribute_value]") {
  for (const std::string bad : {"abc", "", "1e", "--1", "1e+", "-", ".", "e5", "1.2.3", "1 ", " 1",
                                "0x10", "1e5x", "NaN", "Infinity"}) {
    auto n = CanonicalNumber(bad);
    INFO("input: \"" << bad << "\"");
    REQUIRE_FALSE(n.ok());
    CHECK(n.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(n.status().message().empty());
  }
}

TEST_CASE("numbers with more than 38 significant digits are rejected", "[attribute_value]") {
  auto n = CanonicalNumber("123456789012345678901234567890123456789");  // 39 digits
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(n.status().message()).find("38") != std::string::npos);
  auto frac = CanonicalNumber("0.123456789012345678901234567890123456789");
  CHECK(frac.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("numbers outside DynamoDB's range are rejected", "[attribute_value]") {
  for (const std::string bad : {"1e126", "-1e126", "1e-131", "-1e-131", "0.1e-130"}) {
    auto n = CanonicalNumber(bad);
    INFO("input: " << bad);
    REQUIRE_FALSE(n.ok());
    CHECK(n.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(n.status().message()).find("range") != std::string::npos);
  }
}

TEST_CASE("AttributeValue::Number canonicalises user input and rejects bad text",
          "[attribute_value]") {
  auto v = AttributeValue::Number("2.50");
  REQUIRE(v.ok());
  CHECK(v->type() == ValueType::kN);
  CHECK(v->scalar() == "2.5");
  CHECK(*v == Num("25e-1"));
  CHECK(AttributeValue::Number("two").status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("CompareNumbers orders numbers numerically, not as text", "[attribute_value]") {
  const std::vector<std::string> ascending = {"-1e100", "-10",   "-9.5", "-1",   "-0.5", "-0.001",
                                              "0",      "0.001", "0.01", "0.5",  "2",    "9.99",
                                              "10",     "10.5",  "100",  "1e100"};
  for (size_t i = 0; i < ascending.size(); ++i) {
    for (size_t j = 0; j < ascending.size(); ++j) {
      std::string a = Canonical(ascending[i]), b = Canonical(ascending[j]);
      int c = CompareNumbers(a, b);
      INFO(a << " vs " << b);
      if (i < j) CHECK(c < 0);
      if (i == j) CHECK(c == 0);
      if (i > j) CHECK(c > 0);
    }
  }
  // Text order would put "10" before "9"; numeric order does not.
  CHECK(CompareNumbers("9", "10") < 0);
  CHECK(CompareNumbers("-10", "-9.5") < 0);
  CHECK(CompareNumbers(Canonical("1.50"), Canonical("1.5")) == 0);
}

TEST_CASE("sets keep their members sorted and unique", "[attribute_value]") {
  auto ss = AttributeValue::SS({"b", "a", "b"});
  CHECK(ss.set() == std::vector<std::string>{"a", "b"});
  CHECK(AttributeValue::SS({"x", "y"}) == AttributeValue::SS({"y", "x"}));
  CHECK(AttributeValue::SS({"1"}) != AttributeValue::NS({"1"}));
}

TEST_CASE("a copy of a map, list or set value is equal and outlives the original",
          "[attribute_value]") {
  // Maps, lists and sets live behind a pointer inside AttributeValue: copies must be deep.
  for (const auto& [name, value] : EveryType()) {
    INFO("attribute " << name << " of type " << ValueTypeName(value.type()));
    auto original = std::make_unique<AttributeValue>(value);
    AttributeValue copy = *original;
    AttributeValue assigned = AttributeValue::S("replaced");
    assigned = *original;
    original.reset();
    CHECK(copy == value);
    CHECK(assigned == value);
    CHECK(copy.map() == value.map());
    CHECK(copy.list() == value.list());
    CHECK(copy.set() == value.set());
  }
  AttributeValue moved_from = AttributeValue::M({{"a", AttributeValue::S("x")}});
  AttributeValue moved = std::move(moved_from);
  CHECK(moved.map().size() == 1);
  // The accessors of the other kinds are empty, whatever the value holds.
  CHECK(AttributeValue::S("x").map().empty());
  CHECK(AttributeValue::S("x").list().empty());
  CHECK(AttributeValue::M({{"a", AttributeValue::S("x")}}).set().empty());
  CHECK(AttributeValue::L({}) != AttributeValue::M({}));
  CHECK(AttributeValue::L({}) == AttributeValue::L({}));
}

TEST_CASE("EncodeItem and DecodeItem round-trip every attribute type", "[attribute_value]") {
  Item item = EveryType();
  auto decoded = DecodeItem(EncodeItem(item));
  INFO(decoded.status().ToString());
  REQUIRE(decoded.ok());
  CHECK(*decoded == item);
  // Each attribute alone, too, so a failure names the type at fault.
  for (const auto& [name, value] : item) {
    Item one{{name, value}};
    auto d = DecodeItem(EncodeItem(one));
    INFO("attribute " << name << " of type " << ValueTypeName(value.type()));
    REQUIRE(d.ok());
    CHECK(*d == one);
  }
  auto empty = DecodeItem(EncodeItem(Item{}));
  REQUIRE(empty.ok());
  CHECK(empty->empty());
}

TEST_CASE("the item encoding is deterministic", "[attribute_value]") {
  Item a = EveryType();
  Item b;
  for (auto it = a.rbegin(); it != a.rend(); ++it) b.emplace(it->first, it->second);
  CHECK(EncodeItem(a) == EncodeItem(b));
  Item changed = a;
  changed["n"] = Num("-123.457");
  CHECK(EncodeItem(a) != EncodeItem(changed));
}

TEST_CASE("deeply nested maps and lists round-trip", "[attribute_value]") {
  AttributeValue v = AttributeValue::S("leaf");
  for (int i = 0; i < 30; ++i) {
    v = (i % 2) ? AttributeValue::M({{"k" + std::to_string(i), v}})
                : AttributeValue::L({v, AttributeValue::Null()});
  }
  Item item{{"root", v}};
  auto d = DecodeItem(EncodeItem(item));
  REQUIRE(d.ok());
  CHECK(*d == item);
}

TEST_CASE("DecodeItem reports truncated bytes as DataLoss", "[attribute_value]") {
  const std::string bytes = EncodeItem(EveryType());
  REQUIRE(bytes.size() > 10);
  for (size_t len = 0; len < bytes.size(); ++len) {
    auto d = DecodeItem(bytes.substr(0, len));
    INFO("prefix of " << len << " of " << bytes.size() << " bytes");
    REQUIRE_FALSE(d.ok());
    CHECK(d.status().code() == absl::StatusCode::kDataLoss);
  }
  // Trailing bytes after a complete item are corruption too.
  CHECK(DecodeItem(bytes + "x").status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("DecodeItem on garbage bytes fails with DataLoss or succeeds, never crashes",
          "[attribute_value]") {
  std::mt19937 rng(20240611);
  const std::string valid = EncodeItem(EveryType());
  int failures = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes;
    if (round % 2 == 0) {  // pure noise
      std::uniform_int_distribution<int> len(0, 64), byte(0, 255);
      int n = len(rng);
      for (int i = 0; i < n; ++i) bytes.push_back(static_cast<char>(byte(rng)));
    } else {  // a valid encoding with a few bytes flipped
      bytes = valid;
      std::uniform_int_distribution<size_t> pos(0, bytes.size() - 1);
      std::uniform_int_distribution<int> byte(0, 255);
      for (int k = 0; k < 3; ++k) bytes[pos(rng)] = static_cast<char>(byte(rng));
    }
    auto d = DecodeItem(bytes);
    if (!d.ok()) {
      ++failures;
      REQUIRE(d.status().code() == absl::StatusCode::kDataLoss);
    }
  }
  CHECK(failures > 0);
  // Huge declared counts and lengths must not be trusted.
  CHECK(DecodeItem(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10)).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(DecodeItem(std::string("\x01\x01k\x00\xff\xff\xff\xff\x0f", 9)).status().code() ==
        absl::StatusCode::kDataLoss);
  // Nesting deeper than the decoder allows is refused rather than recursing without bound.
  std::string deep = std::string("\x01\x01r", 3);
  for (int i = 0; i < 100000; ++i) deep += std::string("\x06\x01", 2);  // L of one element
  CHECK(DecodeItem(deep).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("ItemSize counts attribute names and values", "[attribute_value]") {
  CHECK(ItemSize(Item{}) == 0);
  CHECK(ItemSize(Item{{"ab", AttributeValue::S("cdef")}}) == 6);
  CHECK(ItemSize(Item{{"b", AttributeValue::B(std::string(1000, 'x'))}}) == 1001);
  Item small{{"s", AttributeValue::S("x")}};
  Item big{{"s", AttributeValue::S(std::string(500, 'x'))}};
  CHECK(ItemSize(big) > ItemSize(small));
}

}  // namespace
}  // namespace gtsim
