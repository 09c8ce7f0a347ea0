#include "storage/memory_storage.h"

#include <algorithm>
#include <deque>
#include <set>
#include <tuple>
#include <utility>
#include <variant>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "model/planted_bug.h"
#include "model/status_macros.h"

namespace gtsim {
namespace {

using ItemVersion = Storage::ItemVersion;
using KeyPosition = std::optional<std::pair<std::string, std::string>>;

// One index entry an item has: the index, the entry's encoded index keys and its item's size
// when the entry was written (as SQLite's gsi_entries.bytes).
struct IndexRef {
  std::string index, ghk, grk;
  int64_t bytes = 0;
};

// A stored item version with the index entries that point at it, so a write replaces exactly
// those (as SQLite's DELETE FROM gsi_entries WHERE hk, rk does).
struct ItemRow {
  ItemVersion version;
  std::vector<IndexRef> refs;
};

// An index entry within one index hash key: ordered as the index query returns them.
struct IndexTail {
  std::string grk, hk, rk;
  bool operator<(const IndexTail& o) const {
    return std::tie(grk, hk, rk) < std::tie(o.grk, o.hk, o.rk);
  }
};
using IndexPartition = absl::btree_set<IndexTail>;
using Index = absl::btree_map<std::string, IndexPartition>;  // by encoded index hash key

// std::string orders byte-wise (memcmp, then length), as SQLite orders BLOBs.
using Partition = absl::btree_map<std::string, ItemRow>;  // by encoded range key

struct TableData {
  // Point reads and writes hash the hash key; scans walk hash_keys. (With partitions in a
  // B-tree by hash key, its binary searches made GetItem 6.5 % of the simulator's CPU; 3.3 %
  // hashed.)
  absl::flat_hash_map<std::string, Partition> partitions;  // by encoded hash key
  absl::btree_set<std::string> hash_keys;                  // partitions' keys, in order
  int64_t live = 0;                                        // rows with an item
  int64_t live_bytes = 0;                                  // the encodings of those items
  int64_t versions = 0;                                    // rows, tombstones too
  std::map<std::string, Index> indexes;                    // by index name
  std::map<std::string, Storage::ItemStats> index_stats;   // entries and their bytes, by index
  std::set<std::string> backfilled;                        // index names
  int64_t tombstone_horizon = 0;                           // Storage::TombstoneHorizon
};

struct StoredTable {
  int64_t id = 0;
  std::string spec;  // EncodeTableSpec: LoadTables returns what SqliteStorage would
  bool deleted = false;
};

// A change as the log keeps it: the header as a Change, the key and images encoded
// (EncodeItem). An Item is a tree of nodes; a run logs every write in every region and keeps it,
// so encoded images take a third of the memory, and a log of hundreds of thousands of entries
// is freed as that many strings rather than millions of nodes.
struct LoggedChange {
  LoggedChange(Change c, bool local, int64_t applied)
      : key(EncodeItem(c.key)),
        new_image(c.new_image ? std::optional<std::string>(EncodeItem(*c.new_image))
                              : std::nullopt),
        old_image(c.old_image ? std::optional<std::string>(EncodeItem(*c.old_image))
                              : std::nullopt),
        is_local(local),
        applied_true_us(applied) {
    c.key.clear();
    c.new_image.reset();
    c.old_image.reset();
    header = std::move(c);
  }

  // The change with its key and new image (and old image when `with_old`).
  absl::StatusOr<Change> Full(bool with_old) const {
    Change c = header;
    ASSIGN_OR_RETURN(c.key, DecodeItem(key));
    if (new_image) {
      ASSIGN_OR_RETURN(c.new_image, DecodeItem(*new_image));
    }
    if (old_image && with_old) {
      ASSIGN_OR_RETURN(c.old_image, DecodeItem(*old_image));
    }
    return c;
  }

