// ARNs, stream names and TableDescription JSON (see ddb_describe.h).

#include "region/ddb_describe.h"

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace gtsim::ddb {

// Every table's stream is this region's change log filtered to the table's current incarnation,
// with one shard. Its label is the table's creation time, so a table deleted and created again
// gets a new stream ARN and iterators of the old one fail with ResourceNotFoundException.

uint64_t Fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string LabelAt(int64_t us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3S", absl::FromUnixMicros(us), absl::UTCTimeZone());
}
std::string StreamLabel(const TableSpec& spec) { return LabelAt(StreamLabelUs(spec)); }

std::vector<StreamPeriod> StreamsOf(const TableSpec& spec) {
  std::vector<StreamPeriod> out;
  for (const auto& [since, ended] : spec.stream.past) {
    out.push_back({LabelAt(since ? since : spec.created.ts_us), since, ended, false});
  }
  out.push_back({StreamLabel(spec), spec.stream.since_us,
                 StreamDisabled(spec) ? spec.stream.stamp.ts_us : 0, !StreamDisabled(spec)});
  return out;
}

std::string StreamArnAt(const std::string& region, const TableSpec& spec,
                        const std::string& label) {
  return absl::StrCat(TableArn(region, spec.name), "/stream/", label);
}
std::string TableArn(const std::string& region, const std::string& table) {
  return absl::StrCat("arn:aws:dynamodb:", region, ":000000000000:table/", table);
}
std::string StreamArn(const std::string& region, const TableSpec& spec) {
  return StreamArnAt(region, spec, StreamLabel(spec));
}
std::string ShardId(const TableSpec& spec) {
  std::string ts = std::to_string(spec.created.ts_us);
  if (ts.size() < 20) ts.insert(0, 20 - ts.size(), '0');
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08x",
                static_cast<unsigned>(Fnv1a(spec.name + "/" + spec.created.region) & 0xffffffffu));
  return absl::StrCat("shardId-", ts, "-", hex);
}
// Stream sequence numbers are change-log positions, zero-padded to DynamoDB's 21 digits.
std::string SequenceNumber(int64_t seq) {
  std::string n = std::to_string(seq);
  if (n.size() < 21) n.insert(0, 21 - n.size(), '0');
  return n;
}

// The stream view type of a table: its StreamSpecification's, or NEW_AND_OLD_IMAGES (what
// gtsim's change log always serves) for a table whose stream was never enabled explicitly.
std::string StreamViewOf(const TableSpec& spec) { return StreamViewTypeOf(spec); }

bool StreamDisabled(const TableSpec& spec) {
  return !spec.stream.stamp.empty() && !spec.stream.enabled;
}

json KeySchemaJson(const KeyDef& hash, const std::optional<KeyDef>& range) {
  json ks = json::array();
  ks.push_back({{"AttributeName", hash.name}, {"KeyType", "HASH"}});
  if (range) ks.push_back({{"AttributeName", range->name}, {"KeyType", "RANGE"}});
  return ks;
}

// WarmThroughput of a table or index whose status is `status`: DynamoDB's defaults for an
// on-demand table (12,000 read and 4,000 write units per second), a PROVISIONED table's
// capacity, and the status of the table or index (ACTIVE once it is ACTIVE), which the
// Terraform provider (>= 6.13) waits for.
static json WarmThroughputJson(const WarmUnits& units, const std::string& status) {
  return {
      {"ReadUnitsPerSecond", units.read}, {"WriteUnitsPerSecond", units.write}, {"Status", status}};
}
// OnDemandThroughput of a PAY_PER_REQUEST table or index: -1 where there is no limit.
static json OnDemandJson(int64_t max_read, int64_t max_write) {
  return {{"MaxReadRequestUnits", max_read > 0 ? max_read : -1},
          {"MaxWriteRequestUnits", max_write > 0 ? max_write : -1}};
}

