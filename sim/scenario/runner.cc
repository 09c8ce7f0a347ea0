#include "sim/scenario/runner.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "model/status_macros.h"
#include "sim/scenario/checks.h"
#include "sim/scenario/final_checks.h"
#include "sim/scenario/run_state.h"
#include "sim/scenario/sampling.h"
#include "sim/scenario/timeline.h"
#include "sim/scenario/workloads.h"

namespace gtsim::scenario {
namespace {

// The parts of one run, as RunScenario builds them.
struct Parts {
  RunState* state;
  Timeline* timeline;
  Workloads* workloads;
  Sampler* sampler;
  HeartbeatProber* heartbeats;
  SamplingThread* sampling;  // the sampler's thread
  SamplingThread* probing;   // the heartbeats' thread
};

// Sets up the tables and the network, then runs the workloads, the timeline and the sampling
// together, stops the workloads and runs the final heal and checks.
absl::Status RunParts(const Scenario& s, const Parts& p) {
  RunState* state = p.state;
  for (const auto& def : state->defs()) RETURN_IF_ERROR(p.timeline->CreateTable(def));
  if (s.heartbeat) RETURN_IF_ERROR(p.heartbeats->CreateTable());
  RETURN_IF_ERROR(p.timeline->ApplyNetwork(s.network));
  std::string network;
  state->WithResult([&](RunResult& r) { network = r.network; });
  state->Log(absl::StrCat("scenario ", s.name, ": ", s.regions.size(), " regions, network ",
                          network, ", seed ", s.seed, ", ", FormatScenarioDuration(s.duration)));
  state->MarkStart();
  p.workloads->Start();
  p.sampling->Start([&p] { p.sampler->Run(*p.sampling); });
  if (s.heartbeat) p.probing->Start([&p] { p.heartbeats->Run(*p.probing); });
  absl::Status st = p.timeline->Run(state->start() + s.duration);
  p.workloads->Stop();
  const double duration_s = state->Elapsed();
  state->WithResult([&](RunResult& r) { r.duration_s = duration_s; });
  if (st.ok()) st = HealAndCheck(state, p.timeline, p.workloads);
  // Heartbeats still on their way were polled through the heal; the rest count as censored.
  p.probing->Stop();
  p.sampling->Stop();
  if (state->live_tty()) std::fprintf(stderr, "\r\033[K");
  return st;
}

}  // namespace

absl::StatusOr<RunResult> RunScenario(const Scenario& scenario, Driver* driver,
                                      const RunOptions& options) {
  RunState state(scenario, driver, options);
  state.WithResult([&](RunResult& r) {
    r.scenario = scenario.name;
    r.file = scenario.file;
    r.seed = scenario.seed;
    r.regions = scenario.regions;
    r.network = scenario.network.description.empty() ? "none" : scenario.network.description;
  });
  state.MarkStart();
  Workloads workloads(&state);
  Timeline timeline(&state, &workloads);
  Sampler sampler(&state, &workloads);
  HeartbeatProber heartbeats(&state, &workloads);
  SamplingThread sampling, probing;  // declared last: joined before the rest goes
  RETURN_IF_ERROR(RunParts(
      scenario, {&state, &timeline, &workloads, &sampler, &heartbeats, &sampling, &probing}));
  RunResult result = state.TakeResult();
  for (const auto& e : scenario.expectations) result.expectations.push_back(Evaluate(e, result));
  return result;
}

}  // namespace gtsim::scenario
