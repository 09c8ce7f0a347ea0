#include "model/attribute_value.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/str_cat.h"

namespace gtsim {
namespace {

// A decimal number as sign, significant digits (no leading or trailing zeros; empty for zero)
// and exponent E such that |value| = 0.<digits> * 10^E.
struct Decimal {
  bool negative = false;
  std::string digits;
  int exponent = 0;
};

bool Decompose(const std::string& text, Decimal* out) {
  size_t i = 0, n = text.size();
  Decimal d;
  if (i < n && (text[i] == '+' || text[i] == '-')) d.negative = text[i++] == '-';
  std::string mantissa;
  int point = -1;  // digits before the decimal point
  bool any_digit = false;
  for (; i < n; ++i) {
    char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      mantissa.push_back(c);
      any_digit = true;
    } else if (c == '.' && point < 0) {
      point = static_cast<int>(mantissa.size());
    } else {
      break;
    }
  }
  if (!any_digit) return false;
  if (point < 0) point = static_cast<int>(mantissa.size());
  long exp10 = 0;
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    bool eneg = false;
    if (i < n && (text[i] == '+' || text[i] == '-')) eneg = text[i++] == '-';
    if (i >= n) return false;
    for (; i < n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(text[i]))) return false;
      exp10 = exp10 * 10 + (text[i] - '0');
      if (exp10 > 100000) return false;
    }
    if (eneg) exp10 = -exp10;
  }
  if (i != n) return false;
  size_t lead = mantissa.find_first_not_of('0');
  if (lead == std::string::npos) {  // zero
    *out = Decimal{};
    return true;
  }
  size_t trail = mantissa.find_last_not_of('0');
  d.digits = mantissa.substr(lead, trail - lead + 1);
  d.exponent = static_cast<int>(point - static_cast<long>(lead) + exp10);
  *out = d;
  return true;
}

std::string Format(const Decimal& d) {
  if (d.digits.empty()) return "0";
  std::string s = d.negative ? "-" : "";
  int len = static_cast<int>(d.digits.size());
  if (d.exponent <= 0) {
    absl::StrAppend(&s, "0.", std::string(-d.exponent, '0'), d.digits);
  } else if (d.exponent >= len) {
    absl::StrAppend(&s, d.digits, std::string(d.exponent - len, '0'));
  } else {
    absl::StrAppend(&s, d.digits.substr(0, d.exponent), ".", d.digits.substr(d.exponent));
  }
  return s;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

void PutBytes(std::string* out, const std::string& s) {
  PutVarint(out, s.size());
  out->append(s);
}

void EncodeValue(const AttributeValue& v, std::string* out);

void EncodeFields(const Item& item, std::string* out) {
  PutVarint(out, item.size());
  for (const auto& [name, value] : item) {
    PutBytes(out, name);
    EncodeValue(value, out);
  }
}

void EncodeValue(const AttributeValue& v, std::string* out) {
  out->push_back(static_cast<char>(v.type()));
  switch (v.type()) {
    case ValueType::kS:
    case ValueType::kN:
    case ValueType::kB:
      PutBytes(out, v.scalar());
      break;
    case ValueType::kBool:
      out->push_back(v.boolean() ? 1 : 0);
      break;
    case ValueType::kNull:
      break;
    case ValueType::kM:
      EncodeFields(v.map(), out);
      break;
    case ValueType::kL:
      PutVarint(out, v.list().size());
      for (const auto& e : v.list()) EncodeValue(e, out);
      break;
    case ValueType::kSS:
    case ValueType::kNS:
    case ValueType::kBS:
      PutVarint(out, v.set().size());
      for (const auto& m : v.set()) PutBytes(out, m);
      break;
  }
}

class Reader {
 public:
  explicit Reader(const std::string& s) : p_(s.data()), end_(s.data() + s.size()) {}
  bool done() const { return p_ == end_; }
  bool Varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ == end_) return false;
      uint8_t b = static_cast<uint8_t>(*p_++);
      *v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  bool Bytes(std::string* s) {
    uint64_t len;
    if (!Varint(&len) || len > static_cast<uint64_t>(end_ - p_)) return false;
    s->assign(p_, len);
    p_ += len;
    return true;
  }
  bool Byte(uint8_t* b) {
    if (p_ == end_) return false;
    *b = static_cast<uint8_t>(*p_++);
    return true;
  }

 private:
  const char* p_;
  const char* end_;
};

bool DecodeValue(Reader* r, AttributeValue* v, int depth);

