// Multi-process tests: real gtsim-region processes replicating over gRPC on 127.0.0.1.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/gtsim/replication.grpc.pb.h"
#include "region/grpc/convert.h"
#include "tests/cluster_fixture.h"
#include "tools/cli_client.h"

namespace gtsim {
namespace {

using testing::ClusterFixture;
using testing::Eventually;

const std::vector<std::string> kRegions = {"us-east-1", "us-west-2", "eu-west-1"};

// A connected client per region of a fixture.
class Clients {
 public:
  explicit Clients(ClusterFixture& f) {
    for (const auto& p : f.cluster().regions()) {
      clients_.emplace(p.name, std::make_unique<RegionClient>(p.address()));
    }
  }
  RegionClient& operator[](const std::string& r) { return *clients_.at(r); }

 private:
  std::map<std::string, std::unique_ptr<RegionClient>> clients_;
};

void CreateGlobalTable(RegionClient& c, const std::string& table,
                       const std::vector<std::string>& replicas) {
  pb::CreateTableRequest req;
  req.set_table(table);
  req.mutable_hash_key()->set_name("id");
  req.mutable_hash_key()->set_type(pb::S);
  for (const auto& r : replicas) req.add_replicas(r);
  pb::CreateTableResponse resp;
  grpc::Status s = c.api().CreateTable(RegionClient::Context().get(), req, &resp);
  REQUIRE(s.ok());
}

pb::Item MakeItem(const std::string& id, const std::string& value) {
  pb::Item item;
  (*item.mutable_attributes())["id"].set_s(id);
  (*item.mutable_attributes())["v"].set_s(value);
  return item;
}

// Writes id=value; returns the write stamp, or nullopt when the region did not acknowledge it.
std::optional<pb::WriteStamp> Put(RegionClient& c, const std::string& table, const std::string& id,
                                  const std::string& value) {
  pb::PutItemRequest req;
  req.set_table(table);
  *req.mutable_item() = MakeItem(id, value);
  pb::PutItemResponse resp;
  grpc::Status s = c.api().PutItem(RegionClient::Context(absl::Seconds(3)).get(), req, &resp);
  if (!s.ok()) {
    UNSCOPED_INFO("PutItem " << id << ": " << s.error_code() << " " << s.error_message());
    return std::nullopt;
  }
  if (resp.result().has_superseded_by()) return std::nullopt;
  return resp.result().stamp();
}

// The value of `id` in one region ("" when absent or the region is unreachable), with its stamp.
std::pair<std::string, pb::WriteStamp> Get(RegionClient& c, const std::string& table,
                                           const std::string& id) {
  pb::GetItemRequest req;
  req.set_table(table);
  (*req.mutable_key()->mutable_attributes())["id"].set_s(id);
  pb::GetItemResponse resp;
  grpc::Status s = c.api().GetItem(RegionClient::Context(absl::Seconds(3)).get(), req, &resp);
  if (!s.ok() || !resp.found()) return {"", {}};
  return {resp.item().attributes().at("v").s(), resp.stamp()};
}

// Every item of a table in one region, as id -> v.
std::map<std::string, std::string> ScanAll(RegionClient& c, const std::string& table) {
  std::map<std::string, std::string> out;
  pb::ScanRequest req;
  req.set_table(table);
  req.set_limit(1000);
  while (true) {
    pb::ItemPage page;
    grpc::Status s = c.api().Scan(RegionClient::Context().get(), req, &page);
    if (!s.ok()) return {{"<error>", s.error_message()}};
    for (const auto& item : page.items()) {
      out[item.attributes().at("id").s()] = item.attributes().at("v").s();
    }
    if (page.last_evaluated_key().attributes().empty()) return out;
    *req.mutable_exclusive_start_key() = page.last_evaluated_key();
  }
}

bool AllIdentical(Clients& clients, const std::string& table, size_t at_least = 1) {
  auto first = ScanAll(clients[kRegions[0]], table);
  if (first.size() < at_least) return false;
  for (const auto& r : kRegions) {
    if (ScanAll(clients[r], table) != first) return false;
  }
  return true;
}

bool HasTable(RegionClient& c, const std::string& table) {
  pb::DescribeTableRequest req;
  req.set_table(table);
  pb::DescribeTableResponse resp;
  return c.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok();
}

bool StampLess(const pb::WriteStamp& a, const pb::WriteStamp& b) {
  return std::make_tuple(a.timestamp_us(), a.region()) <
         std::make_tuple(b.timestamp_us(), b.region());
}

TEST_CASE("a write in any region reaches every other region", "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "orders", kRegions);
  // The table reaches the other regions asynchronously; write once each region has it.
  for (const auto& r : kRegions) {
    REQUIRE(Eventually([&] { return HasTable(c[r], "orders"); }));
    REQUIRE(Put(c[r], "orders", "from-" + r, r));
  }
  for (const auto& writer : kRegions) {
    for (const auto& reader : kRegions) {
      INFO(writer << " -> " << reader);
      CHECK(Eventually([&] { return Get(c[reader], "orders", "from-" + writer).first == writer; }));
    }
  }
}

TEST_CASE("BatchWrite: independent puts and deletes with one outcome each, replicated",
          "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "orders", kRegions);
  REQUIRE(Put(c["us-east-1"], "orders", "old", "x"));
  REQUIRE(Put(c["us-east-1"], "orders", "taken", "first"));

  pb::BatchWriteRequest req;
  for (const std::string id : {"a", "b", "c"}) {
    auto* put = req.add_writes()->mutable_put();
    put->set_table("orders");
    *put->mutable_item() = MakeItem(id, "batch");
  }
  auto* del = req.add_writes()->mutable_delete_();
  del->set_table("orders");
  (*del->mutable_key()->mutable_attributes())["id"].set_s("old");
  auto* conditional = req.add_writes()->mutable_put();  // fails alone: "taken" exists
  conditional->set_table("orders");
  *conditional->mutable_item() = MakeItem("taken", "second");
  auto* clause = conditional->mutable_condition()->add_clauses();
  clause->set_attribute("id");
  clause->set_op(pb::Condition::NOT_EXISTS);
  pb::BatchWriteResponse resp;
  grpc::Status s = c["us-east-1"].api().BatchWrite(RegionClient::Context().get(), req, &resp);
  INFO(s.error_message());
  REQUIRE(s.ok());
  REQUIRE(resp.outcomes_size() == 5);
  for (int i = 0; i < 4; ++i) CHECK(resp.outcomes(i).code() == 0);
  CHECK(resp.outcomes(4).code() == static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  CHECK(resp.outcomes(4).message().find("conditional request failed") != std::string::npos);
  CHECK(resp.outcomes(0).result().stamp().region() == "us-east-1");

  for (const auto& r : kRegions) {
    INFO(r);
    CHECK(Eventually([&] {
      auto items = ScanAll(c[r], "orders");
      return items == std::map<std::string, std::string>{
                          {"a", "batch"}, {"b", "batch"}, {"c", "batch"}, {"taken", "first"}};
    }));
  }

  SECTION("a malformed or oversized batch is refused whole, nothing written") {
    pb::BatchWriteRequest bad;
    auto* put = bad.add_writes()->mutable_put();
    put->set_table("orders");
    *put->mutable_item() = MakeItem("never", "x");
    bad.add_writes();  // neither put nor delete
    s = c["us-east-1"].api().BatchWrite(RegionClient::Context().get(), bad, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("write 1") != std::string::npos);

    pb::BatchWriteRequest big;
    for (int i = 0; i < 26; ++i) {
      auto* p = big.add_writes()->mutable_put();
      p->set_table("orders");
      *p->mutable_item() = MakeItem("never", "x");
    }
    s = c["us-east-1"].api().BatchWrite(RegionClient::Context().get(), big, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("1 to 25") != std::string::npos);
    CHECK(Get(c["us-east-1"], "orders", "never").first.empty());
  }
}

TEST_CASE("concurrent conflicting writes converge to the latest stamp in every region",
          "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "t", kRegions);
  REQUIRE(Eventually([&] {
    for (const auto& r : kRegions) {
      if (!Put(c[r], "t", "probe-" + r, "x")) return false;
    }
    return true;
  }));
  // Three regions hammer the same five keys at once; every acknowledged stamp is recorded.
  std::mutex mu;
  std::map<std::string, std::pair<pb::WriteStamp, std::string>> latest;  // key -> (stamp, value)
  std::vector<std::thread> writers;
  for (const auto& r : kRegions) {
    writers.emplace_back([&, r] {
      for (int i = 0; i < 60; ++i) {
        std::string key = "k" + std::to_string(i % 5);
        std::string value = r + "#" + std::to_string(i);
        auto stamp = Put(c[r], "t", key, value);
        if (!stamp) continue;
        std::lock_guard<std::mutex> l(mu);
        auto it = latest.find(key);
        if (it == latest.end() || StampLess(it->second.first, *stamp))
          latest[key] = {*stamp, value};
      }
    });
  }
  for (auto& w : writers) w.join();
  REQUIRE(latest.size() == 5);
  REQUIRE(Eventually([&] { return AllIdentical(c, "t", 8); }));
  for (const auto& [key, winner] : latest) {
    for (const auto& r : kRegions) {
      auto [value, stamp] = Get(c[r], "t", key);
      INFO("key " << key << " in " << r << ": expected " << winner.second << " stamped "
                  << winner.first.timestamp_us() << "/" << winner.first.region());
      CHECK(value == winner.second);
      CHECK(stamp.timestamp_us() == winner.first.timestamp_us());
    }
  }
}

TEST_CASE("a region killed with kill -9 under writes catches up and loses nothing acknowledged",
          "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "t", kRegions);
  REQUIRE(Eventually([&] { return Put(c["us-west-2"], "t", "ready", "1").has_value(); }));

  std::mutex mu;
  std::map<std::string, std::string> acknowledged;  // unique keys: no conflicts
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (const std::string r : {"us-east-1", "us-west-2"}) {
    writers.emplace_back([&, r] {
      for (int i = 0; !stop; ++i) {
        std::string key = r + "-" + std::to_string(i);
        if (Put(c[r], "t", key, "v" + std::to_string(i))) {
          std::lock_guard<std::mutex> l(mu);
          acknowledged[key] = "v" + std::to_string(i);
        }
        absl::SleepFor(absl::Milliseconds(2));
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(400));
  REQUIRE(f.cluster().Kill("us-west-2").ok());
  absl::SleepFor(absl::Milliseconds(400));
  REQUIRE(f.cluster().Start("us-west-2").ok());
  absl::SleepFor(absl::Milliseconds(400));
  stop = true;
  for (auto& w : writers) w.join();

  size_t from_west = 0;
  for (const auto& [k, v] : acknowledged) from_west += k.rfind("us-west-2", 0) == 0;
  REQUIRE(from_west > 10);  // us-west-2 acknowledged writes before and after its crash
  REQUIRE(Eventually([&] { return AllIdentical(c, "t", acknowledged.size()); }));
  auto items = ScanAll(c["us-west-2"], "t");
  for (const auto& [k, v] : acknowledged) {
    INFO("acknowledged write " << k);
    CHECK(items.count(k) == 1);
    CHECK(items[k] == v);
  }
}

TEST_CASE("a region whose data was wiped comes back with a new log its peers read from the start",
          "[integration]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions);
  RegionClient east(f.address("us-east-1"));
  CreateGlobalTable(east, "t", regions);
  {
    RegionClient west(f.address("us-west-2"));
    REQUIRE(Eventually([&] { return HasTable(west, "t"); }));
    // Enough writes that east's cursor for west's log is far ahead of a fresh log's first rows.
    for (int i = 0; i < 30; ++i) REQUIRE(Put(west, "t", absl::StrCat("old-", i), "x"));
    REQUIRE(Eventually([&] { return Get(east, "t", "old-29").first == "x"; }));
  }
  // The disk is lost. Starting as a new region would silently drop what it acknowledged: it
  // is refused, whether the directory is gone or its database is an empty file...
  REQUIRE(f.cluster().Kill("us-west-2").ok());
  const std::string data_dir = (*f.cluster().Find("us-west-2"))->data_dir;
  std::filesystem::remove_all(data_dir);
  absl::Status refused = f.cluster().Start("us-west-2");
  INFO(refused.message());
  CHECK(absl::StrContains(refused.message(), "is missing"));
  CHECK(absl::StrContains(refused.message(), "--rejoin"));
  std::filesystem::create_directories(data_dir);
  std::ofstream(data_dir + "/region.db").close();
  refused = f.cluster().Start("us-west-2");
  CHECK(absl::StrContains(refused.message(), "is empty (0 bytes)"));
  // ...until it is told to rejoin: it restarts with an empty database.
  f.cluster().MarkRejoin("us-west-2");
  REQUIRE(f.cluster().Start("us-west-2").ok());
  RegionClient west(f.address("us-west-2"));
  // It replays east's log from the start (its cursors are gone): the table comes back.
  REQUIRE(Eventually([&] { return HasTable(west, "t"); }));
  // Its first new writes are at the start of its new log; east must not skip them as
  // positions it has already applied.
  REQUIRE(Put(west, "t", "new-0", "y"));
  REQUIRE(Put(west, "t", "new-1", "y"));
  CHECK(Eventually([&] { return Get(east, "t", "new-0").first == "y"; }));
  CHECK(Eventually([&] { return Get(east, "t", "new-1").first == "y"; }));
  // And east's writes still reach the wiped region.
  REQUIRE(Put(east, "t", "from-east", "z"));
  CHECK(Eventually([&] { return Get(west, "t", "from-east").first == "z"; }));
}

TEST_CASE("a wiped region that rejoins gets back its tables and its own shipped writes",
          "[integration]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2", "eu-west-1"};
  ClusterFixture f(regions);
  std::map<std::string, std::string> before;
  {
    // The table is created in the region that will lose its disk, so its definition exists
    // only as that region's own change; its newest writes are that region's own too.
    RegionClient west(f.address("us-west-2"));
    CreateGlobalTable(west, "t", regions);
    RegionClient east(f.address("us-east-1"));
    RegionClient eu(f.address("eu-west-1"));
    REQUIRE(Eventually([&] { return HasTable(east, "t") && HasTable(eu, "t"); }));
    for (int i = 0; i < 40; ++i) REQUIRE(Put(west, "t", absl::StrCat("west-", i), "w"));
    for (int i = 0; i < 10; ++i) REQUIRE(Put(east, "t", absl::StrCat("east-", i), "e"));
    // A key east wrote first and west overwrote last: west's version must win back.
    REQUIRE(Put(east, "t", "both", "from-east"));
    REQUIRE(Eventually([&] { return Get(west, "t", "both").first == "from-east"; }));
    REQUIRE(Put(west, "t", "both", "from-west"));
    REQUIRE(Eventually([&] {
      return Get(east, "t", "both").first == "from-west" &&
             Get(eu, "t", "both").first == "from-west" && ScanAll(eu, "t").size() == 51 &&
             ScanAll(east, "t").size() == 51;
    }));
    before = ScanAll(east, "t");
  }
  REQUIRE(f.cluster().Kill("us-west-2").ok());
  std::filesystem::remove_all((*f.cluster().Find("us-west-2"))->data_dir);
  f.cluster().MarkRejoin("us-west-2");
  REQUIRE(f.cluster().Start("us-west-2").ok());
  RegionClient west(f.address("us-west-2"));
  // Every write any peer had received is back: the peers' own, and the wiped region's.
  REQUIRE(Eventually([&] { return HasTable(west, "t"); }, absl::Seconds(30)));
  CHECK(Eventually([&] { return ScanAll(west, "t") == before; }, absl::Seconds(30)));
  CHECK(Get(west, "t", "both").first == "from-west");
  // And the region works as a replica again, both ways.
  REQUIRE(Put(west, "t", "after", "a"));
  RegionClient eu(f.address("eu-west-1"));
  CHECK(Eventually([&] { return Get(eu, "t", "after").first == "a"; }));
  pb::StatusResponse st;
  REQUIRE(west.admin().Status(RegionClient::Context().get(), {}, &st).ok());
  std::string warnings = absl::StrJoin(st.warnings(), "\n");
  INFO(warnings);
  CHECK(warnings.find("rejoined with an empty database") != std::string::npos);
}

TEST_CASE("a region whose database file is damaged refuses to start, naming the damage",
          "[integration]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions);
  {
    RegionClient east(f.address("us-east-1"));
    CreateGlobalTable(east, "t", regions);
    for (int i = 0; i < 150; ++i)
      REQUIRE(Put(east, "t", absl::StrCat("k", i), std::string(3000, 'v')));
  }
  REQUIRE(f.cluster().Stop("us-east-1").ok());  // a clean stop checkpoints the WAL into the file
  const std::string db = (*f.cluster().Find("us-east-1"))->data_dir + "/region.db";
  {
    const auto size = std::filesystem::file_size(db);
    std::fstream file(db, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>((size / 4096 / 2) * 4096));
    std::string junk(4 * 4096, '\xA5');
    file.write(junk.data(), static_cast<std::streamsize>(junk.size()));
  }
  absl::Status refused = f.cluster().Start("us-east-1");
  INFO(refused.message());
  CHECK_FALSE(refused.ok());
  CHECK((absl::StrContains(refused.message(), "damaged") ||
         absl::StrContains(refused.message(), "malformed")));
}

TEST_CASE("disk stays flat under a steady overwrite workload: the change log is trimmed",
          "[integration][soak]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions, [](LocalCluster& c) { c.SetLogRetention(absl::Seconds(1)); });
  RegionClient east(f.address("us-east-1"));
  RegionClient west(f.address("us-west-2"));
  CreateGlobalTable(east, "t", regions);
  REQUIRE(Eventually([&] { return HasTable(west, "t"); }));
  auto status = [&](RegionClient& c) {
    pb::StatusResponse st;
    REQUIRE(c.admin().Status(RegionClient::Context().get(), {}, &st).ok());
    return st;
  };
  // Rounds of 1500 overwrites of the same 50 items, each from both regions; after each round,
  // once both logs are trimmed back, the database files' size.
  std::vector<int64_t> sizes;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 1500; ++i) {
      RegionClient& c = i % 2 ? east : west;
      REQUIRE(Put(c, "t", absl::StrCat("k", i % 50),
                  absl::StrCat(round, "-", i, std::string(300, 'p'))));
    }
    INFO("round " << round);
    REQUIRE(Eventually(
        [&] { return status(east).log_positions() < 200 && status(west).log_positions() < 200; },
        absl::Seconds(30)));
    // The checkpointer (every 200 ms) moves the WAL's pages into the database file.
    absl::SleepFor(absl::Milliseconds(500));
    sizes.push_back(status(east).database_bytes() + status(west).database_bytes());
  }
  INFO("database bytes after each round: " << absl::StrJoin(sizes, ", "));
  // Freed pages are reused: after the first rounds the files stop growing (without trimming,
  // each round adds ~1 MB of change log to each region).
  CHECK(sizes[4] <= sizes[1] + sizes[1] / 5);
  CHECK(status(east).wal_bytes() <= 64 << 20);
  // The workload's writes all arrived.
  CHECK(Eventually([&] { return ScanAll(east, "t") == ScanAll(west, "t"); }));
}

TEST_CASE("a region of another cluster on a stopped peer's address is refused, both ways",
          "[integration][cluster_id]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions);
  RegionClient east(f.address("us-east-1"));
  CreateGlobalTable(east, "t", regions);
  REQUIRE(Put(east, "t", "mine", "a"));
  const RegionProcess west = **f.cluster().Find("us-west-2");
  REQUIRE(f.cluster().Stop("us-west-2").ok());

  // Another cluster's "us-west-2" starts on the same address, with a table of its own.
  const std::string rogue_dir = f.cluster_dir() + "/rogue";
  std::vector<std::string> argv_s = {testing::BinDir() + "/gtsim-region",
                                     "--region=us-west-2",
                                     "--data_dir=" + rogue_dir,
                                     "--listen=" + west.address(),
                                     "--peers=us-east-1=" + f.address("us-east-1"),
                                     "--cluster_id=0000000000000bad",
                                     absl::StrCat("--exit_with_parent=", getpid())};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string rogue_log = f.cluster_dir() + "/rogue.log";
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = open(rogue_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  } reaper{pid};
  {
    RegionClient rogue(west.address());
    REQUIRE(Eventually([&] {
      pb::CreateTableRequest req;
      req.set_table("intruder");
      req.mutable_hash_key()->set_name("id");
      req.mutable_hash_key()->set_type(pb::S);
      req.add_replicas("us-west-2");
      req.add_replicas("us-east-1");
      pb::CreateTableResponse resp;
      return rogue.api().CreateTable(RegionClient::Context().get(), req, &resp).ok();
    }));
    REQUIRE(Put(rogue, "intruder", "x", "foreign"));
    // A newer incarnation of east's own table, which east would take if it listened.
    CreateGlobalTable(rogue, "t", regions);
    REQUIRE(Put(rogue, "t", "mine", "overwritten by another cluster"));
  }
  // Both sides say so in their logs, naming both cluster ids...
  const std::string east_log = f.cluster().LogPath("us-east-1");
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  INFO("us-east-1's log: " << east_log);
  CHECK(Eventually([&] {
    std::string log = slurp(east_log);
    return log.find("0000000000000bad") != std::string::npos &&
           log.find(f.cluster().cluster_id()) != std::string::npos;
  }));
  INFO("us-east-1's log:\n"
       << slurp(east_log) << "\nthe other cluster's log:\n"
       << slurp(rogue_log));
  CHECK(Eventually([&] { return slurp(rogue_log).find("refused") != std::string::npos; }));
  // ...and nothing of the other cluster got in.
  absl::SleepFor(absl::Seconds(1));
  CHECK_FALSE(HasTable(east, "intruder"));
  CHECK(Get(east, "t", "mine").first == "a");
}

TEST_CASE("calls without the cluster's secret are refused; its files are its owner's alone",
          "[integration][cluster_id]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions);
  RegionClient east(f.address("us-east-1"));
  CreateGlobalTable(east, "t", regions);
  REQUIRE(Put(east, "t", "k", "v"));
  namespace fs = std::filesystem;
  auto mode = [](const std::string& path) {
    return fs::status(path).permissions() & fs::perms::all;
  };
  CHECK(mode(f.cluster_dir()) == fs::perms::owner_all);
  CHECK(mode(f.cluster_dir() + "/cluster.json") ==
        (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(mode(f.cluster().secret_path()) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK(mode((*f.cluster().Find("us-east-1"))->data_dir) == fs::perms::owner_all);

  // Another local user: same address, no secret.
  REQUIRE(RegionClient::UseSecretFile("/nonexistent/secret").ok());
  {
    pb::SetClockSkewRequest skew;
    skew.set_skew_us(1000);
    pb::SetClockSkewResponse skew_resp;
    grpc::Status refused =
        east.admin().SetClockSkew(RegionClient::Context().get(), skew, &skew_resp);
    CHECK(refused.error_code() == grpc::StatusCode::UNAUTHENTICATED);
    pb::ScanRequest scan;
    scan.set_table("t");
    pb::ItemPage page;
    CHECK(east.api().Scan(RegionClient::Context().get(), scan, &page).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
    CHECK_FALSE(Put(east, "t", "k", "forged"));  // a callback-API write, refused too
  }
  REQUIRE(RegionClient::UseSecretFile(f.cluster().secret_path()).ok());
  CHECK(Get(east, "t", "k").first == "v");
  pb::StatusResponse st;
  REQUIRE(east.admin().Status(RegionClient::Context().get(), {}, &st).ok());
  CHECK(st.clock_skew_us() == 0);
}

TEST_CASE("a region rejoining empty after its peer's log was trimmed is told what to re-add",
          "[integration][soak]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions, [](LocalCluster& c) { c.SetLogRetention(absl::Seconds(1)); });
  RegionClient east(f.address("us-east-1"));
  CreateGlobalTable(east, "t", regions);
  for (int i = 0; i < 200; ++i) REQUIRE(Put(east, "t", absl::StrCat("k", i), "v"));
  auto status = [&](RegionClient& c) {
    pb::StatusResponse st;
    REQUIRE(c.admin().Status(RegionClient::Context().get(), {}, &st).ok());
    return st;
  };
  REQUIRE(Eventually([&] { return status(east).log_positions() < 50; }, absl::Seconds(30)));
  REQUIRE(f.cluster().Kill("us-west-2").ok());
  std::filesystem::remove_all((*f.cluster().Find("us-west-2"))->data_dir);
  f.cluster().MarkRejoin("us-west-2");
  REQUIRE(f.cluster().Start("us-west-2").ok());
  // The rejoined region is served from after the trimmed positions - and east says, loudly,
  // that its replicas must bootstrap what it missed.
  CHECK(Eventually([&] {
    std::string warnings = absl::StrJoin(status(east).warnings(), "\n");
    return warnings.find("joined with an empty database") != std::string::npos;
  }));
  // It is served (from after them), not refused as a subscriber behind the trimmed log.
  std::string warnings = absl::StrJoin(status(east).warnings(), "\n");
  CHECK(warnings.find("have been trimmed") == std::string::npos);
}

TEST_CASE("point-in-time recovery keeps its window of the change log from being trimmed",
          "[integration][soak]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions, [](LocalCluster& c) { c.SetLogRetention(absl::Seconds(1)); });
  RegionClient east(f.address("us-east-1"));
  CreateGlobalTable(east, "pitr", regions);
  // PITR through the DynamoDB endpoint, as the AWS CLI or Terraform would set it.
  auto pitr = [&](bool on) {
    const std::string script = f.cluster_dir() + "/pitr.py";
    {
      std::ofstream py(script);
      py << "import urllib.request as u\n"
         << "u.urlopen(u.Request('" << (*f.cluster().Find("us-east-1"))->dynamodb_url() << "/', "
         << "data=b'{\"TableName\":\"pitr\",\"PointInTimeRecoverySpecification\":"
         << "{\"PointInTimeRecoveryEnabled\":" << (on ? "true" : "false") << "}}', "
         << "headers={'X-Amz-Target': 'DynamoDB_20120810.UpdateContinuousBackups', "
         << "'Content-Type': 'application/x-amz-json-1.0'}))\n";
    }
    return std::system(("python3 " + script).c_str());
  };
  REQUIRE(pitr(true) == 0);
  for (int i = 0; i < 100; ++i) REQUIRE(Put(east, "pitr", absl::StrCat("k", i), "v"));
  auto positions = [&] {
    pb::StatusResponse st;
    REQUIRE(east.admin().Status(RegionClient::Context().get(), {}, &st).ok());
    return st.log_positions();
  };
  absl::SleepFor(absl::Seconds(3));  // three trims at a 1 s retention
  CHECK(positions() >= 100);
  REQUIRE(pitr(false) == 0);
  CHECK(Eventually([&] { return positions() < 50; }, absl::Seconds(30)));
}

TEST_CASE("a partition holds changes back and they converge once it heals", "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "t", kRegions);
  REQUIRE(Eventually([&] { return Put(c["us-west-2"], "t", "ready", "1").has_value(); }));
  auto block = [&](const std::string& region, const std::string& peer, bool blocked) {
    pb::SetBlockedRequest req;
    req.set_peer(peer);
    req.set_blocked(blocked);
    pb::SetBlockedResponse resp;
    REQUIRE(c[region].admin().SetBlocked(RegionClient::Context().get(), req, &resp).ok());
  };
  block("us-east-1", "us-west-2", true);
  block("us-west-2", "us-east-1", true);
  REQUIRE(Put(c["us-east-1"], "t", "east", "e"));
  REQUIRE(Put(c["us-west-2"], "t", "west", "w"));
  // eu-west-1 still hears both sides; the two cut regions do not hear each other.
  REQUIRE(Eventually([&] { return Get(c["eu-west-1"], "t", "west").first == "w"; }));
  REQUIRE(Eventually([&] { return Get(c["eu-west-1"], "t", "east").first == "e"; }));
  absl::SleepFor(absl::Milliseconds(300));
  CHECK(Get(c["us-east-1"], "t", "west").first.empty());
  CHECK(Get(c["us-west-2"], "t", "east").first.empty());
  // The origin reports the held-back write as pending for the cut peer.
  pb::StatusResponse st;
  REQUIRE(c["us-west-2"].admin().Status(RegionClient::Context().get(), {}, &st).ok());
  int64_t pending = -2;
  for (const auto& o : st.outbound()) {
    if (o.peer() == "us-east-1") pending = o.pending();
  }
  CHECK(pending >= 1);

  block("us-east-1", "us-west-2", false);
  block("us-west-2", "us-east-1", false);
  REQUIRE(Eventually([&] { return AllIdentical(c, "t", 3); }));
  CHECK(Get(c["us-east-1"], "t", "west").first == "w");
  CHECK(Eventually([&] {
    pb::StatusResponse after;
    if (!c["us-west-2"].admin().Status(RegionClient::Context().get(), {}, &after).ok())
      return false;
    for (const auto& o : after.outbound()) {
      if (o.peer() == "us-east-1") return o.pending() == 0;
    }
    return false;
  }));
}

TEST_CASE("replication latency is measured per pair and reported by the admin API",
          "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "t", kRegions);
  REQUIRE(Eventually([&] { return HasTable(c["eu-west-1"], "t"); }));
  for (int i = 0; i < 20; ++i) REQUIRE(Put(c["us-east-1"], "t", "k" + std::to_string(i), "v"));
  REQUIRE(Eventually([&] { return ScanAll(c["eu-west-1"], "t").size() == 20; }));
  pb::StatusResponse st;
  REQUIRE(c["eu-west-1"].admin().Status(RegionClient::Context().get(), {}, &st).ok());
  bool found = false;
  for (const auto& in : st.inbound()) {
    if (in.origin() != "us-east-1") continue;
    found = true;
    CHECK(in.latency().samples() >= 20);
    CHECK(in.latency().p50_ms() > 0);
    CHECK(in.latency().p50_ms() <= in.latency().p99_ms());
    CHECK(in.latency().p99_ms() <= in.latency().max_ms());
    CHECK(in.connected());
  }
  CHECK(found);
}

TEST_CASE("a simulated link delay holds every change back at least that long", "[integration]") {
  ClusterFixture f(kRegions);
  Clients c(f);
  CreateGlobalTable(c["us-east-1"], "t", kRegions);
  REQUIRE(Eventually([&] { return HasTable(c["eu-west-1"], "t"); }));
  pb::SetLinkDelayRequest req;
  req.set_origin("us-east-1");
  req.set_delay_us(150'000);
  req.set_jitter_us(20'000);
  pb::SetLinkDelayResponse resp;
  REQUIRE(c["eu-west-1"].admin().SetLinkDelay(RegionClient::Context().get(), req, &resp).ok());
  for (int i = 0; i < 10; ++i) REQUIRE(Put(c["us-east-1"], "t", "k" + std::to_string(i), "v"));
  REQUIRE(Eventually([&] { return ScanAll(c["eu-west-1"], "t").size() == 10; }));
  pb::StatusResponse st;
  REQUIRE(c["eu-west-1"].admin().Status(RegionClient::Context().get(), {}, &st).ok());
  for (const auto& in : st.inbound()) {
    if (in.origin() != "us-east-1") continue;
    CHECK(in.delay_us() == 150'000);
    CHECK(in.latency().samples() >= 10);
    // Applied no earlier than commit + delay: even the fastest change waited the delay.
    CHECK(in.latency().p50_ms() >= 150.0);
  }
  req.set_origin("mars-1");
  CHECK_FALSE(c["eu-west-1"].admin().SetLinkDelay(RegionClient::Context().get(), req, &resp).ok());
}

// Issue 19 item 2: a region's database goes back in time (its WAL lost, a power loss) after its
// peer has applied writes made there. The region must notice, start a new log so that the peer
// does not skip its later writes at reused positions, and get its lost writes back from the peer.
TEST_CASE("a region whose log rolled back gets its lost writes back and no later write is skipped",
          "[integration][rollback]") {
  namespace fs = std::filesystem;
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions);
  auto east = std::make_unique<RegionClient>(f.address("us-east-1"));
  auto west = std::make_unique<RegionClient>(f.address("us-west-2"));
  CreateGlobalTable(*west, "w", regions);
  REQUIRE(Eventually([&] { return HasTable(*east, "w"); }));
  for (int i = 0; i < 50; ++i) REQUIRE(Put(*west, "w", absl::StrCat("a", i), "before"));
  REQUIRE(Eventually([&] { return ScanAll(*east, "w").size() == 50; }));

  // What us-west-2's disk will go back to.
  const std::string data = (*f.cluster().Find("us-west-2"))->data_dir;
  const std::string saved = f.cluster_dir() + "/us-west-2.saved";
  REQUIRE(f.cluster().Stop("us-west-2").ok());
  fs::copy(data, saved, fs::copy_options::recursive);
  REQUIRE(f.cluster().Start("us-west-2").ok());
  // Acknowledged, replicated - then lost from us-west-2's own database.
  for (int i = 0; i < 30; ++i) REQUIRE(Put(*west, "w", absl::StrCat("t", i), "lost-then-restored"));
  REQUIRE(Eventually([&] { return ScanAll(*east, "w").size() == 80; }));
  REQUIRE(f.cluster().Kill("us-west-2").ok());
  fs::remove_all(data);
  fs::rename(saved, data);
  REQUIRE(f.cluster().Start("us-west-2").ok());
  west = std::make_unique<RegionClient>(f.address("us-west-2"));

  // New writes reuse the log positions us-east-1 has already passed.
  for (int i = 0; i < 40; ++i) REQUIRE(Put(*west, "w", absl::StrCat("b", i), "after"));
  bool same = Eventually(
      [&] {
        auto e = ScanAll(*east, "w");
        return e.size() == 120 && ScanAll(*west, "w") == e;
      },
      absl::Seconds(30));
  auto e = ScanAll(*east, "w");
  auto w = ScanAll(*west, "w");
  INFO("us-east-1 holds " << e.size() << " items, us-west-2 " << w.size());
  CHECK(same);
  CHECK(w.count("t0") == 1);   // the lost write is back where it was made
  CHECK(e.count("b39") == 1);  // and no new write was skipped
  pb::StatusResponse st;
  REQUIRE(west->admin().Status(RegionClient::Context().get(), {}, &st).ok());
  std::string warnings = absl::StrJoin(st.warnings(), "\n");
  INFO(warnings);
  CHECK(warnings.find("rolled back") != std::string::npos);
  CHECK(warnings.find("sent back 30") != std::string::npos);
}

// The threads of process `pid` (its entries in /proc/PID/task).
int ThreadCount(int pid) {
  int n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator(absl::StrCat("/proc/", pid, "/task"))) {
    ++n;
  }
  return n;
}

TEST_CASE("replication streams take no thread each, and a commit reaches every idle stream",
          "[integration][stream]") {
  const std::vector<std::string> regions = {"us-east-1", "us-west-2"};
  ClusterFixture f(regions);
  RegionClient east(f.address("us-east-1"));
  CreateGlobalTable(east, "t", regions);
  REQUIRE(Put(east, "t", "before", "v"));
  RegionClient west(f.address("us-west-2"));
  REQUIRE(Eventually([&] { return Get(west, "t", "before").first == "v"; }));
  const int pid = (*f.cluster().Find("us-east-1"))->pid;
  const int threads_before = ThreadCount(pid);

  // Subscribers posing as us-west-2 (a peer), each served its first batch.
  auto stub = pb::Replication::NewStub(
      grpc::CreateChannel(f.address("us-east-1"), grpc::InsecureChannelCredentials()));
  constexpr int kStreams = 24;
  struct Open {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReaderWriter<pb::StreamRequest, pb::ChangeBatch>> stream;
  };
  std::vector<std::unique_ptr<Open>> open;
  for (int i = 0; i < kStreams; ++i) {
    auto o = std::make_unique<Open>();
    RegionClient::AttachSecret(&o->ctx);
    o->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    o->stream = stub->Stream(&o->ctx);
    SubscribeRequest sub;
    sub.subscriber = "us-west-2";
    sub.cluster_id = f.cluster().cluster_id();
    pb::StreamRequest first;
    ToProto(sub, first.mutable_subscribe());
    REQUIRE(o->stream->Write(first));
    pb::ChangeBatch batch;
    REQUIRE(o->stream->Read(&batch));
    CHECK(batch.origin() == "us-east-1");
    open.push_back(std::move(o));
  }
  const int threads_open = ThreadCount(pid);
  INFO("us-east-1 threads: " << threads_before << " before, " << threads_open << " with "
                             << kStreams << " more streams open");
  CHECK(threads_open - threads_before < kStreams);  // thread-per-stream took 2 per stream

  // Every stream is idle at the head now; one commit wakes each of them with the change.
  std::optional<pb::WriteStamp> after = Put(east, "t", "after", "v");
  REQUIRE(after);
  int woken = 0;
  for (auto& o : open) {
    pb::ChangeBatch batch;
    bool got = false;
    while (!got && o->stream->Read(&batch)) {
      for (const auto& c : batch.changes()) {
        got |= c.kind() == pb::Change::PUT && c.timestamp_us() == after->timestamp_us();
      }
      if (batch.changes_size() > 0) {  // acknowledge what arrived, as a receiver does
        pb::StreamRequest ack;
        ack.mutable_ack()->set_applied_seq(batch.scanned_through());
        o->stream->Write(ack);
      }
    }
    woken += got;
  }
  CHECK(woken == kStreams);
  for (auto& o : open) {
    o->stream->WritesDone();
    pb::ChangeBatch rest;
    while (o->stream->Read(&rest)) {
    }
    CHECK(o->stream->Finish().ok());  // the origin ends a stream its subscriber closed
  }
  CHECK(Eventually([&] { return ThreadCount(pid) <= threads_open; }));
  // The real peer link is unharmed.
  REQUIRE(Put(east, "t", "last", "v"));
  CHECK(Eventually([&] { return Get(west, "t", "last").first == "v"; }));
}

}  // namespace
}  // namespace gtsim
