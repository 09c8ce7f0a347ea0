#include "region/grpc/region_service.h"

#include <algorithm>
#include <atomic>
#include <memory>

#include "model/status_macros.h"
#include "region/grpc/cluster_secret.h"
#include "region/grpc/convert.h"

namespace gtsim {
namespace {

// Runs a handler body that returns absl::Status and maps the result to gRPC.
template <typename F>
grpc::Status Serve(F&& body) {
  return ToGrpc(body());
}

absl::StatusOr<KeyDef> KeyFromProto(const pb::KeyAttribute& k) {
  KeyDef def;
  def.name = k.name();
  switch (k.type()) {
    case pb::S:
      def.type = ValueType::kS;
      break;
    case pb::N:
      def.type = ValueType::kN;
      break;
    case pb::B:
      def.type = ValueType::kB;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("key attribute \"", k.name(), "\" needs a type: S, N or B"));
  }
  return def;
}

void PageToProto(const Page& page, pb::ItemPage* out) {
  for (const auto& item : page.items) ToProto(item, out->add_items());
  if (!page.last_evaluated_key.empty())
    ToProto(page.last_evaluated_key, out->mutable_last_evaluated_key());
}

absl::StatusOr<PutRequest> ParsePut(const pb::PutItemRequest& req) {
  PutRequest r;
  r.table = req.table();
  ASSIGN_OR_RETURN(r.item, FromProto(req.item()));
  ASSIGN_OR_RETURN(r.condition, FromProto(req.condition()));
  r.return_old = req.return_old_item();
  return r;
}

absl::StatusOr<DeleteRequest> ParseDelete(const pb::DeleteItemRequest& req) {
  DeleteRequest r;
  r.table = req.table();
  ASSIGN_OR_RETURN(r.key, FromProto(req.key()));
  ASSIGN_OR_RETURN(r.condition, FromProto(req.condition()));
  r.return_old = req.return_old_item();
  return r;
}

// Finishes a unary callback call with the result of a write; `fill` puts a successful result
// into the response.
template <typename Fill>
Region::WriteDone FinishWith(grpc::ServerUnaryReactor* reactor, Fill fill) {
  return [reactor, fill](absl::StatusOr<WriteResult> result) {
    if (result.ok()) fill(*result);
    reactor->Finish(ToGrpc(result.status()));
  };
}

}  // namespace

grpc::Status RegionService::CreateTable(grpc::ServerContext* ctx, const pb::CreateTableRequest* req,
                                        pb::CreateTableResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    CreateTableRequest r;
    r.table = req->table();
    ASSIGN_OR_RETURN(r.hash_key, KeyFromProto(req->hash_key()));
    if (!req->range_key().name().empty()) {
      ASSIGN_OR_RETURN(r.range_key, KeyFromProto(req->range_key()));
    }
    r.replicas.assign(req->replicas().begin(), req->replicas().end());
    ASSIGN_OR_RETURN(TableInfo info, region_->CreateTable(r));
    ToProto(info, region_->name(), "ACTIVE", resp->mutable_table());
    return absl::OkStatus();
  });
}

grpc::Status RegionService::DescribeTable(grpc::ServerContext* ctx,
                                          const pb::DescribeTableRequest* req,
                                          pb::DescribeTableResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    ASSIGN_OR_RETURN(TableInfo info, region_->DescribeTable(req->table()));
    ToProto(info, region_->name(), "ACTIVE", resp->mutable_table());
    return absl::OkStatus();
  });
}

grpc::Status RegionService::RestoreTable(grpc::ServerContext* ctx,
                                         const pb::RestoreTableRequest* req,
                                         pb::RestoreTableResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    RestoreRequest r;
    r.source = req->source();
    r.target = req->target();
    r.restore_us = req->restore_us();
    r.latest = req->latest();
    RETURN_IF_ERROR(region_->RestoreTableToPointInTime(r).status());
    // Steps the restore here (one chunk per hold of the region's lock) rather than waiting for
    // the upkeep thread, so the caller gets the complete table.
    ASSIGN_OR_RETURN(TableInfo info, region_->FinishRestore(r.target));
    ToProto(info, region_->name(), "ACTIVE", resp->mutable_table());
    return absl::OkStatus();
  });
}

