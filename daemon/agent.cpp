#include "daemon/agent.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <csignal>

#include "proto/wire/duration.h"
#include "proto/wire/wire_form.h"

namespace sentinel::daemon {

namespace {

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Agent::Agent(std::vector<std::string> args, AgentConfig config)
    : args_(std::move(args)),
      config_(std::move(config)),
      stop_signals_(loop_, SIGTERM, SIGINT),
      reload_signal_(loop_, SIGHUP),
      quick_timer_(loop_),
      deep_timer_(loop_),
      shutdown_timer_(loop_),
      notifier_(loop_),
      scan_settings_(node_scan_settings(config_)) {}

Agent::~Agent() {
  // Order matters: the runner's worker may still post to the loop; stop it before the parts it calls.
  if (runner_) runner_->cancel();
  runner_.reset();
  control_.reset();
  reporter_.reset();
}

NodeScanSettings Agent::scan_settings() const {
  std::lock_guard lock(settings_mutex_);
  return scan_settings_;
}

bool Agent::start(std::string* error) {
  started_at_ns_ = wall_clock_ns();
  spdlog::info("sentinel-agent {} starting: {}", SENTINEL_VERSION_STRING, describe(config_));
  if (!config_.collector.empty()) {
    std::vector<std::string> warnings;
    spool_ = ReportSpool::open(config_.state_dir,
                               SpoolLimits{config_.spool_max_reports, config_.spool_max_bytes}, error, &warnings);
    if (!spool_) return false;
    for (const auto& warning : warnings) spdlog::warn("spool: {}", warning);
    if (!spool_->pending().empty()) {
      spdlog::info("spool: {} report(s) from an earlier run wait for the collector's ack", spool_->pending().size());
    }
    ReporterSettings settings;
    settings.collector = config_.collector;
    settings.node = config_.node;
    settings.agent_version = SENTINEL_VERSION_STRING;
    settings.max_frame_bytes = config_.max_frame_bytes;
    settings.ack_timeout = config_.ack_timeout;
    settings.reconnect_max = config_.reconnect_max;
    settings.tls_ca = config_.tls_ca;
    settings.tls_cert = config_.tls_cert;
    settings.tls_key = config_.tls_key;
    settings.tls_server_name = config_.tls_server_name;
    reporter_ = std::make_unique<Reporter>(loop_, *spool_, settings);
  } else {
    spdlog::info("no --collector: scans are kept locally (sentinelctl status / scan --socket), nothing is sent");
  }

  runner_ = std::make_unique<ScanRunner>(
      loop_,
      [this](const ScanRequest& request, const std::atomic<bool>& cancelled,
             const std::function<void(const v1::Progress&)>& progress) {
        return scan_node(scan_settings(), request, cancelled, progress);
      },
      [this](ScanOutcome& outcome) { on_scan_finished(outcome); });

  ControlServerSettings control_settings;
  control_settings.socket_path = config_.socket_path;
  control_settings.allowed_group = config_.socket_group;
  control_settings.max_frame_bytes = config_.max_frame_bytes;
  ControlHandlers handlers;
  handlers.status = [this] { return status(); };
  handlers.check_scan = [this](const ScanRequest& request) { return check_scan(request); };
  handlers.scan = [this](const ScanRequest& request, ScanWaiter waiter, ProgressListener progress) {
    runner_->request(request, std::move(waiter), std::move(progress));
  };
  control_ = std::make_unique<ControlServer>(loop_, control_settings, handlers);
  if (auto fd = systemd_listening_socket()) {
    if (!control_->adopt(*fd, error)) return false;
    spdlog::info("local socket: adopted the socket systemd passed (socket activation)");
  } else if (!control_->start(error)) {
    return false;
  }
  spdlog::info("local socket: listening on {} (root{})", config_.socket_path,
               config_.socket_group ? " and group " + config_.socket_group_name : std::string(" only"));

  if (reporter_ && !reporter_->start(error)) return false;
  notifier_.start_watchdog();
  wait_for_stop_signal();
  wait_for_reload_signal();
  schedule(quick_timer_, std::chrono::nanoseconds(0), v1::QUICK);
  if (config_.deep_interval.count() > 0) schedule(deep_timer_, config_.deep_interval, v1::DEEP);
  return true;
}

int Agent::run() {
  std::string error;
  if (!start(&error)) {
    spdlog::error("cannot start: {}", error);
    return 1;
  }
  loop_.run();
  spdlog::info("sentinel-agent stopped");
  return exit_code_;
}

void Agent::schedule(boost::asio::steady_timer& timer, std::chrono::nanoseconds interval, v1::ScanKind kind) {
  timer.expires_after(interval);
  timer.async_wait([this, &timer, kind](const boost::system::error_code& ec) {
    if (ec || stopping_) return;
    runner_->request(ScanRequest{kind, ""});
    schedule(timer, kind == v1::QUICK ? config_.quick_interval : config_.deep_interval, kind);
  });
}

void Agent::on_scan_finished(ScanOutcome& outcome) {
  const bool deep = outcome.request.kind == v1::DEEP;
  (deep ? last_deep_at_ns_ : last_quick_at_ns_) = outcome.finished_at_ns;
  if (deep) last_quick_at_ns_ = outcome.finished_at_ns;  // a deep scan includes the quick one
  replica_count_ = static_cast<uint32_t>(outcome.inventory.replicas_size());
  findings_count_ = 0;
  volumes_.clear();
  for (const auto& replica : outcome.inventory.replicas()) {
    volumes_.insert(replica.volume());
    for (const auto& finding : replica.findings()) {
      if (finding.severity() >= v1::Finding::WARNING) ++findings_count_;
    }
  }
  if (spool_) {
    v1::Report report;
    report.set_kind(outcome.request.kind);
    report.set_volume(outcome.request.volume);
    report.set_created_at_ns(outcome.finished_at_ns);
    *report.mutable_inventory() = outcome.inventory;
    wire::compact_for_wire(report.mutable_inventory());  // about half the bytes; the collector expands it
    std::string error;
    outcome.sequence = spool_->add(std::move(report), &error);
    if (outcome.sequence == 0) {
      spdlog::error("cannot spool the {} scan's report: {}; it will not reach the collector "
                    "(check that {} is writable and not full)",
                    deep ? "deep" : "quick", error, config_.state_dir);
    } else if (reporter_) {
      reporter_->report_added();
    }
  }
  const std::string line = std::string(deep ? "deep" : "quick") + " scan: " + std::to_string(replica_count_) +
                           " replica(s), " + std::to_string(findings_count_) + " finding(s) of warning or error" +
                           (spool_ ? ", spool " + std::to_string(spool_->stats().reports) : std::string());
  spdlog::log(deep ? spdlog::level::info : spdlog::level::debug, "{} (report {})", line, outcome.sequence);
  notifier_.status(line);
  if (!scanned_once_) {
    scanned_once_ = true;
    spdlog::info("first scan done: {}", line);
    notifier_.ready();
  }
}

v1::AgentStatus Agent::status() const {
  v1::AgentStatus status;
  status.set_node(config_.node);
  status.set_agent_version(SENTINEL_VERSION_STRING);
  status.set_started_at_ns(started_at_ns_);
  if (auto running = runner_->running()) {
    status.set_scanning(true);
    status.set_scan_kind(running->kind);
  }
  status.set_last_quick_scan_at_ns(last_quick_at_ns_);
  status.set_last_deep_scan_at_ns(last_deep_at_ns_);
  status.set_replica_count(replica_count_);
  status.set_findings_count(findings_count_);
  status.set_collector(config_.collector);
  for (const auto& disk : config_.disks) status.add_disks(disk);
  if (reporter_) {
    status.set_collector_connected(reporter_->status().connected);
    status.set_collector_last_error(reporter_->status().last_error);
  }
  if (spool_) {
    const SpoolStats stats = spool_->stats();
    status.set_next_sequence(stats.next_sequence);
    status.set_last_acked_sequence(spool_->last_acked());
    status.set_spool_reports(stats.reports);
    status.set_spool_bytes(stats.bytes);
    status.set_reports_coalesced(stats.coalesced_total);
  }
  return status;
}

std::string Agent::check_scan(const ScanRequest& request) const {
  if (stopping_) return "the agent is shutting down";
  if (request.volume.empty() || !scanned_once_ || volumes_.count(request.volume)) return "";
  std::string known;
  for (const auto& volume : volumes_) known += (known.empty() ? "" : ", ") + volume;
  return "no replica of volume " + request.volume + " on this node's disks (the last scan found: " +
         (known.empty() ? "none" : known) + ")";
}

void Agent::wait_for_stop_signal() {
  stop_signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (!ec) shut_down(signal == SIGTERM ? "SIGTERM" : "SIGINT");
  });
}

