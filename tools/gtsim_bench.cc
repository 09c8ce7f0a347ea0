// gtsim-bench: replication lag at a steady write rate on a real local cluster.
//
//   build/gtsim-bench --regions 3 --rate 2000 --seconds 10
//
// Starts a throwaway cluster on 127.0.0.1, writes at the given aggregate rate (spread evenly over
// the regions, several client threads each, native gRPC API), waits for replication to drain,
// and prints per-pair ReplicationLatency as the regions measured it, plus the client-side write
// latency and the achieved rate. Stops and removes the cluster.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sim/cluster.h"
#include "tools/cli_client.h"

ABSL_FLAG(int, regions, 3, "number of regions (2..6)");
ABSL_FLAG(int, rate, 2000, "aggregate client writes per second");
ABSL_FLAG(int, seconds, 10, "how long to write");
ABSL_FLAG(int, threads_per_region, 4, "client threads per region");
ABSL_FLAG(int, item_bytes, 200, "approximate item size");

namespace gtsim {
namespace {

const char* kNames[] = {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1", "eu-central-1",
                        "sa-east-1"};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t rank = std::min(v.size(), std::max<size_t>(1, static_cast<size_t>(p / 100 * v.size() + 0.999999)));
  return v[rank - 1];
}

int Main() {
  int n = absl::GetFlag(FLAGS_regions), rate = absl::GetFlag(FLAGS_rate);
  int seconds = absl::GetFlag(FLAGS_seconds), threads = absl::GetFlag(FLAGS_threads_per_region);
  if (n < 2 || n > 6 || rate <= 0 || seconds <= 0 || threads <= 0) {
    std::fprintf(stderr, "gtsim-bench: --regions must be 2..6; --rate, --seconds and "
                         "--threads_per_region positive\n");
    return 2;
  }
  std::vector<std::string> regions(kNames, kNames + n);
  char tmpl[] = "/tmp/gtsim-bench.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  char self[4096];
  ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string bin_dir = std::string(self, len > 0 ? len : 0);
  bin_dir = bin_dir.substr(0, bin_dir.rfind('/') + 1);
  auto cluster = LocalCluster::Create(dir + "/cluster", regions, bin_dir + "gtsim-region");
  if (!cluster.ok() || !cluster->StartAll().ok()) {
    std::fprintf(stderr, "gtsim-bench: cannot start the cluster\n");
    return 2;
  }
  int exit_code = 0;
  {
    std::vector<std::unique_ptr<RegionClient>> clients;
    for (const auto& r : regions) clients.push_back(std::make_unique<RegionClient>((*cluster->Find(r))->address()));
    pb::CreateTableRequest create;
    create.set_table("bench");
    create.mutable_hash_key()->set_name("id");
    create.mutable_hash_key()->set_type(pb::S);
    for (const auto& r : regions) create.add_replicas(r);
    pb::CreateTableResponse created;
    if (!clients[0]->api().CreateTable(RegionClient::Context().get(), create, &created).ok()) {
      std::fprintf(stderr, "gtsim-bench: create-table failed\n");
      exit_code = 2;
    }
    // Wait until the table reached every region.
    for (auto& c : clients) {
      for (int i = 0; i < 500; ++i) {
        pb::DescribeTableRequest d;
        d.set_table("bench");
        pb::DescribeTableResponse resp;
        if (c->api().DescribeTable(RegionClient::Context().get(), d, &resp).ok()) break;
        absl::SleepFor(absl::Milliseconds(10));
      }
    }
    std::printf("gtsim-bench: %d regions, %d writes/s for %d s, %d client threads per region, "
                "~%d-byte items\n", n, rate, seconds, threads, absl::GetFlag(FLAGS_item_bytes));
    std::mutex mu;
    std::vector<double> write_ms;
    std::atomic<int64_t> ok{0}, failed{0};
    const int total_threads = n * threads;
    const absl::Duration interval = absl::Seconds(1) * total_threads / rate;
    const std::string payload(std::max(0, absl::GetFlag(FLAGS_item_bytes) - 40), 'x');
    absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
    std::vector<std::thread> workers;
    for (int t = 0; t < total_threads; ++t) {
      workers.emplace_back([&, t] {
        RegionClient& c = *clients[t % n];
        std::vector<double> mine;
        absl::Time next = start + interval * t / total_threads;
        for (int i = 0; next < end; ++i, next += interval) {
          absl::SleepFor(next - absl::Now());
          pb::PutItemRequest req;
          req.set_table("bench");
          (*req.mutable_item()->mutable_attributes())["id"].set_s(absl::StrCat("t", t, "-", i % 5000));
          (*req.mutable_item()->mutable_attributes())["payload"].set_s(payload);
          pb::PutItemResponse resp;
          absl::Time before = absl::Now();
          bool good = c.api().PutItem(RegionClient::Context().get(), req, &resp).ok();
          mine.push_back(absl::ToDoubleMilliseconds(absl::Now() - before));
          (good ? ok : failed)++;
        }
        std::lock_guard<std::mutex> l(mu);
        write_ms.insert(write_ms.end(), mine.begin(), mine.end());
      });
    }
    for (auto& w : workers) w.join();
    double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    // Let replication drain: every pair's pending count at zero.
    for (int i = 0; i < 1000; ++i) {
      int64_t pending = 0;
      for (auto& c : clients) {
        pb::StatusResponse st;
        if (!c->admin().Status(RegionClient::Context().get(), {}, &st).ok()) continue;
        for (const auto& o : st.outbound()) pending += std::max<int64_t>(0, o.pending());
      }
      if (pending == 0) break;
      absl::SleepFor(absl::Milliseconds(20));
    }
    std::printf("client writes: %lld acknowledged, %lld failed, %.0f/s achieved; PutItem latency "
                "p50 %.2f ms, p99 %.2f ms\n",
                static_cast<long long>(ok.load()), static_cast<long long>(failed.load()),
                ok.load() / elapsed, Percentile(write_ms, 50), Percentile(write_ms, 99));
    std::printf("%-28s %10s %10s %10s %10s %9s\n", "ReplicationLatency", "p50 ms", "p90 ms",
                "p99 ms", "max ms", "samples");
    for (auto& c : clients) {
      pb::StatusResponse st;
      if (!c->admin().Status(RegionClient::Context().get(), {}, &st).ok()) continue;
      for (const auto& in : st.inbound()) {
        const auto& l = in.latency();
        std::printf("%-28s %10.2f %10.2f %10.2f %10.2f %9lld\n",
                    (in.origin() + " -> " + st.region()).c_str(), l.p50_ms(), l.p90_ms(),
                    l.p99_ms(), l.max_ms(), static_cast<long long>(l.samples()));
      }
    }
  }
  cluster->StopAll().IgnoreError();
  if (std::system(("rm -rf '" + dir + "'").c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", dir.c_str());
  return exit_code;
}

}  // namespace
}  // namespace gtsim

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "replication lag at a steady write rate on a throwaway local cluster.\n"
      "  gtsim-bench --regions 3 --rate 2000 --seconds 10");
  absl::ParseCommandLine(argc, argv);
  return gtsim::Main();
}
