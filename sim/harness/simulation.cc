#include "sim/harness/simulation.h"

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "model/key_codec.h"
#include "model/status_macros.h"
#include "region/region.h"
#include "storage/memory_storage.h"

namespace gtsim {
namespace {

constexpr char kTable[] = "sim";
constexpr char kMembersTable[] = "members";  // the table whose replica set changes
constexpr int kSnapshotRows = 8;             // rows per simulated snapshot chunk
constexpr int64_t kSnapshotPollUs = 20'000;  // how often new replicas ask for a chunk
constexpr int64_t kBackfillPollUs = 20'000;  // how often each region backfills its indexes
// How often each region trims its tombstones (when the seed turns it on). The change log is not
// trimmed here: MemoryStorage keeps it whole (the storage tests cover SQLite's trimming).
constexpr int64_t kTrimPollUs = 100'000;
constexpr int kBackfillRows = 4;  // rows per backfill step
constexpr int kIndexValues = 4;   // the members' GSI hash key takes "g0".."g3"
constexpr char kIndexKey[] = "g";
constexpr char kHashKey[] = "id";
constexpr int kBatchMax = 64;    // changes per batch
constexpr int kMaxInFlight = 2;  // batches per link
constexpr int64_t kReconnectMinUs = 20'000;
constexpr int64_t kReconnectMaxUs = 500'000;
constexpr int64_t kStableUs = 2'000'000;  // a connection this old resets the backoff
constexpr char kClusterId[] = "sim";
constexpr int64_t kLossTimeoutUs = 200'000;  // a receiver notices a lost batch after this
constexpr double kBurstLoss = 0.5;           // loss probability during a loss burst
constexpr int64_t kQuiescenceCheckUs = 50'000;
constexpr int64_t kSetupLimitUs = 30'000'000;
constexpr size_t kMaxSimErrors = 20;

// Portable draws (std distributions differ between standard libraries).
uint64_t Below(std::mt19937_64& rng, uint64_t n) { return n == 0 ? 0 : rng() % n; }
int64_t Uniform(std::mt19937_64& rng, int64_t lo, int64_t hi) {
  return hi <= lo ? lo : lo + static_cast<int64_t>(Below(rng, static_cast<uint64_t>(hi - lo) + 1));
}
double Unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }
bool Chance(std::mt19937_64& rng, double p) { return p > 0 && Unit(rng) < p; }

// FNV-1a, 64 bits.
class Digest {
 public:
  void Add(const std::string& s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ULL;
    }
    Add(static_cast<int64_t>(s.size()));
  }
  void Add(int64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ ^= static_cast<uint64_t>(v >> (8 * i)) & 0xff;
      h_ *= 1099511628211ULL;
    }
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 14695981039346656037ULL;
};

}  // namespace

