// ControlServer: the agent's local Unix socket, for `sentinelctl status` and `sentinelctl scan --socket`.
//
// Contract:
// - Same framing as the collector link (proto/wire/frame_codec.h). One request per connection: the client sends
//   StatusRequest or ScanRequest; the server answers AgentStatus, or Progress... then ScanResult, or an Error,
//   and closes.
// - Who may ask: the caller's credentials come from SO_PEERCRED (never from the request). Root is allowed,
//   and so is any process whose primary or supplementary groups (read from /proc/<pid>/status) include the
//   configured group. Anyone else gets Error{PERMISSION_DENIED} with the reason, then the close.
// - Hostile input: a frame over max_frame_bytes, bytes that are not a frame, a wrong message, or no request
//   within request_timeout get an Error reply (when the socket still takes one) and a close; the agent stays up.
// - The socket file: created with mode 0660 (group = the configured group when there is one). At start an old
//   file is removed only when it is a socket nobody answers on; a live socket (another agent) or a non-socket
//   at the path is an error, never deleted. stop() closes everything and removes the file it created.
// - Loop-thread only.
#pragma once

#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "daemon/scan_runner.h"

namespace sentinel::daemon {

struct ControlServerSettings {
  std::string socket_path;
  std::optional<gid_t> allowed_group;
  size_t max_frame_bytes = 64u << 20;
  std::chrono::nanoseconds request_timeout{std::chrono::seconds(10)};
};

struct ControlHandlers {
  std::function<v1::AgentStatus()> status;
  // "" when the request can run, else why not (e.g. no replica of that volume on this node).
  std::function<std::string(const ScanRequest&)> check_scan;
  std::function<void(const ScanRequest&, ScanWaiter, ProgressListener)> scan;
};

// Whether a peer with these credentials may use the socket, and why not ("" = allowed). `groups` are the
// peer's supplementary groups.
std::string peer_refusal(uid_t uid, gid_t gid, const std::vector<gid_t>& groups, std::optional<gid_t> allowed_group);

class ControlServer {
 public:
  ControlServer(boost::asio::io_context& loop, ControlServerSettings settings, ControlHandlers handlers);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds and listens at settings.socket_path. False with *error when it cannot.
  bool start(std::string* error);
  // Adopts an already listening socket (systemd socket activation); the file is then systemd's.
  bool adopt(int listening_fd, std::string* error);
  void stop();

 private:
  class Session;
  void accept_next();

  boost::asio::io_context& loop_;
  ControlServerSettings settings_;
  ControlHandlers handlers_;
  boost::asio::local::stream_protocol::acceptor acceptor_;
  std::set<std::shared_ptr<Session>> sessions_;
  bool owns_file_ = false;
};

}  // namespace sentinel::daemon
