// systemd integration through libsystemd: readiness, status lines and watchdog pings (sd_notify), and the
// listening socket of socket activation (sd_listen_fds).
//
// Contract: every call is a no-op when the agent does not run under systemd (NOTIFY_SOCKET unset), so the
// same binary runs by hand, in a container or as a unit. The watchdog pings at half of WATCHDOG_USEC, from
// the event loop, so a hung loop stops the pings and systemd restarts the agent. Loop-thread only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <string>

namespace sentinel::daemon {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(boost::asio::io_context& loop);
  void ready();                            // READY=1 (once)
  void status(const std::string& line);    // STATUS=<line>
  void stopping();                         // STOPPING=1
  void start_watchdog();                   // WATCHDOG=1 every WATCHDOG_USEC/2 when systemd asks for it
  void stop_watchdog();
  bool watchdog_enabled() const { return watchdog_interval_.count() > 0; }

 private:
  void ping();
  boost::asio::steady_timer timer_;
  std::chrono::microseconds watchdog_interval_{0};
  bool ready_sent_ = false;
};

// The first socket systemd passed (LISTEN_FDS), if it is a Unix stream socket; nullopt otherwise.
std::optional<int> systemd_listening_socket();

}  // namespace sentinel::daemon
