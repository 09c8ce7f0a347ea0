// A table's definition as every replica holds it: keys, replica set (with each replica's
// lifecycle status) and incarnation.
#pragma once

#include <map>
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
  // Replicas that are not ACTIVE, by region: "CREATING" (being bootstrapped from a snapshot) or
  // "DELETING" (being removed). Every region listed here is also in `replicas`.
  std::map<std::string, std::string> replica_status;
  // LWW stamp of the last change to the replica set (UpdateTable): a replica takes a replicated
  // table definition only when its `updated` is newer than the one it holds. Empty until the
  // first UpdateTable (the definition then dates from `created`).
  Stamp updated;

  bool HasReplica(const std::string& region) const;
  // "ACTIVE", "CREATING" or "DELETING"; "" when `region` holds no replica.
  std::string ReplicaStatus(const std::string& region) const;
  // A replica every origin sends the table's changes to: listed and ACTIVE. (A CREATING
  // replica asks for them itself once its snapshot cut is known, see ReplicatorCore::ReadFor;
  // a DELETING one gets none.)
  bool Receives(const std::string& region) const;
  // DynamoDB's TableStatus: UPDATING while a replica is being added or removed, else ACTIVE.
  std::string TableStatus() const;
  // The stamp the definition was last changed with (`updated`, else `created`).
  const Stamp& Version() const { return updated.empty() ? created : updated; }
};

std::string EncodeTableSpec(const TableSpec& spec);
absl::StatusOr<TableSpec> DecodeTableSpec(const std::string& text);

// Parses "name:S" / "name:N" / "name:B" as a key definition.
absl::StatusOr<KeyDef> ParseKeyDef(const std::string& text);

}  // namespace gtsim
