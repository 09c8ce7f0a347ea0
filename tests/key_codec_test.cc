// Tests of model/key_codec.h: range-key encodings must sort under memcmp exactly as DynamoDB
// sorts the values, because SQLite compares them as BLOBs.
#include "model/key_codec.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace gtsim {
namespace {

// memcmp order of two byte strings, shorter-is-smaller on a common prefix (as SQLite's BLOBs).
int Bytewise(const std::string& a, const std::string& b) {
  int c = std::memcmp(a.data(), b.data(), std::min(a.size(), b.size()));
  if (c != 0) return c < 0 ? -1 : 1;
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  return 0;
}

int Sign(int x) { return (x > 0) - (x < 0); }

std::string RangeKeyOfNumber(const std::string& canonical) {
  return EncodeRangeKey(AttributeValue::N(canonical));
}

// Random number text in many shapes: integers, fractions, leading and trailing zeros,
// exponents, negatives and zero. Not always valid for DynamoDB (callers canonicalise and skip
// what is rejected).
class NumberGenerator {
 public:
  explicit NumberGenerator(uint32_t seed) : rng_(seed) {}

  std::string Next() {
    int shape = Uniform(0, 9);
    if (shape == 0) return Pick({"0", "-0", "0.0", "0e10", "-0.000"});
    std::string s;
    if (Uniform(0, 1)) s += '-';
    if (shape <= 3) {  // small integers, where text order and numeric order differ most
      s += std::to_string(Uniform(0, 1200));
    } else {
      s += Digits(Uniform(0, 3) == 0 ? 0 : Uniform(1, 20));
      if (Uniform(0, 1)) s += "." + Digits(Uniform(0, 20));
      if (s.empty() || s == "-" || s.back() == '.') s += Digits(1);
    }
    if (shape >= 7) s += (Uniform(0, 1) ? "e" : "E") + std::to_string(Uniform(-140, 130));
    return s;
  }

  // A number close to `canonical`: one digit changed, one digit appended or removed.
  std::string Near(const std::string& canonical) {
    std::string s = canonical;
    int what = Uniform(0, 2);
    if (what == 0) {
      std::vector<size_t> digit_positions;
      for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] >= '0' && s[i] <= '9') digit_positions.push_back(i);
      }
      s[digit_positions[Uniform(0, static_cast<int>(digit_positions.size()) - 1)]] =
          static_cast<char>('0' + Uniform(0, 9));
    } else if (what == 1) {
      if (s.find('.') == std::string::npos) s += '.';
      s += static_cast<char>('0' + Uniform(1, 9));
    } else if (s.size() > 1 && s.back() != '.') {
      s.pop_back();
      if (s.back() == '.' || s == "-") s += '5';
    }
    return s;
  }

 private:
  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string Digits(int n) {
    std::string d;
    for (int i = 0; i < n; ++i) d += static_cast<char>('0' + Uniform(0, 9));
    return d;
  }
  std::string Pick(std::initializer_list<const char*> options) {
    auto it = options.begin();
    std::advance(it, Uniform(0, static_cast<int>(options.size()) - 1));
    return *it;
  }

  std::mt19937 rng_;
};

// Canonical numbers drawn from the generator, valid ones only.
std::vector<std::string> RandomCanonicalNumbers(uint32_t seed, int count) {
  NumberGenerator gen(seed);
  std::vector<std::string> out;
  while (static_cast<int>(out.size()) < count) {
    std::string text = (out.empty() || out.size() % 3 != 0) ? gen.Next() : gen.Near(out.back());
    auto canonical = CanonicalNumber(text);
    if (canonical.ok()) out.push_back(*canonical);
  }
  return out;
}

TEST_CASE("number range keys sort under memcmp as the numbers sort", "[key_codec]") {
  const uint32_t seed = 12345;
  INFO("seed " << seed);
  std::vector<std::string> numbers = RandomCanonicalNumbers(seed, 600);
  // Make sure the interesting neighbours are present whatever the generator produced.
  for (const char* n : {"0", "1", "-1", "10", "-10", "9.5", "-9.5", "0.001", "-0.001", "2", "1e125",
                        "-1e125", "1e-130", "-1e-130", "0.1", "0.11", "-0.1", "-0.11"}) {
    numbers.push_back(*CanonicalNumber(n));
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, numbers.size() - 1);
  int checked = 0, less = 0, equal = 0;
  auto check_pair = [&](const std::string& a, const std::string& b) {
    int numeric = Sign(CompareNumbers(a, b));
    int bytes = Bytewise(RangeKeyOfNumber(a), RangeKeyOfNumber(b));
    INFO(a << " vs " << b);
    REQUIRE(bytes == numeric);
    // CompareNumbers itself against an independent oracle: correctly rounded long doubles
    // keep order (they may only collapse numbers that differ beyond ~19 digits).
    long double la = std::strtold(a.c_str(), nullptr), lb = std::strtold(b.c_str(), nullptr);
    if (la < lb) REQUIRE(numeric < 0);
    if (la > lb) REQUIRE(numeric > 0);
    ++checked;
    less += numeric < 0;
    equal += numeric == 0;
  };
  for (int i = 0; i < 20000; ++i) check_pair(numbers[pick(rng)], numbers[pick(rng)]);
  for (size_t i = 1; i < numbers.size(); ++i) check_pair(numbers[i - 1], numbers[i]);
  CHECK(checked > 20000);
  CHECK(less > 1000);  // the property was exercised in both directions
  CHECK(checked - less - equal > 1000);
  CHECK(equal > 0);
}

