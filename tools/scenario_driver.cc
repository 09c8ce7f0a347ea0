#include "tools/scenario_driver.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "model/clock.h"
#include "model/key_codec.h"
#include "model/status_macros.h"
#include "region/grpc/convert.h"
#include "tools/cli_client.h"

namespace gtsim {
namespace {

// Workload calls fail fast while a region is down; control calls (`wait`) ride out a region's
// restart until the deadline.
std::unique_ptr<grpc::ClientContext> Ctx(absl::Duration timeout, bool wait = false) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  ctx->set_wait_for_ready(wait);
  RegionClient::AttachSecret(ctx.get());
  return ctx;
}

absl::StatusOr<WriteResult> FromProtoResult(const pb::WriteResult& p) {
  WriteResult r;
  r.stamp = Stamp{p.stamp().timestamp_us(), p.stamp().region()};
  if (p.has_superseded_by()) {
    r.superseded_by = Stamp{p.superseded_by().timestamp_us(), p.superseded_by().region()};
  }
  if (p.has_old_item()) {
    ASSIGN_OR_RETURN(Item old, FromProto(p.old_item()));
    r.old_item = std::move(old);
  }
  return r;
}

pb::ScalarType ToPbType(ValueType t) {
  return t == ValueType::kN ? pb::N : t == ValueType::kB ? pb::B : pb::S;
}
ValueType FromPbType(pb::ScalarType t) {
  return t == pb::N ? ValueType::kN : t == pb::B ? ValueType::kB : ValueType::kS;
}
void ToProto(const KeyDef& k, pb::KeyAttribute* p) {
  p->set_name(k.name);
  p->set_type(ToPbType(k.type));
}

}  // namespace

GrpcScenarioDriver::GrpcScenarioDriver(LocalCluster* cluster) : cluster_(cluster) {
  for (const auto& p : cluster->regions()) {
    grpc::ChannelArguments args;
    // Reconnect quickly to a restarted region; fail fast while it is down.
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
    args.SetMaxReceiveMessageSize(64 << 20);
    Stubs s;
    s.channel = grpc::CreateCustomChannel(p.address(), grpc::InsecureChannelCredentials(), args);
    s.api = pb::RegionApi::NewStub(s.channel);
    s.admin = pb::Admin::NewStub(s.channel);
    stubs_.emplace(p.name, std::move(s));
  }
}

GrpcScenarioDriver::Stubs& GrpcScenarioDriver::For(const std::string& region) {
  return stubs_.at(region);
}

