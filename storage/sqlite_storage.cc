#include "storage/sqlite_storage.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <mutex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "model/key_codec.h"
#include "model/status_macros.h"
#include "nlohmann/json.hpp"

namespace gtsim {

// A borrowed prepared statement from the cache; resets and clears its bindings when destroyed.
class SqliteStorage::Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt(const Stmt&) = delete;
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt& Int(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Text(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Blob(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  // Binds without a copy: `v` must outlive the next Step.
  Stmt& BlobRef(int i, const std::string& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& OptBlob(int i, const std::optional<std::string>& v) {
    if (v) return Blob(i, *v);
    sqlite3_bind_null(s_, i);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(s_); }
  // Ready to Step again with new bindings (the destructor does the same).
  void Reset() { sqlite3_reset(s_); }
  int64_t ColInt(int i) { return sqlite3_column_int64(s_, i); }
  bool ColNull(int i) { return sqlite3_column_type(s_, i) == SQLITE_NULL; }
  std::string ColBlob(int i) {
    const void* p = sqlite3_column_blob(s_, i);
    int n = sqlite3_column_bytes(s_, i);
    return p ? std::string(static_cast<const char*>(p), n) : std::string();
  }

 private:
  sqlite3_stmt* s_;
};

namespace {

constexpr char kMagic[] = "gtsim-region-db";
constexpr char kSchemaVersion[] = "1";

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS gtsim_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tables(
  name TEXT PRIMARY KEY, table_id INTEGER NOT NULL UNIQUE, spec TEXT NOT NULL,
  deleted INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS items(
  table_id INTEGER NOT NULL, hk BLOB NOT NULL, rk BLOB NOT NULL,
  item BLOB,                 -- NULL: a delete tombstone
  ts INTEGER NOT NULL, origin TEXT NOT NULL,
  PRIMARY KEY(table_id, hk, rk)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changelog(
  seq INTEGER PRIMARY KEY, origin TEXT NOT NULL, is_local INTEGER NOT NULL,
  kind INTEGER NOT NULL, table_name TEXT NOT NULL, table_ts INTEGER NOT NULL,
  table_origin TEXT NOT NULL, ts INTEGER NOT NULL, commit_true_us INTEGER NOT NULL,
  applied_true_us INTEGER NOT NULL, key BLOB, old_image BLOB, new_image BLOB, spec TEXT);
CREATE INDEX IF NOT EXISTS changelog_local ON changelog(seq) WHERE is_local = 1;
-- Change-log rows that are TTL expiries made here (a separate table: older databases gain it
-- without a migration).
CREATE TABLE IF NOT EXISTS service_deletes(seq INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS cursors(origin TEXT PRIMARY KEY, applied_seq INTEGER NOT NULL);
-- Per origin, the id of the origin's change log the cursor counts in (a separate table: older
-- databases gain it without a migration).
CREATE TABLE IF NOT EXISTS cursor_logs(origin TEXT PRIMARY KEY, log_id INTEGER NOT NULL);
-- Per origin, the LWW timestamp of the origin's newest local change at or before the cursor
-- (log rollback detection; a separate table: older databases gain it without a migration).
CREATE TABLE IF NOT EXISTS cursor_stamps(origin TEXT PRIMARY KEY, ts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS peer_acks(peer TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bootstraps(table_name TEXT PRIMARY KEY, state TEXT NOT NULL);
-- bytes: the size of the entry's item when the entry was written (index_stats below; older
-- databases gain the column at open: SqliteStorage::Init).
CREATE TABLE IF NOT EXISTS gsi_entries(
  table_id INTEGER NOT NULL, index_name TEXT NOT NULL, ghk BLOB NOT NULL, grk BLOB NOT NULL,
  hk BLOB NOT NULL, rk BLOB NOT NULL, bytes INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(table_id, index_name, ghk, grk, hk, rk)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gsi_entries_item ON gsi_entries(table_id, hk, rk);
-- Tombstone trimming: per table, the horizon before which tombstones may be gone (see
-- Storage::TombstoneHorizon), and an index of the tombstones so trimming never scans items.
CREATE TABLE IF NOT EXISTS tombstone_horizons(table_id INTEGER PRIMARY KEY, ts INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS items_tombstones ON items(table_id, ts) WHERE item IS NULL;
CREATE TABLE IF NOT EXISTS gsi_backfilled(
  table_id INTEGER NOT NULL, index_name TEXT NOT NULL, PRIMARY KEY(table_id, index_name));
-- Per table: live items and the bytes of their encodings, kept by the triggers below in the
-- transaction of every item write, so reading them costs one row, never a count of the table.
-- A separate table (older databases gain it at open, counted once: SqliteStorage::Init). No
-- OR IGNORE in a trigger: the statement that fires it (an upsert) overrides its conflict clause.
CREATE TABLE IF NOT EXISTS item_stats(
  table_id INTEGER PRIMARY KEY, items INTEGER NOT NULL, bytes INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS item_stats_insert AFTER INSERT ON items WHEN NEW.item IS NOT NULL
BEGIN
  INSERT INTO item_stats SELECT NEW.table_id, 0, 0
    WHERE NOT EXISTS (SELECT 1 FROM item_stats WHERE table_id = NEW.table_id);
  UPDATE item_stats SET items = items + 1, bytes = bytes + length(NEW.item)
    WHERE table_id = NEW.table_id;
END;
CREATE TRIGGER IF NOT EXISTS item_stats_delete AFTER DELETE ON items WHEN OLD.item IS NOT NULL
BEGIN
  UPDATE item_stats SET items = items - 1, bytes = bytes - length(OLD.item)
    WHERE table_id = OLD.table_id;
END;
CREATE TRIGGER IF NOT EXISTS item_stats_update AFTER UPDATE OF item ON items
  WHEN OLD.item IS NOT NULL OR NEW.item IS NOT NULL
BEGIN
  INSERT INTO item_stats SELECT NEW.table_id, 0, 0
    WHERE NOT EXISTS (SELECT 1 FROM item_stats WHERE table_id = NEW.table_id);
  UPDATE item_stats SET
    items = items + (NEW.item IS NOT NULL) - (OLD.item IS NOT NULL),
    bytes = bytes + coalesce(length(NEW.item), 0) - coalesce(length(OLD.item), 0)
    WHERE table_id = NEW.table_id;
END;
-- Per index: its entries and their bytes, kept by the triggers below as item_stats is (a
-- separate table: older databases gain it at open, counted once). One upsert per entry: an
-- upsert clause, unlike a conflict algorithm, is not overridden by the INSERT OR IGNORE that
-- fires the trigger, and it costs ~1.5 us of CPU per indexed write where an INSERT ... WHERE
-- NOT EXISTS plus an UPDATE cost ~4 us (docs/BENCHMARKS.md).
CREATE TABLE IF NOT EXISTS index_stats(
  table_id INTEGER NOT NULL, index_name TEXT NOT NULL, items INTEGER NOT NULL,
  bytes INTEGER NOT NULL, PRIMARY KEY(table_id, index_name)) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS index_stats_insert AFTER INSERT ON gsi_entries
BEGIN
  INSERT INTO index_stats VALUES (NEW.table_id, NEW.index_name, 1, NEW.bytes)
    ON CONFLICT(table_id, index_name) DO UPDATE
    SET items = items + 1, bytes = bytes + excluded.bytes;
END;
CREATE TRIGGER IF NOT EXISTS index_stats_delete AFTER DELETE ON gsi_entries
BEGIN
  UPDATE index_stats SET items = items - 1, bytes = bytes - OLD.bytes
    WHERE table_id = OLD.table_id AND index_name = OLD.index_name;
END;
)sql";

constexpr char kChangeColumns[] =
    "seq, origin, kind, table_name, table_ts, table_origin, ts, commit_true_us, key, "
    "old_image, new_image, spec, "
    "EXISTS(SELECT 1 FROM service_deletes s WHERE s.seq = changelog.seq)";

}  // namespace

SqliteStorage::SqliteStorage(sqlite3* db, std::string region)
    : db_(db), region_(std::move(region)) {}

absl::Status SqliteStorage::StartBackgroundCheckpoints(const std::string& path,
                                                       absl::Duration interval) {
  sqlite3* cp = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &cp, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close(cp);
    return absl::UnavailableError(absl::StrCat("cannot open a checkpoint connection to ", path));
  }
  sqlite3_busy_timeout(cp, 1000);
  // A connection that has not read the database yet has not opened its WAL, and a checkpoint
  // on it silently does nothing: read once first.
  rc = sqlite3_exec(cp, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close(cp);
    return absl::UnavailableError(absl::StrCat("cannot read ", path, " for checkpoints"));
  }
  RETURN_IF_ERROR(Exec("PRAGMA wal_autocheckpoint=0"));
  // Replaces the (disabled) autocheckpoint hook: only counts the WAL's pages.
  sqlite3_wal_hook(
      db_,
      [](void* self, sqlite3*, const char*, int pages) {
        static_cast<SqliteStorage*>(self)->wal_pages_ = pages;
        return SQLITE_OK;
      },
      this);
  checkpointer_ = std::thread([this, cp, interval] {
    while (!stop_checkpointer_.WaitForNotificationWithTimeout(interval)) {
      // PASSIVE never blocks writers; it copies what it can and fsyncs the database file.
      sqlite3_wal_checkpoint_v2(cp, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    }
    sqlite3_close(cp);
  });
  return absl::OkStatus();
}

SqliteStorage::~SqliteStorage() {
  if (checkpointer_.joinable()) {
    stop_checkpointer_.Notify();
    checkpointer_.join();
  }
  for (auto& [sql, s] : statements_) sqlite3_finalize(s);
  sqlite3_close(db_);
}

absl::Status SqliteStorage::SqlError(int rc, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", sqlite3_errmsg(db_), " (SQLite code ", rc, ")");
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::UnavailableError(msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      if (health_.ok()) {
        health_ = absl::DataLossError(absl::StrCat(
            "the database is corrupt (", msg,
            "); writes are stopped. Stop this region and restore region.db from a backup, or move "
            "it away and restart with --rejoin (its writes no peer received are lost)"));
      }
      return absl::DataLossError(msg);
    case SQLITE_FULL:
      return absl::ResourceExhaustedError(msg);
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
      return absl::PermissionDeniedError(msg);
    default:
      return absl::InternalError(msg);
  }
}

absl::StatusOr<std::unique_ptr<SqliteStorage>> SqliteStorage::Open(const std::string& path,
                                                                   const std::string& region,
                                                                   StorageOptions options) {
  // SQLite's allocation statistics take a process-wide mutex on every malloc (7 % of a
  // snapshot load's CPU in perf); nothing here reads them. Must precede the first open.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open database ", path, ": ", msg,
                     " (check that the directory exists and is writable)"));
  }
  if (sqlite3_db_readonly(db, "main") == 1) {
    sqlite3_close(db);
    return absl::PermissionDeniedError(absl::StrCat(
        "cannot write database ", path,
        ": it can only be opened read-only (a read-only file system, or permissions that do not "
        "let this user write the file or its directory); the data in it is not touched"));
  }
  std::unique_ptr<SqliteStorage> s(new SqliteStorage(db, region));
  s->path_ = path;
  absl::Status st = s->Init(options);
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat(path, ": ", st.message()));
  }
  return s;
}

absl::Status SqliteStorage::Exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (err) sqlite3_free(err);
  if (rc != SQLITE_OK) return SqlError(rc, "SQL failed");
  return absl::OkStatus();
}

absl::StatusOr<SqliteStorage::Stmt> SqliteStorage::Prepare(absl::string_view sql) {
  auto it = statements_.find(sql);
  if (it != statements_.end()) return Stmt(it->second);
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) return SqlError(rc, "cannot prepare statement");
  statements_.emplace(std::string(sql), s);
  return Stmt(s);
}

absl::Status SqliteStorage::Init(StorageOptions options) {
  sqlite3_busy_timeout(db_, 5000);
  // Reading the header tells a foreign file from a database before anything is written.
  absl::Status probe = Exec("SELECT count(*) FROM sqlite_master");
  if (!probe.ok() && !absl::IsDataLoss(probe)) {
    // Not the file's content: the disk or its permissions (a read-only directory cannot hold
    // the WAL's -shm file). Never advice to move a good database away.
    return absl::Status(probe.code(),
                        absl::StrCat("cannot read the database (", probe.message(),
                                     "); check that the disk is writable and that this user may "
                                     "read and write the directory and its files"));
  }
  if (!probe.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("not a gtsim database (", probe.message(),
                     "); move the file away or start the region with an empty data directory"));
  }
  bool existing_meta = false, empty = false;
  {  // statements reset at the end of the scope: an active one would hold a read transaction
    ASSIGN_OR_RETURN(auto has_meta,
                     Prepare("SELECT count(*) FROM sqlite_master WHERE name = 'gtsim_meta'"));
    has_meta.Step();
    existing_meta = has_meta.ColInt(0) > 0;
    ASSIGN_OR_RETURN(auto any, Prepare("SELECT count(*) FROM sqlite_master"));
    any.Step();
    empty = any.ColInt(0) == 0;
  }
  if (!existing_meta && !empty) {
    return absl::FailedPreconditionError(
        "not a gtsim database (it holds other tables); use an empty data directory");
  }
  RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  RETURN_IF_ERROR(Exec(options.durability == Durability::kFsync ? "PRAGMA synchronous=FULL"
                                                                : "PRAGMA synchronous=NORMAL"));
  // Savepoint journals (one per write of a group commit) stay in memory, never in a temp file.
  RETURN_IF_ERROR(Exec("PRAGMA temp_store=MEMORY"));
  // 16 MB of page cache instead of SQLite's 2 MB: replication reads the change log it has just
  // written, and a catching-up peer reads far back; with 2 MB every read was a pread().
  RETURN_IF_ERROR(Exec("PRAGMA cache_size=-16384"));
  {
    // A database from before index_stats: its gsi_entries gain the bytes column first (the
    // schema's triggers read it), counted once below.
    ASSIGN_OR_RETURN(auto cols, Prepare("SELECT (SELECT count(*) FROM sqlite_master WHERE name = "
                                        "'gsi_entries'), (SELECT count(*) FROM "
                                        "pragma_table_info('gsi_entries') WHERE name = 'bytes')"));
    if (cols.Step() != SQLITE_ROW) return SqlError(0, "cannot read the schema");
    const bool old_entries = cols.ColInt(0) > 0 && cols.ColInt(1) == 0;
    cols.Reset();
    if (old_entries) {
      RETURN_IF_ERROR(Exec("ALTER TABLE gsi_entries ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0"));
    }
  }
  RETURN_IF_ERROR(Exec(kSchema));
  created_new_ = !existing_meta;
  if (!existing_meta) {
    RETURN_IF_ERROR(Exec(absl::StrCat("INSERT INTO gtsim_meta VALUES ('magic', '", kMagic,
                                      "'), ('schema_version', '", kSchemaVersion, "')")));
    ASSIGN_OR_RETURN(auto ins, Prepare("INSERT INTO gtsim_meta VALUES ('region', ?)"));
    if (ins.Text(1, region_).Step() != SQLITE_DONE) return SqlError(0, "cannot initialise");
  }
  std::map<std::string, std::string> meta;
  {
    ASSIGN_OR_RETURN(auto q, Prepare("SELECT key, value FROM gtsim_meta"));
    while (q.Step() == SQLITE_ROW) meta[q.ColBlob(0)] = q.ColBlob(1);
  }
  if (meta["magic"] != kMagic) {
    return absl::FailedPreconditionError("not a gtsim database (wrong magic)");
  }
  if (meta["schema_version"] != kSchemaVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("database schema version ", meta["schema_version"],
                     " is not supported by this build (expects ", kSchemaVersion, ")"));
  }
  if (meta["region"] != region_) {
    return absl::FailedPreconditionError(
        absl::StrCat("this database belongs to region ", meta["region"], ", not ", region_));
  }
  // A database from before log ids gets one now: its peers' cursors, also from before, carry
  // none, so they keep counting in this log as they did.
  if (!absl::SimpleAtoi(meta["log_id"], &log_id_) || log_id_ == 0) {
    log_id_ = NewLogId();
    ASSIGN_OR_RETURN(auto ins, Prepare("INSERT OR REPLACE INTO gtsim_meta VALUES ('log_id', ?)"));
    if (ins.Text(1, absl::StrCat(log_id_)).Step() != SQLITE_DONE) {
      return SqlError(0, "cannot record the change-log id");
    }
  }
  if (meta["item_stats"] != "1") {
    // A database from before item_stats: count every table once, now, before any write.
    RETURN_IF_ERROR(
        Exec("BEGIN IMMEDIATE; DELETE FROM item_stats; "
             "INSERT INTO item_stats SELECT table_id, count(item), coalesce(sum(length(item)), 0) "
             "FROM items GROUP BY table_id; "
             "INSERT OR REPLACE INTO gtsim_meta VALUES ('item_stats', '1'); COMMIT"));
  }
  if (meta["index_stats"] != "1") {
    RETURN_IF_ERROR(Exec(
        "BEGIN IMMEDIATE; DELETE FROM index_stats; "
        "UPDATE gsi_entries SET bytes = coalesce((SELECT length(i.item) FROM items i WHERE "
        "i.table_id = gsi_entries.table_id AND i.hk = gsi_entries.hk AND i.rk = gsi_entries.rk), "
        "0); "
        "INSERT INTO index_stats SELECT table_id, index_name, count(*), sum(bytes) "
        "FROM gsi_entries GROUP BY table_id, index_name; "
        "INSERT OR REPLACE INTO gtsim_meta VALUES ('index_stats', '1'); COMMIT"));
  }
  {
    ASSIGN_OR_RETURN(auto head, Prepare("SELECT coalesce(max(seq), 0) FROM changelog"));
    if (head.Step() != SQLITE_ROW) return SqlError(0, "cannot read the change log");
    head_seq_ = head.ColInt(0);
  }
  absl::SimpleAtoi(meta["trimmed_through"], &trimmed_through_);
  RETURN_IF_ERROR(LoadHorizons());
  // journal_size_limit: when the WAL restarts after a checkpoint, SQLite truncates the file to
  // 64 MB instead of leaving it at its largest size (a bulk load left 254 MB for good).
  RETURN_IF_ERROR(Exec("PRAGMA journal_size_limit=67108864"));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStorage::FirstSeqAppliedAfter(int64_t true_us) {
  // Commit order is log order: walk back from the head to the first row at or before the time.
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT seq, applied_true_us FROM changelog ORDER BY seq DESC"));
  int64_t first = head_seq_ + 1;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW && q.ColInt(1) > true_us) first = q.ColInt(0);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(rc, "cannot read the log");
  return first;
}

