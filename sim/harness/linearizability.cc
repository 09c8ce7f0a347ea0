#include "sim/harness/linearizability.h"

#include <algorithm>
#include <climits>
#include <map>
#include <unordered_set>

#include "absl/strings/str_cat.h"

namespace gtsim {
namespace {

std::string Show(const std::optional<std::string>& v) {
  return v ? absl::StrCat("\"", *v, "\"") : "absent";
}

std::string At(const RegisterOp& op) {
  return absl::StrCat("[", op.invoke, "..",
                      op.complete == INT64_MAX ? std::string("?") : absl::StrCat(op.complete), "]");
}

class KeySearch {
 public:
  KeySearch(std::vector<RegisterOp> ops, int64_t max_states)
      : ops_(std::move(ops)), max_states_(max_states) {
    std::sort(ops_.begin(), ops_.end(), [](const RegisterOp& a, const RegisterOp& b) {
      return a.invoke != b.invoke ? a.invoke < b.invoke : a.id < b.id;
    });
    words_ = (ops_.size() + 63) / 64;
    for (const RegisterOp& op : ops_) definite_ += op.result != RegisterOp::Result::kUnknown;
  }

  // True when linearizable; false with budget_out() when the budget ran out.
  bool Run() {
    std::vector<uint64_t> done(words_, 0);
    best_done_ = done;
    return Search(done, std::nullopt, 0, 0);
  }
  bool budget_out() const { return budget_out_; }
  int64_t states() const { return states_; }

  std::string Explain() const {
    std::string out =
        absl::StrCat("the longest real-time-respecting order found places ", best_count_, " of ",
                     ops_.size(), " operations; the register then holds ", Show(best_value_),
                     ", and every operation that must come next contradicts it:");
    int64_t min_ret = MinReturn(best_done_);
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (Has(best_done_, i) || ops_[i].invoke >= min_ret) continue;
      const RegisterOp& op = ops_[i];
      if (op.result == RegisterOp::Result::kUnknown) continue;
      absl::StrAppend(&out, "\n  ", DescribeOp(op), " ", At(op), " ", op.where);
    }
    size_t from = best_order_.size() > 12 ? best_order_.size() - 12 : 0;
    absl::StrAppend(&out, "\n  placed, in order", from ? " (the last 12)" : "", ":");
    for (size_t k = from; k < best_order_.size(); ++k) {
      size_t i = best_order_[k];
      absl::StrAppend(&out, "\n    ", DescribeOp(ops_[i]), " ", At(ops_[i]), " ", ops_[i].where);
    }
    return out;
  }

 private:
  bool Has(const std::vector<uint64_t>& s, size_t i) const { return (s[i / 64] >> (i % 64)) & 1; }
  int64_t MinReturn(const std::vector<uint64_t>& done) const {
    int64_t m = INT64_MAX;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (!Has(done, i)) m = std::min(m, ops_[i].complete);
    }
    return m;
  }
  // The value after `op` from `v`, or nullopt when `op` cannot take place there; `*out` set.
  bool Step(const RegisterOp& op, const std::optional<std::string>& v,
            std::optional<std::string>* out) const {
    switch (op.kind) {
      case RegisterOp::Kind::kWrite:
        *out = op.value;
        return true;
      case RegisterOp::Kind::kRead:
        *out = v;
        return v == op.value;
      case RegisterOp::Kind::kCas:
        if (op.result == RegisterOp::Result::kCasFailed) {
          *out = v;
          return v != op.expected;
        }
        *out = op.value;
        return v == op.expected;
    }
    return false;
  }

  bool Search(std::vector<uint64_t>& done, const std::optional<std::string>& value, int count,
              int definite_done) {
    if (definite_done == definite_) return true;
    if (++states_ > max_states_) {
      budget_out_ = true;
      return false;
    }
    if (count > best_count_) {
      best_count_ = count;
      best_done_ = done;
      best_value_ = value;
      best_order_ = order_;
    }
    int64_t min_ret = MinReturn(done);
    for (size_t i = 0; i < ops_.size() && ops_[i].invoke < min_ret; ++i) {
      if (Has(done, i)) continue;
      std::optional<std::string> next;
      if (!Step(ops_[i], value, &next)) continue;
      done[i / 64] |= uint64_t{1} << (i % 64);
      std::string memo(reinterpret_cast<const char*>(done.data()), done.size() * 8);
      memo += next ? "+" + *next : "-";
      if (seen_.insert(std::move(memo)).second) {
        order_.push_back(i);
        bool is_definite = ops_[i].result != RegisterOp::Result::kUnknown;
        if (Search(done, next, count + 1, definite_done + is_definite)) return true;
        order_.pop_back();
        if (budget_out_) return false;
      }
      done[i / 64] &= ~(uint64_t{1} << (i % 64));
    }
    return false;
  }

  std::vector<RegisterOp> ops_;
  int64_t max_states_;
  size_t words_ = 0;
  int definite_ = 0;
  int64_t states_ = 0;
  bool budget_out_ = false;
  std::unordered_set<std::string> seen_;
  std::vector<size_t> order_;
  int best_count_ = -1;
  std::vector<uint64_t> best_done_;
  std::optional<std::string> best_value_;
  std::vector<size_t> best_order_;
};

}  // namespace

std::string DescribeOp(const RegisterOp& op) {
  std::string result = op.result == RegisterOp::Result::kOk          ? "ok"
                       : op.result == RegisterOp::Result::kCasFailed ? "condition failed"
                                                                     : "outcome unknown";
  switch (op.kind) {
    case RegisterOp::Kind::kWrite:
      return absl::StrCat("op ", op.id, ": ", op.value ? "put " + Show(op.value) : "delete", " (",
                          result, ")");
    case RegisterOp::Kind::kCas:
      return absl::StrCat("op ", op.id, ": cas ", Show(op.expected), " -> ", Show(op.value), " (",
                          result, ")");
    case RegisterOp::Kind::kRead:
      return absl::StrCat("op ", op.id, ": strong read -> ", Show(op.value));
  }
  return "?";
}

LinearizabilityResult CheckLinearizable(const std::vector<RegisterOp>& history,
                                        int64_t max_states) {
  std::map<std::string, std::vector<RegisterOp>> by_key;
  for (const RegisterOp& op : history) by_key[op.key].push_back(op);
  LinearizabilityResult result;
  for (auto& [key, ops] : by_key) {
    KeySearch search(std::move(ops), max_states);
    bool ok = search.Run();
    result.states += search.states();
    if (ok) continue;
    result.ok = false;
    result.key = key;
    if (search.budget_out()) {
      result.inconclusive = true;
      result.explanation = absl::StrCat("key ", key, ": search budget of ", max_states,
                                        " states ran out (inconclusive)");
    } else {
      result.explanation = absl::StrCat("key ", key, " is not linearizable: ", search.Explain());
    }
    return result;
  }
  return result;
}

}  // namespace gtsim
