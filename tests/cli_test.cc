// The gtsim CLI as a user meets it: exit codes, messages, and bad input that writes nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/cli_fixture.h"

namespace gtsim {
namespace {

using testing::BinDir;
using testing::CliCluster;
using testing::Gtsim;
using testing::MakeTempDir;
using testing::Result;
using testing::Slurp;

TEST_CASE("gtsim --help lists the commands and an unknown command is a usage error", "[cli]") {
  std::string dir = MakeTempDir("gtsim-cli");
  Result help = Gtsim(dir, "--help");
  CHECK(help.code == 0);
  for (const char* cmd : {"up", "down", "status", "create-table", "put", "get", "query", "scan",
                          "kill", "restart", "partition", "heal", "clock", "traffic", "check"}) {
    CHECK(help.out.find(std::string("  ") + cmd + " ") != std::string::npos);
  }
  Result bad = Gtsim(dir, "frobnicate");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("unknown command") != std::string::npos);
  Result no_cluster = Gtsim(dir, "status");
  CHECK(no_cluster.code == 1);
  CHECK(no_cluster.err.find("gtsim up") != std::string::npos);
  CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0);
}

TEST_CASE("bad input gets a clear error, a non-zero exit and writes nothing", "[cli]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S --replicas "
            "us-east-1,us-west-2").code == 0);
  struct Case {
    std::string args;
    int code;
    std::string message;  // a fragment the error must contain
  };
  std::vector<Case> cases = {
      {R"(put --region us-east-1 --table t --item '{"id":{"S":"x"')", 2, "malformed JSON"},
      {R"(put --region us-east-1 --table t --item '{"other":{"S":"x"}}')", 2,
       "missing the key attribute \"id\""},
      {R"(put --region us-east-1 --table t --item '{"id":{"N":"12"}}')", 2, "must be of type S"},
      {R"(put --region us-east-1 --table t --item '{"id":{"S":"x"},"n":{"N":"abc"}}')", 2,
       "not a number"},
      {R"(put --region us-east-1 --table t --item '{"id":{"Q":"x"}}')", 2, "unknown type"},
      {R"(put --region us-east-1 --table nosuch --item '{"id":{"S":"x"}}')", 1,
       "table nosuch does not exist"},
      {R"(put --region mars-1 --table t --item '{"id":{"S":"x"}}')", 2, "unknown region"},
      {R"(put --region us-east-1 --table t)", 2, "--item is required"},
      {R"(put --region us-east-1 --table t --item '{"id":{"S":"x"}}' --bogus 1)", 2,
       "unknown flag --bogus"},
      {"create-table --region us-east-1 --table t --hash-key id:S", 2, "already exists"},
      {"create-table --region us-east-1 --table u --hash-key id:X", 2, "NAME:TYPE"},
      {"create-table --region us-east-1 --table u --hash-key id:S --replicas us-east-1,mars-1", 2,
       "unknown region \"mars-1\""},
      {R"(get --region us-east-1 --table t --key '{"id":{"S":"never-written"}}')", 1, "no item"},
      {R"(get --region us-east-1 --table t --key '{"id":{"S":"a"},"x":{"S":"b"}}')", 2,
       "only the key attributes"},
      {"clock --region us-east-1 --skew soon", 2, "not a duration"},
      {"clock --region us-east-1 --skew 1000000h", 2, "at most 1h either way"},
      {"clock --region us-east-1 --skew -61m", 2, "at most 1h either way"},
      {"partition us-east-1 us-east-1", 2, "two different regions"},
  };
  for (const auto& c : cases) {
    Result r = g(c.args);
    INFO("gtsim " << c.args << "\n  exit " << r.code << "\n  stderr: " << r.err);
    CHECK(r.code == c.code);
    CHECK(r.err.find(c.message) != std::string::npos);
  }
  // Nested deeper than DynamoDB's 32 levels: a clear message (it was a bare "gtsim: "), and a
  // line nested 200,000 deep no longer crashes the parser.
  std::string deep = R"({"S":"x"})";
  for (int i = 0; i < 34; ++i) deep = R"({"M":{"a":)" + deep + "}}";
  Result nested =
      g(R"(put --region us-east-1 --table t --item '{"id":{"S":"x"},"d":)" + deep + "}'");
  CHECK(nested.code == 2);
  CHECK(nested.err.find("nested more than 32 levels") != std::string::npos);
  {
    std::ofstream f(g.dir() + "/deep.jsonl");
    f << std::string(200000, '[') << "\n";
  }
  Result load = g("load --region us-east-1 --table t --file " + g.dir() + "/deep.jsonl");
  CHECK(load.code == 2);
  CHECK(load.err.find("deep.jsonl:1: the item is nested more than 128 JSON levels") !=
        std::string::npos);
  Result scan = g("scan --region us-east-1 --table t");
  REQUIRE(scan.code == 0);
  CHECK(scan.out.find("\"Count\": 0") != std::string::npos);
  Result tables = g("list-tables --region us-west-2");
  CHECK(tables.out.find("\"u\"") == std::string::npos);
}

