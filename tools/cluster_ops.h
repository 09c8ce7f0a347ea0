// What gtsim does to a running local cluster and how it reads the cluster's state, shared by
// the CLI commands (tools/gtsim.cc) and the web dashboard (tools/ui_server.h), so that a fault
// pressed in the dashboard runs the very code `gtsim partition` runs.
//
// Each fault loads nothing itself: the caller passes the cluster (LocalCluster::Load of the
// cluster folder) and must have called RegionClient::UseSecretFile for it. It stores what must
// survive restarts in cluster.json, tells the running regions through their admin API, and
// returns what it did in words (the CLI prints it on stderr). Errors: InvalidArgument for an
// unknown region or a bad value (nothing changed), the regions' errors otherwise.
//
// Thread-compatible: one call at a time per LocalCluster object.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "replicator/link_delay.h"
#include "sim/launcher/cluster.h"

namespace gtsim {

// kill -9.
absl::StatusOr<std::string> KillRegion(LocalCluster& cluster, const std::string& region);
// Stops the region if it runs, then starts it (with `rejoin`: empty, re-reading its peers).
absl::StatusOr<std::string> RestartRegion(LocalCluster& cluster, const std::string& region,
                                          bool rejoin);
// Cuts replication between a and b, both directions.
absl::StatusOr<std::string> PartitionRegions(LocalCluster& cluster, const std::string& a,
                                             const std::string& b);
// One-way cut: `receiver` stops applying `origin`'s changes; the other direction flows.
absl::StatusOr<std::string> PauseReplication(LocalCluster& cluster, const std::string& origin,
                                             const std::string& receiver);
// Restores every cut link (partitions and paused directions).
absl::StatusOr<std::string> HealCluster(LocalCluster& cluster);
// The offset of the clock `region` stamps writes with (|skew| <= kMaxClockSkewUs).
absl::StatusOr<std::string> SetRegionClockSkew(LocalCluster& cluster, const std::string& region,
                                               int64_t skew_us);
// The simulated network on the link from -> to (LinkDelay::none() removes it).
absl::StatusOr<std::string> SetLinkModel(LocalCluster& cluster, const std::string& from,
                                         const std::string& to, const LinkDelay& link);

// Between calls of ClusterStatus: each region's local write count and when it was read, for
// writes/s.
struct WriteRates {
  std::map<std::string, std::pair<int64_t, absl::Time>> last;
};

// `gtsim status --json`'s document: asks every running region for its Status (5 s deadline
// each; a region that does not answer is "not answering"). With `rates`, each answering region
// also gets writes_per_s since the previous call with the same `rates`. Besides regions, tables,
// warnings and replication (per ordered pair: link, staleness_ms, replicated_time, latency,
// pending, and delay_ms / paused for the faults on it), it holds "faults" (what is done to the
// cluster now: partitions, paused directions, link delays, clock skews, stopped regions; each
// {"kind", "text", ...}) and "conflicts" (the regions' recent LWW losses, oldest first, each
// with an "explanation").
nlohmann::json ClusterStatus(const LocalCluster& cluster, WriteRates* rates = nullptr);

}  // namespace gtsim