  Change header;  // without key and images: what a ChangeFilter sees
  std::string key;
  std::optional<std::string> new_image, old_image;
  bool is_local;
  int64_t applied_true_us;
};

void Count(TableData& t, const ItemRow& row, int sign) {
  t.versions += sign;
  if (row.version.item) {
    t.live += sign;
    t.live_bytes += sign * static_cast<int64_t>(row.version.item->size());
  }
}

// Counts one entry of `index` in or out of the index's figures (Storage::IndexStatsOf).
void CountEntry(TableData& t, const std::string& index, int64_t bytes, int sign) {
  Storage::ItemStats& stats = t.index_stats[index];
  stats.items += sign;
  stats.bytes += sign * bytes;
  if (stats.items == 0 && stats.bytes == 0) t.index_stats.erase(index);
}

void AddEntries(TableData& t, const std::string& hk, const std::string& rk,
                const std::vector<IndexRef>& refs) {
  for (const auto& r : refs) {
    if (t.indexes[r.index][r.ghk].insert(IndexTail{r.grk, hk, rk}).second) {
      CountEntry(t, r.index, r.bytes, +1);
    }
  }
}

void RemoveEntries(TableData& t, const std::string& hk, const std::string& rk,
                   const std::vector<IndexRef>& refs) {
  for (const auto& r : refs) {
    auto index = t.indexes.find(r.index);
    if (index == t.indexes.end()) continue;
    auto part = index->second.find(r.ghk);
    if (part == index->second.end()) continue;
    if (part->second.erase(IndexTail{r.grk, hk, rk}) > 0) CountEntry(t, r.index, r.bytes, -1);
    if (part->second.empty()) index->second.erase(part);
  }
}

// Puts back the row at (hk, rk) as it was before a write: `old`, or no row. The row exists (the
// write being undone made it).
void RestoreRow(TableData& t, const std::string& hk, const std::string& rk,
                std::optional<ItemRow> old) {
  auto part = t.partitions.find(hk);
  auto it = part->second.find(rk);
  RemoveEntries(t, hk, rk, it->second.refs);
  Count(t, it->second, -1);
  if (old) {
    AddEntries(t, hk, rk, old->refs);
    Count(t, *old, +1);
    it->second = *std::move(old);
  } else {
    part->second.erase(it);
    if (part->second.empty()) {
      t.hash_keys.erase(hk);
      t.partitions.erase(part);
    }
  }
}

// Calls f(hk, rk, row) for each row after `after` (or from the start) in (hk, rk) order, until f
// returns false.
template <typename Table, typename F>
void ForEachRow(Table& t, const KeyPosition& after, F f) {
  auto hk = after ? t.hash_keys.lower_bound(after->first) : t.hash_keys.begin();
  for (; hk != t.hash_keys.end(); ++hk) {
    auto& part = t.partitions.find(*hk)->second;
    auto r = after && *hk == after->first ? part.upper_bound(after->second) : part.begin();
    for (; r != part.end(); ++r) {
      if (!f(*hk, r->first, r->second)) return;
    }
  }
}

// Calls f on each element of [begin, end), last first when `backward`, until f returns false.
template <typename It, typename F>
void Walk(It begin, It end, bool backward, F f) {
  if (!backward) {
    for (It it = begin; it != end; ++it) {
      if (!f(*it)) return;
    }
  } else {
    for (It it = end; it != begin;) {
      if (!f(*--it)) return;
    }
  }
}

// No key can be within the bounds (SQL's `x >= a AND x <= b` with a > b).
bool EmptyRange(const Storage::RangeBounds& b) {
  if (!b.lower || !b.upper) return false;
  return *b.lower > *b.upper || (*b.lower == *b.upper && !(b.lower_inclusive && b.upper_inclusive));
}

bool Full(size_t size, int limit) { return limit > 0 && size >= static_cast<size_t>(limit); }

// `x` comes strictly before `y` in `set` (both iterators of it).
template <typename Set>
bool Before(const Set& set, typename Set::const_iterator x, typename Set::const_iterator y) {
  if (x == y || x == set.end()) return false;
  return y == set.end() || *x < *y;
}

}  // namespace

struct MemoryDisk::State {
  std::string region;  // empty until first opened
  int64_t log_id = 0;
  std::map<std::string, StoredTable> tables;  // by name
  std::map<int64_t, TableData> data;          // by table id
  std::deque<LoggedChange> log;               // log[i] has seq i + 1
  std::vector<int64_t> local_seqs;            // of local-origin changes, ascending
  absl::flat_hash_map<std::string, std::vector<int64_t>> local_seqs_by_table;
  std::map<std::string, int64_t> cursors, cursor_log_ids, peer_acks, cursor_stamps;
  std::map<std::string, BootstrapState> bootstraps;
  std::map<std::string, std::string> meta;
};

MemoryDisk::MemoryDisk() : state_(std::make_unique<State>()) {}
MemoryDisk::~MemoryDisk() = default;

struct MemoryStorage::Undo {
  struct Row {  // a PutItem and the like: the row before it, or none
    int64_t table_id;
    std::string hk, rk;
    std::optional<ItemRow> old;
  };
  struct Table {  // DeleteAllItems, DropIndex: all of a table's data before it
    int64_t table_id;
    TableData old;
  };
  struct TableDef {
    std::string name;
    std::optional<StoredTable> old;
  };
  struct Appended {};  // the newest change-log entry
  struct Position {
    std::map<std::string, int64_t>* map;
    std::string key;
    std::optional<int64_t> old;
  };
  struct Bootstrap {
    std::string table;
    std::optional<BootstrapState> old;
  };
  struct Backfilled {
    int64_t table_id;
    std::string index;
  };
  struct Trimmed {  // TrimTombstones: a tombstone row it removed
    int64_t table_id;
    std::string hk, rk;
    ItemRow row;
  };
  struct Horizon {
    int64_t table_id;
    int64_t old;
  };
  std::variant<Row, Table, TableDef, Appended, Position, Bootstrap, Backfilled, Trimmed, Horizon>
      op;
};

absl::StatusOr<std::unique_ptr<MemoryStorage>> MemoryStorage::Open(std::shared_ptr<MemoryDisk> disk,
                                                                   const std::string& region) {
  if (!disk) return absl::InvalidArgumentError("MemoryStorage::Open needs a MemoryDisk");
  if (disk->open_) {
    return absl::FailedPreconditionError(
        "this memory disk is already open; destroy the MemoryStorage that has it first");
  }
  MemoryDisk::State& s = *disk->state_;
  const bool created_new = s.region.empty();
  if (created_new) {
    s.region = region;
    s.log_id = NewLogId();
  } else if (s.region != region) {
    return absl::FailedPreconditionError(
        absl::StrCat("this database belongs to region ", s.region, ", not ", region));
  }
  disk->open_ = true;
  std::unique_ptr<MemoryStorage> storage(new MemoryStorage(std::move(disk)));
  storage->created_new_ = created_new;
  return storage;
}

MemoryStorage::MemoryStorage(std::shared_ptr<MemoryDisk> disk)
    : disk_(std::move(disk)), s_(*disk_->state_) {}

MemoryStorage::~MemoryStorage() {
  Rollback();
  disk_->open_ = false;
}

absl::Status MemoryStorage::StartBackgroundCheckpoints(const std::string&, absl::Duration) {
  return absl::OkStatus();
}

void MemoryStorage::Record(Undo undo) {
  if (in_transaction_) undo_.push_back(std::move(undo));
}

void MemoryStorage::UndoTo(size_t size) {
  while (undo_.size() > size) {
    std::visit(
        [this](auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, Undo::Row>) {
            RestoreRow(s_.data[op.table_id], op.hk, op.rk, std::move(op.old));
          } else if constexpr (std::is_same_v<T, Undo::Table>) {
            s_.data[op.table_id] = std::move(op.old);
          } else if constexpr (std::is_same_v<T, Undo::TableDef>) {
            if (op.old) {
              s_.tables[op.name] = *std::move(op.old);
            } else {
              s_.tables.erase(op.name);
            }
          } else if constexpr (std::is_same_v<T, Undo::Appended>) {
            const LoggedChange& last = s_.log.back();
            if (last.is_local) {
              s_.local_seqs.pop_back();
              s_.local_seqs_by_table[last.header.table].pop_back();
            }
            s_.log.pop_back();
          } else if constexpr (std::is_same_v<T, Undo::Position>) {
            if (op.old) {
              (*op.map)[op.key] = *op.old;
            } else {
              op.map->erase(op.key);
            }
          } else if constexpr (std::is_same_v<T, Undo::Bootstrap>) {
            if (op.old) {
              s_.bootstraps[op.table] = *std::move(op.old);
            } else {
              s_.bootstraps.erase(op.table);
            }
          } else if constexpr (std::is_same_v<T, Undo::Trimmed>) {
            TableData& t = s_.data[op.table_id];
            auto [part, new_partition] = t.partitions.try_emplace(op.hk);
            if (new_partition) t.hash_keys.insert(op.hk);
            Count(t, op.row, +1);
            part->second.emplace(op.rk, std::move(op.row));
          } else if constexpr (std::is_same_v<T, Undo::Horizon>) {
            s_.data[op.table_id].tombstone_horizon = op.old;
          } else {
            static_assert(std::is_same_v<T, Undo::Backfilled>);
            s_.data[op.table_id].backfilled.erase(op.index);
          }
        },
        undo_.back().op);
    undo_.pop_back();
  }
}

