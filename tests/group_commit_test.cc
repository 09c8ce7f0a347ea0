// Tests of Region's group commit (region/region.h): concurrent local writes share transactions,
// yet each is acknowledged only once committed, each lands in the table and the change log
// exactly once, and a write that fails inside a group leaves the others untouched.
#include <stdlib.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "region/region.h"

namespace gtsim {
namespace {

namespace fs = std::filesystem;

constexpr char kEast[] = "us-east-1";
constexpr char kWest[] = "us-west-2";

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

AttributeValue S(const std::string& s) { return AttributeValue::S(s); }

struct TempDir {
  std::string path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gtsim-group-commit.XXXXXX").string();
    path = mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path); }
};

std::unique_ptr<Region> OpenRegion(const std::string& path, Clock* clock) {
  auto storage = Storage::Open(path, kEast);
  INFO(storage.status().ToString());
  REQUIRE(storage.ok());
  return Ok(Region::Open(kEast, {kEast, kWest}, *std::move(storage), clock));
}

void CreateOrders(Region& r) {
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {kEast, kWest};
  Ok(r.CreateTable(req));
}

PutRequest Put(const std::string& id, const std::string& v) {
  PutRequest req;
  req.table = "orders";
  req.item = {{"id", S(id)}, {"v", S(v)}};
  return req;
}

// Every local item change in the database at `path`, as id -> count of change-log rows.
std::map<std::string, int> LoggedIds(const std::string& path) {
  auto storage = Storage::Open(path, kEast);
  REQUIRE(storage.ok());
  auto changes = Ok((*storage)->ReadLocalChanges(0, 0));
  std::map<std::string, int> ids;
  for (const auto& c : changes) {
    if (c.kind == ChangeKind::kPut || c.kind == ChangeKind::kDelete) ++ids[c.key.at("id").scalar()];
  }
  return ids;
}

TEST_CASE("many concurrent writers: every acknowledged write is stored, logged once and durable",
          "[group_commit]") {
  TempDir dir;
  const std::string path = dir.path + "/region.db";
  SystemClock clock;
  constexpr int kThreads = 16, kPerThread = 150;
  std::vector<std::vector<std::string>> acked(kThreads);
  std::atomic<int> errors{0};
  {
    auto region = OpenRegion(path, &clock);
    CreateOrders(*region);
    std::vector<std::thread> writers;
    for (int t = 0; t < kThreads; ++t) {
      writers.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string id = absl::StrCat("t", t, "-", i);
          if (i % 10 == 9) {  // some updates and deletes of this thread's own earlier items
            UpdateRequest u;
            u.table = "orders";
            u.key = {{"id", S(absl::StrCat("t", t, "-", i - 1))}};
            u.set = {{"u", S("1")}};
            if (!region->Write(u).ok()) ++errors;
            DeleteRequest d;
            d.table = "orders";
            d.key = {{"id", S(absl::StrCat("t", t, "-", i - 2))}};
            if (!region->Write(d).ok()) ++errors;
          }
          if (region->Write(Put(id, "v")).ok()) {
            acked[t].push_back(id);
          } else {
            ++errors;
          }
        }
      });
    }
    for (auto& w : writers) w.join();
    REQUIRE(errors == 0);
    for (int t = 0; t < kThreads; ++t) {
      REQUIRE(acked[t].size() == kPerThread);
      for (int i = 0; i < kPerThread; ++i) {
        GetResult got = Ok(region->GetItem("orders", {{"id", S(acked[t][i])}}));
        bool deleted = i % 10 == 7;  // deleted at i + 2
        CHECK(got.item.has_value() == !deleted);
        if (i % 10 == 8) CHECK(got.item->at("u").scalar() == "1");  // updated at i + 1
      }
    }
  }  // the region (and its connection) is gone; what is on disk must hold everything
  auto ids = LoggedIds(path);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string id = absl::StrCat("t", t, "-", i);
      int expected = 1 + (i % 10 == 8 ? 1 : 0) + (i % 10 == 7 ? 1 : 0);  // put, update, delete
      INFO(id);
      CHECK(ids[id] == expected);
    }
  }
  SystemClock clock2;
  auto reopened = OpenRegion(path, &clock2);
  TableInfo info = Ok(reopened->DescribeTable("orders"));
  CHECK(info.item_count == kThreads * kPerThread - kThreads * (kPerThread / 10));
}

