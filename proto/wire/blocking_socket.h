// Blocking frame I/O over a connected socket fd, with a timeout per call: for sentinelctl (one request, a few
// replies) and for tests that play a peer byte by byte. The daemons use Asio and FrameDecoder directly.
#pragma once

#include <chrono>
#include <string>

#include "proto/wire/frame_codec.h"

namespace sentinel::wire {

// An owned fd, closed on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release() { int fd = fd_; fd_ = -1; return fd; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// Connects to a Unix stream socket / to HOST:PORT over TCP. On failure returns an empty UniqueFd and says why
// in *error (with what to check).
UniqueFd connect_unix(const std::string& path, std::string* error);
UniqueFd connect_tcp(const std::string& host_port, std::string* error);

// Writes all bytes (retrying short writes and EINTR). False with *error on failure or timeout.
bool send_bytes(int fd, std::string_view bytes, std::chrono::milliseconds timeout, std::string* error);
bool send_frame(int fd, const v1::Envelope& envelope, std::chrono::milliseconds timeout, std::string* error);

enum class ReceiveStatus { kFrame, kClosed, kTimeout, kTooLarge, kMalformed, kError };

// Reads until decoder yields a whole envelope. kClosed = the peer closed the connection.
ReceiveStatus receive_frame(int fd, FrameDecoder& decoder, v1::Envelope* out, std::chrono::milliseconds timeout,
                            std::string* error);

}  // namespace sentinel::wire