absl::StatusOr<int64_t> SqliteStorage::TrimChangeLog(int64_t below_seq, int64_t before_true_us,
                                                     int limit) {
  below_seq = std::min(below_seq, head_seq_);  // the head row stays: head_seq() survives
  if (below_seq <= trimmed_through_ + 1 || limit <= 0) return 0;
  int64_t keep_local = 0;
  {
    ASSIGN_OR_RETURN(auto q, Prepare("SELECT coalesce(max(seq), 0) FROM changelog "
                                     "WHERE is_local = 1 AND seq < ?1"));
    if (q.Int(1, below_seq).Step() != SQLITE_ROW) return SqlError(0, "cannot read the log");
    keep_local = q.ColInt(0);
  }
  // The rows in order, stopping at the first that is too recent: commit order is log order.
  int64_t through = trimmed_through_;
  {
    ASSIGN_OR_RETURN(auto q, Prepare("SELECT seq, applied_true_us FROM changelog "
                                     "WHERE seq > ?1 AND seq < ?2 ORDER BY seq LIMIT ?3"));
    q.Int(1, trimmed_through_).Int(2, below_seq).Int(3, limit);
    int rc;
    while ((rc = q.Step()) == SQLITE_ROW && q.ColInt(1) < before_true_us) through = q.ColInt(0);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError(rc, "cannot read the log");
  }
  if (through == trimmed_through_) return 0;
  int64_t deleted = 0;
  // From the start: rows kept below an earlier trim (its newest local row) go too.
  for (const char* sql : {"DELETE FROM changelog WHERE seq <= ?1 AND seq != ?2",
                          "DELETE FROM service_deletes WHERE seq <= ?1 AND seq != ?2"}) {
    ASSIGN_OR_RETURN(auto d, Prepare(sql));
    int rc = d.Int(1, through).Int(2, keep_local).Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot trim the change log");
    if (deleted == 0) deleted = sqlite3_changes(db_);
  }
  ASSIGN_OR_RETURN(auto m,
                   Prepare("INSERT OR REPLACE INTO gtsim_meta VALUES ('trimmed_through', ?1)"));
  if (int rc = m.Text(1, absl::StrCat(through)).Step(); rc != SQLITE_DONE) {
    return SqlError(rc, "cannot record the trimmed position");
  }
  trimmed_through_ = through;
  return deleted;
}

