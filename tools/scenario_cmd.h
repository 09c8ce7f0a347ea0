// The gtsim commands for scenarios: `run`, `chaos` and `link`. Each returns the process exit
// code and prints its own messages (results on stdout, progress and errors on stderr).
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace gtsim {

struct ScenarioCmdArgs {
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  // --flag value
  std::set<std::string> bools;                // --flag
  std::string region_binary;                  // path of gtsim-region
  std::string cluster_dir;                    // --dir / $GTSIM_DIR / ./.gtsim (for link)
};

// gtsim run FILE [--report DIR] [--junit FILE] [--dir DIR] [--seed N] [--quiet] [--check]
//              [--ui [--ui-port N]]
// (--check: validate and print the plan only; --ui: gtsim ui's dashboard of the scenario's
// cluster on 127.0.0.1:N, default 8099, 0 a free one, its URL on stderr once the regions are up)
// 0: every expectation held; 1: one failed; 2: the run could not be carried out.
int ScenarioRunCommand(const ScenarioCmdArgs& args);

// gtsim chaos [--regions N] [--duration D] [--seed S | --seeds A..B] [--junit FILE]
//             [--report DIR] [--quiet]
int ScenarioChaosCommand(const ScenarioCmdArgs& args);

// gtsim link --from A --to B --delay D [--jitter D] [--distribution NAME] [--loss P]
//            [--bandwidth RATE]: the network model of one directed link of the cluster in
// --dir, stored in cluster.json (kept across restarts) and given to the running receiver.
int ScenarioLinkCommand(const ScenarioCmdArgs& args);

}  // namespace gtsim
