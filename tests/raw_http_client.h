// A raw HTTP/1.1 client for tests: sends exactly the bytes a test chooses (pipelined requests,
// a body in small pieces, malformed input) and reads responses one at a time.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/numbers.h"

namespace gtsim::RawHttpClient {

struct Reply {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

// One connection to 127.0.0.1:port.
class Client {
 public:
  // With `connect_now` false the socket is made but not connected until Connect() (a test
  // that runs out of descriptors needs its socket first).
  explicit Client(int port, bool connect_now = true) : port_(port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    if (connect_now) Connect();
  }
  void Connect() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    int yes = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  }
  ~Client() { Close(); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  void Send(const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
      ssize_t n = send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server closed: the test's reads will tell
      sent += static_cast<size_t>(n);
    }
  }
  // Reads one response; status 0 when the connection ended first (or nothing came in 30 s).
  Reply Read() {
    Reply r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    r.head = buf_.substr(0, end + 4);
    size_t length = 0;
    size_t at = r.head.find("Content-Length: ");
    REQUIRE(at != std::string::npos);
    REQUIRE(absl::SimpleAtoi(r.head.substr(at + 16, r.head.find("\r\n", at) - at - 16), &length));
    while (buf_.size() < end + 4 + length) {
      if (!Fill()) return r;
    }
    REQUIRE(absl::SimpleAtoi(r.head.substr(9, 3), &r.status));
    r.body = buf_.substr(end + 4, length);
    buf_.erase(0, end + 4 + length);
    return r;
  }
  // True when a byte (or the end) is ready to read now, buffered or on the socket.
  bool Readable() {
    pollfd p{fd_, POLLIN, 0};
    return !buf_.empty() || poll(&p, 1, 0) == 1;
  }
  // True when the server closed the connection (EOF within 30 s, nothing else sent).
  bool Closed() {
    while (Fill()) {
    }
    return eof_ && buf_.empty();
  }

 private:
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 30000) != 1) return false;
    char chunk[65536];
    ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(chunk, static_cast<size_t>(n));
    return true;
  }
  int port_ = 0;
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

}  // namespace gtsim::RawHttpClient
