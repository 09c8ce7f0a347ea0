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
      cluster_id_(std::move(cluster_id)),
      secret_(std::move(secret)) {
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
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (stopping_) return;
    }
    if (region_->IsBlocked(origin_)) {
      if (!SleepUnlessStopped(absl::Milliseconds(50))) return;
      continue;
    }
    absl::Time started = absl::Now();
    StreamOnce();
    region_->SetConnected(origin_, false);
    if (absl::Now() - started > absl::Seconds(2)) backoff = absl::Milliseconds(50);
    if (!SleepUnlessStopped(backoff)) return;
    backoff = std::min(backoff * 2, absl::Seconds(1));
  }
}

bool PeerLink::ApplyOnce(const ChangeBatch& batch, const std::function<bool(int64_t)>& ack) {
  auto report = region_->Apply(batch);
  if (!report.ok()) {
    // Unavailable: a partition cut the link; Aborted: a bootstrap asks to subscribe again.
    if (!absl::IsUnavailable(report.status()) && !absl::IsAborted(report.status())) {
      std::fprintf(stderr, "gtsim-region %s: applying changes from %s failed: %s\n",
                   region_->name().c_str(), origin_.c_str(),
                   std::string(report.status().message()).c_str());
    }
    return false;
  }
  if (report->waiting) return false;  // resume later from the cursor, once the table is here
  return ack(report->cursor);
}

bool PeerLink::ApplyWhenDue(const ChangeBatch& batch, DueTimes* due,
                            const std::function<bool(int64_t)>& ack) {
  LinkDelay delay = region_->InboundDelay(origin_);
  if (delay.none() || batch.changes.empty()) return ApplyOnce(batch, ack);
  std::vector<int64_t> due_us;
  for (const auto& c : batch.changes) {
    int64_t bytes = delay.bandwidth_bytes_per_s > 0
                        ? 64 + (c.new_image ? ItemSize(*c.new_image) : ItemSize(c.key))
                        : 0;
    due_us.push_back(due->Next(c.commit_true_us, delay, bytes));
  }
  // Apply the batch in slices, each as soon as its changes are due.
  size_t next = 0;
  while (next < batch.changes.size()) {
    int64_t now = absl::ToUnixMicros(absl::Now());
    if (due_us[next] > now) {
      if (!SleepUnlessStopped(absl::Microseconds(std::min<int64_t>(due_us[next] - now, 50'000)))) {
        return false;
      }
      if (region_->IsBlocked(origin_)) return false;
      continue;
    }
    size_t end = next;
    while (end < batch.changes.size() && due_us[end] <= now) ++end;
    ChangeBatch slice;
    slice.origin = batch.origin;
    slice.origin_head = batch.origin_head;
    slice.origin_log_id = batch.origin_log_id;
    slice.changes.assign(batch.changes.begin() + next, batch.changes.begin() + end);
    slice.scanned_through =
        end == batch.changes.size() ? batch.scanned_through : batch.changes[end - 1].seq;
    if (!ApplyOnce(slice, ack)) return false;
    next = end;
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
  Region::Subscription sub = region_->SubscriptionFor(origin_);
  pb::StreamRequest subscribe;
  subscribe.mutable_subscribe()->set_subscriber(region_->name());
  subscribe.mutable_subscribe()->set_cluster_id(cluster_id_);
  subscribe.mutable_subscribe()->set_after_seq(sub.after_seq);
  subscribe.mutable_subscribe()->set_origin_log_id(sub.origin_log_id);
  subscribe.mutable_subscribe()->set_after_local_ts(sub.after_local_ts);
  if (sub.reclaim_after_ts) {
    subscribe.mutable_subscribe()->set_reclaim(true);
    subscribe.mutable_subscribe()->set_reclaim_after_ts(*sub.reclaim_after_ts);
  }
  for (const auto& h : sub.held) {
    auto* t = subscribe.mutable_subscribe()->add_tables();
    t->set_name(h.name);
    t->set_created_us(h.created.ts_us);
    t->set_created_by(h.created.region);
    t->set_after_seq(h.after_seq);
  }
  DueTimes due(std::hash<std::string>()(origin_) ^ static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())));
  bool last_read = false;
  if (stream->Write(subscribe)) {
    pb::ChangeBatch in;
    while ((last_read = stream->Read(&in))) {
      if (in.cluster_id() != cluster_id_) {
        LogOnce(absl::StrCat("refusing changes from ", origin_, " at ", address_,
                             ": it belongs to cluster \"", in.cluster_id(),
                             "\", this region to cluster \"", cluster_id_,
                             "\" - another gtsim cluster is using this peer's address"));
        break;
      }
      region_->SetConnected(origin_, true);
      auto batch = FromProto(in);
      if (batch.ok()) batch->subscription_epoch = sub.epoch;
      if (!batch.ok()) {
        std::fprintf(stderr, "gtsim-region %s: bad batch from %s: %s\n", region_->name().c_str(),
                     origin_.c_str(), std::string(batch.status().message()).c_str());
        break;
      }
      if (batch->reclaim) {  // this region's own lost writes, sent back (no positions)
        auto restored = region_->ApplyReclaimed(*std::move(batch));
        if (!restored.ok()) {
          std::fprintf(stderr, "gtsim-region %s: cannot restore writes sent back by %s: %s\n",
                       region_->name().c_str(), origin_.c_str(),
                       std::string(restored.status().message()).c_str());
          break;
        }
        continue;
      }
      auto ack = [&](int64_t applied_seq) {
        pb::StreamRequest msg;
        msg.mutable_ack()->set_applied_seq(applied_seq);
        return stream->Write(msg);
      };
      if (!ApplyWhenDue(*batch, &due, ack)) break;
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
