// The deterministic simulation: several Region cores in one process on one virtual clock,
// connected by a seeded, simulated network, driven by a random workload and random faults.
//
// One seed decides everything (FoundationDB-style): every delay, loss, partition, crash, clock
// skew and client operation is drawn from one std::mt19937_64 seeded with SimOptions::seed, and
// events run in (virtual time, insertion order), so the same build and options always produce
// the same run — SimResult::digest proves it. Nothing reads the wall clock, iterates an
// unordered container or orders by address.
//
// Each region keeps its data in a MemoryStorage (storage/memory_storage.h) on a MemoryDisk that
// the simulation holds, so a crash (the Region object destroyed, its open transaction rolled
// back) keeps every committed write and a restart (Region::Open on a new MemoryStorage on the
// same disk) resumes from it. The simulator does not run SQLite: the storage tests keep the two
// backends equivalent.
// Each directed link origin -> dest runs production's replication link (replicator/link.h: the
// receiver's ReceiverStream subscribes, the origin's OriginStream serves - rollback checks,
// reclaim, log ids, heartbeats - and acks come back), over a simulated network: batches arrive
// after the pair's latency + jitter in order (link_delay.h's DueTimes), a loss breaks the stream,
// so do a crash and a partition, and the link reconnects after ReconnectBackoff's delay; a
// connection epoch makes anything from a broken connection harmless. Only the transport is the
// simulator's own: gRPC in production, events on the virtual clock here.
//
// At the end the simulation heals every fault, restarts crashed regions, runs until the network
// is quiescent and runs the checkers of sim/harness/history.h.
//
// This type is thread-compatible, but not thread-safe; separate instances share nothing and may
// run concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "sim/harness/history.h"