absl::StatusOr<DiskUse> SqliteStorage::disk_use() {
  DiskUse use;
  struct stat st;
  if (!path_.empty() && stat(path_.c_str(), &st) == 0) use.database_bytes = st.st_size;
  if (!path_.empty() && stat((path_ + "-wal").c_str(), &st) == 0) use.wal_bytes = st.st_size;
  use.log_positions = head_seq_ - trimmed_through_;
  return use;
}

absl::StatusOr<int> SqliteStorage::SynchronousLevel() {
  ASSIGN_OR_RETURN(auto q, Prepare("PRAGMA synchronous"));
  if (q.Step() != SQLITE_ROW) return SqlError(0, "cannot read PRAGMA synchronous");
  return static_cast<int>(q.ColInt(0));
}

absl::Status SqliteStorage::CheckIntegrity() {
  ASSIGN_OR_RETURN(auto q, Prepare("PRAGMA quick_check(20)"));
  std::vector<std::string> problems;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    std::string line = q.ColBlob(0);
    if (line != "ok") problems.push_back(std::move(line));
  }
  if (rc != SQLITE_DONE) {
    absl::Status failed = SqlError(rc, "the integrity check could not read the database");
    if (!absl::IsDataLoss(failed)) return failed;
    problems.push_back(sqlite3_errmsg(db_));
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(
      "the database is damaged (SQLite quick_check: ", absl::StrJoin(problems, "; "), ")"));
}

