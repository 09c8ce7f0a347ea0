// Tests of the event-driven HTTP/1.1 server (region/http/http_server.h) on its own, through raw
// sockets on 127.0.0.1, so every byte on the wire is the test's choice.
#include "region/http/http_server.h"

#include <sys/resource.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
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
// those are parked, to be answered by the test; and "/big": answered with 1 MB.
struct Fixture {
  absl::Mutex mu;
  std::vector<HttpServer::Responder> parked;
  std::atomic<int> handled{0};
  HttpServer server;
  int port = 0;
  explicit Fixture(HttpServer::Options options = {})
      : server(
            [this](HttpServer::Request req, HttpServer::Responder respond) {
              ++handled;
              if (req.target.rfind("/later", 0) == 0) {
                absl::MutexLock l(&mu);
                parked.push_back(respond);
                return;
              }
              HttpServer::Response res;
              res.body =
                  req.target == "/big" ? std::string(1 << 20, 'z') : req.target + ":" + req.body;
              respond(std::move(res));
            },
            /*loops=*/1, /*after_batch=*/{}, options) {
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

// Waits up to 30 s for `done`.
template <typename Done>
bool Eventually(Done done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!done()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

HttpServer::Options Timeouts(absl::Duration request, absl::Duration idle) {
  HttpServer::Options options;
  options.request_timeout = request;
  options.idle_timeout = idle;
  return options;
}

TEST_CASE("an idle connection is closed after idle_timeout, not while a request is in flight",
          "[http_server]") {
  Fixture f(Timeouts(absl::Seconds(30), absl::Milliseconds(200)));
  Client waiting(f.port);
  waiting.Send(Post("/later", "1"));
  f.AwaitParked(1);
  Client c(f.port);
  c.Send(Post("/", "x"));
  CHECK(c.Read().status == 200);
  CHECK(c.Closed());  // after idle_timeout (the client waits up to 30 s)
  // The parked request's connection stays open, however long its answer takes.
  absl::SleepFor(absl::Milliseconds(500));
  f.Parked(0)(Body("late"));
  CHECK(waiting.Read().body == "late");
  CHECK(Eventually([&] { return f.server.open_connections() == 0; }));  // then idles out
}

TEST_CASE("a request that does not arrive whole within request_timeout is answered 408",
          "[http_server]") {
  Fixture f(Timeouts(absl::Milliseconds(200), absl::Seconds(30)));
  SECTION("a withheld body") {
    Client c(f.port);
    c.Send("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
    Reply r = c.Read();
    CHECK(r.status == 408);
    CHECK(r.head.find("Connection: close") != std::string::npos);
    CHECK(c.Closed());
  }
  SECTION("headers that never end") {
    Client c(f.port);
    c.Send("POST / HTTP/1.1\r\nHost: x\r\n");
    CHECK(c.Read().status == 408);
    CHECK(c.Closed());
  }
  SECTION("a body trickled in a byte at a time: the clock runs from the first byte") {
    Client c(f.port);
    c.Send("POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n");
    // Without a deadline from the first byte this would take 1000 s and never be refused.
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (!c.Readable() && absl::Now() < give_up) {
      c.Send("a");
      absl::SleepFor(absl::Milliseconds(10));
    }
    CHECK(c.Read().status == 408);
    CHECK(c.Closed());
  }
  SECTION("between keep-alive requests the clock does not run") {
    Client c(f.port);
    c.Send(Post("/", "1"));
    CHECK(c.Read().body == "/:1");
    absl::SleepFor(absl::Milliseconds(500));  // longer than request_timeout, idle but allowed
    c.Send(Post("/", "2"));
    CHECK(c.Read().body == "/:2");
  }
  // Refused connections are closed and their buffers go with them.
  CHECK(Eventually([&] { return f.server.open_connections() <= 1; }));
  CHECK(f.handled <= 2);
}

TEST_CASE("a connection over max_connections is answered 503 and closed", "[http_server]") {
  HttpServer::Options options;
  options.max_connections = 2;
  Fixture f(options);
  auto a = std::make_unique<Client>(f.port);
  a->Send(Post("/", "a"));
  CHECK(a->Read().status == 200);
  Client b(f.port);
  b.Send(Post("/", "b"));
  CHECK(b.Read().status == 200);
  CHECK(f.server.open_connections() == 2);
  for (int i = 0; i < 20; ++i) {
    Client over(f.port);
    over.Send(Post("/", "c"));
    Reply r = over.Read();
    CHECK(r.status == 503);
    CHECK(r.body.find("connection limit") != std::string::npos);
    CHECK(r.head.find("Connection: close") != std::string::npos);
    CHECK(over.Closed());
  }
  CHECK(f.handled == 2);
  CHECK(f.server.open_connections() == 2);
  // Once one closes, a new connection is served.
  a.reset();
  CHECK(Eventually([&] { return f.server.open_connections() == 1; }));
  Client again(f.port);
  again.Send(Post("/", "d"));
  CHECK(again.Read().body == "/:d");
}

TEST_CASE("max_body is checked before any of the body is read", "[http_server]") {
  HttpServer::Options options;
  options.max_body = 1000;
  Fixture f(options);
  Client c(f.port);
  c.Send(Post("/", std::string(1000, 'b')));
  CHECK(c.Read().status == 200);
  c.Send("POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n");  // and no body at all
  Reply r = c.Read();
  CHECK(r.status == 413);
  CHECK(r.body.find("1000 bytes") != std::string::npos);
  CHECK(c.Closed());
}

TEST_CASE("pipelined bodies waiting for answers are bounded by max_body, not only by count",
          "[http_server]") {
  HttpServer::Options options;
  options.max_body = 1000;
  Fixture f(options);
  Client c(f.port);
  // Three full-size bodies at once: the first fills the connection's in-flight budget, so the
  // others wait in the socket (not in memory the handler holds) until it is answered.
  const std::string body(1000, 'b');
  c.Send(Post("/later1", body) + Post("/later2", body) + Post("/later3", body));
  f.AwaitParked(1);
  absl::SleepFor(absl::Milliseconds(200));  // time to (wrongly) read further
  CHECK(f.handled == 1);
  f.Parked(0)(Body("one"));
  CHECK(c.Read().body == "one");
  f.AwaitParked(2);
  f.Parked(1)(Body("two"));
  CHECK(c.Read().body == "two");
  f.AwaitParked(3);
  f.Parked(2)(Body("three"));
  CHECK(c.Read().body == "three");
  // Small requests are limited only by the count.
  c.Send(Post("/later", "x") + Post("/later", "y") + Post("/later", "z"));
  f.AwaitParked(6);
  CHECK(f.handled == 6);
}

TEST_CASE("a client that does not read its answers: reading stops, then the connection closes",
          "[http_server]") {
  HttpServer::Options options = Timeouts(absl::Seconds(30), absl::Milliseconds(300));
  options.max_body = 1000;  // also the most unsent answer bytes kept before reading stops
  Fixture f(options);
  Client c(f.port);
  std::string requests;
  for (int i = 0; i < 200; ++i) requests += Post("/big", "");
  c.Send(requests);  // 200 MB of answers asked for, none read
  REQUIRE(Eventually([&] { return f.handled > 0; }));
  // The server stops reading once the socket's buffers and its own are full (a few MB), and
  // closes the stalled connection after idle_timeout without progress.
  CHECK(Eventually([&] { return f.server.open_connections() == 0; }));
  INFO("handled " << f.handled);
  CHECK(f.handled < 50);
}

TEST_CASE("out of descriptors, accept backs off instead of spinning and serves again after",
          "[http_server]") {
  Fixture f;
  Client c(f.port, /*connect=*/false);  // its socket exists before descriptors run out
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0);
  rlimit low = old;
  low.rlim_cur = 3;  // below what is open already: every new descriptor fails with EMFILE
  REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0);
  c.Connect();
  c.Send(Post("/", "x"));
  const bool failed = Eventually([&] { return f.server.accept_failures() > 0; });
  absl::SleepFor(absl::Milliseconds(500));
  const uint64_t failures = f.server.accept_failures();
  REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0);
  CHECK(failed);
  // A 50 ms back-off makes about 10 attempts in 500 ms; a busy loop makes hundreds of thousands.
  CHECK(failures < 100);
  // The waiting client is accepted and served once descriptors are back.
  CHECK(c.Read().body == "/:x");
}

}  // namespace
}  // namespace gtsim
