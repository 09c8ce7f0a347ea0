#include "storage/storage.h"

#include "absl/random/distributions.h"
#include "absl/random/random.h"
#include "model/key_codec.h"
#include "storage/sqlite_storage.h"

namespace gtsim {

absl::StatusOr<std::unique_ptr<Storage>> Storage::Open(const std::string& path,
                                                       const std::string& region,
                                                       StorageOptions options) {
  auto s = SqliteStorage::Open(path, region, options);
  if (!s.ok()) return s.status();
  return std::unique_ptr<Storage>(*std::move(s));
}

std::optional<std::pair<std::string, std::string>> Storage::IndexKeyOf(const IndexDef& index,
                                                                       const Item& item) {
  auto h = item.find(index.hash_key.name);
  if (h == item.end() || h->second.type() != index.hash_key.type) return std::nullopt;
  std::string grk;
  if (index.range_key) {
    auto r = item.find(index.range_key->name);
    if (r == item.end() || r->second.type() != index.range_key->type) return std::nullopt;
    grk = EncodeRangeKey(r->second);
  }
  return std::make_pair(EncodeHashKey(h->second), std::move(grk));
}

int64_t Storage::NewLogId() {
  return static_cast<int64_t>(absl::Uniform<uint64_t>(absl::BitGen()) >> 1) | 1;
}

}  // namespace gtsim
