#include "engine/table_engine.h"

#include <algorithm>
#include <cstdlib>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "model/key_codec.h"
#include "model/planted_bug.h"
#include "model/status_macros.h"

namespace gtsim {
namespace {

// Whether an encoded range key satisfies a query's range condition.
bool WithinBounds(const Storage::RangeBounds& b, const std::string& v) {
  if (b.lower && (b.lower_inclusive ? v < *b.lower : v <= *b.lower)) return false;
  if (b.upper && (b.upper_inclusive ? v > *b.upper : v >= *b.upper)) return false;
  return true;
}

absl::Status StartOutsideRange() {
  return absl::InvalidArgumentError(
      "the exclusive start key does not match the range key condition: its range key value "
      "must satisfy the query's condition");
}

constexpr int64_t kMaxItemBytes = 400 * 1024;
constexpr size_t kMaxHashKeyBytes = 2048;
constexpr size_t kMaxRangeKeyBytes = 1024;
// DynamoDB's limit on maps and lists nested in each other. It also keeps every stored item
// within what DecodeItem accepts, so nothing acknowledged becomes unreadable.
constexpr int kMaxNestingLevels = 32;

// How many maps and lists are nested in each other in `v` (0 for a scalar or a set).
int NestingLevels(const AttributeValue& v) {
  int deepest = 0;
  if (v.type() == ValueType::kM) {
    for (const auto& [name, e] : v.map()) deepest = std::max(deepest, NestingLevels(e));
  } else if (v.type() == ValueType::kL) {
    for (const auto& e : v.list()) deepest = std::max(deepest, NestingLevels(e));
  } else {
    return 0;
  }
  return deepest + 1;
}

std::string KeySchemaText(const TableSpec& spec) {
  std::string s = absl::StrCat(spec.hash_key.name, ":", ValueTypeName(spec.hash_key.type));
  if (spec.range_key) {
    absl::StrAppend(&s, ", ", spec.range_key->name, ":", ValueTypeName(spec.range_key->type));
  }
  return s;
}

absl::Status CheckKeyValue(const KeyDef& def, const Item& item, size_t max_bytes,
                           const TableSpec& spec) {
  auto it = item.find(def.name);
  if (it == item.end()) {
    return absl::InvalidArgumentError(absl::StrCat("missing the key attribute \"", def.name,
                                                   "\" (table ", spec.name, " has key ",
                                                   KeySchemaText(spec), ")"));
  }
  if (it->second.type() != def.type) {
    return absl::InvalidArgumentError(
        absl::StrCat("key attribute \"", def.name, "\" must be of type ", ValueTypeName(def.type),
                     ", not ", ValueTypeName(it->second.type()), " (table ", spec.name, " has key ",
                     KeySchemaText(spec), ")"));
  }
  if (def.type != ValueType::kN && it->second.scalar().empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("key attribute \"", def.name, "\" must not be empty"));
  }
  if (it->second.scalar().size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("key attribute \"", def.name, "\" is longer than ", max_bytes, " bytes"));
  }
  return absl::OkStatus();
}

// DynamoDB asks for at least 3 characters; the native API accepts shorter names so lessons can
// say `--table t` (the DynamoDB-compatible endpoint applies AWS's rule).
bool ValidTableName(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
  });
}

}  // namespace

TableEngine::TableEngine(std::string region, std::vector<std::string> regions, Storage* storage,
                         Clock* clock)
    : region_(std::move(region)), regions_(std::move(regions)), storage_(storage), clock_(clock) {
  std::sort(regions_.begin(), regions_.end());
}

absl::Status TableEngine::Load() {
  tables_.clear();
  ASSIGN_OR_RETURN(auto rows, storage_->LoadTables());
  backfill_.clear();
  for (auto& row : rows) {
    std::string name = row.spec.name;
    tables_[name] = TableState{row.id, std::move(row.spec), row.deleted};
    RETURN_IF_ERROR(SyncIndexes(tables_[name]));
  }
  ASSIGN_OR_RETURN(bootstraps_, storage_->LoadBootstraps());
  // Stamps must keep increasing across restarts, even if the clock went back meanwhile.
  ASSIGN_OR_RETURN(int64_t last, storage_->LastLocalTimestamp());
  last_stamp_us_ = std::max(last_stamp_us_, last);
  return LoadRestores();
}

Stamp TableEngine::NextStamp() {
  last_stamp_us_ = std::max(clock_->NowMicros() + skew_us_, last_stamp_us_ + 1);
  return Stamp{last_stamp_us_, region_};
}

int64_t TableEngine::StampFloor() {
  // NextStamp: the clock plus a skew of at least -kMaxClockSkewUs, and after the last stamp.
  return std::max(last_stamp_us_, clock_->NowMicros() - kMaxClockSkewUs);
}

int64_t TableEngine::TombstoneHorizon(const std::string& table) const {
  auto t = tables_.find(table);
  return t == tables_.end() ? 0 : storage_->TombstoneHorizon(t->second.id);
}

absl::StatusOr<int64_t> TableEngine::TrimTombstones(int64_t horizon, int max_rows) {
  int64_t trimmed = 0;
  for (auto& [name, t] : tables_) {
    if (trimmed >= max_rows) break;
    if (t.deleted || bootstraps_.count(name)) continue;
    // A source keeps its horizon while a replica may be loading its snapshot (ReadSnapshotRows
    // serves only a CREATING replica), so the first chunk's horizon covers every chunk.
    const bool all_active =
        std::all_of(t.spec.replicas.begin(), t.spec.replicas.end(),
                    [&](const auto& r) { return t.spec.ReplicaStatus(r) == "ACTIVE"; });
    if (!all_active || restores_.count(name)) continue;
    ASSIGN_OR_RETURN(int64_t n,
                     storage_->TrimTombstones(t.id, horizon, static_cast<int>(max_rows - trimmed)));
    trimmed += n;
  }
  return trimmed;
}

Stamp TableEngine::NextStampAfter(const Stamp& after) {
  last_stamp_us_ = std::max(last_stamp_us_, after.ts_us);
  return NextStamp();
}

absl::StatusOr<const TableEngine::TableState*> TableEngine::WritableTable(
    const std::string& table) const {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  if (auto r = RestoreSummaryOf(*t); r && r->in_progress) {
    return absl::NotFoundError(
        absl::StrCat("table ", table, " is still being restored (CREATING)"));
  }
  if (t->spec.ReplicaStatus(region_) == "CREATING") {
    int pct = 0;
    if (auto b = bootstraps_.find(table); b != bootstraps_.end() && b->second.total_rows > 0) {
      pct = static_cast<int>(100 * b->second.loaded_rows / b->second.total_rows);
    }
    return absl::UnavailableError(absl::StrCat(
        "the replica of table ", table, " in ", region_, " is still CREATING (", pct,
        "% loaded from a snapshot); write to an ACTIVE replica (",
        absl::StrJoin(t->spec.replicas, ", "), ") or wait until DescribeTable shows it ACTIVE"));
  }
  return t;
}

absl::StatusOr<const TableEngine::TableState*> TableEngine::LiveTable(
    const std::string& table) const {
  auto it = tables_.find(table);
  if (it == tables_.end() || it->second.deleted) {
    return absl::NotFoundError(absl::StrCat("table ", table, " does not exist in region ", region_,
                                            " (list tables with: gtsim list-tables)"));
  }
  return &it->second;
}

absl::Status TableEngine::EncodeKeyOf(const TableSpec& spec, const Item& key, std::string* hk,
                                      std::string* rk) {
  RETURN_IF_ERROR(CheckKeyValue(spec.hash_key, key, kMaxHashKeyBytes, spec));
  size_t expected = 1;
  if (spec.range_key) {
    RETURN_IF_ERROR(CheckKeyValue(*spec.range_key, key, kMaxRangeKeyBytes, spec));
    expected = 2;
  }
  if (key.size() != expected) {
    for (const auto& [name, v] : key) {
      if (name != spec.hash_key.name && !(spec.range_key && name == spec.range_key->name)) {
        return absl::InvalidArgumentError(absl::StrCat("a key holds only the key attributes (",
                                                       KeySchemaText(spec), "); remove \"", name,
                                                       "\""));
      }
    }
  }
  *hk = EncodeHashKey(key.at(spec.hash_key.name));
  *rk = spec.range_key ? EncodeRangeKey(key.at(spec.range_key->name)) : std::string();
  return absl::OkStatus();
}

absl::Status TableEngine::EncodeKey(const TableState& t, const Item& key, std::string* hk,
                                    std::string* rk) const {
  return EncodeKeyOf(t.spec, key, hk, rk);
}

absl::Status TableEngine::ValidateItem(const TableState& t, const Item& item) const {
  RETURN_IF_ERROR(CheckKeyValue(t.spec.hash_key, item, kMaxHashKeyBytes, t.spec));
  if (t.spec.range_key) {
    RETURN_IF_ERROR(CheckKeyValue(*t.spec.range_key, item, kMaxRangeKeyBytes, t.spec));
  }
  int64_t size = ItemSize(item);
  if (size > kMaxItemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("item size ", size, " bytes exceeds DynamoDB's limit of 400 KB"));
  }
  for (const auto& [name, value] : item) {
    int levels = NestingLevels(value);
    if (levels > kMaxNestingLevels) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute \"", name, "\" nests maps and lists ", levels,
                       " levels deep; DynamoDB allows at most ", kMaxNestingLevels));
    }
  }
  return absl::OkStatus();
}

Item TableEngine::KeyOf(const TableState& t, const Item& item) const {
  Item key;
  key.emplace(t.spec.hash_key.name, item.at(t.spec.hash_key.name));
  if (t.spec.range_key) key.emplace(t.spec.range_key->name, item.at(t.spec.range_key->name));
  return key;
}

