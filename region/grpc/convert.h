// Conversions between the generated protobuf types (proto/gtsim/*.proto) and the core types,
// and between absl::Status and grpc::Status. The only place that knows both.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/table_engine.h"
#include "grpcpp/support/status.h"
#include "model/attribute_value.h"
#include "model/change.h"
#include "model/snapshot.h"
#include "proto/gtsim/admin.pb.h"
#include "proto/gtsim/region.pb.h"
#include "proto/gtsim/replication.pb.h"
#include "region/region.h"
#include "replicator/link.h"

namespace gtsim {

// absl and gRPC share status code numbering.
grpc::Status ToGrpc(const absl::Status& s);
absl::Status FromGrpc(const grpc::Status& s);

// Values and items. FromProto validates (numbers canonical, sets non-empty and unique).
absl::StatusOr<AttributeValue> FromProto(const pb::AttributeValue& p);
absl::StatusOr<Item> FromProto(const pb::Item& p);
void ToProto(const AttributeValue& v, pb::AttributeValue* p);
void ToProto(const Item& item, pb::Item* p);

absl::StatusOr<Condition> FromProto(const pb::Condition& p);
void ToProto(const Condition& c, pb::Condition* p);
void ToProto(const WriteResult& r, pb::WriteResult* p);
// `status` is ACTIVE, or DELETING for DeleteTable's answer; `region` is the answering region.
void ToProto(const TableInfo& info, const std::string& region, const std::string& status,
             pb::TableDescription* p);
absl::StatusOr<RangeCondition> FromProto(const pb::RangeCondition& p);

// Replication: the first message of a stream, and batches.
void ToProto(const SubscribeRequest& r, pb::Subscribe* p);
SubscribeRequest FromProto(const pb::Subscribe& p);
void ToProto(const ChangeBatch& b, pb::ChangeBatch* p);
absl::StatusOr<ChangeBatch> FromProto(const pb::ChangeBatch& p);

// Snapshot chunks (replica bootstrap). Rows are passed through as the source stores them.
void ToProto(const SnapshotChunk& c, pb::SnapshotChunk* p);
SnapshotChunk FromProto(const pb::SnapshotChunk& p, const std::string& table,
                        const Stamp& table_created);

void ToProto(const RegionStatus& s, pb::StatusResponse* p);

// A PUT or DELETE of this region's change log as a stream record, with the images the stream
// view type `view` (KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES) includes.
void ToStreamRecord(const Change& c, const std::string& view, pb::StreamRecord* p);

}  // namespace gtsim
