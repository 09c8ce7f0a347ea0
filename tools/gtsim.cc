// gtsim: drive a local cluster of simulated DynamoDB global-table regions.
//
// Exit codes: 0 ok; 1 not found or a check failed (e.g. a conditional write); 2 usage or
// runtime error. Machine-readable output (JSON) goes to stdout, messages to stderr.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "model/clock.h"
#include "model/item_json.h"
#include "model/json_limits.h"
#include "model/status_macros.h"
#include "model/table_spec.h"
#include "nlohmann/json.hpp"
#include "region/grpc/convert.h"
#include "sim/launcher/cluster.h"
#include "tools/cli_client.h"
#include "tools/cluster_ops.h"
#include "tools/scenario_cmd.h"
#include "tools/traffic_cmd.h"
#include "tools/ui_server.h"

namespace gtsim {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Command-line parsing

struct CommandSpec {
  std::string name;
  std::string usage;    // after "gtsim NAME"
  std::string summary;  // one line
  std::set<std::string> value_flags;
  std::set<std::string> bool_flags;
  int positional = 0;  // exact count of positional arguments
};

struct Args {
  std::map<std::string, std::string> values;
  std::set<std::string> bools;
  std::vector<std::string> positional;

  bool has(const std::string& f) const { return values.count(f) || bools.count(f); }
  std::string get(const std::string& f, const std::string& def = "") const {
    auto it = values.find(f);
    return it == values.end() ? def : it->second;
  }
};

// An error that ends the command with an exit code.
struct Failure {
  int code;
  std::string message;
};

Failure Usage(const std::string& msg) { return Failure{2, msg}; }

// Maps a status to an exit code: not found and failed checks are 1, the rest 2.
Failure FromStatus(const absl::Status& s) {
  int code = (absl::IsNotFound(s) || absl::IsFailedPrecondition(s)) ? 1 : 2;
  if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) {
    return Failure{2, absl::StrCat("the region did not answer: ", s.message())};
  }
  if (s.message().empty()) {  // never a bare "gtsim: " (gRPC gives some errors no text)
    return Failure{code, absl::StrCat("the region refused the call (",
                                      absl::StatusCodeToString(s.code()), ", no message)")};
  }
  return Failure{code, std::string(s.message())};
}

template <typename T>
T OrFail(absl::StatusOr<T> v) {
  if (!v.ok()) throw FromStatus(v.status());
  return *std::move(v);
}
void OrFail(const absl::Status& s) {
  if (!s.ok()) throw FromStatus(s);
}

