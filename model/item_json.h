// DynamoDB's JSON attribute-value form, as the AWS CLI reads and prints it:
//   {"id": {"S": "o1"}, "n": {"N": "5"}, "tags": {"SS": ["a", "b"]}, "b": {"B": "aGk="}}
// Binary values are base64 in JSON. Errors name the attribute at fault and what to write.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "model/attribute_value.h"
#include "nlohmann/json.hpp"

namespace gtsim {

// Parses an item (or a key) from JSON text. InvalidArgument on malformed JSON or values.
absl::StatusOr<Item> ParseItemJson(const std::string& text);
absl::StatusOr<Item> ItemFromJson(const nlohmann::json& object);
absl::StatusOr<AttributeValue> ValueFromJson(const nlohmann::json& value, const std::string& path);

nlohmann::json ItemToJson(const Item& item);
nlohmann::json ValueToJson(const AttributeValue& value);

}  // namespace gtsim
