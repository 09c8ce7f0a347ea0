#include "region/http/dynamodb_endpoint.h"

#include <deque>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "model/json_limits.h"
#include "nlohmann/json.hpp"
#include "region/http/ddb_operations.h"
#include "region/http/ddb_request.h"
#include "region/http/http_server.h"
#include "region/http/kms_keys.h"
#include "region/http/metrics_endpoint.h"

// The HTTP side of the endpoint: the event loop, the worker pool, and the hand-off of each
// request to its operation (region/http/ddb_operations.h).

namespace gtsim {
namespace {

using json = nlohmann::json;
using ddb::Dump;
using ddb::ErrorFor;
using ddb::Operations;
using ddb::Serialization;
using ddb::Typed;
using ddb::Validation;

constexpr absl::string_view kTargetPrefix = "DynamoDB_20120810.";
constexpr absl::string_view kStreamsTargetPrefix = "DynamoDBStreams_20120810.";
constexpr absl::string_view kKmsTargetPrefix = "TrentService.";

}  // namespace

// Runs the operations that are neither single-item writes nor GetItem, off the event loop.
struct DynamoDbEndpoint::Workers {
  explicit Workers(int n) {
    for (int i = 0; i < n; ++i) threads.emplace_back([this] { Work(); });
  }
  // Joins the threads; tasks not started by then are dropped (their requests go unanswered:
  // the server has closed their connections already).
  ~Workers() {
    {
      absl::MutexLock l(&mu);
      stopping = true;
    }
    for (auto& t : threads) t.join();
  }
  void Add(std::function<void()> task) {
    absl::MutexLock l(&mu);
    tasks.push_back(std::move(task));
  }
  void Work() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock l(&mu);
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return stopping || !tasks.empty(); };
        mu.Await(absl::Condition(&ready));
        if (stopping) return;
        task = std::move(tasks.front());
        tasks.pop_front();
      }
      task();
    }
  }
  absl::Mutex mu;
  std::deque<std::function<void()>> tasks ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::vector<std::thread> threads;
};

namespace {

// The single-item writes an event-loop thread has read and validated in its current batch of
// events, not yet submitted.
thread_local std::vector<Region::AsyncWrite> t_loop_writes;

bool IsSingleItemWrite(absl::string_view op) {
  return op == "PutItem" || op == "UpdateItem" || op == "DeleteItem";
}

// The request body as a JSON object, or DynamoDB's SerializationException.
absl::StatusOr<json> ParseBody(const std::string& body) {
  // Before the parser builds a tree: 10 MB of "[[[[" would cost ~250 MB. DynamoDB's answer to
  // an over-deep item (the same text as ddb_items' value check).
  if (!CheckJsonShape(body, kMaxRequestJsonDepth).ok()) {
    return Validation("Nesting Levels have exceeded supported limits");
  }
  json req = json::parse(body.empty() ? std::string("{}") : body, nullptr,
                         /*allow_exceptions=*/false);
  if (req.is_discarded() || !req.is_object()) {
    return Serialization(
        "Start of structure or map found where not expected, or the request body is not valid "
        "JSON");
  }
  return req;
}

DynamoDbEndpoint::Reply ReplyOf(const absl::StatusOr<json>& out) {
  if (!out.ok()) return ErrorFor(out.status());
  return {200, Dump(*out)};
}

}  // namespace

DynamoDbEndpoint::DynamoDbEndpoint(Region* region) : region_(region) {}

DynamoDbEndpoint::~DynamoDbEndpoint() { Stop(); }

DynamoDbEndpoint::Reply DynamoDbEndpoint::Handle(const std::string& target, const std::string& body,
                                                 const std::string& host) const {
  try {
    if (absl::StartsWith(target, kKmsTargetPrefix)) {
      std::vector<std::string> keys;
      for (const TableSpec& spec : region_->Tables()) {
        auto rs = spec.replica_settings.find(region_->name());
        if (rs != spec.replica_settings.end() && !rs->second.kms_key.empty()) {
          keys.push_back(rs->second.kms_key);
        }
      }
      return ddb::KmsOperation(target.substr(kKmsTargetPrefix.size()), body, region_->name(), keys);
    }
    bool streams = absl::StartsWith(target, kStreamsTargetPrefix);
    if (!streams && !absl::StartsWith(target, kTargetPrefix)) {
      return ErrorFor(Typed(absl::StatusCode::kUnimplemented, "UnknownOperationException",
                            target.empty() ? "Missing the X-Amz-Target header"
                                           : absl::StrCat("Unknown operation: ", target)));
    }
    std::string op = target.substr(streams ? kStreamsTargetPrefix.size() : kTargetPrefix.size());
    absl::StatusOr<json> req = ParseBody(body);
    if (!req.ok()) return ErrorFor(req.status());
    Operations ops(region_, tokens_.get());
    return ReplyOf(streams ? ops.RunStreams(op, *req) : ops.Run(op, *req, host));
  } catch (const std::exception& e) {
    return ErrorFor(absl::InternalError(absl::StrCat("internal error: ", e.what())));
  } catch (...) {
    return ErrorFor(absl::InternalError("internal error"));
  }
}

