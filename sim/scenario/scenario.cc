#include "sim/scenario/scenario.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "model/clock.h"
#include "sim/harness/history.h"
#include "sim/scenario/steps.h"
#include "yaml-cpp/yaml.h"

namespace gtsim::scenario {
namespace {

// A validation failure at a line of the file (1-based; 0: no line).
struct ParseError {
  int line;
  std::string message;
};

int LineOf(const YAML::Node& n) { return n.Mark().line >= 0 ? n.Mark().line + 1 : 0; }

[[noreturn]] void Fail(const YAML::Node& n, std::string msg) { throw ParseError{LineOf(n), msg}; }
[[noreturn]] void FailLine(int line, std::string msg) { throw ParseError{line, msg}; }

const char* TypeName(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Null:
      return "empty";
    default:
      return "undefined";
  }
}

void NeedMap(const YAML::Node& n, const std::string& what) {
  if (!n.IsMap())
    Fail(n, absl::StrCat(what, " must be a mapping (key: value lines), not ", TypeName(n)));
}
void NeedList(const YAML::Node& n, const std::string& what) {
  if (!n.IsSequence()) Fail(n, absl::StrCat(what, " must be a list, not ", TypeName(n)));
}

// Rejects keys of `n` outside `allowed`.
void CheckKeys(const YAML::Node& n, const std::string& what,
               const std::vector<std::string>& allowed) {
  NeedMap(n, what);
  for (const auto& kv : n) {
    std::string key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      Fail(kv.first, absl::StrCat("unknown key \"", key, "\" in ", what,
                                  "; expected one of: ", absl::StrJoin(allowed, ", ")));
    }
  }
}

std::string Str(const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) Fail(n, absl::StrCat(what, " must be a single value, not ", TypeName(n)));
  return n.Scalar();
}

double Num(const YAML::Node& n, const std::string& what) {
  std::string s = Str(n, what);
  double v;
  if (!absl::SimpleAtod(s, &v)) Fail(n, absl::StrCat(what, " must be a number, not \"", s, "\""));
  if (!std::isfinite(v)) Fail(n, absl::StrCat(what, " must be a finite number, not \"", s, "\""));
  return v;
}

int64_t Int(const YAML::Node& n, const std::string& what, int64_t min,
            int64_t max = std::numeric_limits<int64_t>::max()) {
  std::string s = Str(n, what);
  int64_t v;
  if (!absl::SimpleAtoi(s, &v))
    Fail(n, absl::StrCat(what, " must be a whole number, not \"", s, "\""));
  if (v < min) Fail(n, absl::StrCat(what, " must be at least ", min));
  if (v > max) Fail(n, absl::StrCat(what, ": at most ", max));
  return v;
}

bool Bool(const YAML::Node& n, const std::string& what) {
  std::string s = Str(n, what);
  if (s == "true" || s == "yes" || s == "on") return true;
  if (s == "false" || s == "no" || s == "off") return false;
  Fail(n, absl::StrCat(what, " must be true or false, not \"", s, "\""));
}

absl::Duration Dur(const YAML::Node& n, const std::string& what, bool allow_negative = false) {
  std::string s = Str(n, what);
  absl::Duration d;
  if (!ParseScenarioDuration(s, &d)) {
    Fail(n, absl::StrCat(what, " must be a duration such as 500ms, 2s or 1m, not \"", s, "\""));
  }
  if (!allow_negative && d < absl::ZeroDuration())
    Fail(n, absl::StrCat(what, " cannot be negative"));
  // A scenario runs for minutes; a week bounds every time in it (and keeps sums finite).
  if (absl::AbsDuration(d) > absl::Hours(168))
    Fail(n, absl::StrCat(what, " is at most 168h (a week), not \"", s, "\""));
  return d;
}

int64_t Bandwidth(const YAML::Node& n) {
  std::string s = Str(n, "bandwidth");
  int64_t v;
  if (!ParseBandwidth(s, &v)) {
    Fail(n,
         absl::StrCat("bandwidth must be a positive rate such as 1MB/s, 500KB/s or 2000B/s, not \"",
                      s, "\""));
  }
  return v;
}

const std::vector<std::string> kLinkKeys = {"delay", "jitter", "distribution", "loss", "bandwidth"};

LinkDelay ParseLinkModel(const YAML::Node& n, LinkDelay d) {
  if (n["delay"]) d.delay_us = absl::ToInt64Microseconds(Dur(n["delay"], "delay"));
  if (n["jitter"]) d.jitter_us = absl::ToInt64Microseconds(Dur(n["jitter"], "jitter"));
  if (n["distribution"]) {
    std::string s = Str(n["distribution"], "distribution");
    if (!ParseLinkDistribution(s, &d.distribution)) {
      Fail(n["distribution"],
           absl::StrCat("distribution \"", s,
                        "\" is unknown; use constant, uniform, normal or exponential"));
    }
  }
  if (n["loss"]) {
    d.loss = Num(n["loss"], "loss");
    if (d.loss < 0 || d.loss >= 0.5) {
      Fail(n["loss"], "loss is a probability per transmission, from 0 to below 0.5 (e.g. 0.01)");
    }
  }
  if (n["bandwidth"]) d.bandwidth_bytes_per_s = Bandwidth(n["bandwidth"]);
  return d;
}

class Parser {
 public:
  explicit Parser(Scenario* s) : s_(*s) {}

