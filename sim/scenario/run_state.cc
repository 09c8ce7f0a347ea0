#include "sim/scenario/run_state.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_format.h"

namespace gtsim::scenario {

RunState::RunState(const Scenario& s, Driver* d, const RunOptions& o)
    : s_(s), d_(d), o_(o), live_tty_(o.live && isatty(2)) {
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
  for (const auto& w : s.workloads) regions_[w.name] = w.region;
}

void RunState::Log(const std::string& text) {
  std::string line = absl::StrFormat("[%6.1fs] %s", Elapsed(), text);
  {
    absl::MutexLock l(&mu_);
    result_.log.push_back(line);
  }
  if (o_.live) std::fprintf(stderr, "%s%s\n", live_tty_ ? "\r\033[K" : "", line.c_str());
}

absl::Status RunState::Interrupted() const {
  if (o_.interrupted && o_.interrupted()) return absl::CancelledError("interrupted");
  return absl::OkStatus();
}

int RunState::OpenFault(const std::string& key, const std::string& text) {
  absl::MutexLock l(&mu_);
  result_.faults.push_back({Elapsed(), -1, text});
  fault_keys_.push_back(key);
  return static_cast<int>(result_.faults.size()) - 1;
}

void RunState::CloseFaults(const std::string& prefix) {
  absl::MutexLock l(&mu_);
  for (size_t i = 0; i < result_.faults.size(); ++i) {
    if (result_.faults[i].end < 0 && fault_keys_[i].rfind(prefix, 0) == 0) {
      result_.faults[i].end = Elapsed();
    }
  }
}

void RunState::CloseFault(int index) {
  absl::MutexLock l(&mu_);
  if (result_.faults[index].end < 0) result_.faults[index].end = Elapsed();
}

std::vector<std::string> RunState::ActiveFaults() {
  std::vector<std::string> active;
  absl::MutexLock l(&mu_);
  for (const auto& f : result_.faults) {
    if (f.end < 0) active.push_back(f.text);
  }
  return active;
}

int64_t RunState::Skew(const std::string& region) {
  absl::MutexLock l(&mu_);
  return skew_[region];
}

void RunState::RecordSkew(const std::string& region, int64_t us) {
  absl::MutexLock l(&mu_);
  skew_[region] = us;
}

std::string RunState::WorkloadRegion(const std::string& workload) {
  absl::MutexLock l(&mu_);
  return regions_[workload];
}

void RunState::MoveWorkload(const std::string& workload, const std::string& region) {
  absl::MutexLock l(&mu_);
  regions_[workload] = region;
  for (auto& t : result_.workloads) {
    if (t.name == workload) t.regions.push_back(region);
  }
}

RunResult RunState::TakeResult() {
  absl::MutexLock l(&mu_);
  return std::move(result_);
}

}  // namespace gtsim::scenario
