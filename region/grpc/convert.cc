#include "region/grpc/convert.h"

#include "absl/strings/str_cat.h"
#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"

namespace gtsim {
namespace {

pb::ScalarType ToProtoType(ValueType t) {
  return t == ValueType::kN ? pb::N : t == ValueType::kB ? pb::B : pb::S;
}

absl::StatusOr<std::vector<std::string>> SetMembers(const pb::AttributeValue::Set& s,
                                                    bool numbers) {
  if (s.members_size() == 0) return absl::InvalidArgumentError("a set must not be empty");
  std::vector<std::string> out;
  for (const auto& m : s.members()) {
    if (numbers) {
      ASSIGN_OR_RETURN(std::string n, CanonicalNumber(m));
      out.push_back(std::move(n));
    } else {
      out.push_back(m);
    }
  }
  auto sorted = out;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return absl::InvalidArgumentError("a set contains duplicates");
  }
  return out;
}

}  // namespace

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

absl::Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

absl::StatusOr<AttributeValue> FromProto(const pb::AttributeValue& p) {
  using P = pb::AttributeValue;
  switch (p.value_case()) {
    case P::kS:
      return AttributeValue::S(p.s());
    case P::kN:
      return AttributeValue::Number(p.n());
    case P::kB:
      return AttributeValue::B(p.b());
    case P::kBool:
      return AttributeValue::Bool(p.bool_());
    case P::kNull:
      return AttributeValue::Null();
    case P::kM: {
      Item fields;
      for (const auto& [k, v] : p.m().fields()) {
        ASSIGN_OR_RETURN(fields[k], FromProto(v));
      }
      return AttributeValue::M(std::move(fields));
    }
    case P::kL: {
      std::vector<AttributeValue> values;
      for (const auto& v : p.l().values()) {
        ASSIGN_OR_RETURN(AttributeValue e, FromProto(v));
        values.push_back(std::move(e));
      }
      return AttributeValue::L(std::move(values));
    }
    case P::kSs: {
      ASSIGN_OR_RETURN(auto m, SetMembers(p.ss(), false));
      return AttributeValue::SS(std::move(m));
    }
    case P::kNs: {
      ASSIGN_OR_RETURN(auto m, SetMembers(p.ns(), true));
      return AttributeValue::NS(std::move(m));
    }
    case P::kBs: {
      ASSIGN_OR_RETURN(auto m, SetMembers(p.bs(), false));
      return AttributeValue::BS(std::move(m));
    }
    case P::VALUE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("an attribute value has no type set");
}

absl::StatusOr<Item> FromProto(const pb::Item& p) {
  Item item;
  for (const auto& [k, v] : p.attributes()) {
    if (k.empty()) return absl::InvalidArgumentError("attribute names must not be empty");
    auto value = FromProto(v);
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute \"", k, "\": ", value.status().message()));
    }
    item.emplace(k, *std::move(value));
  }
  return item;
}

void ToProto(const AttributeValue& v, pb::AttributeValue* p) {
  switch (v.type()) {
    case ValueType::kS:
      p->set_s(v.scalar());
      break;
    case ValueType::kN:
      p->set_n(v.scalar());
      break;
    case ValueType::kB:
      p->set_b(v.scalar());
      break;
    case ValueType::kBool:
      p->set_bool_(v.boolean());
      break;
    case ValueType::kNull:
      p->set_null(true);
      break;
    case ValueType::kM:
      for (const auto& [k, e] : v.map()) ToProto(e, &(*p->mutable_m()->mutable_fields())[k]);
      p->mutable_m();
      break;
    case ValueType::kL:
      p->mutable_l();
      for (const auto& e : v.list()) ToProto(e, p->mutable_l()->add_values());
      break;
    case ValueType::kSS:
      for (const auto& m : v.set()) p->mutable_ss()->add_members(m);
      break;
    case ValueType::kNS:
      for (const auto& m : v.set()) p->mutable_ns()->add_members(m);
      break;
    case ValueType::kBS:
      for (const auto& m : v.set()) p->mutable_bs()->add_members(m);
      break;
  }
}

