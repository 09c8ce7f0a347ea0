#include "tools/cluster_ops.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "model/clock.h"
#include "model/status_macros.h"
#include "region/grpc/convert.h"
#include "sim/scenario/scenario.h"
#include "tools/cli_client.h"
#include "tools/scenario_driver.h"

namespace gtsim {
namespace {

using nlohmann::json;

// Tells a running region to block (or unblock) a peer; a stopped one learns it at start.
absl::Status SetBlocked(const LocalCluster& cluster, const std::string& region,
                        const std::string& peer, bool blocked) {
  if (!cluster.IsRunning(region)) return absl::OkStatus();
  ASSIGN_OR_RETURN(const RegionProcess* p, cluster.Find(region));
  RegionClient client(p->address());
  pb::SetBlockedRequest req;
  req.set_peer(peer);
  req.set_blocked(blocked);
  pb::SetBlockedResponse resp;
  return FromGrpc(client.admin().SetBlocked(RegionClient::Context().get(), req, &resp));
}

std::string SignedDuration(int64_t us) {
  if (us == 0) return "0";
  return absl::StrCat(us > 0 ? "+" : "-",
                      absl::FormatDuration(absl::Microseconds(us > 0 ? us : -us)));
}

// RFC 3339 in UTC with milliseconds, e.g. 2026-12-07T09:30:00.123Z.
std::string Rfc3339(int64_t unix_us) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::FromUnixMicros(unix_us),
                          absl::UTCTimeZone());
}

// A write stamp as a time of day with microseconds (stamps tie-break to the microsecond).
std::string StampTime(int64_t us) {
  return absl::FormatTime("%H:%M:%E6S", absl::FromUnixMicros(us), absl::UTCTimeZone());
}

json ConflictJson(const std::string& region, const pb::Conflict& c) {
  json key = json::parse(c.key_json(), nullptr, false);
  std::string explanation;
  if (c.won_region().empty()) {
    explanation = absl::StrCat(c.lost_region(), "'s write stamped ", StampTime(c.lost_stamp_us()),
                               " UTC was discarded in ", region,
                               ": the item had been deleted there by a later write "
                               "(last writer wins)");
  } else {
    const bool tie = c.won_stamp_us() == c.lost_stamp_us();
    explanation = absl::StrCat(
        c.lost_region(), "'s write stamped ", StampTime(c.lost_stamp_us()),
        " UTC was discarded in ", region, ": ", region, " holds ", c.won_region(),
        "'s version stamped ", StampTime(c.won_stamp_us()),
        tie ? ", the same microsecond: the region name that sorts last wins the tie (a gtsim "
              "choice; AWS does not document its tie-break)"
            : ", which is later (last writer wins)");
  }
  json won = json::object();
  if (!c.won_region().empty()) {
    won = {{"region", c.won_region()},
           {"stamp_us", c.won_stamp_us()},
           {"time", Rfc3339(c.won_stamp_us())}};
  } else {
    won = {{"delete", true}};
  }
  return {{"region", region},
          {"table", c.table()},
          {"key", key.is_discarded() ? json(c.key_json()) : key},
          {"lost",
           {{"region", c.lost_region()},
            {"stamp_us", c.lost_stamp_us()},
            {"time", Rfc3339(c.lost_stamp_us())}}},
          {"won", won},
          {"at", Rfc3339(c.at_us())},
          {"at_us", c.at_us()},
          {"explanation", explanation}};
}

}  // namespace

absl::StatusOr<std::string> KillRegion(LocalCluster& cluster, const std::string& region) {
  RETURN_IF_ERROR(cluster.Find(region).status());
  RETURN_IF_ERROR(cluster.Kill(region));
  return absl::StrCat("killed ", region, " (kill -9); its acknowledged writes are on disk. ",
                      "gtsim restart --region ", region, " brings it back");
}

absl::StatusOr<std::string> RestartRegion(LocalCluster& cluster, const std::string& region,
                                          bool rejoin) {
  RETURN_IF_ERROR(cluster.Find(region).status());
  if (cluster.IsRunning(region)) RETURN_IF_ERROR(cluster.Stop(region));
  if (rejoin) cluster.MarkRejoin(region);
  RETURN_IF_ERROR(cluster.Start(region));
  ASSIGN_OR_RETURN(const RegionProcess* p, cluster.Find(region));
  return absl::StrCat("restarted ", region, " on ", p->address(),
                      "; it resumes replication from its durable cursors");
}

