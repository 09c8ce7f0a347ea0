#include "sim/scenario/workloads.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/table_engine.h"

namespace gtsim::scenario {
namespace {

// Whether a failed write may still have committed: it may when the request could have reached
// the region (a timeout, a connection that broke), not when no connection was made.
bool Uncertain(const absl::Status& s) {
  if (absl::IsUnavailable(s) && (absl::StrContains(s.message(), "failed to connect") ||
                                 absl::StrContains(s.message(), "Connection refused"))) {
    return false;
  }
  return absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s) || absl::IsCancelled(s) ||
         absl::IsUnknown(s) || absl::IsInternal(s);
}

// A key's value of type `type` standing for the key text (N: a stable number from it).
AttributeValue KeyValue(ValueType type, const std::string& text) {
  if (type == ValueType::kS) return AttributeValue::S(text);
  if (type == ValueType::kB) return AttributeValue::B(text);
  uint32_t h = 2166136261u;  // FNV-1a: the same number for the same text in every run
  for (unsigned char c : text) h = (h ^ c) * 16777619u;
  return AttributeValue::N(std::to_string(h));
}

std::string KeyText(const WorkloadSpec& w, int i, const char* infix = "") {
  if (w.keys == 1 && !*infix) return w.key_prefix;
  return absl::StrCat(w.key_prefix, infix, i);
}

// The key of `table` standing for `text`: the hash key from the text, a range key (if the
// table has one) always "0" of its type, so each key text is one item.
Item KeyItem(const TableRun& table, const std::string& text) {
  Item key{{table.spec.hash_key.name, KeyValue(table.spec.hash_key.type, text)}};
  if (table.spec.range_key)
    key[table.spec.range_key->name] = KeyValue(table.spec.range_key->type, "0");
  return key;
}

// "attribute_not_exists(hash key)": the item is absent in the region written.
Condition Absent(const TableRun& table) {
  Condition c;
  c.clauses.push_back({table.spec.hash_key.name, Condition::Op::kNotExists, {}});
  return c;
}

// A written item's attributes: its write id, the padding and `grp` (a group of keys, "g0" to
// "g9" by key index: an attribute to index, see README "Scenarios").
Item Padded(const WorkloadSpec& spec, int64_t id, int key_index) {
  Item it{{kWriteIdAttribute, AttributeValue::S(absl::StrCat("w", id))},
          {"grp", AttributeValue::S(absl::StrCat("g", key_index % 10))}};
  if (spec.item_size > 0) it["v"] = AttributeValue::S(std::string(spec.item_size, 'x'));
  return it;
}

const char* KindName(WorkloadKind k) {
  return k == WorkloadKind::kMixed ? "mixed" : k == WorkloadKind::kCounter ? "counter" : "lock";
}

}  // namespace

// Chooses key indexes uniformly or with a Zipf law (index 0 the hottest).
class Workloads::KeyPicker {
 public:
  KeyPicker(const WorkloadSpec& w, int home, int n_regions) {
    for (int i = 0; i < w.keys; ++i) {
      if (!w.home_region_per_key || i % n_regions == home) keys_.push_back(i);
    }
    if (w.zipf) {
      double sum = 0;
      for (size_t i = 0; i < keys_.size(); ++i) {
        sum += 1.0 / std::pow(static_cast<double>(i + 1), w.zipf_s);
        cdf_.push_back(sum);
      }
      for (double& c : cdf_) c /= sum;
    }
  }
  int Pick(std::mt19937_64& rng) const {
    if (cdf_.empty()) {
      return keys_[std::uniform_int_distribution<size_t>(0, keys_.size() - 1)(rng)];
    }
    double u = std::uniform_real_distribution<double>(0, 1)(rng);
    size_t i = std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    return keys_[std::min(i, keys_.size() - 1)];
  }

 private:
  std::vector<int> keys_;
  std::vector<double> cdf_;
};

