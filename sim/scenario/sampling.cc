#include "sim/scenario/sampling.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace gtsim::scenario {

void Sampler::Run(const SamplingThread& thread) {
  const Scenario& s = state_->scenario();
  Driver* d = state_->driver();
  absl::Time next = absl::Now() + absl::Seconds(1);
  while (!thread.stopping()) {
    if (absl::Now() < next) {
      absl::SleepFor(absl::Milliseconds(20));
      continue;
    }
    next += absl::Seconds(1);
    double t = state_->Elapsed();
    std::vector<ThroughputSample> tp = workloads_->Throughput(t);
    int64_t ops = 0;
    for (const auto& x : tp) ops += x.ok + x.conditional_failed;
    // Metrics from every region that answers quickly (killed or paused ones do not).
    std::vector<LagSample> lag;
    std::map<std::pair<std::string, std::string>, int64_t> pending;
    std::map<std::pair<std::string, std::string>, double> staleness;
    for (const auto& r : s.regions) {
      auto st = d->Status(r, absl::Milliseconds(300));
      if (!st.ok()) continue;
      for (const auto& in : st->inbound) {
        LagSample x;
        x.t = t;
        x.from = in.origin;
        x.to = r;
        x.p50_ms = in.latency.p50_ms;
        x.p90_ms = in.latency.p90_ms;
        x.p99_ms = in.latency.p99_ms;
        x.max_ms = in.latency.max_ms;
        x.samples = in.latency.samples;
        x.p99_1s_ms = in.latency_1s.p99_ms;
        x.samples_1s = in.latency_1s.samples;
        lag.push_back(x);
      }
      for (const auto& out : st->outbound) {
        pending[{r, out.peer}] = out.pending;
        staleness[{r, out.peer}] = out.lag.freshness.staleness_us / 1000.0;
      }
    }
    double worst = 0, worst_stale = 0;
    std::string worst_pair, stale_pair;
    int64_t pending_total = 0;
    for (auto& x : lag) {
      auto it = pending.find({x.from, x.to});
      if (it != pending.end()) {
        x.pending = it->second;
        pending_total += std::max<int64_t>(0, it->second);
      }
      if (auto st = staleness.find({x.from, x.to}); st != staleness.end()) {
        x.staleness_ms = st->second;
        if (st->second > worst_stale) {
          worst_stale = st->second;
          stale_pair = x.from + "->" + x.to;
        }
      }
      if (x.samples > 0 && x.p99_ms > worst) {
        worst = x.p99_ms;
        worst_pair = x.from + "->" + x.to;
      }
    }
    state_->WithResult([&](RunResult& r) {
      r.throughput.insert(r.throughput.end(), tp.begin(), tp.end());
      r.lag.insert(r.lag.end(), lag.begin(), lag.end());
    });
    if (!state_->options().live) continue;
    std::vector<std::string> active = state_->ActiveFaults();
    double total = absl::ToDoubleSeconds(s.duration);
    std::string line = absl::StrFormat(
        "%5.0fs/%.0fs%s  %4d ops/s  lag p99 %s  stale %s  pending %d  faults: %s", t, total,
        t > total + 1 ? " (healed, waiting for convergence)" : "", ops,
        worst_pair.empty() ? "-" : absl::StrFormat("%.0f ms (%s)", worst, worst_pair),
        stale_pair.empty() ? "0" : absl::StrFormat("%.0f ms (%s)", worst_stale, stale_pair),
        pending_total, active.empty() ? "none" : absl::StrJoin(active, ", "));
    if (state_->live_tty()) {
      std::fprintf(stderr, "\r\033[K%s", line.c_str());
    } else if (static_cast<int64_t>(t) % 5 == 0) {
      std::fprintf(stderr, "  %s\n", line.c_str());
    }
  }
}

HeartbeatProber::HeartbeatProber(RunState* state, const Workloads* workloads)
    : state_(state), workloads_(workloads) {
  spec_.name = "gtsim-heartbeat";
  spec_.hash_key = KeyDef{"id", ValueType::kS};
  spec_.replicas = state->scenario().regions;
  std::sort(spec_.replicas.begin(), spec_.replicas.end());
}

absl::Status HeartbeatProber::CreateTable() {
  return state_->driver()->CreateTable(state_->scenario().regions.front(), spec_);
}

void HeartbeatProber::Run(const SamplingThread& thread) {
  const Scenario& s = state_->scenario();
  Driver* d = state_->driver();
  struct Waiting {
    double t;
    absl::Time written;
    int64_t seq;
  };
  std::map<std::pair<std::string, std::string>, std::deque<Waiting>> waiting;  // (from, to)
  auto record = [&](const std::string& from, const std::string& to, const Waiting& w,
                    bool censored) {
    HeartbeatSample x{w.t, from, to, absl::ToDoubleMilliseconds(absl::Now() - w.written), censored};
    state_->WithResult([&](RunResult& r) { r.heartbeats.push_back(x); });
  };
  int64_t seq = 0;
  absl::Time next_round = absl::Now();
  while (!thread.stopping()) {
    const bool writing = !workloads_->stopped();
    bool any_waiting = false;
    for (const auto& [pair, q] : waiting) any_waiting |= !q.empty();
    if (!writing && !any_waiting) break;
    if (writing && absl::Now() >= next_round) {
      next_round = std::max(next_round + absl::Seconds(1), absl::Now());
      for (const auto& from : s.regions) {
        ++seq;
        Item item{{"id", AttributeValue::S("hb-" + from)},
                  {"seq", AttributeValue::N(std::to_string(seq))}};
        Waiting w{state_->Elapsed(), absl::Now(), seq};
        if (!d->Put(from, spec_.name, item, Condition{}, absl::Milliseconds(300)).ok()) continue;
        for (const auto& to : s.regions) {
          if (to != from) waiting[{from, to}].push_back(w);
        }
      }
    }
    for (auto& [pair, q] : waiting) {
      if (q.empty() || thread.stopping()) continue;
      const auto& [from, to] = pair;
      auto got = d->Get(to, spec_.name, {{"id", AttributeValue::S("hb-" + from)}},
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
  state_->WithResult([](RunResult& r) {
    std::stable_sort(r.heartbeats.begin(), r.heartbeats.end(),
                     [](const HeartbeatSample& a, const HeartbeatSample& b) { return a.t < b.t; });
  });
}

}  // namespace gtsim::scenario