bool DecodeFields(Reader* r, Item* item, int depth) {
  uint64_t count;
  if (!r->Varint(&count)) return false;
  for (uint64_t i = 0; i < count; ++i) {
    std::string name;
    AttributeValue value;
    if (!r->Bytes(&name) || !DecodeValue(r, &value, depth + 1)) return false;
    // EncodeFields writes names in order, so each one goes at the end: no search.
    item->emplace_hint(item->end(), std::move(name), std::move(value));
  }
  return true;
}

bool DecodeValue(Reader* r, AttributeValue* v, int depth) {
  if (depth > 64) return false;
  uint8_t tag;
  if (!r->Byte(&tag) || tag > static_cast<uint8_t>(ValueType::kBS)) return false;
  std::string s;
  uint64_t count;
  switch (static_cast<ValueType>(tag)) {
    case ValueType::kS:
      if (!r->Bytes(&s)) return false;
      *v = AttributeValue::S(std::move(s));
      return true;
    case ValueType::kN:
      if (!r->Bytes(&s)) return false;
      *v = AttributeValue::N(std::move(s));
      return true;
    case ValueType::kB:
      if (!r->Bytes(&s)) return false;
      *v = AttributeValue::B(std::move(s));
      return true;
    case ValueType::kBool: {
      uint8_t b;
      if (!r->Byte(&b)) return false;
      *v = AttributeValue::Bool(b != 0);
      return true;
    }
    case ValueType::kNull:
      *v = AttributeValue::Null();
      return true;
    case ValueType::kM: {
      Item fields;
      if (!DecodeFields(r, &fields, depth)) return false;
      *v = AttributeValue::M(std::move(fields));
      return true;
    }
    case ValueType::kL: {
      if (!r->Varint(&count)) return false;
      std::vector<AttributeValue> values;
      for (uint64_t i = 0; i < count; ++i) {
        AttributeValue e;
        if (!DecodeValue(r, &e, depth + 1)) return false;
        values.push_back(std::move(e));
      }
      *v = AttributeValue::L(std::move(values));
      return true;
    }
    case ValueType::kSS:
    case ValueType::kNS:
    case ValueType::kBS: {
      if (!r->Varint(&count)) return false;
      std::vector<std::string> members;
      for (uint64_t i = 0; i < count; ++i) {
        if (!r->Bytes(&s)) return false;
        members.push_back(std::move(s));
      }
      auto t = static_cast<ValueType>(tag);
      *v = t == ValueType::kSS   ? AttributeValue::SS(std::move(members))
           : t == ValueType::kNS ? AttributeValue::NS(std::move(members))
                                 : AttributeValue::BS(std::move(members));
      return true;
    }
  }
  return false;
}

int64_t ValueSize(const AttributeValue& v) {
  switch (v.type()) {
    case ValueType::kS:
    case ValueType::kB:
      return v.scalar().size();
    case ValueType::kN:
      return (v.scalar().size() + 1) / 2 + 1;
    case ValueType::kBool:
    case ValueType::kNull:
      return 1;
    case ValueType::kM:
      return 3 + ItemSize(v.map());
    case ValueType::kL: {
      int64_t n = 3;
      for (const auto& e : v.list()) n += 1 + ValueSize(e);
      return n;
    }
    default: {
      int64_t n = 0;
      for (const auto& m : v.set()) n += m.size();
      return n;
    }
  }
}

std::vector<std::string> SortedUnique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

const char* ValueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kS:
      return "S";
    case ValueType::kN:
      return "N";
    case ValueType::kB:
      return "B";
    case ValueType::kBool:
      return "BOOL";
    case ValueType::kNull:
      return "NULL";
    case ValueType::kM:
      return "M";
    case ValueType::kL:
      return "L";
    case ValueType::kSS:
      return "SS";
    case ValueType::kNS:
      return "NS";
    case ValueType::kBS:
      return "BS";
  }
  return "?";
}

AttributeValue::AttributeValue(const AttributeValue& o)
    : type_(o.type_),
      bool_(o.bool_),
      scalar_(o.scalar_),
      nested_(o.nested_ ? std::make_unique<Nested>(*o.nested_) : nullptr) {}

AttributeValue& AttributeValue::operator=(const AttributeValue& o) {
  if (this != &o) *this = AttributeValue(o);
  return *this;
}

AttributeValue::Nested& AttributeValue::MutableNested() {
  if (!nested_) nested_ = std::make_unique<Nested>();
  return *nested_;
}

const Item& AttributeValue::map() const {
  static const auto* empty = new Item;
  return nested_ ? nested_->map : *empty;
}

const std::vector<AttributeValue>& AttributeValue::list() const {
  static const auto* empty = new std::vector<AttributeValue>;
  return nested_ ? nested_->list : *empty;
}

