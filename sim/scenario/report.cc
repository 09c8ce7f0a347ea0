#include "sim/scenario/report.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"

namespace gtsim::scenario {
namespace {

std::string Esc(const std::string& s) {
  return absl::StrReplaceAll(s, {{"&", "&amp;"}, {"<", "&lt;"}, {">", "&gt;"}, {"\"", "&quot;"}});
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e",
                         "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"};

struct Series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

// A line chart with the fault intervals shaded behind the lines.
std::string LineChart(const std::string& title, const std::string& y_label,
                      const std::vector<Series>& series, const std::vector<FaultInterval>& faults,
                      double x_max) {
  const double W = 900, L = 60, R = 20, T = 30;
  const int legend_rows = static_cast<int>((series.size() + 2) / 3);
  const double B = 36 + 16 * legend_rows, H = 220 + B;
  double y_max = 1;
  for (const auto& s : series) {
    for (const auto& p : s.points) y_max = std::max(y_max, p.second);
  }
  y_max *= 1.1;
  x_max = std::max(x_max, 1.0);
  auto X = [&](double x) { return L + (W - L - R) * x / x_max; };
  auto Y = [&](double y) { return H - B - (H - T - B) * y / y_max; };
  std::string svg = absl::StrFormat(
      "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
      "font-family='sans-serif' font-size='11'>\n<text x='%.0f' y='18' font-size='14'>%s</text>\n",
      W, H, L, Esc(title));
  for (const auto& f : faults) {
    double end = f.end < 0 ? x_max : f.end;
    svg += absl::StrFormat(
        "<rect x='%.1f' y='%.0f' width='%.1f' height='%.0f' fill='#f4a261' opacity='0.25'>"
        "<title>%s (%.1fs - %.1fs)</title></rect>\n",
        X(f.start), T, std::max(1.0, X(end) - X(f.start)), H - T - B, Esc(f.text), f.start, end);
  }
  svg += absl::StrFormat("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", L,
                         H - B, W - R, H - B);
  svg += absl::StrFormat("<line x1='%.0f' y1='%.0f' x2='%.0f' y2='%.0f' stroke='black'/>\n", L, T,
                         L, H - B);
  for (int i = 0; i <= 4; ++i) {
    double y = y_max * i / 4;
    svg += absl::StrFormat(
        "<text x='%.0f' y='%.1f' text-anchor='end'>%.0f</text><line x1='%.0f' y1='%.1f' "
        "x2='%.0f' y2='%.1f' stroke='#ddd'/>\n",
        L - 4, Y(y) + 4, y, L, Y(y), W - R, Y(y));
    double x = x_max * i / 4;
    svg += absl::StrFormat("<text x='%.1f' y='%.0f' text-anchor='middle'>%.0fs</text>\n", X(x),
                           H - B + 14, x);
  }
  svg += absl::StrFormat("<text x='12' y='%.0f' transform='rotate(-90 12 %.0f)'>%s</text>\n",
                         (H - B + T) / 2, (H - B + T) / 2, Esc(y_label));
  for (size_t i = 0; i < series.size(); ++i) {
    const char* color = kColors[i % 10];
    // A gap in the samples (the reporting region was down) breaks the line.
    std::vector<std::vector<std::string>> segments(1);
    double last_x = -1e9;
    for (const auto& p : series[i].points) {
      if (p.first - last_x > 1.6 && !segments.back().empty()) segments.emplace_back();
      last_x = p.first;
      segments.back().push_back(absl::StrFormat("%.1f,%.1f", X(p.first), Y(p.second)));
    }
    for (const auto& pts : segments) {
      svg += absl::StrFormat("<polyline fill='none' stroke='%s' stroke-width='1.5' points='%s'/>\n",
                             color, absl::StrJoin(pts, " "));
    }
    double lx = L + (i % 3) * 270, ly = H - B + 30 + 16 * static_cast<double>(i / 3);
    svg += absl::StrFormat(
        "<rect x='%.0f' y='%.0f' width='10' height='3' fill='%s'/><text x='%.0f' "
        "y='%.0f'>%s</text>\n",
        lx, ly - 4, color, lx + 14, ly, Esc(series[i].name));
  }
  svg += "</svg>\n";
  return svg;
}

// Dots per region over time, one per write LWW dropped; hover shows the explanation.
std::string ConflictChart(const RunResult& r, double x_max) {
  const double W = 900, L = 120, R = 20, T = 30, row = 26;
  double H = T + row * r.regions.size() + 30;
  x_max = std::max(x_max, 1.0);
  auto X = [&](double x) { return L + (W - L - R) * std::clamp(x, 0.0, x_max) / x_max; };
  std::string svg = absl::StrFormat(
      "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' "
      "font-family='sans-serif' font-size='11'>\n<text x='10' y='18' font-size='14'>Conflict "
      "timeline: %d acknowledged writes dropped by last-writer-wins (by the region that "
      "accepted them)</text>\n",
      W, H, r.conflicts.size());
  for (const auto& f : r.faults) {
    double end = f.end < 0 ? x_max : f.end;
    svg += absl::StrFormat(
        "<rect x='%.1f' y='%.0f' width='%.1f' height='%.0f' fill='#f4a261' opacity='0.25'>"
        "<title>%s</title></rect>\n",
        X(f.start), T, std::max(1.0, X(end) - X(f.start)), row * r.regions.size(), Esc(f.text));
  }
  std::map<std::string, size_t> rows;
  for (size_t i = 0; i < r.regions.size(); ++i) {
    rows[r.regions[i]] = i;
    double y = T + row * i + row / 2;
    svg += absl::StrFormat(
        "<text x='%.0f' y='%.1f' text-anchor='end'>%s</text><line x1='%.0f' y1='%.1f' x2='%.0f' "
        "y2='%.1f' stroke='#ddd'/>\n",
        L - 6, y + 4, Esc(r.regions[i]), L, y, W - R, y);
  }
  std::map<std::string, const char*> reason_color;
  for (const auto& c : r.conflicts) {
    if (!reason_color.count(c.reason))
      reason_color[c.reason] = kColors[(reason_color.size() + 1) % 10];
    double y = T + row * rows[c.region] + row / 2;
    svg += absl::StrFormat(
        "<circle cx='%.1f' cy='%.1f' r='4' fill='%s' opacity='0.8'><title>%.2fs "
        "%s</title></circle>\n",
        X(c.t), y, reason_color[c.reason], c.t, Esc(c.explanation));
  }
  double lx = L;
  for (const auto& [reason, color] : reason_color) {
    svg += absl::StrFormat(
        "<circle cx='%.0f' cy='%.0f' r='4' fill='%s'/><text x='%.0f' y='%.0f'>%s</text>\n", lx,
        H - 12, color, lx + 8, H - 8, Esc(reason));
    lx += 180;
  }
  for (int i = 0; i <= 4; ++i) {
    svg +=
        absl::StrFormat("<text x='%.1f' y='%.0f' text-anchor='middle' fill='#666'>%.0fs</text>\n",
                        X(x_max * i / 4), T + row * r.regions.size() + 12, x_max * i / 4);
  }
  svg += "</svg>\n";
  return svg;
}

std::string Cell(double v) { return absl::StrFormat("%.1f", v); }

}  // namespace

std::string SummaryText(const RunResult& r) {
  std::string out = absl::StrFormat("\n== %s (seed %d, %d regions, network %s) ==\n", r.scenario,
                                    r.seed, r.regions.size(), r.network);
  absl::StrAppendFormat(&out, "workload phase %.1fs; %s\n\n", r.duration_s,
                        r.converge_s >= 0
                            ? absl::StrFormat("converged %.2fs after the final heal", r.converge_s)
                            : std::string("did NOT converge after the final heal"));
  if (!r.workloads.empty()) {
    absl::StrAppendFormat(&out, "%-14s %-8s %-28s %9s %8s %8s %8s %7s\n", "workload", "kind",
                          "regions", "attempted", "ok", "failed", "cond-no", "avail");
    for (const auto& w : r.workloads) {
      absl::StrAppendFormat(&out, "%-14s %-8s %-28s %9d %8d %8d %8d %6.1f%%\n", w.name, w.kind,
                            absl::StrJoin(w.regions, "->"), w.attempted, w.ok, w.failed,
                            w.conditional_failed, w.availability() * 100);
    }
    out += "\n";
  }
  // Worst lag per pair.
  std::map<std::pair<std::string, std::string>, LagSample> worst;
  for (const auto& s : r.lag) {
    if (s.samples == 0) continue;
    auto& w = worst[{s.from, s.to}];
    w.from = s.from;
    w.to = s.to;
    w.p50_ms = std::max(w.p50_ms, s.p50_ms);
    w.p99_ms = std::max(w.p99_ms, s.p99_ms);
    w.max_ms = std::max(w.max_ms, s.max_ms);
    w.staleness_ms = std::max(w.staleness_ms, s.staleness_ms);
  }
  if (!worst.empty()) {
    absl::StrAppendFormat(&out,
                          "%-34s %9s %9s %9s %9s   (ReplicationLatency, worst reported; "
                          "staleness: worst the source reported)\n",
                          "pair", "p50 ms", "p99 ms", "max ms", "stale ms");
    for (const auto& [k, s] : worst) {
      absl::StrAppendFormat(
          &out, "%-34s %9.1f %9.1f %9.1f %9s\n", k.first + " -> " + k.second, s.p50_ms, s.p99_ms,
          s.max_ms,
          s.staleness_ms < 0 ? std::string("-") : absl::StrFormat("%.1f", s.staleness_ms));
    }
    out += "\n";
  }
  std::map<std::pair<std::string, std::string>, std::vector<double>> hb;
  std::map<std::pair<std::string, std::string>, int> censored;
  for (const auto& h : r.heartbeats) {
    hb[{h.from, h.to}].push_back(h.lag_ms);
    if (h.censored) ++censored[{h.from, h.to}];
  }
  if (!hb.empty()) {
    absl::StrAppendFormat(
        &out,
        "%-34s %9s %9s %9s   (heartbeat: written in one, seen by a reader in the other; "
        "censored: never seen, counted with their age at the end)\n",
        "pair", "p50 ms", "max ms", "censored");
    for (auto& [k, v] : hb) {
      std::sort(v.begin(), v.end());
      absl::StrAppendFormat(&out, "%-34s %9.1f %9.1f %9d\n", k.first + " -> " + k.second,
                            v[v.size() / 2], v.back(), censored[k]);
    }
    out += "\n";
  }
  absl::StrAppendFormat(&out, "acknowledged writes: %d", r.acknowledged_writes);
  if (r.unanswered_writes)
    absl::StrAppendFormat(&out, " (+%d without an answer)", r.unanswered_writes);
  std::vector<std::string> losses;
  for (const auto& [reason, n] : r.loss_counts) losses.push_back(absl::StrCat(reason, " ", n));
  absl::StrAppendFormat(&out, "; not final: %s\n",
                        losses.empty() ? "none" : absl::StrJoin(losses, ", "));
  if (r.acked_increments) {
    absl::StrAppendFormat(&out, "counters: %d increments acknowledged, final total %d (%d lost)\n",
                          r.acked_increments, r.final_counter_total,
                          r.acked_increments - r.final_counter_total);
  }
  if (r.lock_acquisitions) {
    absl::StrAppendFormat(&out, "lock: %d acquisitions, held by two regions at once %d times\n",
                          r.lock_acquisitions, r.lock_overlaps);
  }
  if (!r.conflicts.empty()) {
    out += "writes dropped by last-writer-wins (first 5):\n";
    for (size_t i = 0; i < r.conflicts.size() && i < 5; ++i) {
      absl::StrAppendFormat(&out, "  - %s\n", r.conflicts[i].explanation);
    }
  }
  if (!r.faults.empty()) {
    out += "faults:\n";
    for (const auto& f : r.faults) {
      absl::StrAppendFormat(&out, "  %6.1fs - %6.1fs  %s\n", f.start,
                            f.end < 0 ? r.duration_s : f.end, f.text);
    }
  }
  out += "\nexpectations:\n";
  for (const auto& e : r.expectations) {
    absl::StrAppendFormat(&out, "  %s  %s (line %d)\n        %s\n", e.passed ? "PASS" : "FAIL",
                          e.name, e.line, e.detail);
  }
  int failed = 0;
  for (const auto& e : r.expectations) failed += e.passed ? 0 : 1;
  absl::StrAppendFormat(&out, "\n%s: %d of %d expectations held\n", failed ? "FAILED" : "PASSED",
                        r.expectations.size() - failed, r.expectations.size());
  return out;
}

nlohmann::json ResultJson(const RunResult& r) {
  using nlohmann::json;
  json j;
  j["scenario"] = r.scenario;
  j["file"] = r.file;
  j["seed"] = r.seed;
  j["regions"] = r.regions;
  j["network"] = r.network;
  j["duration_s"] = r.duration_s;
  j["converge_s"] = r.converge_s;
  j["passed"] = r.all_passed();
  j["log"] = r.log;
  j["acknowledged_writes"] = r.acknowledged_writes;
  j["unanswered_writes"] = r.unanswered_writes;
  j["loss_counts"] = r.loss_counts;
  j["acked_increments"] = r.acked_increments;
  j["final_counter_total"] = r.final_counter_total;
  j["lock_acquisitions"] = r.lock_acquisitions;
  j["lock_overlaps"] = r.lock_overlaps;
  j["lock_explanations"] = r.lock_explanations;
  j["violations"] = r.violations;
  for (const auto& c : r.index_checks) {
    j["index_checks"].push_back({{"table", c.table},
                                 {"index", c.index},
                                 {"queries", c.queries},
                                 {"mismatches", c.mismatches}});
  }
  for (const auto& w : r.workloads) {
    j["workloads"].push_back({{"name", w.name},
                              {"kind", w.kind},
                              {"regions", w.regions},
                              {"attempted", w.attempted},
                              {"ok", w.ok},
                              {"failed", w.failed},
                              {"conditional_failed", w.conditional_failed},
                              {"acked_writes", w.acked_writes},
                              {"availability", w.availability()}});
  }
  j["faults"] = json::array();
  for (const auto& f : r.faults)
    j["faults"].push_back({{"start", f.start}, {"end", f.end}, {"text", f.text}});
  j["conflicts"] = json::array();
  for (const auto& c : r.conflicts) {
    j["conflicts"].push_back({{"t", c.t},
                              {"region", c.region},
                              {"key", c.key},
                              {"reason", c.reason},
                              {"explanation", c.explanation}});
  }
  j["lag"] = json::array();
  for (const auto& s : r.lag) {
    j["lag"].push_back({{"t", s.t},
                        {"from", s.from},
                        {"to", s.to},
                        {"p50_ms", s.p50_ms},
                        {"p90_ms", s.p90_ms},
                        {"p99_ms", s.p99_ms},
                        {"max_ms", s.max_ms},
                        {"samples", s.samples},
                        {"pending", s.pending},
                        {"p99_1s_ms", s.p99_1s_ms},
                        {"samples_1s", s.samples_1s},
                        {"staleness_ms", s.staleness_ms}});
  }
  j["heartbeats"] = json::array();
  for (const auto& h : r.heartbeats) {
    j["heartbeats"].push_back({{"t", h.t},
                               {"from", h.from},
                               {"to", h.to},
                               {"lag_ms", h.lag_ms},
                               {"censored", h.censored}});
  }
  j["throughput"] = json::array();
  for (const auto& s : r.throughput) {
    j["throughput"].push_back({{"t", s.t},
                               {"workload", s.workload},
                               {"region", s.region},
                               {"ok", s.ok},
                               {"failed", s.failed},
                               {"conditional_failed", s.conditional_failed}});
  }
  j["expectations"] = json::array();
  for (const auto& e : r.expectations) {
    j["expectations"].push_back(
        {{"name", e.name}, {"line", e.line}, {"passed", e.passed}, {"detail", e.detail}});
  }
  return j;
}

std::string LagCsv(const RunResult& r) {
  std::string out =
      "t,from,to,p50_ms,p90_ms,p99_ms,max_ms,samples,pending,p99_1s_ms,samples_1s,staleness_ms\n";
  for (const auto& s : r.lag) {
    absl::StrAppendFormat(&out, "%.1f,%s,%s,%.3f,%.3f,%.3f,%.3f,%d,%d,%.3f,%d,%.3f\n", s.t, s.from,
                          s.to, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.samples, s.pending,
                          s.p99_1s_ms, s.samples_1s, s.staleness_ms);
  }
  return out;
}

std::string ThroughputCsv(const RunResult& r) {
  std::string out = "t,workload,region,ok,failed,conditional_failed\n";
  for (const auto& s : r.throughput) {
    absl::StrAppendFormat(&out, "%.1f,%s,%s,%d,%d,%d\n", s.t, s.workload, s.region, s.ok, s.failed,
                          s.conditional_failed);
  }
  return out;
}

std::string HeartbeatCsv(const RunResult& r) {
  std::string out = "t,from,to,lag_ms,censored\n";
  for (const auto& h : r.heartbeats) {
    absl::StrAppendFormat(&out, "%.1f,%s,%s,%.3f,%d\n", h.t, h.from, h.to, h.lag_ms,
                          h.censored ? 1 : 0);
  }
  return out;
}

std::string HtmlReport(const RunResult& r) {
  double x_max = r.duration_s;
  for (const auto& s : r.lag) x_max = std::max(x_max, s.t);
  // Per second, not the 60 s window: the lines come down as soon as a backlog has drained.
  std::map<std::string, Series> lag, stale;
  for (const auto& s : r.lag) {
    const std::string name = s.from + " -> " + s.to;
    if (s.staleness_ms >= 0) {
      stale[name].name = name;
      stale[name].points.push_back({s.t, s.staleness_ms});
    }
    if (s.samples_1s == 0) continue;
    lag[name].name = name;
    lag[name].points.push_back({s.t, s.p99_1s_ms});
  }
  std::vector<Series> lag_series, stale_series;
  for (auto& [k, s] : lag) lag_series.push_back(std::move(s));
  for (auto& [k, s] : stale) stale_series.push_back(std::move(s));
  std::map<double, std::pair<double, double>> ops;  // t -> (answered, failed)
  for (const auto& s : r.throughput) {
    ops[s.t].first += s.ok + s.conditional_failed;
    ops[s.t].second += s.failed;
  }
  Series ok{"answered ops/s", {}}, failed{"failed ops/s", {}};
  for (const auto& [t, v] : ops) {
    ok.points.push_back({t, v.first});
    failed.points.push_back({t, v.second});
  }
  std::string html = absl::StrFormat(
      "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>gtsim: %s</title>\n<style>"
      "body{font-family:sans-serif;margin:20px;max-width:960px}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;text-align:left}"
      ".pass{color:#2a7d2a;font-weight:bold}.fail{color:#c0392b;font-weight:bold}"
      "pre{background:#f6f6f6;padding:8px;font-size:12px;white-space:pre-wrap}</style></head>"
      "<body>\n<h1>Scenario %s: %s</h1>\n<p>%s &middot; seed %d &middot; regions %s &middot; "
      "network %s &middot; workload phase %.1fs &middot; %s</p>\n",
      Esc(r.scenario), Esc(r.scenario),
      r.all_passed() ? "<span class='pass'>PASSED</span>" : "<span class='fail'>FAILED</span>",
      Esc(r.file), r.seed, Esc(absl::StrJoin(r.regions, ", ")), Esc(r.network), r.duration_s,
      r.converge_s >= 0 ? absl::StrFormat("converged %.2fs after the final heal", r.converge_s)
                        : std::string("did not converge"));
  html +=
      "<h2>Expectations</h2>\n<table><tr><th>result</th><th>expectation</th><th>line</"
      "th><th>detail</th></tr>\n";
  for (const auto& e : r.expectations) {
    absl::StrAppendFormat(
        &html, "<tr><td class='%s'>%s</td><td>%s</td><td>%d</td><td>%s</td></tr>\n",
        e.passed ? "pass" : "fail", e.passed ? "PASS" : "FAIL", Esc(e.name), e.line, Esc(e.detail));
  }
  html +=
      "</table>\n<h2>Replication lag and throughput</h2>\n<p>Shaded: fault intervals (hover for "
      "details).</p>\n";
  html += LineChart(
      "Staleness per pair (ms): how old the oldest write not yet applied at the destination "
      "was, as the source reported it each second (0: caught up)",
      "ms", stale_series, r.faults, x_max);
  html += LineChart(
      "ReplicationLatency p99 per pair (ms) of the changes applied in each second, as the "
      "receiving region reported it (nothing is applied while a link is cut: see staleness)",
      "ms", lag_series, r.faults, x_max);
  html +=
      LineChart("Operations per second (all workloads)", "ops/s", {ok, failed}, r.faults, x_max);
  if (!r.heartbeats.empty()) {
    std::map<std::string, Series> hb;
    for (const auto& h : r.heartbeats) {
      auto& series = hb[h.from + " -> " + h.to];
      series.name = h.from + " -> " + h.to;
      series.points.push_back({h.t, h.lag_ms});
    }
    std::vector<Series> hb_series;
    for (auto& [k, s] : hb) hb_series.push_back(std::move(s));
    html += LineChart(
        "Client-observed lag (ms): a heartbeat written in one region, first read in "
        "another (polled every 5 ms; one never seen by the end counts with its age then, "
        "censored)",
        "ms", hb_series, r.faults, x_max);
  }
  html += "<h2>Conflicts</h2>\n" + ConflictChart(r, x_max);
  if (!r.conflicts.empty()) {
    html +=
        "<table><tr><th>t</th><th>region</th><th>key</th><th>reason</th><th>why LWW dropped "
        "it</th></tr>\n";
    for (size_t i = 0; i < r.conflicts.size() && i < 200; ++i) {
      const auto& c = r.conflicts[i];
      absl::StrAppendFormat(&html,
                            "<tr><td>%.2fs</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
                            c.t, Esc(c.region), Esc(c.key), Esc(c.reason), Esc(c.explanation));
    }
    html += "</table>\n";
    if (r.conflicts.size() > 200)
      absl::StrAppendFormat(&html, "<p>... and %d more (report.json has all)</p>\n",
                            r.conflicts.size() - 200);
  }
  html += "<h2>Faults</h2>\n<table><tr><th>from</th><th>to</th><th>fault</th></tr>\n";
  for (const auto& f : r.faults) {
    absl::StrAppendFormat(&html, "<tr><td>%.1fs</td><td>%s</td><td>%s</td></tr>\n", f.start,
                          f.end < 0 ? "end" : Cell(f.end) + "s", Esc(f.text));
  }
  html += "</table>\n<h2>Summary</h2>\n<pre>" + Esc(SummaryText(r)) + "</pre>\n";
  html +=
      "<h2>Timeline log</h2>\n<pre>" + Esc(absl::StrJoin(r.log, "\n")) + "</pre>\n</body></html>\n";
  return html;
}

std::string JUnitXml(const RunResult& r) {
  int failures = 0;
  for (const auto& e : r.expectations) failures += e.passed ? 0 : 1;
  std::string out = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"%s\" "
      "tests=\"%d\" failures=\"%d\" errors=\"0\" time=\"%.3f\">\n",
      Esc("gtsim." + r.scenario), r.expectations.size(), failures, r.duration_s);
  for (const auto& e : r.expectations) {
    absl::StrAppendFormat(&out, "  <testcase classname=\"%s\" name=\"%s\" time=\"0\">\n",
                          Esc("gtsim." + r.scenario), Esc(e.name));
    if (!e.passed) {
      absl::StrAppendFormat(&out, "    <failure message=\"%s\">%s (%s:%d; seed %d)</failure>\n",
                            Esc(e.detail), Esc(e.detail), Esc(r.file), e.line, r.seed);
    } else {
      absl::StrAppendFormat(&out, "    <system-out>%s</system-out>\n", Esc(e.detail));
    }
    out += "  </testcase>\n";
  }
  out += "</testsuite>\n</testsuites>\n";
  return out;
}

absl::Status WriteTextFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

absl::Status WriteReportDir(const RunResult& r, const std::string& dir) {
  std::string partial;
  for (absl::string_view part : absl::StrSplit(dir, '/')) {
    partial += std::string(part) + "/";
    if (part.empty()) continue;
    if (mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create directory ", partial, ": ", std::strerror(errno)));
    }
  }
  absl::Status st = WriteTextFile(dir + "/report.json", ResultJson(r).dump(2) + "\n");
  if (st.ok()) st = WriteTextFile(dir + "/lag.csv", LagCsv(r));
  if (st.ok()) st = WriteTextFile(dir + "/throughput.csv", ThroughputCsv(r));
  if (st.ok()) st = WriteTextFile(dir + "/heartbeat.csv", HeartbeatCsv(r));
  if (st.ok()) st = WriteTextFile(dir + "/report.html", HtmlReport(r));
  return st;
}

}  // namespace gtsim::scenario
