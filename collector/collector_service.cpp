#include "collector/collector_service.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <thread>

#include "collector/amqp_publisher.h"
#include "collector/committer.h"
#include "collector/fleet_view.h"
#include "collector/http_api.h"
#include "collector/http_server.h"
#include "collector/listener.h"
#include "collector/migrations.h"
#include "collector/store.h"
#include "collector/systemd_notify.h"

namespace sentinel::collector {

namespace asio = boost::asio;

namespace {

constexpr auto kShutdownGrace = std::chrono::seconds(5);

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Written to a temporary name and renamed, so a reader never sees half a file.
bool write_port_file(const std::string& path, const std::string& listen, const std::string& http,
                     std::string* error) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << "listen=" << listen << "\nhttp=" << http << "\n";
    out.flush();
    if (!out) {
      *error = "cannot write " + temporary;
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    *error = "cannot rename " + temporary + " to " + path;
    return false;
  }
  return true;
}

}  // namespace

int CollectorService::run() {
  spdlog::info("sentinel-collector {} starting: {}", kCollectorVersion, describe(config_));
  std::string error;
  auto store = Store::open(config_.db_path, config_.sync, &error);
  if (!store) {
    spdlog::error("{}", error);
    return 1;
  }
  if (store->schema_version_found() != kSchemaVersion) {
    spdlog::info("store {}: schema migrated from version {} to {}", config_.db_path, store->schema_version_found(),
                 kSchemaVersion);
  }
  Metrics metrics;
  CommitterOptions committer_options;
  committer_options.retention = config_.retention;
  std::unique_ptr<AmqpPublisher> publisher;
  if (!config_.amqp_url.empty()) {
    store->set_record_events(true);
    AmqpPublisherOptions publisher_options;
    publisher_options.url = config_.amqp_url;
    publisher_options.exchange = config_.amqp_exchange;
    publisher_options.db_path = config_.db_path;
    publisher_options.stale_after = config_.stale_after;
    publisher = std::make_unique<AmqpPublisher>(publisher_options, metrics);
    committer_options.on_events = [p = publisher.get()] { p->notify(); };
  }
  Committer committer(*store, metrics, committer_options);

  asio::io_context ingest_io(1);
  asio::io_context http_io(1);
  AgentListener listener(ingest_io, config_, committer, metrics, kCollectorVersion);
  const auto agent_endpoint = listener.open(&error);
  if (!agent_endpoint) {
    spdlog::error("{}", error);
    return 1;
  }
  auto view = FleetView::open(config_.db_path, config_.stale_after.count(), &error);
  if (!view) {
    spdlog::error("{}", error);
    return 1;
  }
  HttpApi api(*view, metrics, config_, wall_clock_ns);
  HttpServer http(http_io, config_, api, metrics);
  const auto http_endpoint = http.open(&error);
  if (!http_endpoint) {
    spdlog::error("{}", error);
    return 1;
  }
  const std::string agent_address = endpoint_text(*agent_endpoint);
  const std::string http_address = endpoint_text(*http_endpoint);
  if (!config_.port_file.empty() && !write_port_file(config_.port_file, agent_address, http_address, &error)) {
    spdlog::error("--port-file: {}", error);
    return 1;
  }

  committer.start();
  if (publisher) publisher->start();
  listener.start();
  http.start();
  std::thread http_thread([&http_io] {
    ::pthread_setname_np(::pthread_self(), "http");
    http_io.run();
  });

  SystemdNotifier systemd(ingest_io);
  asio::signal_set signals(ingest_io, SIGTERM, SIGINT, SIGHUP);
  bool stopping = false;
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (signal == SIGHUP) {
          spdlog::info("SIGHUP: the configuration is read at start only; restart sentinel-collector to change it");
          signals.async_wait(on_signal);
          return;
        }
        spdlog::info("{}: stopping (no new connections; committing and acking what was received)",
                     signal == SIGTERM ? "SIGTERM" : "SIGINT");
        stopping = true;
        systemd.stopping();
        systemd.stop();
        signals.cancel();
        listener.shutdown(kShutdownGrace);
        asio::post(http_io, [&http] { http.shutdown(); });
      };
  signals.async_wait(on_signal);

  spdlog::info("listening for agents on {}{}, HTTP API on {}, store {}", agent_address,
               config_.tls_enabled() ? " (TLS)" : "", http_address, config_.db_path);
  systemd.ready("listening on " + agent_address + ", API on " + http_address);
  systemd.start([&] {
    return std::to_string(listener.open_connections()) + " agent connections, " +
           std::to_string(metrics.reports_stored.load(std::memory_order_relaxed)) + " reports stored";
  });

  ingest_io.run();
  if (!stopping) spdlog::warn("the agent event loop ended without a signal");
  asio::post(http_io, [&http] { http.shutdown(); });
  http_thread.join();
  committer.stop();
  if (publisher) publisher->stop();  // unconfirmed events stay in the store for the next start
  spdlog::info("stopped: {} reports stored, {} duplicates acked", metrics.reports_stored.load(),
               metrics.reports_duplicate.load());
  return 0;
}

}  // namespace sentinel::collector