TEST_CASE("gtsim load writes a file of items in batches, or nothing when a line is bad", "[cli]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S --range-key n:N "
            "--replicas us-east-1,us-west-2").code == 0);
  const std::string good = g.dir() + "/items.jsonl";
  {
    std::ofstream f(good);
    for (int i = 0; i < 60; ++i) {  // more than two BatchWrite calls
      f << "{\"id\":{\"S\":\"k" << i % 7 << "\"},\"n\":{\"N\":\"" << i << "\"}}\n";
      if (i == 30) f << "\n";  // blank lines are skipped
    }
  }
  Result loaded = g("load --region us-east-1 --table t --file " + good);
  INFO(loaded.err);
  CHECK(loaded.code == 0);
  CHECK(loaded.out.find("loaded 60 items into t in us-east-1") != std::string::npos);
  CHECK(testing::Eventually([&] {
    return g("describe-table --region us-west-2 --table t").out.find("\"ItemCount\": 60") !=
           std::string::npos;
  }));

  // Line 3 lacks the range key: refused before anything is written, naming the line.
  const std::string bad = g.dir() + "/bad.jsonl";
  {
    std::ofstream f(bad);
    f << R"({"id":{"S":"new"},"n":{"N":"1"}})" << "\n";
    f << R"({"id":{"S":"new"},"n":{"N":"2"}})" << "\n";
    f << R"({"id":{"S":"new"}})" << "\n";
  }
  Result refused = g("load --region us-east-1 --table t --file " + bad);
  CHECK(refused.code == 2);
  CHECK(refused.err.find("bad.jsonl:3: the item has no key attribute \"n\"") != std::string::npos);
  CHECK(refused.err.find("nothing was written") != std::string::npos);
  CHECK(g(R"(get --region us-east-1 --table t --key '{"id":{"S":"new"},"n":{"N":"1"}}')").code ==
        1);
  CHECK(g("load --region us-east-1 --table t --file " + g.dir() + "/missing.jsonl").code == 2);
}

TEST_CASE("a conditional put that fails exits 1 and leaves the item alone", "[cli]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table locks --hash-key LockID:S").code == 0);
  std::string item = R"('{"LockID":{"S":"state"},"owner":{"S":"alice"}}')";
  REQUIRE(g("put --region us-east-1 --table locks --if-not-exists LockID --item " + item).code == 0);
  Result again = g(R"(put --region us-east-1 --table locks --if-not-exists LockID --item '{"LockID":{"S":"state"},"owner":{"S":"bob"}}')");
  CHECK(again.code == 1);
  CHECK(again.err.find("conditional request failed") != std::string::npos);
  Result get = g(R"(get --region us-east-1 --table locks --key '{"LockID":{"S":"state"}}')");
  CHECK(get.out.find("alice") != std::string::npos);
}

