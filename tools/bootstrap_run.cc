#include "tools/bootstrap_run.h"

#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "model/status_macros.h"
#include "region/region.h"
#include "tools/cli_client.h"

namespace gtsim {

double PeakRssMb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atof(line.c_str() + 6) / 1024.0;
  }
  return 0;
}

double ProcessCpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  size_t close = line.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
  if (fields.size() < 13) return 0;
  // Fields 14 and 15 of proc(5) (utime, stime); the slice starts at field 3.
  return (std::stod(fields[11]) + std::stod(fields[12])) / sysconf(_SC_CLK_TCK);
}

absl::Status PreloadRegionDb(const std::string& db_path, const std::string& region,
                             const std::vector<std::string>& regions, const std::string& table,
                             int64_t items, int item_bytes) {
  ASSIGN_OR_RETURN(auto storage, Storage::Open(db_path, region));
  SystemClock clock;
  ASSIGN_OR_RETURN(auto r, Region::Open(region, regions, std::move(storage), &clock));
  CreateTableRequest create;
  create.table = table;
  create.hash_key = KeyDef{"id", ValueType::kS};
  RETURN_IF_ERROR(r->CreateTable(create).status());
  const std::string pad(std::max(0, item_bytes - 40), 'x');
  constexpr int64_t kPerTransaction = 1000;
  for (int64_t first = 0; first < items; first += kPerTransaction) {
    std::vector<Region::ItemMutation> batch;
    for (int64_t i = first; i < std::min(items, first + kPerTransaction); ++i) {
      Item item{{"id", AttributeValue::S(absl::StrCat("item", i))},
                {"n", *AttributeValue::Number(std::to_string(i))},
                {"pad", AttributeValue::S(pad)}};
      Item key{{"id", item.at("id")}};
      batch.push_back(Region::ItemMutation{
          table, std::move(key),
          [item = std::move(item)](
              const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> { return item; }});
    }
    RETURN_IF_ERROR(r->Transact(batch).status());
  }
  return absl::OkStatus();
}

namespace {

// `replica`'s status as `client`'s region describes `table` ("" when not listed or unknown).
std::string ReplicaStatusIn(RegionClient& client, const std::string& table,
                            const std::string& replica) {
  pb::DescribeTableRequest req;
  req.set_table(table);
  pb::DescribeTableResponse resp;
  if (!client.api().DescribeTable(RegionClient::Context().get(), req, &resp).ok()) return "";
  for (const auto& r : resp.table().replica_descriptions()) {
    if (r.region_name() == replica) return r.replica_status();
  }
  return "";
}

// Waits until `follower` has applied `origin`'s change log up to its current head.
absl::Status WaitCaughtUp(RegionClient& origin, RegionClient& follower,
                          const std::string& origin_name, absl::Duration limit) {
  pb::StatusResponse head;
  if (!origin.admin().Status(RegionClient::Context().get(), {}, &head).ok()) {
    return absl::UnavailableError("the source region does not answer Status");
  }
  absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    pb::StatusResponse st;
    if (follower.admin().Status(RegionClient::Context().get(), {}, &st).ok()) {
      for (const auto& in : st.inbound()) {
        if (in.origin() == origin_name && in.applied_seq() >= head.head_seq()) {
          return absl::OkStatus();
        }
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError("the new replica's region did not catch up with the source");
}

}  // namespace

absl::StatusOr<BootstrapResult> RunBootstrap(LocalCluster& cluster, const std::string& source,
                                             const std::string& replica, const std::string& table,
                                             absl::Duration limit) {
  ASSIGN_OR_RETURN(const RegionProcess* src, cluster.Find(source));
  ASSIGN_OR_RETURN(const RegionProcess* dst, cluster.Find(replica));
  RegionClient from(src->address()), to(dst->address());
  RETURN_IF_ERROR(WaitCaughtUp(from, to, source, limit));

  BootstrapResult out;
  const double src_cpu = ProcessCpuSeconds(src->pid), dst_cpu = ProcessCpuSeconds(dst->pid);
  pb::UpdateTableRequest add;
  add.set_table(table);
  add.add_replica_updates()->set_action(pb::ReplicaUpdate::CREATE);
  add.mutable_replica_updates(0)->set_region_name(replica);
  pb::UpdateTableResponse added;
  const absl::Time start = absl::Now();
  grpc::Status s = from.api().UpdateTable(RegionClient::Context().get(), add, &added);
  if (!s.ok()) return absl::FailedPreconditionError("UpdateTable: " + s.error_message());
  std::string status;
  while (status != "ACTIVE") {
    if (absl::Now() - start > limit) {
      return absl::DeadlineExceededError(absl::StrCat(
          "the new replica was not ACTIVE after ", absl::FormatDuration(limit), " (", status, ")"));
    }
    absl::SleepFor(absl::Milliseconds(100));
    status = ReplicaStatusIn(from, table, replica);
  }
  out.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  out.source_cpu_s = ProcessCpuSeconds(src->pid) - src_cpu;
  out.replica_cpu_s = ProcessCpuSeconds(dst->pid) - dst_cpu;
  out.source_peak_mb = PeakRssMb(src->pid);
  out.replica_peak_mb = PeakRssMb(dst->pid);
  pb::DescribeTableRequest req;
  req.set_table(table);
  pb::DescribeTableResponse resp;
  if (to.api().DescribeTable(RegionClient::Context(absl::Seconds(60)).get(), req, &resp).ok()) {
    out.replica_items = resp.table().item_count();
  }
  return out;
}

}  // namespace gtsim
