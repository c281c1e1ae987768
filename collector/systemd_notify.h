// systemd integration through libsystemd (sd_notify): READY=1 once listening, STATUS= lines, STOPPING=1, and
// WATCHDOG=1 at half of WATCHDOG_USEC.
//
// Contract: every call is a no-op when not run by systemd (NOTIFY_SOCKET unset), so the same binary runs by
// hand, in a container or as a unit. The watchdog pings from the ingest event loop, so a hung loop stops the
// pings and systemd restarts the collector. Loop-thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <string>

namespace sentinel::collector {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(boost::asio::io_context& loop);
  void ready(const std::string& status);
  void status(const std::string& line);
  void stopping();
  // Pings WATCHDOG=1 (when systemd asked for it) and refreshes STATUS from `status_line` every interval.
  void start(std::function<std::string()> status_line);
  void stop();

 private:
  void tick();
  boost::asio::steady_timer timer_;
  std::chrono::microseconds watchdog_interval_{0};
  std::function<std::string()> status_line_;
  bool stopped_ = false;
};

}  // namespace sentinel::collector