  void Parse(const YAML::Node& root) {
    if (root.IsNull())
      FailLine(1, "the file is empty; a scenario needs at least regions and steps");
    CheckKeys(root, "the scenario",
              {"name", "description", "seed", "regions", "network", "table", "tables", "workloads",
               "steps", "expect", "duration", "settle", "heartbeat"});
    if (root["name"]) s_.name = Str(root["name"], "name");
    if (root["description"]) s_.description = Str(root["description"], "description");
    if (root["seed"]) s_.seed = static_cast<uint64_t>(Int(root["seed"], "seed", 0));
    if (root["duration"]) s_.duration = Dur(root["duration"], "duration");
    if (root["settle"]) s_.settle = Dur(root["settle"], "settle");
    if (root["heartbeat"]) s_.heartbeat = Bool(root["heartbeat"], "heartbeat");
    if (!root["regions"])
      FailLine(1, "the scenario needs a regions list, e.g. regions: [us-east-1, us-west-2]");
    ParseRegions(root["regions"]);
    if (root["network"]) s_.network = ParseNetwork(root["network"]);
    if (root["table"] && root["tables"])
      Fail(root["tables"], "write either table: (one table) or tables: (a list), not both");
    if (root["table"]) {
      s_.tables.push_back(ParseTable(root["table"]));
    } else if (root["tables"]) {
      NeedList(root["tables"], "tables");
      if (root["tables"].size() == 0) Fail(root["tables"], "tables needs at least one table");
      for (const auto& t : root["tables"]) s_.tables.push_back(ParseTable(t));
    } else {
      TableDef t;
      t.replicas = s_.regions;
      s_.tables.push_back(t);
    }
    if (root["workloads"]) {
      NeedList(root["workloads"], "workloads");
      for (const auto& w : root["workloads"]) s_.workloads.push_back(ParseWorkload(w));
    }
    if (root["steps"]) {
      NeedList(root["steps"], "steps");
      for (const auto& st : root["steps"]) s_.steps.push_back(ParseStep(st));
    }
    if (root["expect"]) {
      NeedList(root["expect"], "expect");
      for (const auto& e : root["expect"]) s_.expectations.push_back(ParseExpectation(e));
    }
    CheckTimeline();
  }

