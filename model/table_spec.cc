#include "model/table_spec.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace gtsim {
namespace {

ValueType TypeFromName(const std::string& s, bool* ok) {
  *ok = true;
  if (s == "S") return ValueType::kS;
  if (s == "N") return ValueType::kN;
  if (s == "B") return ValueType::kB;
  *ok = false;
  return ValueType::kS;
}

}  // namespace

bool TableSpec::HasReplica(const std::string& region) const {
  return std::binary_search(replicas.begin(), replicas.end(), region);
}

std::string TableSpec::ReplicaStatus(const std::string& region) const {
  if (!HasReplica(region)) return "";
  auto it = replica_status.find(region);
  return it == replica_status.end() ? "ACTIVE" : it->second;
}

bool TableSpec::Receives(const std::string& region) const {
  return ReplicaStatus(region) == "ACTIVE";
}

std::string TableSpec::TableStatus() const {
  return replica_status.empty() ? "ACTIVE" : "UPDATING";
}

ReplicaMembership TableSpec::MembershipOf(const std::string& region) const {
  auto it = membership.find(region);
  if (it != membership.end()) return it->second;
  if (HasReplica(region)) return ReplicaMembership{created, {}};
  return {};
}

void TableSpec::SetReplicaStatus(const std::string& region, const std::string& status) {
  auto at = std::lower_bound(replicas.begin(), replicas.end(), region);
  const bool listed = at != replicas.end() && *at == region;
  if (status.empty()) {
    if (listed) replicas.erase(at);
    replica_status.erase(region);
    replica_progress.erase(region);
    return;
  }
  if (!listed) replicas.insert(at, region);
  if (status == "ACTIVE") {
    replica_status.erase(region);
    replica_progress.erase(region);
  } else {
    replica_status[region] = status;
    if (status != "CREATING") replica_progress.erase(region);
  }
}

namespace {
template <typename T>
void TakeNewer(T* mine, const T& theirs) {
  if (mine->stamp < theirs.stamp) *mine = theirs;
}
nlohmann::json StampJson(const Stamp& s) { return {s.ts_us, s.region}; }
Stamp StampFrom(const nlohmann::json& j) {
  return Stamp{j.at(0).get<int64_t>(), j.at(1).get<std::string>()};
}

bool Older(const ReplicaMembership& a, const ReplicaMembership& b) {
  return a.changed < b.changed || (a.changed == b.changed && a.step < b.step);
}

}  // namespace

TableSpec MergeTableSpecs(const TableSpec& local, const TableSpec& incoming) {
  TableSpec out = local;
  std::set<std::string> regions(local.replicas.begin(), local.replicas.end());
  regions.insert(incoming.replicas.begin(), incoming.replicas.end());
  for (const auto& [r, m] : local.membership) regions.insert(r);
  for (const auto& [r, m] : incoming.membership) regions.insert(r);
  for (const auto& r : regions) {
    const ReplicaMembership mine = local.MembershipOf(r), theirs = incoming.MembershipOf(r);
    const bool take = Older(mine, theirs);
    const TableSpec& from = take ? incoming : local;
    out.SetReplicaStatus(r, from.ReplicaStatus(r));
    if (auto p = from.replica_progress.find(r); p != from.replica_progress.end()) {
      out.replica_progress[r] = p->second;
    } else {
      out.replica_progress.erase(r);
    }
    // Explicit entries only: a listed region without one keeps dating from `created`.
    if (auto m = from.membership.find(r); m != from.membership.end()) {
      out.membership[r] = m->second;
    } else {
      out.membership.erase(r);
    }
  }
  for (const auto& [r, at] : incoming.sourced_at_us) {
    int64_t& mine = out.sourced_at_us[r];
    mine = std::max(mine, at);
  }
  out.updated = std::max(local.updated, incoming.updated);
  TakeNewer(&out.billing, incoming.billing);
  TakeNewer(&out.sse, incoming.sse);
  TakeNewer(&out.ttl, incoming.ttl);
  TakeNewer(&out.stream, incoming.stream);
  TakeNewer(&out.warm, incoming.warm);
  TakeNewer(&out.on_demand, incoming.on_demand);
  for (const auto& [region, rs] : incoming.replica_settings) {
    TakeNewer(&out.replica_settings[region], rs);
  }
  for (const auto& [name, g] : incoming.gsis) {
    auto mine = out.gsis.find(name);
    if (mine == out.gsis.end() ||
        std::tie(mine->second.created, mine->second.deleted, mine->second.stamp) <
            std::tie(g.created, g.deleted, g.stamp)) {
      out.gsis[name] = g;
    }
  }
  return out;
}

