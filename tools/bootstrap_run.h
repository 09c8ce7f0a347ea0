// One timed replica bootstrap on a local cluster of real gtsim-region processes, shared by
// gtsim-bootstrap-bench and gtsim-bench's "bootstrap" benchmark.
//
//   1. PreloadRegionDb writes a table of N items into a region's database file in-process,
//      before the region process starts (1000 items per transaction through Region::Transact,
//      so loading is not what is measured and takes seconds, not minutes).
//   2. RunBootstrap, with the cluster started: waits until the new replica's region has caught
//      up with the source's change log (in a live cluster every region follows every other; a
//      log written while the processes were down is not part of adding a replica), then calls
//      UpdateTable ReplicaUpdates Create in the source region and polls the source's
//      DescribeTable every 100 ms until it reports the new replica ACTIVE.
//
// Not thread-safe; one run at a time.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "sim/launcher/cluster.h"

namespace gtsim {

// Creates `table` (hash key id:S, regional) in the database at `db_path` of region `region` of
// a cluster of `regions`, holding `items` items of about `item_bytes` bytes each: ids
// "item0".."itemN-1", a number attribute n and a padding string.
absl::Status PreloadRegionDb(const std::string& db_path, const std::string& region,
                             const std::vector<std::string>& regions, const std::string& table,
                             int64_t items, int item_bytes);

struct BootstrapResult {
  double seconds = 0;          // UpdateTable to ACTIVE, as the source describes the table
  int64_t replica_items = -1;  // ItemCount in the new replica once ACTIVE
  double source_peak_mb = 0;   // VmHWM of each process at the end
  double replica_peak_mb = 0;
  double source_cpu_s = 0;  // CPU (user + system) each process used from the add to ACTIVE
  double replica_cpu_s = 0;
};

// Adds a replica of `table` in `replica` from `source` (both running in `cluster`) and times it.
// Errors: a region that does not answer, an UpdateTable refused, ACTIVE not reached in `limit`.
absl::StatusOr<BootstrapResult> RunBootstrap(LocalCluster& cluster, const std::string& source,
                                             const std::string& replica, const std::string& table,
                                             absl::Duration limit);

// VmHWM of a process in MB (0 when unknown), and its CPU seconds (user + system).
double PeakRssMb(int pid);
double ProcessCpuSeconds(int pid);

}  // namespace gtsim