 private:
  void ParseRegions(const YAML::Node& n) {
    NeedList(n, "regions");
    std::set<std::string> seen;
    for (const auto& r : n) {
      std::string name = Str(r, "a region");
      bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
      });
      if (!ok)
        Fail(r, absl::StrCat("region name \"", name,
                             "\" is invalid: use lower-case letters, digits and '-'"));
      if (!seen.insert(name).second) Fail(r, absl::StrCat("region ", name, " is listed twice"));
      s_.regions.push_back(name);
    }
    if (s_.regions.size() < 2) Fail(n, "a global table needs at least two regions");
    if (s_.regions.size() > 8) Fail(n, "at most 8 regions (each is a process on this machine)");
  }

  std::string Region(const YAML::Node& n, const std::string& what, bool allow_random = false) {
    std::string r = Str(n, what);
    if (allow_random && r == "random") return r;
    if (std::find(s_.regions.begin(), s_.regions.end(), r) == s_.regions.end()) {
      Fail(n, absl::StrCat(what, " \"", r, "\" is not one of the scenario's regions (",
                           absl::StrJoin(s_.regions, ", "), ")", allow_random ? " or random" : ""));
    }
    return r;
  }

  NetworkSpec ParseNetwork(const YAML::Node& n) {
    NetworkSpec net;
    if (n.IsScalar()) {
      std::string s = n.Scalar();
      if (s == "none") {
        net.description = "none";
        return net;
      }
      if (s != "aws")
        Fail(n,
             absl::StrCat("network \"", s,
                          "\" is unknown; write aws, none, or a mapping with default and links"));
      auto aws = AwsNetwork(s_.regions);
      if (!aws.ok()) Fail(n, std::string(aws.status().message()));
      return *aws;
    }
    CheckKeys(n, "network", {"preset", "default", "links"});
    std::map<std::pair<std::string, std::string>, LinkDelay> links;
    std::vector<std::string> parts;
    if (n["preset"]) {
      auto p = ParseNetwork(n["preset"]);
      for (const auto& l : p.links) links[{l.from, l.to}] = l.model;
      parts.push_back(p.description);
    }
    if (n["default"]) {
      CheckKeys(n["default"], "network default", kLinkKeys);
      LinkDelay d = ParseLinkModel(n["default"], {});
      for (const auto& a : s_.regions) {
        for (const auto& b : s_.regions) {
          if (a != b) links[{a, b}] = d;
        }
      }
      parts.push_back(
          absl::StrCat("default ", FormatScenarioDuration(absl::Microseconds(d.delay_us))));
    }
    if (n["links"]) {
      NeedList(n["links"], "network links");
      for (const auto& l : n["links"]) {
        LinkSpec spec = ParseLink(l, "a network link");
        std::vector<std::string> froms =
            spec.from == "*" ? s_.regions : std::vector<std::string>{spec.from};
        std::vector<std::string> tos =
            spec.to == "*" ? s_.regions : std::vector<std::string>{spec.to};
        for (const auto& a : froms) {
          for (const auto& b : tos) {
            if (a == b) continue;
            auto it = links.find({a, b});
            links[{a, b}] = ParseLinkModel(l, it == links.end() ? LinkDelay{} : it->second);
          }
        }
      }
      parts.push_back(absl::StrCat(n["links"].size(), " link overrides"));
    }
    for (const auto& [k, d] : links) net.links.push_back({k.first, k.second, d});
    net.description = absl::StrJoin(parts, " + ");
    return net;
  }

  LinkSpec ParseLink(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> keys = kLinkKeys;
    keys.push_back("from");
    keys.push_back("to");
    CheckKeys(n, what, keys);
    if (!n["from"] || !n["to"])
      Fail(n, absl::StrCat(what, " needs from and to (region names, or * for all)"));
    LinkSpec l;
    l.from = Str(n["from"], "from") == "*" ? "*" : Region(n["from"], "from");
    l.to = Str(n["to"], "to") == "*" ? "*" : Region(n["to"], "to");
    if (l.from == l.to && l.from != "*") Fail(n, "a link joins two different regions");
    l.model = ParseLinkModel(n, {});
    return l;
  }

  // "id", "id:S", "n:N" or "b:B" (no type: S).
  // `table_key`: "w" is refused (gtsim sets it on every written item; an index may use it).
  KeyDef Key(const YAML::Node& n, const std::string& what, bool table_key = true) {
    std::string text = Str(n, what);
    if (text.find(':') == std::string::npos) text += ":S";
    auto k = ParseKeyDef(text);
    if (!k.ok() || k->name.empty()) {
      Fail(n, absl::StrCat(what, " \"", Str(n, what),
                           "\" is invalid: write NAME or NAME:TYPE with TYPE S, N or B"));
    }
    if (table_key && k->name == kWriteIdAttribute) {
      Fail(n, absl::StrCat(what,
                           " cannot be \"w\": gtsim marks every written item with that "
                           "attribute"));
    }
    return *k;
  }

  // An index definition; `extra` keys are allowed beside it (a step's table and via).
  IndexSpec ParseIndex(const YAML::Node& n, const std::string& what,
                       const std::vector<std::string>& extra = {}) {
    std::vector<std::string> keys = {"name", "hash_key", "range_key", "projection", "include"};
    keys.insert(keys.end(), extra.begin(), extra.end());
    CheckKeys(n, what, keys);
    IndexSpec x;
    if (!n["name"] || !n["hash_key"])
      Fail(n,
           absl::StrCat(what, " needs name and hash_key, e.g. {name: byGroup, hash_key: grp:S}"));
    x.name = Str(n["name"], "index name");
    if (x.name.size() < 3)
      Fail(n["name"], "an index name has 3 to 255 characters (a-z, A-Z, 0-9, '_', '-', '.')");
    x.hash_key = Key(n["hash_key"], "index hash_key", false);
    if (n["range_key"]) x.range_key = Key(n["range_key"], "index range_key", false);
    if (n["projection"]) {
      x.projection = Str(n["projection"], "projection");
      if (x.projection != "ALL" && x.projection != "KEYS_ONLY" && x.projection != "INCLUDE")
        Fail(n["projection"], "projection is ALL, KEYS_ONLY or INCLUDE");
    }
    if (n["include"]) {
      NeedList(n["include"], "include");
      for (const auto& a : n["include"]) x.include.push_back(Str(a, "an included attribute"));
    }
    if ((x.projection == "INCLUDE") != !x.include.empty())
      Fail(n, "projection INCLUDE needs include: [attributes], and only INCLUDE takes them");
    return x;
  }

  // Billing and capacity: PAY_PER_REQUEST, or PROVISIONED with wcu and rcu of at least 1.
  void ParseBilling(const YAML::Node& n, std::optional<std::string>* mode,
                    std::optional<int64_t>* wcu, std::optional<int64_t>* rcu) {
    if (n["billing"]) {
      *mode = Str(n["billing"], "billing");
      if (**mode != "PAY_PER_REQUEST" && **mode != "PROVISIONED")
        Fail(n["billing"], "billing is PAY_PER_REQUEST or PROVISIONED");
    }
    // 40,000: DynamoDB's default per-table quota of read and of write capacity units.
    if (n["wcu"]) *wcu = Int(n["wcu"], "wcu", 1, 40000);
    if (n["rcu"]) *rcu = Int(n["rcu"], "rcu", 1, 40000);
    if ((*wcu || *rcu) && *mode != "PROVISIONED")
      Fail(n["wcu"] ? n["wcu"] : n["rcu"], "wcu and rcu go with billing: PROVISIONED");
    if (*mode == "PROVISIONED" && (!*wcu || !*rcu))
      Fail(n["billing"], "billing: PROVISIONED needs wcu and rcu (units per second, at least 1)");
  }

  TableDef ParseTable(const YAML::Node& n) {
    CheckKeys(n, "a table",
              {"name", "hash_key", "range_key", "indexes", "billing", "wcu", "rcu", "replicas"});
    TableDef t;
    t.line = LineOf(n);
    if (n["name"]) t.name = Str(n["name"], "table name");
    if (t.name.empty()) Fail(n, "a table name cannot be empty");
    if (t.name == "gtsim-heartbeat")
      Fail(n["name"], "gtsim-heartbeat is the name of gtsim's own heartbeat table; pick another");
    for (const auto& o : s_.tables) {
      if (o.name == t.name) Fail(n, absl::StrCat("table ", t.name, " is defined twice"));
    }
    if (n["hash_key"]) t.hash_key = Key(n["hash_key"], "hash_key");
    if (n["range_key"]) {
      t.range_key = Key(n["range_key"], "range_key");
      if (t.range_key->name == t.hash_key.name)
        Fail(n["range_key"], "range_key must differ from hash_key");
    }
    if (n["indexes"]) {
      NeedList(n["indexes"], "indexes");
      for (const auto& x : n["indexes"]) {
        t.indexes.push_back(ParseIndex(x, "an index"));
        for (size_t i = 0; i + 1 < t.indexes.size(); ++i) {
          if (t.indexes[i].name == t.indexes.back().name)
            Fail(x, absl::StrCat("index ", t.indexes.back().name, " is defined twice"));
        }
      }
    }
    std::optional<std::string> billing;
    std::optional<int64_t> wcu, rcu;
    ParseBilling(n, &billing, &wcu, &rcu);
    t.billing = billing.value_or("PAY_PER_REQUEST");
    t.wcu = wcu.value_or(0);
    t.rcu = rcu.value_or(0);
    if (n["replicas"]) {
      NeedList(n["replicas"], "replicas");
      std::set<std::string> seen;
      for (const auto& r : n["replicas"]) {
        t.replicas.push_back(Region(r, "a replica region"));
        if (!seen.insert(t.replicas.back()).second)
          Fail(r, absl::StrCat(t.replicas.back(), " is listed twice"));
      }
      if (t.replicas.empty()) Fail(n["replicas"], "a table needs at least one replica");
    } else {
      t.replicas = s_.regions;
    }
    return t;
  }

  // The table a step or workload names (`table: T`), or the scenario's first.
  const TableDef& TableOf(const YAML::Node& n) {
    if (!n || !n["table"]) return s_.tables.front();
    std::string name = Str(n["table"], "table");
    if (const TableDef* t = s_.FindTable(name)) return *t;
    std::vector<std::string> names;
    for (const auto& t : s_.tables) names.push_back(t.name);
    Fail(n["table"],
         absl::StrCat("no table named \"", name, "\"; defined: ", absl::StrJoin(names, ", ")));
  }

  WorkloadSpec ParseWorkload(const YAML::Node& n) {
    CheckKeys(n, "a workload",
              {"name", "kind", "region", "table", "rate", "keys", "key_prefix", "distribution",
               "zipf_s", "mix", "item_size", "home_region_per_key", "start", "hold"});
    WorkloadSpec w;
    w.line = LineOf(n);
    if (!n["name"]) Fail(n, "a workload needs a name");
    w.name = Str(n["name"], "workload name");
    for (const auto& o : s_.workloads) {
      if (o.name == w.name) Fail(n["name"], absl::StrCat("workload ", w.name, " is defined twice"));
    }
    if (n["kind"]) {
      std::string k = Str(n["kind"], "kind");
      if (k == "mixed") {
        w.kind = WorkloadKind::kMixed;
      } else if (k == "counter") {
        w.kind = WorkloadKind::kCounter;
      } else if (k == "lock") {
        w.kind = WorkloadKind::kLock;
      } else {
        Fail(n["kind"],
             absl::StrCat("workload kind \"", k, "\" is unknown; use mixed, counter or lock"));
      }
    }
    if (w.kind == WorkloadKind::kCounter) {
      w.keys = 1;
      w.key_prefix = "counter";
    } else if (w.kind == WorkloadKind::kLock) {
      w.keys = 1;
      w.key_prefix = "lock";
      w.rate = 2;
    } else {
      w.mix.put = 60;
      w.mix.update = 20;
      w.mix.read = 20;
    }
    if (!n["region"]) Fail(n, absl::StrCat("workload ", w.name, " needs a region"));
    w.region = Region(n["region"], "workload region");
    w.table = TableOf(n).name;
    if (n["rate"]) {
      w.rate = Num(n["rate"], "rate");
      if (w.rate <= 0 || w.rate > 2000)
        Fail(n["rate"], "rate is operations per second, above 0 and at most 2000");
    }
    if (n["keys"]) w.keys = static_cast<int>(Int(n["keys"], "keys", 1, 100000));
    if (n["key_prefix"]) w.key_prefix = Str(n["key_prefix"], "key_prefix");
    if (n["distribution"]) {
      std::string d = Str(n["distribution"], "distribution");
      if (d == "zipf") {
        w.zipf = true;
      } else if (d != "uniform") {
        Fail(n["distribution"],
             absl::StrCat("key distribution \"", d, "\" is unknown; use uniform or zipf"));
      }
    }
    if (n["zipf_s"]) {
      w.zipf_s = Num(n["zipf_s"], "zipf_s");
      if (w.zipf_s <= 0) Fail(n["zipf_s"], "zipf_s must be above 0 (1.1 is typical)");
    }
    if (n["mix"]) {
      if (w.kind != WorkloadKind::kMixed) Fail(n["mix"], "mix applies to mixed workloads only");
      CheckKeys(
          n["mix"], "mix",
          {"put", "update", "delete", "conditional_put", "read", "consistent_read", "increment"});
      w.mix = OpMix{};
      auto weight = [&](const char* key, double* out) {
        if (!n["mix"][key]) return;
        *out = Num(n["mix"][key], key);
        if (*out < 0) Fail(n["mix"][key], "a mix weight cannot be negative");
      };
      weight("put", &w.mix.put);
      weight("update", &w.mix.update);
      weight("delete", &w.mix.del);
      weight("conditional_put", &w.mix.conditional_put);
      weight("read", &w.mix.read);
      weight("consistent_read", &w.mix.consistent_read);
      weight("increment", &w.mix.increment);
      if (w.mix.total() <= 0)
        Fail(n["mix"], "the mix needs at least one operation with a weight above 0");
    }
    if (n["item_size"]) w.item_size = static_cast<int>(Int(n["item_size"], "item_size", 0, 300000));
    if (n["home_region_per_key"])
      w.home_region_per_key = Bool(n["home_region_per_key"], "home_region_per_key");
    if (w.home_region_per_key && w.keys < static_cast<int>(s_.regions.size())) {
      Fail(n["keys"] ? n["keys"] : n, "home_region_per_key needs at least one key per region");
    }
    if (n["start"]) w.start = Bool(n["start"], "start");
    if (n["hold"]) {
      if (w.kind != WorkloadKind::kLock) Fail(n["hold"], "hold applies to lock workloads only");
      w.hold = Dur(n["hold"], "hold");
    }
    return w;
  }

  const WorkloadSpec* FindWorkload(const YAML::Node& n) {
    std::string name = Str(n, "workload");
    for (const auto& w : s_.workloads) {
      if (w.name == name) return &w;
    }
    std::vector<std::string> names;
    for (const auto& w : s_.workloads) names.push_back(w.name);
    Fail(n, absl::StrCat("no workload named \"", name, "\"",
                         names.empty() ? " (the scenario defines none)"
                                       : absl::StrCat("; defined: ", absl::StrJoin(names, ", "))));
  }

  Step ParseStep(const YAML::Node& n) {
    static const std::vector<std::string> kActions = {"start",
                                                      "stop",
                                                      "move",
                                                      "kill",
                                                      "restart",
                                                      "pause",
                                                      "resume",
                                                      "partition",
                                                      "heal",
                                                      "pause_replication",
                                                      "resume_replication",
                                                      "clock",
                                                      "network",
                                                      "link",
                                                      "wait",
                                                      "add_replica",
                                                      "remove_replica",
                                                      "create_index",
                                                      "delete_index",
                                                      "table_settings",
                                                      "wipe"};
    std::vector<std::string> keys = kActions;
    for (const char* k : {"at", "for", "every", "until", "note"}) keys.push_back(k);
    CheckKeys(n, "a step", keys);
    Step st;
    st.line = LineOf(n);
    if (n["at"]) st.at = Dur(n["at"], "at");
    if (n["for"]) st.for_duration = Dur(n["for"], "for");
    if (n["every"]) st.every = Dur(n["every"], "every");
    if (n["until"]) st.until = Dur(n["until"], "until");
    if (n["note"]) st.note = Str(n["note"], "note");
    std::string action;
    for (const auto& k : kActions) {
      if (!n[k]) continue;
      if (!action.empty())
        Fail(n[k], absl::StrCat("a step does one thing: it has both ", action, " and ", k));
      action = k;
    }
    if (action.empty())
      Fail(n, absl::StrCat("a step needs an action: one of ", absl::StrJoin(kActions, ", ")));
    const YAML::Node v = n[action];
    Action& a = st.action;
    bool revertible = false, random_ok = false;
    if (action == "start" || action == "stop") {
      a.kind = action == "start" ? ActionKind::kStartWorkload : ActionKind::kStopWorkload;
      a.workload = FindWorkload(v)->name;
    } else if (action == "move") {
      CheckKeys(v, "move", {"workload", "to"});
      if (!v["workload"] || !v["to"])
        Fail(v, "move needs workload and to, e.g. {workload: app, to: us-west-2}");
      a.kind = ActionKind::kMoveWorkload;
      a.workload = FindWorkload(v["workload"])->name;
      a.region = Region(v["to"], "move to");
    } else if (action == "kill" || action == "pause" || action == "pause_replication") {
      a.kind = action == "kill"    ? ActionKind::kKill
               : action == "pause" ? ActionKind::kPause
                                   : ActionKind::kPauseReplication;
      a.region = Region(v, action, true);
      revertible = random_ok = true;
    } else if (action == "restart" || action == "resume" || action == "resume_replication") {
      a.kind = action == "restart"  ? ActionKind::kRestart
               : action == "resume" ? ActionKind::kResume
                                    : ActionKind::kResumeReplication;
      a.region = Region(v, action);
    } else if (action == "partition") {
      a.kind = ActionKind::kPartition;
      ParsePartition(v, &a);
      revertible = true;
      random_ok = a.region == "random";
    } else if (action == "heal") {
      a.kind = ActionKind::kHeal;
    } else if (action == "clock") {
      CheckKeys(v, "clock", {"region", "skew", "jump", "drift"});
      if (!v["region"]) Fail(v, "clock needs a region");
      a.region = Region(v["region"], "clock region", true);
      int n_set = (v["skew"] ? 1 : 0) + (v["jump"] ? 1 : 0) + (v["drift"] ? 1 : 0);
      if (n_set != 1)
        Fail(v,
             "clock takes exactly one of skew (an offset), jump (added to the offset) or drift "
             "(offset change per second)");
      if (v["skew"]) {
        a.kind = ActionKind::kClockSkew;
        a.amount = Dur(v["skew"], "skew", true);
        if (absl::AbsDuration(a.amount) > absl::Microseconds(kMaxClockSkewUs)) {
          Fail(v["skew"], "a clock is at most 1h off true time, either way");
        }
      } else if (v["jump"]) {
        a.kind = ActionKind::kClockJump;
        a.amount = Dur(v["jump"], "jump", true);
        if (absl::AbsDuration(a.amount) > absl::Microseconds(kMaxClockSkewUs)) {
          Fail(v["jump"], "a clock is at most 1h off true time, so a jump is at most 1h");
        }
      } else {
        a.kind = ActionKind::kClockDrift;
        a.amount = Dur(v["drift"], "drift", true);
        if (absl::AbsDuration(a.amount) > absl::Milliseconds(500)) {
          Fail(v["drift"], "drift is the clock error gained per second; at most 500ms");
        }
      }
      revertible = random_ok = true;
    } else if (action == "network") {
      a.kind = ActionKind::kNetwork;
      a.network = ParseNetwork(v);
    } else if (action == "link") {
      a.kind = ActionKind::kLink;
      a.link = ParseLink(v, "link");
      if (a.link.from == "*" || a.link.to == "*")
        Fail(v, "a link step names one from and one to region");
    } else if (action == "wait") {
      if (v.IsScalar()) {
        a.kind = ActionKind::kWaitFor;
        a.amount = Dur(v, "wait");
      } else {
        CheckKeys(v, "wait", {"until", "timeout", "table", "region", "index"});
        std::string until = v["until"] ? Str(v["until"], "until") : "";
        static const std::map<std::string, ActionKind> kUntil = {
            {"converged", ActionKind::kWaitConverged},
            {"caught_up", ActionKind::kWaitCaughtUp},
            {"replica_active", ActionKind::kWaitReplicaActive},
            {"index_active", ActionKind::kWaitIndexActive}};
        auto it = kUntil.find(until);
        if (it == kUntil.end()) {
          Fail(v,
               "wait takes a duration (wait: 5s), {until: converged, timeout: 30s} (every "
               "replica identical: stop the writers first), {until: caught_up} (every write "
               "made before the wait has reached every replica), {until: replica_active, "
               "region: R, table: T} or {until: index_active, index: I, table: T}");
        }
        a.kind = it->second;
        a.amount = v["timeout"] ? Dur(v["timeout"], "timeout") : absl::Seconds(30);
        bool replica = a.kind == ActionKind::kWaitReplicaActive;
        bool index = a.kind == ActionKind::kWaitIndexActive;
        if (!replica && !index) {
          for (const char* k : {"table", "region", "index"}) {
            if (v[k])
              Fail(v[k], absl::StrCat(k, " belongs to until: replica_active or index_active"));
          }
        }
        if (replica || index) a.table = TableOf(v).name;
        if (replica) {
          if (!v["region"]) Fail(v, "until: replica_active needs region: the new replica's region");
          if (v["index"]) Fail(v["index"], "index belongs to until: index_active");
          a.region = Region(v["region"], "region");
        }
        if (index) {
          if (!v["index"]) Fail(v, "until: index_active needs index: the index name");
          if (v["region"])
            Fail(v["region"], "until: index_active waits for every replica; remove region");
          a.index = Str(v["index"], "index");
        }
      }
    } else if (action == "add_replica" || action == "remove_replica") {
      a.kind = action == "add_replica" ? ActionKind::kAddReplica : ActionKind::kRemoveReplica;
      if (v.IsScalar()) {
        a.table = s_.tables.front().name;
        a.region = Region(v, action);
      } else {
        CheckKeys(v, action, {"table", "region", "via"});
        if (!v["region"])
          Fail(v, absl::StrCat(action, " needs region, e.g. {table: T, region: R}"));
        a.table = TableOf(v).name;
        a.region = Region(v["region"], "region");
        if (v["via"]) a.via = Region(v["via"], "via");
      }
    } else if (action == "create_index") {
      a.kind = ActionKind::kCreateIndex;
      NeedMap(v, "create_index");
      a.new_index = ParseIndex(v, "create_index", {"table", "via"});
      a.table = TableOf(v).name;
      if (v["via"]) a.via = Region(v["via"], "via");
      a.index = a.new_index.name;
    } else if (action == "delete_index") {
      a.kind = ActionKind::kDeleteIndex;
      if (v.IsScalar()) {
        a.table = s_.tables.front().name;
        a.index = Str(v, "delete_index");
      } else {
        CheckKeys(v, action, {"table", "name", "via"});
        if (!v["name"]) Fail(v, "delete_index needs name: the index to delete");
        a.table = TableOf(v).name;
        a.index = Str(v["name"], "index name");
        if (v["via"]) a.via = Region(v["via"], "via");
      }
    } else if (action == "wipe") {
      a.kind = ActionKind::kWipe;
      a.region = Region(v, action);
    } else if (action == "table_settings") {
      a.kind = ActionKind::kTableSettings;
      CheckKeys(v, action, {"table", "via", "billing", "wcu", "rcu", "ttl_attribute", "sse"});
      a.table = TableOf(v).name;
      if (v["via"]) a.via = Region(v["via"], "via");
      SettingsChange& c = a.settings;
      ParseBilling(v, &c.billing, &c.wcu, &c.rcu);
      if (v["ttl_attribute"]) c.ttl_attribute = Str(v["ttl_attribute"], "ttl_attribute");
      if (v["sse"]) {
        c.sse = Str(v["sse"], "sse");
        if (*c.sse != "AES256" && *c.sse != "KMS") Fail(v["sse"], "sse is AES256 or KMS");
      }
      if (!c.billing && !c.ttl_attribute && !c.sse)
        Fail(v, "table_settings needs billing (with wcu, rcu), ttl_attribute or sse");
    }
    if (st.for_duration && !revertible) {
      Fail(n["for"], absl::StrCat("\"for\" undoes a fault after a while; ", action,
                                  " is not a fault that can be undone"));
    }
    if (st.every) {
      if (!st.at) Fail(n["every"], "a recurring step (every) needs at: its first time");
      if (!st.for_duration)
        Fail(n["every"], "a recurring fault needs for: how long each occurrence lasts");
      if (*st.every <= *st.for_duration)
        Fail(n["every"], "every must be longer than for, so occurrences do not overlap");
      if (!n["until"]) Fail(n["every"], "a recurring step needs until: when it stops repeating");
      if (st.until <= *st.at) Fail(n["until"], "until must come after at");
    } else if (n["until"]) {
      Fail(n["until"], "until belongs to recurring steps (with every)");
    }
    if (!random_ok && a.region == "random") Fail(v, absl::StrCat(action, " cannot target random"));
    if (a.region == "random" && !st.for_duration) {
      Fail(v,
           "a random target needs for: so the fault is undone (the target is drawn from the seed)");
    }
    return st;
  }

  void ParsePartition(const YAML::Node& v, Action* a) {
    CheckKeys(v, "partition", {"isolate", "groups", "from", "to", "bridge"});
    auto cut_between = [&](const std::vector<std::string>& x, const std::vector<std::string>& y) {
      for (const auto& p : x) {
        for (const auto& q : y) {
          a->blocks.push_back({p, q});
          a->blocks.push_back({q, p});
        }
      }
    };
    if (v["isolate"]) {
      a->region = Region(v["isolate"], "isolate", true);
      a->partition_text = absl::StrCat("isolate ", a->region);
      if (a->region != "random") {
        std::vector<std::string> others;
        for (const auto& r : s_.regions) {
          if (r != a->region) others.push_back(r);
        }
        cut_between({a->region}, others);
      }
    } else if (v["groups"]) {
      NeedList(v["groups"], "partition groups");
      if (v["groups"].size() != 2)
        Fail(v["groups"], "groups splits the regions into exactly two lists");
      std::vector<std::string> g[2];
      std::set<std::string> seen;
      for (int i = 0; i < 2; ++i) {
        NeedList(v["groups"][i], "a partition group");
        for (const auto& r : v["groups"][i]) {
          g[i].push_back(Region(r, "group member"));
          if (!seen.insert(g[i].back()).second)
            Fail(r, absl::StrCat(g[i].back(), " is in both groups"));
        }
        if (g[i].empty()) Fail(v["groups"][i], "a partition group cannot be empty");
      }
      cut_between(g[0], g[1]);
      a->partition_text =
          absl::StrCat("split [", absl::StrJoin(g[0], ","), "] | [", absl::StrJoin(g[1], ","), "]");
    } else if (v["from"] || v["to"]) {
      if (!v["from"] || !v["to"]) Fail(v, "a one-way partition needs from and to");
      std::string from = Region(v["from"], "from"), to = Region(v["to"], "to");
      if (from == to) Fail(v, "a one-way partition joins two different regions");
      a->blocks.push_back({from, to});
      a->partition_text = absl::StrCat("one-way ", from, " -/-> ", to);
    } else if (v["bridge"]) {
      std::string bridge = Region(v["bridge"], "bridge");
      if (s_.regions.size() < 3) Fail(v, "a bridge partition needs at least three regions");
      std::vector<std::string> others, x, y;
      for (const auto& r : s_.regions) {
        if (r != bridge) others.push_back(r);
      }
      for (size_t i = 0; i < others.size(); ++i)
        (i < others.size() / 2 ? x : y).push_back(others[i]);
      cut_between(x, y);
      a->partition_text = absl::StrCat("bridge ", bridge, ": [", absl::StrJoin(x, ","), "] | [",
                                       absl::StrJoin(y, ","), "] connected only through it");
    } else {
      Fail(v,
           "partition takes isolate: R, groups: [[..], [..]], from: A + to: B (one-way), or "
           "bridge: R");
    }
  }

  Expectation ParseExpectation(const YAML::Node& n) {
    static const std::vector<std::string> kKinds = {
        "converged",    "no_lost_writes",  "lost_to_lww",   "lag",
        "availability", "lost_increments", "lock_overlaps", "index_matches"};
    NeedMap(n, "an expectation");
    if (n.size() != 1)
      Fail(n, absl::StrCat("an expectation is one of ", absl::StrJoin(kKinds, ", "),
                           ", one per list item"));
    std::string kind = n.begin()->first.as<std::string>();
    const YAML::Node v = n.begin()->second;
    Expectation e;
    e.line = LineOf(n);
    auto bounds = [&](const std::vector<std::string>& extra) {
      std::vector<std::string> keys = {"at_least", "at_most"};
      keys.insert(keys.end(), extra.begin(), extra.end());
      CheckKeys(v, kind, keys);
      if (v["at_least"]) e.at_least = Int(v["at_least"], "at_least", 0);
      if (v["at_most"]) e.at_most = Int(v["at_most"], "at_most", 0);
      if (!e.at_least && !e.at_most) Fail(v, absl::StrCat(kind, " needs at_least and/or at_most"));
      if (e.at_least && e.at_most && *e.at_least > *e.at_most) Fail(v, "at_least is above at_most");
    };
    auto has_workload = [&](WorkloadKind k) {
      return std::any_of(s_.workloads.begin(), s_.workloads.end(), [&](const WorkloadSpec& w) {
        return w.kind == k || (k == WorkloadKind::kCounter && w.mix.increment > 0);
      });
    };
    if (kind == "converged") {
      e.kind = ExpectKind::kConverged;
      if (v.IsMap()) {
        CheckKeys(v, "converged", {"within"});
        if (v["within"]) e.within = Dur(v["within"], "within");
      } else if (!Bool(v, "converged")) {
        Fail(v, "converged: false is not an expectation; remove it");
      }
    } else if (kind == "no_lost_writes") {
      e.kind = ExpectKind::kNoLostWrites;
      if (!Bool(v, "no_lost_writes"))
        Fail(v, "no_lost_writes: false is not an expectation; remove it");
    } else if (kind == "lost_to_lww") {
      e.kind = ExpectKind::kLostToLww;
      bounds({"reason"});
      if (v["reason"]) {
        e.reason = Str(v["reason"], "reason");
        static const std::vector<std::string> kReasons = {
            "later-timestamp", "clock-ahead", "removed-by-delete", "superseded-on-arrival",
            "rewritten-after-delete"};
        if (std::find(kReasons.begin(), kReasons.end(), e.reason) == kReasons.end()) {
          Fail(v["reason"], absl::StrCat("reason \"", e.reason, "\" is unknown; use one of ",
                                         absl::StrJoin(kReasons, ", ")));
        }
      }
    } else if (kind == "lag") {
      e.kind = ExpectKind::kLag;
      CheckKeys(v, "lag", {"p50_below", "p99_below", "from", "to", "source"});
      if (v["source"]) {
        std::string src = Str(v["source"], "source");
        if (src != "replication" && src != "heartbeat") {
          Fail(v["source"],
               "lag source is replication (ReplicationLatency, what the regions "
               "report) or heartbeat (what a client sees)");
        }
        e.heartbeat = src == "heartbeat";
        if (e.heartbeat && !s_.heartbeat)
          Fail(v["source"], "lag source heartbeat needs heartbeat: true");
      }
      if (v["p50_below"]) e.p50_below = Dur(v["p50_below"], "p50_below");
      if (v["p99_below"]) e.p99_below = Dur(v["p99_below"], "p99_below");
      if (!e.p50_below && !e.p99_below) Fail(v, "lag needs p50_below and/or p99_below");
      if (v["from"]) e.from = Region(v["from"], "from");
      if (v["to"]) e.to = Region(v["to"], "to");
    } else if (kind == "availability") {
      e.kind = ExpectKind::kAvailability;
      CheckKeys(v, "availability", {"workload", "at_least"});
      if (v["workload"]) e.workload = FindWorkload(v["workload"])->name;
      if (!v["at_least"]) Fail(v, "availability needs at_least, a fraction such as 0.95");
      e.min_fraction = Num(v["at_least"], "at_least");
      if (e.min_fraction < 0 || e.min_fraction > 1)
        Fail(v["at_least"], "availability at_least is a fraction from 0 to 1");
    } else if (kind == "lost_increments") {
      e.kind = ExpectKind::kLostIncrements;
      bounds({});
      if (!has_workload(WorkloadKind::kCounter))
        Fail(n, "lost_increments needs a counter workload (or a mix with increment)");
    } else if (kind == "lock_overlaps") {
      e.kind = ExpectKind::kLockOverlaps;
      bounds({});
      if (!has_workload(WorkloadKind::kLock)) Fail(n, "lock_overlaps needs a lock workload");
    } else if (kind == "index_matches") {
      e.kind = ExpectKind::kIndexMatches;
      CheckKeys(v, kind, {"table", "index"});
      if (!v["index"]) Fail(v, "index_matches needs index: the index to check");
      e.table = TableOf(v).name;
      e.index = Str(v["index"], "index");
      index_checks_.push_back({e.table, e.index, e.line});
    } else {
      Fail(n, absl::StrCat("unknown expectation \"", kind, "\"; use one of ",
                           absl::StrJoin(kKinds, ", ")));
    }
    return e;
  }

  // Replays the timeline's effect on regions and workloads to reject steps that cannot happen.
  void CheckTimeline() {
    TimelineReplay replay(s_);
    for (const auto& w : s_.workloads) {
      std::string why = replay.WorkloadInPlace(w, w.region);
      if (!why.empty()) FailLine(w.line, why);
    }
    absl::Duration last_at = absl::ZeroDuration(), end = absl::ZeroDuration();
    int last_at_line = 0;
    for (const auto& st : s_.steps) {
      if (st.every) {  // recurring steps run in the background, outside the sequence
        end = std::max(end, st.until);
        continue;
      }
      if (st.at) {
        if (*st.at < last_at) {
          FailLine(st.line, absl::StrCat("steps run in order: at ", FormatScenarioDuration(*st.at),
                                         " comes after a step at ", FormatScenarioDuration(last_at),
                                         " (line ", last_at_line, ")"));
        }
        last_at = *st.at;
        last_at_line = st.line;
        end = std::max(end, *st.at + st.for_duration.value_or(absl::ZeroDuration()));
      }
      if (st.for_duration) continue;  // undone by itself; leaves no lasting state
      std::string why = StepKindOf(st.action.kind).check(st.action, &replay);
      if (!why.empty()) FailLine(st.line, why);
    }
    for (const auto& [table, index, line] : index_checks_) {
      if (!replay.indexes[table].count(index)) {
        FailLine(line, absl::StrCat("index_matches: table ", table, " has no index ", index,
                                    " at the end of the timeline"));
      }
    }
    s_.duration = std::max(s_.duration, end);
  }

  Scenario& s_;
  std::vector<std::tuple<std::string, std::string, int>> index_checks_;  // table, index, line
};

}  // namespace

