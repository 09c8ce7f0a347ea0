#include "sim/scenario/runner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "model/clock.h"
#include "model/status_macros.h"
#include "sim/harness/history.h"
#include "sim/scenario/checks.h"

namespace gtsim::scenario {
namespace {

// Whether a failed write may still have committed: it may when the request could have reached
// the region (a timeout, a connection that broke), not when no connection was made.
bool Uncertain(const absl::Status& s) {
  if (absl::IsUnavailable(s) && (absl::StrContains(s.message(), "failed to connect") ||
                                 absl::StrContains(s.message(), "Connection refused"))) {
    return false;
  }
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsCancelled(s) ||
         absl::IsUnknown(s) || absl::IsInternal(s);
}

// Chooses key indexes uniformly or with a Zipf law (index 0 the hottest).
class KeyPicker {
 public:
  KeyPicker(const WorkloadSpec& w, int home, int n_regions) {
    for (int i = 0; i < w.keys; ++i) {
      if (!w.home_region_per_key || i % n_regions == home) keys_.push_back(i);
    }
    if (w.zipf) {
      double sum = 0;
      for (size_t i = 0; i < keys_.size(); ++i) {
        sum += 1.0 / std::pow(static_cast<double>(i + 1), w.zipf_s);
        cdf_.push_back(sum);
      }
      for (double& c : cdf_) c /= sum;
    }
  }
  int Pick(std::mt19937_64& rng) const {
    if (cdf_.empty()) {
      return keys_[std::uniform_int_distribution<size_t>(0, keys_.size() - 1)(rng)];
    }
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    size_t i = std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return keys_[std::min(i, keys_.size() - 1)];
  }

 private:
  std::vector<int> keys_;
  std::vector<double> cdf_;
};

// A scenario table as the runner drives it.
struct TableRun {
  TableDef def;
  // Keys, and in `replicas` the regions holding a replica now, as the timeline's steps made
  // them (the timeline thread changes it; workloads read the keys only).
  TableSpec spec;
  std::map<std::string, IndexSpec> indexes;  // live indexes, as the steps made them
};

// A key's value of type `type` standing for the key text (N: a stable number from it).
AttributeValue KeyValue(ValueType type, const std::string& text) {
  if (type == ValueType::kS) return AttributeValue::S(text);
  if (type == ValueType::kB) return AttributeValue::B(text);
  uint32_t h = 2166136261u;  // FNV-1a: the same number for the same text in every run
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return AttributeValue::N(std::to_string(h));
}

struct WorkloadState {
  WorkloadSpec spec;
  TableRun* table = nullptr;
  int index = 0;
  std::atomic<bool> running{false};
  std::thread thread;
  std::atomic<int64_t> attempted{0}, ok{0}, failed{0}, conditional_failed{0}, acked_writes{0};
  // The last per-second snapshot, for throughput deltas.
  int64_t last_ok = 0, last_failed = 0, last_cond = 0;
};

struct UnansweredWrite {
  WriteKind kind;
  std::string table, region, key_text;
  Item key;
  int64_t true_us;
};

class Runner {
 public:
  Runner(const Scenario& s, Driver* d, const RunOptions& o)
      : s_(s), d_(d), o_(o), rng_(s.seed), live_tty_(o.live && isatty(2)) {
    defs_ = s.tables;
    if (defs_.empty()) {  // a Scenario built in code rather than parsed: the default table
      defs_.emplace_back();
      defs_.back().replicas = s.regions;
    }
    for (const auto& def : defs_) {
      TableRun& t = tables_[def.name];
      t.def = def;
      t.spec.name = def.name;
      t.spec.hash_key = def.hash_key;
      t.spec.range_key = def.range_key;
      t.spec.replicas = def.replicas;
      std::sort(t.spec.replicas.begin(), t.spec.replicas.end());
      for (const auto& x : def.indexes) t.indexes[x.name] = x;
    }
    for (const auto& r : s.regions) skew_[r] = 0;
  }

  absl::StatusOr<RunResult> Run() {
    result_.scenario = s_.name;
    result_.file = s_.file;
    result_.seed = s_.seed;
    result_.regions = s_.regions;
    result_.network = s_.network.description.empty() ? "none" : s_.network.description;
    start_ = absl::Now();
    for (const auto& def : defs_) RETURN_IF_ERROR(CreateTable(def));
    if (s_.heartbeat) {
      hb_spec_.name = "gtsim-heartbeat";
      hb_spec_.hash_key = KeyDef{"id", ValueType::kS};
      hb_spec_.replicas = s_.regions;
      std::sort(hb_spec_.replicas.begin(), hb_spec_.replicas.end());
      RETURN_IF_ERROR(d_->CreateTable(s_.regions.front(), hb_spec_));
    }
    RETURN_IF_ERROR(ApplyNetwork(s_.network));
    Log(absl::StrCat("scenario ", s_.name, ": ", s_.regions.size(), " regions, network ",
                     result_.network, ", seed ", s_.seed, ", ",
                     FormatScenarioDuration(s_.duration)));
    start_ = absl::Now();
    for (size_t i = 0; i < s_.workloads.size(); ++i) {
      auto w = std::make_unique<WorkloadState>();
      w->spec = s_.workloads[i];
      w->table = &tables_.at(w->spec.table.empty() ? defs_.front().name : w->spec.table);
      w->index = static_cast<int>(i);
      w->running = w->spec.start;
      regions_[w->spec.name] = w->spec.region;
      WorkloadTotals t;
      t.name = w->spec.name;
      t.kind = w->spec.kind == WorkloadKind::kMixed     ? "mixed"
               : w->spec.kind == WorkloadKind::kCounter ? "counter"
                                                        : "lock";
      t.regions.push_back(w->spec.region);
      result_.workloads.push_back(t);
      workloads_.push_back(std::move(w));
    }
    for (auto& w : workloads_) {
      WorkloadState* ws = w.get();
      ws->thread = std::thread([this, ws] { RunWorkload(ws); });
    }
    sampler_ = std::thread([this] { Sample(); });
    if (s_.heartbeat) heartbeat_ = std::thread([this] { Heartbeats(); });
    absl::Status st = Timeline();
    if (st.ok()) st = WaitUntil(start_ + s_.duration);
    stop_workloads_ = true;
    for (auto& w : workloads_) w->thread.join();
    result_.duration_s = Elapsed();
    if (st.ok()) st = FinalHealAndCheck();
    // Heartbeats still on their way were polled through the heal; the rest count as censored.
    stop_heartbeats_ = true;
    if (heartbeat_.joinable()) heartbeat_.join();
    stop_sampler_ = true;
    sampler_.join();
    if (live_tty_) std::fprintf(stderr, "\r\033[K");
    RETURN_IF_ERROR(st);
    for (const auto& e : s_.expectations) result_.expectations.push_back(Evaluate(e, result_));
    return std::move(result_);
  }

 private:
  double Elapsed() const { return absl::ToDoubleSeconds(absl::Now() - start_); }

  void Log(const std::string& text) {
    std::string line = absl::StrFormat("[%6.1fs] %s", Elapsed(), text);
    {
      absl::MutexLock l(&mu_);
      result_.log.push_back(line);
    }
    if (o_.live) std::fprintf(stderr, "%s%s\n", live_tty_ ? "\r\033[K" : "", line.c_str());
  }