absl::Status GrpcScenarioDriver::CreateTable(const std::string& region, const TableSpec& spec) {
  pb::CreateTableRequest req;
  req.set_table(spec.name);
  ToProto(spec.hash_key, req.mutable_hash_key());
  if (spec.range_key) ToProto(*spec.range_key, req.mutable_range_key());
  for (const auto& r : spec.replicas) req.add_replicas(r);
  pb::CreateTableResponse resp;
  absl::Status st =
      FromGrpc(For(region).api->CreateTable(Ctx(absl::Seconds(10), true).get(), req, &resp));
  if (!st.ok())
    return absl::Status(st.code(), absl::StrCat("creating table ", spec.name, ": ", st.message()));
  // A global table is usable once every replica knows it.
  absl::Time deadline = absl::Now() + absl::Seconds(15);
  for (const auto& r : spec.replicas) {
    while (true) {
      pb::DescribeTableRequest d;
      d.set_table(spec.name);
      pb::DescribeTableResponse dr;
      if (For(r).api->DescribeTable(Ctx(absl::Seconds(2), true).get(), d, &dr).ok()) break;
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat("table ", spec.name, " did not reach ", r));
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  return absl::OkStatus();
}

absl::Status GrpcScenarioDriver::UpdateTable(const std::string& region,
                                             const UpdateTableRequest& r) {
  pb::UpdateTableRequest req;
  req.set_table(r.table);
  for (const auto& u : r.replica_updates) {
    auto* p = req.add_replica_updates();
    p->set_action(u.action == ReplicaUpdate::Action::kCreate ? pb::ReplicaUpdate::CREATE
                                                             : pb::ReplicaUpdate::DELETE);
    p->set_region_name(u.region);
  }
  if (r.billing_mode) req.set_billing_mode(*r.billing_mode);
  if (r.read_capacity) req.set_read_capacity(*r.read_capacity);
  if (r.write_capacity) req.set_write_capacity(*r.write_capacity);
  if (r.sse_type) req.set_sse_type(*r.sse_type);
  if (r.ttl_enabled) req.set_ttl_enabled(*r.ttl_enabled);
  if (r.ttl_attribute) req.set_ttl_attribute(*r.ttl_attribute);
  if (r.create_gsi) {
    const auto& [name, g] = *r.create_gsi;
    auto* p = req.mutable_create_gsi();
    p->set_index_name(name);
    ToProto(g.hash_key, p->mutable_hash_key());
    if (g.range_key) ToProto(*g.range_key, p->mutable_range_key());
    p->set_projection(g.projection);
    for (const auto& a : g.non_key) p->add_non_key_attributes(a);
  }
  if (r.delete_gsi) req.set_delete_gsi(*r.delete_gsi);
  pb::UpdateTableResponse resp;
  return FromGrpc(For(region).api->UpdateTable(Ctx(absl::Seconds(10)).get(), req, &resp));
}

absl::StatusOr<TableInfo> GrpcScenarioDriver::DescribeTable(const std::string& region,
                                                            const std::string& table,
                                                            absl::Duration timeout) {
  pb::DescribeTableRequest req;
  req.set_table(table);
  pb::DescribeTableResponse resp;
  RETURN_IF_ERROR(FromGrpc(For(region).api->DescribeTable(Ctx(timeout).get(), req, &resp)));
  const pb::TableDescription& d = resp.table();
  TableInfo info;
  info.spec.name = d.name();
  info.spec.hash_key = KeyDef{d.hash_key().name(), FromPbType(d.hash_key().type())};
  if (!d.range_key().name().empty())
    info.spec.range_key = KeyDef{d.range_key().name(), FromPbType(d.range_key().type())};
  info.spec.replicas.assign(d.replicas().begin(), d.replicas().end());
  for (const auto& r : d.replica_descriptions()) {
    if (r.replica_status() != "ACTIVE")
      info.spec.replica_status[r.region_name()] = r.replica_status();
    if (r.percent_progress() > 0) info.replica_progress[r.region_name()] = r.percent_progress();
  }
  info.spec.billing.mode = d.settings().billing_mode();
  info.spec.billing.read_capacity = d.settings().read_capacity();
  info.spec.billing.write_capacity = d.settings().write_capacity();
  for (const auto& g : d.gsis()) {
    GsiSetting& s = info.spec.gsis[g.index_name()];
    s.hash_key = KeyDef{g.hash_key().name(), FromPbType(g.hash_key().type())};
    if (!g.range_key().name().empty())
      s.range_key = KeyDef{g.range_key().name(), FromPbType(g.range_key().type())};
    s.projection = g.projection();
    s.non_key.assign(g.non_key_attributes().begin(), g.non_key_attributes().end());
    info.index_status[g.index_name()] = g.index_status();
  }
  info.item_count = d.item_count();
  return info;
}

absl::StatusOr<std::vector<Item>> GrpcScenarioDriver::QueryIndex(const std::string& region,
                                                                 const std::string& table,
                                                                 const std::string& index,
                                                                 const AttributeValue& hash,
                                                                 absl::Duration timeout) {
  pb::QueryRequest req;
  req.set_table(table);
  req.set_index_name(index);
  ToProto(hash, req.mutable_hash_value());
  std::vector<Item> out;
  while (true) {  // every page (without a limit the region answers with one)
    pb::ItemPage page;
    RETURN_IF_ERROR(FromGrpc(For(region).api->Query(Ctx(timeout).get(), req, &page)));
    for (const auto& p : page.items()) {
      ASSIGN_OR_RETURN(Item item, FromProto(p));
      out.push_back(std::move(item));
    }
    if (page.last_evaluated_key().attributes().empty()) return out;
    *req.mutable_exclusive_start_key() = page.last_evaluated_key();
  }
}

absl::StatusOr<WriteResult> GrpcScenarioDriver::Put(const std::string& region,
                                                    const std::string& table, const Item& item,
                                                    const Condition& condition,
                                                    absl::Duration timeout) {
  pb::PutItemRequest req;
  req.set_table(table);
  ToProto(item, req.mutable_item());
  ToProto(condition, req.mutable_condition());
  req.set_return_old_item(true);
  pb::PutItemResponse resp;
  RETURN_IF_ERROR(FromGrpc(For(region).api->PutItem(Ctx(timeout).get(), req, &resp)));
  ASSIGN_OR_RETURN(WriteResult r, FromProtoResult(resp.result()));
  r.new_item = item;
  return r;
}

absl::StatusOr<WriteResult> GrpcScenarioDriver::Update(const std::string& region,
                                                       const std::string& table, const Item& key,
                                                       const Item& set, const Condition& condition,
                                                       absl::Duration timeout) {
  pb::UpdateItemRequest req;
  req.set_table(table);
  ToProto(key, req.mutable_key());
  for (const auto& [name, value] : set) ToProto(value, &(*req.mutable_set())[name]);
  ToProto(condition, req.mutable_condition());
  pb::UpdateItemResponse resp;
  RETURN_IF_ERROR(FromGrpc(For(region).api->UpdateItem(Ctx(timeout).get(), req, &resp)));
  ASSIGN_OR_RETURN(WriteResult r, FromProtoResult(resp.result()));
  ASSIGN_OR_RETURN(Item after, FromProto(resp.item()));
  r.new_item = std::move(after);
  return r;
}

absl::StatusOr<WriteResult> GrpcScenarioDriver::Delete(const std::string& region,
                                                       const std::string& table, const Item& key,
                                                       const Condition& condition,
                                                       absl::Duration timeout) {
  pb::DeleteItemRequest req;
  req.set_table(table);
  ToProto(key, req.mutable_key());
  ToProto(condition, req.mutable_condition());
  req.set_return_old_item(true);
  pb::DeleteItemResponse resp;
  RETURN_IF_ERROR(FromGrpc(For(region).api->DeleteItem(Ctx(timeout).get(), req, &resp)));
  return FromProtoResult(resp.result());
}

absl::StatusOr<GetResult> GrpcScenarioDriver::Get(const std::string& region,
                                                  const std::string& table, const Item& key,
                                                  absl::Duration timeout) {
  pb::GetItemRequest req;
  req.set_table(table);
  ToProto(key, req.mutable_key());
  pb::GetItemResponse resp;
  RETURN_IF_ERROR(FromGrpc(For(region).api->GetItem(Ctx(timeout).get(), req, &resp)));
  GetResult r;
  if (resp.found()) {
    ASSIGN_OR_RETURN(Item item, FromProto(resp.item()));
    r.item = std::move(item);
    r.stamp = Stamp{resp.stamp().timestamp_us(), resp.stamp().region()};
  }
  return r;
}

absl::StatusOr<std::vector<TableEngine::Version>> GrpcScenarioDriver::Dump(
    const std::string& region, const TableSpec& spec, bool with_stamps) {
  std::vector<TableEngine::Version> out;
  pb::Item start;
  while (true) {
    pb::ScanRequest req;
    req.set_table(spec.name);
    req.set_limit(1000);
    *req.mutable_exclusive_start_key() = start;
    pb::ItemPage page;
    RETURN_IF_ERROR(
        FromGrpc(For(region).api->Scan(Ctx(absl::Seconds(10), true).get(), req, &page)));
    for (const auto& p : page.items()) {
      ASSIGN_OR_RETURN(Item item, FromProto(p));
      TableEngine::Version v;
      auto hash = item.find(spec.hash_key.name);
      if (hash == item.end()) return absl::DataLossError("a scanned item has no hash key");
      Item key{{spec.hash_key.name, hash->second}};
      if (spec.range_key) {
        auto range = item.find(spec.range_key->name);
        if (range == item.end()) return absl::DataLossError("a scanned item has no range key");
        key[spec.range_key->name] = range->second;
      }
      RETURN_IF_ERROR(TableEngine::EncodeKeyOf(spec, key, &v.hk, &v.rk));
      if (with_stamps) {
        ASSIGN_OR_RETURN(GetResult g, Get(region, spec.name, key, absl::Seconds(10)));  // NOLINT
        v.stamp = g.stamp;
      }
      v.item = std::move(item);
      out.push_back(std::move(v));
    }
    if (page.last_evaluated_key().attributes().empty()) break;
    start = page.last_evaluated_key();
  }
  return out;
}

absl::Status GrpcScenarioDriver::SaveCluster() {
  cluster_->ClearPartitions();
  for (const auto& [o, r] : blocked_) cluster_->AddOneWayBlock(o, r);
  return cluster_->Save();
}

absl::Status GrpcScenarioDriver::Kill(const std::string& region) {
  absl::MutexLock l(&mu_);
  return cluster_->Kill(region);
}

absl::Status GrpcScenarioDriver::Restart(const std::string& region) {
  absl::MutexLock l(&mu_);
  RETURN_IF_ERROR(SaveCluster());
  if (cluster_->IsRunning(region)) {
    if (paused_.erase(region)) kill((*cluster_->Find(region))->pid, SIGCONT);
    RETURN_IF_ERROR(cluster_->Stop(region));
  }
  return cluster_->Start(region);
}

absl::Status GrpcScenarioDriver::Pause(const std::string& region) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(const RegionProcess* p, cluster_->Find(region));
  if (!cluster_->IsRunning(region))
    return absl::FailedPreconditionError(region + " is not running");
  if (kill(p->pid, SIGSTOP) != 0) return absl::InternalError("cannot SIGSTOP " + region);
  paused_.insert(region);
  return absl::OkStatus();
}

