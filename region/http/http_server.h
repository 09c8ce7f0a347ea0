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
//   answers them in). A body needs Content-Length, at most Options::max_body (16 MB; 413 and
//   close beyond), checked before any of the body is read. "Transfer-Encoding" request bodies
//   are answered 411 and the connection closed (AWS SDKs and the CLI send Content-Length). More
//   than one Content-Length (RFC 7230 3.3.2 requires refusing differing ones; equal ones are
//   refused too, for simplicity), Content-Length together with Transfer-Encoding (3.3.3: the
//   request-smuggling shape) or a Content-Length that is not 1*DIGIT answer 400 and close.
//   Request line and headers together at most Options::max_header (64 KB; 431 and close
//   beyond). A malformed request line or header answers 400 and closes. "Connection: close" in
//   a request: that request's response says so and the connection closes once it is written. A
//   client that closes (or half-closes) its side is closed at once: answers still in flight for
//   it are dropped. At most 128 requests per connection wait for answers; and once the bodies of
//   those add up to max_body, or once max_body of answers wait to be sent (the client does not
//   read them fast enough), no more: the server stops reading the connection until answers go
//   out.
// - What one client can cost is bounded (Options below): at most `max_connections` (512) open
//   connections; one more is answered 503 ("at its connection limit") and closed at once. A
//   request must arrive whole - request line, headers and body - within `request_timeout`
//   (10 s) of its first byte, however it trickles in, else it is answered 408 and closed and its
//   buffers freed (the clock does not run while the server itself holds reading back, above). A
//   connection with nothing in flight and no traffic for `idle_timeout` (60 s) is closed, and so
//   is one whose unsent answers have not moved for as long. A connection's input buffer holds at
//   most max_header + max_body and one 64 KB read; answers a handler gives later, to requests
//   it already holds, are not limited (at most 128 of them).
// - When accept() fails for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) the
//   loop stops watching the listening socket for 50 ms (no busy loop), says so once on stderr,
//   and accepts again after; waiting clients stay in the listen backlog meanwhile.
//   accept_failures() counts those failures.
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
// (answered as if absent: the client sends the body after its timeout or at once), TLS.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace gtsim {

// Limits on what clients can cost an HttpServer (see its contract). Defaults suit the DynamoDB
// endpoint; tests use small values.
struct HttpServerOptions {
  // Open connections at most, over all loops; one more is answered 503 and closed.
  size_t max_connections = 512;
  // Largest request body (Content-Length) accepted; beyond it 413 and close. 16 MB: the most
  // data DynamoDB documents for one call (BatchWriteItem). Also what one connection may have
  // waiting: request bodies held by the handler, or answers not yet sent.
  size_t max_body = 16 << 20;
  // Request line and headers together at most; beyond it 431 and close.
  size_t max_header = 64 << 10;
  // From a request's first byte to its last; beyond it 408 and close.
  absl::Duration request_timeout = absl::Seconds(10);
  // A connection with nothing in flight and no traffic is closed after this; so is one whose
  // unsent answers have not moved for this long.
  absl::Duration idle_timeout = absl::Seconds(60);
};

// Thread-safe: Start/Stop from one thread at a time; accept_failures() and open_connections()
// from any.
class HttpServer {
 public:
  using Options = HttpServerOptions;
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

  // The defaults of Options::max_body and max_header.
  static constexpr size_t kMaxBody = 16 << 20;
  static constexpr size_t kMaxHeader = 64 << 10;

  // `after_batch`, when set, runs on each loop thread once it has read every connection that
  // was ready and handed their requests to the handler, before it writes the answers: a place
  // to act on the whole batch at once (answers given there go out in the same round).
  explicit HttpServer(Handler handler, int loops = 1, std::function<void()> after_batch = {});
  HttpServer(Handler handler, int loops, std::function<void()> after_batch, Options options);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: a free one), listens and starts the loops. Returns the bound port.
  // Unavailable when the address cannot be bound, FailedPrecondition when already started.
  absl::StatusOr<int> Start(const std::string& host, int port);
  // Idempotent.
  void Stop();

  // accept() calls that failed for lack of descriptors or memory, since Start.
  uint64_t accept_failures() const { return accept_failures_.load(std::memory_order_relaxed); }
  // Connections open now (refused ones are never counted).
  size_t open_connections() const { return open_connections_.load(std::memory_order_relaxed); }

 private:
  struct Loop;
  struct Conn;
  void Run(const std::shared_ptr<Loop>& loop);

  Handler handler_;
  int loop_count_;
  std::function<void()> after_batch_;
  const Options options_;
  std::atomic<uint64_t> accept_failures_{0};
  std::atomic<size_t> open_connections_{0};
  std::atomic<bool> out_of_descriptors_{false};  // said so on stderr; cleared by an accept
  int listen_fd_ = -1;
  std::vector<std::shared_ptr<Loop>> loops_;
  std::vector<std::thread> threads_;
};

}  // namespace gtsim
