#include "tools/ui_server.h"

#include <sys/wait.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "replicator/link_delay.h"
#include "sim/launcher/cluster.h"
#include "sim/scenario/scenario.h"
#include "tools/cluster_ops.h"
#include "tools/ui_assets.h"

namespace gtsim {
namespace {

using nlohmann::json;

const char* ContentTypeOf(const std::string& name) {
  auto ends = [&](const char* ext) {
    const std::string e(ext);
    return name.size() >= e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

void Answer(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

// A field of a fault request that must be a non-empty string.
std::string Field(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || !it->is_string() || it->get<std::string>().empty()) {
    throw std::invalid_argument(absl::StrCat("\"", name, "\" is required (a string)"));
  }
  return it->get<std::string>();
}

absl::Duration DurationField(const json& body, const char* name) {
  const std::string text = Field(body, name);
  absl::Duration d;
  if (!scenario::ParseScenarioDuration(text, &d)) {
    throw std::invalid_argument(
        absl::StrCat("\"", name, "\": \"", text, "\" is not a duration such as 250ms or -1s"));
  }
  return d;
}

}  // namespace

struct UiServer::Impl {
  static constexpr size_t kWorkers = 32;
  Impl(std::string dir, std::string binary, absl::Duration interval)
      : dir(std::move(dir)), binary(std::move(binary)), interval(interval) {}

  const std::string dir, binary;
  const absl::Duration interval;
  httplib::Server http;
  int port = 0;
  std::thread http_thread, poller;
  bool started = false;

  absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  int listeners ABSL_GUARDED_BY(mu) = 0;
  int64_t seq ABSL_GUARDED_BY(mu) = 0;  // snapshots taken
  std::string latest ABSL_GUARDED_BY(mu) = "{}";
  absl::Mutex ops_mu;  // one fault at a time

  bool HostIsUs(const httplib::Request& req) const {
    const std::string host = req.get_header_value("Host");
    const std::string p = std::to_string(port);
    return host == "127.0.0.1:" + p || host == "localhost:" + p;
  }

  json Snapshot(WriteRates* rates) {
    json snap;
    auto cluster = LocalCluster::Load(dir, binary);
    if (cluster.ok()) {
      snap = ClusterStatus(*cluster, rates);
    } else {
      snap = {{"error", std::string(cluster.status().message())}};
    }
    snap["time_ms"] = absl::ToUnixMillis(absl::Now());
    snap["interval_ms"] = absl::ToInt64Milliseconds(interval);
    return snap;
  }

  void Poll() {
    WriteRates rates;
    for (;;) {
      {
        absl::MutexLock l(&mu);
        auto wanted = [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping || listeners > 0; };
        mu.Await(absl::Condition(&wanted));
        if (stopping) return;
      }
      const absl::Time start = absl::Now();
      ReapChildren();
      std::string text = Snapshot(&rates).dump();
      absl::MutexLock l(&mu);
      latest = std::move(text);
      ++seq;
      // The next poll one interval after this one began (sooner when stopping).
      mu.AwaitWithDeadline(absl::Condition(&stopping), start + interval);
      if (stopping) return;
    }
  }

  // Regions this process restarted are its children: once one exits (killed from here or by
  // `gtsim kill` elsewhere) it is reaped, so it does not linger as a zombie that still looks
  // alive. Under ops_mu: never while a restart waits on its own child.
  void ReapChildren() {
    absl::MutexLock l(&ops_mu);
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
  }

  // One fault request: the cluster_ops function of its action.
  absl::StatusOr<std::string> Fault(const json& body) {
    const std::string action = Field(body, "action");
    absl::MutexLock l(&ops_mu);
    auto loaded = LocalCluster::Load(dir, binary);
    if (!loaded.ok()) return loaded.status();
    LocalCluster& cluster = *loaded;
    if (action == "kill") return KillRegion(cluster, Field(body, "region"));
    if (action == "restart") return RestartRegion(cluster, Field(body, "region"), false);
    if (action == "partition") return PartitionRegions(cluster, Field(body, "a"), Field(body, "b"));
    if (action == "pause") return PauseReplication(cluster, Field(body, "from"), Field(body, "to"));
    if (action == "heal") return HealCluster(cluster);
    if (action == "skew") {
      return SetRegionClockSkew(cluster, Field(body, "region"),
                                absl::ToInt64Microseconds(DurationField(body, "skew")));
    }
    if (action == "delay") {
      LinkDelay d;
      d.delay_us = absl::ToInt64Microseconds(DurationField(body, "delay"));
      if (body.contains("jitter")) {
        d.jitter_us = absl::ToInt64Microseconds(DurationField(body, "jitter"));
      }
      if (d.delay_us < 0 || d.jitter_us < 0) {
        throw std::invalid_argument("a link delay and its jitter cannot be negative");
      }
      return SetLinkModel(cluster, Field(body, "from"), Field(body, "to"), d);
    }
    throw std::invalid_argument(
        absl::StrCat("unknown action \"", action,
                     "\"; use kill, restart, partition, pause, heal, skew or delay"));
  }

  void Routes() {
    // Each open page holds a worker for its event stream (and browsers keep a few keep-alive
    // connections besides): more than httplib's default 8, so many tabs never starve a button.
    http.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
    http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (HostIsUs(req)) return httplib::Server::HandlerResponse::Unhandled;
      Answer(res, 403, {{"error", "this dashboard answers requests for 127.0.0.1 only"}});
      return httplib::Server::HandlerResponse::Handled;
    });
    http.Get("/api/status", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(Snapshot(nullptr).dump(), "application/json");
    });
    http.Get("/events", [this](const httplib::Request&, httplib::Response& res) {
      {
        absl::MutexLock l(&mu);
        ++listeners;
      }
      res.set_header("Cache-Control", "no-store");
      auto seen = std::make_shared<int64_t>(0);  // the latest snapshot at once, if there is one
      res.set_chunked_content_provider(
          "text/event-stream",
          [this, seen](size_t, httplib::DataSink& sink) {
            std::string frame;
            {
              absl::MutexLock l(&mu);
              const int64_t want = *seen;
              auto ready = [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping || seq > want; };
              // A comment line every 15 s keeps the connection alive while nothing changes.
              const bool fresh = mu.AwaitWithTimeout(absl::Condition(&ready), absl::Seconds(15));
              if (stopping) return false;
              if (fresh && seq > want) {
                *seen = seq;
                frame = absl::StrCat("event: snapshot\ndata: ", latest, "\n\n");
              } else {
                frame = ": waiting\n\n";
              }
            }
            return sink.write(frame.data(), frame.size());
          },
          [this](bool) {
            absl::MutexLock l(&mu);
            --listeners;
          });
    });
    http.Post("/api/fault", [this](const httplib::Request& req, httplib::Response& res) {
      const std::string origin = req.get_header_value("Origin");
      const std::string p = std::to_string(port);
      if (!origin.empty() && origin != "http://127.0.0.1:" + p &&
          origin != "http://localhost:" + p) {
        Answer(res, 403, {{"error", "faults are taken from this dashboard's own page only"}});
        return;
      }
      if (req.get_header_value("Content-Type").rfind("application/json", 0) != 0) {
        Answer(res, 415, {{"error", "send the fault as application/json"}});
        return;
      }
      json body = json::parse(req.body, nullptr, false);
      if (!body.is_object()) {
        Answer(res, 400,
               {{"error", "the body must be a JSON object such as {\"action\":\"heal\"}"}});
        return;
      }
      try {
        absl::StatusOr<std::string> done = Fault(body);
        if (!done.ok()) {
          Answer(res, absl::IsInvalidArgument(done.status()) ? 400 : 500,
                 {{"error", std::string(done.status().message())}});
          return;
        }
        Answer(res, 200, {{"message", *done}});
      } catch (const std::invalid_argument& e) {
        Answer(res, 400, {{"error", e.what()}});
      }
    });
    // Last: httplib takes the first route that matches.
    http.Get(R"(/([A-Za-z0-9_.\-]*))", [](const httplib::Request& req, httplib::Response& res) {
      std::string name = req.matches[1];
      if (name.empty()) name = "index.html";
      auto asset = UiAsset(name);
      if (!asset) {
        res.status = 404;
        res.set_content("no such page", "text/plain");
        return;
      }
      res.set_header("Cache-Control", "no-store");
      res.set_content(std::string(*asset), ContentTypeOf(name));
    });
  }
};

