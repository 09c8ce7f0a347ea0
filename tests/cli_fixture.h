// Test helpers for the gtsim CLI as a user runs it: `gtsim ARGS` in a shell against a cluster
// folder (exit code, stdout, stderr), a throwaway cluster made with `gtsim up` and stopped with
// `gtsim down`, and a gtsim command running in the background that is always stopped.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cluster_fixture.h"

namespace gtsim::testing {

struct Result {
  int code;
  std::string out, err;
};

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `gtsim ARGS` against the cluster in `dir`; arguments are passed through the shell, so
// quote JSON with single quotes.
inline Result Gtsim(const std::string& dir, const std::string& args) {
  std::string out = dir + "/.out", err = dir + "/.err";
  std::string cmd = "GTSIM_DIR='" + dir + "' " + BinDir() + "/gtsim " + args + " >" + out + " 2>" +
                    err + " </dev/null";
  int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, Slurp(out), Slurp(err)};
}

// A cluster started with `gtsim up` in a new temporary folder; `gtsim down` and removed at the
// end.
class CliCluster {
 public:
  explicit CliCluster(const std::string& regions = "us-east-1,us-west-2")
      : dir_(MakeTempDir("gtsim-cli")) {
    Result up = Gtsim(dir_, "up --regions " + regions);
    if (up.code != 0) FAIL("gtsim up failed: " << up.err);
  }
  ~CliCluster() {
    Gtsim(dir_, "down");
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }
  Result operator()(const std::string& args) { return Gtsim(dir_, args); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// `gtsim ARGV...` in the background with GTSIM_DIR=dir, stdout and stderr to files in dir;
// SIGKILLed and reaped at the end unless Wait() reaped it.
class Background {
 public:
  Background(const std::string& dir, const std::vector<std::string>& args, const std::string& tag)
      : out_(dir + "/." + tag + ".out"), err_(dir + "/." + tag + ".err") {
    // Everything the child needs is prepared before fork: it only opens, dups and execs.
    std::string bin = BinDir() + "/gtsim", env_dir = "GTSIM_DIR=" + dir;
    std::vector<std::string> argv_s = {"gtsim"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    char* envp[] = {env_dir.data(), nullptr};
    pid_ = fork();
    if (pid_ == 0) {
      int fd_out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int fd_err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int fd_in = open("/dev/null", O_RDONLY);
      if (fd_out < 0 || fd_err < 0 || fd_in < 0) _exit(127);
      dup2(fd_out, 1);
      dup2(fd_err, 2);
      dup2(fd_in, 0);
      execve(bin.c_str(), argv.data(), envp);
      _exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  bool started() const { return pid_ > 0; }
  std::string out() const { return Slurp(out_); }
  std::string err() const { return Slurp(err_); }
  bool Signal(int sig) { return kill(pid_, sig) == 0; }
  // Waits for the exit (up to `timeout`, then SIGKILL); the exit code, or 128 + the signal.
  int Wait(absl::Duration timeout = absl::Seconds(60)) {
    int status = 0;
    absl::Time deadline = absl::Now() + timeout;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (absl::Now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string out_, err_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace gtsim::testing
