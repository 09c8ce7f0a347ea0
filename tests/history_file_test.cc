// sim/scenario/history_file.h: a workload record survives the trip to disk and back, and a file
// of another shape is refused with a message naming what is wrong.
#include "sim/scenario/history_file.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

namespace gtsim::scenario {
namespace {

RecordedRun SampleRun() {
  RecordedRun run;
  run.cluster_dir = "/tmp/c";
  run.regions = {"us-east-1", "us-west-2"};
  run.command = "gtsim traffic --rate 5";
  run.seed = 7;
  run.start_us = 1'000'000;
  run.end_us = 4'000'000;
  TableDef t;
  t.name = "traffic";
  t.range_key = KeyDef{"sk", ValueType::kN};
  t.replicas = run.regions;
  run.tables = {t};
  AckedWrite w;
  w.id = 12;
  w.kind = WriteKind::kUpdate;
  w.region = "us-west-2";
  w.key = {{"id", AttributeValue::S("k1")}, {"sk", AttributeValue::N("0")}};
  w.key_text = "k1";
  w.true_us = 1'500'000;
  w.skew_us = -250'000;
  w.result.stamp = {1'250'000, "us-west-2"};
  w.result.superseded_by = Stamp{1'300'000, "us-east-1"};
  w.result.old_item = Item{{"id", AttributeValue::S("k1")}, {"w", AttributeValue::S("w11")}};
  w.result.new_item = Item{{"id", AttributeValue::S("k1")}, {"w", AttributeValue::S("w12")}};
  run.record.history["traffic"].Record(w);
  run.record.unanswered[13] = {
      WriteKind::kDelete, "traffic", "us-east-1", "k2", Item{{"id", AttributeValue::S("k2")}},
      2'000'000};
  run.record.reads.push_back({"traffic", "us-east-1", "k1", w.key, w.result.new_item,
                              w.result.stamp, 2'100'000, 2'100'500});
  run.record.counter_keys.insert({"traffic", std::string("\x01k1", 3), std::string("\x02\x00", 2)});
  run.record.acked_increments = 3;
  run.record.lock_intervals.push_back({"us-east-1", 0.5, 0.75});
  return run;
}

TEST_CASE("a recorded run survives the history file unchanged", "[history_file]") {
  RecordedRun a = SampleRun();
  auto b = RecordedRunFromJson(RecordedRunToJson(a));
  REQUIRE(b.ok());
  CHECK(b->cluster_dir == a.cluster_dir);
  CHECK(b->regions == a.regions);
  CHECK(b->seed == 7);
  CHECK(b->start_us == a.start_us);
  CHECK(b->end_us == a.end_us);
  REQUIRE(b->tables.size() == 1);
  CHECK(b->tables[0].range_key->name == "sk");
  CHECK(b->tables[0].range_key->type == ValueType::kN);
  const auto& writes = b->record.history.at("traffic").writes();
  REQUIRE(writes.size() == 1);
  const AckedWrite& w = writes[0];
  CHECK(w.id == 12);
  CHECK(w.kind == WriteKind::kUpdate);
  CHECK(w.skew_us == -250'000);
  CHECK(w.result.stamp == Stamp{1'250'000, "us-west-2"});
  CHECK(*w.result.superseded_by == Stamp{1'300'000, "us-east-1"});
  CHECK(*w.result.old_item == *a.record.history.at("traffic").writes()[0].result.old_item);
  CHECK(*w.result.new_item == *a.record.history.at("traffic").writes()[0].result.new_item);
  REQUIRE(b->record.unanswered.count(13));
  CHECK(b->record.unanswered.at(13).kind == WriteKind::kDelete);
  REQUIRE(b->record.reads.size() == 1);
  CHECK(b->record.reads[0].stamp == Stamp{1'250'000, "us-west-2"});
  CHECK(b->record.reads[0].end_us == 2'100'500);
  CHECK(b->record.counter_keys == a.record.counter_keys);  // binary keys, hex in the file
  CHECK(b->record.acked_increments == 3);
  REQUIRE(b->record.lock_intervals.size() == 1);
  CHECK(b->record.lock_intervals[0].end == 0.75);
}

TEST_CASE("a file that is not a history is refused naming what is wrong", "[history_file]") {
  const std::string dir = "/tmp/gtsim-history-test-" + std::to_string(::getpid());
  REQUIRE(std::system(("mkdir -p " + dir).c_str()) == 0);
  auto missing = ReadHistoryFile(dir + "/none.json");
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(std::string(missing.status().message()).find("cannot read") != std::string::npos);
  std::ofstream(dir + "/x.json") << "[1, 2]";
  auto other = ReadHistoryFile(dir + "/x.json");
  CHECK(absl::IsInvalidArgument(other.status()));
  CHECK(std::string(other.status().message()).find("not a gtsim history") != std::string::npos);
  nlohmann::json doc = RecordedRunToJson(SampleRun());
  doc["writes"][0].erase("stamp");
  auto broken = RecordedRunFromJson(doc);
  CHECK(std::string(broken.status().message()).find("a write has no \"stamp\"") !=
        std::string::npos);
  REQUIRE(WriteHistoryFile(dir + "/ok.json", SampleRun()).ok());
  CHECK(ReadHistoryFile(dir + "/ok.json").ok());
  CHECK(std::system(("rm -rf " + dir).c_str()) == 0);
}

}  // namespace
}  // namespace gtsim::scenario
