#include "replicator/grpc/peer_link.h"

#include <cstdio>

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
  bool last_read = false;
  if (stream->Write(subscribe)) {
    pb::ChangeBatch in;
    while ((last_read = stream->Read(&in))) {
      auto batch = FromProto(in);
      if (!batch.ok()) {
        LogOnce(absl::StrCat("bad batch from ", origin_, ": ", batch.status().message()));
        break;
      }
      auto ack = [&](int64_t applied_seq) {
        pb::StreamRequest msg;
        msg.mutable_ack()->set_applied_seq(applied_seq);
        return stream->Write(msg);
      };
      if (!ApplyWhenDue(*std::move(batch), in.cluster_id(), &due, ack)) break;
    }
  }
  // A break leaves last_read true: this side broke off, and cancels. Otherwise the origin ended
  // the stream, and its answer (e.g. a refusal) is what Finish returns.
  if (last_read) ctx.TryCancel();
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