void ToProto(const Item& item, pb::Item* p) {
  for (const auto& [k, v] : item) ToProto(v, &(*p->mutable_attributes())[k]);
}

absl::StatusOr<Condition> FromProto(const pb::Condition& p) {
  Condition c;
  for (const auto& clause : p.clauses()) {
    Condition::Clause out;
    out.attribute = clause.attribute();
    if (out.attribute.empty()) return absl::InvalidArgumentError("a condition names no attribute");
    switch (clause.op()) {
      case pb::Condition::EXISTS:
        out.op = Condition::Op::kExists;
        break;
      case pb::Condition::NOT_EXISTS:
        out.op = Condition::Op::kNotExists;
        break;
      case pb::Condition::EQUALS: {
        out.op = Condition::Op::kEquals;
        ASSIGN_OR_RETURN(out.value, FromProto(clause.value()));
        break;
      }
      default:
        return absl::InvalidArgumentError(
            "a condition has no operator (EXISTS, NOT_EXISTS, EQUALS)");
    }
    c.clauses.push_back(std::move(out));
  }
  return c;
}

void ToProto(const Condition& c, pb::Condition* p) {
  for (const auto& clause : c.clauses) {
    auto* out = p->add_clauses();
    out->set_attribute(clause.attribute);
    switch (clause.op) {
      case Condition::Op::kExists:
        out->set_op(pb::Condition::EXISTS);
        break;
      case Condition::Op::kNotExists:
        out->set_op(pb::Condition::NOT_EXISTS);
        break;
      case Condition::Op::kEquals:
        out->set_op(pb::Condition::EQUALS);
        ToProto(clause.value, out->mutable_value());
        break;
    }
  }
}

void ToProto(const WriteResult& r, pb::WriteResult* p) {
  p->mutable_stamp()->set_timestamp_us(r.stamp.ts_us);
  p->mutable_stamp()->set_region(r.stamp.region);
  if (r.superseded_by) {
    p->mutable_superseded_by()->set_timestamp_us(r.superseded_by->ts_us);
    p->mutable_superseded_by()->set_region(r.superseded_by->region);
  }
  if (r.old_item) ToProto(*r.old_item, p->mutable_old_item());
}

void ToProto(const TableInfo& info, const std::string& region, const std::string& status,
             pb::TableDescription* p) {
  p->set_dynamodb_json(
      ddb::TableDescription(info, region, status == "ACTIVE" ? nullptr : status.c_str()).dump());
  p->set_name(info.spec.name);
  p->mutable_hash_key()->set_name(info.spec.hash_key.name);
  p->mutable_hash_key()->set_type(ToProtoType(info.spec.hash_key.type));
  if (info.spec.range_key) {
    p->mutable_range_key()->set_name(info.spec.range_key->name);
    p->mutable_range_key()->set_type(ToProtoType(info.spec.range_key->type));
  }
  for (const auto& r : info.spec.replicas) p->add_replicas(r);
  p->set_status(status);
  p->set_item_count(info.item_count);
  p->set_created_us(info.spec.created.ts_us);
  p->set_created_by(info.spec.created.region);
  p->set_table_status(status == "ACTIVE" ? info.spec.TableStatus() : status);
  if (info.restore) {
    if (info.restore->in_progress && status == "ACTIVE") p->set_table_status("CREATING");
    p->mutable_restore()->set_source_table(info.restore->source_table);
    p->mutable_restore()->set_restore_us(info.restore->restore_us);
    p->mutable_restore()->set_in_progress(info.restore->in_progress);
  }
  for (const auto& r : info.spec.replicas) {
    auto* d = p->add_replica_descriptions();
    d->set_region_name(r);
    d->set_replica_status(info.spec.ReplicaStatus(r));
    if (auto it = info.replica_progress.find(r); it != info.replica_progress.end()) {
      d->set_percent_progress(it->second);
    }
    if (auto it = info.spec.replica_settings.find(r); it != info.spec.replica_settings.end()) {
      d->set_deletion_protection(it->second.deletion_protection);
      d->set_kms_key(it->second.kms_key);
      d->set_table_class(it->second.table_class);
      d->set_read_capacity_override(it->second.read_capacity_override);
      d->set_point_in_time_recovery(it->second.point_in_time_recovery);
    }
  }
  for (const auto& [name, g] : info.spec.gsis) {
    if (g.deleted) continue;
    auto* d = p->add_gsis();
    d->set_index_name(name);
    d->mutable_hash_key()->set_name(g.hash_key.name);
    d->mutable_hash_key()->set_type(ToProtoType(g.hash_key.type));
    if (g.range_key) {
      d->mutable_range_key()->set_name(g.range_key->name);
      d->mutable_range_key()->set_type(ToProtoType(g.range_key->type));
    }
    d->set_projection(g.projection);
    for (const auto& a : g.non_key) d->add_non_key_attributes(a);
    auto st = info.index_status.find(name);
    d->set_index_status(st == info.index_status.end() ? "ACTIVE" : st->second);
    d->set_local(g.local);
  }
  auto* st = p->mutable_settings();
  st->set_billing_mode(info.spec.billing.mode);
  st->set_read_capacity(info.spec.billing.read_capacity);
  st->set_write_capacity(info.spec.billing.write_capacity);
  st->set_sse_type(info.spec.sse.type);
  st->set_ttl_enabled(info.spec.ttl.enabled);
  st->set_ttl_attribute(info.spec.ttl.attribute);
  st->set_stream_enabled(info.spec.stream.enabled);
  st->set_stream_view_type(info.spec.stream.view_type);
  st->set_stream_label_us(StreamLabelUs(info.spec));
}