void Agent::wait_for_reload_signal() {
  reload_signal_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec || stopping_) return;
    reload();
    wait_for_reload_signal();
  });
}

void Agent::reload() {
  ConfigOutcome outcome = parse_agent_config(args_);
  if (!outcome.config) {
    spdlog::error("SIGHUP: the configuration no longer parses ({}); keeping the running one", outcome.error);
    return;
  }
  AgentConfig next = std::move(*outcome.config);
  auto needs_restart = [&](const char* name, const std::string& before, const std::string& after) {
    if (before != after) spdlog::warn("SIGHUP: {} changed ({} -> {}); takes effect after a restart", name, before, after);
  };
  needs_restart("node", config_.node, next.node);
  needs_restart("collector", config_.collector, next.collector);
  needs_restart("socket", config_.socket_path, next.socket_path);
  needs_restart("state-dir", config_.state_dir, next.state_dir);
  next.node = config_.node;
  next.collector = config_.collector;
  next.socket_path = config_.socket_path;
  next.state_dir = config_.state_dir;
  spdlog::set_level(spdlog::level::from_str(next.log_level));
  const bool quick_changed = next.quick_interval != config_.quick_interval;
  const bool deep_changed = next.deep_interval != config_.deep_interval;
  config_ = std::move(next);
  {
    std::lock_guard lock(settings_mutex_);
    scan_settings_ = node_scan_settings(config_);
  }
  if (quick_changed) schedule(quick_timer_, config_.quick_interval, v1::QUICK);
  if (deep_changed) {
    deep_timer_.cancel();
    if (config_.deep_interval.count() > 0) schedule(deep_timer_, config_.deep_interval, v1::DEEP);
  }
  spdlog::info("SIGHUP: configuration reloaded: {}", describe(config_));
}