TEST_CASE("query returns one partition in range-key order, numbers compared as numbers", "[cli]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table orders --hash-key c:S --range-key n:N").code == 0);
  for (std::string n : {"10", "2", "1.5", "-3"}) {
    REQUIRE(g(R"(put --region us-east-1 --table orders --item '{"c":{"S":"a"},"n":{"N":")" + n +
              R"("}}')").code == 0);
  }
  REQUIRE(g(R"(put --region us-east-1 --table orders --item '{"c":{"S":"b"},"n":{"N":"1"}}')").code == 0);
  Result q = g(R"(query --region us-east-1 --table orders --key '{"c":{"S":"a"}}' --page-size 2)");
  REQUIRE(q.code == 0);
  size_t a = q.out.find("\"-3\""), b = q.out.find("\"1.5\""), c = q.out.find("\"2\""),
         d = q.out.find("\"10\"");
  CHECK(a < b);
  CHECK(b < c);
  CHECK(c < d);
  CHECK(d != std::string::npos);
  CHECK(q.out.find("\"Count\": 4") != std::string::npos);
  Result between = g(R"(query --region us-east-1 --table orders --key '{"c":{"S":"a"}}' --range-op between --range-value '{"N":"0"}' --range-value2 '{"N":"5"}')");
  CHECK(between.out.find("\"Count\": 2") != std::string::npos);
}

TEST_CASE("a region whose database is not a gtsim database refuses to start", "[cli]") {
  CliCluster g;
  REQUIRE(g("kill --region us-west-2").code == 0);
  std::string db = g.dir() + "/us-west-2/region.db";
  {
    std::ofstream garbage(db, std::ios::trunc | std::ios::binary);
    for (int i = 0; i < 4096; ++i) garbage.put(static_cast<char>((i * 7919) & 0xff));
  }
  std::remove((db + "-wal").c_str());
  std::remove((db + "-shm").c_str());
  Result r = g("restart --region us-west-2");
  CHECK(r.code == 2);
  CHECK(r.err.find("not a gtsim database") != std::string::npos);
  Result again = g("up --regions us-east-1,us-west-2");
  CHECK(again.code == 2);  // us-east-1 still runs
  CHECK(again.err.find("already running") != std::string::npos);
}

TEST_CASE("a region whose database was deleted restarts only with --rejoin", "[cli]") {
  CliCluster g;
  REQUIRE(g("kill --region us-west-2").code == 0);
  const std::string db = g.dir() + "/us-west-2/region.db";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((db + suffix).c_str());
  Result refused = g("restart --region us-west-2");
  CHECK(refused.code == 2);
  CHECK(refused.err.find("is missing") != std::string::npos);
  CHECK(refused.err.find("--rejoin") != std::string::npos);
  Result rejoined = g("restart --region us-west-2 --rejoin");
  INFO(rejoined.err);
  CHECK(rejoined.code == 0);
  // Once it has started again, a later restart needs no flag.
  CHECK(g("restart --region us-west-2").code == 0);
}

