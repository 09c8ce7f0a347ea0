// Tests of engine/table_engine.h through the Region facade: the table catalog, local reads and
// writes, conditions, and the errors a user gets for bad requests.
#include "engine/table_engine.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "region/region.h"

namespace gtsim {
namespace {

const std::vector<std::string> kRegions = {"us-east-1", "us-west-2"};

AttributeValue S(const std::string& s) { return AttributeValue::S(s); }
AttributeValue N(const std::string& text) {
  auto n = AttributeValue::Number(text);
  REQUIRE(n.ok());
  return *n;
}

template <typename T>
T Ok(absl::StatusOr<T> result) {
  INFO(result.status().ToString());
  REQUIRE(result.ok());
  return *std::move(result);
}

// One region over in-memory storage with a hand-driven clock.
struct Fixture {
  ManualClock clock;
  std::unique_ptr<Region> region;

  Fixture() {
    auto storage = Storage::Open(":memory:", "us-east-1");
    REQUIRE(storage.ok());
    region = Ok(Region::Open("us-east-1", kRegions, *std::move(storage), &clock));
  }

  // "orders": hash key id (S), range key n (N).
  void CreateOrders() {
    CreateTableRequest req;
    req.table = "orders";
    req.hash_key = {"id", ValueType::kS};
    req.range_key = KeyDef{"n", ValueType::kN};
    Ok(region->CreateTable(req));
  }
  // "events": hash key pk (S), range key sk (S).
  void CreateEvents() {
    CreateTableRequest req;
    req.table = "events";
    req.hash_key = {"pk", ValueType::kS};
    req.range_key = KeyDef{"sk", ValueType::kS};
    Ok(region->CreateTable(req));
  }

  WriteResult Put(const std::string& table, Item item, Condition cond = {}) {
    PutRequest req;
    req.table = table;
    req.item = std::move(item);
    req.condition = std::move(cond);
    clock.Advance(1000);
    return Ok(region->Write(req));
  }

  std::optional<Item> Get(const std::string& table, const Item& key) {
    return Ok(region->GetItem(table, key)).item;
  }

  // The range-key values of a query's items, in the order returned.
  std::vector<std::string> QueryKeys(QueryRequest req, const std::string& range_attr) {
    std::vector<std::string> keys;
    for (const auto& item : Ok(region->Query(req)).items) {
      keys.push_back(item.at(range_attr).scalar());
    }
    return keys;
  }

