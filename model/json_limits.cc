#include "model/json_limits.h"

#include <cstddef>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace gtsim {
namespace {

// The end of the string whose opening quote is at text[open]: the index of its closing quote,
// or text.size() when it has none. memchr finds each candidate quote; one preceded by an odd
// run of backslashes is escaped.
size_t StringEnd(absl::string_view text, size_t open) {
  const char* const data = text.data();
  size_t from = open + 1;
  while (from < text.size()) {
    const void* found = std::memchr(data + from, '"', text.size() - from);
    if (found == nullptr) return text.size();
    const size_t quote = static_cast<const char*>(found) - data;
    size_t backslashes = 0;
    while (quote - backslashes > open + 1 && data[quote - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return quote;
    from = quote + 1;
  }
  return text.size();
}

}  // namespace

absl::Status CheckJsonShape(absl::string_view text, int max_depth) {
  const size_t size = text.size();
  int depth = 0;
  for (size_t i = 0; i < size; ++i) {
    switch (text[i]) {
      case '"':
        i = StringEnd(text, i);  // brackets inside strings do not count
        break;
      case '[':
      case '{':
        if (++depth > max_depth) {
          return absl::InvalidArgumentError(absl::StrCat("the JSON is nested more than ", max_depth,
                                                         " levels deep (at byte ", i, ")"));
        }
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return absl::OkStatus();
}

}  // namespace gtsim