absl::Status TableEngine::CheckCondition(const Condition& cond,
                                         const std::optional<Item>& current) const {
  for (const auto& c : cond.clauses) {
    const AttributeValue* v = nullptr;
    if (current) {
      auto it = current->find(c.attribute);
      if (it != current->end()) v = &it->second;
    }
    bool ok = c.op == Condition::Op::kExists      ? v != nullptr
              : c.op == Condition::Op::kNotExists ? v == nullptr
                                                  : (v != nullptr && *v == c.value);
    if (!ok) {
      const char* why = c.op == Condition::Op::kExists      ? "does not exist"
                        : c.op == Condition::Op::kNotExists ? "exists"
                        : v == nullptr                      ? "does not exist"
                                                            : "has a different value";
      return absl::FailedPreconditionError(
          absl::StrCat("the conditional request failed: attribute \"", c.attribute, "\" ", why,
                       " in region ", region_, "'s copy of the item"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<Item>> TableEngine::LiveItemOf(
    const std::optional<Storage::ItemVersion>& stored) {
  if (!stored || !stored->item) return std::optional<Item>();
  ASSIGN_OR_RETURN(Item item, DecodeItem(*stored->item));
  return std::optional<Item>(std::move(item));
}

absl::StatusOr<WriteResult> TableEngine::CommitLocalWrite(
    const TableState& t, const std::string& hk, const std::string& rk, const Item& key,
    const std::optional<Storage::ItemVersion>& stored, std::optional<Item> current,
    std::optional<Item> item, bool service_delete) {
  // One write capacity unit per started KB of the larger of the item before and after (at
  // least 1, a delete of a missing item too), as DynamoDB counts. TTL deletes are free.
  WriteResult result;
  result.write_units =
      WriteUnits(std::max(current ? ItemSize(*current) : 0, item ? ItemSize(*item) : 0));
  result.index_write_units = IndexWriteUnits(t.spec, current, item);
  if (!service_delete) RETURN_IF_ERROR(ConsumeWriteCapacity(t, result.write_units));
  result.stamp = NextStamp();
  if (stored && !Supersedes(result.stamp, stored->stamp)) {
    // This region's clock is behind the stored version: LWW keeps the stored one.
    result.superseded_by = stored->stamp;
    return result;
  }
  if (!item && !current) return result;  // deleting an absent item changes nothing
  Storage::ItemVersion version;
  if (item) version.item = EncodeItem(*item);
  version.stamp = result.stamp;
  RETURN_IF_ERROR(storage_->PutItem(t.id, hk, rk, std::move(version)));
  Change c;
  c.kind = item ? ChangeKind::kPut : ChangeKind::kDelete;
  c.table = t.spec.name;
  c.table_created = t.spec.created;
  c.stamp = result.stamp;
  c.commit_true_us = clock_->NowMicros();
  c.key = key;
  c.new_image = std::move(item);
  c.old_image = std::move(current);
  c.service_delete = service_delete;
  // The result keeps a copy of the images; the change itself moves into the log.
  result.old_item = c.old_image;
  result.new_item = c.new_image;
  const int64_t commit_true_us = c.commit_true_us;
  RETURN_IF_ERROR(storage_->AppendChange(std::move(c), /*is_local=*/true, commit_true_us).status());
  return result;
}

absl::StatusOr<TableInfo> TableEngine::CreateTable(const CreateTableRequest& req) {
  if (!ValidTableName(req.table)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table name \"", req.table,
        "\" is invalid: use 1 to 255 characters from a-z, A-Z, 0-9, '_', '-' and '.'"));
  }
  if (req.hash_key.name.empty()) {
    return absl::InvalidArgumentError("the hash key needs a name (e.g. --hash-key id:S)");
  }
  if (req.range_key && (req.range_key->name.empty() || req.range_key->name == req.hash_key.name)) {
    return absl::InvalidArgumentError("the range key needs a name different from the hash key's");
  }
  std::vector<std::string> replicas = req.replicas;
  if (replicas.empty()) replicas.push_back(region_);
  std::sort(replicas.begin(), replicas.end());
  if (std::adjacent_find(replicas.begin(), replicas.end()) != replicas.end()) {
    return absl::InvalidArgumentError("a region is listed twice in the replicas");
  }
  for (const auto& r : replicas) {
    if (!std::binary_search(regions_.begin(), regions_.end(), r)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown region \"", r,
                                                     "\" in the replicas; this cluster has ",
                                                     absl::StrJoin(regions_, ", ")));
    }
  }
  if (!std::binary_search(replicas.begin(), replicas.end(), region_)) {
    return absl::InvalidArgumentError(
        absl::StrCat("the replicas must include the region you call (", region_, ")"));
  }
  auto it = tables_.find(req.table);
  if (it != tables_.end() && !it->second.deleted) {
    return absl::AlreadyExistsError(
        absl::StrCat("table ", req.table, " already exists in region ", region_));
  }
  TableSpec spec;
  spec.name = req.table;
  spec.hash_key = req.hash_key;
  spec.range_key = req.range_key;
  spec.replicas = replicas;
  spec.created = NextStamp();
  if (it != tables_.end()) RETURN_IF_ERROR(storage_->DeleteAllItems(it->second.id));
  ASSIGN_OR_RETURN(int64_t id, storage_->PutTable(spec, /*deleted=*/false));
  Change c;
  c.kind = ChangeKind::kCreateTable;
  c.table = spec.name;
  c.table_created = spec.created;
  c.stamp = spec.created;
  c.commit_true_us = clock_->NowMicros();
  c.spec = spec;
  RETURN_IF_ERROR(storage_->AppendChange(c, true, c.commit_true_us).status());
  tables_[spec.name] = TableState{id, spec, false};
  RETURN_IF_ERROR(SyncIndexes(tables_[spec.name]));
  return TableInfo{spec, 0, 0, {}, {}};
}

absl::StatusOr<TableInfo> TableEngine::WithFigures(TableSpec spec, int64_t table_id) {
  ASSIGN_OR_RETURN(Storage::ItemStats count, storage_->ItemStatsOf(table_id));
  TableInfo info{std::move(spec), count.items, count.bytes, {}, {}};
  ASSIGN_OR_RETURN(info.index_stats, storage_->IndexStatsOf(table_id));
  return info;
}

absl::StatusOr<TableInfo> TableEngine::DescribeTable(const std::string& table) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  ASSIGN_OR_RETURN(TableInfo info, WithFigures(t->spec, t->id));
  info.restore = RestoreSummaryOf(*t);
  for (const auto& [name, g] : t->spec.gsis) {
    if (!g.deleted)
      info.index_status[name] = backfill_.count({table, name}) ? "CREATING" : "ACTIVE";
  }
  for (const auto& [replica, percent] : t->spec.replica_progress) {
    if (t->spec.ReplicaStatus(replica) == "CREATING") info.replica_progress[replica] = percent;
  }
  if (auto b = bootstraps_.find(table); b != bootstraps_.end()) {
    info.replica_progress[region_] =
        b->second.total_rows > 0 ? static_cast<int>(std::min<int64_t>(
                                       99, 100 * b->second.loaded_rows / b->second.total_rows))
                                 : 0;
  }
  return info;
}

std::vector<std::string> TableEngine::ListTables() const {
  std::vector<std::string> names;
  for (const auto& [name, t] : tables_) {
    if (!t.deleted) names.push_back(name);
  }
  return names;
}

std::vector<TableSpec> TableEngine::Tables() const {
  std::vector<TableSpec> specs;
  for (const auto& [name, t] : tables_) {
    if (!t.deleted) specs.push_back(t.spec);
  }
  return specs;
}

std::optional<TableSpec> TableEngine::FindSpec(const std::string& table) const {
  auto it = tables_.find(table);
  if (it == tables_.end()) return std::nullopt;
  return it->second.spec;
}

const TableSpec* TableEngine::SpecOf(const std::string& table) const {
  auto it = tables_.find(table);
  return it == tables_.end() ? nullptr : &it->second.spec;
}

absl::StatusOr<TableInfo> TableEngine::DeleteTable(const std::string& table) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  // Deletion protection is a per-replica setting: it guards the replica this call deletes.
  auto rs = t->spec.replica_settings.find(region_);
  if (rs != t->spec.replica_settings.end() && rs->second.deletion_protection) {
    return absl::FailedPreconditionError(absl::StrCat(
        "Resource cannot be deleted as it is currently protected against deletion: the "
        "replica of ",
        table, " in ", region_,
        " has deletion protection enabled; disable it "
        "first: gtsim update-table --region ",
        region_, " --table ", table, " --deletion-protection false"));
  }
  ASSIGN_OR_RETURN(TableInfo info, WithFigures(t->spec, t->id));
  if (t->spec.replicas.size() > 1 && t->spec.HasReplica(region_)) {
    // A global table (version 2019.11.21): DeleteTable removes this region's replica only, as
    // a replica removal would; the others keep the table and stop streaming to it.
    if (!t->spec.replica_status.empty()) {
      const auto& [busy, status] = *t->spec.replica_status.begin();
      return absl::FailedPreconditionError(absl::StrCat(
          "ResourceInUseException: table ", table, " is UPDATING (replica ", busy, " is ", status,
          "); wait until DescribeTable shows TableStatus ACTIVE, then delete it"));
    }
    RETURN_IF_ERROR(CheckNotRecentSource(t->spec, region_, "DeleteTable"));
    RETURN_IF_ERROR(DropLocalReplica(tables_[table], Drop::kLeave));
    // The removal's own stamp (ReplicaMembership::changed), for callers that track it.
    info.spec.membership[region_] = tables_[table].spec.MembershipOf(region_);
    return info;
  }
  RETURN_IF_ERROR(storage_->DeleteAllItems(t->id));
  RETURN_IF_ERROR(storage_->PutTable(t->spec, /*deleted=*/true).status());
  Change c;
  c.kind = ChangeKind::kDeleteTable;
  c.table = table;
  c.table_created = t->spec.created;
  c.stamp = NextStamp();
  c.commit_true_us = clock_->NowMicros();
  RETURN_IF_ERROR(storage_->AppendChange(c, true, c.commit_true_us).status());
  if (bootstraps_.erase(table)) RETURN_IF_ERROR(storage_->DeleteBootstrap(table));
  tables_[table].deleted = true;
  RETURN_IF_ERROR(SyncIndexes(tables_[table]));
  return info;
}

absl::StatusOr<WriteResult> TableEngine::PutItem(const PutRequest& req) {
  ASSIGN_OR_RETURN(const TableState* t, WritableTable(req.table));
  RETURN_IF_ERROR(ValidateItem(*t, req.item));
  Item key = KeyOf(*t, req.item);
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(*t, key, &hk, &rk));
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t->id, hk, rk));
  ASSIGN_OR_RETURN(std::optional<Item> current, LiveItemOf(stored));
  RETURN_IF_ERROR(CheckCondition(req.condition, current));
  ASSIGN_OR_RETURN(auto result,
                   CommitLocalWrite(*t, hk, rk, key, stored, std::move(current), req.item));
  if (!req.return_old) result.old_item.reset();
  return result;
}