std::optional<absl::Duration> AwsOneWay(const std::string& a, const std::string& b) {
  // REFERENCE.md: inter-region round-trip times (p50, ms).
  static const std::map<std::pair<std::string, std::string>, int> kRttMs = {
      {{"us-east-1", "us-west-2"}, 64},       {{"us-east-1", "eu-west-1"}, 70},
      {{"us-east-1", "eu-central-1"}, 92},    {{"us-east-1", "ap-northeast-1"}, 146},
      {{"us-east-1", "ap-southeast-2"}, 199}, {{"us-east-1", "sa-east-1"}, 114},
      {{"us-east-1", "us-east-2"}, 13},       {{"us-west-2", "eu-west-1"}, 119},
      {{"us-west-2", "eu-central-1"}, 140},   {{"us-west-2", "ap-northeast-1"}, 97},
      {{"us-west-2", "ap-southeast-2"}, 140}, {{"us-west-2", "sa-east-1"}, 174},
      {{"us-west-2", "us-east-2"}, 52},       {{"eu-west-1", "eu-central-1"}, 27},
      {{"eu-west-1", "ap-northeast-1"}, 201}, {{"eu-west-1", "ap-southeast-2"}, 256},
      {{"eu-west-1", "sa-east-1"}, 176},      {{"eu-west-1", "us-east-2"}, 79},
  };
  auto it = kRttMs.find({a, b});
  if (it == kRttMs.end()) it = kRttMs.find({b, a});
  if (it == kRttMs.end()) return std::nullopt;
  return absl::Microseconds(it->second * 1000 / 2);
}