TEST_CASE("gtsim up --durability is checked before anything is written and kept", "[cli]") {
  const std::string dir = MakeTempDir("gtsim-cli");
  Result bad = Gtsim(dir, "up --regions us-east-1,us-west-2 --durability always");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--durability must be process or fsync") != std::string::npos);
  CHECK_FALSE(std::ifstream(dir + "/cluster.json").good());
  Result up = Gtsim(dir, "up --regions us-east-1,us-west-2 --durability fsync");
  INFO(up.err);
  CHECK(up.code == 0);
  auto cluster = nlohmann::json::parse(Slurp(dir + "/cluster.json"), nullptr, false);
  CHECK(cluster.value("durability", "") == "fsync");
  CHECK(Gtsim(dir, "create-table --region us-east-1 --table t --hash-key id:S").code == 0);
  CHECK(Gtsim(dir, R"(put --region us-east-1 --table t --item '{"id":{"S":"a"}}')").code == 0);
  Gtsim(dir, "down");
  std::string cmd = "rm -rf '" + dir + "'";
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("gtsim status --watch refreshes until --count, and its flags are checked", "[cli]") {
  CliCluster g;
  Result w = g("status --watch --interval 100ms --count 3");
  INFO(w.err);
  REQUIRE(w.code == 0);
  // Not a terminal: each refresh under a '--- time' line, each a whole status.
  size_t frames = 0;
  for (size_t at = 0; (at = w.out.find("--- ", at)) != std::string::npos; ++at) ++frames;
  CHECK(frames == 3);
  size_t tables = 0;
  for (size_t at = 0; (at = w.out.find("REPLICATION (source", at)) != std::string::npos; ++at) {
    ++tables;
  }
  CHECK(tables == 3);
  CHECK(w.out.find("\x1b[") == std::string::npos);  // no terminal codes into a pipe
  // From the second refresh on, each region's writes/s (none are written here: 0).
  CHECK(w.out.find("0 writes/s") != std::string::npos);
  Result j = g("status --watch --json --interval 100ms --count 2");
  REQUIRE(j.code == 0);
  CHECK(j.out.find("--- ") == std::string::npos);
  for (const char* bad : {"status --count 2", "status --watch --count 0",
                          "status --watch --interval fast", "status --watch --interval 1ms"}) {
    INFO(bad);
    Result r = g(bad);
    CHECK(r.code == 2);
    CHECK(!r.err.empty());
    CHECK(r.out.empty());
  }
}

TEST_CASE("gtsim status shows per-pair lag and the partition", "[cli]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S --replicas "
            "us-east-1,us-west-2").code == 0);
  REQUIRE(g(R"(put --region us-east-1 --table t --item '{"id":{"S":"a"}}')").code == 0);
  REQUIRE(testing::Eventually([&] {
    return g(R"(get --region us-west-2 --table t --key '{"id":{"S":"a"}}')").code == 0;
  }));
  REQUIRE(g("partition us-east-1 us-west-2").code == 0);
  Result st = g("status");
  REQUIRE(st.code == 0);
  CHECK(st.out.find("us-east-1 -> us-west-2") != std::string::npos);
  CHECK(st.out.find(" ms") != std::string::npos);
  CHECK(st.out.find("partitioned") != std::string::npos);
  REQUIRE(g("heal").code == 0);
  CHECK(testing::Eventually([&] { return g("status").out.find("partitioned") == std::string::npos; }));
}