absl::StatusOr<std::string> PartitionRegions(LocalCluster& cluster, const std::string& a,
                                             const std::string& b) {
  RETURN_IF_ERROR(cluster.Find(a).status());
  RETURN_IF_ERROR(cluster.Find(b).status());
  if (a == b) return absl::InvalidArgumentError("partition needs two different regions");
  cluster.AddPartition(a, b);
  RETURN_IF_ERROR(cluster.Save());
  RETURN_IF_ERROR(SetBlocked(cluster, a, b, true));
  RETURN_IF_ERROR(SetBlocked(cluster, b, a, true));
  return absl::StrCat("replication between ", a, " and ", b,
                      " is cut in both directions; both keep accepting writes (gtsim heal "
                      "restores it)");
}

absl::StatusOr<std::string> PauseReplication(LocalCluster& cluster, const std::string& origin,
                                             const std::string& receiver) {
  RETURN_IF_ERROR(cluster.Find(origin).status());
  RETURN_IF_ERROR(cluster.Find(receiver).status());
  if (origin == receiver) {
    return absl::InvalidArgumentError("--from and --to must be two different regions");
  }
  cluster.AddOneWayBlock(origin, receiver);
  RETURN_IF_ERROR(cluster.Save());
  RETURN_IF_ERROR(SetBlocked(cluster, receiver, origin, true));
  return absl::StrCat("replication ", origin, " -> ", receiver, " is paused: ", receiver,
                      " applies nothing from ", origin,
                      " (the other direction flows; gtsim heal "
                      "resumes it)");
}

absl::StatusOr<std::string> HealCluster(LocalCluster& cluster) {
  cluster.ClearPartitions();
  RETURN_IF_ERROR(cluster.Save());
  for (const auto& r : cluster.regions()) {
    for (const auto& p : cluster.regions()) {
      if (r.name != p.name) RETURN_IF_ERROR(SetBlocked(cluster, r.name, p.name, false));
    }
  }
  return std::string("every link restored; pending changes flow now");
}

absl::StatusOr<std::string> SetRegionClockSkew(LocalCluster& cluster, const std::string& region,
                                               int64_t us) {
  if (us > kMaxClockSkewUs || us < -kMaxClockSkewUs) {
    return absl::InvalidArgumentError(
        absl::StrCat("a clock skew of ", SignedDuration(us), " is refused: gtsim allows at most ",
                     absl::FormatDuration(absl::Microseconds(kMaxClockSkewUs)),
                     " either way (nothing was changed)"));
  }
  ASSIGN_OR_RETURN(const RegionProcess* p, cluster.Find(region));
  const int64_t previous = p->clock_skew_us;
  std::optional<pb::SetClockSkewResponse> live;
  if (cluster.IsRunning(region)) {
    RegionClient client(p->address());
    pb::SetClockSkewRequest req;
    req.set_skew_us(us);
    live.emplace();
    RETURN_IF_ERROR(
        FromGrpc(client.admin().SetClockSkew(RegionClient::Context().get(), req, &*live)));
  }
  cluster.SetClockSkew(region, us);
  RETURN_IF_ERROR(cluster.Save());
  const int64_t old_us = live ? live->previous_skew_us() : previous;
  std::string out = absl::StrCat(region, ": clock skew ", SignedDuration(old_us), " -> ",
                                 SignedDuration(us), "; ");
  if (us == 0) {
    absl::StrAppend(&out, "it stamps writes with the true time");
  } else {
    absl::StrAppend(&out, "it stamps writes ",
                    absl::FormatDuration(absl::AbsDuration(absl::Microseconds(us))),
                    us < 0 ? " behind" : " ahead of", " the true time");
  }
  absl::StrAppend(&out, live ? "" : " once it runs (it is down; kept in cluster.json)", ".");
  if (live && live->last_stamp_us() > live->now_us() + us) {
    // Stamps never go back within a region, so LWW keeps its later writes winning.
    absl::StrAppend(
        &out, "\n  its last stamp is ",
        absl::FormatDuration(absl::Microseconds(live->last_stamp_us() - live->now_us())),
        " ahead of the true time: its next writes are stamped just after it until the clock "
        "passes it");
  }
  absl::StrAppend(&out, "\n  lag is still measured with the true clock");
  return out;
}

