// Byte encodings of key values for SQLite's BLOB columns (compared with memcmp).
//
// A hash key only needs equality: its encoding is a type byte plus the payload. A range key
// must sort as DynamoDB sorts it: strings and binary by their bytes, numbers numerically; its
// encoding preserves that order under memcmp within one key type.
#pragma once

#include <optional>
#include <string>

#include "model/attribute_value.h"

namespace gtsim {

std::string EncodeHashKey(const AttributeValue& value);
std::string EncodeRangeKey(const AttributeValue& value);

// The smallest byte string greater than every string starting with `prefix`; nullopt when no
// such bound exists (the prefix is all 0xff bytes). Used for begins_with.
std::optional<std::string> PrefixUpperBound(const std::string& prefix);

}  // namespace gtsim