absl::Status GrpcScenarioDriver::Resume(const std::string& region) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(const RegionProcess* p, cluster_->Find(region));
  paused_.erase(region);
  if (cluster_->IsRunning(region) && kill(p->pid, SIGCONT) != 0) {
    return absl::InternalError("cannot SIGCONT " + region);
  }
  return absl::OkStatus();
}

absl::Status GrpcScenarioDriver::Wipe(const std::string& region) {
  absl::MutexLock l(&mu_);
  ASSIGN_OR_RETURN(const RegionProcess* p, cluster_->Find(region));
  if (cluster_->IsRunning(region)) {
    if (paused_.erase(region)) kill(p->pid, SIGCONT);
    RETURN_IF_ERROR(cluster_->Kill(region));
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    std::string path = absl::StrCat(p->data_dir, "/region.db", suffix);
    if (unlink(path.c_str()) != 0 && errno != ENOENT)
      return absl::InternalError(absl::StrCat("cannot delete ", path));
  }
  cluster_->MarkRejoin(region);
  return absl::OkStatus();
}

absl::Status GrpcScenarioDriver::SetBlocked(const std::string& origin, const std::string& receiver,
                                            bool blocked) {
  {
    absl::MutexLock l(&mu_);
    if (blocked) {
      blocked_.insert({origin, receiver});
    } else {
      blocked_.erase({origin, receiver});
    }
    RETURN_IF_ERROR(SaveCluster());
    if (!cluster_->IsRunning(receiver) || paused_.count(receiver)) return absl::OkStatus();
  }
  pb::SetBlockedRequest req;
  req.set_peer(origin);
  req.set_blocked(blocked);
  pb::SetBlockedResponse resp;
  return FromGrpc(For(receiver).admin->SetBlocked(Ctx(absl::Seconds(5), true).get(), req, &resp));
}