const std::vector<CommandSpec>& Commands() {
  static const auto* commands = new std::vector<CommandSpec>{
      {"up",
       "--regions R1,R2,... [--dir DIR] [--durability process|fsync] [--log-retention 24h]",
       "start one region process per name (or restart a stopped cluster) and print endpoints. "
       "--durability (new clusters; kept in cluster.json): process (default) acknowledges a "
       "write once committed to SQLite's WAL - it survives kill -9, and a power loss can take "
       "the last writes; fsync waits for each commit's fsync, so it survives a power loss too "
       "(slower: docs/BENCHMARKS.md). --log-retention (kept in cluster.json): how long a "
       "region's change log keeps a change every peer has applied (default 24h, as DynamoDB "
       "Streams); older changes are trimmed, so disk stays bounded",
       {"regions", "durability", "log-retention"},
       {}},
      {"down", "[--dir DIR]", "stop every region of the cluster (data is kept)", {}, {}},
      {"status",
       "[--json] [--watch [--interval 1s] [--count N]]",
       "regions, tables, per-pair staleness and replicated time (how far behind each "
       "destination is now), ReplicationLatency and PendingReplicationCount. --watch: again "
       "every --interval (default 1s) until Ctrl-C or --count refreshes; on a terminal the "
       "screen is redrawn in place, otherwise each refresh follows the last under a '--- time' "
       "line (with --json: one document per refresh)",
       {"interval", "count"},
       {"json", "watch"}},
      {"top",
       "[--json] [--interval 1s] [--count N]",
       "the same as gtsim status --watch: regions, per-pair staleness, lag and pending, "
       "writes/s, active faults and the last conflicts, refreshed every --interval",
       {"interval", "count"},
       {"json"}},
      {"ui",
       "[--listen 127.0.0.1:PORT]",
       "serve a live web dashboard of the running cluster on 127.0.0.1 (default port 8099; 0: a "
       "free one) until Ctrl-C: regions and links as a graph with each link's state, live "
       "charts of staleness and ReplicationLatency p99 per link and writes/s per region, the "
       "recent LWW conflicts, and buttons for the faults (kill/restart, partition/heal, pause "
       "replication, clock skew, link delay) that run the same code as these commands. Prints "
       "the URL on stdout",
       {"listen"},
       {}},
      {"create-table",
       "--region R --table T --hash-key NAME:TYPE [--range-key NAME:TYPE] [--replicas R1,R2,...]",
       "create a table (TYPE is S, N or B); with --replicas, a global table in those regions",
       {"region", "table", "hash-key", "range-key", "replicas"},
       {}},
      {"describe-table",
       "--region R --table T",
       "print DescribeTable's JSON ({\"Table\": ...})",
       {"region", "table"},
       {}},
      {"restore",
       "--region R --table SRC --target NEW (--time ISO8601|EPOCH | --latest)",
       "point-in-time recovery (DynamoDB's RestoreTableToPointInTime): a new regional table NEW "
       "in R holding exactly what R's replica of SRC held at --time - an RFC 3339 time such as "
       "2026-12-07T06:30:00.250Z (no offset: UTC) or epoch seconds such as 1796625000.25, on R's "
       "clock - or now with --latest. SRC needs point-in-time recovery on in R (update-table "
       "--pitr true); the time must be since it was turned on, within 35 days. Waits until "
       "the restore is complete, then prints DescribeTable's JSON of NEW",
       {"region", "table", "target", "time"},
       {"latest"}},
      {"update-table",
       "--region R --table T (--add-replica R2 | --remove-replica R2 | SETTINGS...)\n"
       "  group-wide: [--billing-mode PAY_PER_REQUEST|PROVISIONED [--wcu N --rcu N]] "
       "[--sse-type AES256|KMS] [--ttl-attribute A | --ttl-disable] "
       "[--stream-view-type KEYS_ONLY|NEW_IMAGE|OLD_IMAGE|NEW_AND_OLD_IMAGES | --stream-disable] "
       "[--create-gsi NAME:ATTR:TYPE[:RANGEATTR:TYPE] [--projection ALL|KEYS_ONLY|INCLUDE "
       "[--include A,B]] | --delete-gsi NAME]\n"
       "  this replica only: [--deletion-protection true|false] [--kms-key ID] "
       "[--table-class STANDARD|STANDARD_INFREQUENT_ACCESS] [--read-capacity-override N] "
       "[--pitr true|false]",
       "add a replica (bootstrapped from a snapshot of R's, under live writes), remove one, or "
       "change settings (group-wide ones reach the other replicas asynchronously)",
       {"region", "table", "add-replica", "remove-replica", "billing-mode", "wcu", "rcu",
        "sse-type", "ttl-attribute", "stream-view-type", "deletion-protection", "kms-key",
        "table-class", "read-capacity-override", "pitr", "create-gsi", "projection", "include",
        "delete-gsi"},
       {"ttl-disable", "stream-disable"}},
      {"list-tables", "--region R", "print the region's tables", {"region"}, {}},
      {"delete-table",
       "--region R --table T",
       "delete a regional table, or this region's replica of a global table",
       {"region", "table"},
       {}},
      {"put",
       "--region R --table T --item JSON [--if-not-exists ATTR | --if-exists ATTR | "
       "--if-equals JSON] [--return-old]",
       "write an item (DynamoDB JSON); conditions are checked against this region's copy",
       {"region", "table", "item", "if-not-exists", "if-exists", "if-equals"},
       {"return-old"}},
      {"load",
       "--region R --table T --file PATH",
       "write the items of PATH (one DynamoDB JSON item per line; - reads stdin) with BatchWrite, "
       "25 per call; every line is checked against the table's key schema first, and nothing is "
       "written if one is bad",
       {"region", "table", "file"},
       {}},
      {"get",
       "--region R --table T --key JSON [--show-version]",
       "read an item from one region's replica (exit 1 if absent)",
       {"region", "table", "key"},
       {"show-version"}},
      {"update",
       "--region R --table T --key JSON [--set JSON] [--remove A,B] [--if-not-exists ATTR | "
       "--if-exists ATTR | --if-equals JSON]",
       "set and remove attributes (creates the item if absent)",
       {"region", "table", "key", "set", "remove", "if-not-exists", "if-exists", "if-equals"},
       {}},
      {"delete",
       "--region R --table T --key JSON [--if-exists ATTR | --if-equals JSON] [--return-old]",
       "delete an item",
       {"region", "table", "key", "if-not-exists", "if-exists", "if-equals"},
       {"return-old"}},
      {"query",
       "--region R --table T --key JSON [--range-op OP --range-value V [--range-value2 V]] "
       "[--backward] [--page-size N] [--max-items N] [--index GSI]",
       "items of one partition (of the table, or of a global secondary index with --index); OP "
       "is eq, lt, le, gt, ge, between or begins_with",
       {"region", "table", "key", "range-op", "range-value", "range-value2", "page-size",
        "max-items", "index"},
       {"backward"}},
      {"scan",
       "--region R --table T [--page-size N] [--max-items N]",
       "every item of a table in one region",
       {"region", "table", "page-size", "max-items"},
       {}},
      {"stream",
       "--region R --table T [--follow] [--from-start | --after SEQ]\n"
       "  Prints region R's own stream of table T: every item write R applied to the table "
       "(local and\n"
       "  replicated), oldest first, one DynamoDB Streams record per line (JSON) on stdout:\n"
       "    {\"eventName\":\"INSERT|MODIFY|REMOVE\",\"dynamodb\":{\"SequenceNumber\",\"Keys\","
       "\"NewImage\",\"OldImage\",\n"
       "     "
       "\"ApproximateCreationDateTime\",...},\"eventSource\":\"aws:dynamodb\",\"awsRegion\":R,\n"
       "     \"gtsim\":{\"originRegion\",\"writeStamp\"}}\n"
       "  Images follow the table's stream view type (NEW_AND_OLD_IMAGES unless set with\n"
       "  update-table --stream-view-type). SequenceNumbers are R's change-log positions.\n"
       "  --from-start  begin with the oldest record R holds (the default)\n"
       "  --after SEQ   begin after SequenceNumber SEQ (e.g. the last one printed)\n"
       "  --follow      after printing what exists, keep polling (every 200 ms) for new records "
       "until\n"
       "                interrupted (SIGINT or SIGTERM: exit 0); without it, exit 0 at the end\n"
       "  Exit 1 if the table does not exist in R, 2 on bad flags.",
       "print a region's stream of changes to a table (local and replicated writes) as "
       "DynamoDB Streams records, one JSON object per line; --follow keeps polling",
       {"region", "table", "after"},
       {"follow", "from-start"}},
      {"kill", "--region R", "kill -9 a region's process (no clean shutdown)", {"region"}, {}},
      {"restart",
       "--region R [--rejoin]",
       "start a stopped or killed region (stopping it first if running). A region that has run "
       "before refuses to start when its database is missing or empty (its data is lost); "
       "--rejoin starts it empty: its peers send back its tables and its own writes they hold, "
       "it re-reads their logs, and its writes that no peer received are gone",
       {"region"},
       {"rejoin"}},
      {"partition", "R1 R2", "cut replication between two regions, both directions", {}, {}, 2},
      {"pause-replication",
       "--from A --to B",
       "one-way cut: B stops applying A's changes (B -> A flows); gtsim heal resumes it",
       {"from", "to"},
       {}},
      {"heal", "", "restore every cut link (partitions and paused replication)", {}, {}},
      {"endpoint",
       "--region R",
       "print the region's DynamoDB-compatible endpoint URL (for --endpoint-url / endpoint_url)",
       {"region"},
       {}},
      {"clock",
       "--region R --skew DURATION",
       "offset the clock a region stamps writes with (e.g. 250ms, -1s, 0; at most 1h either way)",
       {"region", "skew"},
       {}},
      // Scenarios (tools/scenario_cmd.h).
      {"run",
       "FILE [--report DIR] [--junit FILE] [--seed N] [--dir DIR] [--quiet] [--check] "
       "[--ui [--ui-port N]]",
       "run a YAML scenario on a fresh cluster (in a temporary folder, or in --dir, which must "
       "not hold a cluster); exit 0 every expectation held, 1 one failed, 2 bad file or the run "
       "failed; --check only validates. --ui: while it runs, serve gtsim ui's dashboard of the "
       "scenario's cluster on 127.0.0.1:--ui-port (default 8099; 0: a free one) and print its "
       "URL on stderr at the start",
       {"report", "junit", "seed", "ui-port"},
       {"quiet", "check", "ui"},
       1},
      {"chaos",
       "[--regions N] [--duration 60s] [--seed S | --seeds A..B] [--junit FILE] [--report DIR] "
       "[--quiet]",
       "random faults from a seed against a mixed workload on fresh clusters, then check every "
       "invariant",
       {"regions", "duration", "seed", "seeds", "junit", "report"},
       {"quiet"}},
      // Traffic against a running cluster and its judgement (tools/traffic_cmd.h).
      {"traffic",
       "[--regions R1,R2,...] [--table T] [--workload mixed|counter|lock] [--rate N] [--keys N] "
       "[--mix put=60,update=20,read=20] [--zipf S] [--home-region] [--item-size N] [--hold D] "
       "[--seed N] [--duration D] [--history FILE]",
       "drive the scenario workloads against the running cluster: in each of --regions (default "
       "all) --rate operations/s (default 10; lock 2) on --keys keys (default 100; counter and "
       "lock 1), chosen uniformly or with --zipf S (index 0 hottest), only each region's own "
       "keys with --home-region; --workload mixed draws operations by --mix weights (put, "
       "update, delete, conditional_put, read, consistent_read, increment; default put=60,"
       "update=20,read=20), counter increments with a conditional update, lock takes and "
       "releases a conditional-put lock held --hold (default 200ms). Table T (default "
       "traffic) is used as it is, or created as a global table in every region. A live line "
       "(acknowledged writes/s per region, errors, conditional failures, LWW conflicts the "
       "regions counted) on stdout, redrawn on a terminal, one line a second otherwise. Runs "
       "until Ctrl-C (or SIGTERM) or --duration, then writes its history (every acknowledged "
       "write and answered read: region, key, value, stamp, times) to --history (default "
       "DIR/traffic-YYYYMMDD-HHMMSS.json) and says where; judge it with gtsim check",
       {"regions", "table", "workload", "rate", "keys", "mix", "zipf", "item-size", "hold", "seed",
        "duration", "history"},
       {"home-region"}},
      {"check",
       "HISTORY [--settle 30s] [--verbose]",
       "judge a gtsim traffic history against the cluster's state now (the cluster it was made "
       "against, or --dir): waits up to --settle for every replica to hold the same items, then "
       "runs the scenarios' lost-write classifier: every acknowledged write is either the final "
       "version of its key, replaced by a write that had seen it, or lost to last-writer-wins "
       "in a conflict, explained (the first 10 printed; --verbose: all). Exit 0 when no "
       "acknowledged write is lost otherwise, 1 when one is (each named), 2 on a missing or "
       "malformed history or replicas that cannot be read or do not converge",
       {"settle"},
       {"verbose"},
       1},
      {"link",
       "--from A --to B --delay 35ms [--jitter 5ms] [--distribution constant|uniform|normal|"
       "exponential] [--loss 0.01] [--bandwidth 1MB/s]",
       "simulate the network on the replication link A -> B (kept in cluster.json across "
       "restarts; --delay 0 removes it)",
       {"from", "to", "delay", "jitter", "distribution", "loss", "bandwidth"},
       {}},
  };
  return *commands;
}

