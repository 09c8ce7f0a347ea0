// The replica lifecycle with real gtsim-region processes on 127.0.0.1: a replica added to a
// large table under continuous writes in two regions, crashes of either side mid-bootstrap,
// and removing a replica.
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "nlohmann/json.hpp"
#include "region/grpc/convert.h"
#include "tests/cluster_fixture.h"
#include "tools/cli_client.h"

namespace gtsim {
namespace {

using testing::ClusterFixture;
using testing::Eventually;

const std::vector<std::string> kRegions = {"eu-west-1", "us-east-1", "us-west-2"};

// The items of a table in one region, id -> n ("<error>" when the scan fails).
std::map<std::string, std::string> Contents(const std::string& address, const std::string& table) {
  RegionClient c(address);
  std::map<std::string, std::string> out;
  pb::ScanRequest req;
  req.set_table(table);
  req.set_limit(5000);
  while (true) {
    pb::ItemPage page;
    grpc::Status s = c.api().Scan(RegionClient::Context(absl::Seconds(30)).get(), req, &page);
    if (!s.ok()) return {{"<error>", s.error_message()}};
    for (const auto& item : page.items()) {
      out[item.attributes().at("id").s()] = item.attributes().at("n").n();
    }
    if (page.last_evaluated_key().attributes().empty()) return out;
    *req.mutable_exclusive_start_key() = page.last_evaluated_key();
  }
}

grpc::Status Put(RegionClient& c, const std::string& table, const std::string& id, int64_t n) {
  pb::PutItemRequest req;
  req.set_table(table);
  (*req.mutable_item()->mutable_attributes())["id"].set_s(id);
  (*req.mutable_item()->mutable_attributes())["n"].set_n(std::to_string(n));
  pb::PutItemResponse resp;
  return c.api().PutItem(RegionClient::Context(absl::Seconds(10)).get(), req, &resp);
}

grpc::Status UpdateReplicas(RegionClient& c, const std::string& table, const std::string& region,
                            bool add) {
  pb::UpdateTableRequest req;
  req.set_table(table);
  auto* u = req.add_replica_updates();
  u->set_action(add ? pb::ReplicaUpdate::CREATE : pb::ReplicaUpdate::DELETE);
  u->set_region_name(region);
  pb::UpdateTableResponse resp;
  return c.api().UpdateTable(RegionClient::Context().get(), req, &resp);
}

// `replica`'s status and progress as `c`'s region describes the table ("" when not listed or
// the call fails).
std::pair<std::string, int> ReplicaStatus(RegionClient& c, const std::string& table,
                                          const std::string& replica) {
  pb::DescribeTableRequest req;
  req.set_table(table);
  pb::DescribeTableResponse resp;
  if (!c.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok()) return {"", 0};
  for (const auto& r : resp.table().replica_descriptions()) {
    if (r.region_name() == replica) return {r.replica_status(), r.percent_progress()};
  }
  return {"", 0};
}

// Loads `count` items into `table` through `c` with a few parallel writers.
void Preload(const std::string& address, const std::string& table, int count) {
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      RegionClient c(address);
      for (int i = w; i < count; i += 4) {
        if (!Put(c, table, "pre" + std::to_string(i), i).ok()) ++failures;
      }
    });
  }
  for (auto& t : writers) t.join();
  REQUIRE(failures == 0);
}

// Writers that keep putting into one region until stopped; every acknowledged put is recorded.
class LiveWriters {
 public:
  LiveWriters(std::vector<std::string> addresses, std::string table) {
    for (size_t w = 0; w < addresses.size(); ++w) {
      threads_.emplace_back([this, w, address = addresses[w], table] {
        RegionClient c(address);
        for (int64_t i = 0; !stop_; ++i) {
          // Fresh keys and overwrites of preloaded ones, so LWW decides some.
          std::string id = i % 3 == 0 ? "pre" + std::to_string((i * 7919) % 1000)
                                      : "live" + std::to_string(w) + "-" + std::to_string(i);
          if (Put(c, table, id, i).ok()) {
            ++acked_;
          } else {
            ++failed_;
          }
        }
      });
    }
  }
  ~LiveWriters() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int64_t acked() const { return acked_; }
  int64_t failed() const { return failed_; }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> acked_{0}, failed_{0};
  std::vector<std::thread> threads_;
};

