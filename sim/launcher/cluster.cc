#include "sim/launcher/cluster.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "model/status_macros.h"
#include "nlohmann/json.hpp"

namespace gtsim {
namespace {

std::string ClusterFile(const std::string& dir) { return dir + "/cluster.json"; }

bool ValidRegionName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// 16 hex digits, drawn once per cluster.
std::string NewClusterId() {
  absl::BitGen gen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(gen));
}

// 32 hex digits from /dev/urandom into `path`, readable by its owner only.
absl::Status WriteSecret(const std::string& path) {
  unsigned char bytes[16];
  int in = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  bool ok = in >= 0 && read(in, bytes, sizeof bytes) == static_cast<ssize_t>(sizeof bytes);
  if (in >= 0) close(in);
  if (!ok) return absl::InternalError("cannot read /dev/urandom for the cluster secret");
  std::string hex;
  for (unsigned char b : bytes) hex += absl::StrFormat("%02x", b);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  hex += "\n";
  ok = write(fd, hex.data(), hex.size()) == static_cast<ssize_t>(hex.size());
  close(fd);
  if (!ok) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status MakeDirs(const std::string& path) {
  std::string partial;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    partial += std::string(part) + "/";
    if (part.empty()) continue;
    // 0700: a cluster's folders (cluster.json, every region's data) are its user's alone.
    if (mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create directory ", partial, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

std::string ReadFile(const std::string& path, int64_t from = 0) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(from);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t FileSize(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

std::string LastLines(const std::string& text, int n) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (static_cast<int>(lines.size()) > n) lines.erase(lines.begin(), lines.end() - n);
  return absl::StrJoin(lines, "\n");
}

// Reaps `pid` if it is our child and has exited; harmless otherwise.
void Reap(int pid) {
  int status;
  waitpid(pid, &status, WNOHANG);
}

}  // namespace

bool IsRegionProcess(int pid, const std::string& region) {
  if (pid <= 0) return false;
  Reap(pid);
  std::string stat = ReadFile(absl::StrCat("/proc/", pid, "/stat"));
  auto close_paren = stat.rfind(')');
  if (stat.empty() || close_paren == std::string::npos || close_paren + 2 >= stat.size()) {
    return false;
  }
  char state = stat[close_paren + 2];
  if (state == 'Z' || state == 'X') return false;
  std::string cmdline = ReadFile(absl::StrCat("/proc/", pid, "/cmdline"));
  std::vector<std::string> args = absl::StrSplit(cmdline, '\0');
  bool is_region_binary = !args.empty() && args[0].find("gtsim-region") != std::string::npos;
  bool serves = std::find(args.begin(), args.end(), "--region=" + region) != args.end();
  return is_region_binary && serves;
}

absl::StatusOr<int> PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("cannot find a free port: ", std::strerror(errno)));
  }
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

absl::StatusOr<LocalCluster> LocalCluster::Create(const std::string& dir,
                                                  const std::vector<std::string>& regions,
                                                  const std::string& region_binary) {
  if (regions.empty()) {
    return absl::InvalidArgumentError(
        "name at least one region, e.g. --regions us-east-1,us-west-2");
  }
  std::set<std::string> seen;
  for (const auto& r : regions) {
    if (!ValidRegionName(r)) {
      return absl::InvalidArgumentError(
          absl::StrCat("region name \"", r,
                       "\" is invalid: use lower-case letters, digits and '-', e.g. us-east-1"));
    }
    if (!seen.insert(r).second) {
      return absl::InvalidArgumentError(absl::StrCat("region ", r, " is listed twice"));
    }
  }
  if (FileSize(ClusterFile(dir)) > 0) {
    return absl::AlreadyExistsError(absl::StrCat("a cluster already exists in ", dir));
  }
  RETURN_IF_ERROR(MakeDirs(dir));
  chmod(dir.c_str(), 0700);
  LocalCluster c(dir, region_binary);
  c.cluster_id_ = NewClusterId();
  RETURN_IF_ERROR(WriteSecret(c.secret_path()));
  std::set<int> ports;
  for (const auto& r : regions) {
    int port = 0, dynamodb_port = 0;
    do {
      ASSIGN_OR_RETURN(port, PickFreePort());
    } while (ports.count(port));
    ports.insert(port);
    do {
      ASSIGN_OR_RETURN(dynamodb_port, PickFreePort());
    } while (ports.count(dynamodb_port));
    ports.insert(dynamodb_port);
    RegionProcess p;
    p.name = r;
    p.port = port;
    p.dynamodb_port = dynamodb_port;
    p.data_dir = dir + "/" + r;
    c.regions_.push_back(p);
  }
  RETURN_IF_ERROR(c.Save());
  return c;
}

absl::StatusOr<LocalCluster> LocalCluster::Load(const std::string& dir,
                                                const std::string& region_binary) {
  std::string text = ReadFile(ClusterFile(dir));
  if (text.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no cluster in ", dir,
                     " (start one with: gtsim up --regions us-east-1,us-west-2,eu-west-1)"));
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  LocalCluster c(dir, region_binary);
  try {
    for (const auto& r : j.at("regions")) {
      RegionProcess p;
      p.name = r.at("name").get<std::string>();
      p.port = r.at("port").get<int>();
      p.dynamodb_port = r.value("dynamodb_port", 0);  // absent in older cluster.json files
      p.pid = r.at("pid").get<int>();
      p.clock_skew_us = r.at("clock_skew_us").get<int64_t>();
      p.data_dir = r.at("data_dir").get<std::string>();
      p.has_run = r.value("has_run", false);
      c.regions_.push_back(p);
    }
    c.durability_ = j.value("durability", "process");
    // Absent in clusters made before cluster ids: their regions (and data) have none either.
    c.cluster_id_ = j.value("cluster_id", "");
    c.log_retention_ = absl::Microseconds(j.value("log_retention_us", int64_t{0}));
    for (const auto& pr : j.at("partitions")) {
      c.partitions_.emplace(pr.at(0).get<std::string>(), pr.at(1).get<std::string>());
    }
    // Absent in cluster.json files written before one-way cuts and link models existed.
    for (const auto& pr : j.value("one_way_blocks", nlohmann::json::array())) {
      c.one_way_.emplace(pr.at(0).get<std::string>(), pr.at(1).get<std::string>());
    }
    for (const auto& l : j.value("links", nlohmann::json::array())) {
      LinkDelay d;
      if (!ParseLinkSpec(l.at("model").get<std::string>(), &d)) {
        throw nlohmann::json::other_error::create(501, "bad link model", nullptr);
      }
      c.links_[{l.at("from").get<std::string>(), l.at("to").get<std::string>()}] = d;
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(ClusterFile(dir), " is damaged (", e.what(),
                                            "); stop the regions and remove the directory"));
  }
  return c;
}

