// Agent: sentinel-agent's parts wired on one Boost.Asio event loop: the scheduler (quick scans every
// quick_interval, deep scans every deep_interval when set), the ScanRunner, the spool and the Reporter, the
// local ControlServer, systemd notification, and the signals.
//
// Contract:
// - run() returns the process exit code: 0 after SIGTERM/SIGINT (the running scan is cancelled at the next
//   replica, the reporter gets up to 2 s to collect acks of reports in flight, sockets are closed, the socket
//   file removed); 1 when the agent cannot start (state dir, socket).
// - Every completed scan is spooled as a Report (when a collector is configured) before anyone is told it
//   finished; so a status or scan reply that names a sequence refers to a durable report.
// - SIGHUP re-parses the same arguments (the config file re-read). Intervals, disks, scan threads, read cap,
//   socket group and log level take effect at once; node, collector, socket and state dir need a restart
//   (logged). A config that no longer parses is logged and the running one kept.
// - READY=1 is sent after the first scan has been spooled; STATUS= after every scan; WATCHDOG=1 while the loop
//   runs (systemd_notify.h).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/agent_config.h"
#include "daemon/control_server.h"
#include "daemon/node_scan.h"
#include "daemon/report_spool.h"
#include "daemon/reporter.h"
#include "daemon/scan_runner.h"
#include "daemon/systemd_notify.h"

namespace sentinel::daemon {

class Agent {
 public:
  Agent(std::vector<std::string> args, AgentConfig config);
  ~Agent();
  int run();

 private:
  bool start(std::string* error);
  void schedule(boost::asio::steady_timer& timer, std::chrono::nanoseconds interval, v1::ScanKind kind);
  void on_scan_finished(ScanOutcome& outcome);
  v1::AgentStatus status() const;
  std::string check_scan(const ScanRequest& request) const;
  void wait_for_stop_signal();
  void wait_for_reload_signal();
  void reload();
  void shut_down(const char* why);
  void finish_shutdown(std::chrono::steady_clock::time_point deadline);
  NodeScanSettings scan_settings() const;

  std::vector<std::string> args_;
  AgentConfig config_;  // replaced as a whole on SIGHUP, loop thread only
  boost::asio::io_context loop_;
  boost::asio::signal_set stop_signals_;
  boost::asio::signal_set reload_signal_;
  boost::asio::steady_timer quick_timer_;
  boost::asio::steady_timer deep_timer_;
  boost::asio::steady_timer shutdown_timer_;
  SystemdNotifier notifier_;
  std::optional<ReportSpool> spool_;
  std::unique_ptr<Reporter> reporter_;
  std::unique_ptr<ScanRunner> runner_;
  std::unique_ptr<ControlServer> control_;

  mutable std::mutex settings_mutex_;  // scan_settings_ is read by the scan worker thread
  NodeScanSettings scan_settings_;

  int64_t started_at_ns_ = 0;
  int64_t last_quick_at_ns_ = 0;
  int64_t last_deep_at_ns_ = 0;
  uint32_t replica_count_ = 0;
  uint32_t findings_count_ = 0;
  std::set<std::string> volumes_;  // in the last scan
  bool scanned_once_ = false;
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace sentinel::daemon