void PrintHelp() {
  std::cout << "gtsim - a simulator of DynamoDB global tables: regions, replication lag and\n"
               "last-writer-wins conflicts you can see.\n\nUsage: gtsim COMMAND [flags]\n\n"
               "Commands:\n";
  for (const auto& c : Commands()) {
    std::cout << absl::StrFormat("  %-15s %s\n", c.name, c.summary);
  }
  std::cout
      << "\nEvery command takes --dir DIR (default: $GTSIM_DIR, else ./.gtsim), the folder\n"
         "holding the cluster (cluster.json and one data folder per region).\n"
         "Items and keys use DynamoDB JSON, e.g. '{\"id\":{\"S\":\"1\"},\"n\":{\"N\":\"5\"}}'.\n"
         "Exit codes: 0 ok, 1 not found or a condition/check failed, 2 usage or runtime "
         "error.\n`gtsim COMMAND --help` shows a command's flags.\n";
}

Args Parse(const CommandSpec& spec, int argc, char** argv) {
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2), value;
    bool inline_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      inline_value = true;
    }
    if (name == "dir") {
      if (!inline_value) {
        if (i + 1 >= argc) throw Usage("--dir needs a value");
        value = argv[++i];
      }
      args.values["dir"] = value;
    } else if (spec.value_flags.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw Usage(absl::StrCat("--", name, " needs a value"));
        value = argv[++i];
      }
      args.values[name] = value;
    } else if (spec.bool_flags.count(name) && !inline_value) {
      args.bools.insert(name);
    } else {
      throw Usage(absl::StrCat("unknown flag --", name, " for `gtsim ", spec.name,
                               "`; usage: gtsim ", spec.name, " ", spec.usage));
    }
  }
  if (static_cast<int>(args.positional.size()) != spec.positional) {
    throw Usage(absl::StrCat("usage: gtsim ", spec.name, " ", spec.usage));
  }
  return args;
}

std::string Required(const Args& args, const std::string& flag, const CommandSpec& spec) {
  std::string v = args.get(flag);
  if (v.empty()) {
    throw Usage(
        absl::StrCat("--", flag, " is required; usage: gtsim ", spec.name, " ", spec.usage));
  }
  return v;
}

// ---------------------------------------------------------------------------------------------
// Cluster access

std::string ClusterDir(const Args& args) {
  if (args.has("dir")) return args.get("dir");
  if (const char* env = std::getenv("GTSIM_DIR"); env && *env) return env;
  return ".gtsim";
}

std::string RegionBinary() {
  if (const char* env = std::getenv("GTSIM_REGION_BIN"); env && *env) return env;
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "gtsim-region";
  std::string self(buf, n);
  return self.substr(0, self.rfind('/') + 1) + "gtsim-region";
}

LocalCluster LoadCluster(const Args& args) {
  LocalCluster cluster = OrFail(LocalCluster::Load(ClusterDir(args), RegionBinary()));
  OrFail(RegionClient::UseSecretFile(cluster.secret_path()));
  return cluster;
}

// A client for a running region, or a failure naming what is wrong.
RegionClient ClientFor(const LocalCluster& cluster, const std::string& region) {
  const RegionProcess* p = OrFail(cluster.Find(region));
  if (!cluster.IsRunning(region)) {
    throw Failure{2, absl::StrCat("region ", region,
                                  " is not running (start it with: gtsim "
                                  "restart --region ",
                                  region, ")")};
  }
  return RegionClient(p->address());
}

void Check(const grpc::Status& s) {
  if (!s.ok()) throw FromStatus(FromGrpc(s));
}

Item ParseItemArg(const std::string& flag, const std::string& text) {
  auto item = ParseItemJson(text);
  if (!item.ok()) throw Usage(absl::StrCat("--", flag, ": ", item.status().message()));
  return *std::move(item);
}

AttributeValue ParseValueArg(const std::string& flag, const std::string& text) {
  if (!CheckJsonShape(text, kMaxRequestJsonDepth).ok()) {
    throw Usage(
        absl::StrCat("--", flag, ": nested more than ", kMaxRequestJsonDepth, " JSON levels deep"));
  }
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    throw Usage(absl::StrCat("--", flag, ": malformed JSON; write a value like '{\"N\":\"5\"}'"));
  }
  auto v = ValueFromJson(j, "--" + flag);
  if (!v.ok()) throw Usage(std::string(v.status().message()));
  return *std::move(v);
}

void Print(const json& j) { std::cout << j.dump(2) << std::endl; }

std::string FormatStampTime(int64_t us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(us), absl::UTCTimeZone());
}

// --if-not-exists / --if-exists / --if-equals as a native condition.
pb::Condition ConditionFrom(const Args& args) {
  Condition c;
  if (args.has("if-not-exists")) {
    c.clauses.push_back({args.get("if-not-exists"), Condition::Op::kNotExists, {}});
  }
  if (args.has("if-exists")) {
    c.clauses.push_back({args.get("if-exists"), Condition::Op::kExists, {}});
  }
  if (args.has("if-equals")) {
    for (auto& [name, value] : ParseItemArg("if-equals", args.get("if-equals"))) {
      c.clauses.push_back({name, Condition::Op::kEquals, value});
    }
  }
  pb::Condition p;
  ToProto(c, &p);
  return p;
}

void ReportWrite(const std::string& verb, const std::string& region, const pb::WriteResult& r) {
  const auto& s = r.stamp();
  if (r.has_superseded_by()) {
    const auto& w = r.superseded_by();
    std::cerr << absl::StrFormat(
        "warning: %s acknowledged by %s, but %s already holds a newer version of this item "
        "(stamped %s by %s, after this write's %s): last-writer-wins discarded it on arrival. "
        "This region's clock is behind (see gtsim clock).\n",
        verb, region, region, FormatStampTime(w.timestamp_us()), w.region(),
        FormatStampTime(s.timestamp_us()));
    return;
  }
  std::cerr << absl::StrFormat("%s acknowledged by %s, write stamp %s (%d us)\n", verb, region,
                               FormatStampTime(s.timestamp_us()), s.timestamp_us());
}

// DynamoDB's TableDescription, as the region renders it for its endpoint's DescribeTable
// (region/ddb_describe.h): the CLI prints exactly what an SDK would get.
json TableJson(const pb::TableDescription& t) {
  json table = json::parse(t.dynamodb_json(), nullptr, false);
  if (table.is_discarded() || !table.is_object()) {
    throw Failure{2, "the region answered without a table description"};
  }
  return table;
}

// ---------------------------------------------------------------------------------------------
// Commands

int CmdUp(const Args& args, const CommandSpec& spec) {
  std::string dir = ClusterDir(args);
  std::vector<std::string> wanted = absl::StrSplit(args.get("regions"), ',', absl::SkipEmpty());
  if (args.has("durability") && args.get("durability") != "process" &&
      args.get("durability") != "fsync") {
    throw Usage(absl::StrCat("--durability must be process or fsync, not \"",
                             args.get("durability"), "\""));
  }
  absl::Duration retention;
  if (args.has("log-retention") &&
      (!absl::ParseDuration(args.get("log-retention"), &retention) ||
       retention < absl::Seconds(1) || retention > absl::Hours(24 * 365))) {
    throw Usage(
        absl::StrCat("--log-retention must be a duration from 1s to 8760h, e.g. 24h, "
                     "not \"",
                     args.get("log-retention"), "\""));
  }
  auto existing = LocalCluster::Load(dir, RegionBinary());
  LocalCluster cluster = [&] {
    if (existing.ok()) {
      for (const auto& p : existing->regions()) {
        if (existing->IsRunning(p.name)) {
          throw Failure{2, absl::StrCat("a cluster is already running in ", dir, " (",
                                        absl::StrJoin(existing->region_names(), ","),
                                        "); stop it with gtsim down, or use another --dir")};
        }
      }
      if (!wanted.empty() && wanted != existing->region_names()) {
        throw Failure{2, absl::StrCat(dir, " holds a stopped cluster of ",
                                      absl::StrJoin(existing->region_names(), ","),
                                      "; run gtsim up without --regions to restart it, or use "
                                      "another --dir")};
      }
      if (args.has("durability")) OrFail(existing->SetDurability(args.get("durability")));
      if (args.has("log-retention")) existing->SetLogRetention(retention);
      OrFail(existing->Save());
      return *std::move(existing);
    }
    if (!absl::IsNotFound(existing.status())) throw FromStatus(existing.status());
    if (wanted.empty()) {
      throw Usage("--regions is required for a new cluster, e.g. --regions us-east-1,us-west-2");
    }
    LocalCluster created = OrFail(LocalCluster::Create(dir, wanted, RegionBinary()));
    if (args.has("durability")) OrFail(created.SetDurability(args.get("durability")));
    if (args.has("log-retention")) created.SetLogRetention(retention);
    OrFail(created.Save());
    return created;
  }();
  // Start every region, then wait for each: they find each other by fixed ports.
  absl::Status st = cluster.StartAll();
  if (!st.ok()) {
    cluster.StopAll().IgnoreError();
    throw Failure{2, std::string(st.message())};
  }
  std::cerr << "cluster in " << dir << " is up: " << cluster.regions().size() << " regions\n";
  for (const auto& p : cluster.regions()) {
    std::cout << absl::StrFormat("%-16s grpc %s  dynamodb %s  pid %d\n", p.name, p.address(),
                                 p.dynamodb_port ? p.dynamodb_url() : "-", p.pid);
  }
  return 0;
}