void DynamoDbEndpoint::CommitLoopWrites() const {
  if (!t_loop_writes.empty()) region_->WriteLed(std::exchange(t_loop_writes, {}));
}

std::optional<Region::AsyncWrite> DynamoDbEndpoint::BeginWrite(
    absl::string_view op, const std::string& body, std::function<void(Reply)> answer) const {
  absl::StatusOr<Operations::PreparedWrite> w;
  try {
    absl::StatusOr<json> req = ParseBody(body);
    if (!req.ok()) {
      answer(ErrorFor(req.status()));
      return std::nullopt;
    }
    w = Operations(region_, tokens_.get()).PrepareWrite(std::string(op), *req);
  } catch (const std::exception& e) {
    w = absl::InternalError(absl::StrCat("internal error: ", e.what()));
  }
  if (!w.ok()) {
    answer(ErrorFor(w.status()));
    return std::nullopt;
  }
  // Both closures run on the thread that leads the group commit (the loop's, or the region's
  // committer thread): nothing may throw out of them.
  Region::MutateRequest m;
  m.table = std::move(w->table);
  m.key = std::move(w->key);
  m.fn = [fn = std::move(w->fn)](
             const std::optional<Item>& current) -> absl::StatusOr<std::optional<Item>> {
    try {
      return fn(current);
    } catch (const std::exception& e) {
      return absl::InternalError(absl::StrCat("internal error: ", e.what()));
    }
  };
  Region::WriteDone done = [shape = std::move(w->answer),
                            answer = std::move(answer)](absl::StatusOr<WriteResult> r) {
    Reply reply;
    try {
      reply = r.ok() ? ReplyOf(shape(*r)) : ErrorFor(r.status());
    } catch (const std::exception& e) {
      reply = ErrorFor(absl::InternalError(absl::StrCat("internal error: ", e.what())));
    }
    answer(std::move(reply));
  };
  return Region::AsyncWrite{std::move(m), std::move(done)};
}

absl::StatusOr<int> DynamoDbEndpoint::Start(const std::string& address) {
  absl::MutexLock lock(&mu_);
  if (server_) return absl::FailedPreconditionError("the DynamoDB endpoint is already started");
  size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(absl::string_view(address).substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the DynamoDB endpoint address \"", address, "\" must be HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  auto workers = std::make_unique<Workers>(kWorkerThreads);
  Workers* pool = workers.get();
  auto server = std::make_unique<HttpServer>(
      [this, pool](HttpServer::Request req, HttpServer::Responder respond) {
        if (req.method == "GET" && req.target == "/metrics") {  // metrics_endpoint.h
          return pool->Add([this, respond] { respond(MetricsResponse(region_)); });
        }
        if (req.target != "/" || (req.method != "GET" && req.method != "POST")) {
          HttpServer::Response res;
          res.status = 404;
          res.body = "Not Found";
          return respond(std::move(res));
        }
        if (req.method == "GET") {
          HttpServer::Response res;
          res.body = absl::StrCat("healthy: dynamodb.", region_->name(), ".amazonaws.com ");
          return respond(std::move(res));
        }
        auto answer = [respond](Reply reply) {
          HttpServer::Response res;
          res.status = reply.http_status;
          res.content_type = std::move(reply.content_type);
          res.headers.emplace_back("x-amzn-RequestId", "gtsim");
          res.body = std::move(reply.body);
          respond(std::move(res));
        };
        const std::string& target = req.Header("x-amz-target");
        absl::string_view op = target;
        // A write that may answer ItemCollectionMetrics reads its item collection after the
        // commit, so it runs as the other operations do (below), not in the loop's batch.
        if (absl::ConsumePrefix(&op, kTargetPrefix) && IsSingleItemWrite(op) &&
            !absl::StrContains(req.body, "ReturnItemCollectionMetrics")) {
          // Validated here; committed with the rest of this loop's batch (after_batch below).
          std::optional<Region::AsyncWrite> w = BeginWrite(op, req.body, std::move(answer));
          if (w) t_loop_writes.push_back(*std::move(w));
          return;
        }
        // Anything else runs after the writes this loop has read so far: a pipelined read
        // sees the writes sent before it on its connection.
        CommitLoopWrites();
        if (op == "GetItem") {  // one short read under the region's lock: on the loop thread
          return answer(Handle(target, req.body, req.Header("host")));
        }
        pool->Add([this, req = std::move(req), answer = std::move(answer)] {
          answer(Handle(req.Header("x-amz-target"), req.body, req.Header("host")));
        });
      },
      kEventLoops,
      // Once a loop has read every ready connection: its writes, one group commit, led by the
      // loop thread itself (Region::WriteLed), so no thread hands anything to another.
      [this] { CommitLoopWrites(); });
  absl::StatusOr<int> bound = server->Start(host, port);
  if (!bound.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address,
                     " (is the port in use by another process?): ", bound.status().message()));
  }
  server_ = std::move(server);
  workers_ = std::move(workers);
  return *bound;
}

void DynamoDbEndpoint::Stop() {
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<Workers> workers;
  {
    absl::MutexLock lock(&mu_);
    server = std::move(server_);
    workers = std::move(workers_);
  }
  // The server first: once it has stopped, no handler adds work to the pool.
  if (server) server->Stop();
  workers.reset();
}

}  // namespace gtsim