int64_t NewestStampUs(const TableSpec& spec) {
  int64_t newest = std::max({spec.created.ts_us, spec.updated.ts_us, spec.billing.stamp.ts_us,
                             spec.sse.stamp.ts_us, spec.ttl.stamp.ts_us, spec.stream.stamp.ts_us,
                             spec.warm.stamp.ts_us, spec.on_demand.stamp.ts_us});
  for (const auto& [region, settings] : spec.replica_settings) {
    newest = std::max(newest, settings.stamp.ts_us);
  }
  for (const auto& [name, gsi] : spec.gsis) newest = std::max(newest, gsi.stamp.ts_us);
  for (const auto& [region, m] : spec.membership) {
    newest = std::max({newest, m.changed.ts_us, m.step.ts_us});
  }
  return newest;
}

bool SameDefinition(const TableSpec& a, const TableSpec& b) {
  return EncodeTableSpec(a) == EncodeTableSpec(b);
}

bool SameContent(const TableSpec& a, const TableSpec& b) {
  TableSpec x = a, y = b;
  x.updated = y.updated = Stamp{};
  return SameDefinition(x, y);
}

std::string EncodeTableSpec(const TableSpec& spec) {
  nlohmann::json j;
  j["name"] = spec.name;
  j["hash"] = {spec.hash_key.name, ValueTypeName(spec.hash_key.type)};
  if (spec.range_key) j["range"] = {spec.range_key->name, ValueTypeName(spec.range_key->type)};
  j["replicas"] = spec.replicas;
  j["created_us"] = spec.created.ts_us;
  j["created_by"] = spec.created.region;
  if (!spec.replica_status.empty()) j["replica_status"] = spec.replica_status;
  if (!spec.updated.empty()) {
    j["updated_us"] = spec.updated.ts_us;
    j["updated_by"] = spec.updated.region;
  }
  if (!spec.billing.stamp.empty()) {
    j["billing"] = {{"mode", spec.billing.mode},
                    {"rcu", spec.billing.read_capacity},
                    {"wcu", spec.billing.write_capacity},
                    {"stamp", StampJson(spec.billing.stamp)}};
  }
  if (!spec.sse.stamp.empty()) {
    j["sse"] = {{"type", spec.sse.type}, {"stamp", StampJson(spec.sse.stamp)}};
  }
  if (!spec.ttl.stamp.empty()) {
    j["ttl"] = {{"enabled", spec.ttl.enabled},
                {"attribute", spec.ttl.attribute},
                {"stamp", StampJson(spec.ttl.stamp)}};
  }
  if (!spec.stream.stamp.empty()) {
    j["stream"] = {{"enabled", spec.stream.enabled},
                   {"view", spec.stream.view_type},
                   {"stamp", StampJson(spec.stream.stamp)}};
    if (spec.stream.since_us) j["stream"]["since_us"] = spec.stream.since_us;
    if (!spec.stream.past.empty()) j["stream"]["past"] = spec.stream.past;
  }
  if (!spec.warm.stamp.empty()) {
    j["warm"] = {{"read", spec.warm.read_units},
                 {"write", spec.warm.write_units},
                 {"stamp", StampJson(spec.warm.stamp)}};
  }
  if (!spec.on_demand.stamp.empty()) {
    j["on_demand"] = {{"read", spec.on_demand.max_read},
                      {"write", spec.on_demand.max_write},
                      {"stamp", StampJson(spec.on_demand.stamp)}};
  }
  if (!spec.sourced_at_us.empty()) j["sourced_at_us"] = spec.sourced_at_us;
  if (!spec.replica_progress.empty()) j["replica_progress"] = spec.replica_progress;
  for (const auto& [region, m] : spec.membership) {
    j["membership"][region] = {StampJson(m.changed), StampJson(m.step)};
  }
  for (const auto& [region, rs] : spec.replica_settings) {
    j["replica_settings"][region] = {
        {"protect", rs.deletion_protection}, {"kms", rs.kms_key},
        {"class", rs.table_class},           {"rcu", rs.read_capacity_override},
        {"pitr", rs.point_in_time_recovery}, {"stamp", StampJson(rs.stamp)}};
    if (rs.pitr_since_us) j["replica_settings"][region]["pitr_since_us"] = rs.pitr_since_us;
    if (!rs.tags.empty()) j["replica_settings"][region]["tags"] = rs.tags;
  }
  for (const auto& [name, g] : spec.gsis) {
    nlohmann::json gj = {{"hash", {g.hash_key.name, ValueTypeName(g.hash_key.type)}},
                         {"projection", g.projection},
                         {"non_key", g.non_key},
                         {"deleted", g.deleted},
                         {"stamp", StampJson(g.stamp)}};
    if (!g.created.empty()) gj["created"] = StampJson(g.created);
    if (g.local) gj["local"] = true;
    if (g.warm_read || g.warm_write) gj["warm"] = {g.warm_read, g.warm_write};
    if (g.max_read != -1 || g.max_write != -1) gj["on_demand"] = {g.max_read, g.max_write};
    if (g.range_key) gj["range"] = {g.range_key->name, ValueTypeName(g.range_key->type)};
    j["gsis"][name] = gj;
  }
  return j.dump();
}