int CmdDown(const Args& args, const CommandSpec&) {
  auto cluster = LocalCluster::Load(ClusterDir(args), RegionBinary());
  if (absl::IsNotFound(cluster.status())) {
    std::cerr << "nothing to stop: " << cluster.status().message() << "\n";
    return 0;
  }
  LocalCluster c = OrFail(std::move(cluster));
  int running = 0;
  for (const auto& p : c.regions()) running += c.IsRunning(p.name);
  OrFail(c.StopAll());
  std::cerr << "stopped " << running << " region process(es) in " << c.dir()
            << "; data kept (gtsim up restarts them)\n";
  return 0;
}

std::string Ms(double v) { return absl::StrFormat("%.2f ms", v); }

// Staleness for the status table: 0, milliseconds under 10 s, seconds beyond.
std::string StaleText(double ms) {
  if (ms <= 0) return "0";
  return ms < 10'000 ? absl::StrFormat("%.0f ms", ms) : absl::StrFormat("%.1f s", ms / 1000);
}

// What `status --watch` keeps between refreshes: each region's local write count and when it
// was read, for writes/s.
struct WatchState {
  WriteRates rates;
};

int StatusOnce(const Args& args, WatchState* watch = nullptr) {
  LocalCluster cluster = LoadCluster(args);
  const json out = ClusterStatus(cluster, watch ? &watch->rates : nullptr);
  std::map<std::string, const json*> tables;
  for (const auto& t : out["tables"]) tables[t["table"].get<std::string>()] = &t;
  if (args.bools.count("json")) {
    Print(out);
    return 0;
  }
  std::cout << "cluster " << cluster.dir() << "\n\n";
  std::cout << absl::StrFormat("%-16s %-22s %-8s %-14s %-11s %s\n", "REGION", "ADDRESS", "PID",
                               "STATE", "CLOCK SKEW",
                               watch ? "DISK (database + WAL, change-log positions), WRITES/S"
                                     : "DISK (database + WAL, change-log positions)");
  auto mb = [](const json& bytes) {
    return absl::StrFormat("%.1f MB", bytes.get<int64_t>() / 1e6);
  };
  for (const auto& r : out["regions"]) {
    std::string disk = "-";
    if (r.contains("disk")) {
      const json& d = r["disk"];
      disk = absl::StrCat(mb(d["database_bytes"]), " + ", mb(d["wal_bytes"]), ", ",
                          d["log_positions"].get<int64_t>(), " positions");
    }
    if (r.contains("writes_per_s")) {
      absl::StrAppend(&disk, absl::StrFormat(", %.0f writes/s", r["writes_per_s"].get<double>()));
    }
    std::cout << absl::StrFormat(
        "%-16s %-22s %-8d %-14s %-11s %s\n", r["region"].get<std::string>(),
        r["address"].get<std::string>(), r["pid"].get<int>(), r["state"].get<std::string>(),
        absl::FormatDuration(absl::Microseconds(r["clock_skew_us"].get<int64_t>())), disk);
  }
  std::cout << "\nTABLES\n";
  if (tables.empty()) std::cout << "  (none)\n";
  for (const auto& [name, t] : tables) {
    std::vector<std::string> counts;
    for (auto it = (*t)["items"].begin(); it != (*t)["items"].end(); ++it) {
      counts.push_back(absl::StrCat(it.key(), " ", it.value().get<int64_t>()));
    }
    std::cout << absl::StrFormat(
        "  %-20s replicas %s\n  %-20s items: %s\n", name,
        absl::StrJoin((*t)["replicas"].get<std::vector<std::string>>(), ", "), "",
        absl::StrJoin(counts, ", "));
  }
  std::cout << "\nREPLICATION (source -> destination)\n"
               "  STALE: how old the oldest write not yet applied at the destination is (0: caught "
               "up); REPLICATED (UTC): the source time up to which it applied everything;\n"
               "  p50..max: ReplicationLatency over the last 60 s; pending: "
               "PendingReplicationCount\n";
  std::cout << absl::StrFormat("  %-28s %-11s %-12s %-11s %-11s %-11s %-11s %-8s %-8s %s\n", "PAIR",
                               "STALE", "REPLICATED", "p50", "p90", "p99", "max", "samples",
                               "pending", "link");
  for (const auto& p : out["replication"]) {
    std::string pair =
        p["source"].get<std::string>() + " -> " + p["destination"].get<std::string>();
    std::string p50 = "-", p90 = "-", p99 = "-", mx = "-", n = "0", pending = "?";
    if (p.contains("latency_ms") && p["latency_ms"]["samples"].get<int64_t>() > 0) {
      const auto& l = p["latency_ms"];
      p50 = Ms(l["p50"]);
      p90 = Ms(l["p90"]);
      p99 = Ms(l["p99"]);
      mx = Ms(l["max"]);
      n = std::to_string(l["samples"].get<int64_t>());
    }
    if (p.contains("pending") && p["pending"].get<int64_t>() >= 0) {
      pending = std::to_string(p["pending"].get<int64_t>());
    }
    std::string stale = "?", replicated = "?";
    if (p.contains("staleness_ms")) {
      stale = absl::StrCat(p.contains("staleness_at_most") ? "<=" : "",
                           StaleText(p["staleness_ms"].get<double>()));
      // The time of day (UTC) is enough on a terminal; --json has the full RFC 3339 time.
      std::string t = p["replicated_time"].get<std::string>();
      replicated = t.size() >= 23 ? t.substr(11, 12) : t;
    }
    std::cout << absl::StrFormat("  %-28s %-11s %-12s %-11s %-11s %-11s %-11s %-8s %-8s %s\n", pair,
                                 stale, replicated, p50, p90, p99, mx, n, pending,
                                 p["link"].get<std::string>());
  }
  if (!out["faults"].empty()) {
    std::cout << "\nACTIVE FAULTS\n";
    for (const auto& f : out["faults"]) std::cout << "  " << f["text"].get<std::string>() << "\n";
  }
  if (!out["conflicts"].empty()) {
    // The last few: the most recent LWW losses, the newest last.
    constexpr size_t kShown = 5;
    const auto& all = out["conflicts"];
    std::cout << "\nRECENT CONFLICTS (writes discarded by last-writer-wins)\n";
    for (size_t i = all.size() > kShown ? all.size() - kShown : 0; i < all.size(); ++i) {
      const json& c = all[i];
      std::cout << "  " << c["at"].get<std::string>().substr(11, 12) << " "
                << c["table"].get<std::string>() << " " << c["key"].dump() << ": "
                << c["explanation"].get<std::string>() << "\n";
    }
  }
  if (!out["warnings"].empty()) {
    std::cout << "\nWARNINGS\n";
    for (const auto& w : out["warnings"]) {
      std::cout << "  " << w["region"].get<std::string>() << ": " << w["text"].get<std::string>()
                << "\n";
    }
  }
  return 0;
}

