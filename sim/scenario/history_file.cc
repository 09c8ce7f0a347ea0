#include "sim/scenario/history_file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "model/item_json.h"
#include "model/status_macros.h"

namespace gtsim::scenario {
namespace {

using nlohmann::json;

constexpr char kFormat[] = "gtsim-history";
constexpr int kVersion = 1;

const WriteKind kKinds[] = {WriteKind::kPut, WriteKind::kConditionalPut, WriteKind::kUpdate,
                            WriteKind::kDelete};

json StampJson(const Stamp& s) { return {{"ts_us", s.ts_us}, {"region", s.region}}; }

std::string KeyDefText(const KeyDef& k) { return absl::StrCat(k.name, ":", ValueTypeName(k.type)); }

absl::Status NotHistory(const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("not a gtsim history: ", why));
}

// Field readers: each names the field that is missing or of the wrong type.
absl::StatusOr<const json*> Field(const json& o, const char* name, const char* where) {
  if (!o.is_object() || !o.contains(name)) {
    return NotHistory(absl::StrCat(where, " has no \"", name, "\""));
  }
  return &o.at(name);
}

absl::StatusOr<int64_t> Int(const json& o, const char* name, const char* where) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, where));
  if (!v->is_number_integer()) {
    return NotHistory(absl::StrCat(where, "'s \"", name, "\" is not a whole number"));
  }
  return v->get<int64_t>();
}

absl::StatusOr<double> Number(const json& o, const char* name, const char* where) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, where));
  if (!v->is_number()) return NotHistory(absl::StrCat(where, "'s \"", name, "\" is not a number"));
  return v->get<double>();
}

absl::StatusOr<std::string> Str(const json& o, const char* name, const char* where) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, where));
  if (!v->is_string()) return NotHistory(absl::StrCat(where, "'s \"", name, "\" is not a string"));
  return v->get<std::string>();
}

absl::StatusOr<std::vector<std::string>> Strings(const json& o, const char* name,
                                                 const char* where) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, where));
  std::vector<std::string> out;
  if (!v->is_array()) return NotHistory(absl::StrCat(where, "'s \"", name, "\" is not a list"));
  for (const auto& e : *v) {
    if (!e.is_string())
      return NotHistory(absl::StrCat(where, "'s \"", name, "\" holds a non-string"));
    out.push_back(e.get<std::string>());
  }
  return out;
}

absl::StatusOr<const json*> List(const json& o, const char* name) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, "the document"));
  if (!v->is_array()) return NotHistory(absl::StrCat("\"", name, "\" is not a list"));
  return v;
}

absl::StatusOr<Item> ItemField(const json& o, const char* name, const char* where) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, where));
  auto item = ItemFromJson(*v);
  if (!item.ok()) {
    return NotHistory(absl::StrCat(where, "'s \"", name, "\": ", item.status().message()));
  }
  return *std::move(item);
}

absl::StatusOr<std::optional<Item>> OptionalItem(const json& o, const char* name,
                                                 const char* where) {
  if (!o.contains(name) || o.at(name).is_null()) return std::optional<Item>();
  ASSIGN_OR_RETURN(Item item, ItemField(o, name, where));
  return std::optional<Item>(std::move(item));
}

absl::StatusOr<Stamp> StampField(const json& o, const char* name, const char* where) {
  ASSIGN_OR_RETURN(const json* v, Field(o, name, where));
  Stamp s;
  ASSIGN_OR_RETURN(s.ts_us, Int(*v, "ts_us", where));
  ASSIGN_OR_RETURN(s.region, Str(*v, "region", where));
  return s;
}

absl::StatusOr<WriteKind> KindField(const json& o, const char* where) {
  ASSIGN_OR_RETURN(std::string name, Str(o, "kind", where));
  for (WriteKind k : kKinds) {
    if (name == WriteKindName(k)) return k;
  }
  return NotHistory(absl::StrCat(where, " has an unknown kind \"", name, "\""));
}

absl::StatusOr<KeyDef> KeyDefField(const json& o, const char* name) {
  ASSIGN_OR_RETURN(std::string text, Str(o, name, "a table"));
  auto def = ParseKeyDef(text);
  if (!def.ok()) return NotHistory(absl::StrCat("a table's ", name, ": ", def.status().message()));
  return *def;
}

absl::StatusOr<TableDef> TableFromJson(const json& t) {
  TableDef def;
  ASSIGN_OR_RETURN(def.name, Str(t, "name", "a table"));
  ASSIGN_OR_RETURN(def.hash_key, KeyDefField(t, "hash_key"));
  if (t.contains("range_key")) {
    ASSIGN_OR_RETURN(KeyDef rk, KeyDefField(t, "range_key"));
    def.range_key = rk;
  }
  ASSIGN_OR_RETURN(def.replicas, Strings(t, "replicas", "a table"));
  return def;
}

