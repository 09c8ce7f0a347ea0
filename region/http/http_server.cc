#include "region/http/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace gtsim {
namespace {

// epoll_event.data.u64 of the two descriptors every loop watches besides its connections.
constexpr uint64_t kListenId = 0;
constexpr uint64_t kWakeId = 1;
// Requests read ahead of their answers on one connection: beyond this, reading pauses.
constexpr uint64_t kMaxInFlight = 128;
// An input or output buffer emptied with more capacity than this is given back (one 16 MB body
// must not keep 16 MB per idle connection).
constexpr size_t kKeptCapacity = 1 << 20;
// How long a loop stops accepting after accept() failed for lack of descriptors or memory.
constexpr absl::Duration kAcceptBackoff = absl::Milliseconds(50);
static_assert(HttpServer::kMaxBody == HttpServerOptions().max_body);
static_assert(HttpServer::kMaxHeader == HttpServerOptions().max_header);

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408:
      return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default: return "Unknown";
  }
}

std::string Serialize(const HttpServer::Response& r, bool close) {
  std::string out = absl::StrCat("HTTP/1.1 ", r.status, " ", Reason(r.status),
                                 "\r\nContent-Type: ", r.content_type,
                                 "\r\nContent-Length: ", r.body.size(), "\r\n");
  for (const auto& [name, value] : r.headers) absl::StrAppend(&out, name, ": ", value, "\r\n");
  absl::StrAppend(&out, close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
  out += r.body;
  return out;
}

// RFC 7230: Content-Length = 1*DIGIT (no sign, no spaces, no list).
bool IsContentLength(absl::string_view text, size_t* length) {
  if (text.empty() || text.size() > 18) return false;
  for (char ch : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(ch))) return false;
  }
  return absl::SimpleAtoi(text, length);
}

epoll_event Event(uint32_t events, uint64_t id) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = id;
  return ev;
}

HttpServer::Response Plain(int status, std::string message) {
  HttpServer::Response r;
  r.status = status;
  r.body = std::move(message);
  return r;
}

// Closes a connection's socket without resetting it: half-closes, then reads what the client
// already sent (closing with unread bytes sends a reset, and the client could lose the answer
// written just before it: a 400, 413 or 503).
void CloseGracefully(int fd) {
  shutdown(fd, SHUT_WR);
  char sink[4096];
  for (int i = 0; i < 256 && recv(fd, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
  }
  close(fd);
}

// Gives back a drained buffer's memory when it grew large.
void ReleaseIfLarge(std::string& buffer) {
  if (buffer.capacity() > kKeptCapacity) std::string().swap(buffer);
}

}  // namespace

// One answer on its way to a connection.
struct Answer {
  uint64_t conn = 0;
  uint64_t seq = 0;
  std::string bytes;
};

struct HttpServer::Loop {
  int epoll_fd = -1;
  int wake_fd = -1;  // eventfd: answers queued by other threads, or Stop()
  std::thread::id thread;
  std::atomic<bool> stopping{false};
  absl::Mutex mu;
  std::vector<Answer> queued ABSL_GUARDED_BY(mu);
  bool stopped ABSL_GUARDED_BY(mu) = false;
  // Loop thread only.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns;
  std::vector<uint64_t> dirty;  // connections with new answers to write
  ~Loop() {
    if (epoll_fd >= 0) close(epoll_fd);
    if (wake_fd >= 0) close(wake_fd);
  }
  void Wake() const {
    uint64_t one = 1;
    (void)!write(wake_fd, &one, sizeof(one));
  }
};

struct HttpServer::Conn {
  uint64_t id = 0;
  int fd = -1;
  std::string in;  // bytes read, from in_pos on not yet parsed
  size_t in_pos = 0;
  std::string out;  // bytes to write, from out_pos on
  size_t out_pos = 0;
  uint64_t next_seq = 0;                // sequence number of the next request
  uint64_t next_send = 0;               // the response to write next
  std::map<uint64_t, std::string> ready;  // answered, waiting for earlier ones
  size_t ready_bytes = 0;                 // their size
  bool no_more_requests = false;        // a request said close, or the input was bad
  bool paused = false;                  // parsing stopped: too much waiting for answers
  // Body bytes of the requests waiting for answers, and each one's size by sequence number.
  size_t in_flight_bytes = 0;
  size_t body_size[kMaxInFlight] = {};
  uint64_t last_seq = UINT64_MAX;       // close once this response is written
  uint32_t events = 0;                  // epoll interest registered
  absl::Time last_active;               // the last read from or write to the client
  // When the first byte of the request still incomplete in `in` arrived; InfiniteFuture when
  // there is none, or while reading is paused (the server's doing, not the client's).
  absl::Time partial_since = absl::InfiniteFuture();
};