const std::vector<std::string>& SimRegionNames() {
  static const auto* names = new std::vector<std::string>{
      "us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "eu-central-1", "sa-east-1"};
  return *names;
}

absl::Status ValidateSimOptions(const SimOptions& o) {
  auto bad = [](const std::string& what) { return absl::InvalidArgumentError(what); };
  int max_regions = static_cast<int>(SimRegionNames().size());
  if (o.regions < 2 || o.regions > max_regions) {
    return bad(absl::StrCat("regions must be 2..", max_regions, ", not ", o.regions));
  }
  if (o.ops < 0) return bad(absl::StrCat("ops must be >= 0, not ", o.ops));
  if (o.keys < 1) return bad(absl::StrCat("keys must be >= 1, not ", o.keys));
  if (o.op_interval_us < 1) return bad("the operation interval must be at least 1 us");
  if (o.latency_base_us < 0 || o.latency_jitter_us < 0) {
    return bad("link latency and jitter must not be negative");
  }
  for (double p : {o.loss_probability, o.partition_probability, o.crash_probability,
                   o.skew_probability, o.loss_burst_probability, o.replica_change_probability,
                   o.control_change_probability, o.wipe_probability}) {
    if (!(p >= 0 && p <= 1)) return bad(absl::StrCat("probabilities must be in [0, 1], not ", p));
  }
  if (o.max_skew_us < 0 || o.max_skew_us > kMaxClockSkewUs) {
    return bad(absl::StrCat("the maximum clock skew must be in [0, ", kMaxClockSkewUs, "] us, not ",
                            o.max_skew_us));
  }
  for (int64_t skew : o.initial_skew_us) {
    if (skew > kMaxClockSkewUs || skew < -kMaxClockSkewUs) {
      return bad(absl::StrCat("an initial clock skew must be within +-", kMaxClockSkewUs,
                              " us, not ", skew));
    }
  }
  if (o.initial_skew_us.size() > static_cast<size_t>(o.regions)) {
    return bad(absl::StrCat("initial skews given for ", o.initial_skew_us.size(),
                            " regions, but the simulation has ", o.regions));
  }
  if (o.settle_limit_us < 0) return bad("the settle limit must not be negative");
  return absl::OkStatus();
}

std::string ReplayCommand(const SimOptions& o) {
  SimOptions d;
  std::string cmd = absl::StrCat("build/gtsim-sim --seed ", o.seed, " --regions ", o.regions,
                                 " --ops ", o.ops, " --keys ", o.keys);
  if (!o.faults) absl::StrAppend(&cmd, " --no-faults");
  if (o.op_interval_us != d.op_interval_us)
    absl::StrAppend(&cmd, " --interval-us ", o.op_interval_us);
  if (o.latency_base_us != d.latency_base_us) {
    absl::StrAppend(&cmd, " --latency-us ", o.latency_base_us);
  }
  if (o.latency_jitter_us != d.latency_jitter_us) {
    absl::StrAppend(&cmd, " --jitter-us ", o.latency_jitter_us);
  }
  if (o.loss_probability != d.loss_probability)
    absl::StrAppend(&cmd, " --loss ", o.loss_probability);
  if (o.partition_probability != d.partition_probability) {
    absl::StrAppend(&cmd, " --partition-p ", o.partition_probability);
  }
  if (o.crash_probability != d.crash_probability) {
    absl::StrAppend(&cmd, " --crash-p ", o.crash_probability);
  }
  if (o.skew_probability != d.skew_probability) {
    absl::StrAppend(&cmd, " --skew-p ", o.skew_probability);
  }
  if (o.loss_burst_probability != d.loss_burst_probability) {
    absl::StrAppend(&cmd, " --loss-burst-p ", o.loss_burst_probability);
  }
  if (o.max_skew_us != d.max_skew_us) absl::StrAppend(&cmd, " --max-skew-us ", o.max_skew_us);
  if (o.replica_change_probability != d.replica_change_probability) {
    absl::StrAppend(&cmd, " --replica-changes ", o.replica_change_probability);
  }
  if (o.control_change_probability != d.control_change_probability) {
    absl::StrAppend(&cmd, " --control-changes ", o.control_change_probability);
  }
  if (!o.initial_skew_us.empty()) {
    absl::StrAppend(&cmd, " --skew-us ", absl::StrJoin(o.initial_skew_us, ","));
  }
  if (o.wipe_probability != d.wipe_probability) {
    absl::StrAppend(&cmd, " --wipe-p ", o.wipe_probability);
  }
  if (o.keep_one_link_cut) absl::StrAppend(&cmd, " --keep-link-cut");
  if (o.settle_limit_us != d.settle_limit_us) {
    absl::StrAppend(&cmd, " --settle-limit-us ", o.settle_limit_us);
  }
  return cmd;
}

std::string SimResult::Line() const {
  std::vector<std::string> losses;
  for (const auto& [reason, n] : check.loss_counts) {
    losses.push_back(absl::StrCat(LossReasonName(reason), "=", n));
  }
  std::string line = absl::StrFormat(
      "seed %d: %d regions, %d ops, %d acknowledged (%d refused by their condition, %d "
      "unavailable), "
      "not final: %s; faults: %d partitions, %d crashes, %d skews, %d loss bursts, "
      "%d batches lost; virtual %.3f s; digest %016x; %s",
      options.seed, options.regions, ops, acknowledged, condition_failed, unavailable,
      losses.empty() ? "none" : absl::StrJoin(losses, " "), faults.partitions, faults.crashes,
      faults.skews, faults.loss_bursts, faults.messages_lost, virtual_duration_us / 1e6, digest,
      ok() ? "OK" : "FAIL");
  if (faults.wipes > 0) absl::StrAppend(&line, "; ", faults.wipes, " disks wiped and rejoined");
  if (options.replica_change_probability > 0 || options.control_change_probability > 0) {
    line = absl::StrCat(
        line, "; replica changes: ", replica_changes, " acknowledged (", replicas_added, " adds, ",
        replicas_removed, " removals, ", replicas_deleted, " of them by DeleteTable), ",
        replica_changes_refused, " refused, ", snapshot_chunks, " snapshot chunks loaded, ",
        bootstraps_interrupted, " bootstraps interrupted", "; control plane: ", settings_changed,
        " settings changed, ", indexes_created, " indexes created, ", indexes_deleted, " deleted, ",
        index_rows_backfilled, " index rows backfilled, ", control_refused, " refused, ",
        transactions, " transactions, ", items_expired, " items expired by TTL");
  }
  if (tombstones_trimmed > 0)
    absl::StrAppend(&line, "; ", tombstones_trimmed, " tombstones trimmed");
  return line;
}

class Simulation::Impl {
 public:
  explicit Impl(SimOptions options) : o_(std::move(options)) {}
  ~Impl() {
    for (auto& n : nodes_) n.region.reset();
  }

  absl::StatusOr<SimResult> Run();

 private:
  // Polls and deliveries, several per write, are plain data rather than std::functions: their
  // captures are too big for std::function's inline buffer, so each one cost an allocation.
  enum class EventKind { kCall, kPoll, kHeartbeat, kDeliver };
  struct Event {
    int64_t at = 0;
    uint64_t seq = 0;  // set by Push
    EventKind kind = EventKind::kCall;
    int link = 0;              // kPoll, kDeliver
    uint64_t epoch = 0;        // kPoll, kDeliver
    ChangeBatch batch;         // kDeliver
    std::function<void()> fn;  // kCall
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return std::tie(a.at, a.seq) > std::tie(b.at, b.seq);
    }
  };
  struct Node {
    std::string name;
    // Keeps every committed write across crashes; each start opens a MemoryStorage on it.
    std::shared_ptr<MemoryDisk> disk = std::make_shared<MemoryDisk>();
    std::unique_ptr<Region> region;  // null while crashed
    int64_t skew_us = 0;
    bool rejoin = false;   // its disk was wiped: the next start rejoins (Region::BeginRejoin)
    int64_t wiped_us = 0;  // true time of its last wipe (0: never)
  };
  // The pull stream of `dest` from `origin`: production's link (replicator/link.h) over the
  // simulated network. Subscribing is instant; batches travel with the pair's latency.
  struct Link {
    int origin = 0, dest = 0;
    uint64_t epoch = 0;  // bumped by every connect and break; stale events are ignored
    bool connected = false;
    int in_flight = 0;       // batches on the wire
    int in_flight_data = 0;  // of them, those that are not heartbeats
    bool poll_scheduled = false;
    bool heartbeat_scheduled = false;
    bool reconnect_scheduled = false;
    ReconnectBackoff backoff{kReconnectMinUs, kReconnectMaxUs, kStableUs};
    LinkDelay delay;                         // this region pair's latency and jitter
    std::optional<DueTimes> due;             // per connection, drawn from net_rng_
    std::optional<OriginStream> sender;      // the origin's side of this connection
    std::optional<ReceiverStream> receiver;  // the receiver's side of this connection
  };
  // An acknowledged replica change of the members table.
  struct MemberChange {
    std::string target;
    bool add = false;
    Stamp stamp;  // its ReplicaMembership::changed
  };

  int64_t now() { return clock_.NowMicros(); }
  void Push(Event e) {
    e.at = std::max(e.at, now());
    e.seq = next_seq_++;
    queue_.push_back(std::move(e));
    std::push_heap(queue_.begin(), queue_.end(), Later());
  }
  void At(int64_t at, std::function<void()> fn) {
    Event e;
    e.at = at;
    e.fn = std::move(fn);
    Push(std::move(e));
  }
  void AtLink(int64_t at, EventKind kind, int li, uint64_t epoch, ChangeBatch batch = {}) {
    Event e;
    e.at = at;
    e.kind = kind;
    e.link = li;
    e.epoch = epoch;
    e.batch = std::move(batch);
    Push(std::move(e));
  }
  void Step() {
    // A heap of our own rather than std::priority_queue, whose top() only gives a const
    // reference: copying each event's std::function cost an allocation per event.
    std::pop_heap(queue_.begin(), queue_.end(), Later());
    Event e = std::move(queue_.back());
    queue_.pop_back();
    clock_.Set(e.at);
    switch (e.kind) {
      case EventKind::kCall:
        e.fn();
        break;
      case EventKind::kPoll:
        Poll(e.link, e.epoch, /*heartbeat=*/false);
        break;
      case EventKind::kHeartbeat:
        Poll(e.link, e.epoch, /*heartbeat=*/true);
        break;
      case EventKind::kDeliver:
        Deliver(e.link, e.epoch, std::move(e.batch));
        break;
    }
  }
  int n() const { return static_cast<int>(nodes_.size()); }
  int LinkIndex(int origin, int dest) const { return origin * n() + dest; }
  bool Up(int i) const { return nodes_[i].region != nullptr; }
  // `dest` refuses `origin`'s changes (one direction of a partition).
  bool Cut(int origin, int dest) const { return cut_[LinkIndex(origin, dest)] > 0; }
  void SimError(std::string what) {
    if (sim_errors_.size() < kMaxSimErrors) sim_errors_.push_back(std::move(what));
  }

  absl::Status OpenNodes();
  absl::Status StartRegion(int i);
  bool AllHaveTable();

  // Network.
  // Ends the connection; it reconnects after `detect_us` (how long the receiver takes to notice)
  // plus the link's backoff.
  void BreakLink(int li, int64_t detect_us);
  int64_t Jittered(int64_t backoff_us);
  void ScheduleReconnect(int li, int64_t delay_us);
  void Reconnect(int li);
  void SchedulePoll(int li);
  void Poll(int li, uint64_t epoch, bool heartbeat);
  void Deliver(int li, uint64_t epoch, ChangeBatch batch);
  void Wake(int origin);
  void SetCut(int origin, int dest, int count);

  // Workload and faults.
  void ClientOp(int index);
  void Write(int r);
  void MaybeFault();
  void Partition();
  void Crash();
  void Wipe();
  void Restart(int r);
  void Skew();
  void SetSkew(int r, int64_t skew_us);
  void LossBurst();
  // The members table: replica changes, its writes, the simulated snapshot transfer.
  // The live regions holding the members table ACTIVE, with its definition there.
  std::vector<std::pair<int, TableSpec>> MembersHolders();
  void ReplicaChange();
  void MembersWrite();
  // A group-wide setting or a GSI of the members table, changed from a random ACTIVE holder.
  void ControlChange();
  void BackfillPoll();  // each region's index backfill and TTL sweep, a few rows at a time
  void TrimPoll();      // each region's tombstone trimming (bounded disk)
  // The stream checker: each region's stream of the main table holds one record per write it
  // applied.
  std::vector<std::string> CheckStreams();
  std::vector<std::string> CheckControlPlane();
  void SnapshotPoll();
  void DeliverChunk(int dest, uint64_t ticket, SnapshotChunk chunk);
  std::vector<std::string> CheckMembers();
  void EndPhase();
  bool Quiescent();
  void CheckQuiescence();

  SimResult Finish();

  SimOptions o_;
  ManualClock clock_;
  std::mt19937_64 workload_rng_, net_rng_, fault_rng_;
  std::vector<Event> queue_;  // a heap ordered by Later
  uint64_t next_seq_ = 0;
  std::vector<std::string> names_;
  std::vector<Node> nodes_;
  std::vector<Link> links_;  // index origin * n + dest; self links unused
  std::vector<int> cut_;     // partition count per link index
  TableSpec spec_;
  std::mt19937_64 control_rng_;  // replica changes and members writes only
  bool members_ = false;         // the members table exists (control-plane changes are on)
  std::vector<MemberChange> member_changes_;
  // One snapshot chunk in flight per bootstrapping region and table: its ticket.
  std::map<std::pair<int, std::string>, uint64_t> chunk_in_flight_;
  uint64_t next_ticket_ = 0;
  double partition_rate_ = 0, crash_rate_ = 0, skew_rate_ = 0, loss_burst_rate_ = 0;
  double wipe_rate_ = 0;
  std::mt19937_64 wipe_rng_;      // wipes only, so they change no other draw
  bool trim_tombstones_ = false;  // drawn per seed
  int64_t loss_burst_until_ = 0;
  int64_t next_write_id_ = 0;
  int64_t workload_start_ = 0;
  int64_t end_phase_at_ = 0;
  bool ran_ = false;
  bool ended_ = false;
  bool stop_ = false;
  std::vector<std::string> sim_errors_;
  SimResult result_;
};

absl::Status Simulation::Impl::StartRegion(int i) {
  Node& node = nodes_[i];
  auto storage = MemoryStorage::Open(node.disk, node.name);
  if (!storage.ok()) return storage.status();
  auto region = Region::Open(node.name, names_, *std::move(storage), &clock_);
  if (!region.ok()) return region.status();
  node.region = *std::move(region);
  if (node.rejoin) {
    RETURN_IF_ERROR(node.region->BeginRejoin());
    node.rejoin = false;
  }
  RETURN_IF_ERROR(node.region->SetClockSkew(node.skew_us).status());
  for (int origin = 0; origin < n(); ++origin) {
    if (origin != i && Cut(origin, i)) node.region->SetBlocked(nodes_[origin].name, true);
  }
  return absl::OkStatus();
}

