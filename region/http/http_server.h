// A small event-driven HTTP/1.1 server (Linux epoll), made for the DynamoDB endpoint: many
// keep-alive connections served by a few event-loop threads, and answers that may come later
// from another thread (a write answered by the region's group-commit thread) without a thread
// parked per request.
//
// Contract:
// - `loops` event-loop threads (1 or 2 is right for a 2-core machine) share the listening
//   socket (EPOLLEXCLUSIVE); each connection stays on the loop that accepted it. Non-blocking
//   sockets, TCP_NODELAY, SO_REUSEADDR only (no SO_REUSEPORT: a busy port is an error).
// - Requests: HTTP/1.0 and 1.1, keep-alive (1.1's default; 1.0 only with "Connection:
//   keep-alive"), pipelining (responses go out in request order whatever order the handler
//   answers them in). A body needs Content-Length, at most kMaxBody (16 MB; 413 and close beyond);
//   "Transfer-Encoding" request bodies are answered 411 and the connection closed (AWS SDKs and
//   the CLI send Content-Length). More than one Content-Length (RFC 7230 3.3.2 requires refusing
//   differing ones; equal ones are refused too, for simplicity), Content-Length together with
//   Transfer-Encoding (3.3.3: the request-smuggling shape) or a Content-Length that is not
//   1*DIGIT answer 400 and close. Request line and headers together at most kMaxHeader (64 KB;
//   431 and close beyond). A malformed request line or header answers 400 and closes.
//   "Connection: close" in a request: that request's response says so and the connection closes
//   once it is written. A connection with nothing in flight and no traffic for kIdleSeconds
//   (10 s) is closed. A client that closes (or half-closes) its side is closed at once: answers
//   still in flight for it are dropped. At most 128 requests per connection wait for answers;
//   beyond that the server stops reading it until answers go out.
// - The handler runs on the connection's event-loop thread, one request at a time per loop: it
//   must not block for long (hand long work to another thread and answer through the Responder).
// - Responder: answers its request; call it once (later calls are ignored), from any thread, at
//   any time - also after the client went away or the server stopped (the answer is then
//   dropped). It holds no reference to the connection, only to a small shared queue. A request
//   that is never answered holds back that connection's later responses.
// - Stop() closes the listening socket and every connection and joins the loops: no handler call
//   runs after it returns. Responders called after Stop() are harmless no-ops.
//
// Not supported (not needed by DynamoDB clients): chunked request bodies, Expect: 100-continue
// (answered as if absent: the client sends the body after its timeout or at once), TLS. When
// accept() fails for lack of file descriptors the loop retries on every wake-up (busy) until
// one is free.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace gtsim {

class HttpServer {
 public:
  struct Request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // "/"
    // Header names lowercased, in arrival order.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    // The value of header `lower_name` (lowercase), "" when absent.
    const std::string& Header(const std::string& lower_name) const;
  };
  struct Response {
    int status = 200;
    std::string content_type = "text/plain";
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
    std::string body;
  };

  class Responder {
   public:
    void operator()(Response response) const;

   private:
    friend class HttpServer;
    struct Slot;
    std::shared_ptr<Slot> slot_;
  };
  using Handler = std::function<void(Request, Responder)>;

  static constexpr size_t kMaxBody = 16 << 20;
  static constexpr size_t kMaxHeader = 64 << 10;
  static constexpr int kIdleSeconds = 10;

  // `after_batch`, when set, runs on each loop thread once it has read every connection that
  // was ready and handed their requests to the handler, before it writes the answers: a place
  // to act on the whole batch at once (answers given there go out in the same round).
  explicit HttpServer(Handler handler, int loops = 1, std::function<void()> after_batch = {});
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: a free one), listens and starts the loops. Returns the bound port.
  // Unavailable when the address cannot be bound, FailedPrecondition when already started.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Idempotent.
  void Stop();

 private:
  struct Loop;
  struct Conn;
  void Run(const std::shared_ptr<Loop>& loop);

  Handler handler_;
  int loop_count_;
  std::function<void()> after_batch_;
  int listen_fd_ = -1;
  std::vector<std::shared_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
};

}  // namespace gtsim