absl::Status LocalCluster::Save() const {
  nlohmann::json j;
  j["version"] = 1;
  j["regions"] = nlohmann::json::array();
  for (const auto& p : regions_) {
    j["regions"].push_back({{"name", p.name},
                            {"port", p.port},
                            {"address", p.address()},
                            {"dynamodb_port", p.dynamodb_port},
                            {"pid", p.pid},
                            {"clock_skew_us", p.clock_skew_us},
                            {"data_dir", p.data_dir},
                            {"has_run", p.has_run}});
  }
  j["cluster_id"] = cluster_id_;
  j["durability"] = durability_;
  j["log_retention_us"] = absl::ToInt64Microseconds(log_retention_);
  j["partitions"] = nlohmann::json::array();
  for (const auto& [a, b] : partitions_) j["partitions"].push_back({a, b});
  j["one_way_blocks"] = nlohmann::json::array();
  for (const auto& [a, b] : one_way_) j["one_way_blocks"].push_back({a, b});
  j["links"] = nlohmann::json::array();
  for (const auto& [k, d] : links_) {
    j["links"].push_back({{"from", k.first}, {"to", k.second}, {"model", FormatLinkSpec(d)}});
  }
  std::string tmp = ClusterFile(dir_) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
  }
  chmod(tmp.c_str(), 0600);  // other local users cannot read the cluster's addresses and id
  if (rename(tmp.c_str(), ClusterFile(dir_).c_str()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", ClusterFile(dir_), ": ", std::strerror(errno)));
  }
  return SavePrometheusTargets();
}