absl::Status Simulation::Impl::OpenNodes() {
  names_.assign(SimRegionNames().begin(), SimRegionNames().begin() + o_.regions);
  nodes_.resize(o_.regions);
  links_.resize(n() * n());
  cut_.assign(n() * n(), 0);
  for (int i = 0; i < n(); ++i) {
    Node& node = nodes_[i];
    node.name = names_[i];
    absl::Status st = StartRegion(i);
    if (!st.ok()) {
      return absl::Status(st.code(), absl::StrCat("starting ", node.name, ": ", st.message()));
    }
  }
  for (int a = 0; a < n(); ++a) {
    for (int b = a + 1; b < n(); ++b) {
      // Each region pair has its own distance; both directions share it.
      int64_t base = o_.latency_base_us / 2 + Uniform(net_rng_, 0, o_.latency_base_us * 3 / 2);
      for (auto [x, y] : {std::pair<int, int>{a, b}, std::pair<int, int>{b, a}}) {
        Link& l = links_[LinkIndex(x, y)];
        l.origin = x;
        l.dest = y;
        l.delay = LinkDelay{base, o_.latency_jitter_us, LinkDistribution::kUniform};
      }
    }
  }
  return absl::OkStatus();
}

bool Simulation::Impl::AllHaveTable() {
  for (auto& node : nodes_) {
    if (!node.region || node.region->Tables().empty()) return false;
  }
  return true;
}

// --- network ------------------------------------------------------------------------------

void Simulation::Impl::BreakLink(int li, int64_t detect_us) {
  Link& l = links_[li];
  ++l.epoch;
  l.connected = false;
  l.in_flight = 0;
  l.in_flight_data = 0;
  l.poll_scheduled = false;
  l.heartbeat_scheduled = false;
  l.sender.reset();
  l.receiver.reset();
  if (Up(l.dest)) nodes_[l.dest].region->SetConnected(nodes_[l.origin].name, false);
  ScheduleReconnect(li, detect_us + Jittered(l.backoff.Broke(now())));
}

int64_t Simulation::Impl::Jittered(int64_t backoff_us) {
  return backoff_us / 2 + Uniform(net_rng_, 0, backoff_us);
}

void Simulation::Impl::ScheduleReconnect(int li, int64_t delay_us) {
  Link& l = links_[li];
  if (l.reconnect_scheduled) return;
  l.reconnect_scheduled = true;
  At(now() + delay_us, [this, li] { Reconnect(li); });
}

void Simulation::Impl::Reconnect(int li) {
  Link& l = links_[li];
  l.reconnect_scheduled = false;
  if (l.connected) return;
  if (!Up(l.origin) || !Up(l.dest) || Cut(l.origin, l.dest)) {
    ScheduleReconnect(li, Jittered(l.backoff.Broke(now())));
    return;
  }
  Region& dest = *nodes_[l.dest].region;
  const std::string& origin = nodes_[l.origin].name;
  l.receiver.emplace(&dest, origin, kClusterId);
  auto sender = OriginStream::Open(nodes_[l.origin].region.get(), kClusterId,
                                   l.receiver->Subscribe(), kBatchMax);
  if (!sender.ok()) {
    SimError(absl::StrCat(origin, " refused the subscription of ", dest.name(), ": ",
                          sender.status().ToString()));
    l.receiver.reset();
    ScheduleReconnect(li, Jittered(l.backoff.Broke(now())));
    return;
  }
  l.sender.emplace(*std::move(sender));
  ++l.epoch;
  l.connected = true;
  l.in_flight = 0;
  l.in_flight_data = 0;
  l.backoff.Connected(now());
  l.due.emplace(net_rng_());
  dest.SetConnected(origin, true);
  SchedulePoll(li);
}

void Simulation::Impl::SchedulePoll(int li) {
  Link& l = links_[li];
  if (l.poll_scheduled || !l.connected) return;
  l.poll_scheduled = true;
  AtLink(now(), EventKind::kPoll, li, l.epoch);
}

void Simulation::Impl::Poll(int li, uint64_t epoch, bool heartbeat) {
  Link& l = links_[li];
  if (epoch != l.epoch || !l.connected) return;
  if (heartbeat) {
    l.heartbeat_scheduled = false;
  } else {
    l.poll_scheduled = false;
  }
  if (!Up(l.origin) || !Up(l.dest) || Cut(l.origin, l.dest)) {
    BreakLink(li, 0);
    return;
  }
  if (l.in_flight >= kMaxInFlight) return;  // Deliver polls again
  auto next = l.sender->Next(now());
  if (!next.ok()) {
    // Aborted: the origin's log restarted since this connection subscribed.
    if (!absl::IsAborted(next.status())) {
      SimError(absl::StrCat(nodes_[l.origin].name, " serving ", nodes_[l.dest].name, ": ",
                            next.status().ToString()));
    }
    BreakLink(li, 0);
    return;
  }
  if (!next->has_value()) {  // idle: a local change wakes it, or the heartbeat falls due
    if (!l.heartbeat_scheduled) {
      l.heartbeat_scheduled = true;
      AtLink(l.sender->idle_until_us(), EventKind::kHeartbeat, li, l.epoch);
    }
    return;
  }
  ChangeBatch batch = **std::move(next);
  l.sender->Sent(now());
  const bool data = !batch.changes.empty() || batch.reclaim;
  ++l.in_flight;
  if (data) ++l.in_flight_data;
  double loss = o_.faults ? o_.loss_probability : 0.0;
  if (now() < loss_burst_until_) loss = std::max(loss, kBurstLoss);
  if (Chance(net_rng_, loss)) {
    // The stream breaks; the receiver notices after a timeout and resumes from its cursor.
    ++result_.faults.messages_lost;
    BreakLink(li, kLossTimeoutUs);
    return;
  }
  const int64_t arrive = l.due->Next(now(), l.delay);
  const bool full = static_cast<int>(batch.changes.size()) >= kBatchMax;
  AtLink(arrive, EventKind::kDeliver, li, epoch, std::move(batch));
  if ((full || !data) && l.in_flight < kMaxInFlight) SchedulePoll(li);
}

void Simulation::Impl::Deliver(int li, uint64_t epoch, ChangeBatch batch) {
  Link& l = links_[li];
  if (epoch != l.epoch || !l.connected) return;  // from a broken connection
  --l.in_flight;
  if (!batch.changes.empty() || batch.reclaim) --l.in_flight_data;
  if (!Up(l.origin) || !Up(l.dest)) {
    BreakLink(li, 0);
    return;
  }
  const int64_t local_head = nodes_[l.dest].region->LocalHead();
  ReceiverStream::Outcome out = l.receiver->OnBatch(std::move(batch), kClusterId);
  if (!out.error.empty()) SimError(absl::StrCat(nodes_[l.dest].name, ": ", out.error));
  ++result_.batches_delivered;
  if (out.ack) l.sender->OnAck(*out.ack);
  // Applying may log local records (a bootstrap finished, a removal completed, a definition
  // re-announced); the region's own streams then have something to send.
  if (nodes_[l.dest].region->LocalHead() != local_head) Wake(l.dest);
  if (!out.keep_going) {
    // A partition, a bootstrap's rewind, or a change for a table that has not arrived yet:
    // start over from the durable cursor.
    BreakLink(li, 0);
    return;
  }
  SchedulePoll(li);
}

void Simulation::Impl::Wake(int origin) {
  for (int dest = 0; dest < n(); ++dest) {
    if (dest == origin) continue;
    Link& l = links_[LinkIndex(origin, dest)];
    if (l.connected && l.in_flight < kMaxInFlight) SchedulePoll(LinkIndex(origin, dest));
  }
}

void Simulation::Impl::SetCut(int origin, int dest, int count) {
  cut_[LinkIndex(origin, dest)] = std::max(count, 0);
  if (Up(dest)) nodes_[dest].region->SetBlocked(nodes_[origin].name, Cut(origin, dest));
}

// --- workload and faults -------------------------------------------------------------------

void Simulation::Impl::ClientOp(int index) {
  ++result_.ops;
  std::vector<int> live;
  for (int i = 0; i < n(); ++i) {
    if (Up(i)) live.push_back(i);
  }
  if (live.empty()) {
    ++result_.unavailable;
  } else {
    Write(live[Below(workload_rng_, live.size())]);
  }
  if (members_) {
    if (Chance(control_rng_, o_.replica_change_probability)) ReplicaChange();
    if (Chance(control_rng_, o_.control_change_probability)) ControlChange();
    if (Chance(control_rng_, 1.0 / 3)) MembersWrite();
  }
  if (o_.faults) MaybeFault();
  int64_t next = now() + Uniform(workload_rng_, 1, 2 * o_.op_interval_us);
  if (index + 1 < o_.ops) {
    At(next, [this, index] { ClientOp(index + 1); });
  } else {
    At(next, [this] { EndPhase(); });
  }
}