absl::StatusOr<WriteResult> TableEngine::UpdateItem(const UpdateRequest& req) {
  ASSIGN_OR_RETURN(const TableState* t, WritableTable(req.table));
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(*t, req.key, &hk, &rk));
  auto is_key = [&](const std::string& name) {
    return name == t->spec.hash_key.name || (t->spec.range_key && name == t->spec.range_key->name);
  };
  for (const auto& [name, v] : req.set) {
    if (is_key(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot update key attribute \"", name, "\"; put a new item instead"));
    }
  }
  for (const auto& name : req.remove) {
    if (is_key(name)) {
      return absl::InvalidArgumentError(absl::StrCat("cannot remove key attribute \"", name, "\""));
    }
    if (req.set.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("attribute \"", name, "\" is both set and removed in one update"));
    }
  }
  if (req.set.empty() && req.remove.empty()) {
    return absl::InvalidArgumentError("an update needs at least one attribute to set or remove");
  }
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t->id, hk, rk));
  ASSIGN_OR_RETURN(std::optional<Item> current, LiveItemOf(stored));
  RETURN_IF_ERROR(CheckCondition(req.condition, current));
  Item next = current ? *current : req.key;
  for (const auto& [name, v] : req.set) next[name] = v;
  for (const auto& name : req.remove) next.erase(name);
  RETURN_IF_ERROR(ValidateItem(*t, next));
  return CommitLocalWrite(*t, hk, rk, req.key, stored, std::move(current), std::move(next));
}

absl::StatusOr<WriteResult> TableEngine::DeleteItem(const DeleteRequest& req) {
  ASSIGN_OR_RETURN(const TableState* t, WritableTable(req.table));
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(*t, req.key, &hk, &rk));
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t->id, hk, rk));
  ASSIGN_OR_RETURN(std::optional<Item> current, LiveItemOf(stored));
  RETURN_IF_ERROR(CheckCondition(req.condition, current));
  ASSIGN_OR_RETURN(auto result,
                   CommitLocalWrite(*t, hk, rk, req.key, stored, std::move(current), std::nullopt));
  if (!req.return_old) result.old_item.reset();
  return result;
}

absl::StatusOr<WriteResult> TableEngine::MutateItem(const std::string& table, const Item& key,
                                                    const Mutation& fn) {
  ASSIGN_OR_RETURN(const TableState* t, WritableTable(table));
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(*t, key, &hk, &rk));
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t->id, hk, rk));
  ASSIGN_OR_RETURN(std::optional<Item> current, LiveItemOf(stored));
  ASSIGN_OR_RETURN(std::optional<Item> next, fn(current));
  if (next) {
    RETURN_IF_ERROR(ValidateItem(*t, *next));
    if (KeyOf(*t, *next) != key) {
      return absl::InvalidArgumentError("an item's key attributes cannot be changed");
    }
  }
  // A copy of `current`: a superseded write's result has no old_item, and this one must.
  ASSIGN_OR_RETURN(auto result,
                   CommitLocalWrite(*t, hk, rk, key, stored, current, std::move(next)));
  if (!result.old_item) result.old_item = std::move(current);
  return result;
}

absl::StatusOr<GetResult> TableEngine::GetItem(const std::string& table, const Item& key) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(*t, key, &hk, &rk));
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t->id, hk, rk));
  GetResult r;
  if (stored && stored->item) {
    ASSIGN_OR_RETURN(r.item, DecodeItem(*stored->item));
    r.stamp = stored->stamp;
  }
  return r;
}

absl::Status TableEngine::SyncIndexes(const TableState& t) {
  std::vector<Storage::IndexDef> defs;
  for (auto it = backfill_.begin(); it != backfill_.end();) {
    it = it->first.first == t.spec.name ? backfill_.erase(it) : std::next(it);
  }
  for (const auto& [name, g] : t.spec.gsis) {
    if (g.deleted || t.deleted) {
      RETURN_IF_ERROR(storage_->DropIndex(t.id, name));
      continue;
    }
    defs.push_back(Storage::IndexDef{name, g.hash_key, g.range_key});
    ASSIGN_OR_RETURN(bool done, storage_->IsBackfilled(t.id, name));
    if (!done) backfill_[{t.spec.name, name}] = std::nullopt;
  }
  storage_->SetIndexes(t.id, t.deleted ? std::vector<Storage::IndexDef>{} : std::move(defs));
  return absl::OkStatus();
}

absl::StatusOr<int> TableEngine::BackfillIndexes(int max_rows) {
  int examined = 0;
  for (auto it = backfill_.begin(); it != backfill_.end() && examined < max_rows;) {
    const auto& [table, index] = it->first;
    auto t = tables_.find(table);
    const GsiSetting& g = t->second.spec.gsis.at(index);
    Storage::IndexDef def{index, g.hash_key, g.range_key};
    ASSIGN_OR_RETURN(auto next, storage_->BackfillIndex(t->second.id, def, it->second, max_rows));
    examined += max_rows;
    if (!next) {
      RETURN_IF_ERROR(storage_->MarkBackfilled(t->second.id, index));
      it = backfill_.erase(it);
    } else {
      it->second = next;
      ++it;
    }
  }
  return examined;
}

absl::StatusOr<Page> TableEngine::QueryIndex(const TableState& t, const QueryRequest& req) {
  auto gi = t.spec.gsis.find(req.index);
  if (gi == t.spec.gsis.end() || gi->second.deleted) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", t.spec.name, " has no index named ", req.index, " in ", region_));
  }
  const GsiSetting& g = gi->second;
  if (backfill_.count({t.spec.name, req.index})) {
    return absl::FailedPreconditionError(absl::StrCat(
        "index ", req.index, " of ", t.spec.name, " is still CREATING (backfilling) in ", region_,
        "; query it once DescribeTable shows IndexStatus ACTIVE"));
  }
  if (req.hash_value.type() != g.hash_key.type) {
    return absl::InvalidArgumentError(
        absl::StrCat("the index hash key value must be of type ", ValueTypeName(g.hash_key.type)));
  }
  if (req.limit < 0) return absl::InvalidArgumentError("limit must be positive");
  TableSpec index_spec = t.spec;  // range conditions apply to the index's range key
  index_spec.range_key = g.range_key;
  ASSIGN_OR_RETURN(Storage::RangeBounds b, BoundsFor(index_spec, req.range));
  std::optional<Storage::IndexPosition> after;
  if (!req.exclusive_start_key.empty()) {
    ASSIGN_OR_RETURN(after,
                     IndexPositionOf(t, req.index, g, req.hash_value, req.exclusive_start_key));
    if (g.range_key && !WithinBounds(b, after->grk)) return StartOutsideRange();
  }
  ASSIGN_OR_RETURN(auto rows, storage_->QueryIndex(t.id, req.index, EncodeHashKey(req.hash_value),
                                                   b, req.backward, req.limit, after));
  Page page;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(Item item, DecodeItem(row));
    if (req.limit > 0 && static_cast<int>(page.items.size()) + 1 == req.limit) {
      // The last item of a full page: its index key and table key say where the next begins.
      page.last_evaluated_key = IndexKeyOf(t.spec, g, item);
    }
    if (g.projection != "ALL") {
      Item projected = KeyOf(t, item);
      std::vector<std::string> keep = g.non_key;
      keep.push_back(g.hash_key.name);
      if (g.range_key) keep.push_back(g.range_key->name);
      for (const auto& name : keep) {
        if (auto a = item.find(name); a != item.end()) projected[name] = a->second;
      }
      item = std::move(projected);
    }
    page.items.push_back(std::move(item));
  }
  return page;
}

Item TableEngine::IndexKeyOf(const TableSpec& spec, const GsiSetting& g, const Item& item) {
  Item key;
  for (const std::string* name :
       {&spec.hash_key.name, spec.range_key ? &spec.range_key->name : nullptr, &g.hash_key.name,
        g.range_key ? &g.range_key->name : nullptr}) {
    if (!name) continue;
    if (auto a = item.find(*name); a != item.end()) key.emplace(*name, a->second);
  }
  return key;
}

absl::StatusOr<Storage::IndexPosition> TableEngine::IndexPositionOf(
    const TableState& t, const std::string& index, const GsiSetting& g,
    const AttributeValue& hash_value, const Item& start) const {
  // A LastEvaluatedKey of this index: the table's key attributes and the index's, no others.
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("the exclusive start key of a query of index ", index, " ", why,
                     "; pass the LastEvaluatedKey of the previous page unchanged"));
  };
  Item table_key;
  for (const auto& [name, value] : start) {
    bool table_attr =
        name == t.spec.hash_key.name || (t.spec.range_key && name == t.spec.range_key->name);
    bool index_attr = name == g.hash_key.name || (g.range_key && name == g.range_key->name);
    if (!table_attr && !index_attr)
      return bad(absl::StrCat("holds \"", name, "\", which is no key attribute"));
    if (table_attr) table_key.emplace(name, value);
  }
  Storage::IndexPosition pos;
  RETURN_IF_ERROR(EncodeKey(t, table_key, &pos.hk, &pos.rk));
  auto h = start.find(g.hash_key.name);
  if (h == start.end() || h->second.type() != hash_value.type() ||
      EncodeHashKey(h->second) != EncodeHashKey(hash_value)) {
    return bad(absl::StrCat("must hold the queried value of the index hash key \"", g.hash_key.name,
                            "\""));
  }
  if (g.range_key) {
    auto r = start.find(g.range_key->name);
    if (r == start.end() || r->second.type() != g.range_key->type) {
      return bad(absl::StrCat("must hold the index range key \"", g.range_key->name, "\" of type ",
                              ValueTypeName(g.range_key->type)));
    }
    pos.grk = EncodeRangeKey(r->second);
  }
  return pos;
}

absl::StatusOr<Storage::RangeBounds> TableEngine::BoundsFor(const TableSpec& spec,
                                                            const RangeCondition& range) {
  Storage::RangeBounds b;
  using Op = RangeCondition::Op;
  if (range.op == Op::kNone) return b;
  if (!spec.range_key) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", spec.name, " has no range key to put a condition on"));
  }
  ValueType rt = spec.range_key->type;
  if (range.value.type() != rt || (range.op == Op::kBetween && range.value2.type() != rt)) {
    return absl::InvalidArgumentError(
        absl::StrCat("range key condition values must be of type ", ValueTypeName(rt)));
  }
  std::string v = EncodeRangeKey(range.value);
  switch (range.op) {
    case Op::kEq:
      b.lower = b.upper = v;
      break;
    case Op::kLt:
      b.upper = v;
      b.upper_inclusive = false;
      break;
    case Op::kLe:
      b.upper = v;
      break;
    case Op::kGt:
      b.lower = v;
      b.lower_inclusive = false;
      break;
    case Op::kGe:
      b.lower = v;
      break;
    case Op::kBetween: {
      std::string v2 = EncodeRangeKey(range.value2);
      if (v2 < v) {
        return absl::InvalidArgumentError(
            "BETWEEN bounds are in the wrong order: the first must not exceed the second");
      }
      b.lower = v;
      b.upper = v2;
      break;
    }
    case Op::kBeginsWith: {
      if (rt == ValueType::kN) {
        return absl::InvalidArgumentError("begins_with needs a range key of type S or B");
      }
      b.lower = v;
      auto upper = PrefixUpperBound(v);
      if (upper) {
        b.upper = *upper;
        b.upper_inclusive = false;
      }
      break;
    }
    case Op::kNone:
      break;
  }
  return b;
}

