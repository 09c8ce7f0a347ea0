#include "sim/scenario/checks.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace gtsim::scenario {
namespace {

constexpr size_t kMaxExplained = 5;

std::string BoundsText(const Expectation& e) {
  std::vector<std::string> b;
  if (e.at_least) b.push_back(absl::StrCat("at least ", *e.at_least));
  if (e.at_most) b.push_back(absl::StrCat("at most ", *e.at_most));
  return absl::StrJoin(b, " and ");
}

bool InBounds(const Expectation& e, int64_t v) {
  return (!e.at_least || v >= *e.at_least) && (!e.at_most || v <= *e.at_most);
}

}  // namespace

int64_t CountLockOverlaps(const std::vector<LockInterval>& intervals,
                          std::vector<std::string>* explanations) {
  std::vector<LockInterval> sorted = intervals;
  std::sort(sorted.begin(), sorted.end(),
            [](const LockInterval& a, const LockInterval& b) { return a.start < b.start; });
  int64_t n = 0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    for (size_t j = i + 1; j < sorted.size() && sorted[j].start < sorted[i].end; ++j) {
      if (sorted[j].region == sorted[i].region) continue;
      ++n;
      if (explanations && explanations->size() < kMaxExplained) {
        explanations->push_back(absl::StrFormat(
            "%s held the lock from %.3fs to %.3fs while %s held it from %.3fs to %.3fs: each "
            "conditional put (attribute_not_exists) was checked against its own region's copy, "
            "where the other's lock had not arrived yet",
            sorted[i].region, sorted[i].start, sorted[i].end, sorted[j].region, sorted[j].start,
            sorted[j].end));
      }
    }
  }
  return n;
}

std::string RelativeStamps(const std::string& text, int64_t start_us) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t at = text.find("ts ", i);
    if (at == std::string::npos) {
      out += text.substr(i);
      break;
    }
    size_t end = at + 3;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    int64_t us = 0;
    if (end - at < 13 || !absl::SimpleAtoi(text.substr(at + 3, end - at - 3), &us)) {
      out += text.substr(i, at + 3 - i);
      i = at + 3;
      continue;
    }
    int64_t rel = us - start_us;
    out += text.substr(i, at - i);
    out += absl::StrFormat("ts %s%d.%06ds", rel < 0 ? "-" : "+", std::abs(rel) / 1000000,
                           std::abs(rel) % 1000000);
    i = end;
  }
  return out;
}

bool IsConflictReason(const std::string& reason) {
  return reason == "later-timestamp" || reason == "clock-ahead" || reason == "removed-by-delete" ||
         reason == "superseded-on-arrival" || reason == "rewritten-after-delete";
}

