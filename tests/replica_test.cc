// Tests of the replica lifecycle in the transport-free core (region/region.h,
// region/table_engine.h, replicator/replicator_core.h): adding a replica to a live table from a
// snapshot at a cut, removing one, the validation and in-use errors, and a bootstrap that
// survives a crash of either side. Regions run in-process on files in a temporary directory,
// connected by a hand-driven "network" that pumps ReadFor/Apply and snapshot chunks in a seeded
// random order.
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "region/region.h"

namespace gtsim {
namespace {

const std::vector<std::string> kRegions = {"eu-west-1", "us-east-1", "us-west-2"};

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

std::string TempDir() {
  char tmpl[] = "/tmp/gtsim-replica-test.XXXXXX";
  char* d = mkdtemp(tmpl);
  REQUIRE(d != nullptr);
  return d;
}

// Several regions over SQLite files, one shared manual clock, and a network we pump by hand.
class Cluster {
 public:
  explicit Cluster(uint64_t seed) : dir_(TempDir()), rng_(seed) {
    for (const auto& r : kRegions) Open(r);
  }
  ~Cluster() {
    regions_.clear();
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (std::system(cmd.c_str()) != 0) WARN("could not remove " << dir_);
  }

  Region& operator[](const std::string& name) { return *regions_.at(name); }
  ManualClock& clock() { return clock_; }

  // A crash: the Region goes away; its committed data stays in its file.
  void Crash(const std::string& name) { regions_.at(name).reset(); }
  void Open(const std::string& name) {
    auto storage = Storage::Open(dir_ + "/" + name + ".db", name);
    REQUIRE(storage.ok());
    regions_[name] = Ok(Region::Open(name, kRegions, *std::move(storage), &clock_));
  }

  // Delivers one batch on the link origin -> dest, as a gRPC PeerLink would (subscribing with
  // the destination's cursor, held tables and epoch). Returns true if anything moved.
  bool PumpLink(const std::string& origin, const std::string& dest, int max_changes) {
    if (!regions_.at(origin) || !regions_.at(dest)) return false;
    Region::Subscription sub = regions_[dest]->SubscriptionFor(origin);
    auto batch = regions_[origin]->ReadFor(dest, sub.after_seq, max_changes, sub.held);
    REQUIRE(batch.ok());
    batch->subscription_epoch = sub.epoch;
    if (batch->scanned_through == sub.after_seq) return false;
    auto report = regions_[dest]->Apply(*batch);
    if (!report.ok()) {
      REQUIRE(absl::IsAborted(report.status()));  // the only expected refusal: resubscribe
      return true;
    }
    return report->cursor > sub.after_seq;
  }

  // Delivers one snapshot chunk to each bootstrapping region (as BootstrapLink would).
  bool PumpSnapshots(int max_rows) {
    bool moved = false;
    for (auto& [name, region] : regions_) {
      if (!region) continue;
      for (const auto& b : region->PendingBootstraps()) {
        if (!regions_.at(b.source)) continue;
        Region::SnapshotRequest req;
        req.subscriber = name;
        req.table = b.table;
        req.table_created = b.table_created;
        req.after = b.after;
        req.max_rows = max_rows;
        auto chunk = regions_[b.source]->ReadSnapshot(req);
        if (!chunk.ok()) continue;  // e.g. the source has not seen the add yet
        REQUIRE(region->LoadSnapshotChunk(*chunk).ok());
        moved = true;
      }
    }
    return moved;
  }

  // One random step of the network.
  void Step(int max_rows) {
    std::uniform_int_distribution<int> pick(0, 9);
    if (pick(rng_) < 3) {
      PumpSnapshots(max_rows);
      return;
    }
    const auto& o = kRegions[rng_() % kRegions.size()];
    const auto& d = kRegions[rng_() % kRegions.size()];
    if (o != d) PumpLink(o, d, 1 + static_cast<int>(rng_() % 16));
  }