absl::StatusOr<TableSpec> DecodeTableSpec(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError("stored table definition is corrupt");
  }
  try {
    TableSpec spec;
    bool ok1 = true, ok2 = true;
    spec.name = j.at("name").get<std::string>();
    spec.hash_key = {j.at("hash").at(0).get<std::string>(),
                     TypeFromName(j.at("hash").at(1).get<std::string>(), &ok1)};
    if (j.contains("range")) {
      spec.range_key = KeyDef{j["range"].at(0).get<std::string>(),
                              TypeFromName(j["range"].at(1).get<std::string>(), &ok2)};
    }
    spec.replicas = j.at("replicas").get<std::vector<std::string>>();
    spec.created = Stamp{j.at("created_us").get<int64_t>(), j.at("created_by").get<std::string>()};
    if (j.contains("replica_status")) {
      spec.replica_status = j["replica_status"].get<std::map<std::string, std::string>>();
    }
    if (j.contains("updated_us")) {
      spec.updated = Stamp{j["updated_us"].get<int64_t>(), j.at("updated_by").get<std::string>()};
    }
    if (j.contains("billing")) {
      const auto& b = j["billing"];
      spec.billing = BillingSetting{b.at("mode").get<std::string>(), b.at("rcu").get<int64_t>(),
                                    b.at("wcu").get<int64_t>(), StampFrom(b.at("stamp"))};
    }
    if (j.contains("sse")) {
      spec.sse =
          SseSetting{j["sse"].at("type").get<std::string>(), StampFrom(j["sse"].at("stamp"))};
    }
    if (j.contains("ttl")) {
      const auto& t = j["ttl"];
      spec.ttl = TtlSetting{t.at("enabled").get<bool>(), t.at("attribute").get<std::string>(),
                            StampFrom(t.at("stamp"))};
    }
    if (j.contains("stream")) {
      const auto& t = j["stream"];
      spec.stream = StreamSetting{t.at("enabled").get<bool>(), t.at("view").get<std::string>(),
                                  StampFrom(t.at("stamp"))};
      spec.stream.since_us = t.value("since_us", int64_t{0});
      if (t.contains("past")) {
        spec.stream.past = t["past"].get<std::vector<std::pair<int64_t, int64_t>>>();
      }
    }
    if (j.contains("warm")) {
      const auto& w = j["warm"];
      spec.warm = WarmSetting{w.at("read").get<int64_t>(), w.at("write").get<int64_t>(),
                              StampFrom(w.at("stamp"))};
    }
    if (j.contains("on_demand")) {
      const auto& o = j["on_demand"];
      spec.on_demand = OnDemandSetting{o.at("read").get<int64_t>(), o.at("write").get<int64_t>(),
                                       StampFrom(o.at("stamp"))};
    }
    if (j.contains("replica_progress")) {
      spec.replica_progress = j["replica_progress"].get<std::map<std::string, int>>();
    }
    if (j.contains("membership")) {
      for (const auto& [region, m] : j["membership"].items()) {
        spec.membership[region] = ReplicaMembership{StampFrom(m.at(0)), StampFrom(m.at(1))};
      }
    }
    if (j.contains("sourced_at_us")) {
      spec.sourced_at_us = j["sourced_at_us"].get<std::map<std::string, int64_t>>();
    }
    if (j.contains("replica_settings")) {
      for (const auto& [region, r] : j["replica_settings"].items()) {
        spec.replica_settings[region] =
            ReplicaSettings{r.at("protect").get<bool>(),      r.at("kms").get<std::string>(),
                            r.at("class").get<std::string>(), r.at("rcu").get<int64_t>(),
                            r.at("pitr").get<bool>(),         StampFrom(r.at("stamp"))};
        ReplicaSettings& rs = spec.replica_settings[region];
        rs.pitr_since_us = r.value("pitr_since_us", int64_t{0});
        if (r.contains("tags")) rs.tags = r["tags"].get<std::map<std::string, std::string>>();
      }
    }
    if (j.contains("gsis")) {
      for (const auto& [name, g] : j["gsis"].items()) {
        GsiSetting gs;
        bool ok = true;
        gs.hash_key = {g.at("hash").at(0).get<std::string>(),
                       TypeFromName(g.at("hash").at(1).get<std::string>(), &ok)};
        if (g.contains("range")) {
          gs.range_key = KeyDef{g["range"].at(0).get<std::string>(),
                                TypeFromName(g["range"].at(1).get<std::string>(), &ok)};
        }
        gs.projection = g.at("projection").get<std::string>();
        gs.non_key = g.at("non_key").get<std::vector<std::string>>();
        gs.deleted = g.at("deleted").get<bool>();
        gs.stamp = StampFrom(g.at("stamp"));
        if (g.contains("created")) gs.created = StampFrom(g["created"]);
        gs.local = g.value("local", false);
        if (g.contains("warm")) {
          gs.warm_read = g["warm"].at(0).get<int64_t>();
          gs.warm_write = g["warm"].at(1).get<int64_t>();
        }
        if (g.contains("on_demand")) {
          gs.max_read = g["on_demand"].at(0).get<int64_t>();
          gs.max_write = g["on_demand"].at(1).get<int64_t>();
        }
        ok2 = ok2 && ok;
        spec.gsis[name] = std::move(gs);
      }
    }
    if (!ok1 || !ok2) return absl::DataLossError("stored table definition has a bad key type");
    return spec;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("stored table definition is corrupt: ", e.what()));
  }
}