absl::StatusOr<AckedWrite> WriteFromJson(const json& w) {
  const char* where = "a write";
  AckedWrite a;
  ASSIGN_OR_RETURN(a.id, Int(w, "id", where));
  ASSIGN_OR_RETURN(a.kind, KindField(w, where));
  ASSIGN_OR_RETURN(a.region, Str(w, "region", where));
  ASSIGN_OR_RETURN(a.key, ItemField(w, "key", where));
  ASSIGN_OR_RETURN(a.key_text, Str(w, "key_text", where));
  ASSIGN_OR_RETURN(a.true_us, Int(w, "true_us", where));
  ASSIGN_OR_RETURN(a.skew_us, Int(w, "skew_us", where));
  ASSIGN_OR_RETURN(a.result.stamp, StampField(w, "stamp", where));
  if (w.contains("superseded_by")) {
    ASSIGN_OR_RETURN(Stamp by, StampField(w, "superseded_by", where));
    a.result.superseded_by = by;
  }
  ASSIGN_OR_RETURN(a.result.old_item, OptionalItem(w, "old_item", where));
  ASSIGN_OR_RETURN(a.result.new_item, OptionalItem(w, "new_item", where));
  return a;
}

absl::StatusOr<RecordedRun> FromJson(const json& doc) {
  if (!doc.is_object() || !doc.contains("format") || doc["format"] != kFormat) {
    return NotHistory("it has no \"format\": \"gtsim-history\" (gtsim traffic writes one)");
  }
  ASSIGN_OR_RETURN(int64_t version, Int(doc, "version", "the document"));
  if (version != kVersion) {
    return NotHistory(absl::StrCat("version ", version, ", this gtsim reads version ", kVersion));
  }
  RecordedRun run;
  const char* top = "the document";
  ASSIGN_OR_RETURN(run.cluster_dir, Str(doc, "cluster", top));
  ASSIGN_OR_RETURN(run.regions, Strings(doc, "regions", top));
  if (doc.contains("command")) {
    ASSIGN_OR_RETURN(run.command, Str(doc, "command", top));
  }
  ASSIGN_OR_RETURN(int64_t seed, Int(doc, "seed", top));
  run.seed = static_cast<uint64_t>(seed);
  ASSIGN_OR_RETURN(run.start_us, Int(doc, "start_us", top));
  ASSIGN_OR_RETURN(run.end_us, Int(doc, "end_us", top));
  ASSIGN_OR_RETURN(const json* tables, List(doc, "tables"));
  for (const auto& t : *tables) {
    ASSIGN_OR_RETURN(TableDef def, TableFromJson(t));
    run.tables.push_back(std::move(def));
  }
  if (run.tables.empty()) return NotHistory("it names no table");
  auto known = [&](const std::string& table) {
    for (const auto& t : run.tables) {
      if (t.name == table) return true;
    }
    return false;
  };
  WorkloadRecord& r = run.record;
  ASSIGN_OR_RETURN(const json* writes, List(doc, "writes"));
  for (const auto& w : *writes) {
    ASSIGN_OR_RETURN(std::string table, Str(w, "table", "a write"));
    if (!known(table)) return NotHistory(absl::StrCat("a write to table ", table, " not listed"));
    ASSIGN_OR_RETURN(AckedWrite a, WriteFromJson(w));
    r.history[table].Record(std::move(a));
  }
  ASSIGN_OR_RETURN(const json* unanswered, List(doc, "unanswered"));
  for (const auto& u : *unanswered) {
    const char* where = "an unanswered write";
    UnansweredWrite x;
    ASSIGN_OR_RETURN(int64_t id, Int(u, "id", where));
    ASSIGN_OR_RETURN(x.kind, KindField(u, where));
    ASSIGN_OR_RETURN(x.table, Str(u, "table", where));
    ASSIGN_OR_RETURN(x.region, Str(u, "region", where));
    ASSIGN_OR_RETURN(x.key, ItemField(u, "key", where));
    ASSIGN_OR_RETURN(x.key_text, Str(u, "key_text", where));
    ASSIGN_OR_RETURN(x.true_us, Int(u, "true_us", where));
    r.unanswered[id] = std::move(x);
  }
  ASSIGN_OR_RETURN(const json* reads, List(doc, "reads"));
  for (const auto& x : *reads) {
    const char* where = "a read";
    ReadRecord rd;
    ASSIGN_OR_RETURN(rd.table, Str(x, "table", where));
    ASSIGN_OR_RETURN(rd.region, Str(x, "region", where));
    ASSIGN_OR_RETURN(rd.key, ItemField(x, "key", where));
    ASSIGN_OR_RETURN(rd.key_text, Str(x, "key_text", where));
    ASSIGN_OR_RETURN(rd.item, OptionalItem(x, "item", where));
    if (x.contains("stamp")) {
      ASSIGN_OR_RETURN(rd.stamp, StampField(x, "stamp", where));
    }
    ASSIGN_OR_RETURN(rd.start_us, Int(x, "start_us", where));
    ASSIGN_OR_RETURN(rd.end_us, Int(x, "end_us", where));
    r.reads.push_back(std::move(rd));
  }
  ASSIGN_OR_RETURN(const json* counters, List(doc, "counter_keys"));
  for (const auto& c : *counters) {
    const char* where = "a counter key";
    ASSIGN_OR_RETURN(std::string table, Str(c, "table", where));
    ASSIGN_OR_RETURN(std::string hk, Str(c, "hk", where));
    ASSIGN_OR_RETURN(std::string rk, Str(c, "rk", where));
    r.counter_keys.insert({table, absl::HexStringToBytes(hk), absl::HexStringToBytes(rk)});
  }
  ASSIGN_OR_RETURN(r.acked_increments, Int(doc, "acked_increments", top));
  ASSIGN_OR_RETURN(const json* locks, List(doc, "lock_intervals"));
  for (const auto& l : *locks) {
    const char* where = "a lock interval";
    LockInterval li;
    ASSIGN_OR_RETURN(li.region, Str(l, "region", where));
    ASSIGN_OR_RETURN(li.start, Number(l, "start", where));
    ASSIGN_OR_RETURN(li.end, Number(l, "end", where));
    r.lock_intervals.push_back(std::move(li));
  }
  return run;
}

}  // namespace