grpc::Status RegionService::ListTables(grpc::ServerContext* ctx, const pb::ListTablesRequest*,
                                       pb::ListTablesResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  for (const auto& name : region_->ListTables()) resp->add_tables(name);
  return grpc::Status::OK;
}

grpc::Status RegionService::DeleteTable(grpc::ServerContext* ctx, const pb::DeleteTableRequest* req,
                                        pb::DeleteTableResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    ASSIGN_OR_RETURN(TableInfo info, region_->DeleteTable(req->table()));
    ToProto(info, region_->name(), "DELETING", resp->mutable_table());
    return absl::OkStatus();
  });
}

grpc::Status RegionService::UpdateTable(grpc::ServerContext* ctx, const pb::UpdateTableRequest* req,
                                        pb::UpdateTableResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    UpdateTableRequest r;
    r.table = req->table();
    for (const auto& u : req->replica_updates()) {
      ReplicaUpdate out;
      out.region = u.region_name();
      switch (u.action()) {
        case pb::ReplicaUpdate::CREATE:
          out.action = ReplicaUpdate::Action::kCreate;
          break;
        case pb::ReplicaUpdate::DELETE:
          out.action = ReplicaUpdate::Action::kDelete;
          break;
        default:
          return absl::InvalidArgumentError("a replica update needs an action: CREATE or DELETE");
      }
      r.replica_updates.push_back(std::move(out));
    }
    if (req->has_billing_mode()) r.billing_mode = req->billing_mode();
    if (req->has_read_capacity()) r.read_capacity = req->read_capacity();
    if (req->has_write_capacity()) r.write_capacity = req->write_capacity();
    if (req->has_sse_type()) r.sse_type = req->sse_type();
    if (req->has_ttl_enabled()) r.ttl_enabled = req->ttl_enabled();
    if (req->has_ttl_attribute()) r.ttl_attribute = req->ttl_attribute();
    if (req->has_stream_enabled()) r.stream_enabled = req->stream_enabled();
    if (req->has_stream_view_type()) r.stream_view_type = req->stream_view_type();
    if (req->has_deletion_protection()) r.deletion_protection = req->deletion_protection();
    if (req->has_kms_key()) r.kms_key = req->kms_key();
    if (req->has_table_class()) r.table_class = req->table_class();
    if (req->has_read_capacity_override()) r.read_capacity_override = req->read_capacity_override();
    if (req->has_point_in_time_recovery()) {
      r.point_in_time_recovery = req->point_in_time_recovery();
    }
    if (req->has_create_gsi()) {
      const auto& g = req->create_gsi();
      GsiSetting def;
      ASSIGN_OR_RETURN(def.hash_key, KeyFromProto(g.hash_key()));
      if (!g.range_key().name().empty()) {
        ASSIGN_OR_RETURN(def.range_key, KeyFromProto(g.range_key()));
      }
      def.projection = g.projection().empty() ? "ALL" : g.projection();
      def.non_key.assign(g.non_key_attributes().begin(), g.non_key_attributes().end());
      r.create_gsi = std::make_pair(g.index_name(), def);
    }
    if (req->has_delete_gsi()) r.delete_gsi = req->delete_gsi();
    ASSIGN_OR_RETURN(TableInfo info, region_->UpdateTable(r));
    ToProto(info, region_->name(), "ACTIVE", resp->mutable_table());
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RegionService::PutItem(grpc::CallbackServerContext* ctx,
                                                 const pb::PutItemRequest* req,
                                                 pb::PutItemResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  absl::StatusOr<PutRequest> r = ParsePut(*req);
  if (!r.ok()) {
    reactor->Finish(ToGrpc(r.status()));
  } else {
    region_->WriteAsync(std::move(*r), FinishWith(reactor, [resp](const WriteResult& result) {
                          ToProto(result, resp->mutable_result());
                        }));
  }
  return reactor;
}

grpc::Status RegionService::GetItem(grpc::ServerContext* ctx, const pb::GetItemRequest* req,
                                    pb::GetItemResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    ASSIGN_OR_RETURN(Item key, FromProto(req->key()));
    ASSIGN_OR_RETURN(GetResult result, region_->GetItem(req->table(), key));
    resp->set_found(result.item.has_value());
    if (result.item) {
      ToProto(*result.item, resp->mutable_item());
      resp->mutable_stamp()->set_timestamp_us(result.stamp.ts_us);
      resp->mutable_stamp()->set_region(result.stamp.region);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* RegionService::UpdateItem(grpc::CallbackServerContext* ctx,
                                                    const pb::UpdateItemRequest* req,
                                                    pb::UpdateItemResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  absl::StatusOr<UpdateRequest> parsed = [&]() -> absl::StatusOr<UpdateRequest> {
    UpdateRequest r;
    r.table = req->table();
    ASSIGN_OR_RETURN(r.key, FromProto(req->key()));
    for (const auto& [k, v] : req->set()) {
      ASSIGN_OR_RETURN(r.set[k], FromProto(v));
    }
    r.remove.assign(req->remove().begin(), req->remove().end());
    ASSIGN_OR_RETURN(r.condition, FromProto(req->condition()));
    return r;
  }();
  if (!parsed.ok()) {
    reactor->Finish(ToGrpc(parsed.status()));
  } else {
    region_->WriteAsync(std::move(*parsed), FinishWith(reactor, [resp](const WriteResult& result) {
                          ToProto(result, resp->mutable_result());
                          if (result.new_item) ToProto(*result.new_item, resp->mutable_item());
                        }));
  }
  return reactor;
}

grpc::ServerUnaryReactor* RegionService::DeleteItem(grpc::CallbackServerContext* ctx,
                                                    const pb::DeleteItemRequest* req,
                                                    pb::DeleteItemResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  absl::StatusOr<DeleteRequest> r = ParseDelete(*req);
  if (!r.ok()) {
    reactor->Finish(ToGrpc(r.status()));
  } else {
    region_->WriteAsync(std::move(*r), FinishWith(reactor, [resp](const WriteResult& result) {
                          ToProto(result, resp->mutable_result());
                        }));
  }
  return reactor;
}

grpc::ServerUnaryReactor* RegionService::BatchWrite(grpc::CallbackServerContext* ctx,
                                                    const pb::BatchWriteRequest* req,
                                                    pb::BatchWriteResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) {
    reactor->Finish(st);
    return reactor;
  }
  const int n = req->writes_size();
  if (n < 1 || n > kMaxBatchWrites) {
    reactor->Finish(ToGrpc(absl::InvalidArgumentError(
        absl::StrCat("BatchWrite takes 1 to ", kMaxBatchWrites, " writes, got ", n,
                     "; split the writes into several calls"))));
    return reactor;
  }
  // Parse every write before submitting any, so a malformed one means nothing is written.
  std::vector<PutRequest> puts(n);
  std::vector<DeleteRequest> deletes(n);
  for (int i = 0; i < n; ++i) {
    const pb::BatchWriteRequest::Write& w = req->writes(i);
    absl::Status st;
    if (w.has_put()) {
      absl::StatusOr<PutRequest> r = ParsePut(w.put());
      if (r.ok()) puts[i] = std::move(*r);
      st = r.status();
    } else if (w.has_delete_()) {
      absl::StatusOr<DeleteRequest> r = ParseDelete(w.delete_());
      if (r.ok()) deletes[i] = std::move(*r);
      st = r.status();
    } else {
      st = absl::InvalidArgumentError("it has neither put nor delete; set one of them");
    }
    if (!st.ok()) {
      reactor->Finish(
          ToGrpc(absl::Status(st.code(), absl::StrCat("BatchWrite write ", i, ": ", st.message(),
                                                      " (nothing was written)"))));
      return reactor;
    }
  }
  for (int i = 0; i < n; ++i) resp->add_outcomes();
  // Each write's outcome lands in its own slot; groups may be answered by different threads,
  // and the last write answered finishes the call.
  auto remaining = std::make_shared<std::atomic<int>>(n);
  for (int i = 0; i < n; ++i) {
    Region::WriteDone done = [reactor, resp, remaining, i](absl::StatusOr<WriteResult> result) {
      pb::BatchWriteResponse::Outcome* outcome = resp->mutable_outcomes(i);
      if (result.ok()) {
        ToProto(*result, outcome->mutable_result());
      } else {
        outcome->set_code(static_cast<int>(result.status().code()));
        outcome->set_message(std::string(result.status().message()));
      }
      if (remaining->fetch_sub(1) == 1) reactor->Finish(grpc::Status::OK);
    };
    if (req->writes(i).has_put()) {
      region_->WriteAsync(std::move(puts[i]), std::move(done));
    } else {
      region_->WriteAsync(std::move(deletes[i]), std::move(done));
    }
  }
  return reactor;
}

grpc::Status RegionService::Query(grpc::ServerContext* ctx, const pb::QueryRequest* req,
                                  pb::ItemPage* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    QueryRequest r;
    r.table = req->table();
    ASSIGN_OR_RETURN(r.hash_value, FromProto(req->hash_value()));
    ASSIGN_OR_RETURN(r.range, FromProto(req->range()));
    r.backward = req->backward();
    r.limit = req->limit();
    r.index = req->index_name();
    ASSIGN_OR_RETURN(r.exclusive_start_key, FromProto(req->exclusive_start_key()));
    ASSIGN_OR_RETURN(Page page, region_->Query(r));
    PageToProto(page, resp);
    return absl::OkStatus();
  });
}