UiServer::UiServer(std::string cluster_dir, std::string region_binary, absl::Duration interval)
    : impl_(std::make_unique<Impl>(std::move(cluster_dir), std::move(region_binary), interval)) {}

UiServer::~UiServer() { Stop(); }

absl::StatusOr<int> UiServer::Start(int port) {
  if (impl_->started) return absl::FailedPreconditionError("the dashboard is already serving");
  impl_->Routes();
  int bound = port;
  if (port == 0) {
    bound = impl_->http.bind_to_any_port("127.0.0.1");
    if (bound <= 0) return absl::UnavailableError("cannot listen on 127.0.0.1 (no free port)");
  } else if (!impl_->http.bind_to_port("127.0.0.1", port)) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on 127.0.0.1:", port, " (in use? --listen 127.0.0.1:0 picks a free port)"));
  }
  impl_->port = bound;
  impl_->started = true;
  impl_->http_thread = std::thread([this] { impl_->http.listen_after_bind(); });
  impl_->poller = std::thread([this] { impl_->Poll(); });
  return bound;
}

void UiServer::Stop() {
  if (!impl_->started) return;
  impl_->started = false;
  {
    absl::MutexLock l(&impl_->mu);
    impl_->stopping = true;
  }
  impl_->http.stop();
  if (impl_->http_thread.joinable()) impl_->http_thread.join();
  if (impl_->poller.joinable()) impl_->poller.join();
}

}  // namespace gtsim