absl::Status GrpcScenarioDriver::SetClockSkew(const std::string& region, int64_t skew_us) {
  if (skew_us > kMaxClockSkewUs || skew_us < -kMaxClockSkewUs) {
    return absl::InvalidArgumentError(
        absl::StrCat("clock skew ", skew_us, "us for ", region, " is beyond gtsim's 1h bound"));
  }
  {
    absl::MutexLock l(&mu_);
    cluster_->SetClockSkew(region, skew_us);
    RETURN_IF_ERROR(cluster_->Save());
    if (!cluster_->IsRunning(region) || paused_.count(region)) return absl::OkStatus();
  }
  pb::SetClockSkewRequest req;
  req.set_skew_us(skew_us);
  pb::SetClockSkewResponse resp;
  return FromGrpc(For(region).admin->SetClockSkew(Ctx(absl::Seconds(5), true).get(), req, &resp));
}

absl::Status GrpcScenarioDriver::SetLink(const std::string& origin, const std::string& receiver,
                                         const LinkDelay& link) {
  {
    absl::MutexLock l(&mu_);
    cluster_->SetLink(origin, receiver, link);
    RETURN_IF_ERROR(cluster_->Save());
    if (!cluster_->IsRunning(receiver) || paused_.count(receiver)) return absl::OkStatus();
  }
  pb::SetLinkDelayRequest req;
  req.set_origin(origin);
  req.set_delay_us(link.delay_us);
  req.set_jitter_us(link.jitter_us);
  req.set_distribution(LinkDistributionName(link.distribution));
  req.set_loss(link.loss);
  req.set_bandwidth_bytes_per_s(link.bandwidth_bytes_per_s);
  pb::SetLinkDelayResponse resp;
  return FromGrpc(For(receiver).admin->SetLinkDelay(Ctx(absl::Seconds(5), true).get(), req, &resp));
}