absl::StatusOr<Page> TableEngine::Query(const QueryRequest& req) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(req.table));
  if (!req.index.empty()) return QueryIndex(*t, req);
  const TableSpec& spec = t->spec;
  if (req.hash_value.type() != spec.hash_key.type) {
    return absl::InvalidArgumentError(
        absl::StrCat("the hash key value must be of type ", ValueTypeName(spec.hash_key.type)));
  }
  if (req.limit < 0) return absl::InvalidArgumentError("limit must be positive");
  Item hash_only{{spec.hash_key.name, req.hash_value}};
  std::string hk = EncodeHashKey(req.hash_value);
  ASSIGN_OR_RETURN(Storage::RangeBounds b, BoundsFor(spec, req.range));
  if (!req.exclusive_start_key.empty()) {
    std::string shk, srk;
    RETURN_IF_ERROR(EncodeKey(*t, req.exclusive_start_key, &shk, &srk));
    if (shk != hk) {
      return absl::InvalidArgumentError("the exclusive start key belongs to another partition");
    }
    if (!spec.range_key) return Page{};
    if (!WithinBounds(b, srk)) return StartOutsideRange();
    if (!req.backward && (!b.lower || srk >= *b.lower)) {
      b.lower = srk;
      b.lower_inclusive = false;
    } else if (req.backward && (!b.upper || srk <= *b.upper)) {
      b.upper = srk;
      b.upper_inclusive = false;
    }
  }
  ASSIGN_OR_RETURN(auto rows, storage_->QueryItems(t->id, hk, b, req.backward, req.limit));
  Page page;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(Item item, DecodeItem(row));
    page.items.push_back(std::move(item));
  }
  if (req.limit > 0 && static_cast<int>(page.items.size()) == req.limit) {
    page.last_evaluated_key = KeyOf(*t, page.items.back());
  }
  return page;
}

absl::StatusOr<Page> TableEngine::Scan(const ScanRequest& req) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(req.table));
  if (req.limit < 0) return absl::InvalidArgumentError("limit must be positive");
  std::optional<std::pair<std::string, std::string>> after;
  if (!req.exclusive_start_key.empty()) {
    std::string hk, rk;
    RETURN_IF_ERROR(EncodeKey(*t, req.exclusive_start_key, &hk, &rk));
    after = std::make_pair(hk, rk);
  }
  ASSIGN_OR_RETURN(auto rows, storage_->ScanItems(t->id, after, req.limit));
  Page page;
  for (const auto& row : rows) {
    ASSIGN_OR_RETURN(Item item, DecodeItem(row));
    page.items.push_back(std::move(item));
  }
  if (req.limit > 0 && static_cast<int>(page.items.size()) == req.limit) {
    page.last_evaluated_key = KeyOf(*t, page.items.back());
  }
  return page;
}

absl::StatusOr<ApplyOutcome> TableEngine::ApplyRemote(Change change) {
  auto it = tables_.find(change.table);
  int64_t now = clock_->NowMicros();
  if (change.kind == ChangeKind::kCreateTable) {
    if (!change.spec) return absl::InvalidArgumentError("CREATE_TABLE change without a spec");
    const TableSpec& spec = *change.spec;
    if (it != tables_.end()) {
      if (it->second.spec.created == spec.created) return ApplyOutcome::kLostToNewer;  // again
      if (spec.created < it->second.spec.created) return ApplyOutcome::kTableGone;
      RETURN_IF_ERROR(storage_->DeleteAllItems(it->second.id));  // an older incarnation
    }
    ASSIGN_OR_RETURN(int64_t id, storage_->PutTable(spec, false));
    RETURN_IF_ERROR(storage_->AppendChange(change, false, now).status());
    tables_[spec.name] = TableState{id, spec, false};
    RETURN_IF_ERROR(SyncIndexes(tables_[spec.name]));
    return ApplyOutcome::kApplied;
  }
  if (change.kind == ChangeKind::kUpdateTable) return ApplyTableUpdate(change);
  if (it == tables_.end()) return ApplyOutcome::kWaitForTable;
  TableState& t = it->second;
  if (t.spec.created < change.table_created) return ApplyOutcome::kWaitForTable;
  if (change.table_created < t.spec.created) return ApplyOutcome::kTableGone;
  if (t.deleted) return ApplyOutcome::kTableGone;
  if (change.kind == ChangeKind::kDeleteTable) {
    RETURN_IF_ERROR(storage_->DeleteAllItems(t.id));
    RETURN_IF_ERROR(storage_->PutTable(t.spec, true).status());
    RETURN_IF_ERROR(storage_->AppendChange(change, false, now).status());
    if (bootstraps_.erase(t.spec.name)) RETURN_IF_ERROR(storage_->DeleteBootstrap(t.spec.name));
    t.deleted = true;
    RETURN_IF_ERROR(SyncIndexes(t));
    return ApplyOutcome::kApplied;
  }
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(t, change.key, &hk, &rk));
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t.id, hk, rk));
  if (stored && !Supersedes(change.stamp, stored->stamp) &&
      !(Planted(PlantedBug::kReapplyEqualStamp) && stored->stamp == change.stamp)) {
    return ApplyOutcome::kLostToNewer;
  }
  // The change is logged here with this region's old image (the origin's is not sent).
  ASSIGN_OR_RETURN(change.old_image, LiveItemOf(stored));
  Storage::ItemVersion version;
  if (change.kind == ChangeKind::kPut) {
    if (!change.new_image) return absl::InvalidArgumentError("PUT change without an image");
    version.item = EncodeItem(*change.new_image);
  }
  version.stamp = change.stamp;
  // The tombstone is kept even when nothing was there, so an older put cannot resurrect it.
  RETURN_IF_ERROR(storage_->PutItem(t.id, hk, rk, std::move(version)));
  if (change.kind == ChangeKind::kPut || change.old_image) {
    RETURN_IF_ERROR(storage_->AppendChange(std::move(change), false, now).status());
  }
  return ApplyOutcome::kApplied;
}

absl::StatusOr<bool> TableEngine::RestoreOwnChange(Change change) {
  if (change.kind != ChangeKind::kPut && change.kind != ChangeKind::kDelete) return false;
  if (change.stamp.region != region_) return false;
  auto it = tables_.find(change.table);
  if (it == tables_.end() || it->second.deleted) return false;
  TableState& t = it->second;
  if (t.spec.created != change.table_created) return false;  // another incarnation
  std::string hk, rk;
  RETURN_IF_ERROR(EncodeKey(t, change.key, &hk, &rk));
  ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t.id, hk, rk));
  if (stored && !Supersedes(change.stamp, stored->stamp)) return false;  // held already
  ASSIGN_OR_RETURN(change.old_image, LiveItemOf(stored));
  Storage::ItemVersion version;
  if (change.kind == ChangeKind::kPut) {
    if (!change.new_image) return absl::InvalidArgumentError("PUT change without an image");
    version.item = EncodeItem(*change.new_image);
  }
  version.stamp = change.stamp;
  RETURN_IF_ERROR(storage_->PutItem(t.id, hk, rk, std::move(version)));
  // Later local writes must be stamped after it.
  last_stamp_us_ = std::max(last_stamp_us_, change.stamp.ts_us);
  // Logged as a local change again (its stamp and true commit time as first made), so it
  // streams to every peer; those that hold it already drop it under LWW.
  RETURN_IF_ERROR(storage_->AppendChange(std::move(change), true, clock_->NowMicros()).status());
  return true;
}

bool UpdateTableRequest::HasSettings() const {
  return billing_mode || read_capacity || write_capacity || sse_type || ttl_enabled ||
         ttl_attribute || stream_enabled || stream_view_type || deletion_protection || kms_key ||
         table_class || read_capacity_override || point_in_time_recovery || create_gsi ||
         delete_gsi || !tags_set.empty() || !tags_remove.empty() || warm_read || warm_write ||
         max_read || max_write || update_gsi;
}

absl::StatusOr<TableInfo> TableEngine::UpdateTable(const UpdateTableRequest& req) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(req.table));
  if (!req.replica_updates.empty() && req.HasSettings()) {
    return absl::InvalidArgumentError(
        "ReplicaUpdates cannot be combined with other changes in one UpdateTable request; "
        "change the replica first, then the settings");
  }
  if (req.replica_updates.empty() && !req.HasSettings()) {
    return absl::InvalidArgumentError(
        "UpdateTable needs a change, e.g. --add-replica REGION, --remove-replica REGION or a "
        "setting such as --billing-mode");
  }
  if (t->spec.ReplicaStatus(region_) != "ACTIVE") {
    return absl::FailedPreconditionError(absl::StrCat(
        "the replica of table ", req.table, " in ", region_, " is ", t->spec.ReplicaStatus(region_),
        "; update the table from an ACTIVE replica's region"));
  }
  if (!t->spec.replica_status.empty()) {
    const auto& [busy, status] = *t->spec.replica_status.begin();
    // The one change accepted meanwhile: removing a replica still CREATING cancels its add
    // (its region may be down and never finish it).
    if (status == "CREATING" && req.replica_updates.size() == 1 &&
        req.replica_updates[0].action == ReplicaUpdate::Action::kDelete &&
        req.replica_updates[0].region == busy) {
      return CancelReplicaAdd(*t, busy);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "ResourceInUseException: table ", req.table, " is UPDATING (replica ", busy, " is ", status,
        "); only one replica add or remove may be in flight per table and no other "
        "change is accepted meanwhile - wait until DescribeTable shows TableStatus ACTIVE, or "
        "cancel a replica still CREATING by removing it (--remove-replica ",
        busy, ")"));
  }
  return req.replica_updates.empty() ? UpdateSettings(*t, req) : UpdateReplicas(*t, req);
}

