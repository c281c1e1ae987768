#include "proto/wire/blocking_socket.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sentinel::wire {

namespace {

using Clock = std::chrono::steady_clock;

// Waits for `events` on fd until deadline. Returns 1 ready, 0 timeout, -1 error (errno set).
int wait_for(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd pfd{fd, events, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) continue;
    return rc < 0 ? -1 : (rc == 0 ? 0 : 1);
  }
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd connect_unix(const std::string& path, std::string* error) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    *error = "socket path too long (max " + std::to_string(sizeof addr.sun_path - 1) + " bytes): " + path;
    return {};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = std::string("socket(): ") + std::strerror(errno);
    return {};
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    *error = "cannot connect to " + path + ": " + std::strerror(err) +
             (err == ENOENT || err == ECONNREFUSED ? " (is sentinel-agent running? systemctl status sentinel-agent)"
              : err == EACCES                      ? " (run as root or as a member of the agent's allowed group)"
                                                   : "");
    return {};
  }
  return fd;
}

UniqueFd connect_tcp(const std::string& host_port, std::string* error) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == host_port.size()) {
    *error = "expected HOST:PORT, got '" + host_port + "'";
    return {};
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* result = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &result); rc != 0) {
    *error = "cannot resolve " + host_port + ": " + ::gai_strerror(rc);
    return {};
  }
  std::string last_error = "no address";
  for (addrinfo* ai = result; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) continue;
    if (::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      ::freeaddrinfo(result);
      return fd;
    }
    last_error = std::strerror(errno);
  }
  ::freeaddrinfo(result);
  *error = "cannot connect to " + host_port + ": " + last_error;
  return {};
}

bool send_bytes(int fd, std::string_view bytes, std::chrono::milliseconds timeout, std::string* error) {
  const auto deadline = Clock::now() + timeout;
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const int ready = wait_for(fd, POLLOUT, deadline);
      if (ready == 1) continue;
      *error = ready == 0 ? "timed out sending" : std::string("poll: ") + std::strerror(errno);
      return false;
    }
    *error = std::string("send: ") + std::strerror(errno);
    return false;
  }
  return true;
}

bool send_frame(int fd, const v1::Envelope& envelope, std::chrono::milliseconds timeout, std::string* error) {
  return send_bytes(fd, encode_frame(envelope), timeout, error);
}

ReceiveStatus receive_frame(int fd, FrameDecoder& decoder, v1::Envelope* out, std::chrono::milliseconds timeout,
                            std::string* error) {
  const auto deadline = Clock::now() + timeout;
  char buf[64 * 1024];
  for (;;) {
    switch (decoder.next(out)) {
      case FrameDecoder::Status::kFrame: return ReceiveStatus::kFrame;
      case FrameDecoder::Status::kTooLarge:
        *error = "frame of " + std::to_string(decoder.declared_length()) + " bytes is over the maximum of " +
                 std::to_string(decoder.max_frame_bytes());
        return ReceiveStatus::kTooLarge;
      case FrameDecoder::Status::kMalformed:
        *error = "malformed frame (not a sentinel.v1.Envelope)";
        return ReceiveStatus::kMalformed;
      case FrameDecoder::Status::kNeedMore: break;
    }
    const int ready = wait_for(fd, POLLIN, deadline);
    if (ready == 0) {
      *error = "timed out waiting for a reply";
      return ReceiveStatus::kTimeout;
    }
    if (ready < 0) {
      *error = std::string("poll: ") + std::strerror(errno);
      return ReceiveStatus::kError;
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) {
      *error = "connection closed by peer";
      return ReceiveStatus::kClosed;
    }
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
      *error = std::string("recv: ") + std::strerror(errno);
      return errno == ECONNRESET ? ReceiveStatus::kClosed : ReceiveStatus::kError;
    }
    decoder.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
}

}  // namespace sentinel::wire
