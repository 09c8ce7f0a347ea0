#include "model/key_codec.h"

#include <cstdint>

namespace gtsim {
namespace {

// Numbers: one class byte (1 negative, 2 zero, 3 positive), then the decimal exponent as two
// big-endian bytes, then one byte per significant digit. Negative numbers invert exponent and
// digits and end with 0xff, so a longer (larger-magnitude) negative sorts first.
std::string EncodeNumber(const std::string& canonical) {
  bool negative = !canonical.empty() && canonical[0] == '-';
  std::string digits;
  int exponent = 0;  // |value| = 0.<digits> * 10^exponent
  int point = -1;
  for (char c : canonical) {
    if (c == '.') {
      point = static_cast<int>(digits.size());
    } else if (c >= '0' && c <= '9') {
      digits.push_back(c);
    }
  }
  if (point < 0) point = static_cast<int>(digits.size());
  size_t lead = digits.find_first_not_of('0');
  if (lead == std::string::npos) return std::string(1, '\x02');
  size_t trail = digits.find_last_not_of('0');
  exponent = point - static_cast<int>(lead);
  digits = digits.substr(lead, trail - lead + 1);

  std::string out;
  uint16_t biased = static_cast<uint16_t>(exponent + 1000);
  if (negative) biased = static_cast<uint16_t>(~biased);
  out.push_back(negative ? '\x01' : '\x03');
  out.push_back(static_cast<char>(biased >> 8));
  out.push_back(static_cast<char>(biased & 0xff));
  for (char d : digits) {
    uint8_t v = static_cast<uint8_t>(d - '0' + 1);  // 1..10
    out.push_back(static_cast<char>(negative ? 11 - v : v));
  }
  if (negative) out.push_back('\xff');
  return out;
}

}  // namespace

std::string EncodeHashKey(const AttributeValue& value) {
  std::string out(1, static_cast<char>(value.type()));
  out += value.scalar();
  return out;
}

std::string EncodeRangeKey(const AttributeValue& value) {
  if (value.type() == ValueType::kN) return EncodeNumber(value.scalar());
  return value.scalar();
}

std::optional<std::string> PrefixUpperBound(const std::string& prefix) {
  std::string bound = prefix;
  while (!bound.empty()) {
    auto last = static_cast<uint8_t>(bound.back());
    if (last != 0xff) {
      bound.back() = static_cast<char>(last + 1);
      return bound;
    }
    bound.pop_back();
  }
  return std::nullopt;
}

}  // namespace gtsim