absl::StatusOr<std::string> SetLinkModel(LocalCluster& cluster, const std::string& from,
                                         const std::string& to, const LinkDelay& d) {
  RETURN_IF_ERROR(cluster.Find(from).status());
  RETURN_IF_ERROR(cluster.Find(to).status());
  if (from == to)
    return absl::InvalidArgumentError("--from and --to must be two different regions");
  // The scenario driver stores the link in cluster.json and tells a running receiver.
  GrpcScenarioDriver driver(&cluster);
  if (absl::Status st = driver.SetLink(from, to, d); !st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("cannot set the link ", from, " -> ", to, ": ", st.message()));
  }
  if (d.none())
    return absl::StrCat("changes from ", from, " reach ", to, " without simulated delay");
  return absl::StrFormat(
      "changes from %s reach %s after %s + %s jitter (%s)%s%s; kept in cluster.json across "
      "restarts",
      from, to, scenario::FormatScenarioDuration(absl::Microseconds(d.delay_us)),
      scenario::FormatScenarioDuration(absl::Microseconds(d.jitter_us)),
      LinkDistributionName(d.distribution),
      d.loss > 0 ? absl::StrFormat(", loss %.3g retransmitted", d.loss) : "",
      d.bandwidth_bytes_per_s > 0 ? absl::StrCat(", capped at ", d.bandwidth_bytes_per_s, " B/s")
                                  : "");
}

