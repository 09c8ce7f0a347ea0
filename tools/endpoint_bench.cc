// gtsim-endpoint-bench: PutItem and GetItem throughput and latency through one region's
// DynamoDB-compatible HTTP endpoint, with N concurrent keep-alive clients on loopback (issue 5's
// number). Starts a throwaway one-region cluster of real processes, creates an on-demand table,
// runs a closed loop of PutItem for --seconds, then GetItem over the written keys for --seconds,
// and prints one line per operation: requests/s, p50, p99, and the region process's CPU time
// (user + system, from /proc/PID/stat) per request. The header line shows the load average at
// the start (the machine may be shared). Exit 1 when a request fails.
//
//   build/gtsim-endpoint-bench --clients 16 --seconds 10
//   build/gtsim-endpoint-bench --durability fsync             # the cost of power-loss safety
//   build/gtsim-endpoint-bench --poll_tables 4 --poll_items 50000   # PutItem under polling
#include <httplib.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fmt/core.h"
#include "sim/launcher/cluster.h"

ABSL_FLAG(int, clients, 16, "concurrent keep-alive HTTP clients");
ABSL_FLAG(double, seconds, 10, "seconds per operation");
ABSL_FLAG(int, item_bytes, 200, "approximate item size in bytes");
ABSL_FLAG(std::string, durability, "process",
          "the region's --durability: process (default) or fsync (each commit fsynced)");
ABSL_FLAG(int, poll_tables, 0,
          "tables of --poll_items items each, created and loaded first; while PutItem runs, one "
          "more client polls DescribeTable on each of them in a loop, as dashboards and waiters "
          "do (issue 19: item counts must not stall writes)");
ABSL_FLAG(int, poll_items, 50000, "items in each polled table");
ABSL_FLAG(bool, gsi, false,
          "give the bench table a global secondary index on n (which every item has), so each "
          "PutItem also writes an index entry");

namespace {

std::string BinDir() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().string() + "/";
}

// One DynamoDB JSON 1.0 request; false (with a message on stderr) unless HTTP 200.
bool Call(httplib::Client& c, const std::string& op, const std::string& body) {
  httplib::Headers h = {{"X-Amz-Target", "DynamoDB_20120810." + op},
                        {"Authorization",
                         "AWS4-HMAC-SHA256 Credential=bench/20261130/us-east-1/"
                         "dynamodb/aws4_request, SignedHeaders=host, "
                         "Signature=0"}};
  auto res = c.Post("/", h, body, "application/x-amz-json-1.0");
  if (res && res->status == 200) return true;
  fmt::print(stderr, "{} failed: {}\n", op,
             res ? absl::StrCat(res->status, " ", res->body) : httplib::to_string(res.error()));
  return false;
}

// CPU seconds (user + system) process `pid` has used so far; 0 when unreadable.
double CpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  size_t paren = stat.rfind(')');  // the command name may hold spaces
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 1));
  std::string skip;
  for (int i = 3; i <= 13; ++i) fields >> skip;  // state .. cmajflt
  double utime = 0, stime = 0;
  fields >> utime >> stime;
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string one, five, fifteen;
  f >> one >> five >> fifteen;
  return absl::StrCat(one, " ", five, " ", fifteen);
}

struct Result {
  int64_t requests = 0;
  double cpu_us = 0;  // the region's CPU time per request
  double per_second = 0;
  double p50_ms = 0, p99_ms = 0;
  bool ok = true;
};

// Runs `op(client, thread, i)` in a closed loop on every client for `seconds`.
template <typename Op>
Result Run(int port, int clients, double seconds, Op op) {
  std::vector<std::vector<double>> lat(clients);
  std::atomic<bool> failed{false};
  absl::Time end = absl::Now() + absl::Seconds(seconds);
  std::vector<std::thread> threads;
  absl::Time start = absl::Now();
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);  // else delayed ACKs add ~40 ms to every request
      for (int i = 0; absl::Now() < end && !failed; ++i) {
        absl::Time s = absl::Now();
        if (!op(c, t, i)) {
          failed = true;
          return;
        }
        lat[t].push_back(absl::ToDoubleMilliseconds(absl::Now() - s));
      }
    });
  }
  for (auto& th : threads) th.join();
  double wall = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Result r;
  r.ok = !failed && !all.empty();
  if (all.empty()) return r;
  r.requests = static_cast<int64_t>(all.size());
  r.per_second = all.size() / wall;
  r.p50_ms = all[all.size() / 2];
  r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return r;
}