void Simulation::Impl::Write(int r) {
  Node& node = nodes_[r];
  int64_t id = ++next_write_id_;
  AckedWrite w;
  w.id = id;
  w.region = node.name;
  w.key_text = absl::StrCat("k", Below(workload_rng_, static_cast<uint64_t>(o_.keys)));
  w.key = Item{{kHashKey, AttributeValue::S(w.key_text)}};
  w.skew_us = node.skew_us;
  std::string wid = absl::StrCat("w", id);
  double roll = Unit(workload_rng_);
  absl::StatusOr<WriteResult> res;
  if (roll < 0.40 || roll >= 0.85) {
    w.kind = roll < 0.40 ? WriteKind::kPut : WriteKind::kConditionalPut;
    PutRequest req;
    req.table = kTable;
    req.item = w.key;
    req.item[kWriteIdAttribute] = AttributeValue::S(wid);
    req.item["v"] = AttributeValue::N(absl::StrCat(id));
    req.return_old = true;
    if (w.kind == WriteKind::kConditionalPut) {
      req.condition.clauses.push_back({kHashKey, Condition::Op::kNotExists, {}});
    }
    res = node.region->Write(req);
  } else if (roll < 0.65) {
    w.kind = WriteKind::kUpdate;
    UpdateRequest req;
    req.table = kTable;
    req.key = w.key;
    req.set[kWriteIdAttribute] = AttributeValue::S(wid);
    req.set["u"] = AttributeValue::N(absl::StrCat(id));
    if (Chance(workload_rng_, 0.3)) req.remove.push_back("v");
    res = node.region->Write(req);
  } else {
    w.kind = WriteKind::kDelete;
    DeleteRequest req;
    req.table = kTable;
    req.key = w.key;
    req.return_old = true;
    res = node.region->Write(req);
  }
  if (!res.ok()) {
    if (w.kind == WriteKind::kConditionalPut && absl::IsFailedPrecondition(res.status())) {
      ++result_.condition_failed;
    } else if (node.wiped_us > 0 && absl::IsNotFound(res.status()) &&
               !node.region->DescribeTable(kTable).ok()) {
      ++result_.unavailable;  // rejoined, and no peer has sent the table's definition yet
    } else {
      SimError(absl::StrCat(WriteKindName(w.kind), " ", w.key_text, " in ", node.name, ": ",
                            res.status().ToString()));
    }
    return;
  }
  w.true_us = now();
  w.result = *std::move(res);
  result_.history.Record(std::move(w));
  ++result_.acknowledged;
  Wake(r);
}

void Simulation::Impl::MaybeFault() {
  if (Chance(fault_rng_, partition_rate_)) Partition();
  if (Chance(fault_rng_, crash_rate_)) Crash();
  if (Chance(fault_rng_, skew_rate_)) Skew();
  if (Chance(fault_rng_, loss_burst_rate_)) LossBurst();
  if (wipe_rate_ > 0 && Chance(wipe_rng_, wipe_rate_)) Wipe();
}

void Simulation::Impl::Partition() {
  int a = static_cast<int>(Below(fault_rng_, n()));
  int b = static_cast<int>(Below(fault_rng_, n() - 1));
  if (b >= a) ++b;
  int64_t duration = Uniform(fault_rng_, 50'000, 2'000'000);
  ++result_.faults.partitions;
  SetCut(a, b, cut_[LinkIndex(a, b)] + 1);
  SetCut(b, a, cut_[LinkIndex(b, a)] + 1);
  At(now() + duration, [this, a, b] {
    if (ended_) return;  // the end phase healed everything
    SetCut(a, b, cut_[LinkIndex(a, b)] - 1);
    SetCut(b, a, cut_[LinkIndex(b, a)] - 1);
  });
}

void Simulation::Impl::Crash() {
  std::vector<int> live;
  for (int i = 0; i < n(); ++i) {
    if (Up(i)) live.push_back(i);
  }
  if (live.size() < 2) return;  // keep one region serving
  int r = live[Below(fault_rng_, live.size())];
  int64_t duration = Uniform(fault_rng_, 50'000, 2'000'000);
  ++result_.faults.crashes;
  for (int d = 0; d < n(); ++d) {
    if (!Up(d)) continue;
    for (const BootstrapState& b : nodes_[d].region->PendingBootstraps()) {
      if (d == r || b.source == nodes_[r].name) ++result_.bootstraps_interrupted;
    }
  }
  nodes_[r].region.reset();  // everything committed stays on its "disk"
  for (int other = 0; other < n(); ++other) {
    if (other == r) continue;
    BreakLink(LinkIndex(r, other), 0);
    BreakLink(LinkIndex(other, r), 0);
  }
  At(now() + duration, [this, r] { Restart(r); });
}

void Simulation::Impl::Wipe() {
  // Every other region's copy is read to tell which of the wiped region's writes it had sent;
  // so every region is up, and holds the table (not itself still rejoining).
  for (int i = 0; i < n(); ++i) {
    if (!Up(i) || !nodes_[i].region->DescribeTable(kTable).ok()) return;
  }
  int r = static_cast<int>(Below(wipe_rng_, n()));
  int64_t duration = Uniform(wipe_rng_, 50'000, 2'000'000);
  // Per key, the newest stamp another region holds (in-flight batches die with the process, so
  // storage is all that was sent).
  std::map<std::pair<std::string, std::string>, Stamp> newest;
  for (int i = 0; i < n(); ++i) {
    if (i == r) continue;
    auto dump = nodes_[i].region->DumpTable(kTable);
    if (!dump.ok()) {
      SimError(
          absl::StrCat("reading ", kTable, " in ", nodes_[i].name, ": ", dump.status().ToString()));
      return;
    }
    for (const auto& v : *dump) {
      Stamp& s = newest[{v.hk, v.rk}];
      if (s < v.stamp) s = v.stamp;
    }
  }
  ++result_.faults.wipes;
  nodes_[r].region.reset();
  for (int other = 0; other < n(); ++other) {
    if (other == r) continue;
    BreakLink(LinkIndex(r, other), 0);  // what was on the wire is gone with the process
    BreakLink(LinkIndex(other, r), 0);
  }
  const auto& writes = result_.history.writes();
  for (size_t i = 0; i < writes.size(); ++i) {
    const AckedWrite& w = writes[i];
    if (w.region != nodes_[r].name || !w.Stored()) continue;
    std::pair<std::string, std::string> code;
    if (!TableEngine::EncodeKeyOf(spec_, w.key, &code.first, &code.second).ok()) continue;
    auto it = newest.find(code);
    // A delete whose key no other region holds: sent and its tombstone trimmed, or the item was
    // never anywhere else; absent either way, so it counts as sent.
    if (it == newest.end() && w.kind == WriteKind::kDelete) continue;
    if (it == newest.end() || it->second < w.result.stamp) {
      result_.history.MarkLostWithDisk(i, now());
    }
  }
  nodes_[r].disk = std::make_shared<MemoryDisk>();
  nodes_[r].rejoin = true;
  nodes_[r].wiped_us = now();
  At(now() + duration, [this, r] { Restart(r); });
}

void Simulation::Impl::Restart(int r) {
  if (Up(r)) return;
  absl::Status st = StartRegion(r);
  if (!st.ok()) SimError(absl::StrCat("restarting ", nodes_[r].name, ": ", st.ToString()));
}

void Simulation::Impl::SetSkew(int r, int64_t skew_us) {
  nodes_[r].skew_us = skew_us;  // the machine's clock: it survives a restart
  if (!Up(r)) return;
  if (auto st = nodes_[r].region->SetClockSkew(skew_us); !st.ok()) {
    SimError(absl::StrCat("skewing ", nodes_[r].name, ": ", st.status().ToString()));
  }
}

void Simulation::Impl::Skew() {
  int r = static_cast<int>(Below(fault_rng_, n()));
  int64_t skew = Uniform(fault_rng_, -o_.max_skew_us, o_.max_skew_us);
  ++result_.faults.skews;
  SetSkew(r, skew);
  if (Chance(fault_rng_, 0.5)) {
    At(now() + Uniform(fault_rng_, 100'000, 2'000'000), [this, r, skew] {
      if (nodes_[r].skew_us == skew) SetSkew(r, 0);  // NTP caught up
    });
  }
}

void Simulation::Impl::LossBurst() {
  ++result_.faults.loss_bursts;
  loss_burst_until_ = std::max(loss_burst_until_, now() + Uniform(fault_rng_, 50'000, 500'000));
}

// --- the members table: replica changes under faults ---------------------------------------

std::vector<std::pair<int, TableSpec>> Simulation::Impl::MembersHolders() {
  std::vector<std::pair<int, TableSpec>> holders;
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) continue;
    auto d = nodes_[i].region->DescribeTable(kMembersTable);
    if (d.ok() && d->spec.ReplicaStatus(nodes_[i].name) == "ACTIVE") {
      holders.emplace_back(i, d->spec);
    }
  }
  return holders;
}

void Simulation::Impl::ReplicaChange() {
  const std::vector<std::pair<int, TableSpec>> holders = MembersHolders();
  if (holders.empty()) return;
  const auto& [r, spec] = holders[Below(control_rng_, holders.size())];
  std::vector<std::string> absent, others;
  for (const auto& name : names_) {
    if (!spec.HasReplica(name)) {
      absent.push_back(name);
    } else if (name != nodes_[r].name) {
      others.push_back(name);
    }
  }
  const bool add = !absent.empty() && (others.empty() || Chance(control_rng_, 0.5));
  if (!add && others.empty()) return;
  const std::vector<std::string>& pool = add ? absent : others;
  const std::string target = pool[Below(control_rng_, pool.size())];
  const int target_index =
      static_cast<int>(std::find(names_.begin(), names_.end(), target) - names_.begin());
  // A removal is sometimes DeleteTable in the removed replica's own region (DynamoDB deletes
  // that replica only), rather than UpdateTable ReplicaUpdates Delete from another holder -
  // when that region holds the table ACTIVE and still sees other replicas (seeing none, it
  // would delete the whole table, which is not a replica change).
  bool by_delete_table = !add && Up(target_index) && Chance(control_rng_, 0.3);
  if (by_delete_table) {
    auto there = nodes_[target_index].region->DescribeTable(kMembersTable);
    by_delete_table = there.ok() && there->spec.replicas.size() > 1 &&
                      there->spec.ReplicaStatus(target) == "ACTIVE";
  }
  absl::StatusOr<TableInfo> res;
  int made_in = r;
  if (by_delete_table) {
    made_in = target_index;
    res = nodes_[target_index].region->DeleteTable(kMembersTable);
    // Not a holder there (not yet ACTIVE, already gone): nothing to delete.
    if (absl::IsNotFound(res.status())) res = absl::FailedPreconditionError("not held there");
  } else {
    UpdateTableRequest req;
    req.table = kMembersTable;
    req.replica_updates.push_back(ReplicaUpdate{
        add ? ReplicaUpdate::Action::kCreate : ReplicaUpdate::Action::kDelete, target});
    res = nodes_[r].region->UpdateTable(req);
  }
  if (!res.ok()) {
    // Refusals are part of the contract (one change in flight, a source held for 24 hours);
    // anything else is a simulation error.
    if (!absl::IsFailedPrecondition(res.status()) && !absl::IsInvalidArgument(res.status())) {
      SimError(absl::StrCat(by_delete_table ? "DeleteTable" : "UpdateTable", " of ", kMembersTable,
                            " in ", nodes_[made_in].name, ": ", res.status().ToString()));
    }
    ++result_.replica_changes_refused;
    return;
  }
  member_changes_.push_back({target, add, res->spec.MembershipOf(target).changed});
  ++result_.replica_changes;
  ++(add ? result_.replicas_added : result_.replicas_removed);
  if (by_delete_table) ++result_.replicas_deleted;
  Wake(made_in);
}

void Simulation::Impl::MembersWrite() {
  std::vector<int> writable;
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) continue;
    auto d = nodes_[i].region->DescribeTable(kMembersTable);
    if (d.ok() && d->spec.ReplicaStatus(nodes_[i].name) == "ACTIVE") writable.push_back(i);
  }
  if (writable.empty()) return;
  int r = writable[Below(control_rng_, writable.size())];
  const uint64_t member = Below(control_rng_, 16);
  const AttributeValue id = AttributeValue::S(absl::StrCat("m", member));
  absl::StatusOr<WriteResult> res;
  const double roll = Unit(control_rng_);
  if (roll < 0.15) {  // a transaction: two items written together, or neither
    const uint64_t second = (member + 1 + Below(control_rng_, 15)) % 16;  // another item
    std::vector<Region::ItemMutation> entries;
    for (uint64_t m : {member, second}) {
      const AttributeValue key = AttributeValue::S(absl::StrCat("m", m));
      Item item{
          {kHashKey, key},
          {"v", AttributeValue::N(absl::StrCat(++next_write_id_))},
          {kIndexKey, AttributeValue::S(absl::StrCat("g", Below(control_rng_, kIndexValues)))}};
      entries.push_back(Region::ItemMutation{
          kMembersTable, Item{{kHashKey, key}},
          [item](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
            return std::optional<Item>(item);
          }});
    }
    if (nodes_[r].region->Transact(entries).ok()) {
      ++result_.transactions;
      Wake(r);
    }
    return;
  }
  if (roll < 0.35) {  // deletes take items out of every index
    DeleteRequest req;
    req.table = kMembersTable;
    req.key = Item{{kHashKey, id}};
    res = nodes_[r].region->Write(req);
  } else {
    PutRequest req;
    req.table = kMembersTable;
    req.item = Item{{kHashKey, id}, {"v", AttributeValue::N(absl::StrCat(++next_write_id_))}};
    // Most items carry the index key (and so appear in every index on it); some do not.
    if (Chance(control_rng_, 0.75)) {
      req.item[kIndexKey] = AttributeValue::S(absl::StrCat("g", Below(control_rng_, kIndexValues)));
    }
    // Some expire soon (when TTL is enabled on "expires"): each region's TTL sweep deletes them.
    if (Chance(control_rng_, 0.2)) {
      const int64_t at_s = now() / 1'000'000 + static_cast<int64_t>(Below(control_rng_, 3));
      req.item["expires"] = AttributeValue::N(absl::StrCat(at_s));
    }
    res = nodes_[r].region->Write(req);
  }
  // A write may race the replica's own removal (it is DELETING a moment later): refused then.
  if (res.ok()) Wake(r);
}

