#include "replicator/grpc/stream_service.h"

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {
namespace {
// Changes per batch: 512 -> 2048 took catch-up from 25 to 17 CPU us per change (BENCHMARKS.md).
constexpr int kMaxBatch = 2048;
// Rows per snapshot chunk (and at most 4 MB of items, table_engine.cc): one transaction each at
// the new replica; 4096 -> 16384 cut per-chunk overhead (commit, progress record) by 4x.
constexpr int kSnapshotChunkRows = 16384;
constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);
constexpr absl::Duration kHeartbeat = absl::Seconds(1);
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

grpc::Status StreamService::Stream(
    grpc::ServerContext* ctx, grpc::ServerReaderWriter<pb::ChangeBatch, pb::StreamRequest>* stream) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  pb::StreamRequest first;
  if (!stream->Read(&first)) return grpc::Status::CANCELLED;
  if (!first.has_subscribe()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "the first message of a replication stream must be a Subscribe");
  }
  const std::string subscriber = first.subscribe().subscriber();
  if (grpc::Status st = CheckCluster(subscriber, first.subscribe().cluster_id()); !st.ok()) {
    return st;
  }
  const auto& peers = region_->peers();
  if (std::find(peers.begin(), peers.end(), subscriber) == peers.end()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        absl::StrCat("\"", subscriber, "\" is not a peer of ", region_->name()));
  }
  int64_t position = first.subscribe().after_seq();
  std::vector<HeldTable> held;
  for (const auto& t : first.subscribe().tables()) {
    held.push_back(HeldTable{t.name(), Stamp{t.created_us(), t.created_by()}, t.after_seq()});
  }
  const int64_t log_id = first.subscribe().origin_log_id();
  // A subscriber ahead of this region's log means the log rolled back: the region starts a new
  // log (so the check below serves this subscriber from the start) and asks for its lost writes.
  auto rolled_back = region_->CheckSubscriber(subscriber, position,
                                              first.subscribe().after_local_ts(), log_id);
  if (!rolled_back.ok()) return ToGrpc(rolled_back.status());
  if (log_id != 0 && log_id != region_->LogId()) {
    // The subscriber's positions count in a log this region no longer has (its data was wiped
    // and its log started again): everything in the current log is new to the subscriber.
    position = 0;
    for (HeldTable& h : held) h.after_seq = 0;
  }
  position = region_->ServePositionFor(subscriber, position, log_id);
  region_->RecordAck(subscriber, position);
  const int64_t serving_log_id = region_->LogId();

  std::atomic<bool> reader_done{false};
  std::thread acks([&] {
    pb::StreamRequest msg;
    while (stream->Read(&msg)) {
      if (msg.has_ack()) region_->RecordAck(subscriber, msg.ack().applied_seq());
    }
    reader_done = true;
  });

  grpc::Status result = grpc::Status::OK;
  if (first.subscribe().reclaim()) {
    // The subscriber's own log rolled back: send back its writes held here, then stream.
    int64_t after = 0;
    while (!ctx->IsCancelled() && !reader_done && !stopping_) {
      auto batch = region_->ReadReclaim(subscriber, first.subscribe().reclaim_after_ts(), after);
      if (!batch.ok()) {
        result = ToGrpc(batch.status());
        break;
      }
      pb::ChangeBatch out;
      ToProto(*batch, &out);
      out.set_cluster_id(cluster_id_);
      if (!stream->Write(out)) break;
      if (batch->reclaim_done) break;
      after = batch->scanned_through;
    }
  }
  absl::Time last_sent = absl::InfinitePast();
  while (result.ok() && !ctx->IsCancelled() && !reader_done && !stopping_) {
    auto batch = region_->ReadFor(subscriber, position, kMaxBatch, held);
    if (!batch.ok()) {
      result = ToGrpc(batch.status());
      break;
    }
    if (batch->origin_log_id != serving_log_id) {
      // The log rolled back and restarted under a new id since this stream began: positions
      // the subscriber holds count in the old one. It subscribes again and is served anew.
      result = grpc::Status(grpc::StatusCode::ABORTED,
                            "the origin's change log restarted; subscribe again");
      break;
    }
    bool moved = batch->scanned_through > position;
    if (batch->changes.empty() && !moved && absl::Now() - last_sent < kHeartbeat) {
      region_->WaitForChanges(batch->origin_head, kWaitSlice);
      continue;
    }
    pb::ChangeBatch out;
    ToProto(*batch, &out);
    out.set_cluster_id(cluster_id_);
    if (!stream->Write(out)) break;  // the subscriber went away
    last_sent = absl::Now();
    position = batch->scanned_through;
  }
  ctx->TryCancel();  // ends the ack reader's Read
  acks.join();
  return result;
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
