// gtsim-region: one simulated AWS region. Holds its tables in one SQLite database, serves the
// native API, the admin API and the replication stream on one gRPC port, and pulls every peer's
// changes. Started by `gtsim up` / `gtsim restart`; stops cleanly on SIGTERM or SIGINT.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/grpcpp.h"
#include "region/grpc/admin_service.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/region_service.h"
#include "region/http/dynamodb_endpoint.h"
#include "region/region.h"
#include "replicator/grpc/bootstrap_link.h"
#include "replicator/grpc/peer_link.h"
#include "replicator/grpc/stream_service.h"
#include "storage/data_dir.h"

ABSL_FLAG(std::string, region, "", "this region's name, e.g. us-east-1 (required)");
ABSL_FLAG(std::string, data_dir, "", "directory for this region's database (required)");
ABSL_FLAG(std::string, listen, "127.0.0.1:0", "address to serve gRPC on");
ABSL_FLAG(std::string, peers, "",
          "the other regions as NAME=HOST:PORT, comma-separated, e.g. us-west-2=127.0.0.1:7001");
ABSL_FLAG(absl::Duration, clock_skew, absl::ZeroDuration(),
          "offset of the clock that stamps writes, e.g. 250ms or -1s");
ABSL_FLAG(std::string, dynamodb_listen, "",
          "address to serve the DynamoDB-compatible HTTP endpoint on, e.g. 127.0.0.1:8000 "
          "(empty: no endpoint)");
ABSL_FLAG(std::string, inbound_delay, "",
          "simulated network per peer as "
          "PEER=DELAY[/JITTER[/DISTRIBUTION[/LOSS[/BANDWIDTH_BYTES_PER_S]]]], comma-separated, "
          "e.g. us-west-2=35ms/5ms (see replicator/link_delay.h)");
ABSL_FLAG(std::string, blocked, "",
          "peers whose changes are not applied (a partition), comma-separated");
ABSL_FLAG(std::string, durability, "process",
          "when a write is acknowledged: 'process' (committed to SQLite's WAL: survives kill -9 "
          "and a crash of the process; a power loss can lose the last commits) or 'fsync' "
          "(synchronous=FULL: each commit is fsynced first, so it survives a power loss too; "
          "slower, see docs/BENCHMARKS.md)");
ABSL_FLAG(absl::Duration, log_retention, absl::Hours(24),
          "how long the change log keeps a change after every peer has applied it: DynamoDB "
          "Streams keep 24h (a stream reader, a rejoining region and log-rollback repair read "
          "that far back); older rows are trimmed once a second so disk stays bounded");
ABSL_FLAG(bool, rejoin, false,
          "start with an empty database although this region has run before (its data was "
          "lost): its peers send back its tables and its own writes they hold, it re-reads their "
          "logs; its writes that no peer received are gone");
ABSL_FLAG(std::string, cluster_id, "",
          "the cluster this region belongs to (gtsim up draws one): replication with a peer of "
          "another cluster is refused both ways, and a data directory of another cluster is "
          "refused at start");
ABSL_FLAG(std::string, secret_file, "",
          "a file holding the cluster's secret (gtsim up writes DIR/secret, mode 0600): every "
          "gRPC call - native API, admin, replication - must carry it (empty: none required)");
ABSL_FLAG(int, exit_with_parent, 0,
          "the pid of the process that started this one (0: none): once it has exited, stop as "
          "on SIGTERM - so a scenario runner that crashes leaves no region behind");
ABSL_FLAG(bool, expect_data, false,
          "this region has run before (gtsim passes it): refuse to start if the database is "
          "missing or empty, unless --rejoin");

namespace {

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "gtsim-region: %s\n", msg.c_str());
  std::fflush(stderr);
  std::_Exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "one gtsim region process.\n  gtsim-region --region us-east-1 --data_dir DIR "
      "--listen 127.0.0.1:7000 --peers us-west-2=127.0.0.1:7001\nUsually started by `gtsim up`.");
  absl::ParseCommandLine(argc, argv);