// `status --watch`: StatusOnce again and again. Each refresh is rendered whole before it is
// written, so a terminal redraw never shows half a screen.
int CmdStatus(const Args& args, const CommandSpec&) {
  if (!args.bools.count("watch")) {
    if (args.has("interval") || args.has("count")) {
      throw Failure{2, "--interval and --count go with --watch"};
    }
    return StatusOnce(args);
  }
  absl::Duration interval = absl::Seconds(1);
  if (args.has("interval") && (!absl::ParseDuration(args.get("interval"), &interval) ||
                               interval < absl::Milliseconds(100) || interval > absl::Hours(1))) {
    throw Failure{2, "--interval must be a duration from 100ms to 1h (e.g. 1s, 500ms), not '" +
                         args.get("interval") + "'"};
  }
  int64_t count = 0;  // 0: until interrupted
  if (args.has("count") && (!absl::SimpleAtoi(args.get("count"), &count) || count < 1)) {
    throw Failure{2, "--count must be a whole number of refreshes, at least 1, not '" +
                         args.get("count") + "'"};
  }
  const bool terminal = isatty(STDOUT_FILENO) && !args.bools.count("json");
  WatchState state;
  for (int64_t i = 0; count == 0 || i < count; ++i) {
    if (i > 0) absl::SleepFor(interval);
    std::ostringstream frame;
    std::streambuf* saved = std::cout.rdbuf(frame.rdbuf());
    int rc;
    try {
      rc = StatusOnce(args, &state);
    } catch (...) {
      std::cout.rdbuf(saved);
      throw;
    }
    std::cout.rdbuf(saved);
    if (rc != 0) return rc;
    if (terminal) {
      std::cout << "\x1b[H\x1b[2J";  // home, clear
    } else if (!args.bools.count("json")) {
      std::cout << "--- " << absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone())
                << " UTC\n";
    }
    std::cout << frame.str() << std::flush;
  }
  return 0;
}

// Set by SIGINT / SIGTERM for the commands that run until interrupted (ui, stream --follow).
volatile std::sig_atomic_t g_stop_requested = 0;
void OnStopSignal(int) { g_stop_requested = 1; }

// `gtsim top`: an alias of `gtsim status --watch`.
int CmdTop(const Args& args, const CommandSpec& spec) {
  Args watch = args;
  watch.bools.insert("watch");
  return CmdStatus(watch, spec);
}

// `gtsim ui`: the dashboard server (tools/ui_server.h) until SIGINT or SIGTERM.
int CmdUi(const Args& args, const CommandSpec&) {
  std::string listen = args.get("listen", "127.0.0.1:8099");
  std::vector<std::string> parts = absl::StrSplit(listen, absl::MaxSplits(':', 1));
  int port = -1;
  if (parts.size() != 2 || !absl::SimpleAtoi(parts[1], &port) || port < 0 || port > 65535) {
    throw Usage("--listen must be 127.0.0.1:PORT (PORT 0: a free one), not '" + listen + "'");
  }
  if (parts[0] != "127.0.0.1" && parts[0] != "localhost") {
    throw Usage(
        "--listen: gtsim ui serves on 127.0.0.1 only (its buttons fault the cluster), "
        "not on '" +
        parts[0] + "'");
  }
  LoadCluster(args);  // a cluster must be there; also reads its secret
  // A handler, not a blocked mask and sigwait: regions the dashboard restarts would inherit
  // the mask and ignore gtsim down's SIGTERM.
  struct sigaction sa {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  UiServer server(ClusterDir(args), RegionBinary());
  const int bound = OrFail(server.Start(port));
  std::cout << "http://127.0.0.1:" << bound << "/" << std::endl;
  std::cerr << "gtsim ui: serving the dashboard of " << ClusterDir(args)
            << " on http://127.0.0.1:" << bound << "/ (Ctrl-C stops it)\n";
  while (!g_stop_requested) absl::SleepFor(absl::Milliseconds(100));
  server.Stop();
  return 0;
}

int CmdCreateTable(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::CreateTableRequest req;
  req.set_table(Required(args, "table", spec));
  auto set_key = [&](const std::string& flag, pb::KeyAttribute* out) {
    auto def = ParseKeyDef(args.get(flag));
    if (!def.ok()) throw Usage(absl::StrCat("--", flag, ": ", def.status().message()));
    out->set_name(def->name);
    out->set_type(def->type == ValueType::kN ? pb::N : def->type == ValueType::kB ? pb::B : pb::S);
  };
  Required(args, "hash-key", spec);
  set_key("hash-key", req.mutable_hash_key());
  if (args.has("range-key")) set_key("range-key", req.mutable_range_key());
  for (absl::string_view r : absl::StrSplit(args.get("replicas"), ',', absl::SkipEmpty())) {
    req.add_replicas(std::string(r));
  }
  LocalCluster cluster = LoadCluster(args);
  RegionClient client = ClientFor(cluster, region);
  pb::CreateTableResponse resp;
  Check(client.api().CreateTable(RegionClient::Context().get(), req, &resp));
  Print({{"TableDescription", TableJson(resp.table())}});
  return 0;
}

int CmdDescribeTable(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::DescribeTableRequest req;
  req.set_table(Required(args, "table", spec));
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::DescribeTableResponse resp;
  Check(client.api().DescribeTable(RegionClient::Context().get(), req, &resp));
  Print({{"Table", TableJson(resp.table())}});
  return 0;
}

// --time of `gtsim restore`: epoch seconds, or an RFC 3339 time (UTC when it has no offset).
int64_t RestoreTimeOf(const std::string& text) {
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds) && std::isfinite(seconds)) {
    return static_cast<int64_t>(std::llround(seconds * 1e6));
  }
  absl::Time t;
  std::string err;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &err) ||
      absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", text, absl::UTCTimeZone(), &t, &err)) {
    return absl::ToUnixMicros(t);
  }
  throw Usage(absl::StrCat("--time \"", text, "\" is neither an RFC 3339 time (e.g. ",
                           "2026-12-07T06:30:00.250Z) nor epoch seconds (e.g. 1796625000.25)"));
}

int CmdRestore(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::RestoreTableRequest req;
  req.set_source(Required(args, "table", spec));
  req.set_target(Required(args, "target", spec));
  if (args.has("time") == args.has("latest")) {
    throw Usage(absl::StrCat("give one of --time ISO8601|EPOCH or --latest; usage: gtsim ",
                             spec.name, " ", spec.usage));
  }
  if (args.has("latest")) {
    req.set_latest(true);
  } else {
    req.set_restore_us(RestoreTimeOf(Required(args, "time", spec)));
  }
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::RestoreTableResponse resp;
  Check(client.api().RestoreTable(RegionClient::Context().get(), req, &resp));
  Print({{"Table", TableJson(resp.table())}});
  return 0;
}