json RecordedRunToJson(const RecordedRun& run) {
  json doc = {{"format", kFormat},        {"version", kVersion},    {"cluster", run.cluster_dir},
              {"regions", run.regions},   {"command", run.command}, {"seed", run.seed},
              {"start_us", run.start_us}, {"end_us", run.end_us}};
  json& tables = doc["tables"] = json::array();
  for (const auto& t : run.tables) {
    json j = {{"name", t.name}, {"hash_key", KeyDefText(t.hash_key)}, {"replicas", t.replicas}};
    if (t.range_key) j["range_key"] = KeyDefText(*t.range_key);
    tables.push_back(std::move(j));
  }
  const WorkloadRecord& r = run.record;
  json& writes = doc["writes"] = json::array();
  for (const auto& [table, history] : r.history) {
    for (const auto& w : history.writes()) {
      json j = {{"table", table},
                {"id", w.id},
                {"kind", WriteKindName(w.kind)},
                {"region", w.region},
                {"key", ItemToJson(w.key)},
                {"key_text", w.key_text},
                {"true_us", w.true_us},
                {"skew_us", w.skew_us},
                {"stamp", StampJson(w.result.stamp)}};
      if (w.result.superseded_by) j["superseded_by"] = StampJson(*w.result.superseded_by);
      if (w.result.old_item) j["old_item"] = ItemToJson(*w.result.old_item);
      if (w.result.new_item) j["new_item"] = ItemToJson(*w.result.new_item);
      writes.push_back(std::move(j));
    }
  }
  json& unanswered = doc["unanswered"] = json::array();
  for (const auto& [id, u] : r.unanswered) {
    unanswered.push_back({{"table", u.table},
                          {"id", id},
                          {"kind", WriteKindName(u.kind)},
                          {"region", u.region},
                          {"key", ItemToJson(u.key)},
                          {"key_text", u.key_text},
                          {"true_us", u.true_us}});
  }
  json& reads = doc["reads"] = json::array();
  for (const auto& x : r.reads) {
    json j = {{"table", x.table},       {"region", x.region},     {"key", ItemToJson(x.key)},
              {"key_text", x.key_text}, {"start_us", x.start_us}, {"end_us", x.end_us}};
    if (x.item) {
      j["item"] = ItemToJson(*x.item);
      j["stamp"] = StampJson(x.stamp);
    }
    reads.push_back(std::move(j));
  }
  json& counters = doc["counter_keys"] = json::array();
  for (const auto& [table, hk, rk] : r.counter_keys) {
    counters.push_back(
        {{"table", table}, {"hk", absl::BytesToHexString(hk)}, {"rk", absl::BytesToHexString(rk)}});
  }
  doc["acked_increments"] = r.acked_increments;
  json& locks = doc["lock_intervals"] = json::array();
  for (const auto& l : r.lock_intervals) {
    locks.push_back({{"region", l.region}, {"start", l.start}, {"end", l.end}});
  }
  return doc;
}

absl::StatusOr<RecordedRun> RecordedRunFromJson(const json& doc) { return FromJson(doc); }

absl::Status WriteHistoryFile(const std::string& path, const RecordedRun& run) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
    }
    out << RecordedRunToJson(run).dump() << "\n";
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("writing ", tmp, " failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot rename ", tmp, " to ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<RecordedRun> ReadHistoryFile(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::stringstream text;
  text << in.rdbuf();
  json doc = json::parse(text.str(), nullptr, false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a gtsim history: not JSON (gtsim traffic --history writes one)"));
  }
  auto run = FromJson(doc);
  if (!run.ok())
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", run.status().message()));
  return run;
}

}  // namespace gtsim::scenario
