// A workload record on disk: what `gtsim traffic` writes when it stops and `gtsim check` reads
// to judge the cluster's final state against it (the same WorkloadRecord a scenario run keeps
// in memory for its final checks, final_checks.h).
//
// The file is one JSON document:
//   {"format": "gtsim-history", "version": 1, "cluster": DIR, "regions": [...],
//    "command": "gtsim traffic ...", "seed": N, "start_us": T0, "end_us": T1,
//    "tables": [{"name", "hash_key": "id:S", "range_key"?: "sk:N", "replicas": [...]}],
//    "writes": [{"table", "id", "kind": "put|conditional put|update|delete", "region", "key",
//                "key_text", "true_us", "skew_us", "stamp": {"ts_us", "region"},
//                "superseded_by"?: {...}, "old_item"?, "new_item"?}],
//    "unanswered": [{"table", "id", "kind", "region", "key", "key_text", "true_us"}],
//    "reads": [{"table", "region", "key", "key_text", "item"?, "stamp"?, "start_us", "end_us"}],
//    "counter_keys": [{"table", "hk", "rk"}],  (encoded keys, hex)
//    "acked_increments": N, "lock_intervals": [{"region", "start", "end"}]}
// Items and keys are in DynamoDB JSON; times are microseconds since the Unix epoch (true time:
// the machine's clock), lock intervals seconds since start_us. A write's "new_item" carries its
// write id in attribute "w" ("w<id>"), as the lost-write classifier expects (history.h).
//
// Plain data and free functions; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "sim/scenario/scenario.h"
#include "sim/scenario/workloads.h"

namespace gtsim::scenario {

struct RecordedRun {
  std::string cluster_dir;           // the cluster the history was made against
  std::vector<std::string> regions;  // the cluster's regions
  std::string command;               // how it was made, for messages
  uint64_t seed = 1;
  int64_t start_us = 0, end_us = 0;  // the workloads' start and stop (true time)
  std::vector<TableDef> tables;      // name, keys and replicas of each table written
  WorkloadRecord record;
};

nlohmann::json RecordedRunToJson(const RecordedRun& run);
// InvalidArgument "not a gtsim history: WHY" for a document of another shape.
absl::StatusOr<RecordedRun> RecordedRunFromJson(const nlohmann::json& doc);

// Writes the file whole (to PATH.tmp, then renamed): a reader never sees half of it.
absl::Status WriteHistoryFile(const std::string& path, const RecordedRun& run);
// NotFound "cannot read PATH: ..." when the file cannot be opened; InvalidArgument "PATH: ..."
// when it is not JSON or not a history.
absl::StatusOr<RecordedRun> ReadHistoryFile(const std::string& path);

}  // namespace gtsim::scenario