absl::StatusOr<TableInfo> TableEngine::CancelReplicaAdd(const TableState& t,
                                                        const std::string& region) {
  TableSpec next = t.spec;
  next.SetReplicaStatus(region, "");
  next.updated = NextStampAfter(t.spec.Version());
  next.membership[region] = ReplicaMembership{next.updated, {}};
  RETURN_IF_ERROR(storage_->PutTable(next, false).status());
  RETURN_IF_ERROR(LogTableUpdate(next, next.updated));
  tables_[next.name].spec = next;
  return WithFigures(next, t.id);
}

absl::StatusOr<TableInfo> TableEngine::UpdateReplicas(const TableState& t0,
                                                      const UpdateTableRequest& req) {
  const TableState* t = &t0;
  if (req.replica_updates.size() > 1) {
    return absl::InvalidArgumentError(
        "only one replica Create or Delete per UpdateTable call; send them one at a time, each "
        "once the table is ACTIVE again");
  }
  const ReplicaUpdate& u = req.replica_updates[0];
  const bool create = u.action == ReplicaUpdate::Action::kCreate;
  if (u.region == region_) {
    return absl::InvalidArgumentError(
        absl::StrCat("Cannot add or delete the local region through ReplicaUpdates (", region_,
                     " is the region you called); call UpdateTable in another replica's region"));
  }
  if (!std::binary_search(regions_.begin(), regions_.end(), u.region)) {
    return absl::InvalidArgumentError(absl::StrCat("unknown region \"", u.region,
                                                   "\" in ReplicaUpdates; this cluster has ",
                                                   absl::StrJoin(regions_, ", ")));
  }
  const TableSpec& spec = t->spec;
  if (create && spec.HasReplica(u.region)) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", req.table, " already has a replica in ", u.region));
  }
  if (!create && !spec.HasReplica(u.region)) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", req.table, " has no replica in ", u.region,
                     " to delete (replicas: ", absl::StrJoin(spec.replicas, ", "), ")"));
  }
  if (create && spec.billing.mode == "PROVISIONED") {
    return absl::InvalidArgumentError(absl::StrCat(
        "Table write capacity should either be Pay-Per-Request or AutoScaled: table ", req.table,
        " is PROVISIONED (gtsim has no autoscaling); switch it with --billing-mode "
        "PAY_PER_REQUEST before adding a replica"));
  }
  if (!create) {
    RETURN_IF_ERROR(CheckNotRecentSource(spec, u.region, "removing it"));
    auto rs = spec.replica_settings.find(u.region);
    if (rs != spec.replica_settings.end() && rs->second.deletion_protection) {
      return absl::FailedPreconditionError(
          absl::StrCat("the replica of ", req.table, " in ", u.region,
                       " has deletion protection enabled; "
                       "disable it first: gtsim update-table --region ",
                       u.region, " --table ", req.table, " --deletion-protection false"));
    }
  }
  TableSpec next = spec;
  next.SetReplicaStatus(u.region, create ? "CREATING" : "DELETING");
  if (create) next.sourced_at_us[region_] = clock_->NowMicros();  // this region serves the snapshot
  next.updated = NextStampAfter(spec.Version());
  next.membership[u.region] = ReplicaMembership{next.updated, {}};
  if (create && !next.stream.enabled) {
    // Making a table global enables its stream with NEW_AND_OLD_IMAGES if it had none.
    next.stream = NextStreamSetting(next.stream, true, "NEW_AND_OLD_IMAGES", next.updated);
  }
  RETURN_IF_ERROR(storage_->PutTable(next, false).status());
  RETURN_IF_ERROR(LogTableUpdate(next, next.updated));
  tables_[next.name].spec = next;
  return WithFigures(next, t->id);
}

absl::StatusOr<TableInfo> TableEngine::UpdateSettings(const TableState& t,
                                                      const UpdateTableRequest& req) {
  const TableSpec& spec = t.spec;
  TableSpec next = spec;
  // Newer than every stamp in the definition, so each changed setting wins LWW here.
  Stamp newest = spec.Version();
  for (const Stamp* s : {&spec.billing.stamp, &spec.sse.stamp, &spec.ttl.stamp, &spec.stream.stamp,
                         &spec.warm.stamp, &spec.on_demand.stamp}) {
    newest = std::max(newest, *s);
  }
  for (const auto& [r, rs] : spec.replica_settings) newest = std::max(newest, rs.stamp);
  const Stamp stamp = NextStampAfter(newest);
  auto bad = [](const std::string& msg) { return absl::InvalidArgumentError(msg); };

  if (req.billing_mode || req.read_capacity || req.write_capacity) {
    BillingSetting b = spec.billing;
    if (req.billing_mode) {
      if (*req.billing_mode != "PAY_PER_REQUEST" && *req.billing_mode != "PROVISIONED") {
        return bad(absl::StrCat("billing mode \"", *req.billing_mode,
                                "\" is invalid: use PAY_PER_REQUEST or PROVISIONED"));
      }
      b.mode = *req.billing_mode;
    }
    if (b.mode == "PAY_PER_REQUEST") {
      if (req.read_capacity || req.write_capacity) {
        return bad(
            "read and write capacity apply to PROVISIONED tables only; add "
            "--billing-mode PROVISIONED");
      }
      b.read_capacity = b.write_capacity = 0;
    } else {
      if (req.read_capacity) b.read_capacity = *req.read_capacity;
      if (req.write_capacity) b.write_capacity = *req.write_capacity;
      if (b.read_capacity <= 0 || b.write_capacity <= 0) {
        return bad(
            "a PROVISIONED table needs read and write capacity of at least 1, e.g. "
            "--wcu 5 --rcu 10");
      }
    }
    b.stamp = stamp;
    next.billing = b;
  }
  if (req.sse_type) {
    if (*req.sse_type != "AES256" && *req.sse_type != "KMS") {
      return bad(absl::StrCat("SSE type \"", *req.sse_type, "\" is invalid: use AES256 or KMS"));
    }
    next.sse = SseSetting{*req.sse_type, stamp};
  }
  if (req.ttl_enabled || req.ttl_attribute) {
    if (!req.ttl_enabled) return bad("give --ttl-enabled true or false with --ttl-attribute");
    if (*req.ttl_enabled && (!req.ttl_attribute || req.ttl_attribute->empty())) {
      return bad(
          "enabling TTL needs the attribute that holds the expiry time, e.g. "
          "--ttl-attribute expiresAt");
    }
    next.ttl = TtlSetting{*req.ttl_enabled,
                          *req.ttl_enabled ? *req.ttl_attribute : spec.ttl.attribute, stamp};
  }
  if (req.stream_enabled || req.stream_view_type) {
    bool enabled = req.stream_enabled ? *req.stream_enabled : true;
    if (!enabled && spec.replicas.size() > 1) {
      return bad(
          "One or more parameter values were invalid: Disabling Stream is not allowed for "
          "a Global Table replica.");
    }
    std::string view = req.stream_view_type ? *req.stream_view_type : spec.stream.view_type;
    if (enabled && view != "KEYS_ONLY" && view != "NEW_IMAGE" && view != "OLD_IMAGE" &&
        view != "NEW_AND_OLD_IMAGES") {
      return bad("stream view type must be KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES");
    }
    Stamp at = stamp;
    if (enabled && !spec.stream.stamp.empty() && !spec.stream.enabled) {
      // A new stream: its label (milliseconds) must differ from the disabled one's.
      const int64_t last_ms = StreamLabelUs(spec) / 1000;
      if (at.ts_us / 1000 <= last_ms) at = NextStampAfter(Stamp{(last_ms + 1) * 1000, region_});
    }
    next.stream = NextStreamSetting(spec.stream, enabled, view, at);
  }
  // WarmThroughput and OnDemandThroughput, of the table or of one index: raised only / at least
  // 1 or -1 (the texts are gtsim's apart from the range message, which is DynamoDB's).
  auto warm_check = [&](const WarmUnits& current, const std::optional<int64_t>& read,
                        const std::optional<int64_t>& write,
                        const std::string& what) -> absl::Status {
    for (auto [v, cur, name] : {std::make_tuple(read, current.read, "ReadUnitsPerSecond"),
                                std::make_tuple(write, current.write, "WriteUnitsPerSecond")}) {
      if (v && *v < cur) {
        return bad(absl::StrCat(
            "One or more parameter values were invalid: WarmThroughput can "
            "only be increased: requested ",
            name, " ", *v, " for ", what, " is less than its current warm throughput of ", cur));
      }
    }
    return absl::OkStatus();
  };
  auto on_demand_check = [&](const std::optional<int64_t>& read,
                             const std::optional<int64_t>& write,
                             const std::string& what) -> absl::Status {
    if (next.billing.mode != "PAY_PER_REQUEST") {
      return bad(
          absl::StrCat("One or more parameter values were invalid: OnDemandThroughput "
                       "applies only to PAY_PER_REQUEST tables, and table ",
                       spec.name, " is ", next.billing.mode));
    }
    for (auto [v, name] : {std::make_pair(read, "MaxReadRequestUnits"),
                           std::make_pair(write, "MaxWriteRequestUnits")}) {
      if (v && *v != -1 && *v < 1) {
        return bad(absl::StrCat("One or more parameter values were invalid: Requested ", name,
                                " for OnDemandThroughput for ", what,
                                " is outside of valid range"));
      }
    }
    return absl::OkStatus();
  };
  if (req.warm_read || req.warm_write) {
    RETURN_IF_ERROR(warm_check(TableWarmThroughput(spec), req.warm_read, req.warm_write, "table"));
    next.warm = WarmSetting{req.warm_read.value_or(spec.warm.read_units),
                            req.warm_write.value_or(spec.warm.write_units), stamp};
  }
  if (req.max_read || req.max_write) {
    RETURN_IF_ERROR(on_demand_check(req.max_read, req.max_write, "table"));
    next.on_demand = OnDemandSetting{req.max_read.value_or(spec.on_demand.max_read),
                                     req.max_write.value_or(spec.on_demand.max_write), stamp};
  }
  const bool replica_setting = req.deletion_protection || req.kms_key || req.table_class ||
                               req.read_capacity_override || req.point_in_time_recovery ||
                               !req.tags_set.empty() || !req.tags_remove.empty();
  const std::string& target = req.replica_region.empty() ? region_ : req.replica_region;
  if (!req.replica_region.empty()) {
    if (!replica_setting) {
      return bad(absl::StrCat("nothing to change for the replica in ", target,
                              ": give its read capacity override, table class or KMS key"));
    }
    if (!spec.HasReplica(target)) {
      return bad(absl::StrCat("table ", spec.name, " has no replica in ", target,
                              " (replicas: ", absl::StrJoin(spec.replicas, ", "), ")"));
    }
  }
  if (replica_setting) {
    ReplicaSettings rs =
        spec.replica_settings.count(target) ? spec.replica_settings.at(target) : ReplicaSettings{};
    if (req.deletion_protection) rs.deletion_protection = *req.deletion_protection;
    if (req.kms_key) rs.kms_key = *req.kms_key;
    if (req.table_class) {
      if (*req.table_class != "STANDARD" && *req.table_class != "STANDARD_INFREQUENT_ACCESS") {
        return bad("table class must be STANDARD or STANDARD_INFREQUENT_ACCESS");
      }
      rs.table_class = *req.table_class == "STANDARD" ? "" : *req.table_class;
    }
    if (req.read_capacity_override) {
      if (*req.read_capacity_override < 0) return bad("a read capacity override must be >= 0");
      rs.read_capacity_override = *req.read_capacity_override;
    }
    if (req.point_in_time_recovery) {
      if (*req.point_in_time_recovery && !rs.point_in_time_recovery)
        rs.pitr_since_us = clock_->NowMicros();
      if (!*req.point_in_time_recovery) rs.pitr_since_us = 0;
      rs.point_in_time_recovery = *req.point_in_time_recovery;
    }
    for (const auto& [k, v] : req.tags_set) rs.tags[k] = v;
    for (const auto& k : req.tags_remove) rs.tags.erase(k);
    if (rs.tags.size() > kMaxTagsPerReplica) {
      // AWS's exact wording for this limit could not be confirmed (README).
      return bad(
          absl::StrCat("One or more parameter values were invalid: The number of tags "
                       "for a resource exceeds the limit of ",
                       kMaxTagsPerReplica));
    }
    rs.stamp = stamp;
    next.replica_settings[target] = rs;
  }
  for (const auto& [n, g] : spec.gsis) newest = std::max(newest, g.stamp);
  if (req.create_gsi) {
    const auto& [name, def] = *req.create_gsi;
    if (!ValidTableName(name) || name.size() < 3) {
      return bad(absl::StrCat("index name \"", name,
                              "\" is invalid: use 3 to 255 characters "
                              "from a-z, A-Z, 0-9, '_', '-' and '.'"));
    }
    if (auto g = spec.gsis.find(name); g != spec.gsis.end() && !g->second.deleted) {
      return bad(absl::StrCat("table ", spec.name, " already has an index named ", name));
    }
    if (def.hash_key.name.empty() || (def.range_key && def.range_key->name.empty())) {
      return bad("an index needs a hash key NAME:TYPE (and optionally a range key)");
    }
    if (def.projection != "ALL" && def.projection != "KEYS_ONLY" && def.projection != "INCLUDE") {
      return bad("projection must be ALL, KEYS_ONLY or INCLUDE");
    }
    if ((def.projection == "INCLUDE") != !def.non_key.empty()) {
      return bad(
          "INCLUDE needs the non-key attributes to project (--include a,b), and only "
          "INCLUDE takes them");
    }
    GsiSetting g = def;
    g.deleted = false;
    g.stamp = NextStampAfter(std::max(newest, stamp));
    g.created = g.stamp;  // a new incarnation: newer than any of a deleted namesake
    next.gsis[name] = g;
  }
  if (req.create_gsi) {
    const GsiSetting& def = req.create_gsi->second;
    if (def.max_read != -1 || def.max_write != -1) {
      std::optional<int64_t> r, w;
      if (def.max_read != -1) r = def.max_read;
      if (def.max_write != -1) w = def.max_write;
      RETURN_IF_ERROR(on_demand_check(r, w, "index"));
    }
  }
  if (req.update_gsi) {
    const auto& u = *req.update_gsi;
    auto g = spec.gsis.find(u.index);
    if (g == spec.gsis.end() || g->second.deleted || g->second.local) {
      return absl::NotFoundError(absl::StrCat("table ", spec.name,
                                              " has no global secondary "
                                              "index named ",
                                              u.index));
    }
    GsiSetting d = g->second;
    if (u.warm_read || u.warm_write) {
      RETURN_IF_ERROR(warm_check(IndexWarmThroughput(spec, d), u.warm_read, u.warm_write,
                                 absl::StrCat("index ", u.index)));
      d.warm_read = u.warm_read.value_or(d.warm_read);
      d.warm_write = u.warm_write.value_or(d.warm_write);
    }
    if (u.max_read || u.max_write) {
      RETURN_IF_ERROR(on_demand_check(u.max_read, u.max_write, "index"));
      d.max_read = u.max_read.value_or(d.max_read);
      d.max_write = u.max_write.value_or(d.max_write);
    }
    d.stamp = NextStampAfter(std::max(newest, stamp));
    next.gsis[u.index] = d;
  }
  if (req.delete_gsi) {
    auto g = spec.gsis.find(*req.delete_gsi);
    if (g == spec.gsis.end() || g->second.deleted) {
      return bad(absl::StrCat("table ", spec.name, " has no index named ", *req.delete_gsi));
    }
    GsiSetting d = g->second;
    d.deleted = true;
    d.stamp = NextStampAfter(std::max(newest, stamp));
    next.gsis[*req.delete_gsi] = d;
  }
  RETURN_IF_ERROR(storage_->PutTable(next, false).status());
  RETURN_IF_ERROR(LogTableUpdate(next, stamp));
  tables_[next.name].spec = next;
  RETURN_IF_ERROR(SyncIndexes(tables_[next.name]));
  ASSIGN_OR_RETURN(Storage::ItemStats count, storage_->ItemStatsOf(t.id));
  if (req.create_gsi && count.items == 0) {
    // An index of an empty table - every index CreateTable names, local or global - has
    // nothing to backfill: it is ACTIVE at once, as DynamoDB's are when their table turns
    // ACTIVE. (Writes from now on keep it; other regions backfill their own copies.)
    RETURN_IF_ERROR(storage_->MarkBackfilled(t.id, req.create_gsi->first));
    backfill_.erase({next.name, req.create_gsi->first});
  }
  return WithFigures(next, t.id);
}