void Agent::shut_down(const char* why) {
  if (stopping_) return;
  stopping_ = true;
  spdlog::info("{}: stopping (the running scan is cancelled at the next replica; spooled reports are kept)", why);
  notifier_.stopping();
  quick_timer_.cancel();
  deep_timer_.cancel();
  reload_signal_.cancel();
  runner_->cancel();
  control_->stop();
  finish_shutdown(std::chrono::steady_clock::now() + std::chrono::seconds(2));
}

// Polls until the scan has finished and the acks of reports in flight are in, or the deadline passes.
void Agent::finish_shutdown(std::chrono::steady_clock::time_point deadline) {
  const bool scan_done = !runner_->busy();
  const bool acks_done = !reporter_ || !reporter_->status().connected || reporter_->in_flight() == 0;
  const bool late = std::chrono::steady_clock::now() >= deadline;
  if ((scan_done && acks_done) || late) {
    if (!scan_done) {
      spdlog::warn("a scan is still reading a replica; exiting without waiting for it (nothing is lost: it "
                   "was not reported yet)");
    }
    if (reporter_) reporter_->stop();
    notifier_.stop_watchdog();
    stop_signals_.cancel();
    if (!scan_done) {
      spdlog::default_logger()->flush();
      std::_Exit(0);  // the worker thread cannot be interrupted mid-read; the spool is already durable
    }
    loop_.stop();
    return;
  }
  shutdown_timer_.expires_after(std::chrono::milliseconds(20));
  shutdown_timer_.async_wait([this, deadline](const boost::system::error_code& ec) {
    if (!ec) finish_shutdown(deadline);
  });
}

}  // namespace sentinel::daemon
