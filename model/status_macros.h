// Small status helpers: Debian's Abseil 20220623 ships no status macros.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define GTSIM_CONCAT_INNER(a, b) a##b
#define GTSIM_CONCAT(a, b) GTSIM_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RETURN_IF_ERROR(expr)                      \
  do {                                             \
    ::absl::Status gtsim_status_ = (expr);         \
    if (!gtsim_status_.ok()) return gtsim_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, F());` declares x from an OK StatusOr, or returns its error.
#define ASSIGN_OR_RETURN(lhs, expr) \
  GTSIM_ASSIGN_OR_RETURN_IMPL(GTSIM_CONCAT(gtsim_statusor_, __LINE__), lhs, expr)
#define GTSIM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