// (DELETING); by default it is the spec's (UPDATING while a replica is added or removed).
json TableDescription(const TableInfo& info, const std::string& region, const char* status) {
  const TableSpec& spec = info.spec;
  std::map<std::string, ValueType> attr_types{{spec.hash_key.name, spec.hash_key.type}};
  if (spec.range_key) attr_types[spec.range_key->name] = spec.range_key->type;
  json gsis = json::array();
  json lsis = json::array();
  for (const auto& [name, g] : spec.gsis) {
    if (g.deleted) continue;
    auto stats_it = info.index_stats.find(name);
    const Storage::ItemStats stats =
        stats_it == info.index_stats.end() ? Storage::ItemStats{} : stats_it->second;
    attr_types[g.hash_key.name] = g.hash_key.type;
    if (g.range_key) attr_types[g.range_key->name] = g.range_key->type;
    json projection = {{"ProjectionType", g.projection}};
    if (!g.non_key.empty()) projection["NonKeyAttributes"] = g.non_key;
    if (g.local) {
      lsis.push_back({{"IndexName", name},
                      {"KeySchema", KeySchemaJson(g.hash_key, g.range_key)},
                      {"Projection", projection},
                      {"IndexSizeBytes", stats.bytes},
                      {"ItemCount", stats.items},
                      {"IndexArn", absl::StrCat(TableArn(region, spec.name), "/index/", name)}});
      continue;
    }
    auto st = info.index_status.find(name);
    std::string index_status = st == info.index_status.end() ? "ACTIVE" : st->second;
    json d = {{"IndexName", name},
              {"KeySchema", KeySchemaJson(g.hash_key, g.range_key)},
              {"Projection", projection},
              {"IndexStatus", index_status},
              {"ProvisionedThroughput",
               {{"NumberOfDecreasesToday", 0},
                {"ReadCapacityUnits", spec.billing.read_capacity},
                {"WriteCapacityUnits", spec.billing.write_capacity}}},
              {"IndexSizeBytes", stats.bytes},
              {"ItemCount", stats.items},
              {"IndexArn", absl::StrCat(TableArn(region, spec.name), "/index/", name)}};
    if (index_status == "CREATING") d["Backfilling"] = true;
    d["WarmThroughput"] = WarmThroughputJson(IndexWarmThroughput(spec, g), index_status);
    if (spec.billing.mode == "PAY_PER_REQUEST") {
      d["OnDemandThroughput"] = OnDemandJson(g.max_read, g.max_write);
    }
    gsis.push_back(std::move(d));
  }
  json attrs = json::array();
  for (const auto& [name, type] : attr_types) {
    attrs.push_back({{"AttributeName", name}, {"AttributeType", ValueTypeName(type)}});
  }
  std::string table_status = status ? status : spec.TableStatus();
  if (!status && spec.ReplicaStatus(region) == "CREATING") table_status = "CREATING";
  if (!status && info.restore && info.restore->in_progress) table_status = "CREATING";
  json table = {
      {"TableName", spec.name},
      {"TableArn", TableArn(region, spec.name)},
      {"TableId", absl::StrCat(spec.created.region, "-", spec.created.ts_us)},
      {"TableStatus", table_status},
      {"KeySchema", KeySchemaJson(spec.hash_key, spec.range_key)},
      {"AttributeDefinitions", attrs},
      {"ItemCount", info.item_count},
      // The live items' stored size, kept exact by every write (Storage::ItemStatsOf); DynamoDB
      // updates its figure about every six hours and counts attribute names and values.
      {"TableSizeBytes", info.item_bytes},
      {"CreationDateTime", static_cast<double>(spec.created.ts_us) / 1e6},
      {"ProvisionedThroughput",
       {{"NumberOfDecreasesToday", 0},
        {"ReadCapacityUnits", spec.billing.read_capacity},
        {"WriteCapacityUnits", spec.billing.write_capacity}}},
      {"BillingModeSummary", {{"BillingMode", spec.billing.mode}}},
      {"LatestStreamArn", StreamArn(region, spec)},
      {"LatestStreamLabel", StreamLabel(spec)},
  };
  if (!StreamDisabled(spec)) {
    table["StreamSpecification"] = {{"StreamEnabled", true},
                                    {"StreamViewType", StreamViewOf(spec)}};
  }
  if (info.restore) {  // a table made by RestoreTableToPointInTime
    table["RestoreSummary"] = {
        {"SourceTableArn", TableArn(region, info.restore->source_table)},
        {"RestoreDateTime", static_cast<double>(info.restore->restore_us) / 1e6},
        {"RestoreInProgress", info.restore->in_progress}};
  }
  if (!gsis.empty()) table["GlobalSecondaryIndexes"] = std::move(gsis);
  if (!lsis.empty()) table["LocalSecondaryIndexes"] = std::move(lsis);
  table["WarmThroughput"] = WarmThroughputJson(TableWarmThroughput(spec), table_status);
  if (spec.billing.mode == "PAY_PER_REQUEST") {
    table["OnDemandThroughput"] = OnDemandJson(spec.on_demand.max_read, spec.on_demand.max_write);
  }
  bool deletion_protection = false;
  if (auto rs = spec.replica_settings.find(region); rs != spec.replica_settings.end()) {
    deletion_protection = rs->second.deletion_protection;
    if (!rs->second.table_class.empty()) {
      table["TableClassSummary"] = {{"TableClass", rs->second.table_class}};
    }
  }
  table["DeletionProtectionEnabled"] = deletion_protection;
  if (!spec.sse.type.empty()) {
    json sse = {{"Status", "ENABLED"}, {"SSEType", spec.sse.type}};
    if (spec.sse.type == "KMS") {
      std::string key = "alias/aws/dynamodb";
      if (auto rs = spec.replica_settings.find(region);
          rs != spec.replica_settings.end() && !rs->second.kms_key.empty()) {
        key = rs->second.kms_key;
      }
      sse["KMSMasterKeyArn"] = absl::StartsWith(key, "arn:")
                                   ? key
                                   : absl::StrCat("arn:aws:kms:", region, ":000000000000:", key);
    }
    table["SSEDescription"] = sse;
  }
  if (spec.replicas.size() > 1) {
    json replicas = json::array();
    for (const auto& r : spec.replicas) {
      if (r == region) continue;
      json d = {{"RegionName", r}, {"ReplicaStatus", spec.ReplicaStatus(r)}};
      if (auto it = info.replica_progress.find(r); it != info.replica_progress.end()) {
        d["ReplicaStatusPercentProgress"] = std::to_string(it->second);
      }
      if (auto rs = spec.replica_settings.find(r); rs != spec.replica_settings.end()) {
        if (!rs->second.table_class.empty()) {
          d["ReplicaTableClassSummary"] = {{"TableClass", rs->second.table_class}};
        }
        if (rs->second.read_capacity_override > 0) {
          d["ProvisionedThroughputOverride"] = {
              {"ReadCapacityUnits", rs->second.read_capacity_override}};
        }
        if (!rs->second.kms_key.empty()) d["KMSMasterKeyId"] = rs->second.kms_key;
      }
      replicas.push_back(std::move(d));
    }
    table["Replicas"] = replicas;
    table["GlobalTableVersion"] = "2019.11.21";
    table["MultiRegionConsistency"] = "EVENTUAL";
  }
  return table;
}

}  // namespace gtsim::ddb
