// gtsim-bootstrap-bench: how fast a new replica bootstraps from a snapshot.
//
//   build-release/gtsim-bootstrap-bench --items 1000000
//
// Creates a throwaway 2-region cluster on 127.0.0.1, loads --items items into a table in
// us-east-1 (in-process, before the processes start, so the load is not what is measured),
// starts both regions, waits until us-west-2 has caught up with us-east-1's change log, adds a
// replica in us-west-2 (UpdateTable) and waits until us-east-1 reports it ACTIVE (see
// tools/bootstrap_run.h). Prints the time to ACTIVE, items per second, the CPU time and peak
// resident memory (VmHWM) of both region processes, and the load average. Stops and removes
// the cluster.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/time/clock.h"
#include "sim/launcher/cluster.h"
#include "tools/bootstrap_run.h"
#include "tools/cli_client.h"

ABSL_FLAG(int, items, 1000000, "items in the table to bootstrap");
ABSL_FLAG(int, item_bytes, 200, "approximate item size");

namespace gtsim {
namespace {

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string l;
  std::getline(in, l);
  return l;
}

int Main() {
  const int items = absl::GetFlag(FLAGS_items);
  if (items <= 0) {
    std::fprintf(stderr, "gtsim-bootstrap-bench: --items must be positive\n");
    return 2;
  }
  char tmpl[] = "/tmp/gtsim-bootstrap-bench.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string bin = std::string(self, len > 0 ? len : 0);
  bin = bin.substr(0, bin.rfind('/') + 1) + "gtsim-region";
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  auto cluster = LocalCluster::Create(dir + "/cluster", regions, bin);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster: %s\n", std::string(cluster.status().message()).c_str());
    return 2;
  }
  if (absl::Status st = RegionClient::UseSecretFile(cluster->secret_path()); !st.ok()) {
    std::fprintf(stderr, "cluster: %s\n", std::string(st.message()).c_str());
    return 2;
  }
  int rc = 0;
  [&] {
    const std::string data = (*cluster->Find("us-east-1"))->data_dir;
    mkdir(data.c_str(), 0755);
    std::fprintf(stderr, "loading %d items into us-east-1 ...\n", items);
    absl::Time load_start = absl::Now();
    if (absl::Status st = PreloadRegionDb(data + "/region.db", "us-east-1", regions, "demo", items,
                                          absl::GetFlag(FLAGS_item_bytes));
        !st.ok()) {
      std::fprintf(stderr, "preload: %s\n", std::string(st.message()).c_str());
      rc = 2;
      return;
    }
    std::fprintf(stderr, "loaded in %.1f s; starting the regions\n",
                 absl::ToDoubleSeconds(absl::Now() - load_start));
    if (!cluster->StartAll(absl::Seconds(120)).ok()) {
      std::fprintf(stderr, "cannot start the cluster\n");
      rc = 2;
      return;
    }
    const std::string load_before = LoadAverage();
    auto run = RunBootstrap(*cluster, "us-east-1", "us-west-2", "demo", absl::Minutes(30));
    if (!run.ok()) {
      std::fprintf(stderr, "bootstrap: %s\n", std::string(run.status().message()).c_str());
      rc = 1;
      return;
    }
    std::printf(
        "bootstrap of %d items (%d-byte items): ACTIVE after %.2f s, %.0f items/s; "
        "us-west-2 holds %lld items\n",
        items, absl::GetFlag(FLAGS_item_bytes), run->seconds, items / run->seconds,
        static_cast<long long>(run->replica_items));
    std::printf("CPU: source us-east-1 %.2f s, new replica us-west-2 %.2f s (%.2f us per item)\n",
                run->source_cpu_s, run->replica_cpu_s,
                1e6 * (run->source_cpu_s + run->replica_cpu_s) / items);
    std::printf("peak memory (VmHWM): source us-east-1 %.0f MB, new replica us-west-2 %.0f MB\n",
                run->source_peak_mb, run->replica_peak_mb);
    std::printf("load average before: %s; after: %s\n", load_before.c_str(), LoadAverage().c_str());
    if (run->replica_items != items) rc = 1;
  }();
  cluster->StopAll().IgnoreError();
  std::string cmd = "rm -rf '" + dir + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
  return rc;
}

}  // namespace
}  // namespace gtsim

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "time a replica bootstrap on a local 2-region cluster.\n  gtsim-bootstrap-bench --items "
      "1000000");
  absl::ParseCommandLine(argc, argv);
  return gtsim::Main();
}
