#include "replicator/grpc/stream_service.h"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {
namespace {
// Rows per snapshot chunk (and at most 4 MB of items, table_engine.cc): one transaction each at
// the new replica; 4096 -> 16384 cut per-chunk overhead (commit, progress record) by 4x.
constexpr int kSnapshotChunkRows = 16384;
// The notifier's longest wait: how long Stop may wait for it.
constexpr absl::Duration kWaitSlice = absl::Milliseconds(100);
}  // namespace

grpc::Status StreamService::CheckCluster(const std::string& caller,
                                         const std::string& their_cluster) {
  if (their_cluster == cluster_id_) return grpc::Status::OK;
  std::string message =
      absl::StrCat("refused replication to \"", caller, "\": it belongs to cluster \"",
                   their_cluster, "\", this region (", region_->name(), ") to cluster \"",
                   cluster_id_, "\" - another gtsim cluster is using this cluster's addresses");
  {  // once per caller and cluster: a refused peer retries every second
    absl::MutexLock l(&log_mu_);
    if (refusals_logged_.insert({caller, their_cluster}).second) {
      std::fprintf(stderr, "gtsim-region %s: %s\n", region_->name().c_str(), message.c_str());
    }
  }
  return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, message);
}

// One subscriber's stream. Lifetime: gRPC holds one reference until OnDone; the notifier holds
// one while it wakes the stream; the last one deletes it. OriginStream is used under mu_ only
// (it is single-threaded); Start*/Finish are always called without mu_ held, since gRPC may run
// a reaction inline.
class StreamService::Reactor final
    : public grpc::ServerBidiReactor<pb::StreamRequest, pb::ChangeBatch> {
 public:
  Reactor(StreamService* service, grpc::CallbackServerContext* ctx) : service_(service) {
    if (grpc::Status st = CheckSecret(*ctx, service_->secret_); !st.ok()) {
      End(st);
      return;
    }
    StartRead(&in_);  // the Subscribe
  }

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // Whether the stream is idle and has something to send: a local commit past what it last
  // read (`local_head`), or a heartbeat due at `now_us`. Lock-free: the notifier asks often.
  bool WantsPump(int64_t local_head, int64_t now_us) const {
    return idle_.load() && (local_head > idle_head_.load() || now_us >= idle_until_us_.load());
  }
  // When an idle stream's heartbeat is due (INT64_MAX: not idle).
  int64_t IdleUntil() const { return idle_.load() ? idle_until_us_.load() : INT64_MAX; }

  // Sends the next batch unless a Write is in flight; goes idle when there is none.
  void Pump() ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      absl::StatusOr<std::optional<ChangeBatch>> next;
      {
        absl::MutexLock l(&mu_);
        if (finished_ || writing_ || !origin_) return;
        idle_ = false;
        next = origin_->Next(absl::ToUnixMicros(absl::Now()));
        if (next.ok() && next->has_value()) {
          const ChangeBatch& b = **next;
          // More to read at once after this Write: the scan stopped short of the head, or it
          // is a reclaim page (more pages, or the log after them). Otherwise the stream idles after
          // it: rows that replicated changes added to the log ride along with the next local change
          // or heartbeat, rather than costing each subscriber a batch (and a transaction) of their
          // own.
          more_ = b.reclaim || b.scanned_through < b.origin_head;
          out_.Clear();
          ToProto(b, &out_);
          out_.set_cluster_id(service_->cluster_id_);
          writing_ = true;
        } else if (next.ok()) {
          GoIdle();
        }
      }
      if (!next.ok()) {
        End(ToGrpc(next.status()));
        return;
      }
      if (next->has_value()) {
        StartWrite(&out_);
        return;
      }
      if (!LocalCommitSinceIdle()) return;
    }
  }

  // Finishes the stream with `st` (after the Write in flight, if any). Idempotent.
  void End(grpc::Status st) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock l(&mu_);
      if (finished_) return;
      finished_ = true;
      idle_ = false;
      if (writing_) {
        finish_after_write_ = std::move(st);
        return;
      }
    }
    Finish(st);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the subscriber closed its side or went away
      End(subscribed_ ? grpc::Status::OK : grpc::Status::CANCELLED);
      return;
    }
    if (!subscribed_) {
      Subscribe();
      return;
    }
    if (in_.has_ack()) {
      absl::MutexLock l(&mu_);
      origin_->OnAck(in_.ack().applied_seq());
    }
    StartRead(&in_);
  }

  void OnWriteDone(bool ok) override {
    std::optional<grpc::Status> finish;
    bool more = false;
    {
      absl::MutexLock l(&mu_);
      writing_ = false;
      if (finish_after_write_) {
        finish = std::move(finish_after_write_);
      } else if (!ok) {
        finished_ = true;  // the subscriber went away
        finish = grpc::Status::OK;
      } else {
        origin_->Sent(absl::ToUnixMicros(absl::Now()));
        more = more_;
        if (!more) GoIdle();
      }
    }
    if (finish) {
      Finish(*finish);
      return;
    }
    // A backlog is read on at once, on this thread; an idle stream waits for the notifier.
    if (more || LocalCommitSinceIdle()) Pump();
  }

  void OnCancel() override { End(grpc::Status::CANCELLED); }

  void OnDone() override {
    service_->Unregister(this);
    Unref();
  }

 private:
  // Nothing to send until a local commit past what was read, or the next heartbeat.
  void GoIdle() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    idle_head_ = origin_->origin_head();
    idle_until_us_ = origin_->idle_until_us();
    idle_ = true;
  }
  // After GoIdle (mu_ released): a commit that landed after the last read but before idle_ was
  // set may have been passed over by the notifier while this stream was busy; look once more.
  bool LocalCommitSinceIdle() {
    return idle_.load() && service_->region_->LocalHead() > idle_head_.load();
  }

  // The first message: where the subscriber stands.
  void Subscribe() {
    subscribed_ = true;
    if (!in_.has_subscribe()) {
      End(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                       "the first message of a replication stream must be a Subscribe"));
      return;
    }
    SubscribeRequest request = FromProto(in_.subscribe());
    if (grpc::Status st = service_->CheckCluster(request.subscriber, request.cluster_id);
        !st.ok()) {
      End(st);
      return;
    }
    auto opened = OriginStream::Open(service_->region_, service_->cluster_id_, std::move(request));
    if (!opened.ok()) {
      End(ToGrpc(opened.status()));
      return;
    }
    {
      absl::MutexLock l(&mu_);
      origin_.emplace(*std::move(opened));
    }
    if (!service_->Register(this)) {
      End(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the region is stopping"));
      return;
    }
    StartRead(&in_);  // acknowledgements from now on
    Pump();
  }

  StreamService* const service_;
  std::atomic<int> refs_{1};
  // The read side: one StartRead in flight at a time, so only its reaction touches these.
  pb::StreamRequest in_;
  bool subscribed_ = false;
  absl::Mutex mu_;
  std::optional<OriginStream> origin_ ABSL_GUARDED_BY(mu_);
  pb::ChangeBatch out_;  // the Write in flight's message (written under mu_ while !writing_)
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool more_ ABSL_GUARDED_BY(mu_) = false;      // the batch in flight left more to read at once
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // Finish called, or due after the Write
  std::optional<grpc::Status> finish_after_write_ ABSL_GUARDED_BY(mu_);
  // Idle (nothing to send at the last read): what the notifier checks without mu_.
  std::atomic<bool> idle_{false};
  std::atomic<int64_t> idle_head_{0};
  std::atomic<int64_t> idle_until_us_{0};
};