ExpectationResult Evaluate(const Expectation& e, const RunResult& r) {
  ExpectationResult out;
  out.name = e.Name();
  out.line = e.line;
  switch (e.kind) {
    case ExpectKind::kConverged: {
      bool converged = r.converge_s >= 0;
      out.passed = converged && r.converge_s <= absl::ToDoubleSeconds(e.within);
      if (converged) {
        out.detail =
            absl::StrFormat("every replica identical %.1fs after the final heal", r.converge_s);
      } else {
        out.detail = "the replicas still differed when the run gave up";
      }
      std::vector<std::string> diffs;
      for (const auto& v : r.violations) {
        if (v.rfind("not converged", 0) == 0) diffs.push_back(v);
      }
      if (!out.passed && !diffs.empty()) {
        absl::StrAppend(
            &out.detail, ": ",
            absl::StrJoin(diffs.begin(),
                          diffs.begin() + std::min<size_t>(diffs.size(), kMaxExplained), "; "));
      }
      break;
    }
    case ExpectKind::kNoLostWrites: {
      std::vector<std::string> lost;
      for (const auto& v : r.violations) {
        if (v.rfind("not converged", 0) != 0) lost.push_back(v);
      }
      out.passed = lost.empty();
      out.detail =
          out.passed ? absl::StrCat(r.acknowledged_writes,
                                    " acknowledged writes: each is the final "
                                    "version of its key or lost to a later-stamped write")
                     : absl::StrCat(
                           lost.size(), " violations: ",
                           absl::StrJoin(
                               lost.begin(),
                               lost.begin() + std::min<size_t>(lost.size(), kMaxExplained), "; "));
      if (!out.passed && r.unanswered_writes > 0) {
        absl::StrAppend(&out.detail, " (", r.unanswered_writes,
                        " writes got no answer in time and may have committed unacknowledged)");
      }
      break;
    }
    case ExpectKind::kLostToLww: {
      int64_t n = 0;
      for (const auto& [reason, c] : r.loss_counts) {
        if (e.reason.empty() ? IsConflictReason(reason) : reason == e.reason) n += c;
      }
      out.passed = InBounds(e, n);
      out.detail =
          absl::StrCat(n, " acknowledged writes were discarded by last-writer-wins",
                       e.reason.empty() ? "" : " (" + e.reason + ")", "; expected ", BoundsText(e));
      std::vector<std::string> ex;
      for (const auto& c : r.conflicts) {
        if (ex.size() >= 3) break;
        if (e.reason.empty() ? IsConflictReason(c.reason) : c.reason == e.reason)
          ex.push_back(c.explanation);
      }
      if (!ex.empty()) absl::StrAppend(&out.detail, ". For example: ", absl::StrJoin(ex, "; "));
      break;
    }
    case ExpectKind::kLag: {
      // The worst percentile any receiving region reported for a matching pair at any second.
      // Heartbeats: the percentiles of every heartbeat of a matching pair.
      std::map<std::pair<std::string, std::string>, std::pair<double, double>> worst;  // p50, p99
      int censored = 0;  // heartbeats never seen by the end of the run
      auto matches = [&](const std::string& from, const std::string& to) {
        return (e.from.empty() || from == e.from) && (e.to.empty() || to == e.to);
      };
      if (e.heartbeat) {
        std::map<std::pair<std::string, std::string>, std::vector<double>> lags;
        for (const auto& h : r.heartbeats) {
          if (!matches(h.from, h.to)) continue;
          lags[{h.from, h.to}].push_back(h.lag_ms);  // a censored one: its age at the end
          censored += h.censored;
        }
        for (auto& [pair, v] : lags) {
          std::sort(v.begin(), v.end());
          auto pct = [&](double p) {
            return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
          };
          worst[pair] = {pct(0.5), pct(0.99)};
        }
      }
      for (const auto& s : r.lag) {
        if (e.heartbeat || !matches(s.from, s.to) || s.samples == 0) continue;
        auto& w = worst[{s.from, s.to}];
        w.first = std::max(w.first, s.p50_ms);
        w.second = std::max(w.second, s.p99_ms);
      }
      if (worst.empty()) {
        out.passed = false;
        out.detail = "no replication was measured on the matching pairs (no writes replicated?)";
        break;
      }
      std::vector<std::string> bad, all;
      for (const auto& [pair, w] : worst) {
        std::string text = absl::StrFormat("%s -> %s p50 %.1f ms, p99 %.1f ms", pair.first,
                                           pair.second, w.first, w.second);
        all.push_back(text);
        if ((e.p50_below && w.first >= absl::ToDoubleMilliseconds(*e.p50_below)) ||
            (e.p99_below && w.second >= absl::ToDoubleMilliseconds(*e.p99_below))) {
          bad.push_back(text);
        }
      }
      out.passed = bad.empty();
      out.detail = out.passed
                       ? absl::StrCat("worst per pair: ", absl::StrJoin(all, "; "))
                       : absl::StrCat("above the bound: ", absl::StrJoin(bad, "; "),
                                      e.heartbeat ? " (heartbeats: written in one region, first "
                                                    "read in the other)"
                                                  : " (worst value the receiving region reported "
                                                    "during the run)");
      if (censored) {
        absl::StrAppend(&out.detail, "; ", censored,
                        " heartbeat(s) never seen by the end counted with their age then "
                        "(censored: their true lag is longer)");
      }
      break;
    }
    case ExpectKind::kAvailability: {
      int64_t attempted = 0, answered = 0;
      for (const auto& w : r.workloads) {
        if (!e.workload.empty() && w.name != e.workload) continue;
        attempted += w.attempted;
        answered += w.ok + w.conditional_failed;
      }
      double frac = attempted ? double(answered) / attempted : 1;
      out.passed = attempted > 0 && frac >= e.min_fraction;
      out.detail =
          absl::StrFormat("%d of %d operations answered (%.1f%%); expected at least %.1f%%",
                          answered, attempted, frac * 100, e.min_fraction * 100);
      if (attempted == 0) out.detail = "the workload attempted no operation";
      break;
    }
    case ExpectKind::kLostIncrements: {
      int64_t lost = r.acked_increments - r.final_counter_total;
      out.passed = InBounds(e, lost);
      out.detail =
          absl::StrCat(r.acked_increments, " increments acknowledged, the counters add up to ",
                       r.final_counter_total, ": ", lost,
                       " lost (each region read the counter, added one and wrote it "
                       "back; concurrent read-modify-writes in two regions overwrite "
                       "each other under LWW); expected ",
                       BoundsText(e));
      break;
    }
    case ExpectKind::kLockOverlaps: {
      out.passed = InBounds(e, r.lock_overlaps);
      out.detail = absl::StrCat(r.lock_acquisitions,
                                " lock acquisitions; two regions held the lock "
                                "at once ",
                                r.lock_overlaps, " times; expected ", BoundsText(e));
      if (!r.lock_explanations.empty()) {
        absl::StrAppend(&out.detail, ". First: ", r.lock_explanations.front());
      }
      break;
    }
    case ExpectKind::kIndexMatches: {
      const IndexCheck* c = nullptr;
      for (const auto& x : r.index_checks) {
        if (x.table == e.table && x.index == e.index) c = &x;
      }
      if (!c) {
        out.detail = "the index was not checked (the run ended before the final check)";
        break;
      }
      out.passed = c->mismatches.empty() && c->queries > 0;
      out.detail = absl::StrCat(c->queries, " index queries over every replica");
      if (c->queries == 0) out.detail += "; no item carries the index's key, so nothing was checked";
      for (size_t i = 0; i < c->mismatches.size() && i < 5; ++i)
        absl::StrAppend(&out.detail, "; ", c->mismatches[i]);
      if (c->mismatches.size() > 5)
        absl::StrAppend(&out.detail, "; and ", c->mismatches.size() - 5, " more");
      break;
    }
  }
  return out;
}

}  // namespace gtsim::scenario
