// A linearizability checker for registers with compare-and-set, per key: the Wing-Gong search
// with Lowe's memoisation (as Knossos's "linear" and Porcupine do), over a history of
// invocations and completions.
//
// Each operation has an invocation and, when its outcome is known, a completion, both as
// positions in one total order of events (the simulator's event counter: real-time order).
// The history is linearizable when the operations can be put in one sequence that (1) keeps
// every operation that completed before another was invoked ahead of it and (2) is a legal run
// of a register starting absent: a read returns the latest value written, a CAS succeeds exactly
// when the register holds its expected value, a refused CAS sees something else.
//
// Outcomes that are not known are handled soundly (Knossos's "info" operations):
// - kUnknown (a write or CAS that timed out, lost its quorum or conflicted after its Accept went
//   out, or whose region crashed): it may have taken effect at any point after its invocation -
//   even long after the client gave up - or never. The search may place it anywhere after its
//   invocation or leave it out; it never bounds other operations. A CAS placed must succeed
//   (a CAS that failed changed nothing, which is the same as leaving it out).
// - Operations known not to have taken effect (refused before any Accept, a read that did not
//   complete) are not in the history at all: a read without an answer constrains nothing.
// Keys are independent registers (linearizability is compositional), so each key is searched
// on its own.
//
// Thread-safety: functions of their arguments only; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gtsim {

struct RegisterOp {
  enum class Kind { kWrite, kCas, kRead };
  enum class Result { kOk, kCasFailed, kUnknown };
  uint64_t id = 0;
  std::string key;
  Kind kind = Kind::kRead;
  std::optional<std::string> value;     // write, CAS: the new value (nullopt: delete); read: seen
  std::optional<std::string> expected;  // CAS: the value it requires (nullopt: absent)
  Result result = Result::kOk;
  int64_t invoke = 0;
  int64_t complete = INT64_MAX;  // INT64_MAX when kUnknown
  std::string where;             // who ran it (for the explanation), e.g. "client 2 at r1"
};

std::string DescribeOp(const RegisterOp& op);

struct LinearizabilityResult {
  bool ok = true;
  bool inconclusive = false;  // the state budget ran out (ok is then false too)
  std::string key;            // the first key that failed
  // Plain words: the longest order the search could build, the register's value there, and
  // why none of the operations that had to come next fits.
  std::string explanation;
  int64_t states = 0;  // search states explored, all keys
};

// Checks every key of `history`. `max_states`: per key, before giving up as inconclusive.
LinearizabilityResult CheckLinearizable(const std::vector<RegisterOp>& history,
                                        int64_t max_states = 2'000'000);

}  // namespace gtsim