absl::StatusOr<NetworkSpec> AwsNetwork(const std::vector<std::string>& regions) {
  NetworkSpec net;
  net.description = "aws";
  for (const auto& a : regions) {
    for (const auto& b : regions) {
      if (a == b) continue;
      auto d = AwsOneWay(a, b);
      if (!d) {
        return absl::InvalidArgumentError(absl::StrCat(
            "network aws has no round-trip time for ", a, " <-> ", b,
            "; it knows pairs among us-east-1, us-west-2, eu-west-1 and each of those with "
            "eu-central-1, ap-northeast-1, ap-southeast-2, sa-east-1, us-east-2"));
      }
      LinkDelay m;
      m.delay_us = absl::ToInt64Microseconds(*d);
      m.jitter_us = m.delay_us / 10;
      m.distribution = LinkDistribution::kNormal;
      net.links.push_back({a, b, m});
    }
  }
  return net;
}

bool ParseBandwidth(const std::string& text, int64_t* bytes_per_s) {
  absl::string_view v = text;
  int64_t mult = 1;
  if (absl::ConsumeSuffix(&v, "MB/s")) {
    mult = 1'000'000;
  } else if (absl::ConsumeSuffix(&v, "KB/s")) {
    mult = 1'000;
  } else {
    absl::ConsumeSuffix(&v, "B/s");
  }
  double x;
  if (!absl::SimpleAtod(v, &x) || x <= 0 || x * mult < 1) return false;
  *bytes_per_s = static_cast<int64_t>(x * mult);
  return true;
}