TEST_CASE("gtsim top, pause-replication, and status's active faults and recent conflicts",
          "[cli]") {
  CliCluster g;
  Result top = g("top --interval 100ms --count 2");
  INFO(top.err);
  REQUIRE(top.code == 0);
  CHECK(top.out.find("REPLICATION (source") != std::string::npos);
  CHECK(top.out.find("--- ") != std::string::npos);  // status --watch's frames

  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S --replicas "
            "us-east-1,us-west-2")
              .code == 0);
  Result pause = g("pause-replication --from us-east-1 --to us-west-2");
  INFO(pause.err);
  REQUIRE(pause.code == 0);
  nlohmann::json st = nlohmann::json::parse(g("status --json").out);
  for (const auto& p : st["replication"]) {
    const bool paused_pair = p["source"] == "us-east-1";
    INFO(p.dump());
    CHECK(p["link"] == (paused_pair ? "partitioned" : "connected"));
    CHECK(p.value("paused", false) == paused_pair);
  }
  REQUIRE(st["faults"].size() == 1);
  CHECK(st["faults"][0]["kind"] == "paused");
  CHECK(g("status").out.find("ACTIVE FAULTS\n  replication paused us-east-1 -/-> us-west-2") !=
        std::string::npos);
  REQUIRE(g("heal").code == 0);
  CHECK(nlohmann::json::parse(g("status --json").out)["faults"].empty());

  // Two writes to one item in two regions while they are cut: the earlier loses where the
  // later was made, and both status forms say so.
  REQUIRE(g("partition us-east-1 us-west-2").code == 0);
  REQUIRE(
      g(R"(put --region us-east-1 --table t --item '{"id":{"S":"k"},"v":{"S":"east"}}')").code ==
      0);
  REQUIRE(
      g(R"(put --region us-west-2 --table t --item '{"id":{"S":"k"},"v":{"S":"west"}}')").code ==
      0);
  REQUIRE(g("heal").code == 0);
  nlohmann::json conflict;
  REQUIRE(testing::Eventually([&] {
    nlohmann::json s = nlohmann::json::parse(g("status --json").out);
    if (s["conflicts"].empty()) return false;
    conflict = s["conflicts"][0];
    return true;
  }));
  INFO(conflict.dump());
  CHECK(conflict["region"] == "us-west-2");
  CHECK(conflict["table"] == "t");
  CHECK(conflict["key"] == nlohmann::json::parse(R"({"id":{"S":"k"}})"));
  CHECK(conflict["lost"]["region"] == "us-east-1");
  CHECK(conflict["won"]["region"] == "us-west-2");
  CHECK(conflict["won"]["stamp_us"].get<int64_t>() > conflict["lost"]["stamp_us"].get<int64_t>());
  CHECK(conflict["explanation"].get<std::string>().find("last writer wins") != std::string::npos);
  CHECK(g("status").out.find("RECENT CONFLICTS") != std::string::npos);

  // A replica added while its region is cut off stays CREATING, and status says so.
  REQUIRE(g("create-table --region us-east-1 --table solo --hash-key id:S").code == 0);
  REQUIRE(g("partition us-east-1 us-west-2").code == 0);
  REQUIRE(g("update-table --region us-east-1 --table solo --add-replica us-west-2").code == 0);
  auto solo = [&] {
    const nlohmann::json status = nlohmann::json::parse(g("status --json").out);
    for (const auto& t : status["tables"]) {
      if (t["table"] == "solo") return t;
    }
    return nlohmann::json();
  };
  CHECK(solo()["replica_status"]["us-west-2"].get<std::string>().rfind("CREATING", 0) == 0);
  REQUIRE(g("heal").code == 0);
  CHECK(testing::Eventually([&] { return !solo().contains("replica_status"); }));

  for (const char* bad :
       {"pause-replication --from us-east-1 --to us-east-1",
        "pause-replication --from mars-1 --to us-east-1", "pause-replication --from us-east-1",
        "ui --listen 0.0.0.0:8099", "ui --listen 127.0.0.1:port"}) {
    INFO(bad);
    Result r = g(bad);
    CHECK(r.code == 2);
    CHECK(!r.err.empty());
  }
}

// The JSON objects of `gtsim stream` output, one per line.
std::vector<nlohmann::json> StreamLines(const std::string& out) {
  std::vector<nlohmann::json> records;
  std::stringstream in(out);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    records.push_back(nlohmann::json::parse(line, nullptr, false));
  }
  return records;
}

std::vector<std::string> EventNames(const std::vector<nlohmann::json>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) {
    names.push_back(r.is_object() ? r.value("eventName", std::string("?")) : "(not JSON)");
  }
  return names;
}