absl::StatusOr<RegionStatus> GrpcScenarioDriver::Status(const std::string& region,
                                                        absl::Duration timeout) {
  pb::StatusResponse resp;
  RETURN_IF_ERROR(FromGrpc(For(region).admin->Status(Ctx(timeout).get(), {}, &resp)));
  RegionStatus s;
  s.region = resp.region();
  s.head_seq = resp.head_seq();
  s.clock_skew_us = resp.clock_skew_us();
  for (const auto& in : resp.inbound()) {
    InboundStatus i;
    i.origin = in.origin();
    i.applied_seq = in.applied_seq();
    i.connected = in.connected();
    i.blocked = in.blocked();
    i.latency.samples = in.latency().samples();
    i.latency.p50_ms = in.latency().p50_ms();
    i.latency.p90_ms = in.latency().p90_ms();
    i.latency.p99_ms = in.latency().p99_ms();
    i.latency.max_ms = in.latency().max_ms();
    i.latency_1s.samples = in.latency_1s().samples();
    i.latency_1s.p50_ms = in.latency_1s().p50_ms();
    i.latency_1s.p90_ms = in.latency_1s().p90_ms();
    i.latency_1s.p99_ms = in.latency_1s().p99_ms();
    i.latency_1s.max_ms = in.latency_1s().max_ms();
    i.applied_changes = in.applied_changes();
    i.origin_head = in.origin_head();
    s.inbound.push_back(i);
  }
  for (const auto& out : resp.outbound()) {
    OutboundStatus o{out.peer(), out.acked_seq(), out.pending()};
    o.lag.pending = out.pending();
    o.lag.freshness = {out.staleness_us(), out.replicated_time_us(), out.staleness_at_most()};
    for (const auto& t : out.tables()) {
      o.lag.tables.push_back(
          {t.table(), t.pending(),
           Freshness{t.staleness_us(), t.replicated_time_us(), t.staleness_at_most()}});
    }
    s.outbound.push_back(std::move(o));
  }
  return s;
}

absl::Status GrpcScenarioDriver::StopAll() {
  absl::MutexLock l(&mu_);
  for (const auto& r : paused_) {
    auto p = cluster_->Find(r);
    if (p.ok() && cluster_->IsRunning(r)) kill((*p)->pid, SIGCONT);
  }
  paused_.clear();
  return cluster_->StopAll();
}

}  // namespace gtsim