void SqliteStorage::CheckpointIfWalOver(int64_t max_wal_pages) {
  if (wal_pages_ <= max_wal_pages) return;
  sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  wal_pages_ = 0;
}

// Prepared once and reused: sqlite3_exec would parse the SQL on every transaction.
absl::Status SqliteStorage::Begin() {
  if (!health_.ok()) return health_;
  ASSIGN_OR_RETURN(auto q, Prepare("BEGIN IMMEDIATE"));
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot begin a transaction");
  return absl::OkStatus();
}
absl::Status SqliteStorage::Commit() {
  ASSIGN_OR_RETURN(auto q, Prepare("COMMIT"));
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot commit");
  return absl::OkStatus();
}
void SqliteStorage::Rollback() {
  if (!sqlite3_get_autocommit(db_)) {
    Exec("ROLLBACK").IgnoreError();
    // head_seq_ may have moved inside the failed transaction: read it back.
    auto head = Prepare("SELECT coalesce(max(seq), 0) FROM changelog");
    if (head.ok() && head->Step() == SQLITE_ROW) head_seq_ = head->ColInt(0);
    // and so may trimmed_through_ (TrimChangeLog).
    auto trimmed = Prepare("SELECT value FROM gtsim_meta WHERE key = 'trimmed_through'");
    trimmed_through_ = 0;
    if (trimmed.ok() && trimmed->Step() == SQLITE_ROW) {
      absl::SimpleAtoi(trimmed->ColBlob(0), &trimmed_through_);
    }
    // and the tombstone horizons (TrimTombstones, DeleteAllItems).
    LoadHorizons().IgnoreError();
  }
}

absl::Status SqliteStorage::Savepoint() {
  ASSIGN_OR_RETURN(auto q, Prepare("SAVEPOINT gtsim_write"));
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot open a savepoint");
  savepoint_head_seq_ = head_seq_;
  return absl::OkStatus();
}

absl::Status SqliteStorage::ReleaseSavepoint() {
  ASSIGN_OR_RETURN(auto q, Prepare("RELEASE gtsim_write"));
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot release a savepoint");
  return absl::OkStatus();
}

absl::Status SqliteStorage::RollbackToSavepoint() {
  {
    ASSIGN_OR_RETURN(auto q, Prepare("ROLLBACK TO gtsim_write"));
    int rc = q.Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot roll back to a savepoint");
  }
  head_seq_ = savepoint_head_seq_;
  return ReleaseSavepoint();  // ROLLBACK TO keeps the savepoint open
}

absl::StatusOr<std::vector<SqliteStorage::TableRow>> SqliteStorage::LoadTables() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT table_id, spec, deleted FROM tables ORDER BY name"));
  std::vector<TableRow> rows;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    TableRow row;
    row.id = q.ColInt(0);
    ASSIGN_OR_RETURN(row.spec, DecodeTableSpec(q.ColBlob(1)));
    row.deleted = q.ColInt(2) != 0;
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read tables");
  return rows;
}

absl::StatusOr<int64_t> SqliteStorage::PutTable(const TableSpec& spec, bool deleted) {
  ASSIGN_OR_RETURN(
      auto q,
      Prepare("INSERT INTO tables(name, table_id, spec, deleted) "
              "VALUES (?1, (SELECT coalesce(max(table_id), 0) + 1 FROM tables), ?2, ?3) "
              "ON CONFLICT(name) DO UPDATE SET spec = excluded.spec, deleted = excluded.deleted "
              "RETURNING table_id"));
  q.Text(1, spec.name).Text(2, EncodeTableSpec(spec)).Int(3, deleted ? 1 : 0);
  if (q.Step() != SQLITE_ROW) return SqlError(sqlite3_errcode(db_), "cannot write table");
  int64_t id = q.ColInt(0);
  q.Step();
  return id;
}

absl::StatusOr<std::optional<SqliteStorage::ItemVersion>> SqliteStorage::GetItem(
    int64_t table_id, const std::string& hk, const std::string& rk) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT item, ts, origin FROM items "
                                   "WHERE table_id = ? AND hk = ? AND rk = ?"));
  q.Int(1, table_id).Blob(2, hk).Blob(3, rk);
  int rc = q.Step();
  if (rc == SQLITE_DONE) {
    // A tombstone trimmed or not: writes stamped before the horizon lose to it alike.
    const int64_t horizon = TombstoneHorizon(table_id);
    if (horizon == 0) return std::optional<ItemVersion>();
    return std::optional<ItemVersion>(ItemVersion{std::nullopt, Stamp{horizon, ""}});
  }
  if (rc != SQLITE_ROW) return SqlError(rc, "cannot read item");
  ItemVersion v;
  if (!q.ColNull(0)) v.item = q.ColBlob(0);
  v.stamp = Stamp{q.ColInt(1), q.ColBlob(2)};
  return std::optional<ItemVersion>(std::move(v));
}