  // Runs the network until nothing moves.
  void Settle() {
    for (int round = 0; round < 10000; ++round) {
      bool moved = PumpSnapshots(1000);
      for (const auto& o : kRegions) {
        for (const auto& d : kRegions) {
          if (o != d) moved |= PumpLink(o, d, 512);
        }
      }
      if (!moved) return;
    }
    FAIL("the network never settled");
  }

  std::mt19937_64& rng() { return rng_; }

 private:
  std::string dir_;
  ManualClock clock_;
  std::mt19937_64 rng_;
  std::map<std::string, std::unique_ptr<Region>> regions_;
};

Item ItemOf(const std::string& id, int n) {
  return Item{{"id", AttributeValue::S(id)},
              {"n", *AttributeValue::Number(std::to_string(n))}};
}

void Put(Region& r, const std::string& table, const std::string& id, int n) {
  PutRequest req;
  req.table = table;
  req.item = ItemOf(id, n);
  INFO(r.name() << " put " << id);
  REQUIRE(r.PutItem(req).ok());
}

std::vector<TableEngine::Version> Dump(Region& r, const std::string& table) {
  return Ok(r.DumpTable(table));
}

bool SameVersions(const std::vector<TableEngine::Version>& a,
                  const std::vector<TableEngine::Version>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].hk != b[i].hk || a[i].rk != b[i].rk || a[i].stamp != b[i].stamp ||
        a[i].item != b[i].item) {
      return false;
    }
  }
  return true;
}

CreateTableRequest Table(const std::string& name, std::vector<std::string> replicas) {
  CreateTableRequest req;
  req.table = name;
  req.hash_key = KeyDef{"id", ValueType::kS};
  req.replicas = std::move(replicas);
  return req;
}

UpdateTableRequest AddReplica(const std::string& table, const std::string& region) {
  return UpdateTableRequest{table, {ReplicaUpdate{ReplicaUpdate::Action::kCreate, region}}};
}
UpdateTableRequest RemoveReplica(const std::string& table, const std::string& region) {
  return UpdateTableRequest{table, {ReplicaUpdate{ReplicaUpdate::Action::kDelete, region}}};
}

std::string StatusIn(Region& r, const std::string& table, const std::string& replica) {
  return Ok(r.DescribeTable(table)).spec.ReplicaStatus(replica);
}

TEST_CASE("a replica added to a live table under writes in every region ends identical",
          "[replica]") {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    INFO("seed " << seed);
    Cluster c(seed);
    // A global table in eu-west-1 and us-west-2; us-east-1 joins it later.
    Ok(c["us-west-2"].CreateTable(Table("demo", {"eu-west-1", "us-west-2"})));
    c.Settle();
    int n = 0;
    for (int i = 0; i < 200; ++i) {
      c.clock().Advance(1000);
      Put(c[i % 2 ? "us-west-2" : "eu-west-1"], "demo", "k" + std::to_string(c.rng()() % 150), ++n);
      if (i % 3 == 0) c.Step(7);
    }
    TableInfo info = Ok(c["us-west-2"].UpdateTable(AddReplica("demo", "us-east-1")));
    CHECK(info.spec.TableStatus() == "UPDATING");
    CHECK(info.spec.ReplicaStatus("us-east-1") == "CREATING");
    // Writes, deletes and network steps interleave with the snapshot chunks.
    for (int i = 0; i < 600; ++i) {
      c.clock().Advance(1000);
      const std::string writer = i % 2 ? "us-west-2" : "eu-west-1";
      std::string key = "k" + std::to_string(c.rng()() % 200);
      if (c.rng()() % 7 == 0) {
        DeleteRequest del;
        del.table = "demo";
        del.key = Item{{"id", AttributeValue::S(key)}};
        REQUIRE(c[writer].DeleteItem(del).ok());
      } else {
        Put(c[writer], "demo", key, ++n);
      }
      c.Step(7);
      c.Step(7);
    }
    c.Settle();
    for (const auto& r : kRegions) {
      INFO("described in " << r);
      CHECK(StatusIn(c[r], "demo", "us-east-1") == "ACTIVE");
      CHECK(Ok(c[r].DescribeTable("demo")).spec.TableStatus() == "ACTIVE");
    }
    auto want = Dump(c["us-west-2"], "demo");
    CHECK(want.size() > 100);
    CHECK(SameVersions(Dump(c["eu-west-1"], "demo"), want));
    CHECK(SameVersions(Dump(c["us-east-1"], "demo"), want));
  }
}

