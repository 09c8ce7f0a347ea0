// The DynamoDB Streams API over this region's change log: ListStreams, DescribeStream,
// GetShardIterator, GetRecords.

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "model/item_json.h"
#include "model/status_macros.h"
#include "region/ddb_describe.h"
#include "region/http/ddb_expressions.h"
#include "region/http/ddb_items.h"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"

namespace gtsim::ddb {

namespace {
absl::Status StreamNotFound(const std::string& arn) {
  return absl::NotFoundError(absl::StrCat("Stream: ", arn, " not found"));
}

absl::StatusOr<std::optional<std::string>> StreamArnField(const json& req, bool required) {
  ASSIGN_OR_RETURN(auto arn, OptString(req, "StreamArn"));
  if (!arn && required) {
    return MissingMember("streamArn");
  }
  return arn;
}

std::string StreamTableName(const std::string& arn) {
  size_t slash = arn.find(":table/");
  size_t mark = arn.find("/stream/");
  if (slash == std::string::npos || mark == std::string::npos || mark < slash + 7) return "";
  return arn.substr(slash + 7, mark - slash - 7);
}

absl::StatusOr<int64_t> SequenceOf(const std::string& text) {
  int64_t seq = 0;
  if (text.empty() || text.size() > 40 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      !absl::SimpleAtoi(text, &seq) || seq < 1) {
    return Validation(absl::StrCat("Invalid SequenceNumber: ", text));
  }
  return seq;
}

// A shard iterator: "<stream arn>|<shard id>|<read after this seq>|<issued, unix micros>".
std::string MakeIterator(const std::string& arn, const std::string& shard, int64_t after_seq) {
  return absl::StrCat(arn, "|", shard, "|", after_seq, "|", absl::ToUnixMicros(absl::Now()));
}

}  // namespace

// The live table one of whose streams `arn` names, with that stream (see ddb_operations.h).
absl::StatusOr<std::pair<TableSpec, StreamPeriod>> Operations::StreamTable(const std::string& arn) {
  std::string prefix = absl::StrCat(TableArn(region_->name(), ""));
  size_t mark = arn.find("/stream/");
  if (!absl::StartsWith(arn, "arn:aws:dynamodb:") || mark == std::string::npos || arn.size() < 37 ||
      arn.size() > 1024) {
    return Validation(absl::StrCat("Invalid StreamArn: ", arn));
  }
  if (!absl::StartsWith(arn, prefix) || mark < prefix.size()) return StreamNotFound(arn);
  std::string table = arn.substr(prefix.size(), mark - prefix.size());
  for (TableSpec& spec : region_->Tables()) {
    if (spec.name != table) continue;
    for (StreamPeriod& p : StreamsOf(spec)) {
      if (StreamArnAt(region_->name(), spec, p.label) == arn) {
        return std::make_pair(std::move(spec), std::move(p));
      }
    }
  }
  return StreamNotFound(arn);
}

absl::StatusOr<json> Operations::ListStreams(const json& req) {
  ASSIGN_OR_RETURN(auto table, OptString(req, "TableName"));
  if (table) RETURN_IF_ERROR(CheckTableName(*table));
  ASSIGN_OR_RETURN(auto limit, BoundedLimit(req, 100));
  ASSIGN_OR_RETURN(auto start, OptString(req, "ExclusiveStartStreamArn"));
  std::vector<TableSpec> specs = region_->Tables();
  std::sort(specs.begin(), specs.end(),
            [](const TableSpec& a, const TableSpec& b) { return a.name < b.name; });
  if (table && std::none_of(specs.begin(), specs.end(),
                            [&](const TableSpec& s) { return s.name == *table; })) {
    return absl::NotFoundError(absl::StrCat("Table: ", *table, " not found"));
  }
  json streams = json::array();
  bool started = !start;
  size_t max = limit ? static_cast<size_t>(*limit) : 100;
  bool more = false;
  // Every stream of each table, its disabled earlier ones too (oldest first), as DynamoDB lists
  // them while their records are readable.
  for (const TableSpec& spec : specs) {
    if (table && spec.name != *table) continue;
    for (const StreamPeriod& p : StreamsOf(spec)) {
      std::string arn = StreamArnAt(region_->name(), spec, p.label);
      if (!started) {
        started = arn == *start || spec.name > StreamTableName(*start);
        if (arn == *start) continue;
        if (!started) continue;
      }
      if (streams.size() == max) {
        more = true;
        break;
      }
      streams.push_back({{"StreamArn", arn}, {"TableName", spec.name}, {"StreamLabel", p.label}});
    }
    if (more) break;
  }
  json out = {{"Streams", streams}};
  if (more) out["LastEvaluatedStreamArn"] = streams.back()["StreamArn"];
  return out;
}

absl::StatusOr<json> Operations::DescribeStream(const json& req) {
  ASSIGN_OR_RETURN(auto arn, StreamArnField(req, true));
  ASSIGN_OR_RETURN(auto limit, BoundedLimit(req, 100));
  (void)limit;  // one shard per stream: every Limit fits it
  ASSIGN_OR_RETURN(auto start_shard, OptString(req, "ExclusiveStartShardId"));
  ASSIGN_OR_RETURN(auto found, StreamTable(*arn));
  const auto& [spec, stream] = found;
  // The shard starts at the table's first record (or where the next one will go).
  ASSIGN_OR_RETURN(Region::TableChanges first,
                   region_->ReadTableChanges(spec.name, 0, 1, std::numeric_limits<int>::max()));
  int64_t start_seq = first.changes.empty() ? first.head_seq + 1 : first.changes[0].seq;
  json key_schema = json::array();
  key_schema.push_back({{"AttributeName", spec.hash_key.name}, {"KeyType", "HASH"}});
  if (spec.range_key) {
    key_schema.push_back({{"AttributeName", spec.range_key->name}, {"KeyType", "RANGE"}});
  }
  json shards = json::array();
  if (!start_shard || *start_shard != ShardId(spec)) {
    shards.push_back(
        {{"ShardId", ShardId(spec)},
         {"SequenceNumberRange", {{"StartingSequenceNumber", SequenceNumber(start_seq)}}}});
  }
  return json{
      {"StreamDescription",
       {{"StreamArn", *arn},
        {"StreamLabel", stream.label},
        {"StreamStatus", stream.enabled ? "ENABLED" : "DISABLED"},
        {"StreamViewType", StreamViewOf(spec)},
        {"CreationRequestDateTime",
         static_cast<double>((stream.since_us ? stream.since_us : spec.created.ts_us) / 1000) /
             1e3},
        {"TableName", spec.name},
        {"KeySchema", key_schema},
        {"Shards", shards}}}};
}

absl::StatusOr<json> Operations::GetShardIterator(const json& req) {
  ASSIGN_OR_RETURN(auto arn, StreamArnField(req, true));
  ASSIGN_OR_RETURN(auto shard, OptString(req, "ShardId"));
  ASSIGN_OR_RETURN(auto type, OptString(req, "ShardIteratorType"));
  ASSIGN_OR_RETURN(auto seq_text, OptString(req, "SequenceNumber"));
  if (!shard || !type) {
    return MissingMember(shard ? "shardIteratorType" : "shardId");
  }
  if (*type != "TRIM_HORIZON" && *type != "LATEST" && *type != "AT_SEQUENCE_NUMBER" &&
      *type != "AFTER_SEQUENCE_NUMBER") {
    return Validation(absl::StrCat(
        "1 validation error detected: Value '", *type,
        "' at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value "
        "set: [AFTER_SEQUENCE_NUMBER, LATEST, AT_SEQUENCE_NUMBER, TRIM_HORIZON]"));
  }
  bool by_seq = *type == "AT_SEQUENCE_NUMBER" || *type == "AFTER_SEQUENCE_NUMBER";
  if (by_seq && !seq_text) {
    return Validation(absl::StrCat("A SequenceNumber is required for ShardIteratorType ", *type));
  }
  if (!by_seq && seq_text) {
    return Validation(
        absl::StrCat("A SequenceNumber cannot be given for ShardIteratorType ", *type));
  }
  ASSIGN_OR_RETURN(auto found, StreamTable(*arn));
  const TableSpec& spec = found.first;
  if (*shard != ShardId(spec)) {
    return absl::NotFoundError(
        absl::StrCat("Shard ", *shard, " in stream ", *arn, " does not exist"));
  }
  int64_t after = 0;
  if (*type == "LATEST") {
    ASSIGN_OR_RETURN(Region::TableChanges now, region_->ReadTableChanges(spec.name, 0, 0, 0));
    after = now.head_seq;
  } else if (by_seq) {
    ASSIGN_OR_RETURN(int64_t seq, SequenceOf(*seq_text));
    after = *type == "AT_SEQUENCE_NUMBER" ? seq - 1 : seq;
  }
  return json{{"ShardIterator", MakeIterator(*arn, *shard, after)}};
}

absl::StatusOr<json> Operations::GetRecords(const json& req) {
  ASSIGN_OR_RETURN(auto iterator, OptString(req, "ShardIterator"));
  if (!iterator) {
    return MissingMember("shardIterator");
  }
  ASSIGN_OR_RETURN(auto limit_opt, BoundedLimit(req, 1000));
  int limit = limit_opt ? static_cast<int>(*limit_opt) : 1000;
  std::vector<std::string> parts = absl::StrSplit(*iterator, '|');
  int64_t after = 0, issued_us = 0;
  if (iterator->size() > 2048 || parts.size() != 4 || !absl::SimpleAtoi(parts[2], &after) ||
      !absl::SimpleAtoi(parts[3], &issued_us) || after < 0) {
    return Validation("Invalid ShardIterator");
  }
  int64_t now_us = absl::ToUnixMicros(absl::Now());
  if (now_us - issued_us > 15 * 60 * 1000000ll) {
    return Typed(absl::StatusCode::kInvalidArgument, "ExpiredIteratorException",
                 absl::StrCat("Iterator expired. The iterator was created at time ",
                              issued_us / 1000, " while right now it is ", now_us / 1000,
                              " which is further in the future than the tolerated delay of "
                              "900000 milliseconds."));
  }
  ASSIGN_OR_RETURN(auto found, StreamTable(parts[0]));
  const auto& [spec, stream] = found;
  if (parts[1] != ShardId(spec)) {
    return absl::NotFoundError(
        absl::StrCat("Shard ", parts[1], " in stream ", parts[0], " does not exist"));
  }
  ASSIGN_OR_RETURN(Region::TableChanges read, region_->ReadTableChanges(spec.name, after, limit));
  json records = json::array();
  for (const Change& c : read.changes) {
    // Only the changes made while this stream was the table's (a re-enabled stream is new).
    if (stream.Holds(c.stamp.ts_us)) records.push_back(StreamRecord(c, StreamViewOf(spec)));
  }
  return json{{"Records", std::move(records)},
              {"NextShardIterator", MakeIterator(parts[0], parts[1], read.scanned_through)}};
}

// One change as a stream record, with the images `view` asks for.
json Operations::StreamRecord(const Change& c, const std::string& view) {
  const char* name = StreamEventName(c);
  json d = {{"ApproximateCreationDateTime", static_cast<double>(c.stamp.ts_us / 1000000)},
            {"Keys", ItemToJson(c.key)},
            {"SequenceNumber", SequenceNumber(c.seq)},
            {"StreamViewType", view}};
  int64_t size = ItemSize(c.key);
  if (c.new_image && (view == "NEW_IMAGE" || view == "NEW_AND_OLD_IMAGES")) {
    d["NewImage"] = ItemToJson(*c.new_image);
    size += ItemSize(*c.new_image);
  }
  if (c.old_image && (view == "OLD_IMAGE" || view == "NEW_AND_OLD_IMAGES")) {
    d["OldImage"] = ItemToJson(*c.old_image);
    size += ItemSize(*c.old_image);
  }
  d["SizeBytes"] = std::max<int64_t>(size, 1);
  json record = {{"eventID", absl::StrCat(c.stamp.region, "-", SequenceNumber(c.seq))},
                 {"eventName", name},
                 {"eventVersion", "1.1"},
                 {"eventSource", "aws:dynamodb"},
                 {"awsRegion", region_->name()},
                 {"dynamodb", std::move(d)}};
  // A TTL expiry, in the stream of the region that expired the item (DynamoDB's marking).
  if (c.service_delete) {
    record["userIdentity"] = {{"PrincipalId", "dynamodb.amazonaws.com"}, {"Type", "Service"}};
  }
  return record;
}

}  // namespace gtsim::ddb