StreamService::StreamService(Region* region, std::string cluster_id, std::string secret)
    : region_(region), cluster_id_(std::move(cluster_id)), secret_(std::move(secret)) {
  notifier_ = std::thread([this] { NotifierLoop(); });
}

StreamService::~StreamService() { Stop(); }

grpc::ServerBidiReactor<pb::StreamRequest, pb::ChangeBatch>* StreamService::Stream(
    grpc::CallbackServerContext* ctx) {
  return new Reactor(this, ctx);
}

bool StreamService::Register(Reactor* r) {
  absl::MutexLock l(&streams_mu_);
  if (stopping_) return false;
  streams_.insert(r);
  return true;
}

void StreamService::Unregister(Reactor* r) {
  absl::MutexLock l(&streams_mu_);
  streams_.erase(r);
}

int StreamService::OpenStreams() {
  absl::MutexLock l(&streams_mu_);
  return static_cast<int>(streams_.size());
}

void StreamService::Stop() {
  std::vector<Reactor*> open;
  {
    absl::MutexLock l(&streams_mu_);
    stopping_ = true;
    for (Reactor* r : streams_) {
      r->Ref();
      open.push_back(r);
    }
  }
  for (Reactor* r : open) {
    r->End(grpc::Status::OK);
    r->Unref();
  }
  notifier_stop_ = true;
  if (notifier_.joinable()) notifier_.join();
}