TEST_CASE("a write that fails inside a group leaves the other writes of the group committed",
          "[group_commit]") {
  TempDir dir;
  const std::string path = dir.path + "/region.db";
  SystemClock clock;
  auto region = OpenRegion(path, &clock);
  CreateOrders(*region);
  Ok(region->Write(Put("taken", "first")));

  // A first write holds the region inside its mutation until the others have queued behind it,
  // so they commit together as the next group (and the test stays correct if they do not).
  absl::Notification release;
  absl::Status held;
  std::thread holder([&] {
    held = region
               ->Write(Region::MutateRequest{
                   "orders",
                   {{"id", S("holder")}},
                   [&](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
                     release.WaitForNotification();
                     return std::optional<Item>(Item{{"id", S("holder")}});
                   }})
               .status();
  });
  absl::SleepFor(absl::Milliseconds(50));

  constexpr int kGood = 20;
  std::vector<absl::Status> good(kGood), conditional(5), mutate_error(5), bad_item(5);
  std::vector<std::thread> writers;
  for (int i = 0; i < kGood; ++i) {
    writers.emplace_back(
        [&, i] { good[i] = region->Write(Put(absl::StrCat("g", i), "v")).status(); });
  }
  for (int i = 0; i < 5; ++i) {
    writers.emplace_back([&, i] {
      PutRequest req = Put("taken", absl::StrCat("second", i));
      req.condition.clauses.push_back({"id", Condition::Op::kNotExists, {}});
      conditional[i] = region->Write(req).status();
    });
    writers.emplace_back([&, i] {
      mutate_error[i] =
          region
              ->Write(Region::MutateRequest{
                  "orders",
                  {{"id", S(absl::StrCat("m", i))}},
                  [](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
                    return absl::FailedPreconditionError("the caller's condition failed");
                  }})
              .status();
    });
    writers.emplace_back([&, i] {
      PutRequest req;
      req.table = "orders";
      req.item = {{"v", S("no key")}};
      bad_item[i] = region->Write(req).status();
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  release.Notify();
  holder.join();
  for (auto& w : writers) w.join();

  CHECK(held.ok());
  for (int i = 0; i < kGood; ++i) {
    INFO(good[i].ToString());
    CHECK(good[i].ok());
  }
  for (int i = 0; i < 5; ++i) {
    CHECK(absl::IsFailedPrecondition(conditional[i]));
    CHECK(absl::IsFailedPrecondition(mutate_error[i]));
    CHECK(absl::IsInvalidArgument(bad_item[i]));
  }
  CHECK(Ok(region->GetItem("orders", {{"id", S("taken")}})).item->at("v").scalar() == "first");
  for (int i = 0; i < kGood; ++i) {
    CHECK(Ok(region->GetItem("orders", {{"id", S(absl::StrCat("g", i))}})).item.has_value());
  }
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(Ok(region->GetItem("orders", {{"id", S(absl::StrCat("m", i))}})).item.has_value());
  }
  // The change log holds exactly the writes that succeeded, each once, with dense sequences.
  ChangeBatch batch = Ok(region->ReadFor(kWest, 0, 1000));
  std::map<std::string, int> logged;
  int64_t expected_seq = 0;
  for (const auto& c : batch.changes) {
    CHECK(c.seq == ++expected_seq);
    if (c.kind == ChangeKind::kPut) ++logged[c.key.at("id").scalar()];
  }
  std::map<std::string, int> expected{{"taken", 1}, {"holder", 1}};
  for (int i = 0; i < kGood; ++i) expected[absl::StrCat("g", i)] = 1;
  CHECK(logged == expected);
  // And a later write still works and is logged after them.
  Ok(region->Write(Put("after", "v")));
  CHECK(Ok(region->ReadFor(kWest, expected_seq, 10)).changes.size() == 1);
}

TEST_CASE("asynchronous writes join the group commit, are answered once each, and are durable",
          "[group_commit]") {
  TempDir dir;
  const std::string path = dir.path + "/region.db";
  SystemClock clock;
  constexpr int kThreads = 8, kPerThread = 200;
  std::atomic<int> answered{0}, failed{0}, condition_failed{0};
  absl::Mutex mu;
  std::map<std::string, int> answers;  // id -> times its `done` ran
  {
    auto region = OpenRegion(path, &clock);
    CreateOrders(*region);
    Ok(region->Write(Put("taken", "first")));
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t) {
      submitters.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string id = absl::StrCat("a", t, "-", i);
          auto done = [&, id](absl::StatusOr<WriteResult> result) {
            if (!result.ok()) ++failed;
            absl::MutexLock l(&mu);
            ++answers[id];
            ++answered;
          };
          if (t % 2 == 0) {
            region->WriteAsync(Put(id, "v"), done);
          } else if (i % 4 == 3) {  // a put that must fail its condition, alone
            PutRequest req = Put("taken", id);
            req.condition.clauses.push_back({"id", Condition::Op::kNotExists, {}});
            region->WriteAsync(req, [&, done](absl::StatusOr<WriteResult> result) {
              if (absl::IsFailedPrecondition(result.status())) ++condition_failed;
              done(absl::StatusOr<WriteResult>(WriteResult{}));
            });
          } else {
            // Synchronous writers interleave with the asynchronous ones and may lead their
            // groups (then they answer the asynchronous writes of the group).
            if (!region->Write(Put(id, "v")).ok()) ++failed;
            done(absl::StatusOr<WriteResult>(WriteResult{}));
          }
        }
      });
    }
    for (auto& s : submitters) s.join();
    // The region is destroyed with writes possibly still queued: the destructor answers them.
  }
  REQUIRE(answered == kThreads * kPerThread);
  CHECK(failed == 0);
  CHECK(condition_failed == (kThreads / 2) * (kPerThread / 4));
  for (const auto& [id, times] : answers) {
    INFO(id);
    CHECK(times == 1);
  }
  // Every write that was answered OK is on disk, logged once.
  auto ids = LoggedIds(path);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      if (t % 2 == 1 && i % 4 == 3) continue;
      std::string id = absl::StrCat("a", t, "-", i);
      INFO(id);
      CHECK(ids[id] == 1);
    }
  }
  CHECK(ids["taken"] == 1);
}

