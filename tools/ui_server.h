// `gtsim ui`: a live web dashboard of a running local cluster, served on 127.0.0.1 only.
//
// Routes:
//   GET  /              the page; GET /NAME its scripts and styles (tools/ui_assets.h)
//   GET  /events        server-sent events: a "snapshot" event at least once per interval (1 s)
//                       carrying ClusterStatus's JSON (tools/cluster_ops.h: regions with
//                       writes_per_s, per-pair link state, staleness, latency and pending, active
//                       faults, recent LWW conflicts) plus "time_ms", the time it was taken
//   GET  /api/status    a snapshot taken now, once (without writes_per_s)
//   POST /api/fault     a JSON body {"action": A, ...}; A and its fields: kill / restart
//                       {"region"}, partition {"a", "b"}, pause {"from", "to"}, heal {},
//                       skew {"region", "skew": "250ms"}, delay {"from", "to", "delay": "100ms",
//                       "jitter"?}. Runs the tools/cluster_ops.h function the CLI command runs
//                       (one at a time) and answers 200 {"message"} or 400 {"error"}.
// One poller thread asks the regions for their status, and only while some client listens on
// /events: a dashboard nobody has open costs the regions nothing, and several cost what one
// does. The cluster is loaded from its folder at every poll and every fault, so faults made
// with the CLI meanwhile show up.
//
// Safety: a request whose Host header is not this server (127.0.0.1:PORT or localhost:PORT) is
// refused 403 (DNS rebinding), and a POST must be application/json with, when the browser
// sends one, an Origin of this server: a page of another site cannot press the buttons.
//
// Each open /events stream holds one of 32 worker threads: about 25 pages at once.
//
// Thread-safe: Start and Stop from one thread.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gtsim {

class UiServer {
 public:
  // The cluster in `cluster_dir`; RegionClient::UseSecretFile must have been called for it.
  UiServer(std::string cluster_dir, std::string region_binary,
           absl::Duration interval = absl::Seconds(1));
  ~UiServer();  // Stop()
  UiServer(const UiServer&) = delete;
  UiServer& operator=(const UiServer&) = delete;

  // Listens on 127.0.0.1:port (0: a free one) and returns the port. Unavailable when it cannot
  // be bound.
  absl::StatusOr<int> Start(int port);
  // Idempotent: ends the event streams, stops serving and joins the threads.
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gtsim