absl::Status MemoryStorage::Begin() {
  if (in_transaction_) {
    return absl::FailedPreconditionError("cannot begin a transaction: one is already open");
  }
  in_transaction_ = true;
  return absl::OkStatus();
}

absl::Status MemoryStorage::Commit() {
  if (!in_transaction_) return absl::FailedPreconditionError("cannot commit: no transaction");
  // The writes are already in place: forgetting how to undo them commits them.
  undo_.clear();
  savepoint_.reset();
  in_transaction_ = false;
  return absl::OkStatus();
}

void MemoryStorage::Rollback() {
  if (!in_transaction_) return;
  UndoTo(0);
  savepoint_.reset();
  in_transaction_ = false;
}

absl::Status MemoryStorage::Savepoint() {
  if (!in_transaction_) {
    return absl::FailedPreconditionError("cannot open a savepoint outside a transaction");
  }
  if (savepoint_) return absl::FailedPreconditionError("a savepoint is already open");
  savepoint_ = undo_.size();
  return absl::OkStatus();
}

absl::Status MemoryStorage::ReleaseSavepoint() {
  if (!savepoint_) return absl::FailedPreconditionError("cannot release: no savepoint is open");
  savepoint_.reset();
  return absl::OkStatus();
}

absl::Status MemoryStorage::RollbackToSavepoint() {
  if (!savepoint_) {
    return absl::FailedPreconditionError("cannot roll back to a savepoint: none is open");
  }
  UndoTo(*savepoint_);
  savepoint_.reset();
  return absl::OkStatus();
}