TEST_CASE("a lone asynchronous write is committed by the committer thread", "[group_commit]") {
  TempDir dir;
  SystemClock clock;
  auto region = OpenRegion(dir.path + "/region.db", &clock);
  CreateOrders(*region);
  absl::Notification answered;
  absl::Status status = absl::UnknownError("not answered");
  region->WriteAsync(Put("x", "v"), [&](absl::StatusOr<WriteResult> r) {
    status = r.status();
    answered.Notify();
  });
  REQUIRE(answered.WaitForNotificationWithTimeout(absl::Seconds(30)));
  CHECK(status.ok());
  CHECK(Ok(region->GetItem("orders", {{"id", S("x")}})).item.has_value());
}

TEST_CASE("read-modify-writes led by several threads at once (WriteLed) see each other",
          "[group_commit]") {
  TempDir dir;
  const std::string path = dir.path + "/region.db";
  SystemClock clock;
  constexpr int kThreads = 8, kPerThread = 100, kPerBatch = 10;
  std::atomic<int> answered{0}, failed{0}, refused{0};
  {
    auto region = OpenRegion(path, &clock);
    CreateOrders(*region);
    Ok(region->Write(Put("counter", "0")));
    const Item counter_key = {{"id", S("counter")}};
    // Each increment reads the counter earlier writes (of its group and of other threads'
    // groups) left: a lost update would leave the final count short.
    auto increment = [](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
      Item next = *current;
      next["v"] = S(std::to_string(std::stoi(current->at("v").scalar()) + 1));
      return std::optional<Item>(std::move(next));
    };
    std::vector<std::thread> submitters;
    for (int t = 0; t < kThreads; ++t) {
      submitters.emplace_back([&, t] {
        std::vector<Region::AsyncWrite> batch;
        for (int i = 0; i < kPerThread; ++i) {
          Region::MutateRequest m;
          Region::WriteDone done;
          m.table = "orders";
          if (i % 10 == 9) {
            // A mutation that refuses: answered with its own error, writes nothing.
            m.key = {{"id", S(absl::StrCat("refused", t, "-", i))}};
            m.fn = [](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
              return absl::FailedPreconditionError("refused");
            };
            done = [&](absl::StatusOr<WriteResult> r) {
              if (absl::IsFailedPrecondition(r.status())) ++refused;
              ++answered;
            };
          } else {
            m.key = counter_key;
            m.fn = increment;
            done = [&](absl::StatusOr<WriteResult> r) {
              if (!r.ok() || !r->new_item) ++failed;
              ++answered;
            };
          }
          batch.push_back({std::move(m), std::move(done)});
          if (batch.size() == kPerBatch) region->WriteLed(std::exchange(batch, {}));
        }
      });
    }
    for (auto& s : submitters) s.join();
    // Destroying the region answers whatever is still queued (after committing it).
  }
  REQUIRE(answered == kThreads * kPerThread);
  CHECK(failed == 0);
  CHECK(refused == kThreads * kPerThread / 10);
  // Durable: reopened, the counter holds every increment, each logged once.
  auto region = OpenRegion(path, &clock);
  auto got = Ok(region->GetItem("orders", {{"id", S("counter")}}));
  REQUIRE(got.item);
  CHECK(got.item->at("v").scalar() == std::to_string(kThreads * kPerThread * 9 / 10));
  auto ids = LoggedIds(path);
  CHECK(ids["counter"] == 1 + kThreads * kPerThread * 9 / 10);
  CHECK(ids.size() == 1);
}