absl::StatusOr<KeyDef> ParseKeyDef(const std::string& text) {
  auto colon = text.rfind(':');
  bool ok = false;
  KeyDef def;
  if (colon != std::string::npos && colon > 0) {
    def.name = text.substr(0, colon);
    def.type = TypeFromName(text.substr(colon + 1), &ok);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key definition \"", text, "\" must be NAME:TYPE with TYPE S, N or B, e.g. orderId:S"));
  }
  return def;
}

namespace {
WarmUnits BaseWarmThroughput(const TableSpec& spec) {
  if (spec.billing.mode == "PROVISIONED") {
    return {spec.billing.read_capacity, spec.billing.write_capacity};
  }
  return {12000, 4000};
}
}  // namespace

WarmUnits TableWarmThroughput(const TableSpec& spec) {
  WarmUnits base = BaseWarmThroughput(spec);
  return {std::max(base.read, spec.warm.read_units), std::max(base.write, spec.warm.write_units)};
}

bool ReadsMetered(const TableSpec& spec) {
  return spec.billing.mode == "PROVISIONED" || spec.on_demand.max_read > 0;
}
bool WritesMetered(const TableSpec& spec) {
  return spec.billing.mode == "PROVISIONED" || spec.on_demand.max_write > 0;
}

WarmUnits IndexWarmThroughput(const TableSpec& spec, const GsiSetting& g) {
  WarmUnits base = BaseWarmThroughput(spec);
  return {std::max(base.read, g.warm_read), std::max(base.write, g.warm_write)};
}

StreamSetting NextStreamSetting(const StreamSetting& before, bool enabled, const std::string& view,
                                const Stamp& stamp) {
  StreamSetting next = before;
  const bool was_disabled = !before.stamp.empty() && !before.enabled;
  if (enabled && was_disabled) {
    next.past.emplace_back(before.since_us, before.stamp.ts_us);
    next.since_us = stamp.ts_us;
  }
  next.enabled = enabled;
  next.view_type = enabled ? view : "";
  next.stamp = stamp;
  return next;
}

int64_t StreamLabelUs(const TableSpec& spec) {
  return spec.stream.since_us ? spec.stream.since_us : spec.created.ts_us;
}

std::string StreamViewTypeOf(const TableSpec& spec) {
  return spec.stream.enabled && !spec.stream.view_type.empty() ? spec.stream.view_type
                                                               : "NEW_AND_OLD_IMAGES";
}

}  // namespace gtsim
