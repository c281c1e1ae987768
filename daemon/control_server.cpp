#include "daemon/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>

#include "proto/wire/blocking_socket.h"
#include "proto/wire/frame_codec.h"

namespace sentinel::daemon {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// The supplementary groups of a live process, from /proc/<pid>/status ("Groups:\t4 24 27").
std::vector<gid_t> groups_of(pid_t pid) {
  std::vector<gid_t> groups;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Groups:", 0) != 0) continue;
    std::istringstream values(line.substr(7));
    unsigned long gid = 0;
    while (values >> gid) groups.push_back(static_cast<gid_t>(gid));
  }
  return groups;
}

}  // namespace

std::string peer_refusal(uid_t uid, gid_t gid, const std::vector<gid_t>& groups, std::optional<gid_t> allowed_group) {
  if (uid == 0) return "";
  if (allowed_group) {
    if (gid == *allowed_group) return "";
    for (gid_t g : groups) {
      if (g == *allowed_group) return "";
    }
    return "uid " + std::to_string(uid) + " is not root and not in the agent's socket group (gid " +
           std::to_string(*allowed_group) + "); run as root or add the user to that group";
  }
  return "uid " + std::to_string(uid) +
         " is not root and the agent allows no group (--socket-group); run as root (sudo sentinelctl ...)";
}

class ControlServer::Session : public std::enable_shared_from_this<ControlServer::Session> {
 public:
  Session(ControlServer& server, local::socket socket)
      : server_(server), socket_(std::move(socket)), timer_(server.loop_), decoder_(server.settings_.max_frame_bytes) {}

  void start() {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(socket_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      return refuse(v1::Error::INTERNAL, std::string("cannot read the caller's credentials: ") + std::strerror(errno));
    }
    peer_ = "pid " + std::to_string(cred.pid) + " uid " + std::to_string(cred.uid);
    const std::string why = peer_refusal(cred.uid, cred.gid, groups_of(cred.pid), server_.settings_.allowed_group);
    if (!why.empty()) {
      spdlog::warn("local socket: refused {}: {}", peer_, why);
      return refuse(v1::Error::PERMISSION_DENIED, why);
    }
    auto self = shared_from_this();
    timer_.expires_after(server_.settings_.request_timeout);
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec && !self->got_request_) self->refuse(v1::Error::MALFORMED, "no request within the timeout");
    });
    read_more();
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
    server_.sessions_.erase(shared_from_this());
  }

 private:
  void read_more() {
    auto self = shared_from_this();
    reading_ = true;
    socket_.async_read_some(asio::buffer(buffer_), [self](const boost::system::error_code& ec, size_t n) {
      self->reading_ = false;
      if (self->closed_) return;
      if (self->finishing_) return ec ? self->close() : self->discard_until_eof();  // refused meanwhile
      if (ec) return self->close();
      self->decoder_.feed(std::string_view(self->buffer_.data(), n));
      v1::Envelope request;
      switch (self->decoder_.next(&request)) {
        case wire::FrameDecoder::Status::kNeedMore: return self->read_more();
        case wire::FrameDecoder::Status::kTooLarge:
          spdlog::warn("local socket: {} sent a frame of {} bytes, over the maximum; closing", self->peer_,
                       self->decoder_.declared_length());
          return self->refuse(v1::Error::FRAME_TOO_LARGE, "frame over the maximum size");
        case wire::FrameDecoder::Status::kMalformed:
          spdlog::warn("local socket: {} sent bytes that are not a sentinel frame; closing", self->peer_);
          return self->refuse(v1::Error::MALFORMED, "not a sentinel.v1.Envelope frame");
        case wire::FrameDecoder::Status::kFrame: self->got_request_ = true; self->timer_.cancel();
          return self->dispatch(request);
      }
    });
  }

  void dispatch(const v1::Envelope& request) {
    if (request.has_status_request()) {
      v1::Envelope reply;
      *reply.mutable_status() = server_.handlers_.status();
      return send_final(reply);
    }
    if (request.has_scan_request()) {
      ScanRequest scan;
      scan.kind = request.scan_request().kind() == v1::DEEP ? v1::DEEP : v1::QUICK;
      scan.volume = request.scan_request().volume();
      if (scan.kind == v1::QUICK && !scan.volume.empty()) {
        return refuse(v1::Error::BAD_REQUEST, "a volume can only be given for a deep scan");
      }
      if (const std::string why = server_.handlers_.check_scan(scan); !why.empty()) {
        return refuse(v1::Error::BAD_REQUEST, why);
      }
      spdlog::info("local socket: {} asked for a {} scan{}", peer_, scan.kind == v1::DEEP ? "deep" : "quick",
                   scan.volume.empty() ? "" : " of " + scan.volume);
      auto self = shared_from_this();
      server_.handlers_.scan(
          scan,
          [self](const ScanOutcome& outcome, bool joined) {
            if (!outcome.error.empty()) return self->refuse(v1::Error::UNAVAILABLE, outcome.error);
            v1::Envelope reply;
            *reply.mutable_scan_result()->mutable_inventory() = outcome.inventory;
            reply.mutable_scan_result()->set_sequence(outcome.sequence);
            reply.mutable_scan_result()->set_joined(joined);
            self->send_final(reply);
          },
          [self](const v1::Progress& progress) {
            v1::Envelope message;
            *message.mutable_progress() = progress;
            self->send(wire::encode_frame(message), false);
          });
      return;
    }
    spdlog::warn("local socket: {} sent a {} where a request was expected", peer_, wire::body_name(request));
    refuse(v1::Error::UNEXPECTED, std::string("expected status_request or scan_request, got ") +
                                      wire::body_name(request));
  }

  void refuse(v1::Error::Code code, const std::string& why) { send(wire::encode_frame(wire::make_error(code, why)), true); }
  void send_final(const v1::Envelope& envelope) { send(wire::encode_frame(envelope), true); }

  void send(std::string frame, bool last) {
    if (closed_ || finishing_) return;
    finishing_ = last;
    outbox_.push_back(std::move(frame));
    if (!writing_) write_next();
  }

  void write_next() {
    if (closed_) return;
    if (outbox_.empty()) {
      writing_ = false;
      if (finishing_) drain_and_close();
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    asio::async_write(socket_, asio::buffer(outbox_.front()), [self](const boost::system::error_code& ec, size_t) {
      if (ec) return self->close();  // the caller went away; the scan goes on for the agent
      self->outbox_.pop_front();
      self->write_next();
    });
  }

  // After the last reply: stop sending and read what the caller still sends until it hangs up (at most 2 s),
  // so a caller that was refused before it finished writing its request still reads the refusal instead of
  // a reset connection.
  void drain_and_close() {
    boost::system::error_code ignored;
    socket_.shutdown(local::socket::shutdown_send, ignored);
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::seconds(2));
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
    if (!reading_) discard_until_eof();  // else the outstanding read carries on discarding
  }

  void discard_until_eof() {
    auto self = shared_from_this();
    reading_ = true;
    socket_.async_read_some(asio::buffer(buffer_), [self](const boost::system::error_code& ec, size_t) {
      self->reading_ = false;
      if (self->closed_) return;
      if (ec) return self->close();
      self->discard_until_eof();
    });
  }

  ControlServer& server_;
  local::socket socket_;
  asio::steady_timer timer_;
  wire::FrameDecoder decoder_;
  std::array<char, 16 * 1024> buffer_{};
  std::deque<std::string> outbox_;
  std::string peer_;
  bool writing_ = false;
  bool finishing_ = false;
  bool got_request_ = false;
  bool reading_ = false;  // a read is outstanding (Asio allows one at a time)
  bool closed_ = false;
};