absl::Status SqliteStorage::PutItem(int64_t table_id, const std::string& hk, const std::string& rk,
                                    ItemVersion version) {
  // An upsert, not INSERT OR REPLACE: REPLACE's implicit delete fires no trigger, and the
  // item_stats triggers need the old row.
  ASSIGN_OR_RETURN(auto q,
                   Prepare("INSERT INTO items VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON "
                           "CONFLICT(table_id, hk, rk) DO UPDATE "
                           "SET item = excluded.item, ts = excluded.ts, origin = excluded.origin"));
  q.Int(1, table_id).Blob(2, hk).Blob(3, rk).OptBlob(4, version.item);
  q.Int(5, version.stamp.ts_us).Text(6, version.stamp.region);
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write item");
  return IndexItem(table_id, hk, rk, version.item);
}

void SqliteStorage::SetIndexes(int64_t table_id, std::vector<IndexDef> indexes) {
  if (indexes.empty()) {
    indexes_.erase(table_id);
  } else {
    indexes_[table_id] = std::move(indexes);
  }
}

absl::Status SqliteStorage::AddIndexEntry(int64_t table_id, const IndexDef& index,
                                          const std::string& hk, const std::string& rk,
                                          const Item& item, int64_t bytes) {
  auto key = IndexKeyOf(index, item);
  if (!key) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto q,
                   Prepare("INSERT OR IGNORE INTO gsi_entries VALUES (?, ?, ?, ?, ?, ?, ?)"));
  q.Int(1, table_id).Text(2, index.name).Blob(3, key->first).Blob(4, key->second);
  q.Blob(5, hk).Blob(6, rk).Int(7, bytes);
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write index entry");
  return absl::OkStatus();
}

absl::Status SqliteStorage::IndexItem(int64_t table_id, const std::string& hk,
                                      const std::string& rk,
                                      const std::optional<std::string>& item) {
  auto it = indexes_.find(table_id);
  if (it == indexes_.end()) return absl::OkStatus();
  {
    ASSIGN_OR_RETURN(auto del,
                     Prepare("DELETE FROM gsi_entries WHERE table_id = ? AND hk = ? AND rk = ?"));
    int rc = del.Int(1, table_id).Blob(2, hk).Blob(3, rk).Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot update index entries");
  }
  if (!item) return absl::OkStatus();
  ASSIGN_OR_RETURN(Item decoded, DecodeItem(*item));
  for (const auto& index : it->second) {
    RETURN_IF_ERROR(AddIndexEntry(table_id, index, hk, rk, decoded, item->size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> SqliteStorage::BackfillIndex(
    int64_t table_id, const IndexDef& index,
    const std::optional<std::pair<std::string, std::string>>& after, int limit) {
  ASSIGN_OR_RETURN(auto rows, ScanVersions(table_id, after, limit, int64_t{1} << 40));
  for (const auto& row : rows) {
    if (!row.item) continue;
    ASSIGN_OR_RETURN(Item item, DecodeItem(*row.item));
    RETURN_IF_ERROR(AddIndexEntry(table_id, index, row.hk, row.rk, item, row.item->size()));
  }
  if (static_cast<int>(rows.size()) < limit) {
    return std::optional<std::pair<std::string, std::string>>();
  }
  return std::optional<std::pair<std::string, std::string>>(
      std::make_pair(rows.back().hk, rows.back().rk));
}

absl::Status SqliteStorage::DropIndex(int64_t table_id, const std::string& index) {
  for (const char* sql : {"DELETE FROM gsi_entries WHERE table_id = ? AND index_name = ?",
                          "DELETE FROM gsi_backfilled WHERE table_id = ? AND index_name = ?"}) {
    ASSIGN_OR_RETURN(auto q, Prepare(sql));
    int rc = q.Int(1, table_id).Text(2, index).Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot drop index");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, Storage::ItemStats>> SqliteStorage::IndexStatsOf(
    int64_t table_id) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT index_name, items, bytes FROM index_stats "
                                   "WHERE table_id = ? AND items > 0"));
  q.Int(1, table_id);
  std::map<std::string, ItemStats> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out[q.ColBlob(0)] = ItemStats{q.ColInt(1), q.ColInt(2)};
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read index stats");
  return out;
}

absl::Status SqliteStorage::MarkBackfilled(int64_t table_id, const std::string& index) {
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR IGNORE INTO gsi_backfilled VALUES (?, ?)"));
  int rc = q.Int(1, table_id).Text(2, index).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot mark index backfilled");
  return absl::OkStatus();
}

absl::StatusOr<bool> SqliteStorage::IsBackfilled(int64_t table_id, const std::string& index) {
  ASSIGN_OR_RETURN(
      auto q, Prepare("SELECT count(*) FROM gsi_backfilled WHERE table_id = ? AND index_name = ?"));
  if (q.Int(1, table_id).Text(2, index).Step() != SQLITE_ROW) return SqlError(0, "index state");
  return q.ColInt(0) > 0;
}

absl::StatusOr<std::vector<std::string>> SqliteStorage::QueryIndex(
    int64_t table_id, const std::string& index, const std::string& ghk, const RangeBounds& b,
    bool backward, int limit, const std::optional<IndexPosition>& after) {
  std::string sql =
      "SELECT i.item FROM gsi_entries g JOIN items i ON i.table_id = g.table_id AND i.hk = g.hk "
      "AND i.rk = g.rk WHERE g.table_id = ?1 AND g.index_name = ?6 AND g.ghk = ?2 "
      "AND i.item IS NOT NULL";
  if (b.lower) absl::StrAppend(&sql, " AND g.grk ", b.lower_inclusive ? ">=" : ">", " ?3");
  if (b.upper) absl::StrAppend(&sql, " AND g.grk ", b.upper_inclusive ? "<=" : "<", " ?4");
  if (after)
    absl::StrAppend(&sql, " AND (g.grk, g.hk, g.rk) ", backward ? "<" : ">", " (?7, ?8, ?9)");
  const char* dir = backward ? " DESC" : " ASC";
  absl::StrAppend(&sql, " ORDER BY g.grk", dir, ", g.hk", dir, ", g.rk", dir, " LIMIT ?5");
  ASSIGN_OR_RETURN(auto q, Prepare(sql));
  q.Int(1, table_id).Blob(2, ghk).Int(5, limit > 0 ? limit : -1).Text(6, index);
  if (b.lower) q.Blob(3, *b.lower);
  if (b.upper) q.Blob(4, *b.upper);
  if (after) q.Blob(7, after->grk).Blob(8, after->hk).Blob(9, after->rk);
  std::vector<std::string> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(q.ColBlob(0));
  if (rc != SQLITE_DONE) return SqlError(rc, "index query failed");
  return out;
}

absl::Status SqliteStorage::DeleteAllItems(int64_t table_id) {
  for (const char* sql :
       {"DELETE FROM items WHERE table_id = ?", "DELETE FROM gsi_entries WHERE table_id = ?",
        "DELETE FROM gsi_backfilled WHERE table_id = ?",
        "DELETE FROM tombstone_horizons WHERE table_id = ?"}) {
    ASSIGN_OR_RETURN(auto q, Prepare(sql));
    int rc = q.Int(1, table_id).Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot delete items");
  }
  horizons_.erase(table_id);
  return absl::OkStatus();
}

absl::Status SqliteStorage::LoadHorizons() {
  horizons_.clear();
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT table_id, ts FROM tombstone_horizons"));
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) horizons_[q.ColInt(0)] = q.ColInt(1);
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read the tombstone horizons");
  return absl::OkStatus();
}

int64_t SqliteStorage::TombstoneHorizon(int64_t table_id) const {
  auto it = horizons_.find(table_id);
  return it == horizons_.end() ? 0 : it->second;
}

absl::StatusOr<int64_t> SqliteStorage::TrimTombstones(int64_t table_id, int64_t horizon,
                                                      int limit) {
  if (horizon > TombstoneHorizon(table_id)) {
    ASSIGN_OR_RETURN(auto h, Prepare("INSERT OR REPLACE INTO tombstone_horizons VALUES (?1, ?2)"));
    if (int rc = h.Int(1, table_id).Int(2, horizon).Step(); rc != SQLITE_DONE) {
      return SqlError(rc, "cannot record the tombstone horizon");
    }
    horizons_[table_id] = horizon;
  }
  horizon = TombstoneHorizon(table_id);
  if (horizon == 0 || limit <= 0) return 0;
  // Through the partial index items_tombstones: only tombstones are visited.
  ASSIGN_OR_RETURN(auto d, Prepare("DELETE FROM items WHERE table_id = ?1 AND item IS NULL AND "
                                   "(hk, rk) IN (SELECT hk, rk FROM items WHERE table_id = ?1 "
                                   "AND item IS NULL AND ts < ?2 LIMIT ?3)"));
  if (int rc = d.Int(1, table_id).Int(2, horizon).Int(3, limit).Step(); rc != SQLITE_DONE) {
    return SqlError(rc, "cannot trim tombstones");
  }
  return static_cast<int64_t>(sqlite3_changes(db_));
}

absl::StatusOr<Storage::ItemStats> SqliteStorage::ItemStatsOf(int64_t table_id) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT items, bytes FROM item_stats WHERE table_id = ?"));
  int rc = q.Int(1, table_id).Step();
  if (rc == SQLITE_DONE) return ItemStats{};
  if (rc != SQLITE_ROW) return SqlError(rc, "cannot read item statistics");
  return ItemStats{q.ColInt(0), q.ColInt(1)};
}

