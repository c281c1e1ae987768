#include "collector/systemd_notify.h"

#include <systemd/sd-daemon.h>

namespace sentinel::collector {

namespace {
// STATUS is refreshed this often even without a watchdog (systemctl status shows it).
constexpr std::chrono::microseconds kStatusInterval = std::chrono::seconds(10);
}  // namespace

SystemdNotifier::SystemdNotifier(boost::asio::io_context& loop) : timer_(loop) {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) watchdog_interval_ = std::chrono::microseconds(usec / 2);
}

void SystemdNotifier::ready(const std::string& status) { sd_notify(0, ("READY=1\nSTATUS=" + status).c_str()); }

void SystemdNotifier::status(const std::string& line) { sd_notify(0, ("STATUS=" + line).c_str()); }

void SystemdNotifier::stopping() { sd_notify(0, "STOPPING=1\nSTATUS=shutting down"); }

void SystemdNotifier::start(std::function<std::string()> status_line) {
  status_line_ = std::move(status_line);
  tick();
}

void SystemdNotifier::stop() {
  stopped_ = true;
  timer_.cancel();
}

void SystemdNotifier::tick() {
  if (stopped_) return;
  if (watchdog_interval_.count() > 0) sd_notify(0, "WATCHDOG=1");
  if (status_line_) status(status_line_());
  const auto interval = watchdog_interval_.count() > 0 ? std::min(watchdog_interval_, kStatusInterval)
                                                       : kStatusInterval;
  timer_.expires_after(interval);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

}  // namespace sentinel::collector