// --- tables ---------------------------------------------------------------------------------

absl::StatusOr<std::vector<Storage::TableRow>> MemoryStorage::LoadTables() {
  std::vector<TableRow> rows;
  for (const auto& [name, t] : s_.tables) {
    TableRow row;
    row.id = t.id;
    ASSIGN_OR_RETURN(row.spec, DecodeTableSpec(t.spec));
    row.deleted = t.deleted;
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::StatusOr<int64_t> MemoryStorage::PutTable(const TableSpec& spec, bool deleted) {
  auto it = s_.tables.find(spec.name);
  if (it != s_.tables.end()) {
    Record(Undo{Undo::TableDef{spec.name, it->second}});
    it->second.spec = EncodeTableSpec(spec);
    it->second.deleted = deleted;
    return it->second.id;
  }
  int64_t id = 1;
  for (const auto& [name, t] : s_.tables) id = std::max(id, t.id + 1);
  s_.tables.emplace(spec.name, StoredTable{id, EncodeTableSpec(spec), deleted});
  Record(Undo{Undo::TableDef{spec.name, std::nullopt}});
  return id;
}

// --- items ----------------------------------------------------------------------------------

absl::StatusOr<std::optional<Storage::ItemVersion>> MemoryStorage::GetItem(int64_t table_id,
                                                                           const std::string& hk,
                                                                           const std::string& rk) {
  auto t = s_.data.find(table_id);
  if (t == s_.data.end()) return std::optional<ItemVersion>();
  // An absent key answers with the horizon's tombstone (see Storage::TombstoneHorizon).
  auto absent = [&] {
    if (t->second.tombstone_horizon == 0) return std::optional<ItemVersion>();
    return std::optional<ItemVersion>(
        ItemVersion{std::nullopt, Stamp{t->second.tombstone_horizon, ""}});
  };
  auto part = t->second.partitions.find(hk);
  if (part == t->second.partitions.end()) return absent();
  auto row = part->second.find(rk);
  if (row == part->second.end()) return absent();
  return std::optional<ItemVersion>(row->second.version);
}

int64_t MemoryStorage::TombstoneHorizon(int64_t table_id) const {
  auto t = s_.data.find(table_id);
  return t == s_.data.end() ? 0 : t->second.tombstone_horizon;
}

absl::StatusOr<int64_t> MemoryStorage::TrimTombstones(int64_t table_id, int64_t horizon,
                                                      int limit) {
  TableData& data = s_.data[table_id];
  if (horizon > data.tombstone_horizon) {
    Record(Undo{Undo::Horizon{table_id, data.tombstone_horizon}});
    data.tombstone_horizon = horizon;
  }
  if (limit <= 0) return 0;
  // A walk over every row: the simulator's tables are small.
  std::vector<std::pair<std::string, std::string>> trim;
  ForEachRow(data, std::nullopt,
             [&](const std::string& hk, const std::string& rk, const ItemRow& row) {
               if (!row.version.item && row.version.stamp.ts_us < data.tombstone_horizon) {
                 trim.emplace_back(hk, rk);
               }
               return static_cast<int>(trim.size()) < limit;
             });
  for (const auto& [hk, rk] : trim) {
    auto part = data.partitions.find(hk);
    auto row = part->second.find(rk);
    Count(data, row->second, -1);
    Record(Undo{Undo::Trimmed{table_id, hk, rk, std::move(row->second)}});
    part->second.erase(row);
    if (part->second.empty()) {
      data.hash_keys.erase(hk);
      data.partitions.erase(part);
    }
  }
  return static_cast<int64_t>(trim.size());
}

absl::Status MemoryStorage::WriteRow(int64_t table_id, const std::string& hk, const std::string& rk,
                                     ItemVersion version) {
  // A table with no registered index keeps its entries as they are (as SqliteStorage does).
  auto defs = indexes_.find(table_id);
  const bool indexed = defs != indexes_.end();
  std::vector<IndexRef> refs;
  if (indexed && version.item) {
    ASSIGN_OR_RETURN(Item item, DecodeItem(*version.item));
    for (const IndexDef& def : defs->second) {
      if (auto key = IndexKeyOf(def, item)) {
        refs.push_back(IndexRef{def.name, std::move(key->first), std::move(key->second),
                                static_cast<int64_t>(version.item->size())});
      }
    }
  }
  TableData& t = s_.data[table_id];
  auto [part, new_partition] = t.partitions.try_emplace(hk);
  if (new_partition) t.hash_keys.insert(hk);
  auto [row, inserted] = part->second.try_emplace(rk);
  std::optional<ItemRow> old;
  if (!inserted) {
    old = std::move(row->second);
    Count(t, *old, -1);
    if (indexed) {
      if (!(Planted(PlantedBug::kIndexEntryLeftByDelete) && !version.item)) {
        RemoveEntries(t, hk, rk, old->refs);
      }
    } else {
      refs = old->refs;
    }
  }
  row->second.version = std::move(version);
  row->second.refs = std::move(refs);
  Count(t, row->second, +1);
  if (indexed) AddEntries(t, hk, rk, row->second.refs);
  Record(Undo{Undo::Row{table_id, hk, rk, std::move(old)}});
  return absl::OkStatus();
}

absl::Status MemoryStorage::PutItem(int64_t table_id, const std::string& hk, const std::string& rk,
                                    ItemVersion version) {
  return WriteRow(table_id, hk, rk, std::move(version));
}

absl::Status MemoryStorage::DeleteAllItems(int64_t table_id) {
  auto t = s_.data.find(table_id);
  if (t == s_.data.end()) return absl::OkStatus();
  Record(Undo{Undo::Table{table_id, std::move(t->second)}});
  s_.data.erase(t);
  return absl::OkStatus();
}

absl::StatusOr<Storage::ItemStats> MemoryStorage::ItemStatsOf(int64_t table_id) {
  auto t = s_.data.find(table_id);
  if (t == s_.data.end()) return ItemStats{};
  return ItemStats{t->second.live, t->second.live_bytes};
}

absl::StatusOr<int64_t> MemoryStorage::CountVersions(int64_t table_id) {
  auto t = s_.data.find(table_id);
  return t == s_.data.end() ? 0 : t->second.versions;
}

absl::StatusOr<std::vector<std::string>> MemoryStorage::QueryItems(int64_t table_id,
                                                                   const std::string& hk,
                                                                   const RangeBounds& b,
                                                                   bool backward, int limit) {
  std::vector<std::string> out;
  auto t = s_.data.find(table_id);
  if (t == s_.data.end() || EmptyRange(b)) return out;
  auto p = t->second.partitions.find(hk);
  if (p == t->second.partitions.end()) return out;
  const Partition& part = p->second;
  auto begin = !b.lower            ? part.begin()
               : b.lower_inclusive ? part.lower_bound(*b.lower)
                                   : part.upper_bound(*b.lower);
  auto end = !b.upper            ? part.end()
             : b.upper_inclusive ? part.upper_bound(*b.upper)
                                 : part.lower_bound(*b.upper);
  Walk(begin, end, backward, [&](const auto& row) {
    if (row.second.version.item) out.push_back(*row.second.version.item);
    return !Full(out.size(), limit);
  });
  return out;
}

absl::StatusOr<std::vector<std::string>> MemoryStorage::ScanItems(int64_t table_id,
                                                                  const KeyPosition& after,
                                                                  int limit) {
  std::vector<std::string> out;
  if (auto t = s_.data.find(table_id); t != s_.data.end()) {
    ForEachRow(t->second, after, [&](const std::string&, const std::string&, const ItemRow& r) {
      if (r.version.item) out.push_back(*r.version.item);
      return !Full(out.size(), limit);
    });
  }
  return out;
}

absl::StatusOr<std::vector<Storage::VersionRow>> MemoryStorage::DumpVersions(int64_t table_id) {
  std::vector<VersionRow> out;
  if (auto t = s_.data.find(table_id); t != s_.data.end()) {
    ForEachRow(t->second, std::nullopt,
               [&](const std::string& hk, const std::string& rk, const ItemRow& r) {
                 out.push_back(VersionRow{hk, rk, r.version});
                 return true;
               });
  }
  return out;
}

// --- global secondary indexes ---------------------------------------------------------------

void MemoryStorage::SetIndexes(int64_t table_id, std::vector<IndexDef> indexes) {
  if (indexes.empty()) {
    indexes_.erase(table_id);
  } else {
    indexes_[table_id] = std::move(indexes);
  }
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> MemoryStorage::BackfillIndex(
    int64_t table_id, const IndexDef& index, const KeyPosition& after, int limit) {
  auto t = s_.data.find(table_id);
  if (t == s_.data.end()) return KeyPosition();
  TableData& data = t->second;
  size_t rows = 0;
  KeyPosition last;
  absl::Status status;
  ForEachRow(data, after, [&](const std::string& hk, const std::string& rk, ItemRow& row) {
    ++rows;
    last = std::make_pair(hk, rk);
    if (row.version.item) {
      auto item = DecodeItem(*row.version.item);
      if (!item.ok()) {
        status = item.status();
        return false;
      }
      if (auto key = IndexKeyOf(index, *item)) {
        IndexTail tail{std::move(key->second), hk, rk};
        if (data.indexes[index.name][key->first].insert(tail).second) {
          if (in_transaction_) undo_.push_back(Undo{Undo::Row{table_id, hk, rk, row}});
          const int64_t bytes = static_cast<int64_t>(row.version.item->size());
          CountEntry(data, index.name, bytes, +1);
          row.refs.push_back(
              IndexRef{index.name, std::move(key->first), std::move(tail.grk), bytes});
        }
      }
    }
    return !Full(rows, limit);
  });
  RETURN_IF_ERROR(status);
  if (!Full(rows, limit)) return KeyPosition();
  return last;
}

absl::Status MemoryStorage::DropIndex(int64_t table_id, const std::string& index) {
  auto t = s_.data.find(table_id);
  if (t == s_.data.end()) return absl::OkStatus();
  TableData& data = t->second;
  // A copy of the whole table: dropping an index is rare.
  if (in_transaction_) undo_.push_back(Undo{Undo::Table{table_id, data}});
  if (auto entries = data.indexes.find(index); entries != data.indexes.end()) {
    for (const auto& [ghk, part] : entries->second) {
      for (const IndexTail& e : part) {
        auto& refs = data.partitions[e.hk][e.rk].refs;
        refs.erase(std::remove_if(refs.begin(), refs.end(),
                                  [&](const IndexRef& r) { return r.index == index; }),
                   refs.end());
      }
    }
    data.indexes.erase(entries);
  }
  data.index_stats.erase(index);
  data.backfilled.erase(index);
  return absl::OkStatus();
}

absl::Status MemoryStorage::MarkBackfilled(int64_t table_id, const std::string& index) {
  if (s_.data[table_id].backfilled.insert(index).second) {
    Record(Undo{Undo::Backfilled{table_id, index}});
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, Storage::ItemStats>> MemoryStorage::IndexStatsOf(
    int64_t table_id) {
  auto t = s_.data.find(table_id);
  if (t == s_.data.end()) return std::map<std::string, ItemStats>{};
  return t->second.index_stats;
}

absl::StatusOr<bool> MemoryStorage::IsBackfilled(int64_t table_id, const std::string& index) {
  auto t = s_.data.find(table_id);
  return t != s_.data.end() && t->second.backfilled.count(index) > 0;
}

absl::StatusOr<std::vector<std::string>> MemoryStorage::QueryIndex(
    int64_t table_id, const std::string& index, const std::string& ghk, const RangeBounds& b,
    bool backward, int limit, const std::optional<IndexPosition>& after) {
  std::vector<std::string> out;
  auto t = s_.data.find(table_id);
  if (t == s_.data.end() || EmptyRange(b)) return out;
  const TableData& data = t->second;
  auto entries = data.indexes.find(index);
  if (entries == data.indexes.end()) return out;
  auto p = entries->second.find(ghk);
  if (p == entries->second.end()) return out;
  const IndexPartition& part = p->second;
  // The smallest tail with an index range key above x is (x + "\0", "", "").
  auto begin =
      !b.lower
          ? part.begin()
          : part.lower_bound(IndexTail{b.lower_inclusive ? *b.lower : *b.lower + '\0', {}, {}});
  auto end =
      !b.upper
          ? part.end()
          : part.lower_bound(IndexTail{b.upper_inclusive ? *b.upper + '\0' : *b.upper, {}, {}});
  if (after) {
    IndexTail at{after->grk, after->hk, after->rk};
    if (!backward) {
      auto from = part.upper_bound(at);
      if (Before(part, begin, from)) begin = from;
    } else {
      auto to = part.lower_bound(at);
      if (Before(part, to, end)) end = to;
    }
    if (Before(part, end, begin)) return out;
  }
  Walk(begin, end, backward, [&](const IndexTail& e) {
    auto items = data.partitions.find(e.hk);
    if (items == data.partitions.end()) return true;
    auto row = items->second.find(e.rk);
    if (row != items->second.end() && row->second.version.item) {
      out.push_back(*row->second.version.item);
    }
    return !Full(out.size(), limit);
  });
  return out;
}

// --- snapshots and bootstraps ---------------------------------------------------------------

absl::StatusOr<std::vector<SnapshotRow>> MemoryStorage::ScanVersions(int64_t table_id,
                                                                     const KeyPosition& after,
                                                                     int limit, int64_t max_bytes) {
  std::vector<SnapshotRow> out;
  if (auto t = s_.data.find(table_id); t != s_.data.end()) {
    int64_t bytes = 0;
    ForEachRow(t->second, after,
               [&](const std::string& hk, const std::string& rk, const ItemRow& r) {
                 out.push_back(SnapshotRow{hk, rk, r.version.item, r.version.stamp});
                 bytes += hk.size() + rk.size() + (r.version.item ? r.version.item->size() : 0);
                 return !Full(out.size(), limit) && bytes < max_bytes;
               });
  }
  return out;
}

absl::Status MemoryStorage::PutVersionsIfNewer(int64_t table_id,
                                               const std::vector<SnapshotRow>& rows) {
  for (const SnapshotRow& row : rows) {
    // Stored rows only: the tombstone horizon does not count here (storage.h).
    const ItemRow* stored = nullptr;
    if (auto t = s_.data.find(table_id); t != s_.data.end()) {
      if (auto part = t->second.partitions.find(row.hk); part != t->second.partitions.end()) {
        if (auto r = part->second.find(row.rk); r != part->second.end()) stored = &r->second;
      }
    }
    if (stored && !Supersedes(row.stamp, stored->version.stamp)) continue;
    RETURN_IF_ERROR(WriteRow(table_id, row.hk, row.rk, ItemVersion{row.item, row.stamp}));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, BootstrapState>> MemoryStorage::LoadBootstraps() {
  return s_.bootstraps;
}

absl::Status MemoryStorage::PutBootstrap(const BootstrapState& state) {
  auto [it, inserted] = s_.bootstraps.try_emplace(state.table, state);
  if (inserted) {
    Record(Undo{Undo::Bootstrap{state.table, std::nullopt}});
  } else {
    Record(Undo{Undo::Bootstrap{state.table, std::move(it->second)}});
    it->second = state;
  }
  return absl::OkStatus();
}

absl::Status MemoryStorage::DeleteBootstrap(const std::string& table) {
  auto it = s_.bootstraps.find(table);
  if (it == s_.bootstraps.end()) return absl::OkStatus();
  Record(Undo{Undo::Bootstrap{table, std::move(it->second)}});
  s_.bootstraps.erase(it);
  return absl::OkStatus();
}

// --- the change log -------------------------------------------------------------------------

absl::StatusOr<int64_t> MemoryStorage::AppendChange(Change change, bool is_local,
                                                    int64_t applied_true_us) {
  const int64_t seq = head_seq() + 1;
  change.seq = seq;
  change.service_delete = change.service_delete && is_local;
  if (change.spec) {  // as SqliteStorage returns it: through its encoding (table operations only)
    ASSIGN_OR_RETURN(change.spec, DecodeTableSpec(EncodeTableSpec(*change.spec)));
  }
  if (is_local) {
    s_.local_seqs.push_back(seq);
    s_.local_seqs_by_table[change.table].push_back(seq);
  }
  s_.log.emplace_back(std::move(change), is_local, applied_true_us);
  Record(Undo{Undo::Appended{}});
  return seq;
}

int64_t MemoryStorage::head_seq() const { return static_cast<int64_t>(s_.log.size()); }

absl::StatusOr<int64_t> MemoryStorage::FirstSeqAppliedAfter(int64_t true_us) {
  int64_t seq = head_seq() + 1;
  while (seq > 1 && s_.log[seq - 2].applied_true_us > true_us) --seq;
  return seq;
}

// Room for the rows a read from `from` to `end` returns, at most `limit` (0: all).
template <typename It>
void Reserve(std::vector<Change>& out, It from, It end, int limit) {
  auto n = static_cast<size_t>(end - from);
  out.reserve(limit > 0 ? std::min(n, static_cast<size_t>(limit)) : n);
}

absl::StatusOr<std::vector<Change>> MemoryStorage::ReadLocalChanges(int64_t after_seq, int limit) {
  std::vector<Change> out;
  auto it = std::upper_bound(s_.local_seqs.begin(), s_.local_seqs.end(), after_seq);
  Reserve(out, it, s_.local_seqs.end(), limit);
  for (; it != s_.local_seqs.end() && !Full(out.size(), limit); ++it) {
    ASSIGN_OR_RETURN(Change c, s_.log[*it - 1].Full(/*with_old=*/true));
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<std::vector<Change>> MemoryStorage::ReadLocalChanges(int64_t after_seq, int limit,
                                                                    const ChangeFilter& keep) {
  std::vector<Change> out;
  auto it = std::upper_bound(s_.local_seqs.begin(), s_.local_seqs.end(), after_seq);
  Reserve(out, it, s_.local_seqs.end(), limit);
  for (; it != s_.local_seqs.end() && !Full(out.size(), limit); ++it) {
    const LoggedChange& c = s_.log[*it - 1];
    if (keep(c.header)) {  // in full, but without old_image
      ASSIGN_OR_RETURN(Change full, c.Full(/*with_old=*/false));
      out.push_back(std::move(full));
    } else {
      out.push_back(c.header);
    }
  }
  return out;
}

absl::StatusOr<std::vector<Change>> MemoryStorage::ReadChanges(int64_t after_seq, int limit) {
  std::vector<Change> out;
  const auto from = std::min<size_t>(std::max<int64_t>(after_seq, 0), s_.log.size());
  Reserve(out, s_.log.begin() + from, s_.log.end(), limit);
  for (int64_t seq = std::max<int64_t>(after_seq, 0) + 1;
       seq <= head_seq() && !Full(out.size(), limit); ++seq) {
    ASSIGN_OR_RETURN(Change c, s_.log[seq - 1].Full(/*with_old=*/true));
    out.push_back(std::move(c));
  }
  return out;
}

absl::StatusOr<int64_t> MemoryStorage::CountLocalChanges(int64_t after_seq,
                                                         const std::vector<std::string>& tables) {
  int64_t total = 0;
  for (const auto& table : tables) {
    auto seqs = s_.local_seqs_by_table.find(table);
    if (seqs == s_.local_seqs_by_table.end()) continue;
    total +=
        seqs->second.end() - std::upper_bound(seqs->second.begin(), seqs->second.end(), after_seq);
  }
  return total;
}

absl::StatusOr<int64_t> MemoryStorage::LastLocalTimestamp() {
  if (s_.local_seqs.empty()) return 0;
  return s_.log[s_.local_seqs.back() - 1].header.stamp.ts_us;
}

// --- positions --------------------------------------------------------------------------------

void MemoryStorage::SetPosition(std::map<std::string, int64_t>& map, const std::string& key,
                                int64_t value) {
  auto [it, inserted] = map.try_emplace(key, value);
  if (inserted) {
    Record(Undo{Undo::Position{&map, key, std::nullopt}});
  } else {
    Record(Undo{Undo::Position{&map, key, it->second}});
    it->second = value;
  }
}

absl::StatusOr<std::map<std::string, int64_t>> MemoryStorage::LoadPeerAcks() {
  return s_.peer_acks;
}
absl::Status MemoryStorage::SetPeerAck(const std::string& peer, int64_t acked_seq) {
  SetPosition(s_.peer_acks, peer, acked_seq);
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int64_t>> MemoryStorage::LoadCursors() { return s_.cursors; }
absl::Status MemoryStorage::SetCursor(const std::string& origin, int64_t applied_seq) {
  SetPosition(s_.cursors, origin, applied_seq);
  return absl::OkStatus();
}

int64_t MemoryStorage::log_id() const { return s_.log_id; }

absl::StatusOr<std::map<std::string, int64_t>> MemoryStorage::LoadCursorLogIds() {
  return s_.cursor_log_ids;
}
absl::Status MemoryStorage::SetCursorLogId(const std::string& origin, int64_t log_id) {
  SetPosition(s_.cursor_log_ids, origin, log_id);
  return absl::OkStatus();
}

// --- log rollback -----------------------------------------------------------------------------

absl::StatusOr<int64_t> MemoryStorage::LocalTimestampThrough(int64_t seq) {
  auto it = std::upper_bound(s_.local_seqs.begin(), s_.local_seqs.end(), seq);
  if (it == s_.local_seqs.begin()) return 0;
  return s_.log[*std::prev(it) - 1].header.stamp.ts_us;
}

absl::StatusOr<int64_t> MemoryStorage::NewestLocalTimestampAtOrBefore(int64_t ts) {
  int64_t best = 0;
  for (int64_t seq : s_.local_seqs) {
    int64_t t = s_.log[seq - 1].header.stamp.ts_us;
    if (t <= ts) best = std::max(best, t);
  }
  return best;
}

absl::StatusOr<std::map<std::string, int64_t>> MemoryStorage::LoadCursorStamps() {
  return s_.cursor_stamps;
}

absl::Status MemoryStorage::SetCursorStamp(const std::string& origin, int64_t ts_us) {
  SetPosition(s_.cursor_stamps, origin, ts_us);
  return absl::OkStatus();
}

absl::StatusOr<int64_t> MemoryStorage::RenewLogId() {
  int64_t id;
  do {
    id = NewLogId();
  } while (id == s_.log_id);
  s_.log_id = id;
  return id;
}

absl::StatusOr<std::optional<std::string>> MemoryStorage::GetMeta(const std::string& key) {
  auto it = s_.meta.find(key);
  if (it == s_.meta.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::Status MemoryStorage::PutMeta(const std::string& key,
                                    const std::optional<std::string>& value) {
  if (value) {
    s_.meta[key] = *value;
  } else {
    s_.meta.erase(key);
  }
  return absl::OkStatus();
}

}  // namespace gtsim