void Simulation::Impl::ControlChange() {
  const std::vector<std::pair<int, TableSpec>> holders = MembersHolders();
  if (holders.empty()) return;
  const auto& [r, spec] = holders[Below(control_rng_, holders.size())];
  UpdateTableRequest req;
  req.table = kMembersTable;
  enum { kSetting, kCreateIndex, kDeleteIndex } kind;
  const uint64_t roll = Below(control_rng_, 6);
  if (roll < 3) {
    kind = kSetting;
    switch (Below(control_rng_, 4)) {
      case 3: {  // one replica's own setting, made here for a random replica
        std::vector<std::string> listed;
        for (const auto& name : spec.replicas) {
          if (spec.ReplicaStatus(name) == "ACTIVE") listed.push_back(name);
        }
        if (listed.empty()) return;
        req.replica_region = listed[Below(control_rng_, listed.size())];
        req.table_class = Chance(control_rng_, 0.5) ? "STANDARD_INFREQUENT_ACCESS" : "STANDARD";
        break;
      }
      case 0:
        req.sse_type = Chance(control_rng_, 0.5) ? "AES256" : "KMS";
        break;
      case 1:
        req.ttl_enabled = !spec.ttl.enabled;
        if (*req.ttl_enabled) req.ttl_attribute = "expires";
        break;
      default:
        req.warm_read = std::max<int64_t>(spec.warm.read_units, 12000) +
                        100 * static_cast<int64_t>(Below(control_rng_, 10));
        break;
    }
  } else {
    std::vector<std::string> live;
    for (const auto& [name, g] : spec.gsis) {
      if (!g.deleted && !g.local) live.push_back(name);
    }
    const std::string name = absl::StrCat("gi", Below(control_rng_, 3));
    const bool exists = std::find(live.begin(), live.end(), name) != live.end();
    kind = exists ? kDeleteIndex : kCreateIndex;
    if (exists) {
      req.delete_gsi = name;
    } else {
      GsiSetting g;
      g.hash_key = KeyDef{kIndexKey, ValueType::kS};
      if (Chance(control_rng_, 0.5)) g.projection = "KEYS_ONLY";
      req.create_gsi = std::make_pair(name, g);
    }
  }
  auto res = nodes_[r].region->UpdateTable(req);
  if (!res.ok()) {
    // Refusals are part of the contract (an index still backfilling, the table UPDATING, TTL
    // changed too recently, ...); anything else is a simulation error.
    if (!absl::IsFailedPrecondition(res.status()) && !absl::IsInvalidArgument(res.status())) {
      SimError(absl::StrCat("UpdateTable (settings) of ", kMembersTable, " in ", nodes_[r].name,
                            ": ", res.status().ToString()));
    }
    ++result_.control_refused;
    return;
  }
  ++(kind == kSetting       ? result_.settings_changed
     : kind == kCreateIndex ? result_.indexes_created
                            : result_.indexes_deleted);
  Wake(r);
}

