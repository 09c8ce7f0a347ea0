// gtsim traffic, gtsim check and gtsim run --ui against real clusters on 127.0.0.1 (ports chosen
// at run time, every process stopped): the history written after --duration and after SIGINT,
// the verdict on a healthy cluster, on LWW losses made by a partition (explained, exit 0), on a
// planted acknowledged write that never happened (exit 1), on bad input (exit 2), and the
// dashboard answering while a scenario runs. Waits are conditions with deadlines.
#include <catch2/catch.hpp>
#include <fstream>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/numbers.h"
#include "nlohmann/json.hpp"
#include "tests/cli_fixture.h"
#include "tests/raw_http_client.h"

namespace gtsim {
namespace {

using nlohmann::json;
using testing::Background;
using testing::CliCluster;
using testing::Eventually;
using testing::Gtsim;
using testing::MakeTempDir;
using testing::Result;
using testing::Slurp;

json ReadJson(const std::string& path) {
  json j = json::parse(Slurp(path), nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The count after "lost to last-writer-wins in a conflict, each explained: ".
int64_t ExplainedLosses(const std::string& out) {
  std::smatch m;
  REQUIRE(std::regex_search(out, m, std::regex("in a conflict, each explained: ([0-9]+)")));
  int64_t n = 0;
  REQUIRE(absl::SimpleAtoi(m[1].str(), &n));
  return n;
}

TEST_CASE(
    "gtsim traffic --duration writes its history, and gtsim check passes on a healthy "
    "cluster",
    "[cli][traffic]") {
  CliCluster g;
  const std::string history = g.dir() + "/h.json";
  Result t = g("traffic --duration 3s --rate 40 --keys 20 --history " + history);
  INFO("stdout: " << t.out << "\nstderr: " << t.err);
  REQUIRE(t.code == 0);
  // Not a terminal: one plain progress line a second, and where the history went.
  CHECK(Has(t.out, "writes acked"));
  CHECK(Has(t.out, "us-east-1 "));
  CHECK(Has(t.out, "us-west-2 "));
  CHECK(Has(t.err, "history: " + history));
  json h = ReadJson(history);
  CHECK(h["format"] == "gtsim-history");
  REQUIRE(h["writes"].size() > 20);
  CHECK(h["reads"].size() > 0);
  std::set<std::string> regions;
  for (const auto& w : h["writes"]) {
    regions.insert(w["region"].get<std::string>());
    CHECK(w["stamp"]["ts_us"].get<int64_t>() > 0);
    CHECK(w["true_us"].get<int64_t>() >= h["start_us"].get<int64_t>());
    CHECK(w["key"].contains("id"));
  }
  CHECK(regions == std::set<std::string>{"us-east-1", "us-west-2"});

  Result c = g("check " + history);
  INFO("check stdout: " << c.out << "\ncheck stderr: " << c.err);
  CHECK(c.code == 0);
  CHECK(Has(c.out, "OK: no acknowledged write lost except to last-writer-wins"));
  CHECK(Has(c.out, std::to_string(h["writes"].size()) + " acknowledged writes"));

  // Without --history, the history goes into the cluster folder, and the message says where.
  Result d = g("traffic --duration 1s --rate 10");
  REQUIRE(d.code == 0);
  std::smatch m;
  REQUIRE(std::regex_search(d.err, m, std::regex("history: (\\S+)")));
  CHECK(m[1].str().rfind(g.dir() + "/traffic-", 0) == 0);
  CHECK(ReadJson(m[1].str())["format"] == "gtsim-history");
  // The second run wrote into a table holding the first run's items: they are not its
  // history's, and its write ids are its own, so it is judged alone and passes.
  Result again = g("check " + m[1].str());
  INFO("second check stdout: " << again.out);
  CHECK(again.code == 0);
}

TEST_CASE(
    "writes to the same keys from two partitioned regions: gtsim check explains every LWW "
    "loss and exits 0",
    "[cli][traffic]") {
  CliCluster g;
  // The table first: a global table is created only while its replicas can hear each other.
  REQUIRE(g("create-table --region us-east-1 --table traffic --hash-key id:S --replicas "
            "us-east-1,us-west-2")
              .code == 0);
  REQUIRE(g("partition us-east-1 us-west-2").code == 0);
  const std::string history = g.dir() + "/h.json";
  Result t = g("traffic --duration 3s --rate 50 --keys 5 --mix put=1 --history " + history);
  INFO("traffic stderr: " << t.err);
  REQUIRE(t.code == 0);
  REQUIRE(g("heal").code == 0);
  Result c = g("check " + history);
  INFO("check stdout: " << c.out << "\ncheck stderr: " << c.err);
  CHECK(c.code == 0);
  // Five keys written by both sides for 3 s: each side's last write of a key is one of two,
  // and the older-stamped one loses when the partition heals.
  CHECK(ExplainedLosses(c.out) >= 1);
  CHECK(Has(c.out, "(later timestamp wins)"));
  CHECK(Has(c.out, "OK: no acknowledged write lost except to last-writer-wins"));
}

TEST_CASE("a planted acknowledged write that never happened makes gtsim check exit 1 naming it",
          "[cli][traffic]") {
  CliCluster g;
  const std::string history = g.dir() + "/h.json";
  REQUIRE(g("traffic --duration 2s --rate 30 --keys 10 --history " + history).code == 0);
  json h = ReadJson(history);
  REQUIRE(!h["writes"].empty());
  // Claim a put of k3 acknowledged in us-east-1 with a stamp later than every real write.
  int64_t latest = 0;
  for (const auto& w : h["writes"]) latest = std::max(latest, w["stamp"]["ts_us"].get<int64_t>());
  json planted = {{"table", "traffic"},
                  {"id", 987654321},
                  {"kind", "put"},
                  {"region", "us-east-1"},
                  {"key", {{"id", {{"S", "k3"}}}}},
                  {"key_text", "k3"},
                  {"true_us", latest + 1'000'000},
                  {"skew_us", 0},
                  {"stamp", {{"ts_us", latest + 1'000'000}, {"region", "us-east-1"}}},
                  {"new_item", {{"id", {{"S", "k3"}}}, {"w", {{"S", "w987654321"}}}}}};
  h["writes"].push_back(planted);
  const std::string edited = g.dir() + "/planted.json";
  std::ofstream(edited) << h.dump();
  Result c = g("check " + edited);
  INFO("check stdout: " << c.out << "\ncheck stderr: " << c.err);
  CHECK(c.code == 1);
  CHECK(Has(c.out, "FAILED"));
  CHECK(Has(c.out, "acknowledged write lost: put k3 = w987654321 in us-east-1"));
  // The real history still passes.
  CHECK(g("check " + history).code == 0);
}

TEST_CASE("gtsim check refuses a missing file and a file that is not a history, exit 2",
          "[cli][traffic]") {
  const std::string dir = MakeTempDir("gtsim-cli");
  Result missing = Gtsim(dir, "check " + dir + "/nope.json");
  CHECK(missing.code == 2);
  CHECK(Has(missing.err, "cannot read " + dir + "/nope.json"));
  std::ofstream(dir + "/other.json") << R"({"writes": []})";
  Result other = Gtsim(dir, "check " + dir + "/other.json");
  CHECK(other.code == 2);
  CHECK(Has(other.err, "not a gtsim history"));
  std::ofstream(dir + "/text.json") << "hello\n";
  Result text = Gtsim(dir, "check " + dir + "/text.json");
  CHECK(text.code == 2);
  CHECK(Has(text.err, "not JSON"));
  Result none = Gtsim(dir, "check");
  CHECK(none.code == 2);
  CHECK(Has(none.err, "usage: gtsim check HISTORY"));
  CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0);
}

TEST_CASE("gtsim traffic stops cleanly on SIGINT and writes a history that passes gtsim check",
          "[cli][traffic]") {
  CliCluster g;
  const std::string history = g.dir() + "/h.json";
  Background traffic(g.dir(), {"traffic", "--rate", "30", "--keys", "20", "--history", history},
                     "traffic");
  REQUIRE(traffic.started());
  // Two progress lines: it has been writing for two seconds.
  REQUIRE(Eventually([&] { return Has(traffic.out(), "[    2s]"); }));
  REQUIRE(traffic.Signal(SIGINT));
  int code = traffic.Wait();
  INFO("stderr: " << traffic.err());
  CHECK(code == 0);
  CHECK(Has(traffic.err(), "interrupted"));
  CHECK(Has(traffic.err(), "history: " + history));
  json h = ReadJson(history);
  CHECK(h["writes"].size() > 10);
  CHECK(h["end_us"].get<int64_t>() > h["start_us"].get<int64_t>());
  Result c = g("check " + history);
  INFO("check stdout: " << c.out);
  CHECK(c.code == 0);
}

TEST_CASE("gtsim run --ui serves the dashboard of the scenario's cluster while it runs",
          "[cli][traffic][ui]") {
  const std::string dir = MakeTempDir("gtsim-cli");
  const std::string file = dir + "/ui.yaml";
  std::ofstream(file) << "regions: [us-east-1, us-west-2]\nduration: 8s\nheartbeat: false\n"
                         "workloads:\n  - {name: w, region: us-east-1, rate: 20}\n";
  Background run(dir, {"run", file, "--quiet", "--ui", "--ui-port", "0"}, "run");
  REQUIRE(run.started());
  std::smatch m;
  std::string err;
  REQUIRE(Eventually([&] {
    err = run.err();
    return std::regex_search(err, m, std::regex("dashboard: http://127\\.0\\.0\\.1:([0-9]+)/"));
  }));
  int port = 0;
  REQUIRE(absl::SimpleAtoi(m[1].str(), &port));
  // The page and a snapshot of the scenario's two regions, while the run goes on.
  RawHttpClient::Client page(port);
  page.Send("GET / HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n");
  RawHttpClient::Reply p = page.Read();
  CHECK(p.status == 200);
  CHECK(Has(p.body, "<html"));
  RawHttpClient::Client api(port);
  api.Send("GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\n\r\n");
  RawHttpClient::Reply s = api.Read();
  REQUIRE(s.status == 200);
  json status = json::parse(s.body, nullptr, false);
  REQUIRE_FALSE(status.is_discarded());
  REQUIRE(status["regions"].size() == 2);
  CHECK(status["regions"][0]["region"] == "us-east-1");
  CHECK(run.Wait() == 0);
  INFO("stdout: " << run.out() << "\nstderr: " << run.err());
  CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0);
}

}  // namespace
}  // namespace gtsim