absl::StatusOr<int> TableEngine::ExpireItems(int max_rows) {
  const double now_s = static_cast<double>(clock_->NowMicros() + skew_us_) / 1e6;
  int expired = 0;
  for (auto& [name, t] : tables_) {
    if (t.deleted || !t.spec.ttl.enabled || t.spec.ReplicaStatus(region_) != "ACTIVE") continue;
    auto& cursor = ttl_cursor_[name];
    ASSIGN_OR_RETURN(auto rows, storage_->ScanItems(t.id, cursor, max_rows));
    cursor.reset();
    for (const auto& row : rows) {
      ASSIGN_OR_RETURN(Item item, DecodeItem(row));
      Item key = KeyOf(t, item);
      std::string hk, rk;
      RETURN_IF_ERROR(EncodeKey(t, key, &hk, &rk));
      if (static_cast<int>(rows.size()) == max_rows) cursor = std::make_pair(hk, rk);
      auto attr = item.find(t.spec.ttl.attribute);
      if (attr == item.end() || attr->second.type() != ValueType::kN) continue;
      char* end = nullptr;
      double expires = std::strtod(attr->second.scalar().c_str(), &end);
      if (end == attr->second.scalar().c_str() || expires > now_s) continue;
      ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t.id, hk, rk));
      ASSIGN_OR_RETURN(std::optional<Item> current, LiveItemOf(stored));
      RETURN_IF_ERROR(CommitLocalWrite(t, hk, rk, key, stored, std::move(current), std::nullopt,
                                       /*service_delete=*/true)
                          .status());
      ++expired;
    }
  }
  return expired;
}

bool TableEngine::TakeTokens(Bucket& bucket, int64_t capacity, double units) {
  int64_t now = clock_->NowMicros();
  if (bucket.capacity != capacity) {
    // New or changed capacity: start full (a burst of one second's worth, a simulator choice).
    bucket = Bucket{static_cast<double>(capacity), now, capacity};
  }
  double refill = static_cast<double>(now - bucket.refilled_us) / 1e6 * capacity;
  bucket.tokens = std::min<double>(capacity, bucket.tokens + std::max(0.0, refill));
  bucket.refilled_us = now;
  // A request costing more than the whole bucket goes through when the bucket is full and
  // leaves it in debt, repaid by the refill before the next request passes.
  if (bucket.tokens < std::min<double>(units, capacity)) return false;
  bucket.tokens -= units;
  return true;
}

absl::Status TableEngine::ConsumeWriteCapacity(const TableState& t, int64_t units) {
  const BillingSetting& b = t.spec.billing;
  if (b.mode == "PAY_PER_REQUEST" && t.spec.on_demand.max_write > 0) {
    const int64_t max = t.spec.on_demand.max_write;
    if (!TakeTokens(write_buckets_[t.spec.name], max, static_cast<double>(units))) {
      return absl::ResourceExhaustedError(
          absl::StrCat("ThrottlingException: table ", t.spec.name, " in ", region_,
                       " has an OnDemandThroughput of ", max,
                       " write request units per second and this "
                       "write needs ",
                       units, "; retry with backoff or raise MaxWriteRequestUnits"));
    }
    return absl::OkStatus();
  }
  if (b.mode != "PROVISIONED" || b.write_capacity <= 0) return absl::OkStatus();
  if (!TakeTokens(write_buckets_[t.spec.name], b.write_capacity, static_cast<double>(units))) {
    return absl::ResourceExhaustedError(
        absl::StrCat("ProvisionedThroughputExceededException: table ", t.spec.name, " in ", region_,
                     " is PROVISIONED with ", b.write_capacity,
                     " write capacity units per second and this "
                     "write needs ",
                     units,
                     "; retry with backoff, raise --wcu, or use --billing-mode "
                     "PAY_PER_REQUEST"));
  }
  return absl::OkStatus();
}

int64_t TableEngine::WriteUnits(int64_t bytes) {
  return std::max<int64_t>(1, (bytes + 1023) / 1024);
}