int CmdUpdateTable(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::UpdateTableRequest req;
  req.set_table(Required(args, "table", spec));
  if (args.has("add-replica") && args.has("remove-replica")) {
    throw Usage(
        "give one of --add-replica REGION or --remove-replica REGION (one replica change "
        "per call, as UpdateTable's ReplicaUpdates)");
  }
  if (args.has("add-replica") || args.has("remove-replica")) {
    auto* u = req.add_replica_updates();
    bool add = args.has("add-replica");
    u->set_action(add ? pb::ReplicaUpdate::CREATE : pb::ReplicaUpdate::DELETE);
    u->set_region_name(Required(args, add ? "add-replica" : "remove-replica", spec));
  }
  auto flag_bool = [&](const std::string& flag) {
    std::string v = args.get(flag);
    if (v != "true" && v != "false") throw Usage(absl::StrCat("--", flag, " takes true or false"));
    return v == "true";
  };
  auto flag_count = [&](const std::string& flag) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(args.get(flag), &v) || v < 0) {
      throw Usage(absl::StrCat("--", flag, " must be a whole number >= 0"));
    }
    return v;
  };
  if (args.has("billing-mode")) req.set_billing_mode(args.get("billing-mode"));
  if (args.has("wcu")) req.set_write_capacity(flag_count("wcu"));
  if (args.has("rcu")) req.set_read_capacity(flag_count("rcu"));
  if (args.has("sse-type")) req.set_sse_type(args.get("sse-type"));
  if (args.has("ttl-attribute") && args.bools.count("ttl-disable")) {
    throw Usage("give --ttl-attribute A (enable TTL) or --ttl-disable, not both");
  }
  if (args.has("ttl-attribute")) {
    req.set_ttl_enabled(true);
    req.set_ttl_attribute(args.get("ttl-attribute"));
  }
  if (args.bools.count("ttl-disable")) req.set_ttl_enabled(false);
  if (args.has("stream-view-type") && args.bools.count("stream-disable")) {
    throw Usage("give --stream-view-type V (enable the stream) or --stream-disable, not both");
  }
  if (args.has("stream-view-type")) {
    req.set_stream_enabled(true);
    req.set_stream_view_type(args.get("stream-view-type"));
  }
  if (args.bools.count("stream-disable")) req.set_stream_enabled(false);
  if (args.has("deletion-protection"))
    req.set_deletion_protection(flag_bool("deletion-protection"));
  if (args.has("kms-key")) req.set_kms_key(args.get("kms-key"));
  if (args.has("table-class")) req.set_table_class(args.get("table-class"));
  if (args.has("read-capacity-override")) {
    req.set_read_capacity_override(flag_count("read-capacity-override"));
  }
  if (args.has("pitr")) req.set_point_in_time_recovery(flag_bool("pitr"));
  if (args.has("create-gsi")) {
    std::vector<std::string> parts = absl::StrSplit(args.get("create-gsi"), ':');
    if (parts.size() != 3 && parts.size() != 5) {
      throw Usage(
          "--create-gsi takes NAME:ATTR:TYPE or NAME:ATTR:TYPE:RANGEATTR:TYPE, e.g. "
          "byEmail:email:S");
    }
    auto* g = req.mutable_create_gsi();
    g->set_index_name(parts[0]);
    auto key = [&](const std::string& name, const std::string& type, pb::KeyAttribute* k) {
      KeyDef def = OrFail(ParseKeyDef(name + ":" + type));
      k->set_name(def.name);
      k->set_type(def.type == ValueType::kN ? pb::N : def.type == ValueType::kB ? pb::B : pb::S);
    };
    key(parts[1], parts[2], g->mutable_hash_key());
    if (parts.size() == 5) key(parts[3], parts[4], g->mutable_range_key());
    g->set_projection(args.get("projection", "ALL"));
    for (absl::string_view a : absl::StrSplit(args.get("include"), ',', absl::SkipEmpty())) {
      g->add_non_key_attributes(std::string(a));
    }
  } else if (args.has("projection") || args.has("include")) {
    throw Usage("--projection and --include go with --create-gsi");
  }
  if (args.has("delete-gsi")) req.set_delete_gsi(args.get("delete-gsi"));
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::UpdateTableResponse resp;
  Check(client.api().UpdateTable(RegionClient::Context().get(), req, &resp));
  Print({{"TableDescription", TableJson(resp.table())}});
  return 0;
}

int CmdListTables(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::ListTablesResponse resp;
  Check(client.api().ListTables(RegionClient::Context().get(), {}, &resp));
  Print({{"TableNames", std::vector<std::string>(resp.tables().begin(), resp.tables().end())}});
  return 0;
}

int CmdDeleteTable(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::DeleteTableRequest req;
  req.set_table(Required(args, "table", spec));
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::DeleteTableResponse resp;
  Check(client.api().DeleteTable(RegionClient::Context().get(), req, &resp));
  Print({{"TableDescription", TableJson(resp.table())}});
  return 0;
}

Item ToItem(const pb::Item& p) { return OrFail(FromProto(p)); }

int CmdPut(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::PutItemRequest req;
  req.set_table(Required(args, "table", spec));
  ToProto(ParseItemArg("item", Required(args, "item", spec)), req.mutable_item());
  *req.mutable_condition() = ConditionFrom(args);
  req.set_return_old_item(args.bools.count("return-old") > 0);
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::PutItemResponse resp;
  Check(client.api().PutItem(RegionClient::Context().get(), req, &resp));
  ReportWrite("put", region, resp.result());
  if (req.return_old_item()) {
    json out = json::object();
    if (resp.result().has_old_item())
      out["Attributes"] = ItemToJson(ToItem(resp.result().old_item()));
    Print(out);
  }
  return 0;
}

// Checks that `item` carries key attribute `key` with its declared type.
std::string KeyProblem(const Item& item, const pb::KeyAttribute& key) {
  if (key.name().empty()) return "";
  const char* type = key.type() == pb::N ? "N" : key.type() == pb::B ? "B" : "S";
  auto it = item.find(key.name());
  if (it == item.end()) return absl::StrCat("the item has no key attribute \"", key.name(), "\"");
  if (std::string(ValueTypeName(it->second.type())) != type) {
    return absl::StrCat("key attribute \"", key.name(), "\" must be of type ", type, ", not ",
                        ValueTypeName(it->second.type()));
  }
  return "";
}

constexpr size_t kBatchWriteLimit = 25;  // writes per BatchWrite call (region.proto)

int CmdLoad(const Args& args, const CommandSpec& spec) {
  const std::string region = Required(args, "region", spec);
  const std::string table = Required(args, "table", spec);
  const std::string path = Required(args, "file", spec);
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::DescribeTableRequest describe;
  describe.set_table(table);
  pb::DescribeTableResponse described;
  Check(client.api().DescribeTable(RegionClient::Context().get(), describe, &described));

  // Every line is parsed and checked before anything is written.
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) throw Usage(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  }
  std::istream& in = path == "-" ? std::cin : file;
  std::vector<std::pair<int, pb::Item>> items;  // (line number, item)
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto item = ParseItemJson(line);
    std::string problem = item.ok() ? KeyProblem(*item, described.table().hash_key())
                                    : std::string(item.status().message());
    if (problem.empty()) problem = KeyProblem(*item, described.table().range_key());
    if (!problem.empty()) {
      throw Usage(absl::StrCat(path, ":", number, ": ", problem,
                               " (nothing was written; fix the line and load again)"));
    }
    pb::Item p;
    ToProto(*item, &p);
    items.emplace_back(number, std::move(p));
  }

  const absl::Time start = absl::Now();
  absl::Time last_progress = start;
  int64_t written = 0;
  std::vector<std::string> failures;
  for (size_t i = 0; i < items.size(); i += kBatchWriteLimit) {
    pb::BatchWriteRequest req;
    const size_t end = std::min(items.size(), i + kBatchWriteLimit);
    for (size_t k = i; k < end; ++k) {
      pb::PutItemRequest* put = req.add_writes()->mutable_put();
      put->set_table(table);
      *put->mutable_item() = items[k].second;
    }
    pb::BatchWriteResponse resp;
    Check(client.api().BatchWrite(RegionClient::Context().get(), req, &resp));
    for (int k = 0; k < resp.outcomes_size(); ++k) {
      if (resp.outcomes(k).code() == 0) {
        ++written;
      } else {
        failures.push_back(
            absl::StrCat(path, ":", items[i + k].first, ": ", resp.outcomes(k).message()));
      }
    }
    if (absl::Now() - last_progress >= absl::Seconds(1)) {
      last_progress = absl::Now();
      std::cerr << absl::StrFormat("loaded %d of %d items\n", written, items.size());
    }
  }
  const double seconds = std::max(1e-6, absl::ToDoubleSeconds(absl::Now() - start));
  std::cout << absl::StrFormat("loaded %d items into %s in %s (%.0f items/s)\n", written, table,
                               region, written / seconds);
  for (size_t k = 0; k < failures.size() && k < 10; ++k) std::cerr << failures[k] << "\n";
  if (!failures.empty()) {
    std::cerr << absl::StrFormat("%d items were not written (first ones above)\n", failures.size());
    return 1;
  }
  return 0;
}

