// gtsim-bootstrap-bench: how fast a new replica bootstraps from a snapshot.
//
//   build/gtsim-bootstrap-bench --items 1000000
//
// Creates a throwaway 2-region cluster on 127.0.0.1, loads --items items into a table in
// us-east-1 (in-process, through the Region API, before the processes start, so the load is not
// what is measured), starts both regions, adds a replica in us-west-2 (UpdateTable) and waits
// until us-east-1 reports it ACTIVE. Prints the time to ACTIVE, items per second, and the peak
// resident memory (VmHWM) of both region processes. Stops and removes the cluster.
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
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "region/region.h"
#include "region/status_macros.h"
#include "sim/cluster.h"
#include "tools/cli_client.h"

ABSL_FLAG(int, items, 1000000, "items in the table to bootstrap");
ABSL_FLAG(int, item_bytes, 200, "approximate item size");

namespace gtsim {
namespace {

// Peak resident set size of a process in MB, from /proc (0 when unknown).
double PeakRssMb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

absl::Status Preload(const std::string& db, int items, int item_bytes) {
  ASSIGN_OR_RETURN(auto storage, Storage::Open(db, "us-east-1"));
  SystemClock clock;
  ASSIGN_OR_RETURN(auto region,
                   Region::Open("us-east-1", {"us-east-1", "us-west-2"}, std::move(storage), &clock));
  CreateTableRequest create;
  create.table = "demo";
  create.hash_key = KeyDef{"id", ValueType::kS};
  RETURN_IF_ERROR(region->CreateTable(create).status());
  std::string pad(std::max(0, item_bytes - 40), 'x');
  for (int i = 0; i < items; ++i) {
    PutRequest put;
    put.table = "demo";
    put.item = Item{{"id", AttributeValue::S("item" + std::to_string(i))},
                    {"n", *AttributeValue::Number(std::to_string(i))},
                    {"pad", AttributeValue::S(pad)}};
    RETURN_IF_ERROR(region->PutItem(put).status());
  }
  return absl::OkStatus();
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
  auto cluster = LocalCluster::Create(dir + "/cluster", {"us-east-1", "us-west-2"}, bin);
  if (!cluster.ok()) {
    std::fprintf(stderr, "cluster: %s\n", std::string(cluster.status().message()).c_str());
    return 2;
  }
  int rc = 0;
  [&] {
    const std::string data = (*cluster->Find("us-east-1"))->data_dir;
    mkdir(data.c_str(), 0755);
    std::fprintf(stderr, "loading %d items into us-east-1 ...\n", items);
    absl::Time load_start = absl::Now();
    if (absl::Status st = Preload(data + "/region.db", items, absl::GetFlag(FLAGS_item_bytes));
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
    RegionClient east((*cluster->Find("us-east-1"))->address());
    pb::UpdateTableRequest add;
    add.set_table("demo");
    add.add_replica_updates()->set_action(pb::ReplicaUpdate::CREATE);
    add.mutable_replica_updates(0)->set_region_name("us-west-2");
    pb::UpdateTableResponse added;
    absl::Time start = absl::Now();
    grpc::Status s = east.api().UpdateTable(RegionClient::Context().get(), add, &added);
    if (!s.ok()) {
      std::fprintf(stderr, "UpdateTable: %s\n", s.error_message().c_str());
      rc = 2;
      return;
    }
    std::string status;
    while (status != "ACTIVE" && absl::Now() - start < absl::Minutes(30)) {
      absl::SleepFor(absl::Milliseconds(50));
      pb::DescribeTableRequest req;
      req.set_table("demo");
      pb::DescribeTableResponse resp;
      if (!east.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok()) continue;
      for (const auto& r : resp.table().replica_descriptions()) {
        if (r.region_name() == "us-west-2") status = r.replica_status();
      }
    }
    double secs = absl::ToDoubleSeconds(absl::Now() - start);
    RegionClient west((*cluster->Find("us-west-2"))->address());
    pb::DescribeTableRequest req;
    req.set_table("demo");
    pb::DescribeTableResponse resp;
    int64_t count = -1;
    if (west.api().DescribeTable(RegionClient::Context(absl::Seconds(60)).get(), req, &resp).ok()) {
      count = resp.table().item_count();
    }
    std::printf("bootstrap of %d items (%d-byte items): ACTIVE after %.2f s, %.0f items/s; "
                "us-west-2 holds %lld items\n",
                items, absl::GetFlag(FLAGS_item_bytes), secs, items / secs,
                static_cast<long long>(count));
    std::printf("peak memory (VmHWM): source us-east-1 %.0f MB, new replica us-west-2 %.0f MB\n",
                PeakRssMb((*cluster->Find("us-east-1"))->pid),
                PeakRssMb((*cluster->Find("us-west-2"))->pid));
    if (status != "ACTIVE" || count != items) rc = 1;
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