TEST_CASE("writes in the new replica after it turns ACTIVE reach the others", "[replica]") {
  Cluster c(7);
  Ok(c["us-west-2"].CreateTable(Table("demo", {})));
  for (int i = 0; i < 20; ++i) Put(c["us-west-2"], "demo", "k" + std::to_string(i), i);
  Ok(c["us-west-2"].UpdateTable(AddReplica("demo", "us-east-1")));
  c.Settle();
  REQUIRE(StatusIn(c["us-east-1"], "demo", "us-east-1") == "ACTIVE");
  c.clock().Advance(1000);
  Put(c["us-east-1"], "demo", "from-east", 1);
  c.Settle();
  CHECK(Ok(c["us-west-2"].GetItem("demo", Item{{"id", AttributeValue::S("from-east")}})).item);
  CHECK(SameVersions(Dump(c["us-east-1"], "demo"), Dump(c["us-west-2"], "demo")));
}

TEST_CASE("a bootstrap interrupted by crashes of either side resumes and loses nothing",
          "[replica]") {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    INFO("seed " << seed);
    Cluster c(seed);
    Ok(c["us-west-2"].CreateTable(Table("demo", {"eu-west-1", "us-west-2"})));
    c.Settle();
    for (int i = 0; i < 300; ++i) {
      c.clock().Advance(100);
      Put(c[i % 2 ? "us-west-2" : "eu-west-1"], "demo", "k" + std::to_string(i), i);
    }
    c.Settle();
    Ok(c["us-west-2"].UpdateTable(AddReplica("demo", "us-east-1")));
    int crashes = 0;
    for (int i = 0; i < 400; ++i) {
      c.clock().Advance(1000);
      Put(c[i % 2 ? "us-west-2" : "eu-west-1"], "demo", "k" + std::to_string(c.rng()() % 400), i);
      c.Step(5);
      if (c.rng()() % 40 == 0) {
        // Crash the new replica or the source, and bring it back from its file.
        const std::string victim = c.rng()() % 2 ? "us-east-1" : "us-west-2";
        c.Crash(victim);
        c.Step(5);
        c.Open(victim);
        ++crashes;
      }
    }
    c.Settle();
    INFO(crashes << " crashes");
    CHECK(StatusIn(c["us-west-2"], "demo", "us-east-1") == "ACTIVE");
    auto want = Dump(c["us-west-2"], "demo");
    CHECK(SameVersions(Dump(c["eu-west-1"], "demo"), want));
    CHECK(SameVersions(Dump(c["us-east-1"], "demo"), want));
  }
}

TEST_CASE("a CREATING replica refuses writes and names the ACTIVE replicas", "[replica]") {
  Cluster c(3);
  Ok(c["us-west-2"].CreateTable(Table("demo", {})));
  Put(c["us-west-2"], "demo", "a", 1);
  Ok(c["us-west-2"].UpdateTable(AddReplica("demo", "us-east-1")));
  REQUIRE(c.PumpLink("us-west-2", "us-east-1", 512));  // the add reaches us-east-1
  REQUIRE(StatusIn(c["us-east-1"], "demo", "us-east-1") == "CREATING");
  PutRequest req;
  req.table = "demo";
  req.item = ItemOf("b", 2);
  auto st = c["us-east-1"].PutItem(req).status();
  CHECK(absl::IsUnavailable(st));
  CHECK(std::string(st.message()).find("CREATING") != std::string::npos);
  CHECK(std::string(st.message()).find("us-west-2") != std::string::npos);
}