grpc::Status RegionService::Scan(grpc::ServerContext* ctx, const pb::ScanRequest* req,
                                 pb::ItemPage* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    ScanRequest r;
    r.table = req->table();
    r.limit = req->limit();
    ASSIGN_OR_RETURN(r.exclusive_start_key, FromProto(req->exclusive_start_key()));
    ASSIGN_OR_RETURN(Page page, region_->Scan(r));
    PageToProto(page, resp);
    return absl::OkStatus();
  });
}

grpc::Status RegionService::ReadStream(grpc::ServerContext* ctx, const pb::ReadStreamRequest* req,
                                       pb::ReadStreamResponse* resp) {
  if (grpc::Status st = CheckSecret(*ctx, secret_); !st.ok()) return st;
  return Serve([&]() -> absl::Status {
    if (req->after_seq() < 0) return absl::InvalidArgumentError("after_seq must be >= 0");
    if (req->limit() < 0) return absl::InvalidArgumentError("limit must be >= 0");
    int limit = req->limit() == 0 ? 1000 : std::min(req->limit(), 1000);
    ASSIGN_OR_RETURN(TableInfo info, region_->DescribeTable(req->table()));
    const std::string view = StreamViewTypeOf(info.spec);
    ASSIGN_OR_RETURN(Region::TableChanges read,
                     region_->ReadTableChanges(req->table(), req->after_seq(), limit));
    for (const Change& c : read.changes) {
      if (c.kind != ChangeKind::kPut && c.kind != ChangeKind::kDelete) continue;
      ToStreamRecord(c, view, resp->add_records());
    }
    resp->set_next_after_seq(std::max(read.scanned_through, req->after_seq()));
    resp->set_head_seq(read.head_seq);
    resp->set_stream_view_type(view);
    return absl::OkStatus();
  });
}

}  // namespace gtsim
