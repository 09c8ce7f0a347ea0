// A change: one committed write (or table operation) as the change log records it and as the
// replication stream carries it between regions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/attribute_value.h"
#include "model/lww.h"
#include "model/table_spec.h"

namespace gtsim {

// kUpdateTable is a control record: a new table definition (replica set and statuses) made by
// UpdateTable, or by a replica reporting that it finished joining or leaving. Replicas apply it
// with LWW on TableSpec::updated.
enum class ChangeKind : int {
  kPut = 1,
  kDelete = 2,
  kCreateTable = 3,
  kDeleteTable = 4,
  kUpdateTable = 5,
};

const char* ChangeKindName(ChangeKind kind);

// An optional TableSpec kept on the heap: only table operations carry one, and holding it inline
// (std::optional<TableSpec>, ~800 bytes) made every Change - nearly all item writes - over 1 KB
// to build, move and free. It reads and assigns like the std::optional it replaces; copies are
// deep.
class OptionalSpec {
 public:
  OptionalSpec() = default;
  // Implicit, as std::optional's: `c.spec = spec;` and `c.spec = std::nullopt;` read naturally.
  OptionalSpec(std::nullopt_t) {}
  OptionalSpec(TableSpec spec) : spec_(std::make_unique<TableSpec>(std::move(spec))) {}
  OptionalSpec(const OptionalSpec& o)
      : spec_(o.spec_ ? std::make_unique<TableSpec>(*o.spec_) : nullptr) {}
  OptionalSpec& operator=(const OptionalSpec& o) {
    if (this != &o) spec_ = o.spec_ ? std::make_unique<TableSpec>(*o.spec_) : nullptr;
    return *this;
  }
  OptionalSpec(OptionalSpec&&) noexcept = default;
  OptionalSpec& operator=(OptionalSpec&&) noexcept = default;

  bool has_value() const { return spec_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  // Only when has_value().
  const TableSpec& operator*() const { return *spec_; }
  TableSpec& operator*() { return *spec_; }
  const TableSpec* operator->() const { return spec_.get(); }
  TableSpec* operator->() { return spec_.get(); }
  void reset() { spec_.reset(); }

 private:
  std::unique_ptr<TableSpec> spec_;
};

struct Change;
// A PUT or DELETE as a stream record's eventName: REMOVE for a delete, MODIFY for a put that
// replaced a version (it has an old image), INSERT otherwise.
const char* StreamEventName(const Change& c);

struct Change {
  int64_t seq = 0;  // position in the change log it was read from
  ChangeKind kind = ChangeKind::kPut;
  std::string table;
  Stamp table_created;            // the table incarnation the change belongs to
  Stamp stamp;                    // LWW stamp; stamp.region is the origin region
  int64_t commit_true_us = 0;     // origin's true clock at commit (ReplicationLatency starts here)
  Item key;                       // key attributes (PUT, DELETE)
  std::optional<Item> new_image;  // PUT
  std::optional<Item> old_image;  // the version replaced, in the local log only
  OptionalSpec spec;              // CREATE_TABLE, UPDATE_TABLE
  // A delete made by this region's TTL sweep (DynamoDB marks these with a service userIdentity).
  // Local stream only: the replication stream never carries it, so other regions log the
  // same delete as an ordinary one.
  bool service_delete = false;
};

// A table incarnation a subscriber holds and asks an origin for, whatever the origin's own
// definition says: changes with seq <= after_seq are not needed (a bootstrapping replica's
// snapshot already includes the origin's changes up to its cut).
struct HeldTable {
  std::string name;
  Stamp created;
  int64_t after_seq = 0;
};

// What an origin sends a subscriber in one message.
struct ChangeBatch {
  std::string origin;
  std::vector<Change> changes;  // origin-local changes relevant to the subscriber, by seq
  // Every origin change with seq <= scanned_through was considered; the subscriber may move its
  // cursor here even when `changes` is empty (the rest were for tables it does not replicate).
  int64_t scanned_through = 0;
  int64_t origin_head = 0;  // the origin's latest change-log sequence at read time
  // Identifies the origin's change log: drawn when its database is created, so a region whose
  // data was wiped comes back with a new log whose positions start again at 1. 0: unknown.
  int64_t origin_log_id = 0;
  // The LWW timestamp of the origin's newest local change with seq <= scanned_through (0: none).
  // The subscriber keeps it with its cursor and names it when it subscribes again, so the origin
  // can tell whether its log still holds what the subscriber applied (log rollback).
  int64_t through_local_ts = 0;
  // Set when the batch reaches the origin's head (scanned_through >= origin_head), else 0: every
  // local change the origin logs after origin_head is stamped at or after it (its newest stamp,
  // or its true clock less the largest skew, whichever is later). Tombstone trimming relies on
  // it (Region::TrimTombstones).
  int64_t stamp_floor = 0;
  // A reclaim batch (see ReplicatorCore::ReadReclaim): changes that originated at the
  // *subscriber*, held here, sent back after the subscriber's log rolled back. No positions.
  bool reclaim = false;
  bool reclaim_done = false;  // the last reclaim batch
  // Receiver side only: the subscription epoch (Region::SubscriptionEpoch) the stream carrying
  // this batch was opened under; -1 when not tracked (the simulator). Region::Apply refuses a
  // batch from an older epoch, because a bootstrap rewound the cursors since.
  int64_t subscription_epoch = -1;
};

}  // namespace gtsim