TEST_CASE("replica updates that DynamoDB rejects are rejected with nothing written",
          "[replica]") {
  Cluster c(4);
  Ok(c["us-west-2"].CreateTable(Table("demo", {})));
  Region& r = c["us-west-2"];
  auto head = [&] { return Ok(r.Status()).head_seq; };
  int64_t before = head();

  auto local = r.UpdateTable(AddReplica("demo", "us-west-2")).status();
  CHECK(absl::IsInvalidArgument(local));
  CHECK(std::string(local.message()).find(
            "Cannot add or delete the local region through ReplicaUpdates") != std::string::npos);
  auto unknown = r.UpdateTable(AddReplica("demo", "mars-north-1")).status();
  CHECK(absl::IsInvalidArgument(unknown));
  CHECK(std::string(unknown.message()).find("mars-north-1") != std::string::npos);
  UpdateTableRequest two = AddReplica("demo", "us-east-1");
  two.replica_updates.push_back(ReplicaUpdate{ReplicaUpdate::Action::kCreate, "eu-west-1"});
  CHECK(absl::IsInvalidArgument(r.UpdateTable(two).status()));
  CHECK(absl::IsInvalidArgument(r.UpdateTable(UpdateTableRequest{"demo", {}}).status()));
  CHECK(absl::IsInvalidArgument(r.UpdateTable(RemoveReplica("demo", "eu-west-1")).status()));
  CHECK(absl::IsNotFound(r.UpdateTable(AddReplica("nope", "us-east-1")).status()));
  CHECK(head() == before);

  Ok(r.UpdateTable(AddReplica("demo", "us-east-1")));
  auto busy = r.UpdateTable(AddReplica("demo", "eu-west-1")).status();
  CHECK(absl::IsFailedPrecondition(busy));
  CHECK(std::string(busy.message()).find("ResourceInUse") != std::string::npos);
  // Also in use: the in-flight check comes before "already a replica".
  CHECK(absl::IsFailedPrecondition(r.UpdateTable(AddReplica("demo", "us-east-1")).status()));
  c.Settle();
  // Once ACTIVE again, the next change is accepted.
  Ok(r.UpdateTable(AddReplica("demo", "eu-west-1")));
}

TEST_CASE("removing a replica deletes its table and items and the others stop sending to it",
          "[replica]") {
  Cluster c(5);
  Ok(c["us-west-2"].CreateTable(Table("demo", {"us-east-1", "us-west-2"})));
  c.Settle();
  for (int i = 0; i < 30; ++i) Put(c["us-east-1"], "demo", "k" + std::to_string(i), i);
  c.Settle();
  TableInfo info = Ok(c["us-west-2"].UpdateTable(RemoveReplica("demo", "us-east-1")));
  CHECK(info.spec.ReplicaStatus("us-east-1") == "DELETING");
  CHECK(info.spec.TableStatus() == "UPDATING");
  c.Settle();
  CHECK(absl::IsNotFound(c["us-east-1"].DescribeTable("demo").status()));
  TableInfo after = Ok(c["us-west-2"].DescribeTable("demo"));
  CHECK(after.spec.replicas == std::vector<std::string>{"us-west-2"});
  CHECK(after.spec.TableStatus() == "ACTIVE");
  CHECK(after.item_count == 30);
  // Later writes stay in us-west-2.
  c.clock().Advance(1000);
  Put(c["us-west-2"], "demo", "later", 1);
  c.Settle();
  CHECK(absl::IsNotFound(c["us-east-1"].DescribeTable("demo").status()));
  CHECK(Ok(c["us-west-2"].Status()).outbound[1].pending == 0);

  // And the region can be added back: it bootstraps again from scratch.
  Ok(c["us-west-2"].UpdateTable(AddReplica("demo", "us-east-1")));
  c.Settle();
  CHECK(SameVersions(Dump(c["us-east-1"], "demo"), Dump(c["us-west-2"], "demo")));
  CHECK(Ok(c["us-east-1"].DescribeTable("demo")).item_count == 31);
}

}  // namespace
}  // namespace gtsim
