// Reports of a scenario run: the terminal summary, and the files of --report DIR (JSON with
// everything measured, CSV time series, one self-contained HTML page with inline SVG plots)
// and --junit FILE (one testcase per expectation).
//
// Free functions of a RunResult; thread-compatible.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "sim/scenario/result.h"

namespace gtsim::scenario {

// A readable table: workloads, lag per pair, LWW losses, faults, expectations with verdicts.
std::string SummaryText(const RunResult& r);

nlohmann::json ResultJson(const RunResult& r);
// CSV: t,from,to,p50_ms,p90_ms,p99_ms,max_ms,samples,pending,p99_1s_ms,samples_1s,staleness_ms
// (one row per pair per second; p50..samples over the receiving region's 60 s window,
// p99_1s_ms / samples_1s over that second only, staleness_ms as the source reported it, -1
// when unknown).
std::string LagCsv(const RunResult& r);
// CSV: t,workload,region,ok,failed,conditional_failed.
std::string ThroughputCsv(const RunResult& r);
// CSV: t,from,to,lag_ms,censored (client-observed heartbeat lag; censored 1: not seen by the
// end of the run, lag_ms is its age then).
std::string HeartbeatCsv(const RunResult& r);
// One HTML page: lag and throughput over time with fault intervals shaded, and the conflict
// timeline (writes LWW dropped), as inline SVG; no scripts, no external files.
std::string HtmlReport(const RunResult& r);
// JUnit XML: a testsuite named after the scenario, one testcase per expectation.
std::string JUnitXml(const RunResult& r);

// Writes report.json, lag.csv, throughput.csv, heartbeat.csv and report.html into `dir` (created if
// needed).
absl::Status WriteReportDir(const RunResult& r, const std::string& dir);
absl::Status WriteTextFile(const std::string& path, const std::string& text);

}  // namespace gtsim::scenario