TEST_CASE("gtsim stream prints a region's INSERT, MODIFY and REMOVE records, replicated ones too",
          "[cli][stream]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S --replicas "
            "us-east-1,us-west-2").code == 0);
  REQUIRE(g(R"(put --region us-east-1 --table t --item '{"id":{"S":"a"},"v":{"N":"1"}}')").code == 0);
  REQUIRE(g(R"(update --region us-east-1 --table t --key '{"id":{"S":"a"}}' --set '{"v":{"N":"2"}}')").code == 0);
  REQUIRE(g(R"(delete --region us-east-1 --table t --key '{"id":{"S":"a"}}')").code == 0);

  Result a = g("stream --region us-east-1 --table t");
  INFO("stream us-east-1: exit " << a.code << "\n" << a.out << a.err);
  REQUIRE(a.code == 0);
  std::vector<nlohmann::json> ra = StreamLines(a.out);
  REQUIRE(EventNames(ra) == std::vector<std::string>{"INSERT", "MODIFY", "REMOVE"});
  const nlohmann::json key = {{"id", {{"S", "a"}}}};
  for (auto r : ra) {
    CHECK(r["eventSource"] == "aws:dynamodb");
    CHECK(r["awsRegion"] == "us-east-1");
    CHECK(r["dynamodb"]["Keys"] == key);
    CHECK(r["dynamodb"]["SequenceNumber"].is_string());
    CHECK(r["dynamodb"]["ApproximateCreationDateTime"].is_number());
    CHECK(r["gtsim"]["originRegion"] == "us-east-1");
    CHECK(r["gtsim"]["writeStamp"]["region"] == "us-east-1");
    CHECK(r["gtsim"]["writeStamp"]["timestampUs"].is_number_integer());
  }
  CHECK(ra[0]["dynamodb"]["NewImage"]["v"]["N"] == "1");
  CHECK_FALSE(ra[0]["dynamodb"].contains("OldImage"));
  CHECK(ra[1]["dynamodb"]["OldImage"]["v"]["N"] == "1");
  CHECK(ra[1]["dynamodb"]["NewImage"]["v"]["N"] == "2");
  CHECK(ra[2]["dynamodb"]["OldImage"]["v"]["N"] == "2");
  CHECK_FALSE(ra[2]["dynamodb"].contains("NewImage"));
  std::string s0 = ra[0]["dynamodb"]["SequenceNumber"].get<std::string>(),
              s1 = ra[1]["dynamodb"]["SequenceNumber"].get<std::string>(),
              s2 = ra[2]["dynamodb"]["SequenceNumber"].get<std::string>();
  CHECK(s0 < s1);  // same width, so text order is number order
  CHECK(s1 < s2);

  // --after resumes after a record's SequenceNumber.
  Result after = g("stream --region us-east-1 --table t --after " + s0);
  REQUIRE(after.code == 0);
  CHECK(EventNames(StreamLines(after.out)) == std::vector<std::string>{"MODIFY", "REMOVE"});
  Result from_start = g("stream --region us-east-1 --table t --from-start");
  CHECK(from_start.out == a.out);

  // us-west-2's own stream holds the replicated writes, with its own sequence numbers.
  Result b;
  CHECK(testing::Eventually([&] {
    b = g("stream --region us-west-2 --table t");
    return b.code == 0 && b.out.find("REMOVE") != std::string::npos;
  }));
  INFO("stream us-west-2: exit " << b.code << "\n" << b.out << b.err);
  std::vector<nlohmann::json> rb = StreamLines(b.out);
  REQUIRE(EventNames(rb) == std::vector<std::string>{"INSERT", "MODIFY", "REMOVE"});
  for (auto r : rb) {
    CHECK(r["awsRegion"] == "us-west-2");
    CHECK(r["dynamodb"]["Keys"] == key);
    CHECK(r["gtsim"]["originRegion"] == "us-east-1");
  }
  CHECK(rb[1]["dynamodb"]["NewImage"]["v"]["N"] == "2");
  CHECK(rb[2]["dynamodb"]["OldImage"]["v"]["N"] == "2");

  // An unknown table, and bad flags.
  Result unknown = g("stream --region us-east-1 --table nosuch");
  CHECK(unknown.code == 1);
  CHECK(unknown.err.find("table nosuch does not exist") != std::string::npos);
  CHECK(unknown.out.empty());
  Result bad_after = g("stream --region us-east-1 --table t --after soon");
  CHECK(bad_after.code == 2);
  CHECK(bad_after.err.find("--after") != std::string::npos);
  CHECK(g("stream --region us-east-1 --table t --from-start --after 1").code == 2);
  CHECK(g("stream --region us-east-1").code == 2);
  CHECK(g("stream --region us-east-1 --table t --bogus").code == 2);
  Result help = g("stream --help");
  CHECK(help.code == 0);
  CHECK(help.out.find("--follow") != std::string::npos);
}