struct Workloads::State {
  WorkloadSpec spec;
  const TableRun* table = nullptr;
  int index = 0;
  std::atomic<bool> running{false};
  std::thread thread;
  std::atomic<int64_t> attempted{0}, ok{0}, failed{0}, conditional_failed{0}, acked_writes{0};
  // The last per-second snapshot, for throughput deltas (the sampler's thread only).
  int64_t last_ok = 0, last_failed = 0, last_cond = 0, last_acked = 0;

  // Counts one operation's outcome. A write that got no answer may still have committed.
  void Outcome(const absl::Status& s) {
    ++attempted;
    if (s.ok()) {
      ++ok;
    } else if (absl::IsFailedPrecondition(s)) {
      ++conditional_failed;
    } else {
      ++failed;
    }
  }
};

Workloads::Workloads(RunState* state) : state_(state), next_id_(state->options().first_write_id) {}

Workloads::~Workloads() { Stop(); }

void Workloads::Start() {
  const Scenario& s = state_->scenario();
  for (size_t i = 0; i < s.workloads.size(); ++i) {
    auto w = std::make_unique<State>();
    w->spec = s.workloads[i];
    w->table = &state_->table(w->spec.table.empty() ? state_->defs().front().name : w->spec.table);
    w->index = static_cast<int>(i);
    w->running = w->spec.start;
    WorkloadTotals t;
    t.name = w->spec.name;
    t.kind = KindName(w->spec.kind);
    t.regions.push_back(w->spec.region);
    state_->WithResult([&](RunResult& r) { r.workloads.push_back(t); });
    workloads_.push_back(std::move(w));
  }
  for (auto& w : workloads_) {
    State* ws = w.get();
    ws->thread = std::thread([this, ws] { Run(ws); });
  }
}

void Workloads::SetRunning(const std::string& name, bool running) {
  for (auto& w : workloads_) {
    if (w->spec.name == name) w->running = running;
  }
}

