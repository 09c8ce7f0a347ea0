// DynamoDB's names and descriptions of tables and streams as one region shows them: ARNs, stream
// labels, shard ids, sequence numbers and the TableDescription JSON. The one renderer of these:
// the endpoint (region/http/) answers with them, and the gRPC API's TableDescription carries
// the same JSON (region/grpc/convert.cc), which is what `gtsim describe-table` prints. Part of
// gtsim_core (no HTTP).
//
// Simulator choices: every table's stream is this region's change log filtered to the table's
// current incarnation (and to the stream's period, see StreamPeriod), with one shard; its label
// is the table's creation time or, after a disable and re-enable, that of the re-enable, so a
// table deleted and created again, or a re-enabled stream, gets a new stream ARN. Stateless and
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "region/region.h"

namespace gtsim::ddb {

using json = nlohmann::json;

// 64-bit FNV-1a of `s` (shard ids, parallel-scan segments, request fingerprints).
uint64_t Fnv1a(const std::string& s);

// The label of the table's current stream (its start, to the millisecond).
std::string StreamLabel(const TableSpec& spec);
// Every stream of the table's incarnation, oldest first; only the last can be enabled. A stream
// holds the changes stamped in [since_us, ended_us) (since_us 0: from the table's creation;
// ended_us 0: still open) - re-enabling a disabled stream begins a new one (new ARN and label).
struct StreamPeriod {
  std::string label;
  int64_t since_us = 0;
  int64_t ended_us = 0;
  bool enabled = false;
  bool Holds(int64_t stamp_us) const {
    return stamp_us >= since_us && (ended_us == 0 || stamp_us < ended_us);
  }
};
std::vector<StreamPeriod> StreamsOf(const TableSpec& spec);
std::string StreamArnAt(const std::string& region, const TableSpec& spec, const std::string& label);
std::string TableArn(const std::string& region, const std::string& table);
std::string StreamArn(const std::string& region, const TableSpec& spec);
std::string ShardId(const TableSpec& spec);
// Stream sequence numbers are change-log positions, zero-padded to DynamoDB's 21 digits.
std::string SequenceNumber(int64_t seq);
// The stream view type of a table: its StreamSpecification's, or NEW_AND_OLD_IMAGES (what
// gtsim's change log always serves) for a table whose stream was never enabled explicitly.
std::string StreamViewOf(const TableSpec& spec);

// Whether UpdateTable disabled the table's stream (StreamEnabled false after it was set): its
// stream is then DISABLED, DescribeTable shows no StreamSpecification (still the latest ARN).
bool StreamDisabled(const TableSpec& spec);

// A KeySchema list: the HASH key, then the RANGE key if any.
json KeySchemaJson(const KeyDef& hash, const std::optional<KeyDef>& range);
// DynamoDB's TableDescription of `info` as `region` sees it. `status` overrides TableStatus
// (DELETING); by default it is the spec's (UPDATING while a replica is added or removed).
json TableDescription(const TableInfo& info, const std::string& region,
                      const char* status = nullptr);

}  // namespace gtsim::ddb
