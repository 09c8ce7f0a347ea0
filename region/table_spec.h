// A table's definition as every replica holds it: keys, replica set and incarnation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "region/attribute_value.h"
#include "replicator/lww.h"

namespace gtsim {

struct KeyDef {
  std::string name;
  ValueType type = ValueType::kS;  // kS, kN or kB
  bool operator==(const KeyDef& o) const { return name == o.name && type == o.type; }
};

struct TableSpec {
  std::string name;
  KeyDef hash_key;
  std::optional<KeyDef> range_key;
  // Regions holding a replica, sorted. A regional table lists only its own region.
  std::vector<std::string> replicas;
  // Identifies this incarnation of the table: when and where CreateTable ran. A table deleted
  // and created again under the same name is a different incarnation.
  Stamp created;

  bool HasReplica(const std::string& region) const;
};

std::string EncodeTableSpec(const TableSpec& spec);
absl::StatusOr<TableSpec> DecodeTableSpec(const std::string& text);

// Parses "name:S" / "name:N" / "name:B" as a key definition.
absl::StatusOr<KeyDef> ParseKeyDef(const std::string& text);

}  // namespace gtsim