int CmdGet(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::GetItemRequest req;
  req.set_table(Required(args, "table", spec));
  std::string key_text = Required(args, "key", spec);
  ToProto(ParseItemArg("key", key_text), req.mutable_key());
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::GetItemResponse resp;
  Check(client.api().GetItem(RegionClient::Context().get(), req, &resp));
  if (!resp.found()) {
    throw Failure{1, absl::StrCat("no item with key ", key_text, " in ", region, "'s replica of ",
                                  req.table())};
  }
  json out = {{"Item", ItemToJson(ToItem(resp.item()))}};
  if (args.bools.count("show-version")) {
    out["Version"] = {{"Region", resp.stamp().region()},
                      {"TimestampMicros", resp.stamp().timestamp_us()},
                      {"Time", FormatStampTime(resp.stamp().timestamp_us())}};
  }
  Print(out);
  return 0;
}

int CmdUpdate(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::UpdateItemRequest req;
  req.set_table(Required(args, "table", spec));
  ToProto(ParseItemArg("key", Required(args, "key", spec)), req.mutable_key());
  if (args.has("set")) {
    for (const auto& [name, value] : ParseItemArg("set", args.get("set"))) {
      ToProto(value, &(*req.mutable_set())[name]);
    }
  }
  for (absl::string_view r : absl::StrSplit(args.get("remove"), ',', absl::SkipEmpty())) {
    req.add_remove(std::string(r));
  }
  if (req.set().empty() && req.remove().empty()) {
    throw Usage("give --set JSON and/or --remove ATTR,... to update");
  }
  *req.mutable_condition() = ConditionFrom(args);
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::UpdateItemResponse resp;
  Check(client.api().UpdateItem(RegionClient::Context().get(), req, &resp));
  ReportWrite("update", region, resp.result());
  Print({{"Attributes", ItemToJson(ToItem(resp.item()))}});
  return 0;
}

int CmdDelete(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::DeleteItemRequest req;
  req.set_table(Required(args, "table", spec));
  ToProto(ParseItemArg("key", Required(args, "key", spec)), req.mutable_key());
  *req.mutable_condition() = ConditionFrom(args);
  req.set_return_old_item(args.bools.count("return-old") > 0);
  RegionClient client = ClientFor(LoadCluster(args), region);
  pb::DeleteItemResponse resp;
  Check(client.api().DeleteItem(RegionClient::Context().get(), req, &resp));
  ReportWrite("delete", region, resp.result());
  if (req.return_old_item()) {
    json out = json::object();
    if (resp.result().has_old_item())
      out["Attributes"] = ItemToJson(ToItem(resp.result().old_item()));
    Print(out);
  }
  return 0;
}

int PositiveFlag(const Args& args, const std::string& flag) {
  if (!args.has(flag)) return 0;
  int v = 0;
  if (!absl::SimpleAtoi(args.get(flag), &v) || v <= 0) {
    throw Usage(absl::StrCat("--", flag, " must be a positive whole number"));
  }
  return v;
}

// Follows LastEvaluatedKey through every page; `fetch` fills one page from a start key.
int PrintPages(const Args& args, const std::function<pb::ItemPage(const pb::Item&)>& fetch) {
  int max_items = PositiveFlag(args, "max-items");
  json items = json::array();
  pb::Item start;
  int pages = 0;
  while (true) {
    pb::ItemPage page = fetch(start);
    ++pages;
    for (const auto& it : page.items()) {
      if (max_items > 0 && static_cast<int>(items.size()) >= max_items) break;
      items.push_back(ItemToJson(ToItem(it)));
    }
    if (page.last_evaluated_key().attributes().empty() ||
        (max_items > 0 && static_cast<int>(items.size()) >= max_items)) {
      json out = {{"Items", items}, {"Count", items.size()}, {"ScannedCount", items.size()}};
      if (!page.last_evaluated_key().attributes().empty()) {
        out["NextToken"] = ItemToJson(ToItem(page.last_evaluated_key())).dump();
      }
      Print(out);
      return 0;
    }
    start = page.last_evaluated_key();
  }
}

int CmdQuery(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  std::string table = Required(args, "table", spec);
  Item key = ParseItemArg("key", Required(args, "key", spec));
  if (key.size() != 1) {
    throw Usage("--key for query names the hash key attribute only, e.g. '{\"id\":{\"S\":\"1\"}}'");
  }
  pb::QueryRequest base;
  base.set_table(table);
  ToProto(key.begin()->second, base.mutable_hash_value());
  base.set_backward(args.bools.count("backward") > 0);
  base.set_limit(PositiveFlag(args, "page-size"));
  if (args.has("range-op")) {
    static const std::map<std::string, pb::RangeCondition::Op> ops = {
        {"eq", pb::RangeCondition::EQ},
        {"lt", pb::RangeCondition::LT},
        {"le", pb::RangeCondition::LE},
        {"gt", pb::RangeCondition::GT},
        {"ge", pb::RangeCondition::GE},
        {"between", pb::RangeCondition::BETWEEN},
        {"begins_with", pb::RangeCondition::BEGINS_WITH}};
    auto op = ops.find(args.get("range-op"));
    if (op == ops.end()) {
      throw Usage("--range-op must be one of eq, lt, le, gt, ge, between, begins_with");
    }
    base.mutable_range()->set_op(op->second);
    ToProto(ParseValueArg("range-value", Required(args, "range-value", spec)),
            base.mutable_range()->mutable_value());
    if (op->second == pb::RangeCondition::BETWEEN) {
      ToProto(ParseValueArg("range-value2", Required(args, "range-value2", spec)),
              base.mutable_range()->mutable_value2());
    }
  } else if (args.has("range-value") || args.has("range-value2")) {
    throw Usage("--range-value needs --range-op");
  }
  RegionClient client = ClientFor(LoadCluster(args), region);
  // The native Query takes the hash value alone: check the attribute name against the table.
  pb::DescribeTableRequest dreq;
  dreq.set_table(table);
  pb::DescribeTableResponse dresp;
  Check(client.api().DescribeTable(RegionClient::Context().get(), dreq, &dresp));
  std::string hash_name = dresp.table().hash_key().name();
  if (args.has("index")) {
    base.set_index_name(args.get("index"));
    hash_name.clear();
    for (const auto& g : dresp.table().gsis()) {
      if (g.index_name() == args.get("index")) hash_name = g.hash_key().name();
    }
    if (hash_name.empty()) {
      throw Usage(absl::StrCat("table ", table, " has no index \"", args.get("index"), "\" in ",
                               region, " (describe-table lists its GlobalSecondaryIndexes)"));
    }
  }
  if (hash_name != key.begin()->first) {
    throw Usage(absl::StrCat("--key names \"", key.begin()->first, "\", but the hash key of ",
                             args.has("index") ? "index " + args.get("index") : table, " is \"",
                             hash_name, "\""));
  }
  return PrintPages(args, [&](const pb::Item& start) {
    pb::QueryRequest req = base;
    *req.mutable_exclusive_start_key() = start;
    pb::ItemPage page;
    Check(client.api().Query(RegionClient::Context().get(), req, &page));
    return page;
  });
}

int CmdScan(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  pb::ScanRequest base;
  base.set_table(Required(args, "table", spec));
  base.set_limit(PositiveFlag(args, "page-size"));
  RegionClient client = ClientFor(LoadCluster(args), region);
  return PrintPages(args, [&](const pb::Item& start) {
    pb::ScanRequest req = base;
    *req.mutable_exclusive_start_key() = start;
    pb::ItemPage page;
    Check(client.api().Scan(RegionClient::Context().get(), req, &page));
    return page;
  });
}

// --- stream ---------------------------------------------------------------------------------

// Stream sequence numbers are change-log positions, zero-padded to DynamoDB's 21 digits (as the
// DynamoDB endpoint prints them).
std::string StreamSequenceNumber(int64_t seq) {
  std::string n = std::to_string(seq);
  if (n.size() < 21) n.insert(0, 21 - n.size(), '0');
  return n;
}