  absl::Status Interrupted() {
    if (o_.interrupted && o_.interrupted()) return absl::CancelledError("interrupted");
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------------------------
  // Faults

  int OpenFault(const std::string& key, const std::string& text) {
    absl::MutexLock l(&mu_);
    result_.faults.push_back({Elapsed(), -1, text});
    fault_keys_.push_back(key);
    return static_cast<int>(result_.faults.size()) - 1;
  }
  // Closes every open fault whose key starts with `prefix`.
  void CloseFaults(const std::string& prefix) {
    absl::MutexLock l(&mu_);
    for (size_t i = 0; i < result_.faults.size(); ++i) {
      if (result_.faults[i].end < 0 && fault_keys_[i].rfind(prefix, 0) == 0) {
        result_.faults[i].end = Elapsed();
      }
    }
  }
  void CloseFault(int index) {
    absl::MutexLock l(&mu_);
    if (result_.faults[index].end < 0) result_.faults[index].end = Elapsed();
  }

  absl::Status Block(const std::string& origin, const std::string& receiver, int delta) {
    int& n = blocks_[{origin, receiver}];
    int before = n;
    n = std::max(0, n + delta);
    if ((before == 0) != (n == 0)) return d_->SetBlocked(origin, receiver, n > 0);
    return absl::OkStatus();
  }

  absl::Status ApplyNetwork(const NetworkSpec& net) {
    std::map<std::pair<std::string, std::string>, LinkDelay> want;
    for (const auto& l : net.links) want[{l.from, l.to}] = l.model;
    for (const auto& a : s_.regions) {
      for (const auto& b : s_.regions) {
        if (a == b) continue;
        LinkDelay m = want.count({a, b}) ? want[{a, b}] : LinkDelay{};
        if (links_[{a, b}] == m) continue;
        links_[{a, b}] = m;
        if (killed_.count(b) || paused_.count(b)) continue;  // given at restart by the driver
        RETURN_IF_ERROR(d_->SetLink(a, b, m));
      }
    }
    return absl::OkStatus();
  }

  absl::Status SetSkew(const std::string& r, int64_t us) {
    if (us > kMaxClockSkewUs || us < -kMaxClockSkewUs) {
      return absl::InvalidArgumentError(
          absl::StrCat("clock ", r, " would be ", FormatScenarioDuration(absl::Microseconds(us)),
                       " off true time; gtsim allows at most ",
                       FormatScenarioDuration(absl::Microseconds(kMaxClockSkewUs)),
                       " either way (jumps and drift add up: lower them or set a skew back)"));
    }
    {
      absl::MutexLock l(&mu_);
      skew_[r] = us;
    }
    if (killed_.count(r) || paused_.count(r)) return absl::OkStatus();  // given at restart
    return d_->SetClockSkew(r, us);
  }
  int64_t Skew(const std::string& r) {
    absl::MutexLock l(&mu_);
    return skew_[r];
  }

  // Regions a random fault may hit: not killed or paused.
  std::string PickRandom() {
    std::vector<std::string> healthy;
    for (const auto& r : s_.regions) {
      if (!killed_.count(r) && !paused_.count(r)) healthy.push_back(r);
    }
    if (healthy.size() < 2) return "";  // never take down the last healthy region
    return healthy[std::uniform_int_distribution<size_t>(0, healthy.size() - 1)(rng_)];
  }

  // Applies one step's action; a revertible fault with `for` schedules its undoing.
  absl::Status Apply(const Step& st) {
    const Action& a = st.action;
    std::string r = a.region;
    if (r == "random") {
      r = PickRandom();
      if (r.empty()) {
        Log(absl::StrCat("skipped ", st.Describe(), ": no region left to pick"));
        return absl::OkStatus();
      }
    }
    std::function<absl::Status()> undo;
    int fault = -1;
    std::string desc = st.Describe();
    if (st.action.region == "random") desc = absl::StrCat(desc, " -> ", r);
    switch (a.kind) {
      case ActionKind::kStartWorkload:
      case ActionKind::kStopWorkload:
        for (auto& w : workloads_) {
          if (w->spec.name == a.workload) w->running = a.kind == ActionKind::kStartWorkload;
        }
        break;
      case ActionKind::kMoveWorkload: {
        absl::MutexLock l(&mu_);
        regions_[a.workload] = r;
        for (auto& t : result_.workloads) {
          if (t.name == a.workload) t.regions.push_back(r);
        }
        break;
      }
      case ActionKind::kKill:
        if (killed_.count(r) || paused_.count(r)) {
          Log(absl::StrCat("skipped ", desc, ": ", r, " is already down"));
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(d_->Kill(r));
        killed_.insert(r);
        fault = OpenFault("kill:" + r, "kill -9 " + r);
        undo = [this, r] { return Restart(r); };
        break;
      case ActionKind::kRestart:
        RETURN_IF_ERROR(Restart(r));
        break;
      case ActionKind::kPause:
        if (killed_.count(r) || paused_.count(r)) {
          Log(absl::StrCat("skipped ", desc, ": ", r, " is already down"));
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(d_->Pause(r));
        paused_.insert(r);
        fault = OpenFault("pause:" + r, "SIGSTOP " + r);
        undo = [this, r] { return Resume(r); };
        break;
      case ActionKind::kResume:
        RETURN_IF_ERROR(Resume(r));
        break;
      case ActionKind::kPartition: {
        std::vector<std::pair<std::string, std::string>> blocks = a.blocks;
        std::string text = a.partition_text;
        if (a.region == "random") {  // isolate a random region
          blocks.clear();
          for (const auto& o : s_.regions) {
            if (o == r) continue;
            blocks.push_back({o, r});
            blocks.push_back({r, o});
          }
          text = "isolate " + r;
        }
        for (const auto& [o, rc] : blocks) RETURN_IF_ERROR(Block(o, rc, +1));
        fault = OpenFault("partition:", "partition: " + text);
        undo = [this, blocks] {
          for (const auto& [o, rc] : blocks) RETURN_IF_ERROR(Block(o, rc, -1));
          return absl::OkStatus();
        };
        break;
      }
      case ActionKind::kHeal:
        for (auto& [k, n] : blocks_) {
          if (n > 0) {
            n = 0;
            RETURN_IF_ERROR(d_->SetBlocked(k.first, k.second, false));
          }
        }
        CloseFaults("partition:");
        CloseFaults("repl:");
        break;
      case ActionKind::kPauseReplication: {
        for (const auto& o : s_.regions) {
          if (o != r) RETURN_IF_ERROR(Block(o, r, +1));
        }
        fault = OpenFault("repl:" + r, "replication into " + r + " paused");
        undo = [this, r] {
          for (const auto& o : s_.regions) {
            if (o != r) RETURN_IF_ERROR(Block(o, r, -1));
          }
          return absl::OkStatus();
        };
        break;
      }
      case ActionKind::kResumeReplication:
        for (const auto& o : s_.regions) {
          if (o == r || blocks_[{o, r}] == 0) continue;
          blocks_[{o, r}] = 0;
          RETURN_IF_ERROR(d_->SetBlocked(o, r, false));
        }
        CloseFaults("repl:" + r);
        break;
      case ActionKind::kClockSkew: {
        int64_t before = Skew(r), us = absl::ToInt64Microseconds(a.amount);
        RETURN_IF_ERROR(SetSkew(r, us));
        CloseFaults("clock:" + r);
        if (us != 0) {
          fault = OpenFault("clock:" + r, absl::StrCat("clock ", r, " ", us > 0 ? "+" : "",
                                                       FormatScenarioDuration(a.amount)));
        }
        undo = [this, r, before] { return SetSkew(r, before); };
        break;
      }
      case ActionKind::kClockJump: {
        int64_t us = absl::ToInt64Microseconds(a.amount);
        RETURN_IF_ERROR(SetSkew(r, Skew(r) + us));
        fault = OpenFault("clock:" + r, absl::StrCat("clock ", r, " jumps ", us > 0 ? "+" : "",
                                                     FormatScenarioDuration(a.amount)));
        undo = [this, r, us] { return SetSkew(r, Skew(r) - us); };
        break;
      }
      case ActionKind::kClockDrift: {
        double per_s = absl::ToDoubleMicroseconds(a.amount);
        {
          absl::MutexLock l(&mu_);
          drift_[r] = per_s;
        }
        CloseFaults("drift:" + r);
        if (per_s != 0) {
          fault = OpenFault("drift:" + r, absl::StrCat("clock ", r, " drifts ",
                                                       FormatScenarioDuration(a.amount), "/s"));
        }
        undo = [this, r] {
          absl::MutexLock l(&mu_);
          drift_[r] = 0;
          return absl::OkStatus();
        };
        break;
      }
      case ActionKind::kNetwork:
        CloseFaults("link:");
        RETURN_IF_ERROR(ApplyNetwork(a.network));
        {
          absl::MutexLock l(&mu_);
          result_.network = absl::StrCat(result_.network, " -> ", a.network.description);
        }
        break;
      case ActionKind::kLink:
        CloseFaults("link:" + a.link.from + ">" + a.link.to);
        if (!a.link.model.none()) {
          OpenFault("link:" + a.link.from + ">" + a.link.to, desc);
        }
        links_[{a.link.from, a.link.to}] = a.link.model;
        if (!killed_.count(a.link.to) && !paused_.count(a.link.to)) {
          RETURN_IF_ERROR(d_->SetLink(a.link.from, a.link.to, a.link.model));
        }
        break;
      case ActionKind::kAddReplica:
      case ActionKind::kRemoveReplica:
      case ActionKind::kCreateIndex:
      case ActionKind::kDeleteIndex:
      case ActionKind::kTableSettings:
        RETURN_IF_ERROR(TableOperation(a, &desc));
        break;
      case ActionKind::kWipe:
        Log(desc);
        RETURN_IF_ERROR(Wipe(r));
        desc = absl::StrCat(r,
                            " restarted empty; its replicas are being re-added (snapshot "
                            "bootstrap)");
        break;
      case ActionKind::kWaitFor:
      case ActionKind::kWaitConverged:
      case ActionKind::kWaitCaughtUp:
      case ActionKind::kWaitReplicaActive:
      case ActionKind::kWaitIndexActive:
        break;  // handled by the timeline
    }
    Log(st.note.empty() ? desc : absl::StrCat(desc, " (", st.note, ")"));
    if (st.for_duration && undo) {
      absl::Time at = absl::Now() + *st.for_duration;
      std::string what = desc;
      pending_.emplace(at, [this, undo, fault, what]() -> absl::Status {
        RETURN_IF_ERROR(undo());
        if (fault >= 0) CloseFault(fault);
        Log("undone: " + what);
        return absl::OkStatus();
      });
    }
    return absl::OkStatus();
  }

  absl::Status Restart(const std::string& r) {
    if (paused_.count(r)) RETURN_IF_ERROR(Resume(r));
    RETURN_IF_ERROR(d_->Restart(r));
    killed_.erase(r);
    CloseFaults("kill:" + r);
    RETURN_IF_ERROR(Reassert(r));
    Log("restarted " + r);
    return absl::OkStatus();
  }

  absl::Status Resume(const std::string& r) {
    if (!paused_.count(r)) return absl::OkStatus();
    RETURN_IF_ERROR(d_->Resume(r));
    paused_.erase(r);
    CloseFaults("pause:" + r);
    return Reassert(r);
  }

  // A region that was down (killed or stopped) missed the changes made meanwhile to its cuts,
  // clock and links: tell it the current ones.
  absl::Status Reassert(const std::string& r) {
    RETURN_IF_ERROR(d_->SetClockSkew(r, Skew(r)));
    for (const auto& o : s_.regions) {
      if (o == r) continue;
      RETURN_IF_ERROR(d_->SetBlocked(o, r, blocks_[{o, r}] > 0));
      RETURN_IF_ERROR(d_->SetLink(o, r, links_[{o, r}]));
    }
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------------------------
  // Tables and replicas

  // Creates a scenario table from its first replica's region, then sets its billing and
  // creates its indexes, and waits until every index is ACTIVE in every replica: the workloads
  // start on the table as the file describes it.
  absl::Status CreateTable(const TableDef& def) {
    TableRun& t = tables_.at(def.name);
    const std::string& via = def.replicas.front();
    RETURN_IF_ERROR(d_->CreateTable(via, t.spec));
    if (def.billing == "PROVISIONED") {
      UpdateTableRequest req;
      req.table = def.name;
      req.billing_mode = def.billing;
      req.write_capacity = def.wcu;
      req.read_capacity = def.rcu;
      RETURN_IF_ERROR(UpdateWithRetry(via, req));
    }
    for (const auto& x : def.indexes)
      RETURN_IF_ERROR(UpdateWithRetry(via, IndexRequest(def.name, x)));
    absl::Time deadline = absl::Now() + absl::Seconds(30);
    for (const auto& x : def.indexes) {
      std::set<std::string> active;
      while (true) {
        RETURN_IF_ERROR(Interrupted());
        auto done = IndexActive(t, x.name, &active, absl::Now(), /*log=*/false);
        if (done.ok() && *done) break;
        if (absl::Now() > deadline) {
          return absl::DeadlineExceededError(absl::StrCat("index ", x.name, " of ", def.name,
                                                          " did not turn ACTIVE in every replica"));
        }
        absl::SleepFor(absl::Milliseconds(50));
      }
    }
    return absl::OkStatus();
  }

  static UpdateTableRequest IndexRequest(const std::string& table, const IndexSpec& x) {
    UpdateTableRequest req;
    req.table = table;
    GsiSetting g;
    g.hash_key = x.hash_key;
    g.range_key = x.range_key;
    g.projection = x.projection;
    g.non_key = x.include;
    req.create_gsi = std::make_pair(x.name, g);
    return req;
  }

  // UpdateTable in `region`, retried while the table is UPDATING (one replica change in flight
  // per table) or the region does not answer, for up to a minute; the timeline's due undos
  // still run meanwhile.
  absl::Status UpdateWithRetry(const std::string& region, const UpdateTableRequest& req) {
    absl::Time deadline = absl::Now() + absl::Minutes(1);
    bool uncertain = false;  // an earlier attempt may have been applied without an answer
    while (true) {
      absl::Status st = d_->UpdateTable(region, req);
      if (st.ok()) return st;
      if (uncertain && absl::IsInvalidArgument(st)) return absl::OkStatus();  // it was applied
      bool retry =
          absl::IsFailedPrecondition(st) || absl::IsUnavailable(st) || absl::IsDeadlineExceeded(st);
      if (!retry || absl::Now() > deadline) {
        return absl::Status(st.code(), absl::StrCat("UpdateTable of ", req.table, " in ", region,
                                                    ": ", st.message()));
      }
      uncertain = uncertain || absl::IsDeadlineExceeded(st);
      RETURN_IF_ERROR(RunDue());
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  // The region a table operation is called in: the step's `via`, else the first region holding
  // a replica of the table that is up (the scenario's replicas first, then added ones) and is
  // not the step's target.
  absl::StatusOr<std::string> Via(const TableRun& t, const Action& a) {
    if (!a.via.empty()) return a.via;
    std::vector<std::string> order = t.def.replicas;
    order.insert(order.end(), t.spec.replicas.begin(), t.spec.replicas.end());
    for (const auto& r : order) {
      if (t.spec.HasReplica(r) && r != a.region && !killed_.count(r) && !paused_.count(r)) return r;
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "no region holding a replica of ", t.spec.name, " is up to call UpdateTable in"));
  }

  absl::Status TableOperation(const Action& a, std::string* desc) {
    TableRun& t = tables_.at(a.table);
    UpdateTableRequest req;
    req.table = a.table;
    switch (a.kind) {
      case ActionKind::kAddReplica:
      case ActionKind::kRemoveReplica:
        req.replica_updates.push_back({a.kind == ActionKind::kAddReplica
                                           ? ReplicaUpdate::Action::kCreate
                                           : ReplicaUpdate::Action::kDelete,
                                       a.region});
        break;
      case ActionKind::kCreateIndex:
        req = IndexRequest(a.table, a.new_index);
        break;
      case ActionKind::kDeleteIndex:
        req.delete_gsi = a.index;
        break;
      default: {
        const SettingsChange& c = a.settings;
        req.billing_mode = c.billing;
        req.write_capacity = c.wcu;
        req.read_capacity = c.rcu;
        if (c.ttl_attribute) {
          req.ttl_enabled = !c.ttl_attribute->empty();
          if (!c.ttl_attribute->empty()) req.ttl_attribute = c.ttl_attribute;
        }
        req.sse_type = c.sse;
      }
    }
    ASSIGN_OR_RETURN(std::string via, Via(t, a));
    RETURN_IF_ERROR(UpdateWithRetry(via, req));
    absl::StrAppend(desc, " (via ", via, ")");
    switch (a.kind) {
      case ActionKind::kAddReplica:
        t.spec.replicas.push_back(a.region);
        std::sort(t.spec.replicas.begin(), t.spec.replicas.end());
        // Shaded in the report until a wait sees it ACTIVE (or the run ends).
        OpenFault(absl::StrCat("bootstrap:", a.table, ":", a.region),
                  absl::StrCat("replica of ", a.table, " in ", a.region, " bootstrapping"));
        break;
      case ActionKind::kRemoveReplica:
        t.spec.replicas.erase(std::find(t.spec.replicas.begin(), t.spec.replicas.end(), a.region));
        break;
      case ActionKind::kCreateIndex:
        t.indexes[a.index] = a.new_index;
        break;
      case ActionKind::kDeleteIndex:
        t.indexes.erase(a.index);
        break;
      default:
        break;
    }
    return absl::OkStatus();
  }

  // A region loses its disk and rejoins (see README "Scenarios", restart with data wiped):
  // killed and emptied; while it is down, its replica of each table it held is removed (called
  // in a live replica); it restarts empty with a new change log (its peers, seeing the log's new
  // id, read it from the start), replays the removals from its peers' logs and announces it
  // dropped the tables; once each table is ACTIVE again it is re-added, bootstrapping from a
  // snapshot of a live replica while the others keep writing. Returns once the adds are
  // accepted (wait: until replica_active to see them through).
  absl::Status Wipe(const std::string& r) {
    if (paused_.count(r)) RETURN_IF_ERROR(Resume(r));
    RETURN_IF_ERROR(d_->Wipe(r));
    killed_.insert(r);
    int fault = OpenFault("wipe:" + r, absl::StrCat(r, " wiped, rejoining"));
    std::vector<TableRun*> held;
    for (auto& [name, t] : tables_) {
      if (t.spec.HasReplica(r)) held.push_back(&t);
    }
    for (auto kind : {ReplicaUpdate::Action::kDelete, ReplicaUpdate::Action::kCreate}) {
      if (kind == ReplicaUpdate::Action::kCreate) {
        RETURN_IF_ERROR(d_->Restart(r));
        killed_.erase(r);
        RETURN_IF_ERROR(Reassert(r));
        Log(absl::StrCat(r, " restarted empty, with a new change log"));
      }
      for (TableRun* t : held) {
        Action target;
        target.region = r;
        UpdateTableRequest req;
        req.table = t->spec.name;
        req.replica_updates.push_back({kind, r});
        ASSIGN_OR_RETURN(std::string via, Via(*t, target));
        // An add waits (retried) until the removal is through: the table is UPDATING until then.
        RETURN_IF_ERROR(UpdateWithRetry(via, req));
        if (kind == ReplicaUpdate::Action::kDelete) {
          Log(absl::StrCat("removed ", r, "'s replica of ", t->spec.name, " (via ", via, ")"));
          continue;
        }
        Log(absl::StrCat("re-adding ", r, "'s replica of ", t->spec.name, " from a snapshot of ",
                         via, "'s"));
        OpenFault(absl::StrCat("bootstrap:", t->spec.name, ":", r),
                  absl::StrCat("replica of ", t->spec.name, " in ", r, " bootstrapping"));
      }
    }
    CloseFault(fault);
    return absl::OkStatus();
  }

  // Every region holding a replica of `t` describes `region`'s replica as ACTIVE.
  absl::StatusOr<bool> ReplicaActive(const TableRun& t, const std::string& region) {
    for (const auto& r : t.spec.replicas) {
      if (killed_.count(r) || paused_.count(r)) return false;
      ASSIGN_OR_RETURN(TableInfo info, d_->DescribeTable(r, t.spec.name, absl::Seconds(2)));
      if (info.spec.ReplicaStatus(region) != "ACTIVE") return false;
    }
    return true;
  }

  // Whether `index` is ACTIVE in every replica of `t`. Regions seen ACTIVE are added to
  // `active` (and logged, with the time since `began`, the first time).
  absl::StatusOr<bool> IndexActive(const TableRun& t, const std::string& index,
                                   std::set<std::string>* active, absl::Time began, bool log) {
    bool all = true;
    for (const auto& r : t.spec.replicas) {
      if (active->count(r)) continue;
      auto info = killed_.count(r) || paused_.count(r)
                      ? absl::StatusOr<TableInfo>(absl::UnavailableError("down"))
                      : d_->DescribeTable(r, t.spec.name, absl::Seconds(2));
      auto it = info.ok() ? info->index_status.find(index)
                          : std::map<std::string, std::string>::const_iterator();
      if (info.ok() && it != info->index_status.end() && it->second == "ACTIVE") {
        active->insert(r);
        if (log) {
          Log(absl::StrFormat("index %s of %s ACTIVE in %s after %.2fs", index, t.spec.name, r,
                              absl::ToDoubleSeconds(absl::Now() - began)));
        }
        continue;
      }
      all = false;
    }
    return all;
  }

  // The primary key of an item of `t`, as text (for index comparisons).
  static std::string PrimaryKeyText(const TableRun& t, const Item& item) {
    std::string text;
    auto h = item.find(t.spec.hash_key.name);
    if (h != item.end()) text = h->second.scalar();
    if (t.spec.range_key) {
      auto r = item.find(t.spec.range_key->name);
      if (r != item.end()) absl::StrAppend(&text, "/", r->second.scalar());
    }
    return text;
  }

  // index_matches: in every replica, for (up to 20 of) the index hash key values its items
  // carry, the index query returns exactly the items of the table with that value.
  void CheckIndex(const TableRun& t, const std::string& index,
                  const std::vector<ReplicaState>& replicas) {
    IndexCheck c;
    c.table = t.spec.name;
    c.index = index;
    auto x = t.indexes.find(index);
    if (x == t.indexes.end()) {
      c.mismatches.push_back("the index does not exist at the end of the run");
    } else {
      const IndexSpec& def = x->second;
      auto has = [](const Item& item, const std::optional<KeyDef>& k) {
        if (!k) return true;
        auto it = item.find(k->name);
        return it != item.end() && it->second.type() == k->type;
      };
      for (const auto& rs : replicas) {
        std::map<std::string, std::pair<AttributeValue, std::set<std::string>>> expected;
        for (const auto& v : rs.versions) {
          if (!v.item || !has(*v.item, def.hash_key) || !has(*v.item, def.range_key)) continue;
          const AttributeValue& h = v.item->at(def.hash_key.name);
          auto& e = expected[h.scalar()];
          e.first = h;
          e.second.insert(PrimaryKeyText(t, *v.item));
        }
        int n = 0;
        for (const auto& [text, e] : expected) {
          if (++n > 20) break;
          ++c.queries;
          auto items = d_->QueryIndex(rs.region, t.spec.name, index, e.first, absl::Seconds(10));
          if (!items.ok()) {
            c.mismatches.push_back(absl::StrCat(rs.region, ": querying ", index,
                                                " failed: ", items.status().message()));
            continue;
          }
          std::set<std::string> got;
          for (const auto& item : *items) got.insert(PrimaryKeyText(t, item));
          if (got == e.second) continue;
          std::vector<std::string> missing, extra;
          std::set_difference(e.second.begin(), e.second.end(), got.begin(), got.end(),
                              std::back_inserter(missing));
          std::set_difference(got.begin(), got.end(), e.second.begin(), e.second.end(),
                              std::back_inserter(extra));
          c.mismatches.push_back(absl::StrCat(
              rs.region, ": ", index, " ", def.hash_key.name, " = \"", text, "\": the table has ",
              e.second.size(), " items with it, the index returned ", got.size(),
              missing.empty() ? "" : "; missing " + absl::StrJoin(missing, ", "),
              extra.empty() ? "" : "; not in the table " + absl::StrJoin(extra, ", ")));
        }
      }
    }
    absl::MutexLock l(&mu_);
    result_.index_checks.push_back(std::move(c));
  }

  // Runs the scheduled undos and recurring occurrences that are due, and the clock drift.
  absl::Status RunDue() {
    RETURN_IF_ERROR(Interrupted());
    while (!pending_.empty() && pending_.begin()->first <= absl::Now()) {
      auto fn = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      RETURN_IF_ERROR(fn());
    }
    absl::Time now = absl::Now();
    if (now - last_drift_ >= absl::Milliseconds(200)) {
      double dt = absl::ToDoubleSeconds(now - last_drift_);
      last_drift_ = now;
      std::map<std::string, double> drift;
      {
        absl::MutexLock l(&mu_);
        drift = drift_;
      }
      for (const auto& [r, per_s] : drift) {
        if (per_s != 0) RETURN_IF_ERROR(SetSkew(r, Skew(r) + static_cast<int64_t>(per_s * dt)));
      }
    }
    return absl::OkStatus();
  }

  absl::Status WaitUntil(absl::Time t) {
    while (absl::Now() < t) {
      RETURN_IF_ERROR(RunDue());
      absl::Time next = t;
      if (!pending_.empty()) next = std::min(next, pending_.begin()->first);
      absl::SleepFor(std::clamp(next - absl::Now(), absl::ZeroDuration(), absl::Milliseconds(50)));
    }
    return RunDue();
  }

  absl::Status Timeline() {
    last_drift_ = absl::Now();
    // Recurring faults run in the background from the start.
    for (const auto& st : s_.steps) {
      if (!st.every) continue;
      for (absl::Duration t = *st.at; t < st.until; t += *st.every) {
        const Step* step = &st;
        pending_.emplace(start_ + t, [this, step] { return Apply(*step); });
      }
    }
    for (const auto& st : s_.steps) {
      if (st.every) continue;
      if (st.at) RETURN_IF_ERROR(WaitUntil(start_ + *st.at));
      RETURN_IF_ERROR(Apply(st));
      if (st.action.kind == ActionKind::kWaitFor) {
        RETURN_IF_ERROR(WaitUntil(absl::Now() + st.action.amount));
      } else if (st.action.kind == ActionKind::kWaitConverged ||
                 st.action.kind == ActionKind::kWaitCaughtUp ||
                 st.action.kind == ActionKind::kWaitReplicaActive ||
                 st.action.kind == ActionKind::kWaitIndexActive) {
        RETURN_IF_ERROR(WaitUntilDone(st.action));
      }
    }
    return absl::OkStatus();
  }

  // A `wait: {until: ...}` step: polls its condition until it holds or the timeout passes
  // (logged either way; the timeline goes on).
  absl::Status WaitUntilDone(const Action& a) {
    absl::Time deadline = absl::Now() + a.amount;
    absl::Time began = absl::Now();
    std::map<std::string, int64_t> heads;  // caught_up: each origin's log head at the start
    std::set<std::string> active;          // index_active: regions seen ACTIVE
    std::function<absl::StatusOr<bool>()> check;
    std::string what, why_not;
    switch (a.kind) {
      case ActionKind::kWaitConverged:
        what = "converged";
        check = [&] { return Converged(); };
        break;
      case ActionKind::kWaitCaughtUp:
        what = "caught up";
        check = [&] { return CaughtUp(&heads); };
        break;
      case ActionKind::kWaitReplicaActive:
        what = absl::StrCat(a.region, "'s replica of ", a.table, " ACTIVE in every replica");
        check = [&] { return ReplicaActive(tables_.at(a.table), a.region); };
        break;
      default:
        what = absl::StrCat("index ", a.index, " of ", a.table, " ACTIVE in every replica");
        check = [&] { return IndexActive(tables_.at(a.table), a.index, &active, began, true); };
    }
    bool done = false;
    while (absl::Now() < deadline) {
      RETURN_IF_ERROR(RunDue());
      auto c = check();
      if (c.ok() && *c) {
        done = true;
        break;
      }
      // Table statuses are cheap to poll, and finely, to show when each region got there.
      bool table_wait =
          a.kind == ActionKind::kWaitReplicaActive || a.kind == ActionKind::kWaitIndexActive;
      absl::SleepFor(absl::Milliseconds(table_wait ? 20 : 100));
    }
    if (a.kind == ActionKind::kWaitCaughtUp) why_not = ": " + behind_;
    if (done && a.kind == ActionKind::kWaitReplicaActive)
      CloseFaults(absl::StrCat("bootstrap:", a.table, ":", a.region));
    Log(done ? absl::StrFormat("%s after %.1fs", what, absl::ToDoubleSeconds(absl::Now() - began))
             : absl::StrCat("NOT ", what, " within ", FormatScenarioDuration(a.amount), why_not,
                            " (the timeline goes on)"));
    return absl::OkStatus();
  }

  // Every receiver has applied each origin's log up to where it stood at the first call
  // (recorded in `heads`): every write made before the wait has reached every replica.
  absl::StatusOr<bool> CaughtUp(std::map<std::string, int64_t>* heads) {
    if (heads->empty()) {
      for (const auto& r : s_.regions) {
        ASSIGN_OR_RETURN(RegionStatus st, d_->Status(r, absl::Seconds(2)));
        (*heads)[r] = st.head_seq;
      }
    }
    // An origin's log also holds the changes it applied from others, which it never ships:
    // its head may stay ahead of every cursor. So a pair is also caught up when the origin
    // reports nothing pending for the receiver (every local change acknowledged).
    std::map<std::string, RegionStatus> status;
    for (const auto& r : s_.regions) {
      ASSIGN_OR_RETURN(status[r], d_->Status(r, absl::Seconds(2)));
    }
    for (const auto& [r, st] : status) {
      for (const auto& in : st.inbound) {
        bool none_pending = false;
        for (const auto& out : status[in.origin].outbound) {
          if (out.peer == r && out.pending == 0) none_pending = true;
        }
        if (!none_pending && in.applied_seq < (*heads)[in.origin]) {
          behind_ = absl::StrCat(r, " has applied ", in.origin, "'s log up to ", in.applied_seq,
                                 " of ", (*heads)[in.origin]);
          return false;
        }
      }
    }
    return true;
  }

  // For every table, every region holding a replica is up and holds the same items (item
  // contents, not stamps).
  absl::StatusOr<bool> Converged() {
    for (const auto& [name, t] : tables_) {
      std::optional<std::map<std::pair<std::string, std::string>, Item>> first;
      for (const auto& r : t.spec.replicas) {
        if (killed_.count(r) || paused_.count(r)) return false;
        ASSIGN_OR_RETURN(auto versions, d_->Dump(r, t.spec, false));
        std::map<std::pair<std::string, std::string>, Item> m;
        for (auto& v : versions) {
          if (v.item) m[{v.hk, v.rk}] = std::move(*v.item);
        }
        if (!first) {
          first = std::move(m);
        } else if (*first != m) {
          return false;
        }
      }
    }
    return true;
  }

  absl::Status FinalHeal() {
    // Undo every fault still scheduled to end, then whatever timeline steps left behind.
    while (!pending_.empty()) {
      auto fn = std::move(pending_.begin()->second);
      pending_.erase(pending_.begin());
      RETURN_IF_ERROR(fn());
    }
    {
      absl::MutexLock l(&mu_);
      for (auto& [r, d] : drift_) d = 0;
    }
    for (const auto& r : s_.regions) {
      if (paused_.count(r)) RETURN_IF_ERROR(Resume(r));
      if (killed_.count(r)) RETURN_IF_ERROR(Restart(r));
    }
    for (auto& [k, n] : blocks_) {
      if (n > 0) {
        n = 0;
        RETURN_IF_ERROR(d_->SetBlocked(k.first, k.second, false));
      }
    }
    CloseFaults("");
    Log("workloads stopped; final heal: every region running, every link restored");
    return absl::OkStatus();
  }

  absl::Status FinalHealAndCheck() {
    RETURN_IF_ERROR(FinalHeal());
    absl::Time healed = absl::Now();
    absl::Time deadline = healed + s_.settle;
    while (true) {
      RETURN_IF_ERROR(Interrupted());
      auto c = Converged();
      if (c.ok() && *c) {
        result_.converge_s = absl::ToDoubleSeconds(absl::Now() - healed);
        Log(absl::StrFormat("converged %.2fs after the heal", result_.converge_s));
        break;
      }
      if (absl::Now() > deadline) {
        Log(absl::StrCat("NOT converged within settle ", FormatScenarioDuration(s_.settle)));
        break;
      }
      absl::SleepFor(absl::Milliseconds(100));
    }
    return Check();
  }

  // Judges one table's final replicas (in the regions holding one) against its history.
  absl::Status CheckTable(const TableRun& t) {
    std::vector<ReplicaState> replicas;
    for (const auto& r : t.spec.replicas) {
      ASSIGN_OR_RETURN(auto versions, d_->Dump(r, t.spec, true));
      replicas.push_back({r, std::move(versions)});
    }
    for (const auto& e : s_.expectations) {
      if (e.kind == ExpectKind::kIndexMatches && e.table == t.spec.name)
        CheckIndex(t, e.index, replicas);
    }
    // Several tables: findings name theirs.
    const std::string prefix = tables_.size() > 1 ? t.spec.name + "/" : "";
    absl::MutexLock l(&mu_);
    History& history = history_[t.spec.name];
    // Writes that got no answer but committed anyway: the final state shows them. They join
    // the history with the stamp the replica holds, so they are judged like any other.
    std::set<int64_t> present;
    for (const auto& rs : replicas) {
      for (const auto& v : rs.versions) {
        auto it = v.item ? v.item->find(kWriteIdAttribute) : Item::const_iterator();
        if (!v.item || it == v.item->end() || it->second.type() != ValueType::kS) continue;
        int64_t id;
        if (!absl::SimpleAtoi(it->second.scalar().substr(1), &id) || present.count(id)) continue;
        auto u = unanswered_.find(id);
        if (u == unanswered_.end() || u->second.table != t.spec.name) continue;
        present.insert(id);
        AckedWrite w;
        w.id = id;
        w.kind = u->second.kind;
        w.region = u->second.region;
        w.key = u->second.key;
        w.key_text = u->second.key_text;
        w.true_us = u->second.true_us;
        w.result.stamp = v.stamp;
        w.result.new_item = *v.item;
        history.Record(std::move(w));
      }
    }
    // The gRPC API shows live items only: where the winning write of a key is a delete, an
    // absent item stands for its tombstone.
    std::map<std::pair<std::string, std::string>, const AckedWrite*> winners;
    for (const auto& w : history.writes()) {
      if (!w.Stored()) continue;
      std::string hk, rk;
      if (!TableEngine::EncodeKeyOf(t.spec, w.key, &hk, &rk).ok()) continue;
      const AckedWrite*& cur = winners[{hk, rk}];
      if (!cur || cur->result.stamp < w.result.stamp) cur = &w;
    }
    for (auto& rs : replicas) {
      std::set<std::pair<std::string, std::string>> live;
      for (const auto& v : rs.versions) live.insert({v.hk, v.rk});
      for (const auto& [k, w] : winners) {
        if (w->kind == WriteKind::kDelete && !live.count(k)) {
          rs.versions.push_back({k.first, k.second, w->result.stamp, std::nullopt});
        }
      }
    }
    CheckResult check = CheckAll(t.spec, history, replicas);
    for (const auto& v : check.violations) {
      result_.violations.push_back(
          RelativeStamps(prefix.empty() ? v : absl::StrCat("table ", t.spec.name, ": ", v),
                         absl::ToUnixMicros(start_)));
    }
    result_.acknowledged_writes += static_cast<int64_t>(history.size());
    for (const auto& [reason, n] : check.loss_counts)
      result_.loss_counts[LossReasonName(reason)] += n;
    std::map<int64_t, const AckedWrite*> by_id;
    for (const auto& w : history.writes()) by_id[w.id] = &w;
    for (const auto& c : check.classified) {
      std::string reason = LossReasonName(c.reason);
      if (!IsConflictReason(reason)) continue;
      const AckedWrite* w = by_id[c.write_id];
      result_.conflicts.push_back(
          {static_cast<double>(w->true_us - absl::ToUnixMicros(start_)) / 1e6, w->region,
           prefix + w->key_text, reason,
           RelativeStamps(c.explanation, absl::ToUnixMicros(start_))});
    }
    // Counters: the final value of every counter key, in the first replica.
    if (replicas.empty()) return absl::OkStatus();
    for (const auto& v : replicas.front().versions) {
      if (!v.item || !counter_keys_.count({t.spec.name, v.hk, v.rk})) continue;
      auto n = v.item->find("n");
      int64_t x = 0;
      if (n != v.item->end() && absl::SimpleAtoi(n->second.scalar(), &x))
        result_.final_counter_total += x;
    }
    return absl::OkStatus();
  }

  // The lost-write classifier, the counters and the index checks over the final replicas.
  absl::Status Check() {
    for (auto& [name, t] : tables_) RETURN_IF_ERROR(CheckTable(t));
    absl::MutexLock l(&mu_);
    result_.unanswered_writes = static_cast<int64_t>(unanswered_.size());
    result_.acked_increments = acked_increments_;
    std::vector<LockInterval> locks = lock_intervals_;
    result_.lock_acquisitions = static_cast<int64_t>(locks.size());
    result_.lock_overlaps = CountLockOverlaps(locks, &result_.lock_explanations);
    for (size_t i = 0; i < workloads_.size(); ++i) {
      auto& t = result_.workloads[i];
      const auto& w = *workloads_[i];
      t.attempted = w.attempted;
      t.ok = w.ok;
      t.failed = w.failed;
      t.conditional_failed = w.conditional_failed;
      t.acked_writes = w.acked_writes;
    }
    return absl::OkStatus();
  }

  // ------------------------------------------------------------------------------------------
  // Workloads

  std::string KeyText(const WorkloadSpec& w, int i, const char* infix = "") const {
    if (w.keys == 1 && !*infix) return w.key_prefix;
    return absl::StrCat(w.key_prefix, infix, i);
  }

  // The key of `table` standing for `text`: the hash key from the text, a range key (if the
  // table has one) always "0" of its type, so each key text is one item.
  static Item KeyItem(const TableRun& table, const std::string& text) {
    Item key{{table.spec.hash_key.name, KeyValue(table.spec.hash_key.type, text)}};
    if (table.spec.range_key)
      key[table.spec.range_key->name] = KeyValue(table.spec.range_key->type, "0");
    return key;
  }
  // "attribute_not_exists(hash key)": the item is absent in the region written.
  static Condition Absent(const TableRun& table) {
    Condition c;
    c.clauses.push_back({table.spec.hash_key.name, Condition::Op::kNotExists, {}});
    return c;
  }

  void Record(WorkloadState* w, WriteKind kind, const std::string& region, const Item& key,
              const std::string& key_text, int64_t id, const WriteResult& result) {
    AckedWrite a;
    a.id = id;
    a.kind = kind;
    a.region = region;
    a.key = key;
    a.key_text = key_text;
    a.result = result;
    ++w->acked_writes;
    absl::MutexLock l(&mu_);
    a.skew_us = skew_[region];
    // The region's clock is the machine's clock plus its skew: the stamp minus the skew is when
    // the write committed in true time.
    a.true_us = result.stamp.ts_us - a.skew_us;
    history_[w->table->spec.name].Record(std::move(a));
  }

  void Unanswered(WorkloadState* w, WriteKind kind, const std::string& region, const Item& key,
                  const std::string& key_text, int64_t id) {
    absl::MutexLock l(&mu_);
    unanswered_[id] = {
        kind, w->table->spec.name, region, key_text, key, absl::ToUnixMicros(absl::Now())};
  }

  // Counts one operation's outcome. A write that got no answer may still have committed.
  void Outcome(WorkloadState* w, const absl::Status& s) {
    ++w->attempted;
    if (s.ok()) {
      ++w->ok;
    } else if (absl::IsFailedPrecondition(s)) {
      ++w->conditional_failed;
    } else {
      ++w->failed;
    }
  }

  // One write: on success it joins the history, on no answer it is remembered as unanswered.
  absl::StatusOr<WriteResult> Write(WorkloadState* w, WriteKind kind, const std::string& region,
                                    const std::string& key_text, int64_t id,
                                    const std::function<absl::StatusOr<WriteResult>()>& call) {
    Item key = KeyItem(*w->table, key_text);
    auto r = call();
    Outcome(w, r.status());
    if (r.ok()) {
      Record(w, kind, region, key, key_text, id, *r);
    } else if (Uncertain(r.status())) {
      Unanswered(w, kind, region, key, key_text, id);
    }
    return r;
  }

  // A written item's attributes: its write id, the padding and `grp` (a group of keys, "g0" to
  // "g9" by key index: an attribute to index, see README "Scenarios").
  Item Padded(const WorkloadSpec& spec, int64_t id, int key_index) const {
    Item it{{kWriteIdAttribute, AttributeValue::S(absl::StrCat("w", id))},
            {"grp", AttributeValue::S(absl::StrCat("g", key_index % 10))}};
    if (spec.item_size > 0) it["v"] = AttributeValue::S(std::string(spec.item_size, 'x'));
    return it;
  }

  void Increment(WorkloadState* w, const std::string& region, const std::string& key_text) {
    const TableRun& t = *w->table;
    Item key = KeyItem(t, key_text);
    auto got = d_->Get(region, t.spec.name, key, o_.op_timeout);
    if (!got.ok()) {
      Outcome(w, got.status());
      return;
    }
    int64_t old = 0;
    Condition cond;
    if (got->item) {
      auto n = got->item->find("n");
      if (n != got->item->end()) absl::SimpleAtoi(n->second.scalar(), &old);
      cond.clauses.push_back({"n", Condition::Op::kEquals,
                              n != got->item->end() ? n->second : AttributeValue::N("0")});
      if (n == got->item->end()) cond.clauses.back() = {"n", Condition::Op::kNotExists, {}};
    } else {
      cond = Absent(t);
    }
    int64_t id = ++next_id_;
    Item set{{kWriteIdAttribute, AttributeValue::S(absl::StrCat("w", id))},
             {"n", AttributeValue::N(std::to_string(old + 1))}};
    {
      std::string hk, rk;
      if (TableEngine::EncodeKeyOf(t.spec, key, &hk, &rk).ok()) {
        absl::MutexLock l(&mu_);
        counter_keys_.insert({t.spec.name, hk, rk});
      }
    }
    auto r = Write(w, WriteKind::kUpdate, region, key_text, id,
                   [&] { return d_->Update(region, t.spec.name, key, set, cond, o_.op_timeout); });
    if (r.ok()) {
      absl::MutexLock l(&mu_);
      ++acked_increments_;
    }
  }

  void LockOnce(WorkloadState* w, const std::string& region, const std::string& key_text) {
    const TableRun& t = *w->table;
    int64_t id = ++next_id_;
    Item item = KeyItem(t, key_text);
    item[kWriteIdAttribute] = AttributeValue::S(absl::StrCat("w", id));
    item["holder"] = AttributeValue::S(region);
    Condition cond = Absent(t);
    auto r = Write(w, WriteKind::kConditionalPut, region, key_text, id,
                   [&] { return d_->Put(region, t.spec.name, item, cond, o_.op_timeout); });
    if (!r.ok()) return;
    double acquired = Elapsed();
    absl::Time until = absl::Now() + w->spec.hold;
    while (absl::Now() < until && !stop_workloads_) absl::SleepFor(absl::Milliseconds(10));
    // Release: delete the lock only if this region still holds it here.
    Condition mine;
    mine.clauses.push_back({"holder", Condition::Op::kEquals, AttributeValue::S(region)});
    int64_t del_id = ++next_id_;
    Write(w, WriteKind::kDelete, region, key_text, del_id, [&] {
      return d_->Delete(region, t.spec.name, KeyItem(t, key_text), mine, o_.op_timeout);
    }).IgnoreError();
    absl::MutexLock l(&mu_);
    lock_intervals_.push_back({region, acquired, Elapsed()});
  }

  void MixedOnce(WorkloadState* w, std::mt19937_64& rng, const KeyPicker& keys,
                 const std::string& region) {
    const OpMix& m = w->spec.mix;
    double u = std::uniform_real_distribution<double>(0, m.total())(rng);
    int k = keys.Pick(rng);
    std::string key_text = KeyText(w->spec, k);
    const TableRun& t = *w->table;
    const std::string& table = t.spec.name;
    Item key = KeyItem(t, key_text);
    int64_t id = ++next_id_;
    auto pick = [&u](double weight) {
      if (u < weight) return true;
      u -= weight;
      return false;
    };
    if (pick(m.put)) {
      Item item = Padded(w->spec, id, k);
      item.insert(key.begin(), key.end());
      Write(w, WriteKind::kPut, region, key_text, id, [&] {
        return d_->Put(region, table, item, Condition{}, o_.op_timeout);
      }).IgnoreError();
    } else if (pick(m.update)) {
      // Each region sets its own attribute: whole-item LWW keeps only one region's change.
      Item set = Padded(w->spec, id, k);
      std::string attr = "by_" + region;
      std::replace(attr.begin(), attr.end(), '-', '_');
      set[attr] = AttributeValue::S(absl::StrCat("w", id));
      Write(w, WriteKind::kUpdate, region, key_text, id, [&] {
        return d_->Update(region, table, key, set, Condition{}, o_.op_timeout);
      }).IgnoreError();
    } else if (pick(m.del)) {
      Write(w, WriteKind::kDelete, region, key_text, id, [&] {
        return d_->Delete(region, table, key, Condition{}, o_.op_timeout);
      }).IgnoreError();
    } else if (pick(m.conditional_put)) {
      Item item = Padded(w->spec, id, k);
      item.insert(key.begin(), key.end());
      Condition cond = Absent(t);
      Write(w, WriteKind::kConditionalPut, region, key_text, id, [&] {
        return d_->Put(region, table, item, cond, o_.op_timeout);
      }).IgnoreError();
    } else if (pick(m.read) || pick(m.consistent_read)) {
      Outcome(w, d_->Get(region, table, key, o_.op_timeout).status());
    } else {
      Increment(w, region, KeyText(w->spec, k, "-ctr"));
    }
  }

  void RunWorkload(WorkloadState* w) {
    std::mt19937_64 rng(s_.seed * 1000003 + static_cast<uint64_t>(w->index) * 7919 + 1);
    int home = static_cast<int>(std::find(s_.regions.begin(), s_.regions.end(), w->spec.region) -
                                s_.regions.begin());
    KeyPicker keys(w->spec, home, static_cast<int>(s_.regions.size()));
    absl::Duration interval = absl::Seconds(1.0 / w->spec.rate);
    absl::Time next = absl::Now();
    while (!stop_workloads_) {
      if (!w->running) {
        absl::SleepFor(absl::Milliseconds(20));
        next = absl::Now();
        continue;
      }
      absl::Time now = absl::Now();
      if (now < next) {
        absl::SleepFor(std::min(next - now, absl::Milliseconds(20)));
        continue;
      }
      // Lock clients try at random moments (Poisson arrivals), so their attempts are not in
      // phase; the other workloads keep a steady rate.
      next += w->spec.kind == WorkloadKind::kLock
                  ? absl::Seconds(std::exponential_distribution<double>(w->spec.rate)(rng))
                  : interval;
      if (now - next > absl::Seconds(1)) next = now;  // fell behind (a region hung): skip ahead
      std::string region;
      {
        absl::MutexLock l(&mu_);
        region = regions_[w->spec.name];
      }
      switch (w->spec.kind) {
        case WorkloadKind::kMixed:
          MixedOnce(w, rng, keys, region);
          break;
        case WorkloadKind::kCounter:
          Increment(w, region, KeyText(w->spec, keys.Pick(rng)));
          break;
        case WorkloadKind::kLock:
          LockOnce(w, region, KeyText(w->spec, keys.Pick(rng)));
          break;
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Measurements and the live view

  // Once a second per region, while the workloads run: write a heartbeat there; every other
  // region's reader polls for it until it sees it (that seq or a later one), for as long as the
  // run lasts - through the final heal - so a heartbeat delayed by a fault is reported with its
  // full lag when it arrives. One never seen counts with its age at the end, marked censored.
  // What a client sees, to compare with ReplicationLatency.
  void Heartbeats() {
    struct Waiting {
      double t;
      absl::Time written;
      int64_t seq;
    };
    std::map<std::pair<std::string, std::string>, std::deque<Waiting>> waiting;  // (from, to)
    auto record = [&](const std::string& from, const std::string& to, const Waiting& w,
                      bool censored) {
      absl::MutexLock l(&mu_);
      result_.heartbeats.push_back(
          {w.t, from, to, absl::ToDoubleMilliseconds(absl::Now() - w.written), censored});
    };
    int64_t seq = 0;
    absl::Time next_round = absl::Now();
    while (!stop_heartbeats_) {
      const bool writing = !stop_workloads_;
      bool any_waiting = false;
      for (const auto& [pair, q] : waiting) any_waiting |= !q.empty();
      if (!writing && !any_waiting) break;
      if (writing && absl::Now() >= next_round) {
        next_round = std::max(next_round + absl::Seconds(1), absl::Now());
        for (const auto& from : s_.regions) {
          ++seq;
          Item item{{"id", AttributeValue::S("hb-" + from)},
                    {"seq", AttributeValue::N(std::to_string(seq))}};
          Waiting w{Elapsed(), absl::Now(), seq};
          if (!d_->Put(from, hb_spec_.name, item, Condition{}, absl::Milliseconds(300)).ok())
            continue;
          for (const auto& to : s_.regions) {
            if (to != from) waiting[{from, to}].push_back(w);
          }
        }
      }
      for (auto& [pair, q] : waiting) {
        if (q.empty() || stop_heartbeats_) continue;
        const auto& [from, to] = pair;
        auto got = d_->Get(to, hb_spec_.name, {{"id", AttributeValue::S("hb-" + from)}},
                           absl::Milliseconds(100));
        int64_t seen = 0;
        if (got.ok() && got->item) {
          auto n = got->item->find("seq");
          if (n != got->item->end()) absl::SimpleAtoi(n->second.scalar(), &seen);
        }
        // A later heartbeat seen means every earlier one of this pair has arrived too.
        while (!q.empty() && q.front().seq <= seen) {
          record(from, to, q.front(), false);
          q.pop_front();
        }
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
    for (const auto& [pair, q] : waiting) {
      for (const auto& w : q) record(pair.first, pair.second, w, true);
    }
    absl::MutexLock l(&mu_);
    std::stable_sort(result_.heartbeats.begin(), result_.heartbeats.end(),
                     [](const HeartbeatSample& a, const HeartbeatSample& b) { return a.t < b.t; });
  }

  void Sample() {
    absl::Time next = absl::Now() + absl::Seconds(1);
    while (!stop_sampler_) {
      if (absl::Now() < next) {
        absl::SleepFor(absl::Milliseconds(20));
        continue;
      }
      next += absl::Seconds(1);
      double t = Elapsed();
      int64_t ops = 0;
      std::vector<ThroughputSample> tp;
      for (auto& w : workloads_) {
        ThroughputSample s;
        s.t = t;
        s.workload = w->spec.name;
        {
          absl::MutexLock l(&mu_);
          s.region = regions_[w->spec.name];
        }
        int64_t ok = w->ok, failed = w->failed, cond = w->conditional_failed;
        s.ok = ok - w->last_ok;
        s.failed = failed - w->last_failed;
        s.conditional_failed = cond - w->last_cond;
        w->last_ok = ok;
        w->last_failed = failed;
        w->last_cond = cond;
        ops += s.ok + s.conditional_failed;
        tp.push_back(s);
      }
      // Metrics from every region that answers quickly (killed or paused ones do not).
      std::vector<LagSample> lag;
      std::map<std::pair<std::string, std::string>, int64_t> pending;
      std::map<std::pair<std::string, std::string>, double> staleness;
      for (const auto& r : s_.regions) {
        auto st = d_->Status(r, absl::Milliseconds(300));
        if (!st.ok()) continue;
        for (const auto& in : st->inbound) {
          LagSample s;
          s.t = t;
          s.from = in.origin;
          s.to = r;
          s.p50_ms = in.latency.p50_ms;
          s.p90_ms = in.latency.p90_ms;
          s.p99_ms = in.latency.p99_ms;
          s.max_ms = in.latency.max_ms;
          s.samples = in.latency.samples;
          s.p99_1s_ms = in.latency_1s.p99_ms;
          s.samples_1s = in.latency_1s.samples;
          lag.push_back(s);
        }
        for (const auto& out : st->outbound) {
          pending[{r, out.peer}] = out.pending;
          staleness[{r, out.peer}] = out.lag.freshness.staleness_us / 1000.0;
        }
      }
      double worst = 0, worst_stale = 0;
      std::string worst_pair, stale_pair;
      int64_t pending_total = 0;
      for (auto& s : lag) {
        auto it = pending.find({s.from, s.to});
        if (it != pending.end()) {
          s.pending = it->second;
          pending_total += std::max<int64_t>(0, it->second);
        }
        if (auto st = staleness.find({s.from, s.to}); st != staleness.end()) {
          s.staleness_ms = st->second;
          if (st->second > worst_stale) {
            worst_stale = st->second;
            stale_pair = s.from + "->" + s.to;
          }
        }
        if (s.samples > 0 && s.p99_ms > worst) {
          worst = s.p99_ms;
          worst_pair = s.from + "->" + s.to;
        }
      }
      std::vector<std::string> active;
      {
        absl::MutexLock l(&mu_);
        result_.throughput.insert(result_.throughput.end(), tp.begin(), tp.end());
        result_.lag.insert(result_.lag.end(), lag.begin(), lag.end());
        for (const auto& f : result_.faults) {
          if (f.end < 0) active.push_back(f.text);
        }
      }
      if (o_.live) {
        double total = absl::ToDoubleSeconds(s_.duration);
        std::string line = absl::StrFormat(
            "%5.0fs/%.0fs%s  %4d ops/s  lag p99 %s  stale %s  pending %d  faults: %s", t, total,
            t > total + 1 ? " (healed, waiting for convergence)" : "", ops,
            worst_pair.empty() ? "-" : absl::StrFormat("%.0f ms (%s)", worst, worst_pair),
            stale_pair.empty() ? "0" : absl::StrFormat("%.0f ms (%s)", worst_stale, stale_pair),
            pending_total, active.empty() ? "none" : absl::StrJoin(active, ", "));
        if (live_tty_) {
          std::fprintf(stderr, "\r\033[K%s", line.c_str());
        } else if (static_cast<int64_t>(t) % 5 == 0) {
          std::fprintf(stderr, "  %s\n", line.c_str());
        }
      }
    }
  }

  const Scenario& s_;
  Driver* d_;
  RunOptions o_;
  std::vector<TableDef> defs_;              // the scenario's tables, in order
  std::map<std::string, TableRun> tables_;  // by name; fixed set, built at construction
  std::mt19937_64 rng_;                     // random fault targets
  bool live_tty_;
  absl::Time start_;
  absl::Time last_drift_;

  // Timeline-thread state.
  std::multimap<absl::Time, std::function<absl::Status()>> pending_;
  std::map<std::pair<std::string, std::string>, int> blocks_;  // (origin, receiver) -> cuts
  std::map<std::pair<std::string, std::string>, LinkDelay> links_;
  std::set<std::string> killed_, paused_;
  std::string behind_;  // the last lagging pair CaughtUp saw

  std::vector<std::unique_ptr<WorkloadState>> workloads_;
  std::thread sampler_, heartbeat_;
  TableSpec hb_spec_;
  std::atomic<bool> stop_workloads_{false}, stop_sampler_{false}, stop_heartbeats_{false};
  std::atomic<int64_t> next_id_{0};

  absl::Mutex mu_;
  RunResult result_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> fault_keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> regions_ ABSL_GUARDED_BY(mu_);  // workload -> region
  std::map<std::string, int64_t> skew_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, double> drift_ ABSL_GUARDED_BY(mu_);     // us per second
  std::map<std::string, History> history_ ABSL_GUARDED_BY(mu_);  // by table
  std::map<int64_t, UnansweredWrite> unanswered_ ABSL_GUARDED_BY(mu_);
  // Counter items: (table, encoded hash key, encoded range key).
  std::set<std::tuple<std::string, std::string, std::string>> counter_keys_ ABSL_GUARDED_BY(mu_);
  int64_t acked_increments_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<LockInterval> lock_intervals_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<RunResult> RunScenario(const Scenario& scenario, Driver* driver,
                                      const RunOptions& options) {
  Runner runner(scenario, driver, options);
  return runner.Run();
}

}  // namespace gtsim::scenario