bool ParseScenarioDuration(const std::string& text, absl::Duration* out) {
  if (text == "0") {
    *out = absl::ZeroDuration();
    return true;
  }
  return absl::ParseDuration(text, out) && *out != absl::InfiniteDuration() &&
         *out != -absl::InfiniteDuration();
}

std::string FormatScenarioDuration(absl::Duration d) {
  if (d == absl::ZeroDuration()) return "0s";
  return absl::FormatDuration(d);
}

const char* ExpectKindName(ExpectKind k) {
  switch (k) {
    case ExpectKind::kConverged:
      return "converged";
    case ExpectKind::kNoLostWrites:
      return "no_lost_writes";
    case ExpectKind::kLostToLww:
      return "lost_to_lww";
    case ExpectKind::kLag:
      return "lag";
    case ExpectKind::kAvailability:
      return "availability";
    case ExpectKind::kLostIncrements:
      return "lost_increments";
    case ExpectKind::kLockOverlaps:
      return "lock_overlaps";
    case ExpectKind::kIndexMatches:
      return "index_matches";
  }
  return "?";
}

std::string Expectation::Name() const {
  auto bounds = [&] {
    std::vector<std::string> b;
    if (at_least) b.push_back(absl::StrCat(">= ", *at_least));
    if (at_most) b.push_back(absl::StrCat("<= ", *at_most));
    return absl::StrJoin(b, " and ");
  };
  switch (kind) {
    case ExpectKind::kConverged:
      return absl::StrCat("converged within ", FormatScenarioDuration(within));
    case ExpectKind::kNoLostWrites:
      return "no acknowledged write lost";
    case ExpectKind::kLostToLww:
      return absl::StrCat("writes lost to LWW", reason.empty() ? "" : " (" + reason + ")", " ",
                          bounds());
    case ExpectKind::kLag: {
      std::vector<std::string> b;
      if (p50_below) b.push_back("p50 < " + FormatScenarioDuration(*p50_below));
      if (p99_below) b.push_back("p99 < " + FormatScenarioDuration(*p99_below));
      return absl::StrCat(heartbeat ? "heartbeat lag " : "lag ", absl::StrJoin(b, ", "), " (",
                          from.empty() ? "all" : from, " -> ", to.empty() ? "all" : to, ")");
    }
    case ExpectKind::kAvailability:
      return absl::StrFormat("availability of %s >= %.3g",
                             workload.empty() ? "all workloads" : workload, min_fraction);
    case ExpectKind::kLostIncrements:
      return absl::StrCat("lost increments ", bounds());
    case ExpectKind::kLockOverlaps:
      return absl::StrCat("lock held by two regions at once ", bounds(), " times");
    case ExpectKind::kIndexMatches:
      return absl::StrCat("index ", index, " of ", table, " matches the table in every replica");
  }
  return "?";
}

