// Cheap checks on a JSON text before it is parsed into a tree (nlohmann::json), so that a request
// body cannot make the parser build something far costlier than the body itself: 10 MB of "[[[["
// parses into about 250 MB of nested arrays, but is refused here after reading max_depth bytes.
//
// Thread-safe: pure functions.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace gtsim {

// The deepest JSON nesting a DynamoDB request body is let through with. The deepest valid body
// needs about 71 levels: DynamoDB allows 32 levels of maps and lists in an attribute value, and
// each takes two JSON levels ({"M": {...}}, {"L": [...]}), plus the scalar at the bottom, plus
// at most 6 levels of envelope (BatchWriteItem: body, RequestItems, table, request, PutRequest,
// Item). The headroom lets a value a little too deep reach the endpoint's own check and get
// DynamoDB's own error for it.
constexpr int kMaxRequestJsonDepth = 128;

// OK when no array or object in `text` is nested more than `max_depth` deep (a top-level object
// is depth 1); InvalidArgument naming the limit and the byte offset of the first bracket beyond
// it otherwise. One pass, stopping at that bracket; no allocation. Brackets inside strings
// (escapes included) do not count. It does not check that `text` is valid JSON - the parser does
// that - it only bounds the depth of what the parser would build: closing brackets beyond the
// opened ones, or an unterminated string, are left for the parser to refuse.
absl::Status CheckJsonShape(absl::string_view text, int max_depth);

}  // namespace gtsim