void ToProto(const SnapshotChunk& c, pb::SnapshotChunk* p) {
  for (const auto& [origin, seq] : c.cut) (*p->mutable_cut())[origin] = seq;
  p->set_total_rows(c.total_rows);
  p->set_tombstone_horizon(c.tombstone_horizon);
  p->set_last(c.last);
  for (const auto& row : c.rows) {
    auto* out = p->add_rows();
    out->set_hk(row.hk);
    out->set_rk(row.rk);
    if (row.item) {
      out->set_item(*row.item);
    } else {
      out->set_tombstone(true);
    }
    out->set_timestamp_us(row.stamp.ts_us);
    out->set_region(row.stamp.region);
  }
}

SnapshotChunk FromProto(const pb::SnapshotChunk& p, const std::string& table,
                        const Stamp& table_created) {
  SnapshotChunk c;
  c.table = table;
  c.table_created = table_created;
  for (const auto& [origin, seq] : p.cut()) c.cut[origin] = seq;
  c.total_rows = p.total_rows();
  c.tombstone_horizon = p.tombstone_horizon();
  c.last = p.last();
  c.rows.reserve(p.rows_size());
  for (const auto& in : p.rows()) {
    SnapshotRow row{in.hk(), in.rk(), std::nullopt, Stamp{in.timestamp_us(), in.region()}};
    if (!in.tombstone()) row.item = in.item();
    c.rows.push_back(std::move(row));
  }
  return c;
}

absl::StatusOr<RangeCondition> FromProto(const pb::RangeCondition& p) {
  RangeCondition rc;
  using P = pb::RangeCondition;
  switch (p.op()) {
    case P::OP_UNSPECIFIED:
      return rc;
    case P::EQ:
      rc.op = RangeCondition::Op::kEq;
      break;
    case P::LT:
      rc.op = RangeCondition::Op::kLt;
      break;
    case P::LE:
      rc.op = RangeCondition::Op::kLe;
      break;
    case P::GT:
      rc.op = RangeCondition::Op::kGt;
      break;
    case P::GE:
      rc.op = RangeCondition::Op::kGe;
      break;
    case P::BETWEEN:
      rc.op = RangeCondition::Op::kBetween;
      break;
    case P::BEGINS_WITH:
      rc.op = RangeCondition::Op::kBeginsWith;
      break;
    default:
      return absl::InvalidArgumentError("unknown range condition operator");
  }
  ASSIGN_OR_RETURN(rc.value, FromProto(p.value()));
  if (rc.op == RangeCondition::Op::kBetween) {
    ASSIGN_OR_RETURN(rc.value2, FromProto(p.value2()));
  }
  return rc;
}