json ClusterStatus(const LocalCluster& cluster, WriteRates* rates) {
  std::map<std::string, pb::StatusResponse> status;
  json out = {{"dir", cluster.dir()},
              {"regions", json::array()},
              {"tables", json::array()},
              {"replication", json::array()}};
  for (const auto& p : cluster.regions()) {
    bool running = cluster.IsRunning(p.name);
    std::string state = running ? "running" : "stopped";
    if (running) {
      RegionClient client(p.address());
      pb::StatusResponse resp;
      grpc::Status s =
          client.admin().Status(RegionClient::Context(absl::Seconds(5)).get(), {}, &resp);
      if (s.ok()) {
        status[p.name] = resp;
      } else {
        state = "not answering";
      }
    }
    json entry = {{"region", p.name},
                  {"address", p.address()},
                  {"pid", running ? p.pid : 0},
                  {"state", state},
                  {"clock_skew_us", p.clock_skew_us}};
    if (auto it = status.find(p.name); it != status.end()) {
      entry["disk"] = {{"database_bytes", it->second.database_bytes()},
                       {"wal_bytes", it->second.wal_bytes()},
                       {"log_positions", it->second.log_positions()}};
      entry["local_writes"] = it->second.local_writes();
      if (rates) {
        const absl::Time now = absl::Now();
        auto prev = rates->last.find(p.name);
        if (prev != rates->last.end() && it->second.local_writes() >= prev->second.first) {
          const double seconds = absl::ToDoubleSeconds(now - prev->second.second);
          if (seconds > 0) {
            entry["writes_per_s"] = (it->second.local_writes() - prev->second.first) / seconds;
          }
        }
        rates->last[p.name] = {it->second.local_writes(), now};
      }
    }
    out["regions"].push_back(std::move(entry));
  }
  // Tables: the union of what running regions hold, with each region's item count.
  std::map<std::string, json> tables;
  for (const auto& [region, s] : status) {
    for (const auto& t : s.tables()) {
      json& entry = tables[t.table()];
      entry["table"] = t.table();
      entry["replicas"] = std::vector<std::string>(t.replicas().begin(), t.replicas().end());
      entry["items"][region] = t.item_count();
      // Replicas not ACTIVE yet (or going): as the region that knows most about them says.
      for (const auto& [r, st] : t.replica_status()) {
        std::string text = st;
        if (auto p = t.replica_progress().find(r); p != t.replica_progress().end()) {
          absl::StrAppend(&text, " ", p->second, " %");
        }
        json& known = entry["replica_status"][r];
        if (known.is_null() || region == r) known = text;
      }
    }
  }
  for (auto& [name, t] : tables) out["tables"].push_back(t);
  // What a user must know about a region's data (e.g. a change log that rolled back).
  out["warnings"] = json::array();
  for (const auto& [region, s] : status) {
    for (const auto& w : s.warnings()) out["warnings"].push_back({{"region", region}, {"text", w}});
  }
  for (const auto& src : cluster.regions()) {
    for (const auto& dst : cluster.regions()) {
      if (src.name == dst.name) continue;
      json pair = {{"source", src.name}, {"destination", dst.name}};
      auto s_it = status.find(src.name);
      auto d_it = status.find(dst.name);
      if (s_it != status.end()) {
        for (const auto& o : s_it->second.outbound()) {
          if (o.peer() != dst.name) continue;
          pair["pending"] = o.pending();
          // How far behind the destination is now, as the source sees it (the age of the
          // oldest write it has not acknowledged); the latency window only holds deliveries.
          pair["staleness_ms"] = o.staleness_us() / 1000.0;
          pair["replicated_time"] = Rfc3339(o.replicated_time_us());
          if (o.staleness_at_most()) pair["staleness_at_most"] = true;
          pair["tables"] = json::array();
          for (const auto& t : o.tables()) {
            json tl = {{"table", t.table()},
                       {"pending", t.pending()},
                       {"staleness_ms", t.staleness_us() / 1000.0},
                       {"replicated_time", Rfc3339(t.replicated_time_us())}};
            if (t.staleness_at_most()) tl["staleness_at_most"] = true;
            pair["tables"].push_back(std::move(tl));
          }
        }
      }
      std::string link = s_it == status.end() ? "source down" : "destination down";
      if (d_it != status.end()) {
        for (const auto& in : d_it->second.inbound()) {
          if (in.origin() != src.name) continue;
          const auto& l = in.latency();
          pair["latency_ms"] = {{"samples", l.samples()},
                                {"p50", l.p50_ms()},
                                {"p90", l.p90_ms()},
                                {"p99", l.p99_ms()},
                                {"max", l.max_ms()}};
          const auto& l1 = in.latency_1s();
          pair["latency_1s_ms"] = {{"samples", l1.samples()},
                                   {"p50", l1.p50_ms()},
                                   {"p90", l1.p90_ms()},
                                   {"p99", l1.p99_ms()},
                                   {"max", l1.max_ms()}};
          pair["applied_changes"] = in.applied_changes();
          if (in.delay_us() > 0) pair["delay_ms"] = in.delay_us() / 1000.0;
          link = in.blocked()           ? "partitioned"
                 : in.connected()       ? "connected"
                 : s_it == status.end() ? "source down"
                                        : "connecting";
        }
      }
      pair["link"] = link;
      if (cluster.one_way_blocks().count({src.name, dst.name})) pair["paused"] = true;
      out["replication"].push_back(pair);
    }
  }
  // What is done to the cluster now.
  json faults = json::array();
  for (const auto& p : cluster.regions()) {
    if (!cluster.IsRunning(p.name)) {
      faults.push_back({{"kind", "down"},
                        {"regions", {p.name}},
                        {"text", absl::StrCat(p.name, " is down (killed or stopped)")}});
    }
  }
  for (const auto& [a, b] : cluster.partitions()) {
    faults.push_back({{"kind", "partition"},
                      {"regions", {a, b}},
                      {"text", absl::StrCat("partition ", a, " <-/-> ", b)}});
  }
  for (const auto& [origin, receiver] : cluster.one_way_blocks()) {
    faults.push_back({{"kind", "paused"},
                      {"regions", {origin, receiver}},
                      {"text", absl::StrCat("replication paused ", origin, " -/-> ", receiver)}});
  }
  for (const auto& [link, d] : cluster.links()) {
    if (d.none()) continue;
    faults.push_back(
        {{"kind", "delay"},
         {"regions", {link.first, link.second}},
         {"delay_ms", d.delay_us / 1000.0},
         {"text", absl::StrFormat("link %s -> %s delayed %s (+%s jitter)", link.first, link.second,
                                  absl::FormatDuration(absl::Microseconds(d.delay_us)),
                                  absl::FormatDuration(absl::Microseconds(d.jitter_us)))}});
  }
  for (const auto& p : cluster.regions()) {
    if (p.clock_skew_us == 0) continue;
    faults.push_back(
        {{"kind", "skew"},
         {"regions", {p.name}},
         {"skew_ms", p.clock_skew_us / 1000.0},
         {"text", absl::StrCat(p.name, " clock skewed ", SignedDuration(p.clock_skew_us))}});
  }
  out["faults"] = std::move(faults);
  // Recent LWW losses of every region, oldest first.
  std::vector<json> conflicts;
  for (const auto& [region, s] : status) {
    for (const auto& c : s.conflicts()) conflicts.push_back(ConflictJson(region, c));
  }
  std::stable_sort(conflicts.begin(), conflicts.end(), [](const json& a, const json& b) {
    return a["at_us"].get<int64_t>() < b["at_us"].get<int64_t>();
  });
  out["conflicts"] = conflicts;
  return out;
}

}  // namespace gtsim
