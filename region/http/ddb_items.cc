// DynamoDB's checks of attribute values, items and keys in requests (see ddb_items.h).

#include "region/http/ddb_items.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

// DynamoDB's checks of one attribute value as sent, with its messages, before conversion.
absl::Status CheckNumberText(const std::string& text) {
  if (CanonicalNumber(text).ok()) return absl::OkStatus();
  // Which rule it broke: syntax, precision, or range.
  size_t i = 0, digits = 0;
  bool syntax = !text.empty();
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t mantissa_start = i;
  bool seen_dot = false;
  std::string significant;
  for (; i < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !seen_dot));
       ++i) {
    if (text[i] == '.') {
      seen_dot = true;
    } else {
      ++digits;
      significant.push_back(text[i]);
    }
  }
  if (digits == 0 || i == mantissa_start) syntax = false;
  if (syntax && i < text.size()) {
    if (text[i] != 'e' && text[i] != 'E') {
      syntax = false;
    } else {
      ++i;
      if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
      size_t exp_digits = 0;
      for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) {
        ++exp_digits;
      }
      if (exp_digits == 0 || i != text.size()) syntax = false;
    }
  }
  if (!syntax) return Validation("A value provided cannot be converted into a number");
  size_t first = significant.find_first_not_of('0');
  size_t last = significant.find_last_not_of('0');
  if (first != std::string::npos && last - first + 1 > 38) {
    return Validation("Attempting to store more than 38 significant digits in a Number");
  }
  double v = std::strtod(text.c_str(), nullptr);
  if (std::fabs(v) >= 1) {
    return Validation(
        "Number overflow. Attempting to store a number with magnitude larger than supported "
        "range");
  }
  return Validation(
      "Number underflow. Attempting to store a number with magnitude smaller than supported "
      "range");
}

// `depth` counts the maps and lists `v` sits in; DynamoDB allows 32 levels of them.
absl::Status CheckValueJson(const json& v, int depth) {
  if (!v.is_object()) {
    return Serialization("Unexpected value type in payload: an AttributeValue must be a map");
  }
  if (v.empty()) {
    return Validation(
        "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes");
  }
  if (v.size() > 1) {
    return Validation(
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of "
        "the supported datatypes");
  }
  const std::string& type = v.begin().key();
  const json& x = v.begin().value();
  if (type == "N" && x.is_string()) return CheckNumberText(x.get_ref<const std::string&>());
  if ((type == "SS" || type == "NS" || type == "BS") && x.is_array()) {
    if (x.empty()) {
      const char* kind = type == "SS" ? "string" : type == "NS" ? "number" : "binary";
      return Validation(absl::StrCat("One or more parameter values were invalid: An ", kind,
                                     " set  may not be empty"));
    }
    std::vector<std::string> members;
    for (const json& m : x) {
      if (!m.is_string()) break;  // ItemFromJson reports it
      if (type == "NS") RETURN_IF_ERROR(CheckNumberText(m.get_ref<const std::string&>()));
      members.push_back(type == "NS" ? CanonicalNumber(m.get<std::string>()).value()
                                     : m.get<std::string>());
    }
    std::vector<std::string> sorted = members;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      std::vector<std::string> shown;
      for (const json& m : x) shown.push_back(m.is_string() ? m.get<std::string>() : m.dump());
      return Validation(
          absl::StrCat("One or more parameter values were invalid: Input collection [",
                       absl::StrJoin(shown, ", "), "] contains duplicates."));
    }
    return absl::OkStatus();
  }
  if ((type == "M" || type == "L") && depth >= 32) {
    return Validation("Nesting Levels have exceeded supported limits");
  }
  if (type == "M" && x.is_object()) {
    for (const auto& [k, e] : x.items()) RETURN_IF_ERROR(CheckValueJson(e, depth + 1));
  }
  if (type == "L" && x.is_array()) {
    for (const json& e : x) RETURN_IF_ERROR(CheckValueJson(e, depth + 1));
  }
  return absl::OkStatus();
}

// An item, key or attribute map from a request: DynamoDB's checks, then conversion.
absl::StatusOr<Item> DdbItemFromJson(const json& object) {
  if (object.is_object()) {
    for (const auto& [name, v] : object.items()) RETURN_IF_ERROR(CheckValueJson(v));
  }
  return ItemFromJson(object);
}

absl::StatusOr<Item> ItemField(const json& req, const char* name, bool required) {
  const json* f = Field(req, name);
  if (!f) {
    if (!required) return Item{};
    return MissingMember(name);
  }
  if (!f->is_object()) {
    return Serialization(absl::StrCat("Unexpected value type in payload: ", name,
                                      " must be a map of attribute values"));
  }
  return DdbItemFromJson(*f);
}

// The key attributes of `item` under `spec` (missing ones are left out: the engine reports them).
Item KeyOf(const TableSpec& spec, const Item& item) {
  Item key;
  for (const KeyDef* def : {&spec.hash_key, spec.range_key ? &*spec.range_key : nullptr}) {
    if (!def) continue;
    auto it = item.find(def->name);
    if (it != item.end()) key.emplace(it->first, it->second);
  }
  return key;
}

