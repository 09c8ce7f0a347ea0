// gtsim run / chaos / link end to end: the built CLI against real region processes.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/cluster_fixture.h"
#include "tools/cli_client.h"

namespace gtsim::testing {
namespace {

struct Run {
  int code;
  std::string out;  // stdout and stderr
};

Run Gtsim(const std::string& args, const std::string& dir) {
  std::string log = dir + "/out.txt";
  std::string cmd =
      absl::StrCat("cd '", dir, "' && '", BinDir(), "/gtsim' ", args, " >'", log, "' 2>&1");
  int status = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, ss.str()};
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("gtsim run executes the ci-smoke scenario and writes JUnit and an HTML report") {
  std::string dir = MakeTempDir("gtsim-scen");
  Run r = Gtsim(absl::StrCat("run '", GTSIM_SOURCE_DIR, "/scenarios/ci-smoke.yaml' --report '", dir,
                             "/report' --junit '", dir, "/junit.xml'"),
                dir);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("PASSED: 4 of 4 expectations held") != std::string::npos);
  CHECK(r.out.find("kill -9 eu-west-1") != std::string::npos);
  std::string junit = ReadAll(dir + "/junit.xml");
  CHECK(junit.find("tests=\"4\" failures=\"0\"") != std::string::npos);
  std::string html = ReadAll(dir + "/report/report.html");
  CHECK(html.find("<title>kill -9 eu-west-1") != std::string::npos);  // the fault is shaded
  auto j = nlohmann::json::parse(ReadAll(dir + "/report/report.json"));
  CHECK(j["acknowledged_writes"].get<int>() > 100);
  CHECK(!j["lag"].empty());
  CHECK(ReadAll(dir + "/report/lag.csv").rfind("t,from,to,", 0) == 0);
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("a broken expectation exits 1 with an explanation in words and a JUnit failure") {
  std::string dir = MakeTempDir("gtsim-scen");
  WriteFile(dir + "/counters.yaml", R"(# two regions increment one counter
regions: [us-east-1, us-west-2]
duration: 3s
network: {default: {delay: 30ms}}
workloads:
  - {name: a, kind: counter, region: us-east-1, rate: 20}
  - {name: b, kind: counter, region: us-west-2, rate: 20}
expect:
  - converged: {within: 15s}
  - lost_increments: {at_most: 0}
)");
  Run r = Gtsim("run counters.yaml --junit j.xml --quiet", dir);
  INFO(r.out);
  CHECK(r.code == 1);
  CHECK(r.out.find("FAIL  lost increments <= 0 (line 10)") != std::string::npos);
  CHECK(r.out.find("concurrent read-modify-writes in two regions overwrite each other") !=
        std::string::npos);
  CHECK(ReadAll(dir + "/j.xml").find("<failure message=") != std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("a malformed scenario file exits 2 naming its line, before anything starts") {
  std::string dir = MakeTempDir("gtsim-scen");
  WriteFile(dir + "/bad.yaml",
            "regions: [us-east-1, us-west-2]\nsteps:\n  - at: 1s\n    kil: us-east-1\n");
  Run r = Gtsim("run bad.yaml --dir cluster", dir);
  INFO(r.out);
  CHECK(r.code == 2);
  CHECK(r.out.find("bad.yaml:4: unknown key \"kil\" in a step") != std::string::npos);
  CHECK(!Exists(dir + "/cluster"));  // validated before anything started
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("gtsim link sets a link's network model, kept in cluster.json across a restart") {
  ClusterFixture f({"us-east-1", "us-west-2"});
  std::string dir = MakeTempDir("gtsim-scen");
  Run r = Gtsim(absl::StrCat("link --dir '", f.cluster_dir(),
                             "' --from us-east-1 --to us-west-2 --delay 35ms --jitter 5ms "
                             "--distribution normal --loss 0.01"),
                dir);
  INFO(r.out);
  REQUIRE(r.code == 0);
  auto inbound = [&] {
    RegionClient c(f.address("us-west-2"));
    pb::StatusResponse resp;
    auto ctx = RegionClient::Context();
    ctx->set_wait_for_ready(true);
    REQUIRE(c.admin().Status(ctx.get(), {}, &resp).ok());
    for (const auto& in : resp.inbound()) {
      if (in.origin() == "us-east-1") return in;
    }
    FAIL("no inbound link from us-east-1");
    return pb::InboundLink();
  };
  CHECK(inbound().delay_us() == 35000);
  CHECK(inbound().distribution() == "normal");
  CHECK(ReadAll(f.cluster_dir() + "/cluster.json").find("35000us/5000us/normal/0.01/0") !=
        std::string::npos);
  // A restarted receiver gets the link from cluster.json. The fixture's copy of the cluster
  // does not know the restarted process: this one stops it.
  auto c = LocalCluster::Load(f.cluster_dir(), BinDir() + "/gtsim-region");
  REQUIRE(c.ok());
  struct StopGuard {
    LocalCluster* c;
    ~StopGuard() { c->StopAll().IgnoreError(); }
  } guard{&*c};
  REQUIRE(c->Stop("us-west-2").ok());
  REQUIRE(c->Start("us-west-2").ok());
  CHECK(inbound().delay_us() == 35000);
  CHECK(inbound().jitter_us() == 5000);
  r = Gtsim(
      absl::StrCat("link --dir '", f.cluster_dir(), "' --from us-east-1 --to mars-1 --delay 1ms"),
      dir);
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown region \"mars-1\"") != std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

// The issue's CI chaos run: 60 s on 3 regions, seed 4 (its fault schedule - kills, SIGSTOPs,
// partitions, paused replication, clock skews and jumps - is a function of the seed alone).
TEST_CASE("gtsim chaos runs a 60 s seeded fault schedule on 3 regions and checks the invariants") {
  std::string dir = MakeTempDir("gtsim-scen");
  Run r = Gtsim("chaos --regions 3 --duration 60s --seed 4 --junit chaos.xml --quiet", dir);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("PASS  converged") != std::string::npos);
  CHECK(r.out.find("PASS  no acknowledged write lost") != std::string::npos);
  CHECK(ReadAll(dir + "/chaos.xml").find("name=\"gtsim.chaos-seed-4\"") != std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("several tables with N/B/range keys, an index, billing and a replica removed mid-run") {
  std::string dir = MakeTempDir("gtsim-scen");
  WriteFile(dir + "/tables.yaml", R"(# two tables on real regions
regions: [us-east-1, us-west-2, eu-west-1]
duration: 4s
heartbeat: false
network: {default: {delay: 5ms}}
tables:
  - {name: nums, hash_key: pk:N, range_key: sk:S, billing: PROVISIONED, wcu: 500, rcu: 500}
  - name: blobs
    hash_key: b:B
    replicas: [us-east-1, us-west-2]
    indexes: [{name: byGroup, hash_key: grp:S, projection: KEYS_ONLY}]
workloads:
  - {name: n1, region: us-east-1, table: nums, rate: 30, keys: 20, mix: {put: 2, update: 1, delete: 1}}
  - {name: n2, region: eu-west-1, table: nums, rate: 30, keys: 20, mix: {put: 2, update: 1}}
  - {name: b1, region: us-west-2, table: blobs, rate: 30, keys: 20, mix: {put: 3, update: 1}}
steps:
  - at: 1s
    add_replica: {table: blobs, region: eu-west-1, via: us-west-2}
  - wait: {until: replica_active, table: blobs, region: eu-west-1}
  # Not the snapshot source: AWS refuses to remove that one for 24 hours.
  - remove_replica: {table: blobs, region: us-east-1}
expect:
  - converged: {within: 20s}
  - no_lost_writes: true
  - index_matches: {table: blobs, index: byGroup}
)");
  Run r = Gtsim("run tables.yaml --report rep", dir);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("remove replica of blobs in us-east-1 (via us-west-2)") != std::string::npos);
  CHECK(r.out.find("PASS  index byGroup of blobs matches the table in every replica") !=
        std::string::npos);
  auto j = nlohmann::json::parse(ReadAll(dir + "/rep/report.json"));
  CHECK(j["acknowledged_writes"].get<int>() > 100);
  CHECK(j["index_checks"][0]["queries"].get<int>() > 0);
  std::system(("rm -rf '" + dir + "'").c_str());
}

// The library's table and replica lessons, run as the user would.
TEST_CASE("scenario add-replica: a replica added under load ends identical, nothing lost") {
  std::string dir = MakeTempDir("gtsim-scen");
  Run r = Gtsim(absl::StrCat("run '", GTSIM_SOURCE_DIR, "/scenarios/add-replica.yaml'"),
                dir);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("add replica of orders in eu-west-1 (via us-east-1)") != std::string::npos);
  CHECK(r.out.find("eu-west-1's replica of orders ACTIVE in every replica after") !=
        std::string::npos);
  CHECK(r.out.find("PASS  no acknowledged write lost") != std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("scenario wiped-region: a region loses its disk and rejoins by snapshot bootstrap") {
  std::string dir = MakeTempDir("gtsim-scen");
  Run r = Gtsim(absl::StrCat("run '", GTSIM_SOURCE_DIR, "/scenarios/wiped-region.yaml'"), dir);
  INFO(r.out);
  CHECK(r.code == 0);
  CHECK(r.out.find("removed eu-west-1's replica of orders") != std::string::npos);
  CHECK(r.out.find("eu-west-1 restarted empty, with a new change log") != std::string::npos);
  CHECK(r.out.find("re-adding eu-west-1's replica of orders from a snapshot of") !=
        std::string::npos);
  CHECK(r.out.find("eu-west-1's replica of orders ACTIVE in every replica after") !=
        std::string::npos);
  CHECK(r.out.find("PASS  converged") != std::string::npos);
  CHECK(r.out.find("PASS  no acknowledged write lost") != std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

TEST_CASE("scenario settings-propagation: an index appears region by region and answers queries") {
  std::string dir = MakeTempDir("gtsim-scen");
  Run r = Gtsim(
      absl::StrCat("run '", GTSIM_SOURCE_DIR, "/scenarios/settings-propagation.yaml'"),
      dir);
  INFO(r.out);
  CHECK(r.code == 0);
  for (const char* region : {"us-east-1", "us-west-2", "eu-west-1"}) {
    CHECK(r.out.find(absl::StrCat("index byGroup of users ACTIVE in ", region, " after")) !=
          std::string::npos);
  }
  CHECK(r.out.find("PASS  index byGroup of users matches the table in every replica") !=
        std::string::npos);
  std::system(("rm -rf '" + dir + "'").c_str());
}

}  // namespace
}  // namespace gtsim::testing