struct HttpServer::Responder::Slot {
  std::shared_ptr<Loop> loop;
  uint64_t conn = 0;
  uint64_t seq = 0;
  bool close = false;
  std::atomic<bool> used{false};
};

const std::string& HttpServer::Request::Header(const std::string& lower_name) const {
  static const std::string* const empty = new std::string;
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return *empty;
}

void HttpServer::Responder::operator()(Response response) const {
  if (!slot_ || slot_->used.exchange(true)) return;
  Answer a{slot_->conn, slot_->seq, Serialize(response, slot_->close)};
  Loop& loop = *slot_->loop;
  if (std::this_thread::get_id() == loop.thread) {
    // On the loop thread (a handler answering at once): no queue, no wake-up.
    auto it = loop.conns.find(a.conn);
    if (it == loop.conns.end()) return;
    it->second->ready_bytes += a.bytes.size();
    it->second->ready.emplace(a.seq, std::move(a.bytes));
    loop.dirty.push_back(a.conn);
    return;
  }
  bool wake = false;
  {
    absl::MutexLock l(&loop.mu);
    if (loop.stopped) return;
    wake = loop.queued.empty();
    loop.queued.push_back(std::move(a));
  }
  if (wake) loop.Wake();
}

HttpServer::HttpServer(Handler handler, int loops, std::function<void()> after_batch)
    : HttpServer(std::move(handler), loops, std::move(after_batch), Options()) {}

HttpServer::HttpServer(Handler handler, int loops, std::function<void()> after_batch,
                       Options options)
    : handler_(std::move(handler)),
      loop_count_(loops < 1 ? 1 : loops),
      after_batch_(std::move(after_batch)),
      options_(options) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<int> HttpServer::Start(const std::string& host, int port) {
  if (listen_fd_ >= 0) return absl::FailedPreconditionError("the HTTP server is already started");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0 ||
      found == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve the listen address ", host));
  }
  int fd = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int yes = 1;
  bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes)) == 0 &&
            bind(fd, found->ai_addr, found->ai_addrlen) == 0 && listen(fd, 1024) == 0;
  freeaddrinfo(found);
  sockaddr_storage bound{};
  socklen_t len = sizeof(bound);
  if (!ok || getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) {
    std::string why = std::strerror(errno);
    if (fd >= 0) close(fd);
    return absl::UnavailableError(absl::StrCat("cannot listen on ", host, ":", port, ": ", why));
  }
  listen_fd_ = fd;
  int bound_port = ntohs(bound.ss_family == AF_INET6
                             ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                             : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  for (int i = 0; i < loop_count_; ++i) {
    auto loop = std::make_shared<Loop>();
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    loop->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event listen_ev = Event(EPOLLIN | EPOLLEXCLUSIVE, kListenId);
    epoll_event wake_ev = Event(EPOLLIN, kWakeId);
    if (loop->epoll_fd < 0 || loop->wake_fd < 0 ||
        epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, listen_fd_, &listen_ev) != 0 ||
        epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, loop->wake_fd, &wake_ev) != 0) {
      std::string why = std::strerror(errno);
      Stop();
      return absl::UnavailableError(absl::StrCat("cannot set up epoll: ", why));
    }
    loops_.push_back(loop);
  }
  for (auto& loop : loops_) threads_.emplace_back([this, loop] { Run(loop); });
  return bound_port;
}

