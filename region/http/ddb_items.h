// Items, keys and attribute values in DynamoDB requests (internal to region/http/): DynamoDB's
// checks of values as sent (numbers, sets, nesting, one type per value), of items to write
// (key attributes, key sizes, the 400 KB limit) and of Key parameters, each with DynamoDB's
// ValidationException message; and the key and index views of items that operations share.
//
// Every function here is stateless and thread-safe; none throws.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "region/region.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// One number as sent: syntax, 38 significant digits, magnitude range.
absl::Status CheckNumberText(const std::string& text);
// One AttributeValue as sent. `depth` counts the maps and lists `v` sits in; DynamoDB allows 32.
absl::Status CheckValueJson(const json& v, int depth = 0);
// An item, key or attribute map from a request: DynamoDB's checks, then conversion.
absl::StatusOr<Item> DdbItemFromJson(const json& object);
// Member `name` of `req` as an item (empty when absent and not `required`).
absl::StatusOr<Item> ItemField(const json& req, const char* name, bool required);

// The key attributes of `item` under `spec` (missing ones are left out: the engine reports them).
Item KeyOf(const TableSpec& spec, const Item& item);
// An item's key attributes present with the key types.
absl::Status CheckItemKey(const TableSpec& spec, const Item& item);
// DynamoDB's limits on key values: not empty, hash key <= 2048 bytes, range key <= 1024.
absl::Status CheckKeyValues(const TableSpec& spec, const Item& item);
// The 400 KB item limit; `update` picks UpdateItem's wording.
absl::Status CheckItemSize(const Item& item, bool update = false);
// A whole item to write: key attributes present and typed, key limits, size.
absl::Status CheckWriteItem(const TableSpec& spec, const Item& item);
// A Key parameter: exactly the key attributes, of the key types, within the key limits.
absl::Status CheckKey(const TableSpec& spec, const Item& key);

// `item` as a global secondary index holds it: nullopt when it lacks the index's key attributes
// (or has them with other types), else the attributes of the index's projection.
std::optional<Item> IndexView(const TableSpec& spec, const GsiSetting& g, const Item& item);
// The table's key attributes of `key` (a LastEvaluatedKey of an index also holds the index's).
Item TableKeyPart(const TableSpec& spec, const Item& key);
// The names of the table's key attributes, hash key first.
std::vector<std::string> KeyNames(const TableSpec& spec);

}  // namespace gtsim::ddb