void ToProto(const SubscribeRequest& r, pb::Subscribe* p) {
  p->set_subscriber(r.subscriber);
  p->set_cluster_id(r.cluster_id);
  p->set_after_seq(r.at.after_seq);
  p->set_origin_log_id(r.at.origin_log_id);
  p->set_after_local_ts(r.at.after_local_ts);
  if (r.at.reclaim_after_ts) {
    p->set_reclaim(true);
    p->set_reclaim_after_ts(*r.at.reclaim_after_ts);
  }
  for (const auto& h : r.at.held) {
    auto* t = p->add_tables();
    t->set_name(h.name);
    t->set_created_us(h.created.ts_us);
    t->set_created_by(h.created.region);
    t->set_after_seq(h.after_seq);
  }
}

SubscribeRequest FromProto(const pb::Subscribe& p) {
  SubscribeRequest r;
  r.subscriber = p.subscriber();
  r.cluster_id = p.cluster_id();
  r.at.after_seq = p.after_seq();
  r.at.origin_log_id = p.origin_log_id();
  r.at.after_local_ts = p.after_local_ts();
  if (p.reclaim()) r.at.reclaim_after_ts = p.reclaim_after_ts();
  for (const auto& t : p.tables()) {
    r.at.held.push_back(HeldTable{t.name(), Stamp{t.created_us(), t.created_by()}, t.after_seq()});
  }
  return r;
}

void ToProto(const ChangeBatch& b, pb::ChangeBatch* p) {
  p->set_origin(b.origin);
  p->set_scanned_through(b.scanned_through);
  p->set_origin_head(b.origin_head);
  p->set_origin_log_id(b.origin_log_id);
  p->set_through_local_ts(b.through_local_ts);
  p->set_stamp_floor(b.stamp_floor);
  p->set_reclaim(b.reclaim);
  p->set_reclaim_done(b.reclaim_done);
  for (const auto& c : b.changes) {
    auto* out = p->add_changes();
    out->set_seq(c.seq);
    out->set_kind(static_cast<pb::Change::Kind>(static_cast<int>(c.kind)));
    out->set_table(c.table);
    out->set_table_created_us(c.table_created.ts_us);
    out->set_table_created_by(c.table_created.region);
    out->set_timestamp_us(c.stamp.ts_us);
    out->set_commit_true_us(c.commit_true_us);
    out->set_key(EncodeItem(c.key));
    if (c.new_image) out->set_new_image(EncodeItem(*c.new_image));
    if (c.spec) out->set_table_spec(EncodeTableSpec(*c.spec));
  }
}

absl::StatusOr<ChangeBatch> FromProto(const pb::ChangeBatch& p) {
  ChangeBatch b;
  b.origin = p.origin();
  b.scanned_through = p.scanned_through();
  b.origin_head = p.origin_head();
  b.origin_log_id = p.origin_log_id();
  b.through_local_ts = p.through_local_ts();
  b.stamp_floor = p.stamp_floor();
  b.reclaim = p.reclaim();
  b.reclaim_done = p.reclaim_done();
  for (const auto& in : p.changes()) {
    Change c;
    c.seq = in.seq();
    int kind = static_cast<int>(in.kind());
    if (kind < 1 || kind > 5) return absl::InvalidArgumentError("unknown change kind");
    c.kind = static_cast<ChangeKind>(kind);
    c.table = in.table();
    c.table_created = Stamp{in.table_created_us(), in.table_created_by()};
    c.stamp = Stamp{in.timestamp_us(), b.origin};
    c.commit_true_us = in.commit_true_us();
    ASSIGN_OR_RETURN(c.key, DecodeItem(in.key()));
    if (c.kind == ChangeKind::kPut) {
      ASSIGN_OR_RETURN(c.new_image, DecodeItem(in.new_image()));
    }
    if (c.kind == ChangeKind::kCreateTable || c.kind == ChangeKind::kUpdateTable) {
      ASSIGN_OR_RETURN(c.spec, DecodeTableSpec(in.table_spec()));
    }
    b.changes.push_back(std::move(c));
  }
  return b;
}