// DynamoDB's checks of an item's key attributes before anything else.
absl::Status CheckItemKey(const TableSpec& spec, const Item& item) {
  for (const KeyDef* def : {&spec.hash_key, spec.range_key ? &*spec.range_key : nullptr}) {
    if (!def) continue;
    auto it = item.find(def->name);
    if (it == item.end()) {
      return Validation(absl::StrCat("One or more parameter values were invalid: Missing the key ",
                                     def->name, " in the item"));
    }
    if (it->second.type() != def->type) {
      return Validation(
          absl::StrCat("One or more parameter values were invalid: Type mismatch "
                       "for key ",
                       def->name, " expected: ", ValueTypeName(def->type),
                       " actual: ", ValueTypeName(it->second.type())));
    }
  }
  return absl::OkStatus();
}

// DynamoDB's limits on key values: not empty, hash key <= 2048 bytes, range key <= 1024.
absl::Status CheckKeyValues(const TableSpec& spec, const Item& item) {
  for (const KeyDef* def : {&spec.hash_key, spec.range_key ? &*spec.range_key : nullptr}) {
    if (!def) continue;
    auto it = item.find(def->name);
    if (it == item.end() || it->second.type() == ValueType::kN) continue;
    if (it->second.scalar().empty()) {
      return Validation(absl::StrCat(
          "One or more parameter values are not valid. The AttributeValue for a key attribute "
          "cannot contain an empty ",
          def->type == ValueType::kS ? "string" : "binary", " value. Key: ", def->name));
    }
  }
  auto hk = item.find(spec.hash_key.name);
  if (hk != item.end() && hk->second.scalar().size() > 2048) {
    return Validation(
        "One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
        "size limit of 2048 bytes");
  }
  if (spec.range_key) {
    auto rk = item.find(spec.range_key->name);
    if (rk != item.end() && rk->second.scalar().size() > 1024) {
      return Validation(
          "One or more parameter values were invalid: Aggregated size of all range keys has "
          "exceeded the size limit of 1024 bytes");
    }
  }
  return absl::OkStatus();
}

constexpr int64_t kMaxItemBytes = 400 * 1024;

// The 400 KB item limit; `update` picks UpdateItem's wording.
absl::Status CheckItemSize(const Item& item, bool update) {
  if (ItemSize(item) <= kMaxItemBytes) return absl::OkStatus();
  return Validation(update ? "Item size to update has exceeded the maximum allowed size"
                           : "Item size has exceeded the maximum allowed size");
}

// A whole item to write: key attributes present and typed, key limits, size.
absl::Status CheckWriteItem(const TableSpec& spec, const Item& item) {
  RETURN_IF_ERROR(CheckItemKey(spec, item));
  RETURN_IF_ERROR(CheckKeyValues(spec, item));
  return CheckItemSize(item);
}

// A Key parameter: exactly the key attributes, of the key types, within the key limits.
absl::Status CheckKey(const TableSpec& spec, const Item& key) {
  size_t expected = spec.range_key ? 2 : 1;
  if (!CheckItemKey(spec, key).ok() || key.size() != expected) {
    return Validation("The provided key element does not match the schema");
  }
  return CheckKeyValues(spec, key);
}

// `item` as a global secondary index holds it: nullopt when it lacks the index's key attributes
// (or has them with other types), else the attributes of the index's projection.
std::optional<Item> IndexView(const TableSpec& spec, const GsiSetting& g, const Item& item) {
  auto has = [&](const KeyDef& k) {
    auto it = item.find(k.name);
    return it != item.end() && it->second.type() == k.type;
  };
  if (!has(g.hash_key) || (g.range_key && !has(*g.range_key))) return std::nullopt;
  if (g.projection == "ALL") return item;
  std::vector<std::string> names = g.non_key;
  names.push_back(spec.hash_key.name);
  if (spec.range_key) names.push_back(spec.range_key->name);
  names.push_back(g.hash_key.name);
  if (g.range_key) names.push_back(g.range_key->name);
  Item out;
  for (const std::string& n : names) {
    if (auto it = item.find(n); it != item.end()) out.emplace(n, it->second);
  }
  return out;
}

// The table's key attributes of `key` (a LastEvaluatedKey of an index also holds the index's).
Item TableKeyPart(const TableSpec& spec, const Item& key) {
  Item out;
  for (const auto& [name, value] : key) {
    if (name == spec.hash_key.name || (spec.range_key && name == spec.range_key->name)) {
      out.emplace(name, value);
    }
  }
  return out;
}

std::vector<std::string> KeyNames(const TableSpec& spec) {
  std::vector<std::string> names{spec.hash_key.name};
  if (spec.range_key) names.push_back(spec.range_key->name);
  return names;
}

}  // namespace gtsim::ddb