TEST_CASE("WriteLed: the caller commits the batch itself and answers each write",
          "[group_commit]") {
  TempDir dir;
  const std::string path = dir.path + "/region.db";
  SystemClock clock;
  constexpr int kBatch = 600;  // more than one group (kMaxGroup 512): the committer leads the rest
  std::atomic<int> ok{0}, refused{0}, answered_here{0}, answered{0};
  const std::thread::id caller = std::this_thread::get_id();
  {
    auto region = OpenRegion(path, &clock);
    CreateOrders(*region);
    Ok(region->Write(Put("taken", "first")));
    std::vector<Region::AsyncWrite> batch;
    for (int i = 0; i < kBatch; ++i) {
      Region::MutateRequest m;
      Region::WriteDone done;
      m.table = "orders";
      const bool refuse = i % 50 == 7;
      m.key = {{"id", S(refuse ? "taken" : absl::StrCat("b", i))}};
      m.fn = [refuse, key = m.key](
                 const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
        if (refuse && current) return absl::FailedPreconditionError("exists");
        Item next = key;
        next["v"] = S("led");
        return std::optional<Item>(std::move(next));
      };
      done = [&, refuse](absl::StatusOr<WriteResult> r) {
        if (refuse ? absl::IsFailedPrecondition(r.status()) : r.ok()) ++(refuse ? refused : ok);
        if (std::this_thread::get_id() == caller) ++answered_here;
        ++answered;
      };
      batch.push_back({std::move(m), std::move(done)});
    }
    region->WriteLed(std::move(batch));
    // With no other writer, this thread led the first group and answered it before returning.
    CHECK(answered_here >= 511);
    // The region's destructor waits for the committer, which answers the rest.
  }
  CHECK(answered == kBatch);
  CHECK(refused == kBatch / 50);
  CHECK(ok == kBatch - kBatch / 50);
  auto ids = LoggedIds(path);
  CHECK(ids.size() == 1 + kBatch - kBatch / 50);  // "taken" and every b<i> but the refused
  CHECK(ids["b0"] == 1);
  CHECK(ids["b599"] == 1);
}

}  // namespace
}  // namespace gtsim
