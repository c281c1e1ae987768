#include "tests/daemon/test_collector.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <stdexcept>

#include "proto/wire/blocking_socket.h"
#include "proto/wire/frame_codec.h"

namespace sentinel::testing {

namespace {

struct Client {
  int fd;
  wire::FrameDecoder decoder;
  std::string node;
};

}  // namespace

TestCollector::TestCollector(int port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 16) != 0) {
    throw std::runtime_error("test collector cannot listen on port " + std::to_string(port));
  }
  thread_ = std::thread([this] { serve(); });
}

TestCollector::~TestCollector() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void TestCollector::serve() {
  std::vector<std::unique_ptr<Client>> clients;
  while (!stop_) {
    std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
    for (const auto& client : clients) fds.push_back({client->fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    if (fds[0].revents & POLLIN) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) clients.push_back(std::make_unique<Client>(Client{fd, wire::FrameDecoder(), ""}));
    }
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      Client& client = *clients[i - 1];
      char buf[65536];
      const ssize_t n = ::recv(client.fd, buf, sizeof buf, 0);
      bool close_it = n <= 0;
      if (n > 0) client.decoder.feed(std::string_view(buf, static_cast<size_t>(n)));
      v1::Envelope in;
      while (!close_it) {
        const auto status = client.decoder.next(&in);
        if (status == wire::FrameDecoder::Status::kNeedMore) break;
        if (status != wire::FrameDecoder::Status::kFrame) {
          close_it = true;
          break;
        }
        v1::Envelope out;
        std::string error;
        if (in.has_hello()) {
          client.node = in.hello().node();
          out.mutable_hello_ack()->set_protocol_version(v1::PROTOCOL_VERSION_1);
          out.mutable_hello_ack()->set_collector_version("test-collector");
          std::lock_guard lock(mutex_);
          ++hellos_;
        } else if (in.has_report()) {
          const uint64_t sequence = in.report().sequence();
          std::lock_guard lock(mutex_);
          received_[client.node].push_back(sequence);
          if (hold_) continue;
          const bool duplicate = !stored_set_[client.node].insert(sequence).second;
          if (duplicate) {
            ++duplicates_;
          } else {
            stored_[client.node].push_back(sequence);
            last_[client.node] = in.report();
          }
          out.mutable_ack()->set_sequence(sequence);
          out.mutable_ack()->set_duplicate(duplicate);
        } else {
          close_it = true;
          break;
        }
        if (!wire::send_frame(client.fd, out, std::chrono::seconds(5), &error)) close_it = true;
      }
      if (close_it) {
        ::close(client.fd);
        client.fd = -1;
      }
    }
    std::erase_if(clients, [](const auto& client) { return client->fd < 0; });
  }
  for (const auto& client : clients) ::close(client->fd);
}

std::vector<uint64_t> TestCollector::stored(const std::string& node) const {
  std::lock_guard lock(mutex_);
  auto it = stored_.find(node);
  return it == stored_.end() ? std::vector<uint64_t>{} : it->second;
}

v1::Report TestCollector::last_report(const std::string& node) const {
  std::lock_guard lock(mutex_);
  auto it = last_.find(node);
  return it == last_.end() ? v1::Report{} : it->second;
}

std::vector<uint64_t> TestCollector::received(const std::string& node) const {
  std::lock_guard lock(mutex_);
  auto it = received_.find(node);
  return it == received_.end() ? std::vector<uint64_t>{} : it->second;
}

size_t TestCollector::duplicates() const {
  std::lock_guard lock(mutex_);
  return duplicates_;
}

size_t TestCollector::hellos() const {
  std::lock_guard lock(mutex_);
  return hellos_;
}

void TestCollector::hold_acks(bool hold) { hold_ = hold; }

}  // namespace sentinel::testing
