// A scenario: regions, a network model, tables, workloads, a timeline of steps (faults, table
// and replica operations, workload moves, waits) and expectations, as read from a YAML file
// (see README "Scenarios").
//
// ParseScenario validates everything before anything runs: unknown keys, wrong types,
// unknown regions or workloads, and steps that cannot happen (restarting a region that is
// running, times that go backwards, ...) are errors of the form "FILE:LINE: plain message".
//
// Plain data; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "model/table_spec.h"
#include "replicator/link_delay.h"

namespace gtsim::scenario {

// One directed link's network model: origin `from` -> receiver `to`.
struct LinkSpec {
  std::string from, to;
  LinkDelay model;
};

// The network as a full set of directed links. Links not listed have no simulated delay.
struct NetworkSpec {
  std::vector<LinkSpec> links;
  std::string description;  // "aws", "uniform 20ms", ...
};

// One-way latency between two AWS regions from REFERENCE.md's RTT table (RTT / 2), or nullopt
// when the table has no entry for the pair.
std::optional<absl::Duration> AwsOneWay(const std::string& a, const std::string& b);
// Every directed pair of `regions` with the AWS latency (jitter 10 % of it, normal).
// InvalidArgument naming the pair the table lacks.
absl::StatusOr<NetworkSpec> AwsNetwork(const std::vector<std::string>& regions);

enum class WorkloadKind { kMixed, kCounter, kLock };

struct OpMix {
  // Relative weights. Reads are served by the workload's region: a strongly consistent read
  // (consistent_read) sees every write committed there, and still misses the writes of other
  // regions not yet replicated, as in DynamoDB global tables; gtsim reads are never staler
  // than that, so both kinds behave alike and are counted apart.
  double put = 0, update = 0, del = 0, conditional_put = 0, read = 0, consistent_read = 0,
         increment = 0;
  double total() const {
    return put + update + del + conditional_put + read + consistent_read + increment;
  }
};

// A global secondary index of a scenario table.
struct IndexSpec {
  std::string name;
  KeyDef hash_key;
  std::optional<KeyDef> range_key;
  std::string projection = "ALL";    // ALL, KEYS_ONLY or INCLUDE
  std::vector<std::string> include;  // INCLUDE: the projected non-key attributes
};

// A table as the scenario creates it before the workloads start.
struct TableDef {
  std::string name = "items";
  KeyDef hash_key{"id", ValueType::kS};
  std::optional<KeyDef> range_key;
  std::vector<IndexSpec> indexes;
  std::string billing = "PAY_PER_REQUEST";  // or PROVISIONED (with wcu and rcu)
  int64_t wcu = 0, rcu = 0;
  std::vector<std::string> replicas;  // regions holding a replica at the start (all by default)
  int line = 0;
};

// Group-wide settings a `table_settings` step changes; unset ones stay as they are.
struct SettingsChange {
  std::optional<std::string> billing;
  std::optional<int64_t> wcu, rcu;
  std::optional<std::string> ttl_attribute;  // "" disables TTL
  std::optional<std::string> sse;            // AES256 or KMS
};

struct WorkloadSpec {
  std::string name;
  std::string table;  // the table it writes (default: the scenario's first)
  WorkloadKind kind = WorkloadKind::kMixed;
  std::string region;  // where it sends requests (moves with `move` steps)
  double rate = 10;    // operations per second
  int keys = 100;      // key space size
  std::string key_prefix = "k";
  bool zipf = false;
  double zipf_s = 1.1;
  OpMix mix;
  int item_size = 64;  // bytes of padding per item
  // Only touch keys whose home is this workload's original region (key index mod the number of
  // regions): the AWS-recommended pattern that avoids write conflicts.
  bool home_region_per_key = false;
  bool start = true;                              // running from t = 0
  absl::Duration hold = absl::Milliseconds(200);  // lock: how long the lock is held
  int line = 0;
};

enum class ExpectKind {
  kConverged,       // every replica identical within `within` after the final heal
  kNoLostWrites,    // the lost-write classifier finds no violation
  kLostToLww,       // writes LWW discarded in a conflict (optionally of one reason): bounds
  kLag,             // ReplicationLatency p50 / p99 per pair below a bound
  kAvailability,    // a workload's answered / attempted at least a fraction
  kLostIncrements,  // counters: acknowledged increments minus final values: bounds
  kLockOverlaps,    // lock: times two regions held the lock at once: bounds
  kIndexMatches,    // every replica's `index` of `table` holds exactly the matching items
};
const char* ExpectKindName(ExpectKind k);

struct Expectation {
  ExpectKind kind = ExpectKind::kConverged;
  absl::Duration within = absl::Seconds(30);
  std::optional<int64_t> at_least, at_most;
  std::string reason;  // kLostToLww: a LossReasonName, or empty for any conflict
  std::optional<absl::Duration> p50_below, p99_below;
  std::string from, to;      // kLag: restrict to a pair side (empty: all)
  bool heartbeat = false;    // kLag: judge the client-observed heartbeat lag instead
  std::string workload;      // kAvailability (empty: all workloads together)
  std::string table, index;  // kIndexMatches
  double min_fraction = 0;   // kAvailability
  int line = 0;
  std::string Name() const;  // e.g. "lag p99 < 500ms (us-east-1 -> all)"
};

enum class ActionKind {
  kStartWorkload,
  kStopWorkload,
  kMoveWorkload,      // target region in `region`
  kKill,              // kill -9
  kRestart,           // start a stopped region (stop it first if running)
  kPause,             // SIGSTOP
  kResume,            // SIGCONT
  kPartition,         // blocks in `blocks`
  kHeal,              // every cut link restored
  kPauseReplication,  // `region` applies nothing from anyone
  kResumeReplication,
  kClockSkew,   // set skew to `amount`
  kClockJump,   // add `amount` to the skew
  kClockDrift,  // the skew grows by `amount` per second of true time (0 stops)
  kNetwork,     // replace the network model with `network`
  kLink,        // set one link's model
  kWaitFor,
  kWaitConverged,  // until every replica identical (or the `amount` timeout passes)
  kWaitCaughtUp,   // until every write committed before the wait reached every replica
  // Table and replica operations, called in `via` (default: the first region holding an ACTIVE
  // replica that is up); retried while the table is UPDATING (one change in flight per table).
  kAddReplica,     // `region` gains a replica of `table`, bootstrapped from via's snapshot
  kRemoveReplica,  // `region` loses its replica of `table`
  kCreateIndex,    // `index` (definition in `new_index`) on `table`
  kDeleteIndex,
  kTableSettings,  // `settings` on `table`
  kWipe,  // `region` loses its disk and rejoins every table by snapshot (README "Scenarios")
  kWaitReplicaActive,  // until `region`'s replica of `table` is ACTIVE (or the timeout)
  kWaitIndexActive,    // until `index` of `table` is ACTIVE in every replica (or the timeout)
};
const char* ActionKindName(ActionKind k);

struct Action {
  ActionKind kind = ActionKind::kWaitFor;
  std::string region;  // target region ("random": drawn from the seed when it happens)
  std::string workload;
  std::vector<std::pair<std::string, std::string>> blocks;  // (origin, receiver)
  std::string partition_text;  // how the partition was written, for reports
  absl::Duration amount;       // skew / jump / drift per second / wait length / wait timeout
  NetworkSpec network;
  LinkSpec link;
  std::string table, index, via;  // table and replica operations
  IndexSpec new_index;
  SettingsChange settings;
};

// A step of the timeline. Steps run in file order: a step with `at` waits until that time after
// the start; one without runs as soon as the previous step is done (e.g. after a wait). With
// `for`, the fault is undone after that long (a killed region restarts, a partition heals, ...).
// With `every`, the step repeats from `at` until `until`; a "random" target is drawn each time.
struct Step {
  std::optional<absl::Duration> at;
  std::optional<absl::Duration> for_duration;
  std::optional<absl::Duration> every;
  absl::Duration until;
  Action action;
  std::string note;  // shown in the live view and the log
  int line = 0;
  std::string Describe() const;  // "kill us-east-1 for 5s"
};

struct Scenario {
  std::string file;
  std::string name;
  std::string description;
  uint64_t seed = 1;
  std::vector<std::string> regions;
  NetworkSpec network;
  std::vector<TableDef> tables;  // never empty after parsing; the first is the default
  const TableDef* FindTable(const std::string& name) const;  // null when unknown
  std::vector<WorkloadSpec> workloads;
  std::vector<Step> steps;
  std::vector<Expectation> expectations;
  // The run's length when no step runs longer; the timeline may extend it.
  absl::Duration duration = absl::Seconds(10);
  // How long the final heal may take to converge before the run gives up.
  absl::Duration settle = absl::Seconds(30);
  // Measure client-observed lag: a heartbeat item written in each region once a second, and
  // the time until a reader in every other region sees it (a second table, gtsim-heartbeat).
  bool heartbeat = true;
};

// Parses and validates a scenario from YAML text; `file` names it in messages.
// InvalidArgument "FILE:LINE: message" on any problem.
absl::StatusOr<Scenario> ParseScenario(const std::string& text, const std::string& file);
absl::StatusOr<Scenario> LoadScenario(const std::string& path);

// Parses a duration such as "250ms", "1.5s", "2m", "0". False when malformed.
bool ParseScenarioDuration(const std::string& text, absl::Duration* out);
// "1MB/s", "500KB/s", "2000B/s" or a plain number of bytes per second, above 0.
bool ParseBandwidth(const std::string& text, int64_t* bytes_per_s);
// "1.5s", "250ms".
std::string FormatScenarioDuration(absl::Duration d);

}  // namespace gtsim::scenario
