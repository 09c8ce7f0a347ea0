#include "replicator/grpc/bootstrap_link.h"

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {

BootstrapLink::BootstrapLink(Region* region, std::map<std::string, std::string> peers,
                             std::string cluster_id, std::string secret)
    : region_(region),
      peers_(std::move(peers)),
      cluster_id_(std::move(cluster_id)),
      secret_(std::move(secret)) {}

BootstrapLink::~BootstrapLink() { Stop(); }

void BootstrapLink::Start() { thread_ = std::thread([this] { Run(); }); }

void BootstrapLink::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (current_) current_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool BootstrapLink::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void BootstrapLink::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  std::string last_error;
  while (SleepUnlessStopped(absl::Milliseconds(100))) {
    for (const auto& b : region_->PendingBootstraps()) {
      absl::Status st = LoadOnce(b);
      if (st.ok()) {
        std::fprintf(stderr, "gtsim-region %s: snapshot of %s from %s loaded\n",
                     region_->name().c_str(), b.table.c_str(), b.source.c_str());
        backoff = absl::Milliseconds(100);
        last_error.clear();
        continue;
      }
      std::string msg = std::string(st.message());
      if (msg != last_error) {  // one line per distinct failure, not one per retry
        std::fprintf(stderr, "gtsim-region %s: bootstrap of %s from %s interrupted (%s); "
                     "resuming\n", region_->name().c_str(), b.table.c_str(), b.source.c_str(),
                     msg.c_str());
        last_error = msg;
      }
      if (!SleepUnlessStopped(backoff)) return;
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
  }
}

absl::Status BootstrapLink::LoadOnce(const BootstrapState& b) {
  auto peer = peers_.find(b.source);
  if (peer == peers_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("no address for source region ", b.source));
  }
  auto& stub = stubs_[b.source];
  if (!stub) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
    args.SetMaxReceiveMessageSize(64 << 20);
    stub = pb::Replication::NewStub(
        grpc::CreateCustomChannel(peer->second, grpc::InsecureChannelCredentials(), args));
  }
  pb::SnapshotRequest req;
  req.set_subscriber(region_->name());
  req.set_cluster_id(cluster_id_);
  req.mutable_table()->set_name(b.table);
  req.mutable_table()->set_created_us(b.table_created.ts_us);
  req.mutable_table()->set_created_by(b.table_created.region);
  if (b.after) {
    req.set_resume(true);
    req.set_after_hk(b.after->first);
    req.set_after_rk(b.after->second);
  }
  grpc::ClientContext ctx;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return absl::CancelledError("stopping");
    current_ = &ctx;
  }
  AttachSecret(&ctx, secret_);
  auto reader = stub->Snapshot(&ctx, req);
  // Pipelined: a reader thread receives and decodes the next chunks (at most kQueued ahead)
  // while this thread loads one, so the source reads, the network carries and this region
  // writes at the same time.
  constexpr size_t kQueued = 2;
  std::mutex qmu;
  std::condition_variable changed;
  std::deque<SnapshotChunk> queue;  // guarded by qmu, as are the two flags
  bool ended = false;  // the reader thread stopped (after the last chunk, or the stream broke)
  bool stop = false;   // the loader gave up
  std::thread fetch([&] {
    pb::SnapshotChunk in;
    while (reader->Read(&in)) {
      if (in.cluster_id() != cluster_id_) {
        std::fprintf(stderr,
                     "gtsim-region %s: refusing a snapshot of %s: its source belongs to cluster "
                     "\"%s\", this region to cluster \"%s\"\n",
                     region_->name().c_str(), b.table.c_str(), in.cluster_id().c_str(),
                     cluster_id_.c_str());
        break;
      }
      SnapshotChunk chunk = FromProto(in, b.table, b.table_created);
      chunk.source = b.source;
      std::unique_lock<std::mutex> l(qmu);
      changed.wait(l, [&] { return queue.size() < kQueued || stop; });
      if (stop) break;
      queue.push_back(std::move(chunk));
      changed.notify_all();
      if (in.last()) break;
    }
    std::lock_guard<std::mutex> l(qmu);
    ended = true;
    changed.notify_all();
  });
  absl::Status result = absl::UnavailableError("the snapshot stream ended before its last chunk");
  while (true) {
    SnapshotChunk chunk;
    {
      std::unique_lock<std::mutex> l(qmu);
      changed.wait(l, [&] { return !queue.empty() || ended; });
      if (queue.empty()) break;
      chunk = std::move(queue.front());
      queue.pop_front();
      changed.notify_all();
    }
    absl::Status st = region_->LoadSnapshotChunk(chunk);
    if (!st.ok()) {
      result = st;
      break;
    }
    if (chunk.last) {
      result = absl::OkStatus();
      break;
    }
  }
  {
    std::lock_guard<std::mutex> l(qmu);
    stop = true;
    changed.notify_all();
  }
  ctx.TryCancel();  // ends a Read in progress
  fetch.join();
  grpc::Status finished = reader->Finish();
  if (!result.ok() && !finished.ok() && finished.error_code() != grpc::StatusCode::CANCELLED) {
    result = FromGrpc(finished);
  }
  absl::MutexLock l(&mu_);
  current_ = nullptr;
  return result;
}

}  // namespace gtsim