void ToProto(const RegionStatus& s, pb::StatusResponse* p) {
  p->set_region(s.region);
  p->set_head_seq(s.head_seq);
  p->set_clock_skew_us(s.clock_skew_us);
  for (const auto& t : s.tables) {
    auto* out = p->add_tables();
    out->set_table(t.spec.name);
    for (const auto& r : t.spec.replicas) out->add_replicas(r);
    out->set_item_count(t.item_count);
    for (const auto& [r, status] : t.spec.replica_status)
      (*out->mutable_replica_status())[r] = status;
    for (const auto& [r, pct] : t.spec.replica_progress)
      (*out->mutable_replica_progress())[r] = pct;
  }
  for (const auto& in : s.inbound) {
    auto* out = p->add_inbound();
    out->set_origin(in.origin);
    out->set_applied_seq(in.applied_seq);
    out->set_connected(in.connected);
    out->set_blocked(in.blocked);
    out->set_applied_changes(in.applied_changes);
    out->set_origin_head(in.origin_head);
    out->set_delay_us(in.delay.delay_us);
    out->set_jitter_us(in.delay.jitter_us);
    out->set_distribution(LinkDistributionName(in.delay.distribution));
    out->set_loss(in.delay.loss);
    out->set_bandwidth_bytes_per_s(in.delay.bandwidth_bytes_per_s);
    auto* l = out->mutable_latency();
    l->set_samples(in.latency.samples);
    l->set_p50_ms(in.latency.p50_ms);
    l->set_p90_ms(in.latency.p90_ms);
    l->set_p99_ms(in.latency.p99_ms);
    l->set_max_ms(in.latency.max_ms);
    auto* l1 = out->mutable_latency_1s();
    l1->set_samples(in.latency_1s.samples);
    l1->set_p50_ms(in.latency_1s.p50_ms);
    l1->set_p90_ms(in.latency_1s.p90_ms);
    l1->set_p99_ms(in.latency_1s.p99_ms);
    l1->set_max_ms(in.latency_1s.max_ms);
  }
  for (const auto& o : s.outbound) {
    auto* out = p->add_outbound();
    out->set_peer(o.peer);
    out->set_acked_seq(o.acked_seq);
    out->set_pending(o.pending);
    out->set_staleness_us(o.lag.freshness.staleness_us);
    out->set_replicated_time_us(o.lag.freshness.replicated_time_us);
    out->set_staleness_at_most(o.lag.freshness.at_most);
    for (const auto& t : o.lag.tables) {
      auto* tl = out->add_tables();
      tl->set_table(t.table);
      tl->set_pending(t.pending);
      tl->set_staleness_us(t.freshness.staleness_us);
      tl->set_replicated_time_us(t.freshness.replicated_time_us);
      tl->set_staleness_at_most(t.freshness.at_most);
    }
  }
  for (const auto& w : s.warnings) p->add_warnings(w);
  p->set_database_bytes(s.disk.database_bytes);
  p->set_wal_bytes(s.disk.wal_bytes);
  p->set_log_positions(s.disk.log_positions);
  p->set_local_writes(s.local_writes);
  for (const auto& c : s.conflicts) {
    auto* out = p->add_conflicts();
    out->set_table(c.table);
    out->set_key_json(ItemToJson(c.key).dump());
    out->set_lost_region(c.lost.region);
    out->set_lost_stamp_us(c.lost.ts_us);
    out->set_won_region(c.won.region);
    out->set_won_stamp_us(c.won.ts_us);
    out->set_at_us(c.at_us);
  }
}

void ToStreamRecord(const Change& c, const std::string& view, pb::StreamRecord* p) {
  p->set_sequence(c.seq);
  p->set_event_name(StreamEventName(c));
  ToProto(c.key, p->mutable_keys());
  if (c.new_image && (view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES")) {
    ToProto(*c.new_image, p->mutable_new_image());
  }
  if (c.old_image && (view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES")) {
    ToProto(*c.old_image, p->mutable_old_image());
  }
  p->mutable_stamp()->set_timestamp_us(c.stamp.ts_us);
  p->mutable_stamp()->set_region(c.stamp.region);
}

}  // namespace gtsim
