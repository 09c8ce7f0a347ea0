// A deterministic simulation of one MRSC table (docs/MRSC.md): three participants
// (replicator/mrsc_node.h - three replicas, or two replicas and a witness) on one virtual clock,
// over a seeded network that delays (per-pair base latency plus jitter, so messages reorder),
// loses, duplicates and partitions messages, with crashes and restarts, and concurrent clients
// doing writes, deletes, conditional writes (CAS) and strong reads on a few keys.
//
// One seed decides everything: all randomness comes from one std::mt19937_64 seeded with
// MrscSimOptions::seed, events run in (virtual time, insertion order), and only ordered
// containers are iterated - the same build and options give the same run (MrscSimResult::digest).
// A crash destroys the participant (its rounds, its 1-RTT cache, its catch-up: everything
// volatile) and keeps its MemoryAcceptorStore, as a disk survives kill -9; the restart opens a
// new MrscNode on the same store, which catches up before it serves.
//
// The history (every operation's invocation and outcome, in event order) goes to the
// linearizability checker (sim/harness/linearizability.h). At the end every fault is healed,
// every participant restarted and caught up, each key read strongly from each replica, and the
// replicas' readable copies must be identical and equal to those reads (convergence; no
// acknowledged write lost - a lost one would make those reads contradict the history).
//
// This type is thread-compatible, but not thread-safe; separate runs share nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sim/harness/linearizability.h"

namespace gtsim {

struct MrscSimOptions {
  uint64_t seed = 1;
  bool witness = false;  // participant 2 is a witness
  int clients = 4;
  int ops_per_client = 30;
  int keys = 3;
  int64_t think_us = 20'000;  // mean pause between a client's operations
  // One-way latency: base per pair (0.5x..2x from the seed) plus uniform jitter.
  int64_t latency_base_us = 20'000;
  int64_t latency_jitter_us = 20'000;
  bool scale_latency_per_pair = true;  // false: every pair has latency_base_us
  // Client c always uses replica c % replicas (a steady writer per region); false: a random
  // replica per operation.
  bool pin_clients = false;
  double loss_probability = 0.03;
  double duplicate_probability = 0.03;
  bool faults = true;
  // Per client operation: the chance a crash of a random participant, or a partition of a
  // random pair, starts (each seed scales them 0..2x: swarm testing).
  double crash_probability = 0.03;
  double partition_probability = 0.04;
  int64_t round_timeout_us = 400'000;
  bool fast_path = true;
  // The checker's self-test: plant one bug in every participant (MrscNodeOptions).
  bool bug_ack_after_one_accept = false;
  bool bug_strong_read_from_local_copy = false;
};

struct MrscSimResult {
  MrscSimOptions options;
  int64_t ops = 0;
  int64_t committed = 0;         // writes and CAS acknowledged
  int64_t condition_failed = 0;  // CAS refused by its condition
  int64_t reads = 0;             // strong reads answered
  int64_t conflicts = 0;
  int64_t no_quorum = 0;
  int64_t catching_up = 0;        // refused while the region caught up
  int64_t unknown = 0;            // writes whose outcome is unknown (timeout after Accept, crash)
  int64_t unknown_conflicts = 0;  // of them, conflicts after a partly taken Accept
  int64_t unknown_timeouts = 0;   // and deadlines after the Accept went out (the rest: crashes)
  int64_t fast_rounds = 0;
  int64_t repair_rounds = 0;
  int64_t crashes = 0;
  int64_t partitions = 0;
  int64_t messages = 0;
  int64_t messages_lost = 0;
  int64_t virtual_us = 0;
  // Virtual time from submission to answer of each acknowledged write or CAS (refused CAS
  // included) and of each answered strong read.
  std::vector<int64_t> write_latency_us;
  std::vector<int64_t> read_latency_us;
  std::vector<RegisterOp> history;
  LinearizabilityResult linearizability;
  bool converged = false;
  std::vector<std::string> errors;  // convergence, simulation errors
  uint64_t digest = 0;

  bool ok() const { return linearizability.ok && converged && errors.empty(); }
  std::string Line() const;
};

// Runs one simulation; fails only on bad options. What goes wrong in the run is in the result.
absl::StatusOr<MrscSimResult> RunMrscSimulation(const MrscSimOptions& options);

}  // namespace gtsim
