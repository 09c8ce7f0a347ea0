// Tests of the event-driven HTTP/1.1 server (region/http/http_server.h) on its own, through raw
// sockets on 127.0.0.1, so every byte on the wire is the test's choice.
#include "region/http/http_server.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "tests/raw_http_client.h"

namespace gtsim {
namespace {

using RawHttpClient::Client;
using RawHttpClient::Reply;

std::string Post(const std::string& target, const std::string& body,
                 const std::string& extra = "") {
  return absl::StrCat("POST ", target, " HTTP/1.1\r\nHost: x\r\nContent-Length: ", body.size(),
                      "\r\n", extra, "\r\n", body);
}

// A server whose handler echoes "<target>:<body>", except for targets starting with "/later":
// those are parked, to be answered by the test.
struct Fixture {
  absl::Mutex mu;
  std::vector<HttpServer::Responder> parked;
  std::atomic<int> handled{0};
  HttpServer server{[this](HttpServer::Request req, HttpServer::Responder respond) {
    ++handled;
    if (req.target.rfind("/later", 0) == 0) {
      absl::MutexLock l(&mu);
      parked.push_back(respond);
      return;
    }
    HttpServer::Response res;
    res.body = req.target + ":" + req.body;
    respond(std::move(res));
  }};
  int port = 0;
  Fixture() {
    auto bound = server.Start("127.0.0.1", 0);
    REQUIRE(bound.ok());
    port = *bound;
  }
  // Waits until `n` requests are parked.
  void AwaitParked(size_t n) {
    absl::MutexLock l(&mu);
    auto enough = [&] { return parked.size() >= n; };
    mu.Await(absl::Condition(&enough));
  }
  HttpServer::Responder Parked(size_t i) {
    absl::MutexLock l(&mu);
    return parked.at(i);
  }
};

HttpServer::Response Body(const std::string& body) {
  HttpServer::Response res;
  res.body = body;
  return res;
}

TEST_CASE("keep-alive: several requests on one connection", "[http_server]") {
  Fixture f;
  Client c(f.port);
  for (int i = 0; i < 3; ++i) {
    c.Send(Post("/", absl::StrCat("n", i)));
    Reply r = c.Read();
    CHECK(r.status == 200);
    CHECK(r.body == absl::StrCat("/:n", i));
    CHECK(r.head.find("Connection: keep-alive") != std::string::npos);
  }
  // HTTP/1.0 closes unless asked to keep alive.
  c.Send("GET /old HTTP/1.0\r\n\r\n");
  CHECK(c.Read().body == "/old:");
  CHECK(c.Closed());
}

TEST_CASE("pipelined requests are answered in order, also when answered out of order",
          "[http_server]") {
  Fixture f;
  Client c(f.port);
  c.Send(Post("/a", "1") + Post("/later", "2") + Post("/c", "3"));
  f.AwaitParked(1);
  // The deferred answer comes from another thread, after "/c" was answered by the handler.
  std::thread([&] { f.Parked(0)(Body("deferred")); }).join();
  CHECK(c.Read().body == "/a:1");
  CHECK(c.Read().body == "deferred");
  CHECK(c.Read().body == "/c:3");
  // Answering twice is ignored.
  f.Parked(0)(Body("again"));
  c.Send(Post("/d", "4"));
  CHECK(c.Read().body == "/d:4");
}

TEST_CASE("a body split across many small writes", "[http_server]") {
  Fixture f;
  Client c(f.port);
  std::string body;
  for (int i = 0; i < 3000; ++i) body += static_cast<char>('a' + i % 26);
  std::string request = Post("/split", body);
  for (size_t at = 0; at < request.size(); at += 7) {
    c.Send(request.substr(at, 7));
    if (at % 700 == 0) std::this_thread::yield();
  }
  Reply r = c.Read();
  CHECK(r.status == 200);
  CHECK(r.body == "/split:" + body);
}

TEST_CASE("an oversized body answers 413 and closes", "[http_server]") {
  Fixture f;
  Client c(f.port);
  c.Send(absl::StrCat("POST / HTTP/1.1\r\nContent-Length: ", HttpServer::kMaxBody + 1,
                      "\r\n\r\nabc"));
  Reply r = c.Read();
  CHECK(r.status == 413);
  CHECK(r.head.find("Connection: close") != std::string::npos);
  CHECK(c.Closed());
  CHECK(f.handled == 0);
}

TEST_CASE("malformed requests answer 400 and close; chunked bodies 411; big headers 431",
          "[http_server]") {
  Fixture f;
  for (const std::string bad : {"GARBAGE\r\n\r\n", "GET / HTTP/2.0\r\n\r\n",
                                "GET  HTTP/1.1\r\n\r\n", "GET / HTTP/1.1\r\nNoColon\r\n\r\n",
                                "POST / HTTP/1.1\r\nContent-Length: x1\r\n\r\n"}) {
    INFO(bad);
    Client c(f.port);
    c.Send(Post("/first", "ok") + bad + Post("/never", "x"));
    CHECK(c.Read().body == "/first:ok");  // what came before is still answered
    Reply r = c.Read();
    CHECK(r.status == 400);
    CHECK(c.Closed());
  }
  {
    Client c(f.port);
    c.Send("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    CHECK(c.Read().status == 411);
    CHECK(c.Closed());
  }
  {
    Client c(f.port);
    c.Send("GET / HTTP/1.1\r\nX-Big: " + std::string(HttpServer::kMaxHeader, 'h') + "\r\n\r\n");
    CHECK(c.Read().status == 431);
    CHECK(c.Closed());
  }
  CHECK(f.handled == 5);  // only the "/first" requests
}

TEST_CASE("a duplicate Content-Length, or one with Transfer-Encoding, answers 400 and closes",
          "[http_server]") {
  Fixture f;
  // RFC 7230 3.3.2/3.3.3: differing lengths must be refused; equal ones are refused too (simpler
  // and safer: a proxy in front might pick the other one). Content-Length with Transfer-Encoding
  // is the classic request-smuggling shape. Content-Length is 1*DIGIT: no sign, no list.
  for (const std::string bad :
       {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nok",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n"
        "\r\nok",
        "POST / HTTP/1.1\r\nContent-Length: +2\r\n\r\nok",
        "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\nok"}) {
    INFO(bad);
    Client c(f.port);
    c.Send(Post("/first", "ok") + bad + Post("/never", "x"));
    CHECK(c.Read().body == "/first:ok");
    Reply r = c.Read();
    CHECK(r.status == 400);
    CHECK(r.head.find("Connection: close") != std::string::npos);
    CHECK(c.Closed());
  }
  CHECK(f.handled == 5);  // only the "/first" requests
}

TEST_CASE("Connection: close is honoured", "[http_server]") {
  Fixture f;
  Client c(f.port);
  c.Send(Post("/bye", "x", "Connection: close\r\n") + Post("/never", "y"));
  Reply r = c.Read();
  CHECK(r.body == "/bye:x");
  CHECK(r.head.find("Connection: close") != std::string::npos);
  CHECK(c.Closed());
  CHECK(f.handled == 1);
}

TEST_CASE("a client that closes before its deferred answer: the answer is dropped",
          "[http_server]") {
  Fixture f;
  {
    Client c(f.port);
    c.Send(Post("/later", "1"));
    f.AwaitParked(1);
  }
  // The connection is gone (or going): answering it must be harmless, from any thread.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::thread([&] { f.Parked(0)(Body("late")); }).join();
  Client c(f.port);
  c.Send(Post("/next", "2"));
  CHECK(c.Read().body == "/next:2");
}

TEST_CASE("Stop closes open connections; answers after Stop are no-ops", "[http_server]") {
  auto f = std::make_unique<Fixture>();
  Client idle(f->port);
  Client waiting(f->port);
  waiting.Send(Post("/later", "1"));
  f->AwaitParked(1);
  idle.Send(Post("/x", "1"));
  CHECK(idle.Read().status == 200);
  f->server.Stop();
  CHECK(idle.Closed());
  CHECK(waiting.Closed());
  const int handled = f->handled;
  f->Parked(0)(Body("after stop"));  // from this (non-loop) thread, after Stop
  HttpServer::Responder kept = f->Parked(0);
  f->server.Stop();  // idempotent
  f.reset();         // the server is gone: a Responder copy outlives it safely
  kept(Body("after destruction"));
  CHECK(handled == 2);
}

TEST_CASE("a busy port is an error", "[http_server]") {
  Fixture f;
  HttpServer other([](HttpServer::Request, HttpServer::Responder) {});
  auto bound = other.Start("127.0.0.1", f.port);
  CHECK(absl::IsUnavailable(bound.status()));
}

TEST_CASE("two event loops serve many connections", "[http_server]") {
  HttpServer server(
      [](HttpServer::Request req, HttpServer::Responder respond) {
        // Answered from another thread, as the region's committer does.
        std::thread([req = std::move(req), respond] { respond(Body(req.body)); }).detach();
      },
      /*loops=*/2);
  auto port = server.Start("127.0.0.1", 0);
  REQUIRE(port.ok());
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      Client c(*port);
      for (int i = 0; i < 50; ++i) {
        std::string body = absl::StrCat(t, "-", i);
        c.Send(Post("/", body));
        if (c.Read().body == body) ++ok;
      }
    });
  }
  for (auto& th : clients) th.join();
  CHECK(ok == 400);
}

TEST_CASE("an idle connection is closed after a while", "[http_server]") {
  Fixture f;
  Client c(f.port);
  c.Send(Post("/", "x"));
  CHECK(c.Read().status == 200);
  CHECK(c.Closed());  // after HttpServer::kIdleSeconds (the client waits up to 30 s)
}

}  // namespace
}  // namespace gtsim