void Simulation::Impl::BackfillPoll() {
  if (stop_) return;
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) continue;
    const int64_t local_head = nodes_[i].region->LocalHead();
    auto rows = nodes_[i].region->BackfillIndexes(kBackfillRows);
    if (!rows.ok()) {
      SimError(absl::StrCat(nodes_[i].name, " BackfillIndexes: ", rows.status().ToString()));
    } else {
      result_.index_rows_backfilled += *rows;
    }
    auto expired = nodes_[i].region->ExpireItems(kBackfillRows);
    if (!expired.ok()) {
      SimError(absl::StrCat(nodes_[i].name, " ExpireItems: ", expired.status().ToString()));
    } else {
      result_.items_expired += *expired;
    }
    if (nodes_[i].region->LocalHead() != local_head) Wake(i);
  }
  At(now() + kBackfillPollUs, [this] { BackfillPoll(); });
}

void Simulation::Impl::TrimPoll() {
  if (stop_) return;
  // No write made from now on is stamped before now - 2 * max_skew (the regions' clocks differ
  // by at most that); TrimTombstones also waits for every peer's stamp floor.
  const absl::Duration tombstone_age = absl::Microseconds(2 * o_.max_skew_us + 100'000);
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) continue;
    auto rows = nodes_[i].region->TrimTombstones(tombstone_age, 500);
    if (!rows.ok()) {
      SimError(absl::StrCat(nodes_[i].name, " TrimTombstones: ", rows.status().ToString()));
    } else {
      result_.tombstones_trimmed += *rows;
    }
  }
  At(now() + kTrimPollUs, [this] { TrimPoll(); });
}

std::vector<std::string> Simulation::Impl::CheckStreams() {
  std::vector<std::string> errors;
  auto name_of = [](const Stamp& s) { return absl::StrCat(s.ts_us, "@", s.region); };
  // A stamp as (time, region index): hashed without its string.
  using StampKey = std::pair<int64_t, int>;
  auto key_of = [&](const Stamp& s) {
    return StampKey{s.ts_us, static_cast<int>(std::find(names_.begin(), names_.end(), s.region) -
                                              names_.begin())};
  };
  // Every acknowledged write that reached storage, by its stamp.
  absl::flat_hash_map<StampKey, const AckedWrite*> stored;
  for (const AckedWrite& w : result_.history.writes()) {
    if (w.Stored()) stored[key_of(w.result.stamp)] = &w;
  }
  auto describe = [&](const Stamp& s) {
    auto it = stored.find(key_of(s));
    if (it == stored.end()) return absl::StrCat("the record stamped ", name_of(s));
    const AckedWrite& w = *it->second;
    return absl::StrCat(WriteKindName(w.kind), " ", w.key_text, " (write w", w.id, " in ", w.region,
                        ", stamped ", name_of(s), ")");
  };
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) return errors;
    const std::string& region = nodes_[i].name;
    absl::flat_hash_map<StampKey, int> records;
    std::vector<Stamp> twice, phantom;  // in log order, for the messages
    int64_t after = 0;
    for (;;) {
      auto page = nodes_[i].region->ReadTableChanges(kTable, after, 0);
      if (!page.ok()) {
        errors.push_back(absl::StrCat("cannot read the stream of ", kTable, " in ", region, ": ",
                                      page.status().ToString()));
        break;
      }
      for (const Change& c : page->changes) {
        const StampKey k = key_of(c.stamp);
        if (++records[k] == 2) twice.push_back(c.stamp);
        if (!stored.count(k)) phantom.push_back(c.stamp);
      }
      if (page->scanned_through >= page->head_seq || page->scanned_through == after) break;
      after = page->scanned_through;
    }
    for (const Stamp& stamp : twice) {
      errors.push_back(absl::StrCat(region, "'s stream of ", kTable, " holds ",
                                    records[key_of(stamp)], " records of ", describe(stamp),
                                    ": a write applied more than once"));
    }
    for (const Stamp& stamp : phantom) {
      errors.push_back(absl::StrCat(region, "'s stream of ", kTable, " holds a record stamped ",
                                    name_of(stamp), " that no acknowledged write made"));
    }
    for (const AckedWrite& w : result_.history.writes()) {
      // A wiped region's stream was lost with its disk: it starts again at the rejoin.
      if (w.true_us <= nodes_[i].wiped_us) continue;
      if (w.region == region && w.Stored() && !records.count(key_of(w.result.stamp))) {
        errors.push_back(absl::StrCat(region, "'s stream of ", kTable, " has no record of ",
                                      describe(w.result.stamp), ", which it acknowledged"));
      }
    }
    // The live item every replica ends with was made visible by a write every replica applied,
    // so it is in every stream. (Not so a final delete: one arriving where the item is absent
    // changes nothing visible, and leaves no record.)
    for (const ReplicaState& state : result_.replicas) {
      if (state.region != region) continue;
      for (const auto& v : state.versions) {
        if (v.item && !records.count(key_of(v.stamp)) && stored.count(key_of(v.stamp))) {
          errors.push_back(absl::StrCat(region, " holds ", describe(v.stamp), " but its stream of ",
                                        kTable, " has no record of it"));
        }
      }
    }
    if (errors.size() > 20) break;
  }
  return errors;
}

// The control-plane checker: after healing, every region holding the members table has the
// same group-wide settings and indexes, each index ACTIVE, and each index holds exactly the
// items of its replica that carry the index key.
std::vector<std::string> Simulation::Impl::CheckControlPlane() {
  std::vector<std::string> errors;
  std::optional<std::pair<std::string, std::string>> first;  // region, encoded settings
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) return errors;
    auto d = nodes_[i].region->DescribeTable(kMembersTable);
    if (!d.ok()) continue;
    const std::string& name = nodes_[i].name;
    // Group-wide settings and indexes only: the replica set has its own checker.
    TableSpec settings;
    settings.name = d->spec.name;
    settings.hash_key = d->spec.hash_key;
    settings.created = d->spec.created;
    settings.billing = d->spec.billing;
    settings.sse = d->spec.sse;
    settings.ttl = d->spec.ttl;
    settings.stream = d->spec.stream;
    settings.warm = d->spec.warm;
    settings.on_demand = d->spec.on_demand;
    settings.gsis = d->spec.gsis;
    settings.replica_settings = d->spec.replica_settings;
    std::string encoded = EncodeTableSpec(settings);
    if (!first) {
      first = std::make_pair(name, encoded);
    } else if (encoded != first->second) {
      errors.push_back(absl::StrCat("group-wide settings or indexes of ", kMembersTable,
                                    " differ between ", first->first, " and ", name, ":\n    ",
                                    first->second, "\n    ", encoded));
    }
    auto items = nodes_[i].region->DumpTable(kMembersTable);
    if (!items.ok()) continue;  // reported by the replica-set checker
    for (const auto& [index, g] : d->spec.gsis) {
      if (g.deleted || g.local) continue;
      auto status = d->index_status.find(index);
      if (status == d->index_status.end() || status->second != "ACTIVE") {
        errors.push_back(absl::StrCat("index ", index, " of ", kMembersTable, " is ",
                                      status == d->index_status.end() ? "missing" : status->second,
                                      " in ", name, " after healing"));
        continue;
      }
      for (int v = 0; v < kIndexValues; ++v) {
        const AttributeValue value = AttributeValue::S(absl::StrCat("g", v));
        std::vector<std::string> expected, held;
        for (const auto& version : *items) {
          if (!version.item) continue;
          auto g_attr = version.item->find(kIndexKey);
          if (g_attr != version.item->end() && g_attr->second == value) {
            expected.push_back(version.hk);
          }
        }
        QueryRequest q;
        q.table = kMembersTable;
        q.index = index;
        q.hash_value = value;
        auto page = nodes_[i].region->Query(q);
        if (!page.ok()) {
          errors.push_back(
              absl::StrCat("querying index ", index, " in ", name, ": ", page.status().ToString()));
          continue;
        }
        for (const auto& item : page->items) {
          auto id = item.find(kHashKey);
          held.push_back(id == item.end() ? "?" : EncodeHashKey(id->second));
        }
        std::sort(expected.begin(), expected.end());
        std::sort(held.begin(), held.end());
        if (expected != held) {
          errors.push_back(absl::StrCat("index ", index, " of ", kMembersTable, " in ", name,
                                        " holds ", held.size(), " items for ", kIndexKey, "=g", v,
                                        " but its replica has ", expected.size(),
                                        " items with that key"));
        }
      }
    }
  }
  return errors;
}