#ifdef NDEBUG
  // Debian's Abseil is built with Mutex deadlock detection on: every lock then updates a global
  // lock-order graph (GraphCycles::GetId in profiles). Optimised builds turn it off; tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  const std::string name = absl::GetFlag(FLAGS_region);
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  if (name.empty() || dir.empty()) Die("--region and --data_dir are required (see --help)");

  std::vector<std::pair<std::string, std::string>> peers;
  std::vector<std::string> regions{name};
  for (absl::string_view p : absl::StrSplit(absl::GetFlag(FLAGS_peers), ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(p, absl::MaxSplits('=', 1));
    if (kv.size() != 2 || kv[0].empty() || kv[1].empty()) {
      Die(absl::StrCat("--peers entry \"", p, "\" must be NAME=HOST:PORT"));
    }
    peers.emplace_back(kv[0], kv[1]);
    regions.push_back(kv[0]);
  }

  gtsim::StorageOptions storage_options;
  if (absl::GetFlag(FLAGS_durability) == "fsync") {
    storage_options.durability = gtsim::Durability::kFsync;
  } else if (absl::GetFlag(FLAGS_durability) != "process") {
    Die(absl::StrCat("--durability must be process or fsync, not \"",
                     absl::GetFlag(FLAGS_durability), "\""));
  }

  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
    Die(absl::StrCat("cannot create data directory ", dir, ": ", std::strerror(errno)));
  }
  gtsim::DataDirStart start;
  start.expect_data = absl::GetFlag(FLAGS_expect_data);
  start.rejoin = absl::GetFlag(FLAGS_rejoin);
  start.cluster_id = absl::GetFlag(FLAGS_cluster_id);
  if (absl::Status st = gtsim::CheckDataDir(dir, name, start); !st.ok()) {
    Die(std::string(st.message()));
  }
  const std::string db_path = dir + "/region.db";
  auto storage = gtsim::Storage::Open(db_path, name, storage_options);
  if (!storage.ok()) Die(absl::StrCat("cannot open the database: ", storage.status().message()));
  // Before anything is served or written: a damaged file is refused, never written into.
  if (absl::Status st = (*storage)->CheckIntegrity(); !st.ok()) {
    Die(absl::StrCat(db_path, ": ", st.message(),
                     ". Restore it from a backup, or move it away and start with --rejoin (the "
                     "region then re-reads its peers' logs; its writes no peer received are "
                     "lost)"));
  }
  const bool rejoining = (*storage)->created_new() && start.rejoin;
  if (rejoining) {
    std::printf("gtsim-region %s: rejoining with an empty database\n", name.c_str());
  }
  if (absl::Status st = gtsim::MarkDataDir(dir, name, start.cluster_id); !st.ok())
    Die(std::string(st.message()));
  if (absl::Status st = (*storage)->StartBackgroundCheckpoints(db_path, absl::Milliseconds(200));
      !st.ok()) {
    Die(std::string(st.message()));
  }
  gtsim::SystemClock clock;
  auto region = gtsim::Region::Open(name, regions, *std::move(storage), &clock);
  if (!region.ok()) Die(absl::StrCat("cannot load the database: ", region.status().message()));
  if (rejoining) {
    if (absl::Status st = (*region)->BeginRejoin(); !st.ok()) {
      Die(absl::StrCat("cannot start the rejoin: ", st.message()));
    }
  }
  if (auto skew =
          (*region)->SetClockSkew(absl::ToInt64Microseconds(absl::GetFlag(FLAGS_clock_skew)));
      !skew.ok()) {
    Die(absl::StrCat("--clock_skew: ", skew.status().message()));
  }
  for (absl::string_view b : absl::StrSplit(absl::GetFlag(FLAGS_blocked), ',', absl::SkipEmpty())) {
    (*region)->SetBlocked(std::string(b), true);
  }

  for (absl::string_view d :
       absl::StrSplit(absl::GetFlag(FLAGS_inbound_delay), ',', absl::SkipEmpty())) {
    std::vector<std::string> kv = absl::StrSplit(d, absl::MaxSplits('=', 1));
    gtsim::LinkDelay link;
    if (kv.size() != 2 || !gtsim::ParseLinkSpec(kv[1], &link)) {
      Die(absl::StrCat("--inbound_delay entry \"", d,
                       "\" must be "
                       "PEER=DELAY[/JITTER[/DISTRIBUTION[/LOSS[/BANDWIDTH_BYTES_PER_S]]]], e.g. "
                       "us-west-2=35ms/5ms or us-west-2=35ms/5ms/normal/0.01/1000000"));
    }
    (*region)->SetInboundDelay(kv[0], link);
  }

  // Block the stop signals before any thread starts, then wait for them in main.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The HTTP endpoint listens before the gRPC port does: launchers treat the gRPC port
  // accepting connections as "ready".
  gtsim::DynamoDbEndpoint dynamodb(region->get());
  int dynamodb_port = 0;
  if (!absl::GetFlag(FLAGS_dynamodb_listen).empty()) {
    auto bound = dynamodb.Start(absl::GetFlag(FLAGS_dynamodb_listen));
    if (!bound.ok()) Die(std::string(bound.status().message()));
    dynamodb_port = *bound;
  }

  std::string secret;
  if (!absl::GetFlag(FLAGS_secret_file).empty()) {
    auto read = gtsim::ReadSecretFile(absl::GetFlag(FLAGS_secret_file));
    if (!read.ok()) Die(std::string(read.status().message()));
    secret = *read;
  }
  gtsim::RegionService api(region->get(), secret);
  gtsim::AdminService admin(region->get(), secret);
  const std::string cluster_id = absl::GetFlag(FLAGS_cluster_id);
  gtsim::StreamService replication(region->get(), cluster_id, secret);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&api);
  builder.RegisterService(&admin);
  builder.RegisterService(&replication);
  builder.SetMaxReceiveMessageSize(16 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) {
    Die(absl::StrCat("cannot listen on ", absl::GetFlag(FLAGS_listen),
                     " (is the port in use by another process?)"));
  }

  std::vector<std::unique_ptr<gtsim::PeerLink>> links;
  for (const auto& [peer, address] : peers) {
    links.push_back(
        std::make_unique<gtsim::PeerLink>(region->get(), peer, address, cluster_id, secret));
    links.back()->Start();
  }
  gtsim::BootstrapLink bootstrap(region->get(),
                                 std::map<std::string, std::string>(peers.begin(), peers.end()),
                                 cluster_id, secret);
  bootstrap.Start();
  // Background upkeep: TTL expiry (about 1000 items per table per 200 ms), GSI backfills
  // and point-in-time restores (2000 items per step, steps back to back while any index or
  // restored table is CREATING) and change-log
  // trimming (up to 20 steps of 5000 rows a second).
  const absl::Duration retention = absl::GetFlag(FLAGS_log_retention);
  absl::Notification stop_ttl;
  std::thread ttl([&] {
    absl::Time next_ttl = absl::Now(), next_trim = absl::Now();
    while (!stop_ttl.HasBeenNotified()) {
      auto backfilled = (*region)->BackfillIndexes(2000);  // errors: retried next time
      auto restored = (*region)->RestoreSteps(2000);       // point-in-time restores in progress
      if (restored.ok() && *restored > 0) backfilled = *restored;
      if (absl::Now() >= next_ttl) {
        (*region)->ExpireItems(1000).IgnoreError();
        next_ttl = absl::Now() + absl::Milliseconds(200);
      }
      if (absl::Now() >= next_trim) {
        for (int step = 0; step < 20 && !stop_ttl.HasBeenNotified(); ++step) {
          auto trimmed = (*region)->TrimLog(retention, 5000);
          if (!trimmed.ok() || *trimmed < 5000) break;
        }
        // Tombstones: kept for the log's retention at least, and past the clock-skew bound.
        const absl::Duration tombstone_age =
            std::max(retention, absl::Microseconds(gtsim::kMaxStampAheadUs) + absl::Minutes(1));
        for (int step = 0; step < 20 && !stop_ttl.HasBeenNotified(); ++step) {
          auto trimmed = (*region)->TrimTombstones(tombstone_age, 5000);
          if (!trimmed.ok() || *trimmed < 5000) break;
        }
        next_trim = absl::Now() + absl::Seconds(1);
      }
      if (!backfilled.ok() || *backfilled == 0) {
        stop_ttl.WaitForNotificationWithTimeout(absl::Milliseconds(100));
      }
    }
  });
  std::printf("gtsim-region %s ready on 127.0.0.1:%d, database %s\n", name.c_str(), port,
              db_path.c_str());
  if (dynamodb_port != 0) {
    std::printf("gtsim-region %s DynamoDB endpoint on http://127.0.0.1:%d\n", name.c_str(),
                dynamodb_port);
  }
  std::fflush(stdout);

  // --exit_with_parent: once the parent is gone (this process is re-parented), stop as on
  // SIGTERM. A detached thread: it ends with the process.
  if (const pid_t parent = absl::GetFlag(FLAGS_exit_with_parent); parent != 0) {
    // The pid is given, not read here: the parent may have died before this line.
    std::thread([parent] {
      while (getppid() == parent) absl::SleepFor(absl::Milliseconds(200));
      kill(getpid(), SIGTERM);
    }).detach();
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::printf("gtsim-region %s stopping (signal %d)\n", name.c_str(), sig);
  std::fflush(stdout);
  dynamodb.Stop();
  stop_ttl.Notify();
  ttl.join();
  bootstrap.Stop();
  for (auto& link : links) link->Stop();
  replication.Stop();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  return 0;
}