void Workloads::Stop() {
  stop_ = true;
  for (auto& w : workloads_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::vector<ThroughputSample> Workloads::Throughput(double t) {
  std::vector<ThroughputSample> tp;
  for (auto& w : workloads_) {
    ThroughputSample s;
    s.t = t;
    s.workload = w->spec.name;
    s.region = state_->WorkloadRegion(w->spec.name);
    int64_t ok = w->ok, failed = w->failed, cond = w->conditional_failed, acked = w->acked_writes;
    s.ok = ok - w->last_ok;
    s.failed = failed - w->last_failed;
    s.conditional_failed = cond - w->last_cond;
    s.acked_writes = acked - w->last_acked;
    w->last_acked = acked;
    w->last_ok = ok;
    w->last_failed = failed;
    w->last_cond = cond;
    tp.push_back(s);
  }
  return tp;
}

void Workloads::FillTotals(std::vector<WorkloadTotals>* totals) const {
  for (size_t i = 0; i < workloads_.size(); ++i) {
    auto& t = (*totals)[i];
    const auto& w = *workloads_[i];
    t.attempted = w.attempted;
    t.ok = w.ok;
    t.failed = w.failed;
    t.conditional_failed = w.conditional_failed;
    t.acked_writes = w.acked_writes;
  }
}

void Workloads::Record(State* w, WriteKind kind, const std::string& region, const Item& key,
                       const std::string& key_text, int64_t id, const WriteResult& result) {
  AckedWrite a;
  a.id = id;
  a.kind = kind;
  a.region = region;
  a.key = key;
  a.key_text = key_text;
  a.result = result;
  ++w->acked_writes;
  a.skew_us = state_->Skew(region);
  // The region's clock is the machine's clock plus its skew: the stamp minus the skew is when
  // the write committed in true time.
  a.true_us = result.stamp.ts_us - a.skew_us;
  absl::MutexLock l(&mu_);
  record_.history[w->table->spec.name].Record(std::move(a));
}

// One write: on success it joins the history, on no answer it is remembered as unanswered.
absl::StatusOr<WriteResult> Workloads::Write(
    State* w, WriteKind kind, const std::string& region, const std::string& key_text, int64_t id,
    const std::function<absl::StatusOr<WriteResult>()>& call) {
  Item key = KeyItem(*w->table, key_text);
  auto r = call();
  w->Outcome(r.status());
  if (r.ok()) {
    Record(w, kind, region, key, key_text, id, *r);
  } else if (Uncertain(r.status())) {
    absl::MutexLock l(&mu_);
    record_.unanswered[id] = {
        kind, w->table->spec.name, region, key_text, key, absl::ToUnixMicros(absl::Now())};
  }
  return r;
}

void Workloads::Read(State* w, const std::string& region, const Item& key,
                     const std::string& key_text) {
  const int64_t start_us = absl::ToUnixMicros(absl::Now());
  auto got = state_->driver()->Get(region, w->table->spec.name, key, state_->options().op_timeout);
  w->Outcome(got.status());
  if (!got.ok() || !state_->options().record_reads) return;
  ReadRecord r{w->table->spec.name,  region,     key_text, key,
               std::move(got->item), got->stamp, start_us, absl::ToUnixMicros(absl::Now())};
  absl::MutexLock l(&mu_);
  record_.reads.push_back(std::move(r));
}

void Workloads::Increment(State* w, const std::string& region, const std::string& key_text) {
  Driver* d = state_->driver();
  const absl::Duration timeout = state_->options().op_timeout;
  const TableRun& t = *w->table;
  Item key = KeyItem(t, key_text);
  auto got = d->Get(region, t.spec.name, key, timeout);
  if (!got.ok()) {
    w->Outcome(got.status());
    return;
  }
  int64_t old = 0;
  Condition cond;
  if (got->item) {
    auto n = got->item->find("n");
    if (n != got->item->end()) absl::SimpleAtoi(n->second.scalar(), &old);
    cond.clauses.push_back(
        {"n", Condition::Op::kEquals, n != got->item->end() ? n->second : AttributeValue::N("0")});
    if (n == got->item->end()) cond.clauses.back() = {"n", Condition::Op::kNotExists, {}};
  } else {
    cond = Absent(t);
  }
  int64_t id = ++next_id_;
  Item set{{kWriteIdAttribute, AttributeValue::S(absl::StrCat("w", id))},
           {"n", AttributeValue::N(std::to_string(old + 1))}};
  {
    std::string hk, rk;
    if (TableEngine::EncodeKeyOf(t.spec, key, &hk, &rk).ok()) {
      absl::MutexLock l(&mu_);
      record_.counter_keys.insert({t.spec.name, hk, rk});
    }
  }
  auto r = Write(w, WriteKind::kUpdate, region, key_text, id,
                 [&] { return d->Update(region, t.spec.name, key, set, cond, timeout); });
  if (r.ok()) {
    absl::MutexLock l(&mu_);
    ++record_.acked_increments;
  }
}

void Workloads::LockOnce(State* w, const std::string& region, const std::string& key_text) {
  Driver* d = state_->driver();
  const absl::Duration timeout = state_->options().op_timeout;
  const TableRun& t = *w->table;
  int64_t id = ++next_id_;
  Item item = KeyItem(t, key_text);
  item[kWriteIdAttribute] = AttributeValue::S(absl::StrCat("w", id));
  item["holder"] = AttributeValue::S(region);
  Condition cond = Absent(t);
  auto r = Write(w, WriteKind::kConditionalPut, region, key_text, id,
                 [&] { return d->Put(region, t.spec.name, item, cond, timeout); });
  if (!r.ok()) return;
  double acquired = state_->Elapsed();
  absl::Time until = absl::Now() + w->spec.hold;
  while (absl::Now() < until && !stop_) absl::SleepFor(absl::Milliseconds(10));
  // Release: delete the lock only if this region still holds it here.
  Condition mine;
  mine.clauses.push_back({"holder", Condition::Op::kEquals, AttributeValue::S(region)});
  int64_t del_id = ++next_id_;
  Write(w, WriteKind::kDelete, region, key_text, del_id, [&] {
    return d->Delete(region, t.spec.name, KeyItem(t, key_text), mine, timeout);
  }).IgnoreError();
  absl::MutexLock l(&mu_);
  record_.lock_intervals.push_back({region, acquired, state_->Elapsed()});
}

void Workloads::MixedOnce(State* w, std::mt19937_64& rng, const KeyPicker& keys,
                          const std::string& region) {
  Driver* d = state_->driver();
  const absl::Duration timeout = state_->options().op_timeout;
  const OpMix& m = w->spec.mix;
  double u = std::uniform_real_distribution<double>(0, m.total())(rng);
  int k = keys.Pick(rng);
  std::string key_text = KeyText(w->spec, k);
  const TableRun& t = *w->table;
  const std::string& table = t.spec.name;
  Item key = KeyItem(t, key_text);
  int64_t id = ++next_id_;
  auto pick = [&u](double weight) {
    if (u < weight) return true;
    u -= weight;
    return false;
  };
  if (pick(m.put)) {
    Item item = Padded(w->spec, id, k);
    item.insert(key.begin(), key.end());
    Write(w, WriteKind::kPut, region, key_text, id, [&] {
      return d->Put(region, table, item, Condition{}, timeout);
    }).IgnoreError();
  } else if (pick(m.update)) {
    // Each region sets its own attribute: whole-item LWW keeps only one region's change.
    Item set = Padded(w->spec, id, k);
    std::string attr = "by_" + region;
    std::replace(attr.begin(), attr.end(), '-', '_');
    set[attr] = AttributeValue::S(absl::StrCat("w", id));
    Write(w, WriteKind::kUpdate, region, key_text, id, [&] {
      return d->Update(region, table, key, set, Condition{}, timeout);
    }).IgnoreError();
  } else if (pick(m.del)) {
    Write(w, WriteKind::kDelete, region, key_text, id, [&] {
      return d->Delete(region, table, key, Condition{}, timeout);
    }).IgnoreError();
  } else if (pick(m.conditional_put)) {
    Item item = Padded(w->spec, id, k);
    item.insert(key.begin(), key.end());
    Condition cond = Absent(t);
    Write(w, WriteKind::kConditionalPut, region, key_text, id, [&] {
      return d->Put(region, table, item, cond, timeout);
    }).IgnoreError();
  } else if (pick(m.read) || pick(m.consistent_read)) {
    Read(w, region, key, key_text);
  } else {
    Increment(w, region, KeyText(w->spec, k, "-ctr"));
  }
}

void Workloads::Run(State* w) {
  const Scenario& s = state_->scenario();
  std::mt19937_64 rng(s.seed * 1000003 + static_cast<uint64_t>(w->index) * 7919 + 1);
  int home = static_cast<int>(std::find(s.regions.begin(), s.regions.end(), w->spec.region) -
                              s.regions.begin());
  KeyPicker keys(w->spec, home, static_cast<int>(s.regions.size()));
  absl::Duration interval = absl::Seconds(1.0 / w->spec.rate);
  absl::Time next = absl::Now();
  while (!stop_) {
    if (!w->running) {
      absl::SleepFor(absl::Milliseconds(20));
      next = absl::Now();
      continue;
    }
    absl::Time now = absl::Now();
    if (now < next) {
      absl::SleepFor(std::min(next - now, absl::Milliseconds(20)));
      continue;
    }
    // Lock clients try at random moments (Poisson arrivals), so their attempts are not in
    // phase; the other workloads keep a steady rate.
    next += w->spec.kind == WorkloadKind::kLock
                ? absl::Seconds(std::exponential_distribution<double>(w->spec.rate)(rng))
                : interval;
    if (now - next > absl::Seconds(1)) next = now;  // fell behind (a region hung): skip ahead
    std::string region = state_->WorkloadRegion(w->spec.name);
    switch (w->spec.kind) {
      case WorkloadKind::kMixed:
        MixedOnce(w, rng, keys, region);
        break;
      case WorkloadKind::kCounter:
        Increment(w, region, KeyText(w->spec, keys.Pick(rng)));
        break;
      case WorkloadKind::kLock:
        LockOnce(w, region, KeyText(w->spec, keys.Pick(rng)));
        break;
    }
  }
}

}  // namespace gtsim::scenario