void Simulation::Impl::SnapshotPoll() {
  if (stop_) return;
  for (int d = 0; d < n(); ++d) {
    if (!Up(d)) continue;
    for (const BootstrapState& b : nodes_[d].region->PendingBootstraps()) {
      auto key = std::make_pair(d, b.table);
      if (chunk_in_flight_.count(key)) continue;
      auto s = std::find(names_.begin(), names_.end(), b.source);
      if (s == names_.end()) continue;
      int si = static_cast<int>(s - names_.begin());
      if (si == d || !Up(si) || Cut(si, d) || Cut(d, si)) continue;
      Region::SnapshotRequest req;
      req.subscriber = nodes_[d].name;
      req.table = b.table;
      req.table_created = b.table_created;
      req.after = b.after;
      req.max_rows = kSnapshotRows;
      auto chunk = nodes_[si].region->ReadSnapshot(req);
      if (!chunk.ok()) continue;  // the source refuses (not ACTIVE, add not heard yet): later
      chunk->for_add = b.added;
      uint64_t ticket = ++next_ticket_;
      chunk_in_flight_[key] = ticket;
      const Link& l = links_[LinkIndex(si, d)];
      int64_t arrive = now() + l.delay.delay_us + Uniform(net_rng_, 0, l.delay.jitter_us);
      At(arrive, [this, d, ticket, c = *std::move(chunk)]() mutable {
        DeliverChunk(d, ticket, std::move(c));
      });
    }
  }
  At(now() + kSnapshotPollUs, [this] { SnapshotPoll(); });
}

void Simulation::Impl::DeliverChunk(int d, uint64_t ticket, SnapshotChunk chunk) {
  auto it = chunk_in_flight_.find({d, chunk.table});
  if (it == chunk_in_flight_.end() || it->second != ticket) return;
  chunk_in_flight_.erase(it);
  // A crash or a partition since it was sent loses it (the new replica asks again).
  auto s = std::find(names_.begin(), names_.end(), chunk.source);
  if (!Up(d) || s == names_.end()) return;
  int si = static_cast<int>(s - names_.begin());
  if (Cut(si, d)) {
    ++result_.bootstraps_interrupted;
    return;
  }
  const int64_t local_head = nodes_[d].region->LocalHead();
  absl::Status st = nodes_[d].region->LoadSnapshotChunk(chunk);
  if (nodes_[d].region->LocalHead() != local_head) Wake(d);
  if (!st.ok()) {
    // Refused when the bootstrap moved to another source or was cancelled meanwhile.
    if (!absl::IsFailedPrecondition(st) && !absl::IsNotFound(st)) {
      SimError(absl::StrCat(nodes_[d].name, " LoadSnapshotChunk(", chunk.table, " from ",
                            chunk.source, "): ", st.ToString()));
    }
    return;
  }
  ++result_.snapshot_chunks;
  // The first chunk rewinds the cursors to its cut: connections subscribe again.
  for (int o = 0; o < n(); ++o) {
    if (o == d) continue;
    Link& l = links_[LinkIndex(o, d)];
    if (l.connected &&
        nodes_[d].region->SubscriptionFor(nodes_[o].name).epoch != l.receiver->epoch()) {
      BreakLink(LinkIndex(o, d), 0);
    }
  }
}

// The replica-set checker: after healing, every region that holds the members table describes
// the same replica set, all ACTIVE, and it is exactly the regions that hold it; each region's
// presence is what its newest acknowledged change (by stamp) said - an add or a removal - or,
// for a region never changed, its presence at creation; the replicas hold the same items.
std::vector<std::string> Simulation::Impl::CheckMembers() {
  std::vector<std::string> errors;
  std::vector<std::string> holders;
  std::optional<TableSpec> first;
  std::vector<TableEngine::Version> first_items;
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) return errors;  // reported already
    auto d = nodes_[i].region->DescribeTable(kMembersTable);
    if (!d.ok()) continue;
    holders.push_back(nodes_[i].name);
    const TableSpec& spec = d->spec;
    if (spec.TableStatus() != "ACTIVE") {
      errors.push_back(absl::StrCat(kMembersTable, " is ", spec.TableStatus(), " in ",
                                    nodes_[i].name, " after healing"));
    }
    auto items = nodes_[i].region->DumpTable(kMembersTable);
    if (!items.ok()) {
      errors.push_back(absl::StrCat("cannot dump ", kMembersTable, " in ", nodes_[i].name));
      continue;
    }
    // Live items only: each region trims its tombstones on its own schedule.
    items->erase(std::remove_if(items->begin(), items->end(),
                                [](const TableEngine::Version& v) { return !v.item; }),
                 items->end());
    if (!first) {
      first = spec;
      first_items = *std::move(items);
      continue;
    }
    if (spec.replicas != first->replicas || spec.replica_status != first->replica_status) {
      errors.push_back(absl::StrCat("replica sets diverge: ", holders.front(), " lists ",
                                    absl::StrJoin(first->replicas, ","), ", ", nodes_[i].name,
                                    " lists ", absl::StrJoin(spec.replicas, ",")));
    }
    auto same = [](const TableEngine::Version& a, const TableEngine::Version& b) {
      return a.hk == b.hk && a.rk == b.rk && a.stamp == b.stamp &&
             a.item.has_value() == b.item.has_value() &&
             (!a.item || EncodeItem(*a.item) == EncodeItem(*b.item));
    };
    if (!std::equal(items->begin(), items->end(), first_items.begin(), first_items.end(), same)) {
      errors.push_back(absl::StrCat("the replicas of ", kMembersTable, " in ", holders.front(),
                                    " and ", nodes_[i].name, " hold different items"));
    }
  }
  std::sort(holders.begin(), holders.end());
  if (first && first->replicas != holders) {
    errors.push_back(absl::StrCat("the replica set lists ", absl::StrJoin(first->replicas, ","),
                                  " but the table is held by ", absl::StrJoin(holders, ",")));
  }
  for (const auto& name : names_) {
    const MemberChange* last = nullptr;
    for (const auto& c : member_changes_) {
      if (c.target == name && (!last || last->stamp < c.stamp)) last = &c;
    }
    const bool expected = last ? last->add : name == names_[0];
    const bool held = std::find(holders.begin(), holders.end(), name) != holders.end();
    if (expected != held) {
      errors.push_back(absl::StrCat(
          name, (held ? " holds " : " does not hold "), kMembersTable, ", but its newest ",
          "acknowledged replica change ", last ? (last->add ? "added" : "removed") : "(none)",
          last ? absl::StrCat(" it at ", last->stamp.ts_us, "@", last->stamp.region) : ""));
    }
  }
  return errors;
}

void Simulation::Impl::EndPhase() {
  ended_ = true;
  end_phase_at_ = now();
  loss_burst_until_ = 0;
  for (int origin = 0; origin < n(); ++origin) {
    for (int dest = 0; dest < n(); ++dest) {
      if (origin == dest) continue;
      bool keep = o_.keep_one_link_cut && origin == 0 && dest == 1;
      SetCut(origin, dest, keep ? 1 : 0);
    }
  }
  for (int r = 0; r < n(); ++r) Restart(r);
  At(now() + kQuiescenceCheckUs, [this] { CheckQuiescence(); });
}

bool Simulation::Impl::Quiescent() {
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) return false;
  }
  for (const Link& l : links_) {
    if (l.origin == l.dest) continue;
    if (!l.connected || l.in_flight_data > 0 || l.poll_scheduled) return false;
  }
  if (members_) {
    for (int i = 0; i < n(); ++i) {
      auto d = nodes_[i].region->DescribeTable(kMembersTable);
      if (d.ok() && d->spec.TableStatus() != "ACTIVE") return false;
      if (d.ok()) {
        for (const auto& [index, status] : d->index_status) {
          if (status != "ACTIVE") return false;
        }
      }
    }
  }
  for (const Link& l : links_) {
    if (l.origin == l.dest) continue;
    const std::string& dest = nodes_[l.dest].name;
    int64_t cursor = nodes_[l.dest].region->Cursor(nodes_[l.origin].name);
    auto batch = nodes_[l.origin].region->ReadFor(dest, cursor, 1);
    if (!batch.ok() || !batch->changes.empty()) return false;
  }
  return true;
}

void Simulation::Impl::CheckQuiescence() {
  if (Quiescent()) {
    result_.quiescent = true;
    stop_ = true;
    return;
  }
  if (now() - end_phase_at_ >= o_.settle_limit_us) {
    stop_ = true;
    return;
  }
  At(now() + kQuiescenceCheckUs, [this] { CheckQuiescence(); });
}

// --- the run -------------------------------------------------------------------------------

