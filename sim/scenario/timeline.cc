#include "sim/scenario/timeline.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "model/clock.h"
#include "model/status_macros.h"
#include "sim/scenario/final_checks.h"

namespace gtsim::scenario {
namespace {

UpdateTableRequest IndexRequest(const std::string& table, const IndexSpec& x) {
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

UpdateTableRequest ReplicaRequest(const std::string& table, ReplicaUpdate::Action kind,
                                  const std::string& region) {
  UpdateTableRequest req;
  req.table = table;
  req.replica_updates.push_back({kind, region});
  return req;
}

}  // namespace

Timeline::Timeline(RunState* state, Workloads* workloads)
    : state_(state),
      workloads_(workloads),
      s_(state->scenario()),
      d_(state->driver()),
      rng_(state->scenario().seed) {}

// ---------------------------------------------------------------------------------------------
// Running the steps

absl::Status Timeline::Run(absl::Time end) {
  last_drift_ = absl::Now();
  const absl::Time start = state_->start();
  // Recurring faults run in the background from the start.
  for (const auto& st : s_.steps) {
    if (!st.every) continue;
    for (absl::Duration t = *st.at; t < st.until; t += *st.every) {
      const Step* step = &st;
      pending_.emplace(start + t, [this, step] { return Apply(*step); });
    }
  }
  for (const auto& st : s_.steps) {
    if (st.every) continue;
    if (st.at) RETURN_IF_ERROR(WaitUntil(start + *st.at));
    RETURN_IF_ERROR(Apply(st));
    auto wait = StepKindOf(st.action.kind).wait;
    if (wait) RETURN_IF_ERROR((this->*wait)(st.action));
  }
  return WaitUntil(end);
}

absl::Status Timeline::Apply(const Step& st) {
  StepRun run;
  run.region = st.action.region;
  if (run.region == "random") {
    run.region = PickRandom();
    if (run.region.empty()) {
      state_->Log(absl::StrCat("skipped ", st.Describe(), ": no region left to pick"));
      return absl::OkStatus();
    }
  }
  run.desc = st.Describe();
  if (st.action.region == "random") run.desc = absl::StrCat(run.desc, " -> ", run.region);
  RETURN_IF_ERROR((this->*StepKindOf(st.action.kind).run)(st.action, &run));
  if (run.skipped) return absl::OkStatus();
  state_->Log(st.note.empty() ? run.desc : absl::StrCat(run.desc, " (", st.note, ")"));
  if (st.for_duration && run.undo) {
    absl::Time at = absl::Now() + *st.for_duration;
    pending_.emplace(at,
                     [this, undo = run.undo, fault = run.fault, what = run.desc]() -> absl::Status {
                       RETURN_IF_ERROR(undo());
                       if (fault >= 0) state_->CloseFault(fault);
                       state_->Log("undone: " + what);
                       return absl::OkStatus();
                     });
  }
  return absl::OkStatus();
}

absl::Status Timeline::RunDue() {
  RETURN_IF_ERROR(state_->Interrupted());
  while (!pending_.empty() && pending_.begin()->first <= absl::Now()) {
    auto fn = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    RETURN_IF_ERROR(fn());
  }
  absl::Time now = absl::Now();
  if (now - last_drift_ >= absl::Milliseconds(200)) {
    double dt = absl::ToDoubleSeconds(now - last_drift_);
    last_drift_ = now;
    for (const auto& [r, per_s] : std::map<std::string, double>(drift_)) {
      if (per_s != 0) {
        RETURN_IF_ERROR(SetSkew(r, state_->Skew(r) + static_cast<int64_t>(per_s * dt)));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status Timeline::WaitUntil(absl::Time t) {
  while (absl::Now() < t) {
    RETURN_IF_ERROR(RunDue());
    absl::Time next = t;
    if (!pending_.empty()) next = std::min(next, pending_.begin()->first);
    absl::SleepFor(std::clamp(next - absl::Now(), absl::ZeroDuration(), absl::Milliseconds(50)));
  }
  return RunDue();
}

absl::Status Timeline::FinalHeal() {
  // Undo every fault still scheduled to end, then whatever timeline steps left behind.
  while (!pending_.empty()) {
    auto fn = std::move(pending_.begin()->second);
    pending_.erase(pending_.begin());
    RETURN_IF_ERROR(fn());
  }
  for (auto& [r, d] : drift_) d = 0;
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
  state_->CloseFaults("");
  state_->Log("workloads stopped; final heal: every region running, every link restored");
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Faults

absl::Status Timeline::Block(const std::string& origin, const std::string& receiver, int delta) {
  int& n = blocks_[{origin, receiver}];
  int before = n;
  n = std::max(0, n + delta);
  if ((before == 0) != (n == 0)) return d_->SetBlocked(origin, receiver, n > 0);
  return absl::OkStatus();
}

absl::Status Timeline::ApplyNetwork(const NetworkSpec& net) {
  std::map<std::pair<std::string, std::string>, LinkDelay> want;
  for (const auto& l : net.links) want[{l.from, l.to}] = l.model;
  for (const auto& a : s_.regions) {
    for (const auto& b : s_.regions) {
      if (a == b) continue;
      LinkDelay m = want.count({a, b}) ? want[{a, b}] : LinkDelay{};
      if (links_[{a, b}] == m) continue;
      links_[{a, b}] = m;
      if (Down(b)) continue;  // given at restart by the driver
      RETURN_IF_ERROR(d_->SetLink(a, b, m));
    }
  }
  return absl::OkStatus();
}

absl::Status Timeline::SetSkew(const std::string& r, int64_t us) {
  if (us > kMaxClockSkewUs || us < -kMaxClockSkewUs) {
    return absl::InvalidArgumentError(
        absl::StrCat("clock ", r, " would be ", FormatScenarioDuration(absl::Microseconds(us)),
                     " off true time; gtsim allows at most ",
                     FormatScenarioDuration(absl::Microseconds(kMaxClockSkewUs)),
                     " either way (jumps and drift add up: lower them or set a skew back)"));
  }
  state_->RecordSkew(r, us);
  if (Down(r)) return absl::OkStatus();  // given at restart
  return d_->SetClockSkew(r, us);
}

// Regions a random fault may hit: not killed or paused.
std::string Timeline::PickRandom() {
  std::vector<std::string> healthy;
  for (const auto& r : s_.regions) {
    if (!Down(r)) healthy.push_back(r);
  }
  if (healthy.size() < 2) return "";  // never take down the last healthy region
  return healthy[std::uniform_int_distribution<size_t>(0, healthy.size() - 1)(rng_)];
}

absl::Status Timeline::Restart(const std::string& r) {
  if (paused_.count(r)) RETURN_IF_ERROR(Resume(r));
  RETURN_IF_ERROR(d_->Restart(r));
  killed_.erase(r);
  state_->CloseFaults("kill:" + r);
  RETURN_IF_ERROR(Reassert(r));
  state_->Log("restarted " + r);
  return absl::OkStatus();
}

absl::Status Timeline::Resume(const std::string& r) {
  if (!paused_.count(r)) return absl::OkStatus();
  RETURN_IF_ERROR(d_->Resume(r));
  paused_.erase(r);
  state_->CloseFaults("pause:" + r);
  return Reassert(r);
}

absl::Status Timeline::Reassert(const std::string& r) {
  RETURN_IF_ERROR(d_->SetClockSkew(r, state_->Skew(r)));
  for (const auto& o : s_.regions) {
    if (o == r) continue;
    RETURN_IF_ERROR(d_->SetBlocked(o, r, blocks_[{o, r}] > 0));
    RETURN_IF_ERROR(d_->SetLink(o, r, links_[{o, r}]));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// The step kinds

absl::Status Timeline::RunStartWorkload(const Action& a, StepRun*) {
  workloads_->SetRunning(a.workload, true);
  return absl::OkStatus();
}

absl::Status Timeline::RunStopWorkload(const Action& a, StepRun*) {
  workloads_->SetRunning(a.workload, false);
  return absl::OkStatus();
}

absl::Status Timeline::RunMoveWorkload(const Action& a, StepRun* run) {
  state_->MoveWorkload(a.workload, run->region);
  return absl::OkStatus();
}

bool Timeline::SkipDown(StepRun* run) {
  if (!Down(run->region)) return false;
  state_->Log(absl::StrCat("skipped ", run->desc, ": ", run->region, " is already down"));
  run->skipped = true;
  return true;
}

absl::Status Timeline::RunKill(const Action&, StepRun* run) {
  const std::string r = run->region;
  if (SkipDown(run)) return absl::OkStatus();
  RETURN_IF_ERROR(d_->Kill(r));
  killed_.insert(r);
  run->fault = state_->OpenFault("kill:" + r, "kill -9 " + r);
  run->undo = [this, r] { return Restart(r); };
  return absl::OkStatus();
}

absl::Status Timeline::RunRestart(const Action&, StepRun* run) { return Restart(run->region); }

absl::Status Timeline::RunPause(const Action&, StepRun* run) {
  const std::string r = run->region;
  if (SkipDown(run)) return absl::OkStatus();
  RETURN_IF_ERROR(d_->Pause(r));
  paused_.insert(r);
  run->fault = state_->OpenFault("pause:" + r, "SIGSTOP " + r);
  run->undo = [this, r] { return Resume(r); };
  return absl::OkStatus();
}

absl::Status Timeline::RunResume(const Action&, StepRun* run) { return Resume(run->region); }

absl::Status Timeline::RunPartition(const Action& a, StepRun* run) {
  std::vector<std::pair<std::string, std::string>> blocks = a.blocks;
  std::string text = a.partition_text;
  if (a.region == "random") {  // isolate a random region
    const std::string& r = run->region;
    blocks.clear();
    for (const auto& o : s_.regions) {
      if (o == r) continue;
      blocks.push_back({o, r});
      blocks.push_back({r, o});
    }
    text = "isolate " + r;
  }
  for (const auto& [o, rc] : blocks) RETURN_IF_ERROR(Block(o, rc, +1));
  run->fault = state_->OpenFault("partition:", "partition: " + text);
  run->undo = [this, blocks] {
    for (const auto& [o, rc] : blocks) RETURN_IF_ERROR(Block(o, rc, -1));
    return absl::OkStatus();
  };
  return absl::OkStatus();
}

absl::Status Timeline::RunHeal(const Action&, StepRun*) {
  for (auto& [k, n] : blocks_) {
    if (n > 0) {
      n = 0;
      RETURN_IF_ERROR(d_->SetBlocked(k.first, k.second, false));
    }
  }
  state_->CloseFaults("partition:");
  state_->CloseFaults("repl:");
  return absl::OkStatus();
}

absl::Status Timeline::RunPauseReplication(const Action&, StepRun* run) {
  const std::string r = run->region;
  for (const auto& o : s_.regions) {
    if (o != r) RETURN_IF_ERROR(Block(o, r, +1));
  }
  run->fault = state_->OpenFault("repl:" + r, "replication into " + r + " paused");
  run->undo = [this, r] {
    for (const auto& o : s_.regions) {
      if (o != r) RETURN_IF_ERROR(Block(o, r, -1));
    }
    return absl::OkStatus();
  };
  return absl::OkStatus();
}

absl::Status Timeline::RunResumeReplication(const Action&, StepRun* run) {
  const std::string& r = run->region;
  for (const auto& o : s_.regions) {
    if (o == r || blocks_[{o, r}] == 0) continue;
    blocks_[{o, r}] = 0;
    RETURN_IF_ERROR(d_->SetBlocked(o, r, false));
  }
  state_->CloseFaults("repl:" + r);
  return absl::OkStatus();
}

absl::Status Timeline::RunClockSkew(const Action& a, StepRun* run) {
  const std::string r = run->region;
  int64_t before = state_->Skew(r), us = absl::ToInt64Microseconds(a.amount);
  RETURN_IF_ERROR(SetSkew(r, us));
  state_->CloseFaults("clock:" + r);
  if (us != 0) {
    run->fault = state_->OpenFault("clock:" + r, absl::StrCat("clock ", r, " ", us > 0 ? "+" : "",
                                                              FormatScenarioDuration(a.amount)));
  }
  run->undo = [this, r, before] { return SetSkew(r, before); };
  return absl::OkStatus();
}

absl::Status Timeline::RunClockJump(const Action& a, StepRun* run) {
  const std::string r = run->region;
  int64_t us = absl::ToInt64Microseconds(a.amount);
  RETURN_IF_ERROR(SetSkew(r, state_->Skew(r) + us));
  run->fault = state_->OpenFault(
      "clock:" + r,
      absl::StrCat("clock ", r, " jumps ", us > 0 ? "+" : "", FormatScenarioDuration(a.amount)));
  run->undo = [this, r, us] { return SetSkew(r, state_->Skew(r) - us); };
  return absl::OkStatus();
}

absl::Status Timeline::RunClockDrift(const Action& a, StepRun* run) {
  const std::string r = run->region;
  double per_s = absl::ToDoubleMicroseconds(a.amount);
  drift_[r] = per_s;
  state_->CloseFaults("drift:" + r);
  if (per_s != 0) {
    run->fault = state_->OpenFault(
        "drift:" + r,
        absl::StrCat("clock ", r, " drifts ", FormatScenarioDuration(a.amount), "/s"));
  }
  run->undo = [this, r] {
    drift_[r] = 0;
    return absl::OkStatus();
  };
  return absl::OkStatus();
}

absl::Status Timeline::RunNetwork(const Action& a, StepRun*) {
  state_->CloseFaults("link:");
  RETURN_IF_ERROR(ApplyNetwork(a.network));
  state_->WithResult(
      [&](RunResult& r) { r.network = absl::StrCat(r.network, " -> ", a.network.description); });
  return absl::OkStatus();
}

absl::Status Timeline::RunLink(const Action& a, StepRun* run) {
  const std::string key = "link:" + a.link.from + ">" + a.link.to;
  state_->CloseFaults(key);
  if (!a.link.model.none()) state_->OpenFault(key, run->desc);
  links_[{a.link.from, a.link.to}] = a.link.model;
  if (!Down(a.link.to)) RETURN_IF_ERROR(d_->SetLink(a.link.from, a.link.to, a.link.model));
  return absl::OkStatus();
}

absl::Status Timeline::RunAddReplica(const Action& a, StepRun* run) {
  RETURN_IF_ERROR(
      UpdateVia(a, ReplicaRequest(a.table, ReplicaUpdate::Action::kCreate, a.region), run));
  TableRun& t = state_->tables().at(a.table);
  t.spec.replicas.push_back(a.region);
  std::sort(t.spec.replicas.begin(), t.spec.replicas.end());
  // Shaded in the report until a wait sees it ACTIVE (or the run ends).
  state_->OpenFault(absl::StrCat("bootstrap:", a.table, ":", a.region),
                    absl::StrCat("replica of ", a.table, " in ", a.region, " bootstrapping"));
  return absl::OkStatus();
}

absl::Status Timeline::RunRemoveReplica(const Action& a, StepRun* run) {
  RETURN_IF_ERROR(
      UpdateVia(a, ReplicaRequest(a.table, ReplicaUpdate::Action::kDelete, a.region), run));
  TableRun& t = state_->tables().at(a.table);
  t.spec.replicas.erase(std::find(t.spec.replicas.begin(), t.spec.replicas.end(), a.region));
  return absl::OkStatus();
}

absl::Status Timeline::RunCreateIndex(const Action& a, StepRun* run) {
  RETURN_IF_ERROR(UpdateVia(a, IndexRequest(a.table, a.new_index), run));
  state_->tables().at(a.table).indexes[a.index] = a.new_index;
  return absl::OkStatus();
}

absl::Status Timeline::RunDeleteIndex(const Action& a, StepRun* run) {
  UpdateTableRequest req;
  req.table = a.table;
  req.delete_gsi = a.index;
  RETURN_IF_ERROR(UpdateVia(a, req, run));
  state_->tables().at(a.table).indexes.erase(a.index);
  return absl::OkStatus();
}

absl::Status Timeline::RunTableSettings(const Action& a, StepRun* run) {
  UpdateTableRequest req;
  req.table = a.table;
  const SettingsChange& c = a.settings;
  req.billing_mode = c.billing;
  req.write_capacity = c.wcu;
  req.read_capacity = c.rcu;
  if (c.ttl_attribute) {
    req.ttl_enabled = !c.ttl_attribute->empty();
    if (!c.ttl_attribute->empty()) req.ttl_attribute = c.ttl_attribute;
  }
  req.sse_type = c.sse;
  return UpdateVia(a, req, run);
}

absl::Status Timeline::RunWipe(const Action&, StepRun* run) {
  state_->Log(run->desc);
  RETURN_IF_ERROR(Wipe(run->region));
  run->desc = absl::StrCat(run->region,
                           " restarted empty; its replicas are being re-added (snapshot "
                           "bootstrap)");
  return absl::OkStatus();
}

absl::Status Timeline::RunNothing(const Action&, StepRun*) { return absl::OkStatus(); }

absl::Status Timeline::WaitFor(const Action& a) { return WaitUntil(absl::Now() + a.amount); }

absl::Status Timeline::WaitConverged(const Action& a) {
  return WaitUntilDone(
      a, "converged", [this] { return Converged(); }, false);
}

absl::Status Timeline::WaitCaughtUp(const Action& a) {
  std::map<std::string, int64_t> heads;  // each origin's log head at the start
  return WaitUntilDone(
      a, "caught up", [&] { return CaughtUp(&heads, &behind_); }, false,
      [this] { return ": " + behind_; });
}

absl::Status Timeline::WaitReplicaActive(const Action& a) {
  return WaitUntilDone(
      a, absl::StrCat(a.region, "'s replica of ", a.table, " ACTIVE in every replica"),
      [&] { return ReplicaActive(state_->table(a.table), a.region); }, true, nullptr,
      [&] { state_->CloseFaults(absl::StrCat("bootstrap:", a.table, ":", a.region)); });
}

absl::Status Timeline::WaitIndexActive(const Action& a) {
  std::set<std::string> active;  // regions seen ACTIVE
  absl::Time began = absl::Now();
  return WaitUntilDone(
      a, absl::StrCat("index ", a.index, " of ", a.table, " ACTIVE in every replica"),
      [&] { return IndexActive(state_->table(a.table), a.index, &active, began, true); }, true);
}

absl::Status Timeline::WaitUntilDone(const Action& a, const std::string& what,
                                     const std::function<absl::StatusOr<bool>()>& check, bool fine,
                                     const std::function<std::string()>& why_not,
                                     const std::function<void()>& on_done) {
  absl::Time deadline = absl::Now() + a.amount;
  absl::Time began = absl::Now();
  bool done = false;
  while (absl::Now() < deadline) {
    RETURN_IF_ERROR(RunDue());
    auto c = check();
    if (c.ok() && *c) {
      done = true;
      break;
    }
    // Table statuses are cheap to poll, and finely, to show when each region got there.
    absl::SleepFor(absl::Milliseconds(fine ? 20 : 100));
  }
  if (done && on_done) on_done();
  state_->Log(
      done ? absl::StrFormat("%s after %.1fs", what, absl::ToDoubleSeconds(absl::Now() - began))
           : absl::StrCat("NOT ", what, " within ", FormatScenarioDuration(a.amount),
                          why_not ? why_not() : "", " (the timeline goes on)"));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------
// Tables and replicas

absl::Status Timeline::CreateTable(const TableDef& def) {
  TableRun& t = state_->tables().at(def.name);
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
      RETURN_IF_ERROR(state_->Interrupted());
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

absl::Status Timeline::UpdateWithRetry(const std::string& region, const UpdateTableRequest& req) {
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

absl::StatusOr<std::string> Timeline::Via(const TableRun& t, const Action& a) {
  if (!a.via.empty()) return a.via;
  // The scenario's replicas first, then added ones.
  std::vector<std::string> order = t.def.replicas;
  order.insert(order.end(), t.spec.replicas.begin(), t.spec.replicas.end());
  for (const auto& r : order) {
    if (t.spec.HasReplica(r) && r != a.region && !Down(r)) return r;
  }
  return absl::FailedPreconditionError(absl::StrCat("no region holding a replica of ", t.spec.name,
                                                    " is up to call UpdateTable in"));
}

absl::Status Timeline::UpdateVia(const Action& a, const UpdateTableRequest& req, StepRun* run) {
  ASSIGN_OR_RETURN(std::string via, Via(state_->table(a.table), a));
  RETURN_IF_ERROR(UpdateWithRetry(via, req));
  absl::StrAppend(&run->desc, " (via ", via, ")");
  return absl::OkStatus();
}

// A region loses its disk and rejoins (see README "Scenarios", restart with data wiped):
// killed and emptied; while it is down, its replica of each table it held is removed (called
// in a live replica); it restarts empty with a new change log (its peers, seeing the log's new
// id, read it from the start), replays the removals from its peers' logs and announces it
// dropped the tables; once each table is ACTIVE again it is re-added, bootstrapping from a
// snapshot of a live replica while the others keep writing. Returns once the adds are
// accepted (wait: until replica_active to see them through).
absl::Status Timeline::Wipe(const std::string& r) {
  if (paused_.count(r)) RETURN_IF_ERROR(Resume(r));
  RETURN_IF_ERROR(d_->Wipe(r));
  killed_.insert(r);
  int fault = state_->OpenFault("wipe:" + r, absl::StrCat(r, " wiped, rejoining"));
  std::vector<TableRun*> held;
  for (auto& [name, t] : state_->tables()) {
    if (t.spec.HasReplica(r)) held.push_back(&t);
  }
  for (auto kind : {ReplicaUpdate::Action::kDelete, ReplicaUpdate::Action::kCreate}) {
    if (kind == ReplicaUpdate::Action::kCreate) {
      RETURN_IF_ERROR(d_->Restart(r));
      killed_.erase(r);
      RETURN_IF_ERROR(Reassert(r));
      state_->Log(absl::StrCat(r, " restarted empty, with a new change log"));
    }
    for (TableRun* t : held) {
      Action target;
      target.region = r;
      ASSIGN_OR_RETURN(std::string via, Via(*t, target));
      // An add waits (retried) until the removal is through: the table is UPDATING until then.
      RETURN_IF_ERROR(UpdateWithRetry(via, ReplicaRequest(t->spec.name, kind, r)));
      if (kind == ReplicaUpdate::Action::kDelete) {
        state_->Log(
            absl::StrCat("removed ", r, "'s replica of ", t->spec.name, " (via ", via, ")"));
        continue;
      }
      state_->Log(absl::StrCat("re-adding ", r, "'s replica of ", t->spec.name,
                               " from a snapshot of ", via, "'s"));
      state_->OpenFault(absl::StrCat("bootstrap:", t->spec.name, ":", r),
                        absl::StrCat("replica of ", t->spec.name, " in ", r, " bootstrapping"));
    }
  }
  state_->CloseFault(fault);
  return absl::OkStatus();
}

// Every region holding a replica of `t` describes `region`'s replica as ACTIVE.
absl::StatusOr<bool> Timeline::ReplicaActive(const TableRun& t, const std::string& region) {
  for (const auto& r : t.spec.replicas) {
    if (Down(r)) return false;
    ASSIGN_OR_RETURN(TableInfo info, d_->DescribeTable(r, t.spec.name, absl::Seconds(2)));
    if (info.spec.ReplicaStatus(region) != "ACTIVE") return false;
  }
  return true;
}

// Whether `index` is ACTIVE in every replica of `t`. Regions seen ACTIVE are added to
// `active` (and logged, with the time since `began`, the first time).
absl::StatusOr<bool> Timeline::IndexActive(const TableRun& t, const std::string& index,
                                           std::set<std::string>* active, absl::Time began,
                                           bool log) {
  bool all = true;
  for (const auto& r : t.spec.replicas) {
    if (active->count(r)) continue;
    auto info = Down(r) ? absl::StatusOr<TableInfo>(absl::UnavailableError("down"))
                        : d_->DescribeTable(r, t.spec.name, absl::Seconds(2));
    auto it = info.ok() ? info->index_status.find(index)
                        : std::map<std::string, std::string>::const_iterator();
    if (info.ok() && it != info->index_status.end() && it->second == "ACTIVE") {
      active->insert(r);
      if (log) {
        state_->Log(absl::StrFormat("index %s of %s ACTIVE in %s after %.2fs", index, t.spec.name,
                                    r, absl::ToDoubleSeconds(absl::Now() - began)));
      }
      continue;
    }
    all = false;
  }
  return all;
}

// Every receiver has applied each origin's log up to where it stood at the first call
// (recorded in `heads`): every write made before the wait has reached every replica.
absl::StatusOr<bool> Timeline::CaughtUp(std::map<std::string, int64_t>* heads,
                                        std::string* behind) {
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
        *behind = absl::StrCat(r, " has applied ", in.origin, "'s log up to ", in.applied_seq,
                               " of ", (*heads)[in.origin]);
        return false;
      }
    }
  }
  return true;
}

absl::StatusOr<bool> Timeline::Converged() {
  for (const auto& [name, t] : state_->tables()) {
    for (const auto& r : t.spec.replicas) {
      if (Down(r)) return false;
    }
  }
  return ReplicasConverged(state_);
}

}  // namespace gtsim::scenario
