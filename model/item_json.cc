#include "model/item_json.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "model/json_limits.h"

namespace gtsim {
namespace {

absl::Status Bad(const std::string& path, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("attribute ", path, ": ", what));
}

absl::StatusOr<std::vector<std::string>> Members(const nlohmann::json& v, const std::string& path,
                                                 const std::string& type) {
  if (!v.is_array() || v.empty()) {
    return Bad(path, absl::StrCat(type, " must be a non-empty JSON array"));
  }
  std::vector<std::string> members;
  for (const auto& m : v) {
    if (!m.is_string()) return Bad(path, absl::StrCat(type, " members must be JSON strings"));
    std::string s = m.get<std::string>();
    if (type == "NS") {
      auto n = CanonicalNumber(s);
      if (!n.ok()) return Bad(path, std::string(n.status().message()));
      s = *n;
    } else if (type == "BS") {
      std::string raw;
      if (!absl::Base64Unescape(s, &raw)) return Bad(path, "BS members must be base64");
      s = raw;
    }
    members.push_back(std::move(s));
  }
  auto sorted = members;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return Bad(path, absl::StrCat(type, " contains duplicates; a set holds each member once"));
  }
  return members;
}

}  // namespace

namespace {

// DynamoDB allows 32 levels of maps and lists in an attribute value.
constexpr int kMaxValueNesting = 32;

absl::StatusOr<AttributeValue> ValueFromJsonAt(const nlohmann::json& v, const std::string& path,
                                               int depth) {
  if (!v.is_object() || v.size() != 1) {
    return Bad(path,
               "expected an object with exactly one type key, like {\"S\": \"text\"} or "
               "{\"N\": \"42\"}");
  }
  const std::string& type = v.begin().key();
  const nlohmann::json& x = v.begin().value();
  if (type == "S") {
    if (!x.is_string()) return Bad(path, "S must be a JSON string");
    return AttributeValue::S(x.get<std::string>());
  }
  if (type == "N") {
    if (!x.is_string()) return Bad(path, "N must be a JSON string holding the number, e.g. \"42\"");
    auto n = AttributeValue::Number(x.get<std::string>());
    if (!n.ok()) return Bad(path, std::string(n.status().message()));
    return n;
  }
  if (type == "B") {
    std::string raw;
    if (!x.is_string() || !absl::Base64Unescape(x.get<std::string>(), &raw)) {
      return Bad(path, "B must be a base64 JSON string");
    }
    return AttributeValue::B(std::move(raw));
  }
  if (type == "BOOL") {
    if (!x.is_boolean()) return Bad(path, "BOOL must be true or false");
    return AttributeValue::Bool(x.get<bool>());
  }
  if (type == "NULL") {
    if (!x.is_boolean() || !x.get<bool>()) return Bad(path, "NULL must be true");
    return AttributeValue::Null();
  }
  if ((type == "M" || type == "L") && depth >= kMaxValueNesting) {
    return Bad(path, absl::StrCat("maps and lists are nested more than ", kMaxValueNesting,
                                  " levels deep (DynamoDB: Nesting Levels have exceeded "
                                  "supported limits)"));
  }
  if (type == "M") {
    if (!x.is_object()) return Bad(path, "M must be a JSON object of attributes");
    Item fields;
    for (auto it = x.begin(); it != x.end(); ++it) {
      auto e = ValueFromJsonAt(it.value(), absl::StrCat(path, ".", it.key()), depth + 1);
      if (!e.ok()) return e.status();
      fields.emplace(it.key(), *std::move(e));
    }
    return AttributeValue::M(std::move(fields));
  }
  if (type == "L") {
    if (!x.is_array()) return Bad(path, "L must be a JSON array of values");
    std::vector<AttributeValue> values;
    for (size_t i = 0; i < x.size(); ++i) {
      auto e = ValueFromJsonAt(x[i], absl::StrCat(path, "[", i, "]"), depth + 1);
      if (!e.ok()) return e.status();
      values.push_back(*std::move(e));
    }
    return AttributeValue::L(std::move(values));
  }
  if (type == "SS" || type == "NS" || type == "BS") {
    auto members = Members(x, path, type);
    if (!members.ok()) return members.status();
    if (type == "SS") return AttributeValue::SS(*std::move(members));
    if (type == "NS") return AttributeValue::NS(*std::move(members));
    return AttributeValue::BS(*std::move(members));
  }
  return Bad(path, absl::StrCat("unknown type \"", type,
                                "\"; use one of S, N, B, BOOL, NULL, M, L, SS, NS, BS"));
}

}  // namespace

absl::StatusOr<AttributeValue> ValueFromJson(const nlohmann::json& v, const std::string& path) {
  return ValueFromJsonAt(v, path, 0);
}

absl::StatusOr<Item> ItemFromJson(const nlohmann::json& object) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        "an item must be a JSON object of attributes, like {\"id\": {\"S\": \"1\"}}");
  }
  Item item;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (it.key().empty()) return absl::InvalidArgumentError("attribute names must not be empty");
    auto v = ValueFromJson(it.value(), absl::StrCat("\"", it.key(), "\""));
    if (!v.ok()) return v.status();
    item.emplace(it.key(), *std::move(v));
  }
  return item;
}

absl::StatusOr<Item> ParseItemJson(const std::string& text) {
  // Before the parser builds (and recurses into) a tree: 200,000 brackets overflowed the stack.
  if (!CheckJsonShape(text, kMaxRequestJsonDepth).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the item is nested more than ", kMaxRequestJsonDepth,
        " JSON levels deep; DynamoDB allows 32 levels of maps and lists in an attribute value"));
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed JSON: ", text.size() > 60 ? text.substr(0, 60) + "..." : text,
                     " (expected DynamoDB JSON such as '{\"id\":{\"S\":\"1\"}}')"));
  }
  return ItemFromJson(j);
}

nlohmann::json ValueToJson(const AttributeValue& v) {
  using nlohmann::json;
  switch (v.type()) {
    case ValueType::kS:
      return json{{"S", v.scalar()}};
    case ValueType::kN:
      return json{{"N", v.scalar()}};
    case ValueType::kB:
      return json{{"B", absl::Base64Escape(v.scalar())}};
    case ValueType::kBool:
      return json{{"BOOL", v.boolean()}};
    case ValueType::kNull:
      return json{{"NULL", true}};
    case ValueType::kM:
      return json{{"M", ItemToJson(v.map())}};
    case ValueType::kL: {
      json a = json::array();
      for (const auto& e : v.list()) a.push_back(ValueToJson(e));
      return json{{"L", a}};
    }
    case ValueType::kSS:
    case ValueType::kNS:
    case ValueType::kBS: {
      json a = json::array();
      for (const auto& m : v.set()) {
        a.push_back(v.type() == ValueType::kBS ? absl::Base64Escape(m) : m);
      }
      return json{{ValueTypeName(v.type()), a}};
    }
  }
  return nullptr;
}

nlohmann::json ItemToJson(const Item& item) {
  nlohmann::json o = nlohmann::json::object();
  for (const auto& [name, value] : item) o[name] = ValueToJson(value);
  return o;
}

}  // namespace gtsim