const std::vector<std::string>& AttributeValue::set() const {
  static const auto* empty = new std::vector<std::string>;
  return nested_ ? nested_->set : *empty;
}

AttributeValue AttributeValue::S(std::string s) {
  AttributeValue v;
  v.type_ = ValueType::kS;
  v.scalar_ = std::move(s);
  return v;
}
AttributeValue AttributeValue::N(std::string canonical_text) {
  AttributeValue v;
  v.type_ = ValueType::kN;
  v.scalar_ = std::move(canonical_text);
  return v;
}
absl::StatusOr<AttributeValue> AttributeValue::Number(const std::string& text) {
  auto canonical = CanonicalNumber(text);
  if (!canonical.ok()) return canonical.status();
  return N(*std::move(canonical));
}
AttributeValue AttributeValue::B(std::string bytes) {
  AttributeValue v;
  v.type_ = ValueType::kB;
  v.scalar_ = std::move(bytes);
  return v;
}
AttributeValue AttributeValue::Bool(bool b) {
  AttributeValue v;
  v.type_ = ValueType::kBool;
  v.bool_ = b;
  return v;
}
AttributeValue AttributeValue::Null() { return AttributeValue(); }
AttributeValue AttributeValue::M(Item fields) {
  AttributeValue v;
  v.type_ = ValueType::kM;
  v.MutableNested().map = std::move(fields);
  return v;
}
AttributeValue AttributeValue::L(std::vector<AttributeValue> values) {
  AttributeValue v;
  v.type_ = ValueType::kL;
  v.MutableNested().list = std::move(values);
  return v;
}
AttributeValue AttributeValue::SS(std::vector<std::string> members) {
  AttributeValue v;
  v.type_ = ValueType::kSS;
  v.MutableNested().set = SortedUnique(std::move(members));
  return v;
}
AttributeValue AttributeValue::NS(std::vector<std::string> canonical_members) {
  AttributeValue v;
  v.type_ = ValueType::kNS;
  v.MutableNested().set = SortedUnique(std::move(canonical_members));
  return v;
}
AttributeValue AttributeValue::BS(std::vector<std::string> members) {
  AttributeValue v;
  v.type_ = ValueType::kBS;
  v.MutableNested().set = SortedUnique(std::move(members));
  return v;
}

bool AttributeValue::operator==(const AttributeValue& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case ValueType::kS:
    case ValueType::kN:
    case ValueType::kB:
      return scalar_ == o.scalar_;
    case ValueType::kBool:
      return bool_ == o.bool_;
    case ValueType::kNull:
      return true;
    case ValueType::kM:
      return map() == o.map();
    case ValueType::kL:
      return list() == o.list();
    default:
      return set() == o.set();
  }
}

absl::StatusOr<std::string> CanonicalNumber(const std::string& text) {
  Decimal d;
  if (text.empty() || !Decompose(text, &d)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", text, "\" is not a number: write decimal digits, e.g. 42, -1.5 or 3e10"));
  }
  if (d.digits.size() > 38) {
    return absl::InvalidArgumentError(
        absl::StrCat("number ", text, " has ", d.digits.size(),
                     " significant digits; DynamoDB keeps at most 38"));
  }
  if (!d.digits.empty() && (d.exponent - 1 > 125 || d.exponent - 1 < -130)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "number ", text, " is out of DynamoDB's range (magnitude 1E-130 to 9.9E+125)"));
  }
  return Format(d);
}

int CompareNumbers(const std::string& a, const std::string& b) {
  Decimal x, y;
  Decompose(a, &x);
  Decompose(b, &y);
  auto sign = [](const Decimal& d) { return d.digits.empty() ? 0 : (d.negative ? -1 : 1); };
  int sx = sign(x), sy = sign(y);
  if (sx != sy) return sx < sy ? -1 : 1;
  if (sx == 0) return 0;
  int magnitude;  // compare |x| and |y|
  if (x.exponent != y.exponent) {
    magnitude = x.exponent < y.exponent ? -1 : 1;
  } else {
    int c = x.digits.compare(y.digits);
    magnitude = c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return sx > 0 ? magnitude : -magnitude;
}

std::string EncodeItem(const Item& item) {
  std::string out;
  EncodeFields(item, &out);
  return out;
}

absl::StatusOr<Item> DecodeItem(const std::string& bytes) {
  Reader r(bytes);
  Item item;
  if (!DecodeFields(&r, &item, 0) || !r.done()) {
    return absl::DataLossError("stored item is corrupt (cannot decode its encoding)");
  }
  return item;
}

int64_t ItemSize(const Item& item) {
  int64_t n = 0;
  for (const auto& [name, value] : item) n += name.size() + ValueSize(value);
  return n;
}

}  // namespace gtsim
