// Test helpers: a throwaway local cluster of real gtsim-region processes on 127.0.0.1 (ports
// chosen free at run time), stopped and removed when the fixture goes away.
#pragma once

#include <stdlib.h>

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "sim/launcher/cluster.h"
#include "tools/cli_client.h"

namespace gtsim::testing {

inline std::string BinDir() { return GTSIM_BIN_DIR; }

inline std::string MakeTempDir(const std::string& prefix) {
  std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
  char* dir = mkdtemp(tmpl.data());
  return dir ? std::string(dir) : std::string();
}

// Polls `done` every 20 ms until it returns true or `timeout` passes; returns its last answer.
inline bool Eventually(const std::function<bool()>& done,
                       absl::Duration timeout = absl::Seconds(20)) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return done();
}

class ClusterFixture {
 public:
  // `configure` runs on the new cluster before it starts (e.g. SetLogRetention).
  explicit ClusterFixture(const std::vector<std::string>& regions,
                          const std::function<void(LocalCluster&)>& configure = nullptr)
      : dir_(MakeTempDir("gtsim-test")) {
    auto c = LocalCluster::Create(dir_ + "/cluster", regions, BinDir() + "/gtsim-region");
    if (!c.ok()) {
      std::fprintf(stderr, "cluster: %s\n", std::string(c.status().message()).c_str());
      std::abort();
    }
    cluster_ = std::make_unique<LocalCluster>(*std::move(c));
    cluster_->SetExitWithParent(true);  // a crashing test leaves no region behind
    if (absl::Status st = RegionClient::UseSecretFile(cluster_->secret_path()); !st.ok()) {
      std::fprintf(stderr, "cluster secret: %s\n", std::string(st.message()).c_str());
      std::abort();
    }
    if (configure) configure(*cluster_);
    absl::Status st = cluster_->StartAll();
    if (!st.ok()) {
      std::fprintf(stderr, "cluster start: %s\n", std::string(st.message()).c_str());
      cluster_->StopAll().IgnoreError();
      std::abort();
    }
  }
  ~ClusterFixture() {
    if (cluster_) cluster_->StopAll().IgnoreError();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }
  LocalCluster& cluster() { return *cluster_; }
  std::string address(const std::string& region) { return (*cluster_->Find(region))->address(); }
  std::string cluster_dir() const { return dir_ + "/cluster"; }

 private:
  std::string dir_;
  std::unique_ptr<LocalCluster> cluster_;
};

}  // namespace gtsim::testing