// One record as DynamoDB Streams shapes it (see the endpoint's GetRecords), plus where and when
// the write was made.
json StreamRecordJson(const pb::StreamRecord& r, const std::string& view,
                      const std::string& region) {
  json d = {
      {"ApproximateCreationDateTime", static_cast<double>(r.stamp().timestamp_us() / 1000000)},
      {"Keys", ItemToJson(ToItem(r.keys()))},
      {"SequenceNumber", StreamSequenceNumber(r.sequence())},
      {"StreamViewType", view}};
  if (r.has_new_image()) d["NewImage"] = ItemToJson(ToItem(r.new_image()));
  if (r.has_old_image()) d["OldImage"] = ItemToJson(ToItem(r.old_image()));
  return json{
      {"eventID", absl::StrCat(r.stamp().region(), "-", StreamSequenceNumber(r.sequence()))},
      {"eventName", r.event_name()},
      {"eventVersion", "1.1"},
      {"eventSource", "aws:dynamodb"},
      {"awsRegion", region},
      {"dynamodb", std::move(d)},
      {"gtsim",
       {{"originRegion", r.stamp().region()},
        {"writeStamp",
         {{"timestampUs", r.stamp().timestamp_us()},
          {"region", r.stamp().region()},
          {"time", FormatStampTime(r.stamp().timestamp_us())}}}}}};
}

int CmdStream(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  std::string table = Required(args, "table", spec);
  bool follow = args.bools.count("follow") > 0;
  int64_t after = 0;
  if (args.has("after")) {
    if (args.bools.count("from-start")) throw Usage("give --from-start or --after SEQ, not both");
    std::string text = args.get("after");
    if (!absl::SimpleAtoi(text, &after) || after < 0) {
      throw Usage(absl::StrCat("--after \"", text,
                               "\" is not a sequence number; give a "
                               "SequenceNumber from a record, e.g. --after 42"));
    }
  }
  RegionClient client = ClientFor(LoadCluster(args), region);
  if (follow) {
    struct sigaction sa {};
    sa.sa_handler = OnStopSignal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
  }
  int64_t stop_at = -1;
  while (!g_stop_requested) {
    absl::StatusOr<pb::ReadStreamResponse> page = client.ReadStream(table, after);
    if (!page.ok()) {
      if (g_stop_requested) break;
      OrFail(page.status());
    }
    for (const auto& r : page->records()) {
      std::cout << StreamRecordJson(r, page->stream_view_type(), region).dump() << "\n";
    }
    std::cout.flush();
    bool progressed = !page->records().empty() || page->next_after_seq() > after;
    after = std::max(after, page->next_after_seq());
    // Without --follow, "what exists" is the log up to its head at the first read, so a busy
    // region cannot keep the command running.
    if (stop_at < 0) stop_at = page->head_seq();
    if (!follow) {
      if (after >= stop_at || !progressed) break;
      continue;
    }
    if (progressed && after < page->head_seq()) continue;  // not caught up yet
    for (int i = 0; i < 10 && !g_stop_requested; ++i) absl::SleepFor(absl::Milliseconds(20));
  }
  return 0;
}

int CmdKill(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  LocalCluster cluster = LoadCluster(args);
  std::cerr << OrFail(KillRegion(cluster, region)) << "\n";
  return 0;
}

int CmdRestart(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  LocalCluster cluster = LoadCluster(args);
  std::cerr << OrFail(RestartRegion(cluster, region, args.bools.count("rejoin") > 0)) << "\n";
  return 0;
}

int CmdPartition(const Args& args, const CommandSpec&) {
  LocalCluster cluster = LoadCluster(args);
  std::cerr << OrFail(PartitionRegions(cluster, args.positional[0], args.positional[1])) << "\n";
  return 0;
}

int CmdPauseReplication(const Args& args, const CommandSpec& spec) {
  std::string from = Required(args, "from", spec), to = Required(args, "to", spec);
  LocalCluster cluster = LoadCluster(args);
  std::cerr << OrFail(PauseReplication(cluster, from, to)) << "\n";
  return 0;
}

int CmdHeal(const Args& args, const CommandSpec&) {
  LocalCluster cluster = LoadCluster(args);
  std::cerr << OrFail(HealCluster(cluster)) << "\n";
  return 0;
}

int CmdClock(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  absl::Duration skew;
  std::string text = Required(args, "skew", spec);
  if (!absl::ParseDuration(text, &skew)) {
    throw Usage(
        absl::StrCat("--skew \"", text, "\" is not a duration; write e.g. 250ms, -1s or 0"));
  }
  if (absl::AbsDuration(skew) > absl::Microseconds(kMaxClockSkewUs)) {
    throw Usage(absl::StrCat("--skew ", text, " is refused: gtsim allows a clock skew of at most ",
                             absl::FormatDuration(absl::Microseconds(kMaxClockSkewUs)),
                             " either way (nothing was changed)"));
  }
  LocalCluster cluster = LoadCluster(args);
  std::cerr << OrFail(SetRegionClockSkew(cluster, region, absl::ToInt64Microseconds(skew))) << "\n";
  return 0;
}

int CmdEndpoint(const Args& args, const CommandSpec& spec) {
  std::string region = Required(args, "region", spec);
  LocalCluster cluster = LoadCluster(args);
  const RegionProcess* p = OrFail(cluster.Find(region));
  if (p->dynamodb_port == 0) {
    throw Failure{2, absl::StrCat("region ", region,
                                  " has no DynamoDB endpoint: its cluster was "
                                  "created before gtsim had one (create a new cluster)")};
  }
  std::cout << p->dynamodb_url() << "\n";
  return 0;
}

ScenarioCmdArgs ToScenarioArgs(const Args& args) {
  ScenarioCmdArgs out;
  out.positional = args.positional;
  out.values = args.values;
  out.bools = args.bools;
  out.region_binary = RegionBinary();
  out.cluster_dir = ClusterDir(args);
  return out;
}
int CmdRun(const Args& args, const CommandSpec&) {
  return ScenarioRunCommand(ToScenarioArgs(args));
}
int CmdChaos(const Args& args, const CommandSpec&) {
  return ScenarioChaosCommand(ToScenarioArgs(args));
}
int CmdLink(const Args& args, const CommandSpec&) {
  return ScenarioLinkCommand(ToScenarioArgs(args));
}
int CmdTraffic(const Args& args, const CommandSpec&) {
  return TrafficCommand(ToScenarioArgs(args));
}
int CmdCheck(const Args& args, const CommandSpec&) { return CheckCommand(ToScenarioArgs(args)); }

int Run(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    PrintHelp();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  static const std::map<std::string, int (*)(const Args&, const CommandSpec&)> handlers = {
      {"up", CmdUp},
      {"down", CmdDown},
      {"status", CmdStatus},
      {"create-table", CmdCreateTable},
      {"describe-table", CmdDescribeTable},
      {"restore", CmdRestore},
      {"update-table", CmdUpdateTable},
      {"list-tables", CmdListTables},
      {"delete-table", CmdDeleteTable},
      {"put", CmdPut},
      {"load", CmdLoad},
      {"get", CmdGet},
      {"update", CmdUpdate},
      {"delete", CmdDelete},
      {"query", CmdQuery},
      {"scan", CmdScan},
      {"stream", CmdStream},
      {"kill", CmdKill},
      {"restart", CmdRestart},
      {"partition", CmdPartition},
      {"pause-replication", CmdPauseReplication},
      {"heal", CmdHeal},
      {"top", CmdTop},
      {"ui", CmdUi},
      {"clock", CmdClock},
      {"endpoint", CmdEndpoint},
      {"run", CmdRun},
      {"chaos", CmdChaos},
      {"link", CmdLink},
      {"traffic", CmdTraffic},
      {"check", CmdCheck},
  };
  for (const auto& spec : Commands()) {
    if (spec.name != name) continue;
    for (int i = 2; i < argc; ++i) {
      if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") {
        std::cout << "gtsim " << spec.name << " " << spec.usage << "\n  " << spec.summary << "\n";
        // run and chaos start clusters of their own (see their usage).
        if (spec.name != "run" && spec.name != "chaos") {
          std::cout << "  --dir DIR: the cluster folder (default $GTSIM_DIR, else ./.gtsim)\n";
        }
        return 0;
      }
    }
    return handlers.at(name)(Parse(spec, argc, argv), spec);
  }
  throw Usage(absl::StrCat("unknown command \"", name, "\"; gtsim --help lists the commands"));
}

}  // namespace
}  // namespace gtsim

int main(int argc, char** argv) {
  try {
    return gtsim::Run(argc, argv);
  } catch (const gtsim::Failure& f) {
    std::cerr << "gtsim: " << f.message << std::endl;
    return f.code;
  }
}