int64_t SqliteStorage::PagesRead() const {
  int hit = 0, miss = 0, high = 0;
  sqlite3_db_status(db_, SQLITE_DBSTATUS_CACHE_HIT, &hit, &high, 0);
  sqlite3_db_status(db_, SQLITE_DBSTATUS_CACHE_MISS, &miss, &high, 0);
  return int64_t{hit} + miss;
}

absl::StatusOr<std::vector<std::string>> SqliteStorage::QueryItems(int64_t table_id,
                                                                   const std::string& hk,
                                                                   const RangeBounds& b,
                                                                   bool backward, int limit) {
  std::string sql = "SELECT item FROM items WHERE table_id = ?1 AND hk = ?2 AND item IS NOT NULL";
  if (b.lower) absl::StrAppend(&sql, " AND rk ", b.lower_inclusive ? ">=" : ">", " ?3");
  if (b.upper) absl::StrAppend(&sql, " AND rk ", b.upper_inclusive ? "<=" : "<", " ?4");
  absl::StrAppend(&sql, " ORDER BY rk ", backward ? "DESC" : "ASC", " LIMIT ?5");
  ASSIGN_OR_RETURN(auto q, Prepare(sql));
  q.Int(1, table_id).Blob(2, hk).Int(5, limit > 0 ? limit : -1);
  if (b.lower) q.Blob(3, *b.lower);
  if (b.upper) q.Blob(4, *b.upper);
  std::vector<std::string> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(q.ColBlob(0));
  if (rc != SQLITE_DONE) return SqlError(rc, "query failed");
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteStorage::ScanItems(
    int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after, int limit) {
  std::string sql = "SELECT item FROM items WHERE table_id = ?1 AND item IS NOT NULL";
  if (after) sql += " AND (hk, rk) > (?2, ?3)";
  sql += " ORDER BY hk, rk LIMIT ?4";
  ASSIGN_OR_RETURN(auto q, Prepare(sql));
  q.Int(1, table_id).Int(4, limit > 0 ? limit : -1);
  if (after) q.Blob(2, after->first).Blob(3, after->second);
  std::vector<std::string> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out.push_back(q.ColBlob(0));
  if (rc != SQLITE_DONE) return SqlError(rc, "scan failed");
  return out;
}

absl::StatusOr<std::vector<SqliteStorage::VersionRow>> SqliteStorage::DumpVersions(
    int64_t table_id) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT hk, rk, item, ts, origin FROM items "
                                   "WHERE table_id = ? ORDER BY hk, rk"));
  q.Int(1, table_id);
  std::vector<VersionRow> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    VersionRow row{q.ColBlob(0), q.ColBlob(1), {}};
    if (!q.ColNull(2)) row.version.item = q.ColBlob(2);
    row.version.stamp = Stamp{q.ColInt(3), q.ColBlob(4)};
    out.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqlError(rc, "dump failed");
  return out;
}

absl::StatusOr<std::vector<SnapshotRow>> SqliteStorage::ScanVersions(
    int64_t table_id, const std::optional<std::pair<std::string, std::string>>& after, int limit,
    int64_t max_bytes) {
  std::string sql = "SELECT hk, rk, item, ts, origin FROM items WHERE table_id = ?1";
  if (after) sql += " AND (hk, rk) > (?2, ?3)";
  sql += " ORDER BY hk, rk LIMIT ?4";
  ASSIGN_OR_RETURN(auto q, Prepare(sql));
  q.Int(1, table_id).Int(4, limit > 0 ? limit : -1);
  if (after) q.Blob(2, after->first).Blob(3, after->second);
  std::vector<SnapshotRow> out;
  int64_t bytes = 0;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    SnapshotRow row{q.ColBlob(0), q.ColBlob(1), std::nullopt, Stamp{q.ColInt(3), q.ColBlob(4)}};
    if (!q.ColNull(2)) row.item = q.ColBlob(2);
    bytes += row.hk.size() + row.rk.size() + (row.item ? row.item->size() : 0);
    out.push_back(std::move(row));
    if (bytes >= max_bytes) break;
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(rc, "snapshot read failed");
  return out;
}

absl::StatusOr<int64_t> SqliteStorage::CountVersions(int64_t table_id) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT count(*) FROM items WHERE table_id = ?"));
  if (q.Int(1, table_id).Step() != SQLITE_ROW) return SqlError(0, "cannot count versions");
  return q.ColInt(0);
}

