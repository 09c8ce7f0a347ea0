// `gtsim traffic` and `gtsim check`: the scenario workloads (sim/scenario/workloads.h) driven
// against a running cluster until Ctrl-C or --duration, their history written to a file
// (sim/scenario/history_file.h), and that history judged afterwards against the cluster's
// final state by the scenario's own lost-write classifier (sim/scenario/final_checks.h).
// Each returns the process exit code and prints its own messages (the live line and the
// verdict on stdout, everything else on stderr).
#pragma once

#include "tools/scenario_cmd.h"

namespace gtsim {

// gtsim traffic [--regions R1,R2] [--table T] [--workload mixed|counter|lock] [--rate N]
//   [--keys N] [--mix put=50,update=20,...] [--zipf S] [--home-region] [--item-size N]
//   [--hold D] [--seed N] [--duration D] [--history FILE]
// 0 when the history was written (after --duration, SIGINT or SIGTERM); 2 on bad flags, a
// cluster that is not running, or a history that cannot be written.
int TrafficCommand(const ScenarioCmdArgs& args);

// gtsim check HISTORY [--settle D] [--verbose]
// Waits up to --settle (default 30s) for the replicas to converge, then judges. 0: no
// acknowledged write lost except to last-writer-wins (each loss explained); 1: a loss without
// an explanation (or replicas that differ); 2: bad input, or replicas that could not be read or
// did not converge.
int CheckCommand(const ScenarioCmdArgs& args);

}  // namespace gtsim