void StreamService::NotifierLoop() {
  std::vector<Reactor*> wake;
  while (!notifier_stop_) {
    const int64_t head = region_->LocalHead();
    const int64_t now = absl::ToUnixMicros(absl::Now());
    int64_t next_heartbeat = INT64_MAX;
    {
      absl::MutexLock l(&streams_mu_);
      for (Reactor* r : streams_) {
        if (r->WantsPump(head, now)) {
          r->Ref();
          wake.push_back(r);
        } else {
          next_heartbeat = std::min(next_heartbeat, r->IdleUntil());
        }
      }
    }
    for (Reactor* r : wake) {
      r->Pump();
      next_heartbeat = std::min(next_heartbeat, r->IdleUntil());
      r->Unref();
    }
    wake.clear();
    // Until the next local commit, the next heartbeat due, or a slice (Stop's latency bound).
    absl::Duration wait = kWaitSlice;
    if (next_heartbeat != INT64_MAX) {
      wait = std::clamp(absl::Microseconds(next_heartbeat - absl::ToUnixMicros(absl::Now())),
                        absl::Milliseconds(1), kWaitSlice);
    }
    region_->WaitForChanges(head, wait);
  }
}

grpc::Status StreamService::Snapshot(grpc::ServerContext* ctx, const pb::SnapshotRequest* req,
                                     grpc::ServerWriter<pb::SnapshotChunk>* writer) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  if (grpc::Status st = CheckCluster(req->subscriber(), req->cluster_id()); !st.ok()) return st;
  const auto& peers = region_->peers();
  if (std::find(peers.begin(), peers.end(), req->subscriber()) == peers.end()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("\"", req->subscriber(), "\" is not a peer of ", region_->name()));
  }
  Region::SnapshotRequest r;
  r.subscriber = req->subscriber();
  r.table = req->table().name();
  r.table_created = Stamp{req->table().created_us(), req->table().created_by()};
  if (req->resume()) r.after = std::make_pair(req->after_hk(), req->after_rk());
  r.max_rows = kSnapshotChunkRows;
  while (!ctx->IsCancelled() && !stopping_) {
    auto chunk = region_->ReadSnapshot(r);
    if (!chunk.ok()) return ToGrpc(chunk.status());
    pb::SnapshotChunk out;
    ToProto(*chunk, &out);
    out.set_cluster_id(cluster_id_);
    if (!writer->Write(out)) return grpc::Status::CANCELLED;
    if (chunk->last) return grpc::Status::OK;
    r.after = std::make_pair(chunk->rows.back().hk, chunk->rows.back().rk);
  }
  return grpc::Status::CANCELLED;
}

}  // namespace gtsim