absl::Status SqliteStorage::PutVersionsIfNewer(int64_t table_id,
                                               const std::vector<SnapshotRow>& rows) {
  // The LWW rule of lww.h as one statement: replace only an older (ts, origin).
  ASSIGN_OR_RETURN(auto q,
                   Prepare("INSERT INTO items VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON "
                           "CONFLICT(table_id, hk, rk) DO UPDATE "
                           "SET item = excluded.item, ts = excluded.ts, origin = excluded.origin "
                           "WHERE (excluded.ts, excluded.origin) > (items.ts, items.origin)"));
  const bool indexed = indexes_.count(table_id) > 0;
  for (const auto& row : rows) {
    q.Int(1, table_id).BlobRef(2, row.hk).BlobRef(3, row.rk);
    if (row.item) {
      q.BlobRef(4, *row.item);
    } else {
      q.OptBlob(4, std::nullopt);
    }
    q.Int(5, row.stamp.ts_us).Text(6, row.stamp.region);
    int rc = q.Step();
    q.Reset();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot load snapshot row");
    if (indexed && sqlite3_changes(db_) > 0) {  // else the stored version was newer
      RETURN_IF_ERROR(IndexItem(table_id, row.hk, row.rk, row.item));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, BootstrapState>> SqliteStorage::LoadBootstraps() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT table_name, state FROM bootstraps"));
  std::map<std::string, BootstrapState> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    nlohmann::json j = nlohmann::json::parse(q.ColBlob(1), nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::DataLossError("stored bootstrap state is corrupt");
    }
    try {
      BootstrapState b;
      b.table = q.ColBlob(0);
      b.table_created =
          Stamp{j.at("created_us").get<int64_t>(), j.at("created_by").get<std::string>()};
      b.source = j.at("source").get<std::string>();
      if (j.contains("added_us")) {
        b.added = Stamp{j["added_us"].get<int64_t>(), j.at("added_by").get<std::string>()};
      }
      if (j.contains("cut")) b.cut = j["cut"].get<std::map<std::string, int64_t>>();
      if (j.contains("after_hk")) {
        // Keys are binary: stored as arrays of byte values.
        auto hk = j["after_hk"].get<std::vector<uint8_t>>();
        auto rk = j["after_rk"].get<std::vector<uint8_t>>();
        b.after =
            std::make_pair(std::string(hk.begin(), hk.end()), std::string(rk.begin(), rk.end()));
      }
      b.loaded_rows = j.at("loaded_rows").get<int64_t>();
      b.total_rows = j.at("total_rows").get<int64_t>();
      b.loaded = j.at("loaded").get<bool>();
      out[b.table] = std::move(b);
    } catch (const nlohmann::json::exception& e) {
      return absl::DataLossError(absl::StrCat("stored bootstrap state is corrupt: ", e.what()));
    }
  }
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read bootstraps");
  return out;
}

absl::Status SqliteStorage::PutBootstrap(const BootstrapState& b) {
  nlohmann::json j;
  j["created_us"] = b.table_created.ts_us;
  j["created_by"] = b.table_created.region;
  j["source"] = b.source;
  if (!b.added.empty()) {
    j["added_us"] = b.added.ts_us;
    j["added_by"] = b.added.region;
  }
  if (b.cut) j["cut"] = *b.cut;
  if (b.after) {
    j["after_hk"] = std::vector<uint8_t>(b.after->first.begin(), b.after->first.end());
    j["after_rk"] = std::vector<uint8_t>(b.after->second.begin(), b.after->second.end());
  }
  j["loaded_rows"] = b.loaded_rows;
  j["total_rows"] = b.total_rows;
  j["loaded"] = b.loaded;
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR REPLACE INTO bootstraps VALUES (?, ?)"));
  int rc = q.Text(1, b.table).Text(2, j.dump()).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write bootstrap state");
  return absl::OkStatus();
}

absl::Status SqliteStorage::DeleteBootstrap(const std::string& table) {
  ASSIGN_OR_RETURN(auto q, Prepare("DELETE FROM bootstraps WHERE table_name = ?"));
  int rc = q.Text(1, table).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot delete bootstrap state");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStorage::AppendChange(Change c, bool is_local,
                                                    int64_t applied_true_us) {
  ASSIGN_OR_RETURN(
      auto q, Prepare("INSERT INTO changelog(seq, origin, is_local, kind, table_name, table_ts, "
                      "table_origin, ts,"
                      " commit_true_us, applied_true_us, key, old_image, new_image, spec)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"));
  int64_t seq = head_seq_ + 1;
  q.Int(1, seq).Text(2, c.stamp.region).Int(3, is_local ? 1 : 0).Int(4, static_cast<int>(c.kind));
  q.Text(5, c.table).Int(6, c.table_created.ts_us).Text(7, c.table_created.region);
  q.Int(8, c.stamp.ts_us).Int(9, c.commit_true_us).Int(10, applied_true_us);
  q.Blob(11, EncodeItem(c.key));
  q.OptBlob(12, c.old_image ? std::optional<std::string>(EncodeItem(*c.old_image)) : std::nullopt);
  q.OptBlob(13, c.new_image ? std::optional<std::string>(EncodeItem(*c.new_image)) : std::nullopt);
  q.OptBlob(14, c.spec ? std::optional<std::string>(EncodeTableSpec(*c.spec)) : std::nullopt);
  int rc = q.Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot append to the change log");
  if (c.service_delete && is_local) {
    ASSIGN_OR_RETURN(auto s, Prepare("INSERT INTO service_deletes(seq) VALUES (?1)"));
    rc = s.Int(1, seq).Step();
    if (rc != SQLITE_DONE) return SqlError(rc, "cannot mark a TTL delete in the change log");
  }
  head_seq_ = seq;
  return seq;
}

absl::StatusOr<std::vector<Change>> SqliteStorage::ReadChangeRows(const std::string& sql,
                                                                  int64_t after_seq, int limit,
                                                                  const ChangeFilter* keep) {
  ASSIGN_OR_RETURN(auto q, Prepare(sql));
  q.Int(1, after_seq).Int(2, limit > 0 ? limit : -1);
  std::vector<Change> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) {
    Change c;
    c.seq = q.ColInt(0);
    c.stamp.region = q.ColBlob(1);
    c.kind = static_cast<ChangeKind>(q.ColInt(2));
    c.table = q.ColBlob(3);
    c.table_created = Stamp{q.ColInt(4), q.ColBlob(5)};
    c.stamp.ts_us = q.ColInt(6);
    c.commit_true_us = q.ColInt(7);
    c.service_delete = q.ColInt(12) != 0;
    if (!q.ColNull(11)) {
      ASSIGN_OR_RETURN(c.spec, DecodeTableSpec(q.ColBlob(11)));
    }
    if (keep && !(*keep)(c)) {
      out.push_back(std::move(c));  // header only
      continue;
    }
    if (!q.ColNull(8)) {
      ASSIGN_OR_RETURN(c.key, DecodeItem(q.ColBlob(8)));
    }
    if (!keep && !q.ColNull(9)) {
      ASSIGN_OR_RETURN(c.old_image, DecodeItem(q.ColBlob(9)));
    }
    if (!q.ColNull(10)) {
      ASSIGN_OR_RETURN(c.new_image, DecodeItem(q.ColBlob(10)));
    }
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read the change log");
  return out;
}

absl::StatusOr<std::vector<Change>> SqliteStorage::ReadLocalChanges(int64_t after_seq, int limit,
                                                                    const ChangeFilter& keep) {
  return ReadChangeRows(absl::StrCat("SELECT ", kChangeColumns,
                                     " FROM changelog WHERE is_local = 1 AND seq > ?1"
                                     " ORDER BY seq LIMIT ?2"),
                        after_seq, limit, &keep);
}

absl::StatusOr<std::vector<Change>> SqliteStorage::ReadLocalChanges(int64_t after_seq, int limit) {
  return ReadChangeRows(absl::StrCat("SELECT ", kChangeColumns,
                                     " FROM changelog WHERE is_local = 1 AND seq > ?1"
                                     " ORDER BY seq LIMIT ?2"),
                        after_seq, limit);
}

absl::StatusOr<std::vector<Change>> SqliteStorage::ReadChanges(int64_t after_seq, int limit) {
  return ReadChangeRows(absl::StrCat("SELECT ", kChangeColumns,
                                     " FROM changelog WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
                        after_seq, limit);
}

absl::StatusOr<int64_t> SqliteStorage::CountLocalChanges(int64_t after_seq,
                                                         const std::vector<std::string>& tables) {
  int64_t total = 0;
  for (const auto& t : tables) {
    ASSIGN_OR_RETURN(auto q, Prepare("SELECT count(*) FROM changelog "
                                     "WHERE is_local = 1 AND seq > ? AND table_name = ?"));
    if (q.Int(1, after_seq).Text(2, t).Step() != SQLITE_ROW) return SqlError(0, "count failed");
    total += q.ColInt(0);
  }
  return total;
}

absl::StatusOr<int64_t> SqliteStorage::LastLocalTimestamp() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT coalesce(max(ts), 0) FROM "
                                   "(SELECT ts FROM changelog WHERE is_local = 1 "
                                   "ORDER BY seq DESC LIMIT 1)"));
  if (q.Step() != SQLITE_ROW) return SqlError(0, "cannot read the change log");
  return q.ColInt(0);
}