TEST_CASE("equal numbers written differently encode identically", "[key_codec]") {
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"1.50", "1.5"}, {"1e2", "100"}, {"-0", "0"}, {"0.0012e3", "1.2"}, {"007", "7"}}) {
    INFO(a << " vs " << b);
    CHECK(RangeKeyOfNumber(*CanonicalNumber(a)) == RangeKeyOfNumber(*CanonicalNumber(b)));
    CHECK(EncodeHashKey(AttributeValue::N(*CanonicalNumber(a))) ==
          EncodeHashKey(AttributeValue::N(*CanonicalNumber(b))));
  }
}

TEST_CASE("sorting by encoded range key gives ascending numeric order", "[key_codec]") {
  std::vector<std::string> numbers = {"10",    "2",    "1.5", "-10",  "-9.5",   "0",
                                      "0.001", "-0.5", "100", "1e20", "-1e-20", "9.99"};
  std::vector<std::string> expected = {"-10", "-9.5", "-0.5", "-1e-20", "0",   "0.001",
                                       "1.5", "2",    "9.99", "10",     "100", "1e20"};
  for (auto* v : {&numbers, &expected}) {
    for (auto& n : *v) n = *CanonicalNumber(n);
  }
  std::sort(numbers.begin(), numbers.end(), [](const std::string& a, const std::string& b) {
    return Bytewise(RangeKeyOfNumber(a), RangeKeyOfNumber(b)) < 0;
  });
  CHECK(numbers == expected);
}

TEST_CASE("string and binary range keys sort by their bytes", "[key_codec]") {
  const std::vector<std::string> ascending = {"",      std::string("\x00", 1),
                                              "A",     "Z",
                                              "a",     std::string("a\x00", 2),
                                              "a\x01", "ab",
                                              "b",     "\x7f",
                                              "\x80",  "\xc3\xa9",
                                              "\xff",  "\xff\xff"};
  for (size_t i = 1; i < ascending.size(); ++i) {
    for (auto make : {&AttributeValue::S, &AttributeValue::B}) {
      std::string lo = EncodeRangeKey(make(ascending[i - 1]));
      std::string hi = EncodeRangeKey(make(ascending[i]));
      INFO("position " << i);
      CHECK(Bytewise(lo, hi) < 0);
    }
  }
  CHECK(EncodeRangeKey(AttributeValue::S("hello")) == "hello");
}

TEST_CASE("hash keys of different types never collide", "[key_codec]") {
  std::string s = EncodeHashKey(AttributeValue::S("1"));
  std::string n = EncodeHashKey(AttributeValue::N("1"));
  std::string b = EncodeHashKey(AttributeValue::B("1"));
  CHECK(s != n);
  CHECK(s != b);
  CHECK(n != b);
  CHECK(EncodeHashKey(AttributeValue::S("x")) == EncodeHashKey(AttributeValue::S("x")));
  CHECK(EncodeHashKey(AttributeValue::S("x")) != EncodeHashKey(AttributeValue::S("y")));
}

TEST_CASE("PrefixUpperBound is the least string above every string with the prefix",
          "[key_codec]") {
  CHECK(PrefixUpperBound("ab") == std::optional<std::string>("ac"));
  CHECK(PrefixUpperBound("a") == std::optional<std::string>("b"));
  CHECK(PrefixUpperBound("a\xff") == std::optional<std::string>("b"));
  CHECK(PrefixUpperBound("a\xff\xff") == std::optional<std::string>("b"));
  CHECK(PrefixUpperBound("\x7f") == std::optional<std::string>("\x80"));
  CHECK(PrefixUpperBound(std::string("a\x00", 2)) == std::optional<std::string>("a\x01"));
  CHECK(PrefixUpperBound("\xfe\xff") == std::optional<std::string>("\xff"));
  CHECK(PrefixUpperBound("\xff") == std::nullopt);
  CHECK(PrefixUpperBound("\xff\xff\xff") == std::nullopt);
  CHECK(PrefixUpperBound("") == std::nullopt);

  // Every extension of the prefix sorts below the bound, and the bound does not start with it.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> byte(0, 255), len(0, 6);
  for (int i = 0; i < 2000; ++i) {
    std::string prefix;
    for (int k = len(rng) + 1; k > 0; --k) {
      prefix.push_back(static_cast<char>(i % 4 == 0 ? 0xff : byte(rng)));
    }
    auto bound = PrefixUpperBound(prefix);
    bool all_ff = prefix.find_first_not_of('\xff') == std::string::npos;
    REQUIRE(bound.has_value() == !all_ff);
    if (!bound) continue;
    CHECK(Bytewise(prefix, *bound) < 0);
    CHECK(bound->compare(0, prefix.size(), prefix) != 0);
    std::string extended = prefix;
    for (int k = len(rng); k > 0; --k) extended.push_back(static_cast<char>(byte(rng)));
    extended += "\xff\xff";
    CHECK(Bytewise(extended, *bound) < 0);
  }
}

}  // namespace
}  // namespace gtsim
