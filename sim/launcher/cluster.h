// A local cluster of real gtsim-region processes on 127.0.0.1, described by
// DIR/cluster.json (regions, ports, pids, data folders, partitions, clock skews).
//
// Used by the gtsim CLI (up, down, kill, restart, partition, heal, clock) and by the integration
// tests. Ports are chosen free when the cluster is created and kept for its life, so peers can
// always find a restarted region at the same address. Knows nothing of gRPC: a region is ready
// when its port accepts connections (it opens its database before it listens).
//
// This type is thread-compatible, but not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "replicator/link_delay.h"

namespace gtsim {

struct RegionProcess {
  std::string name;
  int port = 0;
  // The DynamoDB-compatible HTTP endpoint's port; 0 when none (clusters created before it).
  int dynamodb_port = 0;
  int pid = 0;  // 0 when not running
  int64_t clock_skew_us = 0;
  std::string data_dir;  // DIR/<name>
  // The region has started once: it is given --expect_data, so a lost database is refused
  // (storage/data_dir.h) unless it rejoins.
  bool has_run = false;
  // The next start is given --rejoin (not saved: MarkRejoin before one Start).
  bool rejoin = false;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  // "http://127.0.0.1:PORT", or empty when the region has no DynamoDB endpoint.
  std::string dynamodb_url() const {
    return dynamodb_port ? "http://127.0.0.1:" + std::to_string(dynamodb_port) : std::string();
  }
};

class LocalCluster {
 public:
  // Creates DIR/cluster.json for new regions with free ports (nothing is started). Fails if DIR
  // already holds a cluster.
  static absl::StatusOr<LocalCluster> Create(const std::string& dir,
                                             const std::vector<std::string>& regions,
                                             const std::string& region_binary);
  // Loads DIR/cluster.json. NotFound when DIR holds no cluster.
  static absl::StatusOr<LocalCluster> Load(const std::string& dir,
                                           const std::string& region_binary);
  // Writes cluster.json, and DIR/prometheus-targets.json: a Prometheus file_sd targets file
  // listing each region's DynamoDB endpoint (where GET /metrics answers) with a region label.
  absl::Status Save() const;

  const std::string& dir() const { return dir_; }
  const std::vector<RegionProcess>& regions() const { return regions_; }
  std::vector<std::string> region_names() const;
  // InvalidArgument naming the cluster's regions when `name` is not one of them.
  absl::StatusOr<const RegionProcess*> Find(const std::string& name) const;
  bool IsRunning(const std::string& name) const;

  // Starts a region that is not running and waits until it accepts connections (or exits, in
  // which case the error carries the end of its log). Applies stored partitions and skew.
  absl::Status Start(const std::string& name, absl::Duration timeout = absl::Seconds(15));
  absl::Status StartAll(absl::Duration timeout = absl::Seconds(15));
  // The next Start of `name` lets it rejoin with an empty database (gtsim-region --rejoin): for
  // a region whose data was lost or wiped on purpose.
  void MarkRejoin(const std::string& name);
  // SIGKILL (kill -9): the process dies without cleanup.
  absl::Status Kill(const std::string& name);
  // SIGTERM, then SIGKILL after `grace`.
  absl::Status Stop(const std::string& name, absl::Duration grace = absl::Seconds(5));
  absl::Status StopAll();

  // Partitions are remembered here and given to regions when they (re)start; the caller also
  // tells running regions through the admin API.
  void AddPartition(const std::string& a, const std::string& b);
  void ClearPartitions();
  const std::set<std::pair<std::string, std::string>>& partitions() const { return partitions_; }
  // Peers whose changes `name` must not apply.
  std::vector<std::string> BlockedPeers(const std::string& name) const;
  void SetClockSkew(const std::string& name, int64_t skew_us);
  // One-way cut: `receiver` stops applying `origin`'s changes (the other direction flows).
  // Remembered like partitions; ClearPartitions clears these too.
  void AddOneWayBlock(const std::string& origin, const std::string& receiver);
  const std::set<std::pair<std::string, std::string>>& one_way_blocks() const {
    return one_way_;  // (origin, receiver)
  }
  // The simulated network on the link origin -> receiver (replicator/link_delay.h), given to the
  // receiver when it (re)starts as --inbound_delay. A LinkDelay that is none() removes it.
  void SetLink(const std::string& origin, const std::string& receiver, const LinkDelay& link);
  const std::map<std::pair<std::string, std::string>, LinkDelay>& links() const { return links_; }

  std::string LogPath(const std::string& name) const;

  // gtsim-region --durability for every region: "process" (the default) or "fsync". Saved in
  // cluster.json; given at each start.
  const std::string& durability() const { return durability_; }
  // Drawn at Create (16 hex digits) and given to every region (gtsim-region --cluster_id):
  // replication with a region of another cluster is refused both ways.
  const std::string& cluster_id() const { return cluster_id_; }
  // DIR/secret (mode 0600), written at Create from /dev/urandom and given to every region
  // (gtsim-region --secret_file): every gRPC call to a region must carry it
  // (region/grpc/cluster_secret.h). Absent in clusters made before secrets: none required.
  std::string secret_path() const { return dir_ + "/secret"; }
  absl::Status SetDurability(const std::string& durability);
  // Regions started from now on exit when this process does (gtsim-region --exit_with_parent):
  // for throwaway clusters (gtsim run, tests), so that a runner that crashes leaves no region
  // processes behind. Not saved: `gtsim up` clusters outlive the CLI.
  void SetExitWithParent(bool on) { exit_with_parent_ = on; }

  // gtsim-region --log_retention for every region (zero: the region's default, 24h). Saved in
  // cluster.json; given at each start.
  absl::Duration log_retention() const { return log_retention_; }
  void SetLogRetention(absl::Duration retention) { log_retention_ = retention; }

 private:
  absl::Status SavePrometheusTargets() const;
  LocalCluster(std::string dir, std::string region_binary)
      : dir_(std::move(dir)), region_binary_(std::move(region_binary)) {}
  RegionProcess* Mutable(const std::string& name);

  std::string dir_;
  std::string region_binary_;
  std::vector<RegionProcess> regions_;
  std::set<std::pair<std::string, std::string>> partitions_;        // (a, b) with a < b
  std::set<std::pair<std::string, std::string>> one_way_;           // (origin, receiver)
  std::map<std::pair<std::string, std::string>, LinkDelay> links_;  // (origin, receiver)
  std::string durability_ = "process";
  std::string cluster_id_;
  absl::Duration log_retention_;
  bool exit_with_parent_ = false;
};

// Whether process `pid` is alive and is a gtsim-region serving `region` (guards against pid
// reuse before signalling it).
bool IsRegionProcess(int pid, const std::string& region);

// A TCP port on 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> PickFreePort();

}  // namespace gtsim