absl::Status LocalCluster::SavePrometheusTargets() const {
  nlohmann::json targets = nlohmann::json::array();
  for (const auto& p : regions_) {
    if (p.dynamodb_port == 0) continue;
    targets.push_back({{"targets", {absl::StrCat("127.0.0.1:", p.dynamodb_port)}},
                       {"labels", {{"region", p.name}, {"gtsim_cluster", dir_}}}});
  }
  const std::string path = dir_ + "/prometheus-targets.json", tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << targets.dump(2) << "\n";
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
  }
  // Renamed into place: Prometheus, watching the file, never reads half of it.
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<std::string> LocalCluster::region_names() const {
  std::vector<std::string> names;
  for (const auto& p : regions_) names.push_back(p.name);
  return names;
}

absl::StatusOr<const RegionProcess*> LocalCluster::Find(const std::string& name) const {
  for (const auto& p : regions_) {
    if (p.name == name) return &p;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown region \"", name, "\"; this cluster has ",
                                                 absl::StrJoin(region_names(), ", ")));
}

RegionProcess* LocalCluster::Mutable(const std::string& name) {
  for (auto& p : regions_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

bool LocalCluster::IsRunning(const std::string& name) const {
  auto p = Find(name);
  return p.ok() && IsRegionProcess((*p)->pid, name);
}

std::string LocalCluster::LogPath(const std::string& name) const {
  return dir_ + "/" + name + "/region.log";
}

std::vector<std::string> LocalCluster::BlockedPeers(const std::string& name) const {
  std::vector<std::string> out;
  for (const auto& [a, b] : partitions_) {
    if (a == name) out.push_back(b);
    if (b == name) out.push_back(a);
  }
  for (const auto& [origin, receiver] : one_way_) {
    if (receiver == name && std::find(out.begin(), out.end(), origin) == out.end()) {
      out.push_back(origin);
    }
  }
  return out;
}

void LocalCluster::AddOneWayBlock(const std::string& origin, const std::string& receiver) {
  one_way_.emplace(origin, receiver);
}

void LocalCluster::SetLink(const std::string& origin, const std::string& receiver,
                           const LinkDelay& link) {
  if (link.none()) {
    links_.erase({origin, receiver});
  } else {
    links_[{origin, receiver}] = link;
  }
}

void LocalCluster::AddPartition(const std::string& a, const std::string& b) {
  partitions_.insert(a < b ? std::make_pair(a, b) : std::make_pair(b, a));
}

void LocalCluster::ClearPartitions() {
  partitions_.clear();
  one_way_.clear();
}

void LocalCluster::SetClockSkew(const std::string& name, int64_t skew_us) {
  if (RegionProcess* p = Mutable(name)) p->clock_skew_us = skew_us;
}

absl::Status LocalCluster::Start(const std::string& name, absl::Duration timeout) {
  RegionProcess* p = Mutable(name);
  if (!p) return Find(name).status();
  if (IsRegionProcess(p->pid, name)) {
    return absl::FailedPreconditionError(
        absl::StrCat("region ", name, " is already running (pid ", p->pid, ")"));
  }
  RETURN_IF_ERROR(MakeDirs(p->data_dir));
  chmod(p->data_dir.c_str(), 0700);
  if (access(region_binary_.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run the region binary ", region_binary_,
                                            " (build it, or set GTSIM_REGION_BIN)"));
  }
  std::vector<std::string> peers;
  for (const auto& q : regions_) {
    if (q.name != name) peers.push_back(q.name + "=" + q.address());
  }
  std::vector<std::string> args = {
      region_binary_,
      "--region=" + name,
      "--data_dir=" + p->data_dir,
      "--listen=" + p->address(),
      "--peers=" + absl::StrJoin(peers, ","),
      absl::StrCat("--clock_skew=", p->clock_skew_us, "us"),
      "--blocked=" + absl::StrJoin(BlockedPeers(name), ","),
  };
  std::vector<std::string> inbound;
  for (const auto& [k, d] : links_) {
    if (k.second == name) inbound.push_back(k.first + "=" + FormatLinkSpec(d));
  }
  if (!inbound.empty()) args.push_back("--inbound_delay=" + absl::StrJoin(inbound, ","));
  if (p->dynamodb_port != 0) {
    args.push_back(absl::StrCat("--dynamodb_listen=127.0.0.1:", p->dynamodb_port));
  }
  args.push_back("--durability=" + durability_);
  args.push_back("--cluster_id=" + cluster_id_);
  if (access(secret_path().c_str(), F_OK) == 0) args.push_back("--secret_file=" + secret_path());
  if (log_retention_ > absl::ZeroDuration()) {
    args.push_back(
        absl::StrCat("--log_retention=", absl::ToInt64Microseconds(log_retention_), "us"));
  }
  if (p->has_run) args.push_back("--expect_data");
  if (exit_with_parent_) args.push_back(absl::StrCat("--exit_with_parent=", getpid()));
  if (p->rejoin) args.push_back("--rejoin");
  const std::string log = LogPath(name);
  int64_t log_start = FileSize(log);
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open ", log, ": ", std::strerror(errno)));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return absl::ResourceExhaustedError(absl::StrCat("fork failed: ", std::strerror(errno)));
  }
  if (pid == 0) {
    setsid();  // outlives the CLI; not hit by its terminal's signals
    int null_fd = open("/dev/null", O_RDONLY);
    dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    for (int fd = 3; fd < 1024; ++fd) close(fd);
    execv(argv[0], argv.data());
    dprintf(2, "gtsim: cannot run %s: %s\n", argv[0], std::strerror(errno));
    _exit(127);
  }
  close(log_fd);
  p->pid = pid;
  RETURN_IF_ERROR(Save());
  absl::Time deadline = absl::Now() + timeout;
  const std::string ready = absl::StrCat("gtsim-region ", name, " ready");
  while (absl::Now() < deadline) {
    std::string out = ReadFile(log, log_start);
    if (out.find(ready) != std::string::npos) {
      p->rejoin = false;
      if (!p->has_run) {
        p->has_run = true;
        RETURN_IF_ERROR(Save());
      }
      return absl::OkStatus();
    }
    int status = 0;
    // Only waitpid: until the child has called exec, /proc still shows the parent's command.
    if (waitpid(pid, &status, WNOHANG) == pid) {
      p->pid = 0;
      Save().IgnoreError();
      return absl::AbortedError(absl::StrCat("region ", name, " failed to start:\n",
                                             LastLines(ReadFile(log, log_start), 5),
                                             "\n(full log: ", log, ")"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  // Never leave a half-started region behind: the caller believes it is not running.
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  p->pid = 0;
  Save().IgnoreError();
  return absl::DeadlineExceededError(absl::StrCat("region ", name, " did not become ready within ",
                                                  absl::FormatDuration(timeout), "; see ", log));
}

absl::Status LocalCluster::StartAll(absl::Duration timeout) {
  for (const auto& p : regions_) {
    if (!IsRegionProcess(p.pid, p.name)) RETURN_IF_ERROR(Start(p.name, timeout));
  }
  return absl::OkStatus();
}

absl::Status LocalCluster::SetDurability(const std::string& durability) {
  if (durability != "process" && durability != "fsync") {
    return absl::InvalidArgumentError(
        absl::StrCat("durability must be process or fsync, not \"", durability, "\""));
  }
  durability_ = durability;
  return absl::OkStatus();
}

void LocalCluster::MarkRejoin(const std::string& name) {
  if (RegionProcess* p = Mutable(name)) p->rejoin = true;
}

absl::Status LocalCluster::Kill(const std::string& name) {
  RegionProcess* p = Mutable(name);
  if (!p) return Find(name).status();
  if (!IsRegionProcess(p->pid, name)) {
    return absl::FailedPreconditionError(absl::StrCat("region ", name, " is not running"));
  }
  kill(p->pid, SIGKILL);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (IsRegionProcess(p->pid, name) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  p->pid = 0;
  return Save();
}

absl::Status LocalCluster::Stop(const std::string& name, absl::Duration grace) {
  RegionProcess* p = Mutable(name);
  if (!p) return Find(name).status();
  if (IsRegionProcess(p->pid, name)) {
    kill(p->pid, SIGTERM);
    absl::Time deadline = absl::Now() + grace;
    while (IsRegionProcess(p->pid, name) && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (IsRegionProcess(p->pid, name)) {
      kill(p->pid, SIGKILL);
      while (IsRegionProcess(p->pid, name)) absl::SleepFor(absl::Milliseconds(5));
    }
  }
  p->pid = 0;
  return Save();
}

absl::Status LocalCluster::StopAll() {
  // Signal every region first so they stop in parallel.
  for (const auto& p : regions_) {
    if (IsRegionProcess(p.pid, p.name)) kill(p.pid, SIGTERM);
  }
  absl::Status result;
  for (const auto& p : regions_) result.Update(Stop(p.name));
  return result;
}

}  // namespace gtsim
