// A region's data directory: region.db (with its -wal and -shm files) and region.id, a small
// file that says the directory has held this region's database (written once the database
// has opened for the first time).
//
// A region that has run before and finds its database missing or empty (zero bytes) has lost
// its data: starting it as a new region would silently drop every write it acknowledged, and
// hand peers a log that has forgotten positions they already read. CheckDataDir refuses that
// start unless the caller says the region rejoins (gtsim restart --region R --rejoin, the scenario
// `wipe` step): it then starts empty and re-reads its peers' logs.
//
// Thread-safe (no state); call before the database is opened.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace gtsim {

struct DataDirStart {
  // The caller knows the region has run before (gtsim passes --expect_data from cluster.json),
  // even if the whole directory is gone.
  bool expect_data = false;
  // Start empty although the region has run before.
  bool rejoin = false;
  // The cluster the region belongs to (gtsim-region --cluster_id; "" for none).
  std::string cluster_id;
};

// OK when `dir`'s database may be opened for `region`: it exists and is not empty, or the
// region has never run here (no region.id, no expect_data), or `start.rejoin`.
// FailedPrecondition naming the file and the two ways on (restore it, or rejoin) otherwise, or
// when region.id names another region or another cluster.
absl::Status CheckDataDir(const std::string& dir, const std::string& region,
                          const DataDirStart& start);

// Records that `dir` holds `region`'s database of `cluster_id` (region.id: the region's name,
// then the cluster id, one per line; written atomically, mode 0600, and fsynced). Call after
// the database has opened.
absl::Status MarkDataDir(const std::string& dir, const std::string& region,
                         const std::string& cluster_id);

}  // namespace gtsim