std::string Key(int t, int i) { return absl::StrCat("c", t, "-", i); }

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "PutItem/GetItem throughput and p50/p99 through one region's DynamoDB endpoint");
  absl::ParseCommandLine(argc, argv);
  const int clients = std::max(1, absl::GetFlag(FLAGS_clients));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  const std::string pad(std::max(0, absl::GetFlag(FLAGS_item_bytes) - 40), 'x');

  char tmpl[] = "/tmp/gtsim-endpoint-bench.XXXXXX";
  if (!mkdtemp(tmpl)) return 2;
  const std::string dir = tmpl;
  int rc = 0;
  {
    auto cluster =
        gtsim::LocalCluster::Create(dir + "/cluster", {"us-east-1"}, BinDir() + "gtsim-region");
    if (!cluster.ok() || !cluster->SetDurability(absl::GetFlag(FLAGS_durability)).ok() ||
        !cluster->StartAll().ok()) {
      fmt::print(stderr, "cannot start a region\n");
      std::filesystem::remove_all(dir);
      return 2;
    }
    const std::string load = LoadAverage();
    int port = (*cluster->Find("us-east-1"))->dynamodb_port;
    const int pid = (*cluster->Find("us-east-1"))->pid;
    // Runs one phase and charges it the region's CPU time.
    auto timed = [&](auto run) {
      double before = CpuSeconds(pid);
      Result r = run();
      if (r.requests > 0) r.cpu_us = (CpuSeconds(pid) - before) * 1e6 / r.requests;
      return r;
    };
    httplib::Client admin("127.0.0.1", port);
    const std::string gsi =
        absl::GetFlag(FLAGS_gsi)
            ? R"({"AttributeName":"n","AttributeType":"N"}],"GlobalSecondaryIndexes":[)"
              R"({"IndexName":"byN","KeySchema":[{"AttributeName":"n","KeyType":"HASH"}],)"
              R"("Projection":{"ProjectionType":"ALL"}}]})"
            : "]}";
    bool ready =
        Call(admin, "CreateTable",
             absl::StrCat(R"({"TableName":"bench","BillingMode":"PAY_PER_REQUEST",)"
                          R"("KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],)"
                          R"("AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"})",
                          absl::GetFlag(FLAGS_gsi) ? "," : "", gsi));
    // The polled tables, loaded 25 items per BatchWriteItem.
    const int poll_tables = absl::GetFlag(FLAGS_poll_tables);
    for (int n = 0; ready && n < poll_tables; ++n) {
      ready = Call(
          admin, "CreateTable",
          absl::StrCat(R"({"TableName":"polled)", n,
                       R"(","BillingMode":"PAY_PER_REQUEST",)"
                       R"("KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],)"
                       R"("AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"}]})"));
      for (int i = 0; ready && i < absl::GetFlag(FLAGS_poll_items); i += 25) {
        std::string batch;
        for (int j = i; j < std::min(i + 25, absl::GetFlag(FLAGS_poll_items)); ++j) {
          absl::StrAppend(&batch, batch.empty() ? "" : ",",
                          R"({"PutRequest":{"Item":{"id":{"S":"k)", j, R"("},"pad":{"S":")", pad,
                          R"("}}}})");
        }
        ready = Call(admin, "BatchWriteItem",
                     absl::StrCat(R"({"RequestItems":{"polled)", n, R"(":[)", batch, "]}}"));
      }
    }
    std::atomic<bool> stop_polling{false};
    std::atomic<int64_t> polls{0};
    std::thread poller([&] {
      if (poll_tables == 0) return;
      httplib::Client c("127.0.0.1", port);
      c.set_keep_alive(true);
      c.set_tcp_nodelay(true);
      while (!stop_polling) {
        for (int n = 0; n < poll_tables && !stop_polling; ++n) {
          if (Call(c, "DescribeTable", absl::StrCat(R"({"TableName":"polled)", n, R"("})"))) {
            ++polls;
          }
        }
      }
    });
    std::vector<int> written(clients, 0);
    Result put, get;
    if (ready) {
      put = timed([&] {
        return Run(port, clients, seconds, [&](httplib::Client& c, int t, int i) {
          written[t] = i + 1;
          return Call(c, "PutItem",
                      absl::StrCat(R"({"TableName":"bench","Item":{"id":{"S":")", Key(t, i),
                                   R"("},"n":{"N":")", i, R"("},"pad":{"S":")", pad, R"("}}})"));
        });
      });
      stop_polling = true;
      get = timed([&] {
        return Run(port, clients, seconds, [&](httplib::Client& c, int t, int i) {
          return Call(c, "GetItem",
                      absl::StrCat(R"({"TableName":"bench","Key":{"id":{"S":")",
                                   Key(t, i % std::max(1, written[t])), R"("}}})"));
        });
      });
    }
    stop_polling = true;
    poller.join();
    cluster->StopAll().IgnoreError();
    if (!ready || !put.ok || !get.ok) rc = 1;
    fmt::print(
        "# {} keep-alive clients, {} s per operation, ~{} B items, one region; load average "
        "at start {}\n",
        clients, seconds, absl::GetFlag(FLAGS_item_bytes), load);
    fmt::print("# durability {}; {} DescribeTable polls of {} tables of {} items during PutItem\n",
               absl::GetFlag(FLAGS_durability), polls.load(), poll_tables,
               poll_tables ? absl::GetFlag(FLAGS_poll_items) : 0);
    fmt::print("{:<10} {:>12} {:>10} {:>10} {:>16}\n", "operation", "requests/s", "p50 ms",
               "p99 ms", "region CPU us/req");
    for (const auto& [name, r] : {std::pair<const char*, const Result&>("PutItem", put),
                                  std::pair<const char*, const Result&>("GetItem", get)}) {
      fmt::print("{:<10} {:>12.0f} {:>10.2f} {:>10.2f} {:>16.1f}\n", name, r.per_second, r.p50_ms,
                 r.p99_ms, r.cpu_us);
    }
  }
  std::filesystem::remove_all(dir);
  return rc;
}