std::map<std::string, int64_t> TableEngine::IndexWriteUnits(const TableSpec& spec,
                                                            const std::optional<Item>& before,
                                                            const std::optional<Item>& after) {
  std::map<std::string, int64_t> units;
  for (const auto& [name, g] : spec.gsis) {
    if (g.deleted) continue;
    // What the index holds of `item`: nothing unless it has the index's keys; else the
    // projected attributes (the table's and index's keys, plus the projection).
    auto entry = [&](const std::optional<Item>& item) -> std::optional<Item> {
      if (!item || !item->count(g.hash_key.name) ||
          (g.range_key && !item->count(g.range_key->name))) {
        return std::nullopt;
      }
      if (g.projection == "ALL") return item;
      Item kept = IndexKeyOf(spec, g, *item);
      for (const auto& a : g.non_key) {
        if (auto v = item->find(a); v != item->end()) kept.emplace(a, v->second);
      }
      return kept;
    };
    std::optional<Item> old_entry = entry(before), new_entry = entry(after);
    if (!old_entry && !new_entry) continue;
    if (old_entry && new_entry && old_entry == new_entry) continue;  // the index is unchanged
    bool same_key =
        old_entry && new_entry &&
        old_entry->at(g.hash_key.name) == new_entry->at(g.hash_key.name) &&
        (!g.range_key || old_entry->at(g.range_key->name) == new_entry->at(g.range_key->name));
    if (same_key || !old_entry || !new_entry) {
      // One index write: an update in place, an insert or a delete.
      units[name] = WriteUnits(
          std::max(old_entry ? ItemSize(*old_entry) : 0, new_entry ? ItemSize(*new_entry) : 0));
    } else {
      // The index key changed: the old entry is deleted and the new one put.
      units[name] = WriteUnits(ItemSize(*old_entry)) + WriteUnits(ItemSize(*new_entry));
    }
  }
  return units;
}

double TableEngine::ReadUnits(int64_t bytes, bool consistent) {
  double units = static_cast<double>(std::max<int64_t>(1, (bytes + 4095) / 4096));
  return consistent ? units : units / 2;
}

absl::Status TableEngine::ConsumeReadCapacity(const std::string& table, double units) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  const BillingSetting& b = t->spec.billing;
  if (b.mode == "PAY_PER_REQUEST" && t->spec.on_demand.max_read > 0) {
    const int64_t max = t->spec.on_demand.max_read;
    if (!TakeTokens(read_buckets_[table], max, units)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "ThrottlingException: table ", table, " in ", region_, " has an OnDemandThroughput of ",
          max, " read request units per second and this read needs ", units,
          "; retry with backoff or raise MaxReadRequestUnits"));
    }
    return absl::OkStatus();
  }
  if (b.mode != "PROVISIONED") return absl::OkStatus();
  int64_t capacity = b.read_capacity;
  auto rs = t->spec.replica_settings.find(region_);
  if (rs != t->spec.replica_settings.end() && rs->second.read_capacity_override > 0) {
    capacity = rs->second.read_capacity_override;
  }
  if (capacity <= 0) return absl::OkStatus();
  if (!TakeTokens(read_buckets_[table], capacity, units)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("ProvisionedThroughputExceededException: table ", table, " in ", region_,
                     " is PROVISIONED with ", capacity,
                     " read capacity units per second and this read "
                     "needs ",
                     units,
                     "; retry with backoff, raise --rcu, or use --billing-mode "
                     "PAY_PER_REQUEST"));
  }
  return absl::OkStatus();
}

absl::Status TableEngine::LogTableUpdate(const TableSpec& next, const Stamp& stamp) {
  Change c;
  c.kind = ChangeKind::kUpdateTable;
  c.table = next.name;
  c.table_created = next.created;
  c.stamp = stamp;
  c.commit_true_us = clock_->NowMicros();
  c.spec = next;
  logged_local_ = true;
  return storage_->AppendChange(c, /*is_local=*/true, c.commit_true_us).status();
}

absl::Status TableEngine::StartBootstrap(const TableSpec& spec) {
  auto it = tables_.find(spec.name);
  if (it != tables_.end()) RETURN_IF_ERROR(storage_->DeleteAllItems(it->second.id));
  ASSIGN_OR_RETURN(int64_t id, storage_->PutTable(spec, false));
  tables_[spec.name] = TableState{id, spec, false};
  RETURN_IF_ERROR(SyncIndexes(tables_[spec.name]));
  return AddBootstrap(spec);
}

absl::Status TableEngine::AddBootstrap(const TableSpec& spec) {
  BootstrapState b;
  b.table = spec.name;
  b.table_created = spec.created;
  b.source = BootstrapSourceFor(spec);
  b.added = spec.MembershipOf(region_).changed;
  RETURN_IF_ERROR(storage_->PutBootstrap(b));
  bootstraps_[spec.name] = std::move(b);
  return absl::OkStatus();
}

absl::Status TableEngine::CheckNotRecentSource(const TableSpec& spec, const std::string& region,
                                               const std::string& what) const {
  constexpr int64_t kSourceHoldUs = int64_t{24} * 3600 * 1'000'000;
  auto it = spec.sourced_at_us.find(region);
  const int64_t now = clock_->NowMicros();
  if (it == spec.sourced_at_us.end() || now >= it->second + kSourceHoldUs) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the replica of ", spec.name, " in ", region,
                   " served as the source of a new replica ", (now - it->second) / 60'000'000,
                   " minutes ago; a source replica cannot be deleted for 24 "
                   "hours after a replica was added from it (",
                   what, " is refused; try again in ",
                   (it->second + kSourceHoldUs - now + 3'599'999'999) / 3'600'000'000, " h)"));
}

absl::Status TableEngine::DropLocalReplica(TableState& t, Drop how) {
  RETURN_IF_ERROR(storage_->DeleteAllItems(t.id));
  if (bootstraps_.erase(t.spec.name)) RETURN_IF_ERROR(storage_->DeleteBootstrap(t.spec.name));
  if (how != Drop::kSilently) {
    TableSpec next = t.spec;
    next.SetReplicaStatus(region_, "");
    next.updated = NextStampAfter(t.spec.Version());
    ReplicaMembership& m = next.membership[region_];
    m = t.spec.MembershipOf(region_);
    if (how == Drop::kLeave) {
      m = ReplicaMembership{next.updated, {}};
    } else {
      m.step = next.updated;
    }
    RETURN_IF_ERROR(LogTableUpdate(next, next.updated));
    t.spec = next;
  }
  RETURN_IF_ERROR(storage_->PutTable(t.spec, /*deleted=*/true).status());
  t.deleted = true;
  return SyncIndexes(t);
}

absl::StatusOr<ApplyOutcome> TableEngine::ApplyTableUpdate(const Change& change) {
  if (!change.spec) return absl::InvalidArgumentError("UPDATE_TABLE change without a spec");
  const TableSpec& spec = *change.spec;
  int64_t now = clock_->NowMicros();
  auto it = tables_.find(spec.name);
  if (it != tables_.end() && spec.created < it->second.spec.created) {
    return ApplyOutcome::kTableGone;  // about an older incarnation
  }
  if (it == tables_.end() || it->second.spec.created < spec.created) {
    // Not a replica of this incarnation yet.
    const std::string my_status = spec.ReplicaStatus(region_);
    if (my_status == "CREATING") {
      RETURN_IF_ERROR(StartBootstrap(spec));
      RETURN_IF_ERROR(storage_->AppendChange(change, false, now).status());
      return ApplyOutcome::kApplied;
    }
    if (my_status == "DELETING" && it == tables_.end()) {
      // Removed before this region ever held it: it finishes the removal at once.
      ASSIGN_OR_RETURN(int64_t id, storage_->PutTable(spec, /*deleted=*/true));
      tables_[spec.name] = TableState{id, spec, true};
      RETURN_IF_ERROR(AnnounceGone(tables_[spec.name]));
      return ApplyOutcome::kTableGone;
    }
    if (my_status.empty() && spec.membership.count(region_) &&
        !Planted(PlantedBug::kCancelBeforeAddDropped) &&
        (it == tables_.end() || it->second.deleted)) {
      // This record removed this region (cancelled its add) before the add itself arrived here
      // - they travel on different links. Keep it as a table this region does not hold, so
      // the older add loses to it (MergeTableSpecs) instead of starting a bootstrap that no
      // source will serve.
      ASSIGN_OR_RETURN(int64_t id, storage_->PutTable(spec, /*deleted=*/true));
      tables_[spec.name] = TableState{id, spec, true};
      return ApplyOutcome::kTableGone;
    }
    // Listed as a full replica: its CREATE_TABLE has not arrived yet.
    return my_status.empty() ? ApplyOutcome::kTableGone : ApplyOutcome::kWaitForTable;
  }
  TableState& t = it->second;
  TableSpec merged = MergeTableSpecs(t.spec, spec);
  const bool learned = !SameDefinition(merged, t.spec);
  if (t.deleted) {
    if (merged.ReplicaStatus(region_) == "CREATING") {  // added again since it was removed
      RETURN_IF_ERROR(StartBootstrap(merged));
      RETURN_IF_ERROR(storage_->AppendChange(change, false, now).status());
      return ApplyOutcome::kApplied;
    }
    // Keep the newest definition of a table we no longer hold (it steers filtering only).
    if (learned) {
      t.spec = merged;
      RETURN_IF_ERROR(storage_->PutTable(merged, true).status());
      // Removed again by a region that did not know it was gone: say so, or the table stays
      // UPDATING everywhere.
      if (merged.ReplicaStatus(region_) == "DELETING") RETURN_IF_ERROR(AnnounceGone(t));
    }
    return ApplyOutcome::kTableGone;
  }
  if (learned) {
    t.spec = merged;
    RETURN_IF_ERROR(storage_->PutTable(merged, false).status());
    RETURN_IF_ERROR(storage_->AppendChange(change, false, now).status());
    RETURN_IF_ERROR(SyncIndexes(t));
    const std::string now_status = merged.ReplicaStatus(region_);
    if (now_status == "DELETING") {
      RETURN_IF_ERROR(DropLocalReplica(t, Drop::kStep));  // announces what it holds
      return ApplyOutcome::kApplied;
    }
    if (now_status.empty()) {
      RETURN_IF_ERROR(DropLocalReplica(t, Drop::kSilently));  // its add was cancelled
      return ApplyOutcome::kApplied;
    }
    if (now_status == "CREATING" && !bootstraps_.count(t.spec.name)) {
      // Added again by a region that did not know this replica (two adds across a partition):
      // the newer add wins, so this replica loads a snapshot as any new one does - over what
      // it holds, with LWW - and announces ACTIVE when done.
      RETURN_IF_ERROR(AddBootstrap(t.spec));
    }
    RETURN_IF_ERROR(RetargetBootstrap(t));
  }
  // The sender (and every region it addressed) lacks part of what this region holds.
  if (!SameContent(t.spec, spec)) RETURN_IF_ERROR(Reannounce(t));
  return learned ? ApplyOutcome::kApplied : ApplyOutcome::kLostToNewer;
}

