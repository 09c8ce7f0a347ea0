// Prometheus metrics of one region: `GET /metrics` on its DynamoDB endpoint URL answers them in
// the text exposition format 0.0.4 (Content-Type text/plain; version=0.0.4).
//
// What is exported (base units, counters since the region process started, CloudWatch's names
// in the HELP text where CloudWatch has the figure):
// - gtsim_replication_latency_seconds{source,destination,table}: histogram of ReplicationLatency,
//   each change's time from its commit at the source to its application here (destination is
//   this region).
// - gtsim_replication_staleness_seconds, gtsim_replicated_time_seconds and
//   gtsim_pending_replication_count{source,destination,table}: how far behind each peer is now,
//   as this region (the source) sees it from its log and the peer's acknowledged position
//   (replicator/lag_metrics.h, Freshness); replicated time in Unix seconds.
// - gtsim_replication_link_up{source,destination}: 1 while changes from source flow here.
// - gtsim_writes_total{region,source}: change-log records applied here by origin (this region's
//   own clients' writes, or a peer's changes that won LWW); gtsim_reads_total{region,operation};
//   gtsim_conflicts_total{source,destination,reason}: a peer's changes discarded here,
//   reason lww_older (a newer version of the item was here) or table_deleted.
// - gtsim_storage_database_bytes, gtsim_storage_wal_bytes, gtsim_change_log_positions{region}
//   and gtsim_table_items{region,table}.
//
// Stateless functions; thread-safe.
#pragma once

#include <string>

#include "region/http/http_server.h"
#include "region/region.h"

namespace gtsim {

inline constexpr char kMetricsContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// The exposition text for `status` (Region::Status()).
std::string RenderMetrics(const RegionStatus& status);
// The answer to GET /metrics: 200 with RenderMetrics(region->Status()), or 500 with the error
// in plain text when the region cannot report. Takes the region's lock briefly.
HttpServer::Response MetricsResponse(Region* region);

}  // namespace gtsim