TEST_CASE("gtsim stream --follow prints new records as they come and exits 0 on SIGINT",
          "[cli][stream]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S --replicas "
            "us-east-1,us-west-2").code == 0);
  // Everything the child needs is prepared before fork: it only opens, dups and execs.
  std::string out = g.dir() + "/.follow.out", err = g.dir() + "/.follow.err";
  std::string bin = BinDir() + "/gtsim", env_dir = "GTSIM_DIR=" + g.dir();
  std::vector<std::string> argv_s = {"gtsim", "stream", "--region", "us-west-2", "--table", "t",
                                     "--follow"};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  char* envp[] = {env_dir.data(), nullptr};
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd_out = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fd_err = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fd_in = open("/dev/null", O_RDONLY);
    if (fd_out < 0 || fd_err < 0 || fd_in < 0) _exit(127);
    dup2(fd_out, 1);
    dup2(fd_err, 2);
    dup2(fd_in, 0);
    execve(bin.c_str(), argv.data(), envp);
    _exit(127);
  }
  // Stops the child whatever happens below.
  struct Reaper {
    pid_t pid;
    int status = -1;
    bool reaped = false;
    ~Reaper() {
      if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } child{pid};

  REQUIRE(g(R"(put --region us-east-1 --table t --item '{"id":{"S":"a"},"v":{"N":"1"}}')").code == 0);
  CHECK(testing::Eventually([&] { return Slurp(out).find("INSERT") != std::string::npos; }));
  REQUIRE(g(R"(put --region us-east-1 --table t --item '{"id":{"S":"a"},"v":{"N":"2"}}')").code == 0);
  CHECK(testing::Eventually([&] { return Slurp(out).find("MODIFY") != std::string::npos; }));
  REQUIRE(kill(pid, SIGINT) == 0);
  REQUIRE(waitpid(pid, &child.status, 0) == pid);
  child.reaped = true;
  INFO("stderr: " << Slurp(err));
  CHECK(WIFEXITED(child.status));
  CHECK(WEXITSTATUS(child.status) == 0);
  std::vector<nlohmann::json> records = StreamLines(Slurp(out));
  CHECK(EventNames(records) == std::vector<std::string>{"INSERT", "MODIFY"});
  for (auto r : records) CHECK(r["awsRegion"] == "us-west-2");
}

}  // namespace
}  // namespace gtsim

namespace gtsim {
namespace {

// The gtsim-region processes whose parent is `parent` (from /proc).
std::vector<int> RegionChildren(int parent) {
  std::vector<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = Slurp(e.path().string() + "/stat");
    size_t paren = stat.rfind(')');
    if (paren == std::string::npos || stat.find("(gtsim-region)") == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    std::string state;
    int ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent && state != "Z") out.push_back(std::stoi(name));
  }
  return out;
}

bool Alive(int pid) {
  std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && stat.substr(paren + 2, 1) != "Z";
}

TEST_CASE("a scenario runner killed with kill -9 leaves no region process behind", "[cli]") {
  const std::string dir = MakeTempDir("gtsim-cli");
  const std::string file = dir + "/long.yaml";
  {
    std::ofstream f(file);
    f << "regions: [us-east-1, us-west-2]\nduration: 10m\n"
         "workloads:\n  - {name: w, region: us-east-1, rate: 20}\n";
  }
  std::string bin = BinDir() + "/gtsim", out = dir + "/run.out";
  std::vector<std::string> argv_s = {"gtsim", "run", file, "--quiet"};
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) _exit(127);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  std::vector<int> regions;
  bool started = testing::Eventually([&] {
    regions = RegionChildren(pid);
    return regions.size() == 2;
  });
  kill(pid, SIGKILL);  // the runner dies without any cleanup
  waitpid(pid, nullptr, 0);
  INFO(Slurp(out));
  REQUIRE(started);
  CHECK(testing::Eventually([&] { return std::none_of(regions.begin(), regions.end(), Alive); }));
  for (int r : regions) kill(r, SIGKILL);  // never leave them, even when the check failed
  // (the runner's own /tmp/gtsim-run.* folder stays: nobody was left to remove it)
  CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0);
}

// The write stamp (microseconds) a `gtsim put` reports on stderr: "... stamp TIME (N us)".
int64_t StampOf(const Result& put) {
  auto open = put.err.rfind('(');
  REQUIRE(open != std::string::npos);
  return std::stoll(put.err.substr(open + 1));
}

