#include "replicator/grpc/peer_link.h"

#include <cstdio>
#include <deque>
#include <iterator>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {

PeerLink::PeerLink(Region* region, std::string origin, std::string address, std::string cluster_id,
                   std::string secret)
    : region_(region),
      origin_(std::move(origin)),
      address_(address),
      secret_(std::move(secret)),
      receiver_(region, origin_, std::move(cluster_id)) {
  grpc::ChannelArguments args;
  // gRPC's default reconnect backoff grows to minutes; a restarted peer must be picked up fast.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 << 20);
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stub_ = pb::Replication::NewStub(channel_);
}

PeerLink::~PeerLink() { Stop(); }

void PeerLink::Start() { thread_ = std::thread([this] { Run(); }); }

void PeerLink::Stop() {
  {
    absl::MutexLock l(&mu_);
    stopping_ = true;
    if (current_) current_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

bool PeerLink::SleepUnlessStopped(absl::Duration d) {
  absl::MutexLock l(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  return !stopping_;
}

void PeerLink::Run() {
  // 50 ms doubling to 1 s; a stream that lasted 2 s starts the count again.
  ReconnectBackoff backoff(50'000, 1'000'000, 2'000'000);
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
    }
    if (region_->IsBlocked(origin_)) {
      if (!SleepUnlessStopped(absl::Milliseconds(50))) return;
      continue;
    }
    backoff.Connected(absl::ToUnixMicros(absl::Now()));
    StreamOnce();
    region_->SetConnected(origin_, false);
    if (!SleepUnlessStopped(absl::Microseconds(backoff.Broke(absl::ToUnixMicros(absl::Now()))))) {
      return;
    }
  }
}

bool PeerLink::ApplyWhenDue(ChangeBatch batch, const std::string& cluster_id, DueTimes* due,
                            const std::function<bool(int64_t)>& ack) {
  DelayedBatch delayed = receiver_.Delay(std::move(batch), due);
  while (!delayed.done()) {
    int64_t now = absl::ToUnixMicros(absl::Now());
    if (delayed.next_due_us() > now) {
      absl::Duration wait =
          absl::Microseconds(std::min<int64_t>(delayed.next_due_us() - now, 50'000));
      if (!SleepUnlessStopped(wait)) return false;
      if (region_->IsBlocked(origin_)) return false;
      continue;
    }
    ReceiverStream::Outcome out = receiver_.OnBatch(delayed.TakeDue(now), cluster_id);
    if (!out.error.empty()) LogOnce(out.error);
    if (!out.keep_going) return false;
    if (out.ack && !ack(*out.ack)) return false;
  }
  return true;
}

void PeerLink::LogOnce(const std::string& message) {
  if (message == last_logged_) return;
  last_logged_ = message;
  std::fprintf(stderr, "gtsim-region %s: %s\n", region_->name().c_str(), message.c_str());
}

namespace {
// Batches read ahead of the apply, at most (HTTP/2 flow control holds the rest at the origin).
constexpr size_t kReadAhead = 64;
// Changes applied in one transaction at most when batches are merged.
constexpr size_t kMaxMergedChanges = 4 * kLinkMaxBatch;

// Whether `next`, read right after `into` on one stream, can be applied with it as one batch:
// as if the origin had read both at once. Reclaim batches carry no positions and stay apart.
bool CanMerge(const ChangeBatch& into, const ChangeBatch& next) {
  return !into.reclaim && !next.reclaim && into.origin == next.origin &&
         into.origin_log_id == next.origin_log_id &&
         into.changes.size() + next.changes.size() <= kMaxMergedChanges;
}

// Appends `next` to `into` (CanMerge): the merged batch ends where `next` does.
void Merge(ChangeBatch* into, ChangeBatch next) {
  into->changes.insert(into->changes.end(), std::make_move_iterator(next.changes.begin()),
                       std::make_move_iterator(next.changes.end()));
  into->scanned_through = next.scanned_through;
  into->origin_head = next.origin_head;
  if (next.through_local_ts != 0) into->through_local_ts = next.through_local_ts;
  into->stamp_floor = next.stamp_floor;
}
}  // namespace

void PeerLink::StreamOnce() {
  grpc::ClientContext ctx;
  {
    absl::MutexLock l(&mu_);
    if (stopping_) return;
    current_ = &ctx;
  }
  AttachSecret(&ctx, secret_);
  auto stream = stub_->Stream(&ctx);
  pb::StreamRequest subscribe;
  ToProto(receiver_.Subscribe(), subscribe.mutable_subscribe());
  DueTimes due(std::hash<std::string>()(origin_) ^
               static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  bool broke_off = false;  // this side ended the stream (and cancels it)
  if (stream->Write(subscribe)) {
    // A reader thread reads ahead while this one applies: whatever arrived during one apply is
    // applied next as one batch (one transaction, one ack) rather than one transaction per
    // message - under load the origin's small batches would otherwise queue up here.
    struct Inbox {
      absl::Mutex mu;
      std::deque<pb::ChangeBatch> batches ABSL_GUARDED_BY(mu);
      bool ended ABSL_GUARDED_BY(mu) = false;      // the origin ended the stream
      bool abandoned ABSL_GUARDED_BY(mu) = false;  // this side broke off
    } inbox;
    std::thread reader([&] {
      while (true) {
        pb::ChangeBatch in;
        bool ok = stream->Read(&in);
        absl::MutexLock l(&inbox.mu);
        if (!ok) {
          inbox.ended = true;
          return;
        }
        inbox.batches.push_back(std::move(in));
        inbox.mu.Await(absl::Condition(
            +[](Inbox* b) { return b->abandoned || b->batches.size() < kReadAhead; }, &inbox));
        if (inbox.abandoned) return;
      }
    });
    auto ack = [&](int64_t applied_seq) {
      pb::StreamRequest msg;
      msg.mutable_ack()->set_applied_seq(applied_seq);
      return stream->Write(msg);
    };
    while (!broke_off) {
      std::deque<pb::ChangeBatch> arrived;
      {
        absl::MutexLock l(&inbox.mu);
        inbox.mu.Await(absl::Condition(
            +[](Inbox* b) { return b->ended || !b->batches.empty(); }, &inbox));
        if (inbox.batches.empty()) break;  // ended, and everything read is applied
        arrived.swap(inbox.batches);
      }
      // Consecutive batches of one origin cluster, merged; applied in order.
      std::optional<ChangeBatch> pending;
      std::string pending_cluster;
      auto apply_pending = [&] {
        if (!pending) return true;
        bool ok = ApplyWhenDue(*std::move(pending), pending_cluster, &due, ack);
        pending.reset();
        return ok;
      };
      for (pb::ChangeBatch& in : arrived) {
        auto batch = FromProto(in);
        if (!batch.ok()) {
          LogOnce(absl::StrCat("bad batch from ", origin_, ": ", batch.status().message()));
          broke_off = true;
          break;
        }
        if (pending && in.cluster_id() == pending_cluster && CanMerge(*pending, *batch)) {
          Merge(&*pending, *std::move(batch));
          continue;
        }
        if (!apply_pending()) {
          broke_off = true;
          break;
        }
        pending = *std::move(batch);
        pending_cluster = in.cluster_id();
      }
      if (!broke_off && !apply_pending()) broke_off = true;
    }
    if (broke_off) {
      ctx.TryCancel();  // ends the reader's Read
      absl::MutexLock l(&inbox.mu);
      inbox.abandoned = true;
    }
    reader.join();
  }
  // When this side broke off, the stream ends CANCELLED. Otherwise the origin ended it, and its
  // answer (e.g. a refusal) is what Finish returns.
  grpc::Status finished = stream->Finish();
  // A cancelled stream always ends CANCELLED; the loop above logged real errors, except the
  // origin's refusal of this region (another cluster on its address).
  if (finished.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
      finished.error_code() == grpc::StatusCode::UNAUTHENTICATED) {
    LogOnce(absl::StrCat(origin_, " at ", address_,
                         " refused this region: ", finished.error_message()));
  }
  absl::MutexLock l(&mu_);
  current_ = nullptr;
}

}  // namespace gtsim
