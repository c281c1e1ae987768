#include "daemon/systemd_notify.h"

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

namespace sentinel::daemon {

SystemdNotifier::SystemdNotifier(boost::asio::io_context& loop) : timer_(loop) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_interval_ = std::chrono::microseconds(usec / 2);
}

void SystemdNotifier::ready() {
  if (ready_sent_) return;
  ready_sent_ = true;
  sd_notify(0, "READY=1");
}

void SystemdNotifier::status(const std::string& line) { sd_notify(0, ("STATUS=" + line).c_str()); }

void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1"); }

void SystemdNotifier::start_watchdog() {
  if (!watchdog_enabled()) return;
  ping();
}

void SystemdNotifier::stop_watchdog() { timer_.cancel(); }

void SystemdNotifier::ping() {
  sd_notify(0, "WATCHDOG=1");
  timer_.expires_after(watchdog_interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) ping();
  });
}

std::optional<int> systemd_listening_socket() {
  const int count = sd_listen_fds(1);
  if (count < 1) return std::nullopt;
  const int fd = SD_LISTEN_FDS_START;
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, nullptr, 0) <= 0) return std::nullopt;
  return fd;
}

}  // namespace sentinel::daemon