const char* ActionKindName(ActionKind k) { return StepKindOf(k).name; }

std::string Step::Describe() const {
  std::string what = StepKindOf(action.kind).describe(action);
  if (for_duration) absl::StrAppend(&what, " for ", FormatScenarioDuration(*for_duration));
  if (every)
    absl::StrAppend(&what, " every ", FormatScenarioDuration(*every), " until ",
                    FormatScenarioDuration(until));
  return what;
}

const TableDef* Scenario::FindTable(const std::string& table) const {
  for (const auto& t : tables) {
    if (t.name == table) return &t;
  }
  return nullptr;
}

absl::StatusOr<Scenario> ParseScenario(const std::string& text, const std::string& file) {
  Scenario s;
  s.file = file;
  try {
    YAML::Node root = YAML::Load(text);
    Parser(&s).Parse(root);
  } catch (const ParseError& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ":", e.line, ": ", e.message));
  } catch (const YAML::ParserException& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(file, ":", e.mark.line + 1, ": malformed YAML: ", e.msg));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(file, ":", e.mark.line + 1, ": ", e.msg));
  }
  if (s.name.empty()) {
    std::string base = file.substr(file.rfind('/') + 1);
    s.name = base.substr(0, base.rfind('.'));
  }
  return s;
}

absl::StatusOr<Scenario> LoadScenario(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read scenario file ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseScenario(ss.str(), path);
}

}  // namespace gtsim::scenario