absl::StatusOr<SimResult> Simulation::Impl::Run() {
  if (ran_) return absl::FailedPreconditionError("a Simulation runs once; make another one");
  ran_ = true;
  absl::Status valid = ValidateSimOptions(o_);
  if (!valid.ok()) return valid;
  result_.options = o_;
  std::mt19937_64 master(o_.seed);
  workload_rng_.seed(master());
  net_rng_.seed(master());
  fault_rng_.seed(master());
  control_rng_.seed(master());
  // Swarm testing: each seed runs its own mix of faults.
  auto rate = [&](double p) { return Chance(fault_rng_, 0.2) ? 0.0 : p * 2 * Unit(fault_rng_); };
  partition_rate_ = rate(o_.partition_probability);
  crash_rate_ = rate(o_.crash_probability);
  skew_rate_ = rate(o_.skew_probability);
  loss_burst_rate_ = rate(o_.loss_burst_probability);
  // Drawn from a stream of its own, after the others, so adding it changed no other draw.
  std::mt19937_64 trim_rng(master());
  trim_tombstones_ = Chance(trim_rng, 0.5);
  wipe_rng_.seed(master());

  absl::Status st = OpenNodes();
  if (!st.ok()) return st;

  // The table, created in the first region with every region as a replica.
  CreateTableRequest create;
  create.table = kTable;
  create.hash_key = KeyDef{kHashKey, ValueType::kS};
  create.replicas = names_;
  auto info = nodes_[0].region->CreateTable(create);
  if (!info.ok()) return info.status();
  spec_ = info->spec;
  for (int li = 0; li < static_cast<int>(links_.size()); ++li) {
    if (links_[li].origin != links_[li].dest) ScheduleReconnect(li, 0);
  }
  int64_t setup_start = now();
  while (!AllHaveTable()) {
    if (queue_.empty() || now() - setup_start > kSetupLimitUs) {
      return absl::DeadlineExceededError(
          absl::StrCat("the table did not reach every region within ", kSetupLimitUs / 1'000'000,
                       " s of virtual time"));
    }
    Step();
  }

  if (o_.replica_change_probability > 0 || o_.control_change_probability > 0) {
    // The members table: regional in the first region; replica changes do the rest.
    CreateTableRequest m;
    m.table = kMembersTable;
    m.hash_key = KeyDef{kHashKey, ValueType::kS};
    auto created = nodes_[0].region->CreateTable(m);
    if (!created.ok()) return created.status();
    members_ = true;
    At(now() + kSnapshotPollUs, [this] { SnapshotPoll(); });
    At(now() + kBackfillPollUs, [this] { BackfillPoll(); });
  }
  // Wipes, where they can be judged (SimOptions::wipe_probability), at a per-seed rate.
  if (!members_ && !trim_tombstones_ && !Chance(wipe_rng_, 0.2)) {
    wipe_rate_ = o_.wipe_probability * 2 * Unit(wipe_rng_);
  }
  for (size_t i = 0; i < o_.initial_skew_us.size(); ++i) {
    SetSkew(static_cast<int>(i), o_.initial_skew_us[i]);
  }
  if (o_.keep_one_link_cut) SetCut(0, 1, 1);
  if (trim_tombstones_) At(now() + kTrimPollUs, [this] { TrimPoll(); });
  workload_start_ = now();
  result_.history.Reserve(static_cast<size_t>(o_.ops));  // at most one write per operation
  if (o_.ops > 0) {
    At(now() + Uniform(workload_rng_, 1, o_.op_interval_us), [this] { ClientOp(0); });
  } else {
    At(now(), [this] { EndPhase(); });
  }
  while (!stop_ && !queue_.empty()) Step();
  return Finish();
}

SimResult Simulation::Impl::Finish() {
  result_.virtual_duration_us = now() - workload_start_;
  std::vector<std::string> errors;
  for (int i = 0; i < n(); ++i) {
    ReplicaState state;
    state.region = nodes_[i].name;
    if (!Up(i)) {
      errors.push_back(absl::StrCat(state.region, " is down at the end"));
    } else {
      auto dump = nodes_[i].region->DumpTable(kTable);
      if (dump.ok()) {
        state.versions = *std::move(dump);
      } else {
        errors.push_back(
            absl::StrCat("cannot dump ", state.region, ": ", dump.status().ToString()));
      }
    }
    result_.replicas.push_back(std::move(state));
  }
  result_.check = CheckAll(spec_, result_.history, result_.replicas);
  if (result_.quiescent) {
    // Every origin has heard every acknowledgement: PendingReplicationCount must read 0.
    for (int i = 0; i < n(); ++i) {
      auto status = nodes_[i].region->Status();
      if (!status.ok()) {
        errors.push_back(absl::StrCat(nodes_[i].name, " Status(): ", status.status().ToString()));
        continue;
      }
      for (const auto& out : status->outbound) {
        if (out.pending != 0) {
          errors.push_back(absl::StrCat("quiescent, but ", nodes_[i].name,
                                        " reports PendingReplicationCount ", out.pending,
                                        " towards ", out.peer));
        }
      }
    }
  } else {
    std::vector<std::string> behind;
    for (const Link& l : links_) {
      if (l.origin == l.dest || !Up(l.origin) || !Up(l.dest)) continue;
      int64_t cursor = nodes_[l.dest].region->Cursor(nodes_[l.origin].name);
      auto batch = nodes_[l.origin].region->ReadFor(nodes_[l.dest].name, cursor, 1);
      if (!l.connected || (batch.ok() && !batch->changes.empty())) {
        behind.push_back(absl::StrCat(nodes_[l.origin].name, "->", nodes_[l.dest].name,
                                      l.connected ? "" : " (disconnected)"));
      }
    }
    errors.push_back(absl::StrCat("not quiescent ", o_.settle_limit_us / 1e6,
                                  " s (virtual) after healing; links behind: ",
                                  behind.empty() ? "none" : absl::StrJoin(behind, ", ")));
  }
  if (result_.quiescent) {
    for (auto& e : CheckStreams()) errors.push_back(std::move(e));
  }
  if (members_ && result_.quiescent) {
    for (auto& e : CheckMembers()) errors.push_back(std::move(e));
    for (auto& e : CheckControlPlane()) errors.push_back(std::move(e));
  } else if (members_) {
    for (int i = 0; i < n(); ++i) {
      if (!Up(i)) continue;
      auto d = nodes_[i].region->DescribeTable(kMembersTable);
      if (d.ok() && d->spec.TableStatus() != "ACTIVE") {
        errors.push_back(absl::StrCat(
            kMembersTable, " is still ", d->spec.TableStatus(), " in ", nodes_[i].name,
            " (replica statuses: ",
            absl::StrJoin(d->spec.replica_status, ",", absl::PairFormatter("=")), ")"));
      }
    }
  }
  // The simulator never loses committed data (MemoryDisk) except to a wipe, so no region may
  // believe it did (a false log rollback makes every peer re-read the whole log) or warn of
  // anything else; a wiped region says it rejoined and what each peer sent back.
  for (int i = 0; i < n(); ++i) {
    if (!Up(i)) continue;
    auto status = nodes_[i].region->Status();
    if (!status.ok()) continue;
    for (const auto& w : status->warnings) {
      if (nodes_[i].wiped_us > 0 && (absl::StartsWith(w, "rejoined with an empty database") ||
                                     absl::StartsWith(w, "lost-writes repair: "))) {
        continue;
      }
      errors.push_back(absl::StrCat(nodes_[i].name, " warns, though nothing was lost: ", w));
    }
  }
  for (auto& e : sim_errors_) errors.push_back(absl::StrCat("simulation error: ", e));
  if (!errors.empty()) {
    result_.check.ok = false;
    result_.check.violations.insert(result_.check.violations.begin(), errors.begin(), errors.end());
  }

  Digest d;
  for (const auto& w : result_.history.writes()) {
    d.Add(w.id);
    d.Add(static_cast<int64_t>(w.kind));
    d.Add(w.region);
    d.Add(w.key_text);
    d.Add(w.true_us);
    d.Add(w.result.stamp.ts_us);
    d.Add(w.result.superseded_by ? w.result.superseded_by->ts_us : -1);
    d.Add(w.Stored() ? 1 : 0);
  }
  for (const auto& r : result_.replicas) {
    d.Add(r.region);
    for (const auto& v : r.versions) {
      d.Add(v.hk);
      d.Add(v.rk);
      d.Add(v.stamp.ts_us);
      d.Add(v.stamp.region);
      d.Add(v.item ? EncodeItem(*v.item) : std::string("-"));
    }
  }
  for (int64_t v : {result_.ops,
                    result_.acknowledged,
                    result_.condition_failed,
                    result_.unavailable,
                    result_.batches_delivered,
                    result_.faults.partitions,
                    result_.faults.crashes,
                    result_.faults.skews,
                    result_.faults.loss_bursts,
                    result_.faults.messages_lost,
                    result_.virtual_duration_us,
                    result_.replica_changes,
                    result_.replica_changes_refused,
                    result_.replicas_added,
                    result_.replicas_removed,
                    result_.bootstraps_interrupted,
                    result_.settings_changed,
                    result_.indexes_created,
                    result_.indexes_deleted,
                    result_.control_refused,
                    result_.index_rows_backfilled,
                    result_.transactions,
                    result_.items_expired,
                    result_.snapshot_chunks,
                    result_.replicas_deleted,
                    result_.tombstones_trimmed}) {
    d.Add(v);
  }
  if (result_.faults.wipes > 0) d.Add(result_.faults.wipes);  // digests of runs without stay
  d.Add(result_.check.summary);
  result_.digest = d.value();
  return std::move(result_);
}

Simulation::Simulation(SimOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Simulation::~Simulation() = default;

absl::StatusOr<SimResult> Simulation::Run() { return impl_->Run(); }

absl::StatusOr<SimResult> RunSimulation(const SimOptions& options) {
  return Simulation(options).Run();
}

}  // namespace gtsim
