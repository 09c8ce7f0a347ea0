// The register+CAS linearizability checker (sim/harness/linearizability.h) on small histories
// whose answer is known.
#include "sim/harness/linearizability.h"

#include <catch2/catch.hpp>

namespace gtsim {
namespace {

RegisterOp Write(uint64_t id, std::optional<std::string> v, int64_t inv, int64_t done) {
  RegisterOp op;
  op.id = id;
  op.key = "k";
  op.kind = RegisterOp::Kind::kWrite;
  op.value = std::move(v);
  op.invoke = inv;
  op.complete = done;
  return op;
}
RegisterOp Read(uint64_t id, std::optional<std::string> v, int64_t inv, int64_t done) {
  RegisterOp op = Write(id, std::move(v), inv, done);
  op.kind = RegisterOp::Kind::kRead;
  return op;
}
RegisterOp Cas(uint64_t id, std::optional<std::string> expected, std::string v, bool ok,
               int64_t inv, int64_t done) {
  RegisterOp op = Write(id, v, inv, done);
  op.kind = RegisterOp::Kind::kCas;
  op.expected = std::move(expected);
  op.result = ok ? RegisterOp::Result::kOk : RegisterOp::Result::kCasFailed;
  return op;
}
RegisterOp Unknown(RegisterOp op) {
  op.result = RegisterOp::Result::kUnknown;
  op.complete = INT64_MAX;
  return op;
}

TEST_CASE("a sequential history of writes and reads is linearizable", "[linearizability]") {
  CHECK(CheckLinearizable({Read(1, std::nullopt, 1, 2), Write(2, "a", 3, 4), Read(3, "a", 5, 6),
                           Write(4, std::nullopt, 7, 8), Read(5, std::nullopt, 9, 10)})
            .ok);
}

TEST_CASE("a read of an overwritten value after the overwrite completed is caught",
          "[linearizability]") {
  auto r = CheckLinearizable({Write(1, "a", 1, 2), Write(2, "b", 3, 4), Read(3, "a", 5, 6)});
  CHECK_FALSE(r.ok);
  CHECK_FALSE(r.inconclusive);
  CHECK(r.key == "k");
  CHECK(r.explanation.find("strong read -> \"a\"") != std::string::npos);
}

TEST_CASE("concurrent operations may take effect in either order", "[linearizability]") {
  // Write b overlaps both reads: a then b, or the second read before b.
  CHECK(CheckLinearizable(
            {Write(1, "a", 1, 2), Write(2, "b", 3, 10), Read(3, "b", 4, 5), Read(4, "b", 6, 7)})
            .ok);
  // ...but once a read saw b, a later read cannot see a again.
  CHECK_FALSE(CheckLinearizable({Write(1, "a", 1, 2), Write(2, "b", 3, 10), Read(3, "b", 4, 5),
                                 Read(4, "a", 6, 7)})
                  .ok);
}

TEST_CASE("two compare-and-sets from the same value cannot both succeed", "[linearizability]") {
  CHECK_FALSE(CheckLinearizable(
                  {Write(1, "a", 1, 2), Cas(2, "a", "x", true, 3, 6), Cas(3, "a", "y", true, 4, 5)})
                  .ok);
  CHECK(CheckLinearizable({Write(1, "a", 1, 2), Cas(2, "a", "x", true, 3, 6),
                           Cas(3, "a", "y", false, 4, 5), Read(4, "x", 7, 8)})
            .ok);
  // A refused CAS must have seen something other than what it expected.
  CHECK_FALSE(CheckLinearizable({Write(1, "a", 1, 2), Cas(2, "a", "x", false, 3, 4)}).ok);
}

TEST_CASE("an operation of unknown outcome may take effect late, or never", "[linearizability]") {
  // Never: the read still sees a.
  CHECK(CheckLinearizable({Write(1, "a", 1, 2), Unknown(Write(2, "b", 3, 0)), Read(3, "a", 5, 6)})
            .ok);
  // Long after the client gave up (invoked at 3, seen at 9, after the read at 5..6 saw a).
  CHECK(CheckLinearizable({Write(1, "a", 1, 2), Unknown(Write(2, "b", 3, 0)), Read(3, "a", 5, 6),
                           Read(4, "b", 9, 10)})
            .ok);
  // But not before it was invoked.
  CHECK_FALSE(
      CheckLinearizable({Write(1, "a", 1, 2), Read(3, "b", 3, 4), Unknown(Write(2, "b", 5, 0))})
          .ok);
  // And at most once: b, then c, then b again needs a second b.
  CHECK_FALSE(CheckLinearizable({Unknown(Write(1, "b", 1, 0)), Read(2, "b", 2, 3),
                                 Write(3, "c", 4, 5), Read(4, "b", 6, 7)})
                  .ok);
}

TEST_CASE("keys are checked independently", "[linearizability]") {
  RegisterOp other = Read(9, "z", 1, 2);
  other.key = "j";
  auto r = CheckLinearizable({Write(1, "a", 1, 2), other});
  CHECK_FALSE(r.ok);
  CHECK(r.key == "j");
}

}  // namespace
}  // namespace gtsim
