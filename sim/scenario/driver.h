// How the scenario runner talks to a cluster of regions: items, processes, faults, metrics.
// The gtsim CLI implements it over gRPC against real region processes (tools/scenario_driver.h);
// tests may implement it in memory. Knows nothing of gRPC.
//
// Implementations must be thread-safe: workloads call the item methods from several threads
// while the timeline injects faults.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/table_engine.h"
#include "model/table_spec.h"
#include "region/region.h"
#include "replicator/link_delay.h"

namespace gtsim::scenario {

class Driver {
 public:
  virtual ~Driver() = default;

  // Creates `spec` (its keys) from `region` as a global table with a replica in each of
  // spec.replicas, and returns once every one of them knows it.
  virtual absl::Status CreateTable(const std::string& region, const TableSpec& spec) = 0;
  // UpdateTable in `region` (see TableEngine::UpdateTable): one replica added or removed, one
  // index created or deleted, or group-wide settings. FailedPrecondition while the table is
  // UPDATING or `region`'s replica is not ACTIVE; InvalidArgument for a change it refuses.
  virtual absl::Status UpdateTable(const std::string& region, const UpdateTableRequest& req) = 0;
  // The table as `region` holds it: its replica set with each replica's status, and in
  // index_status the status of each index in `region`'s replica. NotFound when it has none.
  virtual absl::StatusOr<TableInfo> DescribeTable(const std::string& region,
                                                  const std::string& table,
                                                  absl::Duration timeout) = 0;
  // Every item of `index` whose index hash key is `hash`, in `region`, as projected.
  virtual absl::StatusOr<std::vector<Item>> QueryIndex(const std::string& region,
                                                       const std::string& table,
                                                       const std::string& index,
                                                       const AttributeValue& hash,
                                                       absl::Duration timeout) = 0;

  // Item calls against one region's replica. Errors: FailedPrecondition when a condition does
  // not hold; Unavailable / DeadlineExceeded when the region does not answer in `timeout`.
  // Put and Delete always ask for the old item; Put fills WriteResult::new_item with `item`.
  virtual absl::StatusOr<WriteResult> Put(const std::string& region, const std::string& table,
                                          const Item& item, const Condition& condition,
                                          absl::Duration timeout) = 0;
  // new_item: the item after the update.
  virtual absl::StatusOr<WriteResult> Update(const std::string& region, const std::string& table,
                                             const Item& key, const Item& set,
                                             const Condition& condition,
                                             absl::Duration timeout) = 0;
  virtual absl::StatusOr<WriteResult> Delete(const std::string& region, const std::string& table,
                                             const Item& key, const Condition& condition,
                                             absl::Duration timeout) = 0;
  virtual absl::StatusOr<GetResult> Get(const std::string& region, const std::string& table,
                                        const Item& key, absl::Duration timeout) = 0;
  // Every live item of the table in one region (tombstones are not visible). With stamps:
  // each item's version stamp too (costs one read per item).
  virtual absl::StatusOr<std::vector<TableEngine::Version>> Dump(const std::string& region,
                                                                 const TableSpec& spec,
                                                                 bool with_stamps) = 0;

  // Processes.
  virtual absl::Status Kill(const std::string& region) = 0;     // kill -9
  virtual absl::Status Restart(const std::string& region) = 0;  // start; stop first if running
  virtual absl::Status Pause(const std::string& region) = 0;    // SIGSTOP
  virtual absl::Status Resume(const std::string& region) = 0;   // SIGCONT
  // kill -9 (resumed first if paused), then delete its data: the next Restart starts it empty.
  virtual absl::Status Wipe(const std::string& region) = 0;

  // Faults and the network, kept across restarts of a region.
  // `receiver` stops (or resumes) applying the changes that originate in `origin`.
  virtual absl::Status SetBlocked(const std::string& origin, const std::string& receiver,
                                  bool blocked) = 0;
  virtual absl::Status SetClockSkew(const std::string& region, int64_t skew_us) = 0;
  virtual absl::Status SetLink(const std::string& origin, const std::string& receiver,
                               const LinkDelay& link) = 0;

  // The region's replication metrics (ReplicationLatency per inbound link, pending per peer).
  virtual absl::StatusOr<RegionStatus> Status(const std::string& region,
                                              absl::Duration timeout) = 0;
};

}  // namespace gtsim::scenario