void HttpServer::Stop() {
  for (auto& loop : loops_) {
    loop->stopping = true;
    loop->Wake();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  for (auto& loop : loops_) {
    if (loop->epoll_fd >= 0) close(loop->epoll_fd);
    loop->epoll_fd = -1;
  }
  loops_.clear();  // Responders still holding a loop keep only its (stopped) queue alive
  if (listen_fd_ >= 0) close(listen_fd_);
  listen_fd_ = -1;
}

void HttpServer::Run(const std::shared_ptr<Loop>& shared_loop) {
  Loop* const loop = shared_loop.get();
  loop->thread = std::this_thread::get_id();
  uint64_t next_id = kWakeId + 1;  // connection ids, unique in this loop
  const size_t max_body = options_.max_body;
  const size_t max_header = options_.max_header;
  // The loop's clock, read once per wake-up.
  absl::Time now = absl::Now();
  // How often timeouts are checked: a quarter of the shortest, within [5 ms, 1 s].
  const absl::Duration tick =
      std::clamp(std::min(options_.request_timeout, options_.idle_timeout) / 4,
                 absl::Milliseconds(5), absl::Seconds(1));
  // Accepting stopped (out of descriptors) until this time; InfiniteFuture while accepting.
  absl::Time accept_resume = absl::InfiniteFuture();
  const std::string refusal = Serialize(
      Plain(503, absl::StrCat("the server is at its connection limit (", options_.max_connections,
                              " open connections); try again later")),
      /*close=*/true);
  // At most kMaxInFlight requests, and once their bodies reach max_body no more, wait for
  // answers on one connection, and none is read while max_body of answers are still unsent:
  // what a pipelining client (or one that does not read) makes the server hold is bounded.
  auto too_much_in_flight = [&](const Conn& c) {
    return c.next_seq - c.next_send >= kMaxInFlight || c.in_flight_bytes >= max_body ||
           c.ready_bytes + (c.out.size() - c.out_pos) >= max_body;
  };
  auto set_events = [&](Conn& c) {
    const size_t buffered = c.in.size() - c.in_pos;
    uint32_t want = 0;
    if (!c.no_more_requests && !too_much_in_flight(c) && buffered <= max_header + max_body) {
      want |= EPOLLIN;
    }
    if (c.out_pos < c.out.size()) want |= EPOLLOUT;
    if (want == c.events) return;
    epoll_event ev = Event(want, c.id);
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
    c.events = want;
  };
  auto close_conn = [&](uint64_t id) {
    auto it = loop->conns.find(id);
    if (it == loop->conns.end()) return;
    const int fd = it->second->fd;
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    CloseGracefully(fd);
    loop->conns.erase(it);
    open_connections_.fetch_sub(1, std::memory_order_relaxed);
  };
  // Answers `status` to the next request slot and reads nothing more from the connection.
  // Its input is dropped (and its memory freed).
  auto fail = [&](Conn& c, int status, std::string message) {
    std::string answer = Serialize(Plain(status, std::move(message)), /*close=*/true);
    c.ready_bytes += answer.size();
    c.ready.emplace(c.next_seq, std::move(answer));
    c.body_size[c.next_seq % kMaxInFlight] = 0;
    c.last_seq = c.next_seq++;
    c.no_more_requests = true;
    std::string().swap(c.in);
    c.in_pos = 0;
    c.partial_since = absl::InfiniteFuture();
    loop->dirty.push_back(c.id);
  };
  // Hands every complete request buffered on `c` to the handler.
  auto parse = [&](Conn& c) {
    c.paused = false;
    while (!c.no_more_requests) {
      if (too_much_in_flight(c)) {
        c.paused = true;
        c.partial_since = absl::InfiniteFuture();
        return;
      }
      absl::string_view data(c.in.data() + c.in_pos, c.in.size() - c.in_pos);
      if (data.empty()) return;
      // The request is incomplete: its clock starts (or keeps running).
      auto incomplete = [&] {
        if (c.partial_since == absl::InfiniteFuture()) c.partial_since = now;
      };
      size_t end = data.find("\r\n\r\n");
      if (end == absl::string_view::npos ? data.size() > max_header : end + 4 > max_header) {
        return fail(c, 431, absl::StrCat("request line and headers exceed ", max_header, " bytes"));
      }
      if (end == absl::string_view::npos) return incomplete();
      Request req;
      size_t line_end = data.find("\r\n");
      absl::string_view line = data.substr(0, line_end);
      size_t sp1 = line.find(' ');
      size_t sp2 = sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
      absl::string_view version =
          sp2 == absl::string_view::npos ? absl::string_view() : line.substr(sp2 + 1);
      if (sp1 == 0 || sp2 == absl::string_view::npos || sp2 == sp1 + 1 ||
          (version != "HTTP/1.1" && version != "HTTP/1.0")) {
        return fail(c, 400, "malformed request line: expected METHOD TARGET HTTP/1.1");
      }
      req.method = std::string(line.substr(0, sp1));
      req.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
      const std::string* content_length = nullptr;
      bool transfer_encoding = false;
      for (size_t pos = line_end + 2; pos < end + 2;) {
        size_t eol = data.find("\r\n", pos);
        absl::string_view h = data.substr(pos, eol - pos);
        pos = eol + 2;
        size_t colon = h.find(':');
        if (colon == 0 || colon == absl::string_view::npos) {
          return fail(c, 400, "malformed header line: expected NAME: VALUE");
        }
        auto& [name, value] =
            req.headers.emplace_back(absl::AsciiStrToLower(h.substr(0, colon)),
                                     std::string(absl::StripAsciiWhitespace(h.substr(colon + 1))));
        if (name == "content-length") {
          // RFC 7230 3.3.2: differing lengths must be refused; equal ones are refused too.
          if (content_length != nullptr) return fail(c, 400, "more than one Content-Length");
          content_length = &value;
        } else if (name == "transfer-encoding") {
          transfer_encoding = true;
        }
      }
      if (transfer_encoding) {
        // RFC 7230 3.3.3: both at once is how requests are smuggled past proxies.
        if (content_length != nullptr) {
          return fail(c, 400, "Content-Length and Transfer-Encoding in one request");
        }
        return fail(c, 411, "chunked request bodies are not supported: send Content-Length");
      }
      size_t length = 0;
      if (content_length != nullptr && !IsContentLength(*content_length, &length)) {
        return fail(c, 400, "malformed Content-Length");
      }
      if (length > max_body) {
        return fail(c, 413, absl::StrCat("request body exceeds ", max_body, " bytes"));
      }
      if (data.size() < end + 4 + length) return incomplete();  // the body is still coming
      req.body = std::string(data.substr(end + 4, length));
      c.in_pos += end + 4 + length;
      c.partial_since = absl::InfiniteFuture();
      const std::string connection = absl::AsciiStrToLower(req.Header("connection"));
      const bool close =
          version == "HTTP/1.0" ? connection != "keep-alive" : connection == "close";
      auto slot = std::make_shared<Responder::Slot>();
      slot->loop = shared_loop;
      slot->conn = c.id;
      c.body_size[c.next_seq % kMaxInFlight] = length;
      c.in_flight_bytes += length;
      slot->seq = c.next_seq++;
      slot->close = close;
      if (close) {
        c.no_more_requests = true;
        c.last_seq = slot->seq;
      }
      Responder responder;
      responder.slot_ = std::move(slot);
      try {
        handler_(std::move(req), responder);
      } catch (...) {
        responder(Plain(500, "internal error"));
      }
    }
  };

  // Writes the answers that are next in order; closes after the last one or on an error.
  auto flush = [&](uint64_t id) {
    auto it = loop->conns.find(id);
    if (it == loop->conns.end()) return;
    Conn& c = *it->second;
    bool close_now = false;
    for (auto r = c.ready.begin(); r != c.ready.end() && r->first == c.next_send;
         r = c.ready.erase(r)) {
      c.out += r->second;
      c.ready_bytes -= r->second.size();
      c.in_flight_bytes -= c.body_size[c.next_send % kMaxInFlight];
      close_now = c.next_send++ == c.last_seq;
    }
    while (c.out_pos < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.out_pos, c.out.size() - c.out_pos, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) return close_conn(id);
      c.out_pos += static_cast<size_t>(n);
      c.last_active = now;
    }
    if (c.out_pos == c.out.size()) {
      c.out.clear();
      ReleaseIfLarge(c.out);
      c.out_pos = 0;
      if (close_now || c.next_send > c.last_seq) return close_conn(id);
    }
    // Reading paused at the in-flight limit and answers went out: parse what is buffered.
    if (c.paused && !too_much_in_flight(c)) parse(c);
    set_events(c);
  };

  std::vector<epoll_event> events(256);
  std::vector<uint64_t> expired;
  std::vector<uint64_t> dirty;
  absl::Time next_sweep = now + tick;
  while (!loop->stopping) {
    absl::Time wake_by = std::min(next_sweep, accept_resume);
    int timeout_ms = static_cast<int>(
        std::clamp(absl::ToInt64Milliseconds(wake_by - now) + 1, int64_t{1}, int64_t{1000}));
    int n = epoll_wait(loop->epoll_fd, events.data(), static_cast<int>(events.size()), timeout_ms);
    if (n < 0 && errno != EINTR) break;
    now = absl::Now();
    if (now >= accept_resume) {
      accept_resume = absl::InfiniteFuture();
      epoll_event listen_ev = Event(EPOLLIN | EPOLLEXCLUSIVE, kListenId);
      epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, listen_fd_, &listen_ev);
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kListenId) {
        for (;;) {
          int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) {
            const int error = errno;
            if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
              // Level-triggered: retrying at once would spin. Stop watching the socket for a
              // while; the waiting clients stay in the backlog.
              accept_failures_.fetch_add(1, std::memory_order_relaxed);
              if (!out_of_descriptors_.exchange(true)) {
                std::fprintf(stderr,
                             "gtsim: HTTP server: cannot accept connections (%s); retrying every "
                             "%d ms until descriptors free up\n",
                             std::strerror(error),
                             static_cast<int>(absl::ToInt64Milliseconds(kAcceptBackoff)));
              }
              if (accept_resume == absl::InfiniteFuture()) {
                epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, listen_fd_, nullptr);
                accept_resume = now + kAcceptBackoff;
              }
            }
            break;
          }
          if (out_of_descriptors_.load(std::memory_order_relaxed) &&
              out_of_descriptors_.exchange(false)) {
            std::fprintf(stderr, "gtsim: HTTP server: accepting connections again\n");
          }
          if (open_connections_.fetch_add(1, std::memory_order_relaxed) >=
              options_.max_connections) {
            open_connections_.fetch_sub(1, std::memory_order_relaxed);
            // Best effort: a fresh socket's send buffer takes this short answer whole.
            (void)!send(fd, refusal.data(), refusal.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            CloseGracefully(fd);
            continue;
          }
          int yes = 1;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
          auto c = std::make_unique<Conn>();
          c->id = next_id++;
          c->fd = fd;
          c->events = EPOLLIN;
          c->last_active = now;
          epoll_event ev = Event(EPOLLIN, c->id);
          if (epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            open_connections_.fetch_sub(1, std::memory_order_relaxed);
            continue;
          }
          loop->conns.emplace(c->id, std::move(c));
        }
        continue;
      }
      if (id == kWakeId) {
        uint64_t count;
        (void)!read(loop->wake_fd, &count, sizeof(count));
        std::vector<Answer> answers;
        {
          absl::MutexLock l(&loop->mu);
          answers.swap(loop->queued);
        }
        for (Answer& a : answers) {
          auto it = loop->conns.find(a.conn);
          if (it == loop->conns.end()) continue;  // the connection closed meanwhile
          it->second->ready_bytes += a.bytes.size();
          it->second->ready.emplace(a.seq, std::move(a.bytes));
          loop->dirty.push_back(a.conn);
        }
        continue;
      }
      auto it = loop->conns.find(id);
      if (it == loop->conns.end()) continue;
      Conn& c = *it->second;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        close_conn(id);
        continue;
      }
      if (events[i].events & EPOLLOUT) loop->dirty.push_back(id);
      if (events[i].events & EPOLLIN) {
        char buf[65536];
        ssize_t got = recv(c.fd, buf, sizeof(buf), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
          close_conn(id);  // the client went away: answers still in flight are dropped
          continue;
        }
        if (got > 0) {
          c.last_active = now;
          if (c.in_pos == c.in.size()) {
            c.in.clear();
            c.in_pos = 0;
          } else if (c.in_pos > (1 << 20)) {
            c.in.erase(0, c.in_pos);
            c.in_pos = 0;
          }
          c.in.append(buf, static_cast<size_t>(got));
          parse(c);
          if (c.in_pos == c.in.size()) ReleaseIfLarge(c.in);
          loop->dirty.push_back(id);  // new requests, maybe answered at once; or paused reading
        }
      }
    }
    // Timeouts: a request that has not arrived whole in time is answered 408 (written with the
    // batch below); a connection idle for too long is closed, and so is one whose answers have
    // not moved for as long (the client does not read them).
    if (now >= next_sweep) {
      next_sweep = now + tick;
      expired.clear();
      for (auto& [id, c] : loop->conns) {
        if (now - c->partial_since > options_.request_timeout) {
          fail(*c, 408,
               absl::StrCat("the request did not arrive whole within ",
                            absl::FormatDuration(options_.request_timeout)));
        } else if (now - c->last_active > options_.idle_timeout &&
                   (c->out_pos < c->out.size() ||
                    (c->next_send == c->next_seq && c->partial_since == absl::InfiniteFuture()))) {
          expired.push_back(id);
        }
      }
      for (uint64_t id : expired) close_conn(id);
    }
    // Write to every touched connection once, after the whole batch of events (writing may
    // resume a paused connection's parsing, so the batch hook runs again until all is quiet).
    for (;;) {
      if (after_batch_) after_batch_();
      if (loop->dirty.empty()) break;
      dirty.clear();
      dirty.swap(loop->dirty);
      for (uint64_t id : dirty) flush(id);
    }
  }
  {
    absl::MutexLock l(&loop->mu);
    loop->stopped = true;
    loop->queued.clear();
  }
  for (auto& [id, c] : loop->conns) close(c->fd);
  open_connections_.fetch_sub(loop->conns.size(), std::memory_order_relaxed);
  loop->conns.clear();
}

}  // namespace gtsim
