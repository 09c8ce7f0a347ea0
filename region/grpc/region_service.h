// The native region API (proto/gtsim/region.proto) served over gRPC for one Region.
// This type is thread-safe: every call goes to the thread-safe Region.
#pragma once

#include "proto/gtsim/region.grpc.pb.h"
#include "region/region.h"

namespace gtsim {

class RegionService final : public pb::RegionApi::Service {
 public:
  explicit RegionService(Region* region) : region_(region) {}

  grpc::Status CreateTable(grpc::ServerContext*, const pb::CreateTableRequest*,
                           pb::CreateTableResponse*) override;
  grpc::Status DescribeTable(grpc::ServerContext*, const pb::DescribeTableRequest*,
                             pb::DescribeTableResponse*) override;
  grpc::Status ListTables(grpc::ServerContext*, const pb::ListTablesRequest*,
                          pb::ListTablesResponse*) override;
  grpc::Status DeleteTable(grpc::ServerContext*, const pb::DeleteTableRequest*,
                           pb::DeleteTableResponse*) override;
  grpc::Status UpdateTable(grpc::ServerContext*, const pb::UpdateTableRequest*,
                           pb::UpdateTableResponse*) override;
  grpc::Status PutItem(grpc::ServerContext*, const pb::PutItemRequest*,
                       pb::PutItemResponse*) override;
  grpc::Status GetItem(grpc::ServerContext*, const pb::GetItemRequest*,
                       pb::GetItemResponse*) override;
  grpc::Status UpdateItem(grpc::ServerContext*, const pb::UpdateItemRequest*,
                          pb::UpdateItemResponse*) override;
  grpc::Status DeleteItem(grpc::ServerContext*, const pb::DeleteItemRequest*,
                          pb::DeleteItemResponse*) override;
  grpc::Status Query(grpc::ServerContext*, const pb::QueryRequest*, pb::ItemPage*) override;
  grpc::Status Scan(grpc::ServerContext*, const pb::ScanRequest*, pb::ItemPage*) override;
  grpc::Status ReadStream(grpc::ServerContext*, const pb::ReadStreamRequest*,
                          pb::ReadStreamResponse*) override;

 private:
  Region* region_;
};

}  // namespace gtsim
