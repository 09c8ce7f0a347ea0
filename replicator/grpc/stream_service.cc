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
// Rows per snapshot chunk (and at most 4 MB of items, table_engine.cc): one transaction each at
// the new replica; 4096 -> 16384 cut per-chunk overhead (commit, progress record) by 4x.
constexpr int kSnapshotChunkRows = 16384;
constexpr absl::Duration kWaitSlice = absl::Milliseconds(200);
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
  SubscribeRequest request = FromProto(first.subscribe());
  const std::string subscriber = request.subscriber;
  if (grpc::Status st = CheckCluster(subscriber, request.cluster_id); !st.ok()) return st;
  auto opened = OriginStream::Open(region_, cluster_id_, std::move(request));
  if (!opened.ok()) return ToGrpc(opened.status());
  OriginStream& origin = *opened;

  std::atomic<bool> reader_done{false};
  absl::Mutex ack_mu;  // OriginStream is not thread-safe; acks come on their own thread
  std::thread acks([&] {
    pb::StreamRequest msg;
    while (stream->Read(&msg)) {
      if (!msg.has_ack()) continue;
      absl::MutexLock l(&ack_mu);
      origin.OnAck(msg.ack().applied_seq());
    }
    reader_done = true;
  });

  grpc::Status result = grpc::Status::OK;
  while (!ctx->IsCancelled() && !reader_done && !stopping_) {
    absl::StatusOr<std::optional<ChangeBatch>> next;
    {
      absl::MutexLock l(&ack_mu);
      next = origin.Next(absl::ToUnixMicros(absl::Now()));
    }
    if (!next.ok()) {
      result = ToGrpc(next.status());
      break;
    }
    if (!next->has_value()) {
      region_->WaitForChanges(origin.origin_head(), kWaitSlice);
      continue;
    }
    pb::ChangeBatch out;
    ToProto(**next, &out);
    out.set_cluster_id(cluster_id_);
    if (!stream->Write(out)) break;  // the subscriber went away
    absl::MutexLock l(&ack_mu);
    origin.Sent(absl::ToUnixMicros(absl::Now()));
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
