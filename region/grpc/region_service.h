// The native region API (proto/gtsim/region.proto) served over gRPC for one Region.
// This type is thread-safe: every call goes to the thread-safe Region.
//
// The item writes (PutItem, UpdateItem, DeleteItem, BatchWrite) use gRPC's callback API: the
// handler hands the write to the Region's group commit and returns, and the call is finished by
// whichever thread commits the group. A blocking handler would park one server thread per write in flight
// and pay two thread switches per write; the other calls are cheap or rare and stay synchronous.
#pragma once

#include <string>

#include "proto/gtsim/region.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class RegionService final
    : public pb::RegionApi::WithCallbackMethod_PutItem<
          pb::RegionApi::WithCallbackMethod_UpdateItem<pb::RegionApi::WithCallbackMethod_DeleteItem<
              pb::RegionApi::WithCallbackMethod_BatchWrite<pb::RegionApi::Service>>>> {
 public:
  // `secret`: the cluster's (region/grpc/cluster_secret.h); every call must carry it.
  RegionService(Region* region, std::string secret) : region_(region), secret_(std::move(secret)) {}

  grpc::Status CreateTable(grpc::ServerContext*, const pb::CreateTableRequest*,
                           pb::CreateTableResponse*) override;
  grpc::Status DescribeTable(grpc::ServerContext*, const pb::DescribeTableRequest*,
                             pb::DescribeTableResponse*) override;
  grpc::Status RestoreTable(grpc::ServerContext*, const pb::RestoreTableRequest*,
                            pb::RestoreTableResponse*) override;
  grpc::Status ListTables(grpc::ServerContext*, const pb::ListTablesRequest*,
                          pb::ListTablesResponse*) override;
  grpc::Status DeleteTable(grpc::ServerContext*, const pb::DeleteTableRequest*,
                           pb::DeleteTableResponse*) override;
  grpc::Status UpdateTable(grpc::ServerContext*, const pb::UpdateTableRequest*,
                           pb::UpdateTableResponse*) override;
  grpc::ServerUnaryReactor* PutItem(grpc::CallbackServerContext*, const pb::PutItemRequest*,
                                    pb::PutItemResponse*) override;
  grpc::Status GetItem(grpc::ServerContext*, const pb::GetItemRequest*,
                       pb::GetItemResponse*) override;
  grpc::ServerUnaryReactor* UpdateItem(grpc::CallbackServerContext*, const pb::UpdateItemRequest*,
                                       pb::UpdateItemResponse*) override;
  grpc::ServerUnaryReactor* DeleteItem(grpc::CallbackServerContext*, const pb::DeleteItemRequest*,
                                       pb::DeleteItemResponse*) override;
  static constexpr int kMaxBatchWrites = 25;
  grpc::ServerUnaryReactor* BatchWrite(grpc::CallbackServerContext*, const pb::BatchWriteRequest*,
                                       pb::BatchWriteResponse*) override;
  grpc::Status Query(grpc::ServerContext*, const pb::QueryRequest*, pb::ItemPage*) override;
  grpc::Status Scan(grpc::ServerContext*, const pb::ScanRequest*, pb::ItemPage*) override;
  grpc::Status ReadStream(grpc::ServerContext*, const pb::ReadStreamRequest*,
                          pb::ReadStreamResponse*) override;

 private:
  Region* region_;
  const std::string secret_;
};

}  // namespace gtsim