TEST_CASE("gtsim restore makes a table of what a region held at a time; its errors", "[cli]") {
  CliCluster g;
  REQUIRE(g("create-table --region us-east-1 --table t --hash-key id:S").code == 0);
  Result off = g("restore --region us-east-1 --table t --target r --latest");
  CHECK(off.code == 1);
  CHECK(off.err.find("point-in-time recovery is not enabled for table t in us-east-1") !=
        std::string::npos);
  REQUIRE(g("update-table --region us-east-1 --table t --pitr true").code == 0);
  REQUIRE(g(R"(put --region us-east-1 --table t --item '{"id":{"S":"a"},"v":{"S":"1"}}')").code ==
          0);
  Result second = g(R"(put --region us-east-1 --table t --item '{"id":{"S":"a"},"v":{"S":"2"}}')");
  REQUIRE(second.code == 0);
  // Just before the second put: the first one's item.
  const int64_t before_us = StampOf(second) - 1;
  Result r = g("restore --region us-east-1 --table t --target r --time " +
               std::to_string(before_us / 1000000) + "." + [&] {
                 std::string f = std::to_string(before_us % 1000000);
                 return std::string(6 - f.size(), '0') + f;
               }());
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto table = nlohmann::json::parse(r.out)["Table"];
  CHECK(table["TableStatus"] == "ACTIVE");
  // DynamoDB's TableDescription, rendered by the region as its endpoint's DescribeTable is.
  CHECK(table["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/r");
  CHECK(table["ItemCount"] == 1);
  CHECK(table["TableSizeBytes"].get<int64_t>() > 0);
  CHECK(table["WarmThroughput"]["Status"] == "ACTIVE");
  CHECK(table["DeletionProtectionEnabled"] == false);
  CHECK_FALSE(table.contains("PointInTimeRecoveryEnabled"));  // DescribeContinuousBackups'
  CHECK_FALSE(table.contains("TimeToLiveDescription"));       // DescribeTimeToLive's
  CHECK(table["RestoreSummary"]["RestoreInProgress"] == false);
  CHECK(table["RestoreSummary"]["SourceTableArn"] ==
        "arn:aws:dynamodb:us-east-1:000000000000:table/t");
  Result got = g(R"(get --region us-east-1 --table r --key '{"id":{"S":"a"}}')");
  CHECK(got.out.find("\"1\"") != std::string::npos);
  REQUIRE(g("restore --region us-east-1 --table t --target r2 --latest").code == 0);
  got = g(R"(get --region us-east-1 --table r2 --key '{"id":{"S":"a"}}')");
  CHECK(got.out.find("\"2\"") != std::string::npos);

  struct Case {
    std::string args;
    int code;
    std::string message;
  };
  std::vector<Case> cases = {
      {"restore --region us-east-1 --table t --target x", 2, "give one of --time"},
      {"restore --region us-east-1 --table t --target x --latest --time 1", 2, "give one of"},
      {"restore --region us-east-1 --table t --latest", 2, "--target is required"},
      {"restore --region us-east-1 --table t --target x --time yesterday", 2,
       "neither an RFC 3339 time"},
      {"restore --region us-east-1 --table t --target x --time 2020-01-01T00:00:00Z", 2,
       "is outside the restorable window of table t in us-east-1"},
      {"restore --region us-east-1 --table nosuch --target x --latest", 1,
       "table nosuch does not exist"},
      {"restore --region us-east-1 --table t --target r --latest", 2, "already exists"},
  };
  for (const auto& c : cases) {
    Result res = g(c.args);
    INFO(c.args << "\n" << res.err);
    CHECK(res.code == c.code);
    CHECK(res.err.find(c.message) != std::string::npos);
  }
  Result tables = g("list-tables --region us-east-1");
  CHECK(tables.out.find("x") == std::string::npos);
  // Regional: the other region never gets the restored tables.
  CHECK(g("list-tables --region us-west-2").out.find("r") == std::string::npos);
}

}  // namespace
}  // namespace gtsim
