#include "replicator/link.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace gtsim {

// --- origin side ---------------------------------------------------------------------------

absl::StatusOr<OriginStream> OriginStream::Open(LinkOrigin* origin, const std::string& cluster_id,
                                                SubscribeRequest request, int max_changes) {
  const std::string& subscriber = request.subscriber;
  if (request.cluster_id != cluster_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("refused replication to \"", subscriber, "\": it belongs to cluster \"",
                     request.cluster_id, "\", this region (", origin->name(), ") to cluster \"",
                     cluster_id, "\" - another gtsim cluster is using this cluster's addresses"));
  }
  const auto& peers = origin->peers();
  if (std::find(peers.begin(), peers.end(), subscriber) == peers.end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("\"", subscriber, "\" is not a peer of ", origin->name()));
  }
  Subscription& at = request.at;
  // A subscriber ahead of this region's log means the log rolled back: the region starts a new
  // log (so the check below serves this subscriber from the start) and asks for its lost writes.
  auto rolled_back =
      origin->CheckSubscriber(subscriber, at.after_seq, at.after_local_ts, at.origin_log_id);
  if (!rolled_back.ok()) return rolled_back.status();
  OriginStream s(origin, subscriber);
  s.max_changes_ = max_changes;
  s.position_ = at.after_seq;
  s.held_ = std::move(at.held);
  if (at.origin_log_id != 0 && at.origin_log_id != origin->LogId()) {
    // The subscriber's positions count in a log this region no longer has (its data was wiped
    // and its log started again): everything in the current log is new to the subscriber.
    s.position_ = 0;
    for (HeldTable& h : s.held_) h.after_seq = 0;
  }
  s.position_ = origin->ServePositionFor(subscriber, s.position_, at.origin_log_id);
  origin->RecordAck(subscriber, s.position_);
  s.serving_log_id_ = origin->LogId();
  s.reclaim_after_ts_ = at.reclaim_after_ts;
  return s;
}

absl::StatusOr<std::optional<ChangeBatch>> OriginStream::Next(int64_t now_us) {
  if (reclaim_after_ts_) {
    // The subscriber's own log rolled back: send back its writes held here, then stream.
    auto batch = origin_->ReadReclaim(subscriber_, *reclaim_after_ts_, reclaim_after_seq_);
    if (!batch.ok()) return batch.status();
    if (batch->reclaim_done) {
      reclaim_after_ts_.reset();
    } else {
      reclaim_after_seq_ = batch->scanned_through;
    }
    return std::optional<ChangeBatch>(*std::move(batch));
  }
  auto batch = origin_->ReadFor(subscriber_, position_, max_changes_, held_);
  if (!batch.ok()) return batch.status();
  origin_head_ = batch->origin_head;
  if (batch->origin_log_id != serving_log_id_) {
    // The log rolled back and restarted under a new id since this stream began: positions
    // the subscriber holds count in the old one. It subscribes again and is served anew.
    return absl::AbortedError("the origin's change log restarted; subscribe again");
  }
  const bool moved = batch->scanned_through > position_;
  if (batch->changes.empty() && !moved && now_us < idle_until_us()) return std::nullopt;
  position_ = batch->scanned_through;
  return std::optional<ChangeBatch>(*std::move(batch));
}

void OriginStream::OnAck(int64_t applied_seq) { origin_->RecordAck(subscriber_, applied_seq); }

// --- receiving side ------------------------------------------------------------------------

ReceiverStream::ReceiverStream(LinkReceiver* receiver, std::string origin, std::string cluster_id)
    : receiver_(receiver), origin_(std::move(origin)), cluster_id_(std::move(cluster_id)) {}

SubscribeRequest ReceiverStream::Subscribe() {
  SubscribeRequest req;
  req.subscriber = receiver_->name();
  req.cluster_id = cluster_id_;
  req.at = receiver_->SubscriptionFor(origin_);
  epoch_ = req.at.epoch;
  return req;
}

ReceiverStream::Outcome ReceiverStream::OnBatch(ChangeBatch batch, const std::string& cluster_id) {
  Outcome out;
  if (cluster_id != cluster_id_) {
    out.keep_going = false;
    out.error = absl::StrCat("refusing changes from ", origin_, ": it belongs to cluster \"",
                             cluster_id, "\", this region to cluster \"", cluster_id_,
                             "\" - another gtsim cluster is using this peer's address");
    return out;
  }
  receiver_->SetConnected(origin_, true);
  batch.subscription_epoch = epoch_;
  if (batch.reclaim) {  // this region's own lost writes, sent back (no positions)
    auto restored = receiver_->ApplyReclaimed(std::move(batch));
    if (!restored.ok()) {
      out.keep_going = false;
      out.error = absl::StrCat("cannot restore writes sent back by ", origin_, ": ",
                               restored.status().message());
    }
    return out;
  }
  auto report = receiver_->Apply(std::move(batch));
  if (!report.ok()) {
    out.keep_going = false;
    // Unavailable: a partition cut the link; Aborted: a bootstrap asks to subscribe again.
    if (!absl::IsUnavailable(report.status()) && !absl::IsAborted(report.status())) {
      out.error =
          absl::StrCat("applying changes from ", origin_, " failed: ", report.status().message());
    }
    return out;
  }
  // A change whose table has not arrived yet: resume later from the cursor, once it is here.
  if (report->waiting) {
    out.keep_going = false;
    return out;
  }
  out.ack = report->cursor;
  return out;
}

DelayedBatch ReceiverStream::Delay(ChangeBatch batch, DueTimes* due) {
  LinkDelay delay = receiver_->InboundDelay(origin_);
  std::vector<int64_t> due_us;
  if (!delay.none() && !batch.reclaim) {
    due_us.reserve(batch.changes.size());
    for (const auto& c : batch.changes) {
      int64_t bytes = delay.bandwidth_bytes_per_s > 0
                          ? 64 + (c.new_image ? ItemSize(*c.new_image) : ItemSize(c.key))
                          : 0;
      due_us.push_back(due->Next(c.commit_true_us, delay, bytes));
    }
  }
  return DelayedBatch(std::move(batch), std::move(due_us));
}

ChangeBatch DelayedBatch::TakeDue(int64_t now_us) {
  if (due_us_.empty()) {  // no delay: the whole batch at once
    done_ = true;
    return std::move(batch_);
  }
  size_t end = next_;
  while (end < batch_.changes.size() && due_us_[end] <= now_us) ++end;
  ChangeBatch slice;
  slice.origin = batch_.origin;
  slice.origin_head = batch_.origin_head;
  slice.origin_log_id = batch_.origin_log_id;
  slice.changes.assign(std::make_move_iterator(batch_.changes.begin() + next_),
                       std::make_move_iterator(batch_.changes.begin() + end));
  if (end == batch_.changes.size()) {
    slice.scanned_through = batch_.scanned_through;
    slice.through_local_ts = batch_.through_local_ts;
    slice.stamp_floor = batch_.stamp_floor;
    done_ = true;
  } else {
    slice.scanned_through = end > next_ ? slice.changes.back().seq : 0;
  }
  next_ = end;
  return slice;
}

// --- reconnecting --------------------------------------------------------------------------

int64_t ReconnectBackoff::Broke(int64_t now_us) {
  if (connected_at_us_ && now_us - *connected_at_us_ >= stable_us_) next_us_ = min_us_;
  connected_at_us_.reset();
  const int64_t wait = next_us_;
  next_us_ = std::min(next_us_ * 2, max_us_);
  return wait;
}

}  // namespace gtsim