namespace gtsim {

// The region names, in order; a simulation with R regions uses the first R.
const std::vector<std::string>& SimRegionNames();

struct SimOptions {
  uint64_t seed = 1;
  int regions = 3;  // 2..6
  int ops = 200;    // client operations
  int keys = 8;     // key space ("k0".."k<keys-1>"): small, so writes conflict
  // Mean virtual time between client operations.
  int64_t op_interval_us = 5'000;
  // One-way link latency: base (scaled per region pair from the seed, 0.5x..2x) plus uniform
  // jitter; batches on one link still arrive in order.
  int64_t latency_base_us = 30'000;
  int64_t latency_jitter_us = 20'000;
  double loss_probability = 0.01;  // per batch sent; a loss breaks the stream
  bool faults = true;
  // Per client operation, the chance that a fault of each kind starts. Each seed scales them
  // (0..2x, or off) so different seeds explore different mixes ("swarm" testing).
  double partition_probability = 0.02;
  double crash_probability = 0.01;
  double skew_probability = 0.02;
  double loss_burst_probability = 0.01;
  int64_t max_skew_us = 300'000;  // random skews are within +-max_skew_us
  // Clock skew per region index, set before the workload (missing entries: 0). Not a fault.
  std::vector<int64_t> initial_skew_us;
  // Checker self-test: the link regions[0] -> regions[1] is cut before the workload and never
  // healed, so the run cannot converge.
  bool keep_one_link_cut = false;
  // Per client operation, the chance of a replica change (UpdateTable ReplicaUpdates Create or
  // Delete, a cancel when the replica is still CREATING) on a second table, "members", made
  // from a random region that holds it ACTIVE. That table starts regional in the first region;
  // new replicas bootstrap from a snapshot over the simulated network while writes continue
  // (a third of the operations also write to it). Checked at the end by the replica-set checker
  // (below).
  double replica_change_probability = 0.03;
  // Per client operation, the chance of another control-plane change on the members table, made
  // from a random region that holds it ACTIVE: a group-wide setting (SSE, TTL, WarmThroughput;
  // several regions change them concurrently, each setting converging on its own), one
  // replica's own setting (its table class, made from any region), or a GSI
  // created (each replica backfills it while writes continue) or deleted. Checked at the end:
  // every replica's settings and indexes identical, every index exactly what its replica's items
  // say. 0 (with replica_change_probability 0): no members table.
  double control_change_probability = 0.03;
  // Per client operation, the chance that a region's disk is wiped (its process killed, its data
  // deleted) and it rejoins empty after a while, as `gtsim restart --rejoin` does
  // (Region::BeginRejoin). Its acknowledged writes that no other region had received are lost
  // with the disk, and the checkers classify them so (LossReason::kLostWithDisk). Used only
  // when there is no members table (both probabilities above 0) and the seed does not trim
  // tombstones: the rejoined region re-reads its peers' whole logs, and MemoryStorage never
  // trims its log while tombstones are trimmed in virtual seconds, a pairing production's
  // retention rules out (a log row outlives the tombstones after it). Scaled per seed too.
  double wipe_probability = 0.004;
  // After healing, how long (virtual) to wait for quiescence before giving up.
  int64_t settle_limit_us = 60'000'000;
};

// InvalidArgument naming the bad option and its allowed range.
absl::Status ValidateSimOptions(const SimOptions& options);

// The gtsim-sim command line that replays a run with these options.
std::string ReplayCommand(const SimOptions& options);

struct FaultCounts {
  int64_t partitions = 0;
  int64_t crashes = 0;
  int64_t skews = 0;
  int64_t loss_bursts = 0;
  int64_t wipes = 0;          // disks wiped; each region rejoined empty
  int64_t messages_lost = 0;  // batches dropped by the network
};

struct SimResult {
  SimOptions options;
  int64_t ops = 0;               // client operations attempted
  int64_t acknowledged = 0;      // writes that returned OK (the history)
  int64_t condition_failed = 0;  // conditional puts rejected (not acknowledged)
  int64_t unavailable = 0;       // operations with no live region to run on
  int64_t batches_delivered = 0;
  FaultCounts faults;
  int64_t virtual_duration_us = 0;  // from the first client operation to quiescence
  int64_t replica_changes = 0;      // acknowledged replica adds and removals ("members")
  int64_t replicas_added = 0;       // of them, adds
  int64_t replicas_removed = 0;     // and removals (a cancel of a CREATING replica included)
  int64_t replicas_deleted = 0;     // of the removals, DeleteTable in the replica's own region
  // Bootstraps a fault interrupted: a snapshot chunk lost to a crash or partition in flight, or a
  // crash of a region while it bootstrapped or served as a bootstrap's source.
  int64_t bootstraps_interrupted = 0;
  int64_t settings_changed = 0;  // acknowledged group-wide setting changes ("members")
  int64_t indexes_created = 0;   // acknowledged GSI creations
  int64_t indexes_deleted = 0;   // and deletions
  int64_t control_refused = 0;   // setting and index changes refused (in use, limits)
  int64_t index_rows_backfilled = 0;
  int64_t transactions = 0;             // acknowledged two-item transactions on the members table
  int64_t items_expired = 0;            // members deleted by the regions' TTL sweeps
  int64_t replica_changes_refused = 0;  // refused ones (UPDATING, a recent source, ...)
  int64_t snapshot_chunks = 0;          // snapshot chunks loaded by new replicas
  // Bounded disk, when the seed turns tombstone trimming on (half the seeds): delete tombstones
  // the regions trimmed (Region::TrimTombstones) while everything else went on.
  int64_t tombstones_trimmed = 0;
  bool quiescent = false;
  History history;
  std::vector<ReplicaState> replicas;  // final contents, one per region, in region order
  CheckResult check;    // includes simulation errors and a failure to become quiescent
  uint64_t digest = 0;  // of the history, the final replicas and the counters

  bool ok() const { return check.ok; }
  // One line: ops, acknowledged, not-final counts by reason, faults, virtual duration, OK/FAIL.
  std::string Line() const;
};

class Simulation {
 public:
  explicit Simulation(SimOptions options);
  ~Simulation();
  Simulation(const Simulation&) = delete;
  Simulation& operator=(const Simulation&) = delete;

  // Runs the whole simulation; call it once. Fails only when the simulation cannot be set up
  // (bad options, storage); what goes wrong during the run is reported in SimResult::check.
  absl::StatusOr<SimResult> Run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: Simulation(options).Run().
absl::StatusOr<SimResult> RunSimulation(const SimOptions& options);

}  // namespace gtsim
