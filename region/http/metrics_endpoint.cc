#include "region/http/metrics_endpoint.h"

#include <cmath>
#include <initializer_list>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace gtsim {
namespace {

// A label value with \, " and newline escaped, as the format requires.
std::string Escape(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

using Labels = std::initializer_list<std::pair<const char*, std::string>>;

std::string LabelText(Labels labels, const std::string& extra = "") {
  std::string out;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&out, out.empty() ? "" : ",", k, "=\"", Escape(v), "\"");
  }
  if (!extra.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra);
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.15g", v);
}

class Writer {
 public:
  void Family(const char* name, const char* type, const std::string& help) {
    absl::StrAppend(&out_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
  }
  void Sample(const std::string& name, Labels labels, double value, const std::string& extra = "") {
    absl::StrAppend(&out_, name, LabelText(labels, extra), " ", Number(value), "\n");
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string RenderMetrics(const RegionStatus& s) {
  Writer w;
  const std::string& here = s.region;

  w.Family("gtsim_replication_latency_seconds", "histogram",
           "CloudWatch ReplicationLatency: time from a change's commit in the source region to "
           "its application in the destination (this region), per table, since this region "
           "started.");
  for (const auto& in : s.inbound) {
    // Every table the pair replicates has its series from the start (zero until a change
    // arrives), so rates and quantiles exist before the first delivery.
    std::map<std::string, LatencyHistogram> histograms = in.histograms;
    for (const auto& t : s.tables) {
      if (t.spec.HasReplica(here) && t.spec.HasReplica(in.origin)) histograms[t.spec.name];
    }
    for (const auto& [table, h] : histograms) {
      Labels l = {{"source", in.origin}, {"destination", here}, {"table", table}};
      for (size_t i = 0; i < LatencyHistogram::kBoundsSeconds.size(); ++i) {
        w.Sample("gtsim_replication_latency_seconds_bucket", l,
                 static_cast<double>(h.CumulativeCount(i)),
                 absl::StrCat("le=\"", Number(LatencyHistogram::kBoundsSeconds[i]), "\""));
      }
      w.Sample("gtsim_replication_latency_seconds_bucket", l, static_cast<double>(h.count()),
               "le=\"+Inf\"");
      w.Sample("gtsim_replication_latency_seconds_sum", l, h.sum_seconds());
      w.Sample("gtsim_replication_latency_seconds_count", l, static_cast<double>(h.count()));
    }
  }

  w.Family("gtsim_replication_staleness_seconds", "gauge",
           "How far behind the destination is now: the age of the oldest write committed in "
           "the source region (this region) and not yet acknowledged as applied by the "
           "destination; 0 when caught up. Unlike ReplicationLatency it grows while a link is "
           "cut.");
  for (const auto& o : s.outbound) {
    for (const auto& t : o.lag.tables) {
      w.Sample("gtsim_replication_staleness_seconds",
               {{"source", here}, {"destination", o.peer}, {"table", t.table}},
               t.freshness.staleness_us / 1e6);
    }
  }
  w.Family("gtsim_replicated_time_seconds", "gauge",
           "Replicated time (Unix seconds): the source commit time up to which the destination "
           "has applied every write of the table; the source's current time when caught up.");
  for (const auto& o : s.outbound) {
    for (const auto& t : o.lag.tables) {
      w.Sample("gtsim_replicated_time_seconds",
               {{"source", here}, {"destination", o.peer}, {"table", t.table}},
               t.freshness.replicated_time_us / 1e6);
    }
  }
  w.Family("gtsim_pending_replication_count", "gauge",
           "CloudWatch PendingReplicationCount: changes committed in the source region (this "
           "region) that the destination has not acknowledged yet.");
  for (const auto& o : s.outbound) {
    for (const auto& t : o.lag.tables) {
      w.Sample("gtsim_pending_replication_count",
               {{"source", here}, {"destination", o.peer}, {"table", t.table}},
               static_cast<double>(t.pending));
    }
  }
  w.Family("gtsim_replication_link_up", "gauge",
           "1 while this region (the destination) is connected to the source's change stream "
           "and the link is not cut by a partition, else 0.");
  for (const auto& in : s.inbound) {
    w.Sample("gtsim_replication_link_up", {{"source", in.origin}, {"destination", here}},
             in.connected && !in.blocked ? 1 : 0);
  }

  w.Family("gtsim_writes_total", "counter",
           "Change-log records applied in this region, by the region they originated in: this "
           "region's own clients' item writes and table operations, or a peer's changes that "
           "won last-writer-wins here.");
  w.Sample("gtsim_writes_total", {{"region", here}, {"source", here}},
           static_cast<double>(s.local_writes));
  for (const auto& in : s.inbound) {
    w.Sample("gtsim_writes_total", {{"region", here}, {"source", in.origin}},
             static_cast<double>(in.applied_changes));
  }
  w.Family("gtsim_reads_total", "counter",
           "Item reads served by this region: GetItem (single, batched and transactional gets, "
           "per key), Query and Scan (per page).");
  for (const char* op : {"GetItem", "Query", "Scan"}) {
    auto it = s.reads.find(op);
    w.Sample("gtsim_reads_total", {{"region", here}, {"operation", op}},
             it == s.reads.end() ? 0 : static_cast<double>(it->second));
  }
  w.Family("gtsim_conflicts_total", "counter",
           "Changes from the source region discarded in the destination (this region): "
           "reason lww_older when a newer version of the item was already here "
           "(last-writer-wins), table_deleted when their table had been deleted.");
  for (const auto& in : s.inbound) {
    w.Sample("gtsim_conflicts_total",
             {{"source", in.origin}, {"destination", here}, {"reason", "lww_older"}},
             static_cast<double>(in.lost_to_newer));
    w.Sample("gtsim_conflicts_total",
             {{"source", in.origin}, {"destination", here}, {"reason", "table_deleted"}},
             static_cast<double>(in.dropped));
  }

  w.Family("gtsim_storage_database_bytes", "gauge",
           "Size of this region's database file (region.db).");
  w.Sample("gtsim_storage_database_bytes", {{"region", here}},
           static_cast<double>(s.disk.database_bytes));
  w.Family("gtsim_storage_wal_bytes", "gauge",
           "Size of this region's write-ahead log (region.db-wal).");
  w.Sample("gtsim_storage_wal_bytes", {{"region", here}}, static_cast<double>(s.disk.wal_bytes));
  w.Family("gtsim_change_log_positions", "gauge",
           "Change-log positions this region holds (its head minus what has been trimmed).");
  w.Sample("gtsim_change_log_positions", {{"region", here}},
           static_cast<double>(s.disk.log_positions));
  w.Family("gtsim_table_items", "gauge",
           "Items in this region's replica of the table (DescribeTable ItemCount, kept exact).");
  for (const auto& t : s.tables) {
    w.Sample("gtsim_table_items", {{"region", here}, {"table", t.spec.name}},
             static_cast<double>(t.item_count));
  }
  return w.Take();
}

HttpServer::Response MetricsResponse(Region* region) {
  HttpServer::Response res;
  absl::StatusOr<RegionStatus> status = region->Status();
  if (!status.ok()) {
    res.status = 500;
    res.body =
        absl::StrCat("cannot read this region's metrics: ", status.status().ToString(), "\n");
    return res;
  }
  res.content_type = kMetricsContentType;
  res.body = RenderMetrics(*status);
  return res;
}

}  // namespace gtsim