ControlServer::ControlServer(asio::io_context& loop, ControlServerSettings settings, ControlHandlers handlers)
    : loop_(loop), settings_(std::move(settings)), handlers_(std::move(handlers)), acceptor_(loop) {}

ControlServer::~ControlServer() { stop(); }

bool ControlServer::start(std::string* error) {
  const std::string& path = settings_.socket_path;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      *error = path + " exists and is not a socket; remove it or choose another --socket";
      return false;
    }
    std::string ignored;
    if (wire::connect_unix(path, &ignored)) {
      *error = "another process is listening on " + path + " (a second agent?); stop it or choose another --socket";
      return false;
    }
    ::unlink(path.c_str());  // stale: left by an agent that did not stop cleanly
  }
  // Bound under a temporary name, given its mode and group, then renamed into place: the socket never
  // appears at `path` with the umask's wider mode, not even for a moment.
  const std::string staging = path + ".new";
  const std::string& bind_path = staging.size() < 108 ? staging : path;
  ::unlink(staging.c_str());
  boost::system::error_code ec;
  acceptor_.open(local(), ec);
  if (!ec) acceptor_.bind(local::endpoint(bind_path), ec);
  if (ec) {
    *error = "cannot create socket " + path + ": " + ec.message() + " (does its directory exist and is it writable?)";
    return false;
  }
  if (::chmod(bind_path.c_str(), 0660) != 0 ||
      (settings_.allowed_group && ::chown(bind_path.c_str(), static_cast<uid_t>(-1), *settings_.allowed_group) != 0)) {
    *error = "cannot set mode/group of " + path + ": " + std::strerror(errno);
    ::unlink(bind_path.c_str());
    return false;
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec || (bind_path != path && ::rename(bind_path.c_str(), path.c_str()) != 0)) {
    *error = "cannot listen on " + path + ": " + (ec ? ec.message() : std::string(std::strerror(errno)));
    ::unlink(bind_path.c_str());
    return false;
  }
  owns_file_ = true;
  accept_next();
  return true;
}

bool ControlServer::adopt(int listening_fd, std::string* error) {
  boost::system::error_code ec;
  acceptor_.assign(local(), listening_fd, ec);
  if (ec) {
    *error = "cannot adopt the socket systemd passed: " + ec.message();
    return false;
  }
  accept_next();
  return true;
}

void ControlServer::accept_next() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, local::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      auto session = std::make_shared<Session>(*this, std::move(socket));
      sessions_.insert(session);
      session->start();
    } else {
      spdlog::warn("local socket: accept failed: {}", ec.message());
    }
    accept_next();
  });
}

void ControlServer::stop() {
  boost::system::error_code ignored;
  if (acceptor_.is_open()) acceptor_.close(ignored);
  auto sessions = sessions_;
  for (const auto& session : sessions) session->close();
  if (owns_file_) {
    ::unlink(settings_.socket_path.c_str());
    owns_file_ = false;
  }
}

}  // namespace sentinel::daemon
