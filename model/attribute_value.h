// DynamoDB's data model: attribute values (S, N, B, BOOL, NULL, M, L, SS, NS, BS) and items.
//
// Numbers are held as canonical decimal text (no exponent, no leading or trailing zeros, "0"
// for zero, at most 38 significant digits) so equal numbers compare equal byte-for-byte;
// CompareNumbers orders them as numbers, not strings. Binary values hold raw bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gtsim {

class AttributeValue;
// An item, or a key: attribute name -> value. Ordered so encodings are deterministic.
using Item = std::map<std::string, AttributeValue>;

enum class ValueType { kS, kN, kB, kBool, kNull, kM, kL, kSS, kNS, kBS };

// "S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS".
const char* ValueTypeName(ValueType type);

class AttributeValue {
 public:
  AttributeValue() : type_(ValueType::kNull) {}
  AttributeValue(const AttributeValue& o);
  AttributeValue& operator=(const AttributeValue& o);
  AttributeValue(AttributeValue&&) noexcept = default;
  AttributeValue& operator=(AttributeValue&&) noexcept = default;
  ~AttributeValue() = default;

  static AttributeValue S(std::string s);
  // `text` must already be canonical (see CanonicalNumber); use Number() for user input.
  static AttributeValue N(std::string canonical_text);
  static absl::StatusOr<AttributeValue> Number(const std::string& text);
  static AttributeValue B(std::string bytes);
  static AttributeValue Bool(bool b);
  static AttributeValue Null();
  static AttributeValue M(Item fields);
  static AttributeValue L(std::vector<AttributeValue> values);
  // Sets: members are kept sorted and unique; an empty set is rejected by Validate().
  static AttributeValue SS(std::vector<std::string> members);
  static AttributeValue NS(std::vector<std::string> canonical_members);
  static AttributeValue BS(std::vector<std::string> members);

  ValueType type() const { return type_; }
  // S and B payload, or canonical number text for N.
  const std::string& scalar() const { return scalar_; }
  bool boolean() const { return bool_; }
  // Empty unless the value is of that kind.
  const Item& map() const;
  const std::vector<AttributeValue>& list() const;
  const std::vector<std::string>& set() const;

  bool operator==(const AttributeValue& o) const;
  bool operator!=(const AttributeValue& o) const { return !(*this == o); }

 private:
  // Maps, lists and sets sit behind one pointer: most values are scalars, and keeping three
  // empty containers in each made every Item node ~200 bytes to allocate, move and free.
  struct Nested {
    Item map;
    std::vector<AttributeValue> list;
    std::vector<std::string> set;
  };
  Nested& MutableNested();

  ValueType type_;
  bool bool_ = false;
  std::string scalar_;
  std::unique_ptr<Nested> nested_;  // M, L, SS, NS, BS only
};

// Parses DynamoDB number text ("-1.50e3") into canonical form ("-1500"). Fails with
// InvalidArgument on malformed text, more than 38 significant digits, or a magnitude outside
// DynamoDB's range (1E-130 .. 9.99E+125).
absl::StatusOr<std::string> CanonicalNumber(const std::string& text);

// Orders two canonical numbers numerically: <0, 0, >0.
int CompareNumbers(const std::string& a, const std::string& b);

// Compact, deterministic binary encoding of an item, used for storage and replication.
std::string EncodeItem(const Item& item);
absl::StatusOr<Item> DecodeItem(const std::string& bytes);

// Approximate DynamoDB item size: attribute name lengths plus value sizes.
int64_t ItemSize(const Item& item);

}  // namespace gtsim