void CreateTable(RegionClient& c, const std::string& table, const std::vector<std::string>& replicas) {
  pb::CreateTableRequest req;
  req.set_table(table);
  req.mutable_hash_key()->set_name("id");
  req.mutable_hash_key()->set_type(pb::S);
  for (const auto& r : replicas) req.add_replicas(r);
  pb::CreateTableResponse resp;
  REQUIRE(c.api().CreateTable(RegionClient::Context().get(), req, &resp).ok());
}

TEST_CASE("a replica added to a 100k-item table while two regions write ends identical",
          "[integration][replica]") {
  ClusterFixture f(kRegions);
  RegionClient east(f.address("us-east-1")), eu(f.address("eu-west-1")),
      west(f.address("us-west-2"));
  CreateTable(east, "demo", {"eu-west-1", "us-east-1"});
  REQUIRE(Eventually([&] { return ReplicaStatus(eu, "demo", "eu-west-1").first == "ACTIVE"; }));
  Preload(f.address("us-east-1"), "demo", 100000);

  LiveWriters writers({f.address("us-east-1"), f.address("eu-west-1")}, "demo");
  REQUIRE(Eventually([&] { return writers.acked() > 100; }));
  REQUIRE(UpdateReplicas(east, "demo", "us-west-2", /*add=*/true).ok());
  CHECK(ReplicaStatus(east, "demo", "us-west-2").first == "CREATING");
  // A second replica change while this one is in flight is refused (ResourceInUse).
  grpc::Status busy = UpdateReplicas(east, "demo", "eu-west-1", /*add=*/false);
  CHECK(busy.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  CHECK(busy.error_message().find("ResourceInUse") != std::string::npos);
  REQUIRE(Eventually([&] { return ReplicaStatus(east, "demo", "us-west-2").first == "ACTIVE"; },
                     absl::Seconds(180)));
  REQUIRE(Eventually([&] { return ReplicaStatus(eu, "demo", "us-west-2").first == "ACTIVE"; }));
  int64_t acked_at_active = writers.acked();
  REQUIRE(Eventually([&] { return writers.acked() > acked_at_active + 100; }));
  writers.Stop();
  CHECK(writers.failed() == 0);

  // Identical once the last writes of both writers have crossed every link.
  std::map<std::string, std::string> want;
  bool same = Eventually([&] {
    want = Contents(f.address("us-east-1"), "demo");
    return Contents(f.address("us-west-2"), "demo") == want &&
           Contents(f.address("eu-west-1"), "demo") == want;
  }, absl::Seconds(60));
  INFO("sizes: us-east-1 " << want.size() << ", us-west-2 "
                           << Contents(f.address("us-west-2"), "demo").size() << ", eu-west-1 "
                           << Contents(f.address("eu-west-1"), "demo").size());
  REQUIRE(same);
  CHECK(want.size() > 100000);
  // The new replica takes writes, and they reach the others.
  REQUIRE(Put(west, "demo", "from-west", 1).ok());
  CHECK(Eventually([&] { return Contents(f.address("us-east-1"), "demo").count("from-west") > 0; }));
}

TEST_CASE("a bootstrap interrupted by kill -9 of the new replica or the source restarts cleanly",
          "[integration][replica]") {
  ClusterFixture f(kRegions);
  RegionClient east(f.address("us-east-1"));
  CreateTable(east, "demo", {});
  Preload(f.address("us-east-1"), "demo", 60000);
  LiveWriters writers({f.address("us-east-1")}, "demo");
  REQUIRE(UpdateReplicas(east, "demo", "us-west-2", /*add=*/true).ok());
  {
    RegionClient west(f.address("us-west-2"));
    // Kill the new replica once it has loaded part of the snapshot.
    bool partial = Eventually([&] { return ReplicaStatus(west, "demo", "us-west-2").second > 0; },
                              absl::Seconds(60));
    INFO("killed before any progress was visible");
    CHECK(partial);
  }
  REQUIRE(f.cluster().Kill("us-west-2").ok());
  REQUIRE(f.cluster().Start("us-west-2").ok());
  // And the source, while the new replica resumes.
  absl::SleepFor(absl::Milliseconds(300));
  writers.Stop();
  REQUIRE(f.cluster().Kill("us-east-1").ok());
  REQUIRE(f.cluster().Start("us-east-1").ok());
  RegionClient east2(f.address("us-east-1"));
  LiveWriters more({f.address("us-east-1")}, "demo");
  REQUIRE(Eventually([&] { return ReplicaStatus(east2, "demo", "us-west-2").first == "ACTIVE"; },
                     absl::Seconds(180)));
  more.Stop();
  CHECK(writers.failed() == 0);
  auto want = Contents(f.address("us-east-1"), "demo");
  CHECK(want.size() >= 60000);
  CHECK(Eventually([&] { return Contents(f.address("us-west-2"), "demo") == want; },
                   absl::Seconds(60)));
}

TEST_CASE("removing a replica deletes its table and the table becomes regional",
          "[integration][replica]") {
  ClusterFixture f(kRegions);
  RegionClient east(f.address("us-east-1")), west(f.address("us-west-2"));
  CreateTable(east, "demo", {"us-east-1", "us-west-2"});
  REQUIRE(Eventually([&] { return ReplicaStatus(west, "demo", "us-west-2").first == "ACTIVE"; }));
  for (int i = 0; i < 50; ++i) REQUIRE(Put(west, "demo", "k" + std::to_string(i), i).ok());
  REQUIRE(Eventually([&] { return Contents(f.address("us-east-1"), "demo").size() == 50; }));

  grpc::Status local = UpdateReplicas(east, "demo", "us-east-1", /*add=*/false);
  CHECK(local.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(local.error_message().find("Cannot add or delete the local region") != std::string::npos);
  grpc::Status unknown = UpdateReplicas(east, "demo", "ap-south-9", /*add=*/true);
  CHECK(unknown.error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  REQUIRE(UpdateReplicas(east, "demo", "us-west-2", /*add=*/false).ok());
  pb::DescribeTableRequest dreq;
  dreq.set_table("demo");
  REQUIRE(Eventually([&] {
    pb::DescribeTableResponse resp;
    return west.api().DescribeTable(RegionClient::Context().get(), dreq, &resp).error_code() ==
           grpc::StatusCode::NOT_FOUND;
  }));
  REQUIRE(Eventually([&] {
    pb::DescribeTableResponse resp;
    return east.api().DescribeTable(RegionClient::Context().get(), dreq, &resp).ok() &&
           resp.table().replicas_size() == 1 && resp.table().table_status() == "ACTIVE";
  }));
  // Writes in the remaining region no longer reach the removed one.
  REQUIRE(Put(east, "demo", "after", 1).ok());
  absl::SleepFor(absl::Milliseconds(500));
  pb::DescribeTableResponse resp;
  CHECK(west.api().DescribeTable(RegionClient::Context().get(), dreq, &resp).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(Contents(f.address("us-east-1"), "demo").size() == 51);
}

TEST_CASE("an add to a region that is down can be cancelled by removing that replica",
          "[integration][replica]") {
  ClusterFixture f(kRegions);
  RegionClient east(f.address("us-east-1")), west(f.address("us-west-2"));
  CreateTable(east, "demo", {"us-east-1", "us-west-2"});
  REQUIRE(Eventually([&] { return ReplicaStatus(west, "demo", "us-west-2").first == "ACTIVE"; }));
  for (int i = 0; i < 20; ++i) REQUIRE(Put(east, "demo", "k" + std::to_string(i), i).ok());
  REQUIRE(f.cluster().Kill("eu-west-1").ok());
  REQUIRE(UpdateReplicas(east, "demo", "eu-west-1", /*add=*/true).ok());
  CHECK(ReplicaStatus(east, "demo", "eu-west-1").first == "CREATING");
  // Anything else is refused while the add is in flight; the message says how to cancel.
  grpc::Status busy = UpdateReplicas(east, "demo", "us-west-2", /*add=*/false);
  CHECK(busy.error_message().find("--remove-replica eu-west-1") != std::string::npos);

  REQUIRE(UpdateReplicas(east, "demo", "eu-west-1", /*add=*/false).ok());
  pb::DescribeTableRequest dreq;
  dreq.set_table("demo");
  auto active_without_eu = [&](RegionClient& c) {
    pb::DescribeTableResponse resp;
    return c.api().DescribeTable(RegionClient::Context().get(), dreq, &resp).ok() &&
           resp.table().table_status() == "ACTIVE" && resp.table().replicas_size() == 2;
  };
  CHECK(active_without_eu(east));
  CHECK(Eventually([&] { return active_without_eu(west); }));

  // The region comes back: it holds no replica, and the table can be given one again.
  REQUIRE(f.cluster().Start("eu-west-1").ok());
  RegionClient eu(f.address("eu-west-1"));
  absl::SleepFor(absl::Milliseconds(500));
  CHECK(ReplicaStatus(east, "demo", "eu-west-1").first.empty());
  REQUIRE(UpdateReplicas(east, "demo", "eu-west-1", /*add=*/true).ok());
  CHECK(Eventually([&] { return ReplicaStatus(east, "demo", "eu-west-1").first == "ACTIVE"; },
                   absl::Seconds(30)));
  CHECK(Eventually([&] { return Contents(f.address("eu-west-1"), "demo").size() == 20; }));
}

TEST_CASE("DeleteTable in one region of a 3-region table deletes only that replica",
          "[integration][replica]") {
  ClusterFixture f(kRegions);
  RegionClient east(f.address("us-east-1")), west(f.address("us-west-2")),
      eu(f.address("eu-west-1"));
  CreateTable(east, "demo", kRegions);
  REQUIRE(Eventually([&] { return ReplicaStatus(eu, "demo", "eu-west-1").first == "ACTIVE"; }));
  REQUIRE(Eventually([&] { return ReplicaStatus(west, "demo", "us-west-2").first == "ACTIVE"; }));
  for (int i = 0; i < 30; ++i) REQUIRE(Put(east, "demo", "k" + std::to_string(i), i).ok());
  REQUIRE(Eventually([&] { return Contents(f.address("us-west-2"), "demo").size() == 30; }));

  pb::DeleteTableRequest del;
  del.set_table("demo");
  pb::DeleteTableResponse deleted;
  REQUIRE(west.api().DeleteTable(RegionClient::Context().get(), del, &deleted).ok());
  CHECK(deleted.table().table_status() == "DELETING");
  pb::DescribeTableRequest dreq;
  dreq.set_table("demo");
  {
    pb::DescribeTableResponse resp;
    CHECK(west.api().DescribeTable(RegionClient::Context().get(), dreq, &resp).error_code() ==
          grpc::StatusCode::NOT_FOUND);
  }
  // The other two keep the table and its items; their replica lists shrink to themselves.
  for (RegionClient* c : {&east, &eu}) {
    REQUIRE(Eventually([&] {
      pb::DescribeTableResponse resp;
      if (!c->api().DescribeTable(RegionClient::Context().get(), dreq, &resp).ok()) return false;
      std::vector<std::string> replicas(resp.table().replicas().begin(),
                                        resp.table().replicas().end());
      return replicas == std::vector<std::string>{"eu-west-1", "us-east-1"} &&
             resp.table().table_status() == "ACTIVE";
    }));
  }
  CHECK(Contents(f.address("us-east-1"), "demo").size() == 30);
  CHECK(Contents(f.address("eu-west-1"), "demo").size() == 30);
  // They still replicate to each other, and no longer to the deleted replica.
  REQUIRE(Put(east, "demo", "after", 1).ok());
  CHECK(Eventually([&] { return Contents(f.address("eu-west-1"), "demo").count("after") > 0; }));
  pb::DescribeTableResponse resp;
  CHECK(west.api().DescribeTable(RegionClient::Context().get(), dreq, &resp).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  // Deleting one of the last two leaves a regional table in the other.
  REQUIRE(eu.api().DeleteTable(RegionClient::Context().get(), del, &deleted).ok());
  REQUIRE(Eventually([&] {
    pb::DescribeTableResponse r;
    return east.api().DescribeTable(RegionClient::Context().get(), dreq, &r).ok() &&
           r.table().replicas_size() == 1 && r.table().table_status() == "ACTIVE";
  }));
  CHECK(Contents(f.address("us-east-1"), "demo").size() == 31);
}

// The replica set every region that holds `table` describes: region -> status, plus the table
// status under "*" (empty when the table is not there or the call fails).
std::map<std::string, std::string> ReplicaView(RegionClient& c, const std::string& table) {
  pb::DescribeTableRequest req;
  req.set_table(table);
  pb::DescribeTableResponse resp;
  if (!c.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok()) return {};
  std::map<std::string, std::string> out{{"*", resp.table().table_status()}};
  for (const auto& r : resp.table().replica_descriptions())
    out[r.region_name()] = r.replica_status();
  return out;
}

std::string Render(const std::map<std::string, std::string>& view) {
  std::string out;
  for (const auto& [k, v] : view) out += k + "=" + v + " ";
  return out.empty() ? "(no table)" : out;
}

void Block(RegionClient& c, const std::string& peer, bool blocked) {
  pb::SetBlockedRequest req;
  req.set_peer(peer);
  req.set_blocked(blocked);
  pb::SetBlockedResponse resp;
  REQUIRE(c.admin().SetBlocked(RegionClient::Context().get(), req, &resp).ok());
}

TEST_CASE("replica changes made on both sides of a partition converge once it heals",
          "[integration][replica]") {
  // Issue 19 item 3: us-west-2 cut off; eu-west-1 added through us-east-1 while us-west-2
  // removes us-east-1. Both acknowledged changes must stand everywhere after the heal.
  ClusterFixture f(kRegions);
  RegionClient east(f.address("us-east-1")), west(f.address("us-west-2")),
      eu(f.address("eu-west-1"));
  CreateTable(east, "demo", {"us-east-1", "us-west-2"});
  REQUIRE(Eventually([&] { return ReplicaStatus(west, "demo", "us-west-2").first == "ACTIVE"; }));
  for (int i = 0; i < 30; ++i) REQUIRE(Put(east, "demo", "k" + std::to_string(i), i).ok());
  REQUIRE(Eventually([&] { return Contents(f.address("us-west-2"), "demo").size() == 30; }));

  for (const char* other : {"us-east-1", "eu-west-1"}) {
    Block(west, other, true);
  }
  Block(east, "us-west-2", true);
  Block(eu, "us-west-2", true);
  REQUIRE(UpdateReplicas(east, "demo", "eu-west-1", /*add=*/true).ok());
  REQUIRE(Eventually([&] { return !ReplicaStatus(eu, "demo", "eu-west-1").first.empty(); }));
  REQUIRE(UpdateReplicas(west, "demo", "us-east-1", /*add=*/false).ok());
  REQUIRE(Put(east, "demo", "east-during", 1).ok());
  REQUIRE(Put(west, "demo", "west-during", 2).ok());

  for (const char* other : {"us-east-1", "eu-west-1"}) {
    Block(west, other, false);
  }
  Block(east, "us-west-2", false);
  Block(eu, "us-west-2", false);

  const std::map<std::string, std::string> expected = {
      {"*", "ACTIVE"}, {"eu-west-1", "ACTIVE"}, {"us-west-2", "ACTIVE"}};
  CHECK(Eventually(
      [&] {
        return ReplicaView(west, "demo") == expected && ReplicaView(eu, "demo") == expected &&
               ReplicaView(east, "demo").empty();
      },
      absl::Seconds(40)));
  INFO("us-west-2 describes " << Render(ReplicaView(west, "demo")));
  INFO("eu-west-1 describes " << Render(ReplicaView(eu, "demo")));
  INFO("us-east-1 describes " << Render(ReplicaView(east, "demo")));
  CHECK(ReplicaView(west, "demo") == expected);
  CHECK(ReplicaView(eu, "demo") == expected);
  CHECK(ReplicaView(east, "demo").empty());
  // Every acknowledged write is in both remaining replicas, and they keep replicating.
  REQUIRE(Put(eu, "demo", "after", 3).ok());
  CHECK(Eventually([&] {
    auto w = Contents(f.address("us-west-2"), "demo");
    return w.size() == 33 && w == Contents(f.address("eu-west-1"), "demo");
  }));
}

// `gtsim ARGS` against the fixture's cluster: exit code and stdout (stderr appended on failure).
std::pair<int, std::string> Cli(ClusterFixture& f, const std::string& args) {
  std::string out = f.cluster_dir() + "/.cli-out";
  std::string cmd = "GTSIM_DIR='" + f.cluster_dir() + "' " + testing::BinDir() + "/gtsim " +
                    args + " >" + out + " 2>&1 </dev/null";
  int status = std::system(cmd.c_str());
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, ss.str()};
}

nlohmann::json DescribeJson(ClusterFixture& f, const std::string& region) {
  auto [code, out] = Cli(f, "describe-table --region " + region + " --table demo");
  if (code != 0) return nlohmann::json::object();
  auto j = nlohmann::json::parse(out, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j["Table"];
}

TEST_CASE("settings changed with gtsim update-table in one region show in another's DescribeTable",
          "[integration][replica][settings]") {
  ClusterFixture f({"us-east-1", "us-west-2"});
  REQUIRE(Cli(f, "create-table --region us-west-2 --table demo --hash-key id:S").first == 0);
  auto add = Cli(f, "update-table --region us-west-2 --table demo --add-replica us-east-1");
  INFO(add.second);
  REQUIRE(add.first == 0);
  auto added = nlohmann::json::parse(add.second)["TableDescription"];
  CHECK(added["TableStatus"] == "UPDATING");
  CHECK(added["Replicas"][0]["ReplicaStatus"] == "CREATING");
  CHECK(added["GlobalTableVersion"] == "2019.11.21");
  CHECK(added["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES");
  REQUIRE(Eventually([&] {
    return DescribeJson(f, "us-west-2")["TableStatus"] == "ACTIVE" &&
           DescribeJson(f, "us-east-1")["TableStatus"] == "ACTIVE";
  }));
  // The local region cannot be added; the CLI says why.
  auto local = Cli(f, "update-table --region us-west-2 --table demo --add-replica us-west-2");
  CHECK(local.first == 2);
  CHECK(local.second.find("Cannot add or delete the local region") != std::string::npos);

  auto set = Cli(f, "update-table --region us-west-2 --table demo --billing-mode PROVISIONED "
                    "--wcu 1 --rcu 10 --sse-type KMS --ttl-attribute expiresAt");
  INFO(set.second);
  REQUIRE(set.first == 0);
  // TTL is not part of DynamoDB's TableDescription (describe-table prints exactly that): the
  // native API's settings show it.
  auto ttl_attribute = [&](const std::string& region) {
    RegionClient client(f.address(region));
    pb::DescribeTableRequest req;
    req.set_table("demo");
    pb::DescribeTableResponse resp;
    if (!client.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok())
      return std::string();
    return resp.table().settings().ttl_attribute();
  };
  REQUIRE(Eventually([&] {
    auto t = DescribeJson(f, "us-east-1");
    return t["BillingModeSummary"]["BillingMode"] == "PROVISIONED" &&
           t["ProvisionedThroughput"]["WriteCapacityUnits"] == 1 &&
           t["SSEDescription"]["SSEType"] == "KMS" && ttl_attribute("us-east-1") == "expiresAt";
  }));
  // Write capacity is enforced in the other region too: a burst of puts gets throttled.
  RegionClient east(f.address("us-east-1"));
  int throttled = 0;
  for (int i = 0; i < 20; ++i) {
    grpc::Status s = Put(east, "demo", "k" + std::to_string(i), i);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++throttled;
      CHECK(s.error_message().find("ProvisionedThroughputExceeded") != std::string::npos);
    }
  }
  CHECK(throttled > 0);

  // Deletion protection stays with us-east-1's replica and blocks its removal.
  REQUIRE(Cli(f, "update-table --region us-east-1 --table demo --deletion-protection true").first ==
          0);
  REQUIRE(Cli(f, "update-table --region us-west-2 --table demo --billing-mode PAY_PER_REQUEST")
              .first == 0);
  RegionClient west(f.address("us-west-2"));
  auto west_sees_protection = [&] {
    pb::DescribeTableRequest req;
    req.set_table("demo");
    pb::DescribeTableResponse resp;
    if (!west.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok()) return false;
    for (const auto& r : resp.table().replica_descriptions()) {
      if (r.region_name() == "us-east-1") return r.deletion_protection();
    }
    return false;
  };
  REQUIRE(Eventually([&] {
    return DescribeJson(f, "us-west-2")["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST" &&
           DescribeJson(f, "us-east-1")["DeletionProtectionEnabled"] == true &&
           west_sees_protection();
  }));
  auto refused = Cli(f, "update-table --region us-west-2 --table demo --remove-replica us-east-1");
  CHECK(refused.first == 1);
  CHECK(refused.second.find("deletion protection") != std::string::npos);
  CHECK(DescribeJson(f, "us-west-2")["DeletionProtectionEnabled"] == false);
}

TEST_CASE("a GSI created in one region is queryable in another with its backfilled items",
          "[integration][replica][gsi]") {
  ClusterFixture f({"us-east-1", "us-west-2"});
  REQUIRE(Cli(f, "create-table --region us-east-1 --table demo --hash-key id:S --replicas "
                 "us-east-1,us-west-2").first == 0);
  RegionClient east(f.address("us-east-1"));
  REQUIRE(Eventually([&] { return ReplicaStatus(east, "demo", "us-east-1").first == "ACTIVE"; }));
  for (int i = 0; i < 3000; ++i) {
    pb::PutItemRequest req;
    req.set_table("demo");
    auto& a = *req.mutable_item()->mutable_attributes();
    a["id"].set_s("u" + std::to_string(i));
    a["email"].set_s(i % 100 == 0 ? "a@x" : "u" + std::to_string(i) + "@x");
    a["n"].set_n(std::to_string(i));
    pb::PutItemResponse resp;
    REQUIRE(east.api().PutItem(RegionClient::Context().get(), req, &resp).ok());
  }
  auto created = Cli(f, "update-table --region us-east-1 --table demo --create-gsi "
                        "byEmail:email:S --projection KEYS_ONLY");
  INFO(created.second);
  REQUIRE(created.first == 0);
  auto query = [&] {
    return Cli(f, "query --region us-west-2 --table demo --index byEmail "
                  "--key '{\"email\":{\"S\":\"a@x\"}}'");
  };
  REQUIRE(Eventually([&] {
    auto t = DescribeJson(f, "us-west-2");
    return t.contains("GlobalSecondaryIndexes") &&
           t["GlobalSecondaryIndexes"][0]["IndexStatus"] == "ACTIVE" &&
           Contents(f.address("us-west-2"), "demo").size() == 3000;
  }, absl::Seconds(60)));
  auto [code, out] = query();
  INFO(out);
  REQUIRE(code == 0);
  auto items = nlohmann::json::parse(out)["Items"];
  CHECK(items.size() == 30);
  CHECK(items[0].size() == 2);  // KEYS_ONLY: id and email
  // The native API pages index queries too: the CLI follows LastEvaluatedKey page by page.
  auto paged = Cli(f, "query --region us-west-2 --table demo --index byEmail --page-size 7 "
                      "--key '{\"email\":{\"S\":\"a@x\"}}'");
  REQUIRE(paged.first == 0);
  CHECK(nlohmann::json::parse(paged.second)["Items"] == items);
  auto backward = Cli(f, "query --region us-west-2 --table demo --index byEmail --page-size 4 "
                         "--backward --key '{\"email\":{\"S\":\"a@x\"}}'");
  REQUIRE(backward.first == 0);
  auto reversed = nlohmann::json::parse(backward.second)["Items"];
  REQUIRE(reversed.size() == 30);
  CHECK(reversed[0] == items[29]);
  CHECK(reversed[29] == items[0]);
  auto first = Cli(f, "query --region us-west-2 --table demo --index byEmail --page-size 7 "
                      "--max-items 7 --key '{\"email\":{\"S\":\"a@x\"}}'");
  REQUIRE(first.first == 0);
  auto next = nlohmann::json::parse(nlohmann::json::parse(first.second)["NextToken"].get<std::string>());
  CHECK(next.contains("id"));
  CHECK(next.contains("email"));  // the index key with the table key, as DynamoDB's
  auto unknown = Cli(f, "query --region us-west-2 --table demo --index nope "
                        "--key '{\"email\":{\"S\":\"a@x\"}}'");
  CHECK(unknown.first == 2);
  CHECK(unknown.second.find("no index") != std::string::npos);
}

}  // namespace
}  // namespace gtsim