  int64_t HeadSeq() { return Ok(region->Status()).head_seq; }
};

TEST_CASE("an item put into a hash+range table can be read back", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item item{{"id", S("o1")}, {"n", N("1")}, {"total", N("19.90")}, {"note", S("rush")}};
  WriteResult w = f.Put("orders", item);
  CHECK(w.stamp.region == "us-east-1");
  CHECK_FALSE(w.superseded_by.has_value());

  auto got = f.Get("orders", {{"id", S("o1")}, {"n", N("1.0")}});
  REQUIRE(got.has_value());
  CHECK(*got == item);
  CHECK(got->at("total").scalar() == "19.9");
  CHECK_FALSE(f.Get("orders", {{"id", S("o1")}, {"n", N("2")}}).has_value());
  CHECK_FALSE(f.Get("orders", {{"id", S("o2")}, {"n", N("1")}}).has_value());

  TableInfo info = Ok(f.region->DescribeTable("orders"));
  CHECK(info.item_count == 1);
  CHECK(info.spec.replicas == std::vector<std::string>{"us-east-1"});
  CHECK(f.region->ListTables() == std::vector<std::string>{"orders"});
}

TEST_CASE("a put replaces the whole item", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  f.Put("orders", {{"id", S("o1")}, {"n", N("1")}, {"a", S("x")}});
  f.Put("orders", {{"id", S("o1")}, {"n", N("1")}, {"b", S("y")}});
  auto got = f.Get("orders", {{"id", S("o1")}, {"n", N("1")}});
  REQUIRE(got.has_value());
  CHECK(got->count("a") == 0);
  CHECK(got->at("b") == S("y"));
  CHECK(Ok(f.region->DescribeTable("orders")).item_count == 1);
}

TEST_CASE("query orders number range keys as numbers", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  for (const char* n : {"2", "10", "1.5", "-3", "0.25"}) {
    f.Put("orders", {{"id", S("o1")}, {"n", N(n)}});
  }
  f.Put("orders", {{"id", S("other")}, {"n", N("5")}});
  QueryRequest q;
  q.table = "orders";
  q.hash_value = S("o1");
  CHECK(f.QueryKeys(q, "n") == std::vector<std::string>{"-3", "0.25", "1.5", "2", "10"});
  q.backward = true;
  CHECK(f.QueryKeys(q, "n") == std::vector<std::string>{"10", "2", "1.5", "0.25", "-3"});

  SECTION("with a numeric condition") {
    q.backward = false;
    q.range.op = RangeCondition::Op::kGt;
    q.range.value = N("1.5");
    CHECK(f.QueryKeys(q, "n") == std::vector<std::string>{"2", "10"});
    q.range.op = RangeCondition::Op::kBetween;
    q.range.value = N("0");
    q.range.value2 = N("2");
    CHECK(f.QueryKeys(q, "n") == std::vector<std::string>{"0.25", "1.5", "2"});
  }
}

TEST_CASE("query applies every range-key condition", "[table_engine]") {
  Fixture f;
  f.CreateEvents();
  for (const char* sk :
       {"2024-01-05", "2024-01-10", "2024-02-01", "2024-02-15", "2025-01-01", "a", "b"}) {
    f.Put("events", {{"pk", S("user")}, {"sk", S(sk)}});
  }
  f.Put("events", {{"pk", S("someone-else")}, {"sk", S("2024-01-07")}});
  using Op = RangeCondition::Op;
  auto run = [&](Op op, const std::string& v, const std::string& v2 = "") {
    QueryRequest q;
    q.table = "events";
    q.hash_value = S("user");
    q.range.op = op;
    q.range.value = S(v);
    q.range.value2 = S(v2);
    return f.QueryKeys(q, "sk");
  };
  using V = std::vector<std::string>;
  CHECK(run(Op::kEq, "2024-02-01") == V{"2024-02-01"});
  CHECK(run(Op::kEq, "2024-02") == V{});
  CHECK(run(Op::kLt, "2024-02-01") == V{"2024-01-05", "2024-01-10"});
  CHECK(run(Op::kLe, "2024-02-01") == V{"2024-01-05", "2024-01-10", "2024-02-01"});
  CHECK(run(Op::kGt, "2024-02-15") == V{"2025-01-01", "a", "b"});
  CHECK(run(Op::kGe, "2024-02-15") == V{"2024-02-15", "2025-01-01", "a", "b"});
  CHECK(run(Op::kBetween, "2024-01-10", "2024-02-15") ==
        V{"2024-01-10", "2024-02-01", "2024-02-15"});
  CHECK(run(Op::kBeginsWith, "2024-01") == V{"2024-01-05", "2024-01-10"});
  CHECK(run(Op::kBeginsWith, "2024") == V{"2024-01-05", "2024-01-10", "2024-02-01", "2024-02-15"});
  CHECK(run(Op::kBeginsWith, "2026") == V{});

  SECTION("BETWEEN with reversed bounds is an error") {
    QueryRequest q;
    q.table = "events";
    q.hash_value = S("user");
    q.range.op = Op::kBetween;
    q.range.value = S("b");
    q.range.value2 = S("a");
    CHECK(f.region->Query(q).status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("a condition value of the wrong type is an error") {
    QueryRequest q;
    q.table = "events";
    q.hash_value = S("user");
    q.range.op = Op::kEq;
    q.range.value = N("1");
    CHECK(f.region->Query(q).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("begins_with handles prefixes ending in 0xff bytes", "[table_engine]") {
  Fixture f;
  CreateTableRequest req;
  req.table = "blobs";
  req.hash_key = {"pk", ValueType::kS};
  req.range_key = KeyDef{"sk", ValueType::kB};
  Ok(f.region->CreateTable(req));
  for (const std::string sk : {"\x01", "\xff", "\xff\x01", "\xff\xff", "\xff\xff\xff"}) {
    f.Put("blobs", {{"pk", S("p")}, {"sk", AttributeValue::B(sk)}});
  }
  QueryRequest q;
  q.table = "blobs";
  q.hash_value = S("p");
  q.range.op = RangeCondition::Op::kBeginsWith;
  q.range.value = AttributeValue::B("\xff\xff");
  CHECK(f.QueryKeys(q, "sk") == std::vector<std::string>{"\xff\xff", "\xff\xff\xff"});
  q.range.value = AttributeValue::B("\xff");
  CHECK(f.QueryKeys(q, "sk").size() == 4);
}

// Pages through a query or scan; returns every item's "id/n" and the number of pages.
template <typename Request, typename Call>
std::vector<std::string> AllPages(Request req, Call call, int* pages) {
  std::vector<std::string> seen;
  *pages = 0;
  for (;;) {
    Page page = Ok(call(req));
    ++*pages;
    REQUIRE(*pages < 100);
    CHECK(static_cast<int>(page.items.size()) <= req.limit);
    for (const auto& item : page.items) {
      seen.push_back(item.at("id").scalar() + "/" + item.at("n").scalar());
    }
    if (page.last_evaluated_key.empty()) break;
    CHECK(page.last_evaluated_key.size() == 2);  // only the key attributes
    req.exclusive_start_key = page.last_evaluated_key;
  }
  return seen;
}

TEST_CASE("Limit with last_evaluated_key pages through every item exactly once", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  std::vector<std::string> a_keys;
  std::set<std::string> all;
  for (int i = 0; i < 23; ++i) {
    std::string n = std::to_string(i * 7 % 23) + (i % 3 == 0 ? ".5" : "");
    f.Put("orders", {{"id", S("a")}, {"n", N(n)}, {"payload", S(std::string(i, 'x'))}});
    all.insert("a/" + n);
  }
  for (int i = 0; i < 9; ++i) {
    std::string id = "h" + std::to_string(i);
    f.Put("orders", {{"id", S(id)}, {"n", N(std::to_string(-i))}});
    all.insert(id + "/" + std::to_string(-i));
  }
  REQUIRE(all.size() == 32);

  for (int limit : {1, 2, 5, 7, 23, 100}) {
    INFO("limit " << limit);
    QueryRequest q;
    q.table = "orders";
    q.hash_value = S("a");
    q.limit = limit;
    int pages = 0;
    auto forward = AllPages(
        q, [&](const QueryRequest& r) { return f.region->Query(r); }, &pages);
    CHECK(forward.size() == 23);
    CHECK(std::set<std::string>(forward.begin(), forward.end()).size() == 23);
    CHECK(pages >= (23 + limit - 1) / limit);
    q.backward = true;
    auto backward = AllPages(
        q, [&](const QueryRequest& r) { return f.region->Query(r); }, &pages);
    CHECK(std::vector<std::string>(backward.rbegin(), backward.rend()) == forward);

    ScanRequest s;
    s.table = "orders";
    s.limit = limit;
    auto scanned = AllPages(
        s, [&](const ScanRequest& r) { return f.region->Scan(r); }, &pages);
    CHECK(scanned.size() == all.size());
    CHECK(std::set<std::string>(scanned.begin(), scanned.end()) == all);
  }

  SECTION("pagination respects a range condition") {
    QueryRequest q;
    q.table = "orders";
    q.hash_value = S("a");
    q.range.op = RangeCondition::Op::kLt;
    q.range.value = N("10");
    q.limit = 3;
    int pages = 0;
    auto below = AllPages(
        q, [&](const QueryRequest& r) { return f.region->Query(r); }, &pages);
    int expected = 0;
    for (const auto& k : all) {
      if (k.rfind("a/", 0) == 0 && CompareNumbers(k.substr(2), "10") < 0) ++expected;
    }
    CHECK(static_cast<int>(below.size()) == expected);
    q.backward = true;
    auto below_back = AllPages(
        q, [&](const QueryRequest& r) { return f.region->Query(r); }, &pages);
    CHECK(std::vector<std::string>(below_back.rbegin(), below_back.rend()) == below);
  }
}

TEST_CASE("UpdateItem sets and removes attributes", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("o1")}, {"n", N("1")}};
  f.Put("orders", {{"id", S("o1")}, {"n", N("1")}, {"status", S("new")}, {"tmp", S("x")}});
  UpdateRequest u;
  u.table = "orders";
  u.key = key;
  u.set = {{"status", S("shipped")}, {"carrier", S("ups")}};
  u.remove = {"tmp"};
  WriteResult w = Ok(f.region->Write(u));
  REQUIRE(w.new_item.has_value());
  Item expected{{"id", S("o1")}, {"n", N("1")}, {"status", S("shipped")}, {"carrier", S("ups")}};
  CHECK(*w.new_item == expected);
  CHECK(f.Get("orders", key) == std::optional<Item>(expected));
}

TEST_CASE("UpdateItem creates the item when it is absent", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  UpdateRequest u;
  u.table = "orders";
  u.key = {{"id", S("new")}, {"n", N("7")}};
  u.set = {{"count", N("1")}};
  Ok(f.region->Write(u));
  CHECK(f.Get("orders", u.key) ==
        std::optional<Item>(Item{{"id", S("new")}, {"n", N("7")}, {"count", N("1")}}));
}

TEST_CASE("UpdateItem refuses to change key attributes and writes nothing", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("o1")}, {"n", N("1")}};
  f.Put("orders", {{"id", S("o1")}, {"n", N("1")}, {"v", S("keep")}});
  int64_t head = f.HeadSeq();
  UpdateRequest u;
  u.table = "orders";
  u.key = key;
  u.set = {{"n", N("2")}, {"v", S("changed")}};
  auto r = f.region->Write(u);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()).find("\"n\"") != std::string::npos);
  u.set = {{"v", S("changed")}};
  u.remove = {"id"};
  CHECK(f.region->Write(u).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.Get("orders", key)->at("v") == S("keep"));
  CHECK(f.HeadSeq() == head);
}

TEST_CASE("conditional writes succeed only when the condition holds", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("o1")}, {"n", N("1")}};
  using Op = Condition::Op;
  auto cond = [](const std::string& attr, Op op, AttributeValue v = {}) {
    Condition c;
    c.clauses.push_back({attr, op, std::move(v)});
    return c;
  };
  auto put = [&](const std::string& v, Condition c) {
    PutRequest req;
    req.table = "orders";
    req.item = {{"id", S("o1")}, {"n", N("1")}, {"v", S(v)}};
    req.condition = std::move(c);
    return f.region->Write(req);
  };
  auto current_v = [&]() -> std::string {
    auto item = f.Get("orders", key);
    return item ? item->at("v").scalar() : "<absent>";
  };

  // Create-only-if-absent succeeds once.
  REQUIRE(put("first", cond("id", Op::kNotExists)).ok());
  int64_t head = f.HeadSeq();
  auto again = put("second", cond("id", Op::kNotExists));
  CHECK(again.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(again.status().message()).find("conditional request failed") !=
        std::string::npos);
  CHECK(current_v() == "first");
  CHECK(f.HeadSeq() == head);  // nothing logged, so nothing replicated

  CHECK(put("third", cond("missing", Op::kExists)).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(put("third", cond("v", Op::kEquals, S("nope"))).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(put("third", cond("v", Op::kEquals, N("1"))).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // equal text, different type
  CHECK(current_v() == "first");
  CHECK(f.HeadSeq() == head);

  REQUIRE(put("third", cond("v", Op::kEquals, S("first"))).ok());
  CHECK(current_v() == "third");
  REQUIRE(put("fourth", cond("v", Op::kExists)).ok());
  CHECK(current_v() == "fourth");

  SECTION("every clause must hold") {
    Condition both = cond("v", Op::kEquals, S("fourth"));
    both.clauses.push_back({"other", Op::kExists, {}});
    CHECK(put("fifth", both).status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(current_v() == "fourth");
  }
  SECTION("conditions guard updates and deletes too") {
    UpdateRequest u;
    u.table = "orders";
    u.key = key;
    u.set = {{"v", S("updated")}};
    u.condition = cond("v", Op::kEquals, S("stale"));
    CHECK(f.region->Write(u).status().code() == absl::StatusCode::kFailedPrecondition);
    DeleteRequest d;
    d.table = "orders";
    d.key = key;
    d.condition = cond("v", Op::kNotExists);
    CHECK(f.region->Write(d).status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(current_v() == "fourth");
    d.condition = cond("v", Op::kEquals, S("fourth"));
    REQUIRE(f.region->Write(d).ok());
    CHECK(current_v() == "<absent>");
  }
}

TEST_CASE("DeleteItem removes the item and can return it", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("o1")}, {"n", N("1")}};
  Item item{{"id", S("o1")}, {"n", N("1")}, {"v", S("x")}};
  f.Put("orders", item);
  DeleteRequest d;
  d.table = "orders";
  d.key = key;
  d.return_old = true;
  WriteResult w = Ok(f.region->Write(d));
  CHECK(w.old_item == std::optional<Item>(item));
  CHECK_FALSE(f.Get("orders", key).has_value());
  CHECK(Ok(f.region->DescribeTable("orders")).item_count == 0);
  // Deleting an absent item succeeds and logs nothing.
  int64_t head = f.HeadSeq();
  Ok(f.region->Write(d));
  CHECK(f.HeadSeq() == head);
}

TEST_CASE("a missing or wrong-typed key attribute is rejected and nothing is written",
          "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  int64_t head = f.HeadSeq();
  auto put = [&](Item item) {
    PutRequest req;
    req.table = "orders";
    req.item = std::move(item);
    return f.region->Write(req).status();
  };
  absl::Status missing_range = put({{"id", S("o1")}, {"v", S("x")}});
  CHECK(missing_range.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(missing_range.message()).find("\"n\"") != std::string::npos);
  absl::Status missing_hash = put({{"n", N("1")}});
  CHECK(missing_hash.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(missing_hash.message()).find("\"id\"") != std::string::npos);
  absl::Status wrong_type = put({{"id", S("o1")}, {"n", S("1")}});
  CHECK(wrong_type.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(wrong_type.message()).find("must be of type N") != std::string::npos);
  CHECK(put({{"id", N("1")}, {"n", N("1")}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(put({{"id", S("")}, {"n", N("1")}}).code() == absl::StatusCode::kInvalidArgument);

  CHECK(f.region->GetItem("orders", {{"id", S("o1")}}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(f.region->GetItem("orders", {{"id", S("o1")}, {"n", N("1")}, {"x", S("y")}})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  UpdateRequest u;
  u.table = "orders";
  u.key = {{"id", S("o1")}, {"n", S("1")}};
  u.set = {{"v", S("x")}};
  CHECK(f.region->Write(u).status().code() == absl::StatusCode::kInvalidArgument);
  DeleteRequest d;
  d.table = "orders";
  d.key = {{"id", S("o1")}};
  CHECK(f.region->Write(d).status().code() == absl::StatusCode::kInvalidArgument);

  CHECK(f.HeadSeq() == head);
  CHECK(Ok(f.region->DescribeTable("orders")).item_count == 0);
}

TEST_CASE("requests for an unknown table fail with NotFound", "[table_engine]") {
  Fixture f;
  PutRequest p;
  p.table = "nosuch";
  p.item = {{"id", S("1")}};
  CHECK(f.region->Write(p).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.region->GetItem("nosuch", {{"id", S("1")}}).status().code() ==
        absl::StatusCode::kNotFound);
  QueryRequest q;
  q.table = "nosuch";
  q.hash_value = S("1");
  CHECK(f.region->Query(q).status().code() == absl::StatusCode::kNotFound);
  ScanRequest s;
  s.table = "nosuch";
  CHECK(f.region->Scan(s).status().code() == absl::StatusCode::kNotFound);
  auto describe = f.region->DescribeTable("nosuch");
  CHECK(describe.status().code() == absl::StatusCode::kNotFound);
  CHECK(std::string(describe.status().message()).find("nosuch") != std::string::npos);
  CHECK(f.region->DeleteTable("nosuch").status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("creating a table that exists fails with AlreadyExists", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"other", ValueType::kS};
  auto again = f.region->CreateTable(req);
  CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(Ok(f.region->DescribeTable("orders")).spec.hash_key.name == "id");
}

TEST_CASE("table creation validates names and replicas", "[table_engine]") {
  Fixture f;
  int64_t head = f.HeadSeq();
  CreateTableRequest req;
  req.table = "orders";
  req.hash_key = {"id", ValueType::kS};
  req.replicas = {"us-east-1", "mars-north-1"};
  auto unknown = f.region->CreateTable(req);
  CHECK(unknown.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(unknown.status().message()).find("mars-north-1") != std::string::npos);
  req.replicas = {"us-west-2"};  // must include the region called
  CHECK(f.region->CreateTable(req).status().code() == absl::StatusCode::kInvalidArgument);
  req.replicas = {"us-east-1", "us-east-1"};
  CHECK(f.region->CreateTable(req).status().code() == absl::StatusCode::kInvalidArgument);
  req.replicas = {};
  req.table = "";
  CHECK(f.region->CreateTable(req).status().code() == absl::StatusCode::kInvalidArgument);
  req.table = "bad name!";
  CHECK(f.region->CreateTable(req).status().code() == absl::StatusCode::kInvalidArgument);
  req.table = "orders";
  req.range_key = KeyDef{"id", ValueType::kN};  // same name as the hash key
  CHECK(f.region->CreateTable(req).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.region->ListTables().empty());
  CHECK(f.HeadSeq() == head);

  req.range_key.reset();
  req.replicas = {"us-west-2", "us-east-1"};
  TableInfo info = Ok(f.region->CreateTable(req));
  CHECK(info.spec.replicas == std::vector<std::string>{"us-east-1", "us-west-2"});
}

TEST_CASE("a deleted table is gone, and can be created again empty", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("o1")}, {"n", N("1")}};
  f.Put("orders", {{"id", S("o1")}, {"n", N("1")}});
  TableInfo deleted = Ok(f.region->DeleteTable("orders"));
  CHECK(deleted.item_count == 1);
  CHECK(f.region->DescribeTable("orders").status().code() == absl::StatusCode::kNotFound);
  CHECK(f.region->GetItem("orders", key).status().code() == absl::StatusCode::kNotFound);
  CHECK(f.region->ListTables().empty());
  CHECK(f.region->DeleteTable("orders").status().code() == absl::StatusCode::kNotFound);

  f.clock.Advance(1000);
  f.CreateOrders();
  CHECK_FALSE(f.Get("orders", key).has_value());
  CHECK(Ok(f.region->DescribeTable("orders")).item_count == 0);
}

TEST_CASE("an item over 400 KB is rejected and not written", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  int64_t head = f.HeadSeq();
  PutRequest req;
  req.table = "orders";
  req.item = {{"id", S("big")}, {"n", N("1")}, {"blob", S(std::string(400 * 1024, 'x'))}};
  auto r = f.region->Write(req);
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(r.status().message()).find("400 KB") != std::string::npos);
  CHECK_FALSE(f.Get("orders", {{"id", S("big")}, {"n", N("1")}}).has_value());
  CHECK(f.HeadSeq() == head);

  // Just under the limit is fine; growing it past the limit with an update is not.
  req.item["blob"] = S(std::string(400 * 1024 - 100, 'x'));
  Ok(f.region->Write(req));
  UpdateRequest u;
  u.table = "orders";
  u.key = {{"id", S("big")}, {"n", N("1")}};
  u.set = {{"more", S(std::string(200, 'y'))}};
  CHECK(f.region->Write(u).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.Get("orders", u.key)->count("more") == 0);
}

// A value with `levels` maps and lists nested inside each other around a string.
AttributeValue Nested(int levels) {
  AttributeValue v = S("leaf");
  for (int i = 0; i < levels; ++i) {
    v = (i % 2) ? AttributeValue::M({{"m", v}}) : AttributeValue::L({v});
  }
  return v;
}

TEST_CASE("items nested up to 32 levels are accepted, deeper ones are rejected", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("deep")}, {"n", N("1")}};
  Item ok = key;
  ok["doc"] = Nested(32);
  f.Put("orders", ok);
  CHECK(f.Get("orders", key) == std::optional<Item>(ok));

  int64_t head = f.HeadSeq();
  for (int levels : {33, 70, 200}) {
    INFO(levels << " levels");
    PutRequest req;
    req.table = "orders";
    req.item = key;
    req.item["doc"] = Nested(levels);
    auto r = f.region->Write(req);
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(r.status().message()).find("32") != std::string::npos);
    UpdateRequest u;
    u.table = "orders";
    u.key = key;
    u.set = {{"doc", Nested(levels)}};
    CHECK(f.region->Write(u).status().code() == absl::StatusCode::kInvalidArgument);
  }
  // Nothing was written, and what was there is still readable.
  CHECK(f.HeadSeq() == head);
  CHECK(f.Get("orders", key) == std::optional<Item>(ok));
}

TEST_CASE("local writes get increasing stamps even when the clock stands still", "[table_engine]") {
  Fixture f;
  f.CreateOrders();
  PutRequest req;
  req.table = "orders";
  req.item = {{"id", S("o1")}, {"n", N("1")}};
  Stamp previous = Ok(f.region->Write(req)).stamp;
  for (int i = 0; i < 5; ++i) {
    Stamp next = Ok(f.region->Write(req)).stamp;
    CHECK(previous < next);
    previous = next;
  }
  f.clock.Advance(-10'000'000);  // the clock steps back
  CHECK(previous < Ok(f.region->Write(req)).stamp);
}

TEST_CASE("a read-modify-write sees the local item and writes nothing when it fails", "[engine]") {
  Fixture f;
  f.CreateOrders();
  Item key{{"id", S("a")}, {"n", N("1")}};
  auto add_one = [](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
    Item next =
        current ? *current : Item{{"id", AttributeValue::S("a")}, {"n", AttributeValue::N("1")}};
    int count = next.count("count") ? std::stoi(next.at("count").scalar()) : 0;
    next["count"] = AttributeValue::N(std::to_string(count + 1));
    return std::optional<Item>(next);
  };
  f.clock.Advance(1000);
  WriteResult first = Ok(f.region->Write(Region::MutateRequest{"orders", key, add_one}));
  CHECK_FALSE(first.old_item.has_value());
  f.clock.Advance(1000);
  WriteResult second = Ok(f.region->Write(Region::MutateRequest{"orders", key, add_one}));
  REQUIRE(second.old_item.has_value());
  CHECK(second.old_item->at("count").scalar() == "1");
  CHECK(f.Get("orders", key)->at("count").scalar() == "2");

  auto refuse = [](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
    return absl::FailedPreconditionError("The conditional request failed");
  };
  CHECK(absl::IsFailedPrecondition(
      f.region->Write(Region::MutateRequest{"orders", key, refuse}).status()));
  auto rekey = [](const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
    Item next = *current;
    next["n"] = AttributeValue::N("2");
    return std::optional<Item>(next);
  };
  CHECK(absl::IsInvalidArgument(
      f.region->Write(Region::MutateRequest{"orders", key, rekey}).status()));
  CHECK(f.Get("orders", key)->at("count").scalar() == "2");
  auto remove = [](const std::optional<Item>&) -> absl::StatusOr<std::optional<Item>> {
    return std::optional<Item>();
  };
  f.clock.Advance(1000);
  Ok(f.region->Write(Region::MutateRequest{"orders", key, remove}));
  CHECK_FALSE(f.Get("orders", key).has_value());
}

}  // namespace
}  // namespace gtsim