std::string TableEngine::BootstrapSourceFor(const TableSpec& spec) const {
  const std::string adder = spec.MembershipOf(region_).changed.region;
  if (adder != region_ && spec.Receives(adder)) return adder;
  for (const auto& r : spec.replicas) {
    if (r != region_ && spec.Receives(r)) return r;
  }
  return adder;
}

absl::Status TableEngine::RetargetBootstrap(const TableState& t) {
  auto b = bootstraps_.find(t.spec.name);
  if (b == bootstraps_.end() || b->second.loaded || t.spec.Receives(b->second.source)) {
    return absl::OkStatus();
  }
  const std::string source = BootstrapSourceFor(t.spec);
  if (source == b->second.source) return absl::OkStatus();
  BootstrapState next;
  next.table = b->second.table;
  next.table_created = b->second.table_created;
  next.source = source;
  next.added = b->second.added;
  RETURN_IF_ERROR(storage_->PutBootstrap(next));
  b->second = std::move(next);
  return absl::OkStatus();
}

absl::Status TableEngine::ReapplyOwnChanges(const TableState& t, int64_t after_seq) {
  for (int64_t pos = after_seq;;) {
    ASSIGN_OR_RETURN(std::vector<Change> rows, storage_->ReadLocalChanges(pos, 1000));
    if (rows.empty()) return absl::OkStatus();
    for (const Change& c : rows) {
      pos = c.seq;
      if (c.table != t.spec.name || c.table_created != t.spec.created) continue;
      if (c.kind != ChangeKind::kPut && c.kind != ChangeKind::kDelete) continue;
      std::string hk, rk;
      RETURN_IF_ERROR(EncodeKey(t, c.key, &hk, &rk));
      ASSIGN_OR_RETURN(auto stored, storage_->GetItem(t.id, hk, rk));
      if (stored && !Supersedes(c.stamp, stored->stamp)) continue;
      Storage::ItemVersion version;
      if (c.kind == ChangeKind::kPut && c.new_image) version.item = EncodeItem(*c.new_image);
      version.stamp = c.stamp;
      RETURN_IF_ERROR(storage_->PutItem(t.id, hk, rk, std::move(version)));
    }
  }
}

absl::Status TableEngine::AnnounceGone(TableState& t) {
  TableSpec next = t.spec;
  next.SetReplicaStatus(region_, "");
  next.updated = NextStampAfter(t.spec.Version());
  next.membership[region_] = t.spec.MembershipOf(region_);
  next.membership[region_].step = next.updated;
  RETURN_IF_ERROR(storage_->PutTable(next, /*deleted=*/true).status());
  RETURN_IF_ERROR(LogTableUpdate(next, next.updated));
  t.spec = std::move(next);
  return absl::OkStatus();
}

absl::Status TableEngine::Reannounce(TableState& t) {
  TableSpec next = t.spec;
  next.updated = NextStampAfter(t.spec.Version());
  RETURN_IF_ERROR(storage_->PutTable(next, false).status());
  RETURN_IF_ERROR(LogTableUpdate(next, next.updated));
  t.spec = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<SnapshotChunk> TableEngine::ReadSnapshotRows(
    const std::string& table, const Stamp& created, const std::string& subscriber,
    const std::optional<std::pair<std::string, std::string>>& after, int limit, bool with_total) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  if (t->spec.created != created) {
    return absl::FailedPreconditionError(absl::StrCat(
        "table ", table, " in ", region_, " is another incarnation than the one to snapshot"));
  }
  if (t->spec.ReplicaStatus(region_) != "ACTIVE") {
    return absl::FailedPreconditionError(absl::StrCat(
        "the replica of ", table, " in ", region_, " is not ACTIVE and cannot serve a snapshot"));
  }
  if (t->spec.ReplicaStatus(subscriber) != "CREATING") {
    return absl::FailedPreconditionError(
        absl::StrCat(region_, " does not list ", subscriber, " as a CREATING replica of ", table,
                     " (the replica add was cancelled or has not reached ", region_, ")"));
  }
  SnapshotChunk chunk;
  chunk.table = table;
  chunk.table_created = created;
  if (with_total) {
    ASSIGN_OR_RETURN(chunk.total_rows, storage_->CountVersions(t->id));
  }
  chunk.tombstone_horizon = storage_->TombstoneHorizon(t->id);
  ASSIGN_OR_RETURN(chunk.rows, storage_->ScanVersions(t->id, after, limit, 4 << 20));
  chunk.last = chunk.rows.empty();  // the end is an empty chunk: a byte limit can cut any chunk
  return chunk;
}

absl::Status TableEngine::LoadSnapshotChunk(const SnapshotChunk& chunk) {
  auto b = bootstraps_.find(chunk.table);
  if (b == bootstraps_.end() || b->second.table_created != chunk.table_created) {
    return absl::NotFoundError(
        absl::StrCat("no bootstrap of table ", chunk.table, " is in progress in ", region_));
  }
  if (!chunk.for_add.empty() && chunk.for_add != b->second.added) {
    return absl::FailedPreconditionError(
        absl::StrCat("a snapshot chunk of ", chunk.table,
                     " requested for an earlier add of this replica was "
                     "refused (",
                     region_, " was removed and added again since)"));
  }
  if (!chunk.source.empty() && chunk.source != b->second.source) {
    return absl::FailedPreconditionError(
        absl::StrCat("a snapshot chunk of ", chunk.table, " from ", chunk.source,
                     " was refused: ", region_, " now bootstraps it from ", b->second.source, " (",
                     chunk.source, " is no longer an ACTIVE replica)"));
  }
  auto t = tables_.find(chunk.table);
  if (t == tables_.end() || t->second.deleted) {
    return absl::NotFoundError(absl::StrCat("table ", chunk.table, " is gone from ", region_));
  }
  const int64_t now = clock_->NowMicros();
  for (const auto& row : chunk.rows) {
    if (row.stamp.ts_us - now > kMaxStampAheadUs) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refused a snapshot chunk of table ", chunk.table, ": a row is stamped ",
          absl::FormatDuration(absl::Microseconds(row.stamp.ts_us - now)), " ahead of ", region_,
          "'s clock (the bound is ", absl::FormatDuration(absl::Microseconds(kMaxStampAheadUs)),
          "); check ", row.stamp.region, "'s clock"));
    }
  }
  BootstrapState next = b->second;
  if (!next.cut) {
    next.cut = chunk.cut;
    next.total_rows = chunk.total_rows;
    // Before any change from the cut on is applied (the cursors are rewound in this same
    // transaction): a change the source's trimmed tombstones beat must lose here too.
    RETURN_IF_ERROR(
        storage_->TrimTombstones(t->second.id, chunk.tombstone_horizon, /*limit=*/0).status());
  }
  RETURN_IF_ERROR(storage_->PutVersionsIfNewer(t->second.id, chunk.rows));
  if (!chunk.rows.empty()) next.after = std::make_pair(chunk.rows.back().hk, chunk.rows.back().rk);
  next.loaded_rows += static_cast<int64_t>(chunk.rows.size());
  next.total_rows = std::max(next.total_rows, next.loaded_rows);
  if (chunk.last) next.loaded = true;
  RETURN_IF_ERROR(storage_->PutBootstrap(next));
  // Progress is announced in 10 % steps (a table-definition record, replicated like any
  // UpdateTable), so replicas other than the source and this one can show it too.
  const int percent = static_cast<int>(
      std::min<int64_t>(99, 100 * next.loaded_rows / std::max<int64_t>(1, next.total_rows)));
  TableSpec& spec = t->second.spec;
  auto announced = spec.replica_progress.find(region_);
  if (percent / 10 > (announced == spec.replica_progress.end() ? 0 : announced->second / 10)) {
    TableSpec with = spec;
    with.replica_progress[region_] = percent;
    with.updated = NextStampAfter(spec.Version());
    with.membership[region_] = spec.MembershipOf(region_);
    with.membership[region_].step = with.updated;
    RETURN_IF_ERROR(storage_->PutTable(with, false).status());
    RETURN_IF_ERROR(LogTableUpdate(with, with.updated));
    spec = std::move(with);
  }
  b->second = std::move(next);
  return absl::OkStatus();
}

absl::Status TableEngine::FinishBootstrap(const std::string& table) {
  ASSIGN_OR_RETURN(const TableState* ct, LiveTable(table));
  TableState& t = tables_[ct->spec.name];
  // This region's own changes the source had not applied at the cut: no origin sends a region
  // its own changes, and a replica that was removed and added again dropped its items.
  if (auto b = bootstraps_.find(table); b != bootstraps_.end() && b->second.cut) {
    auto self = b->second.cut->find(region_);
    RETURN_IF_ERROR(ReapplyOwnChanges(t, self == b->second.cut->end() ? 0 : self->second));
  }
  TableSpec next = t.spec;
  next.SetReplicaStatus(region_, "ACTIVE");
  next.updated = NextStampAfter(t.spec.Version());
  next.membership[region_] = t.spec.MembershipOf(region_);
  next.membership[region_].step = next.updated;
  // The snapshot loaded without change-log rows, so a point-in-time restore (which reads the
  // log back from its time) can reach no earlier than now: point-in-time recovery kept on from
  // an earlier add of this replica restarts its window here.
  if (auto rs = next.replica_settings.find(region_);
      rs != next.replica_settings.end() && rs->second.point_in_time_recovery) {
    rs->second.pitr_since_us = std::max(rs->second.pitr_since_us, clock_->NowMicros());
    rs->second.stamp = next.updated;
  }
  RETURN_IF_ERROR(storage_->PutTable(next, false).status());
  RETURN_IF_ERROR(LogTableUpdate(next, next.updated));
  RETURN_IF_ERROR(storage_->DeleteBootstrap(table));
  bootstraps_.erase(table);
  t.spec = next;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<TableEngine::Version>> TableEngine::DumpTable(const std::string& table) {
  ASSIGN_OR_RETURN(const TableState* t, LiveTable(table));
  ASSIGN_OR_RETURN(auto rows, storage_->DumpVersions(t->id));
  std::vector<Version> out;
  for (auto& row : rows) {
    Version v{row.hk, row.rk, row.version.stamp, std::nullopt};
    if (row.version.item) {
      ASSIGN_OR_RETURN(v.item, DecodeItem(*row.version.item));
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace gtsim