absl::StatusOr<std::map<std::string, int64_t>> SqliteStorage::LoadPeerAcks() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT peer, acked_seq FROM peer_acks"));
  std::map<std::string, int64_t> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out[q.ColBlob(0)] = q.ColInt(1);
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read peer acknowledgements");
  return out;
}

absl::Status SqliteStorage::SetPeerAck(const std::string& peer, int64_t acked_seq) {
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR REPLACE INTO peer_acks VALUES (?, ?)"));
  int rc = q.Text(1, peer).Int(2, acked_seq).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write peer acknowledgement");
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int64_t>> SqliteStorage::LoadCursors() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT origin, applied_seq FROM cursors"));
  std::map<std::string, int64_t> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out[q.ColBlob(0)] = q.ColInt(1);
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read cursors");
  return out;
}

absl::Status SqliteStorage::SetCursor(const std::string& origin, int64_t applied_seq) {
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR REPLACE INTO cursors VALUES (?, ?)"));
  int rc = q.Text(1, origin).Int(2, applied_seq).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write cursor");
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, int64_t>> SqliteStorage::LoadCursorLogIds() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT origin, log_id FROM cursor_logs"));
  std::map<std::string, int64_t> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out[q.ColBlob(0)] = q.ColInt(1);
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read cursor log ids");
  return out;
}

absl::Status SqliteStorage::SetCursorLogId(const std::string& origin, int64_t log_id) {
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR REPLACE INTO cursor_logs VALUES (?, ?)"));
  int rc = q.Text(1, origin).Int(2, log_id).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write cursor log id");
  return absl::OkStatus();
}

// --- log rollback -----------------------------------------------------------------------------

absl::StatusOr<int64_t> SqliteStorage::LocalTimestampThrough(int64_t seq) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT ts FROM changelog WHERE is_local = 1 AND seq <= ? "
                                   "ORDER BY seq DESC LIMIT 1"));
  int rc = q.Int(1, seq).Step();
  if (rc == SQLITE_DONE) return 0;
  if (rc != SQLITE_ROW) return SqlError(rc, "cannot read the change log");
  return q.ColInt(0);
}

absl::StatusOr<int64_t> SqliteStorage::NewestLocalTimestampAtOrBefore(int64_t ts) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT coalesce(max(ts), 0) FROM changelog "
                                   "WHERE is_local = 1 AND ts <= ?"));
  if (q.Int(1, ts).Step() != SQLITE_ROW) return SqlError(0, "cannot read the change log");
  return q.ColInt(0);
}

absl::StatusOr<std::map<std::string, int64_t>> SqliteStorage::LoadCursorStamps() {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT origin, ts FROM cursor_stamps"));
  std::map<std::string, int64_t> out;
  int rc;
  while ((rc = q.Step()) == SQLITE_ROW) out[q.ColBlob(0)] = q.ColInt(1);
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot read cursor stamps");
  return out;
}

absl::Status SqliteStorage::SetCursorStamp(const std::string& origin, int64_t ts_us) {
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR REPLACE INTO cursor_stamps VALUES (?, ?)"));
  int rc = q.Text(1, origin).Int(2, ts_us).Step();
  if (rc != SQLITE_DONE) return SqlError(rc, "cannot write cursor stamp");
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SqliteStorage::RenewLogId() {
  int64_t id;
  do {
    id = NewLogId();
  } while (id == log_id_);
  RETURN_IF_ERROR(PutMeta("log_id", absl::StrCat(id)));
  // Peers re-read a renewed log from its start; what was trimmed they had all acknowledged,
  // so they are served what remains rather than refused (Region::ReadFor).
  RETURN_IF_ERROR(PutMeta("trimmed_through", std::nullopt));
  log_id_ = id;
  trimmed_through_ = 0;
  return id;
}

absl::StatusOr<std::optional<std::string>> SqliteStorage::GetMeta(const std::string& key) {
  ASSIGN_OR_RETURN(auto q, Prepare("SELECT value FROM gtsim_meta WHERE key = ?"));
  int rc = q.Text(1, key).Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return SqlError(rc, "cannot read gtsim_meta");
  return std::optional<std::string>(q.ColBlob(0));
}

absl::Status SqliteStorage::PutMeta(const std::string& key,
                                    const std::optional<std::string>& value) {
  if (!value) {
    ASSIGN_OR_RETURN(auto q, Prepare("DELETE FROM gtsim_meta WHERE key = ?"));
    if (q.Text(1, key).Step() != SQLITE_DONE) return SqlError(0, "cannot write gtsim_meta");
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(auto q, Prepare("INSERT OR REPLACE INTO gtsim_meta VALUES (?, ?)"));
  if (q.Text(1, key).Text(2, *value).Step() != SQLITE_DONE) {
    return SqlError(0, "cannot write gtsim_meta");
  }
  return absl::OkStatus();
}

}  // namespace gtsim
