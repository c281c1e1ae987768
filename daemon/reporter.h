// Reporter: ships the spool's reports to sentinel-collector over TCP, in sequence order, and removes each one
// from the spool only when the collector has acked it (after its store committed).
//
// Contract:
// - Loop-thread only (one io_context thread); nothing blocks.
// - Connection: resolve, connect, Hello{protocol 1, node, agent version}, wait for HelloAck; then every
//   pending report is sent in ascending sequence order, at most `window` unacked at a time. Reconnects after
//   any failure (refused, reset, Error frame, malformed or oversized frame, no ack within ack_timeout) with
//   exponential backoff from 250 ms up to reconnect_max, with full jitter (half to all of the delay), so a
//   fleet that lost its collector does not reconnect in lock step. The backoff resets after a HelloAck.
// - After a reconnect every unacked report is sent again from the lowest sequence: the collector acks a
//   (node, sequence) it already stored as a duplicate, so a report is stored once however often it is sent.
// - TLS (optional): the collector's certificate must chain to the configured CA and carry the server name;
//   the agent presents its own certificate (the collector checks its CN against the node in Hello).
// - stop() closes the connection and cancels timers; reports stay in the spool for the next run.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "daemon/report_spool.h"
#include "proto/wire/frame_codec.h"

namespace sentinel::daemon {

struct ReporterSettings {
  std::string collector;  // HOST:PORT
  std::string node;
  std::string agent_version;
  size_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
  std::chrono::nanoseconds ack_timeout{std::chrono::seconds(30)};
  std::chrono::nanoseconds connect_timeout{std::chrono::seconds(10)};
  std::chrono::nanoseconds reconnect_max{std::chrono::seconds(30)};
  uint32_t window = 8;
  // TLS (all empty = plain TCP): verify the collector against tls_ca and tls_server_name, present tls_cert.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
};

struct ReporterStatus {
  bool connected = false;  // handshake done
  std::string last_error;
  uint64_t reports_acked = 0;
  uint64_t duplicates_acked = 0;
  uint64_t connects = 0;
};

class Reporter {
 public:
  Reporter(boost::asio::io_context& loop, ReportSpool& spool, ReporterSettings settings);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // Loads the TLS files when configured; false with *error when they cannot be used. Then connects.
  bool start(std::string* error);
  // A report was added to the spool: send it if connected.
  void report_added();
  void stop();
  const ReporterStatus& status() const { return status_; }
  // Reports sent on the current connection and not acked yet.
  size_t in_flight() const;

 private:
  struct Connection;
  void connect();
  void handshake_done(const std::shared_ptr<Connection>& connection);
  void fail(const std::shared_ptr<Connection>& connection, const std::string& why);
  void schedule_reconnect();
  void read_more(const std::shared_ptr<Connection>& connection);
  void on_envelope(const std::shared_ptr<Connection>& connection, const v1::Envelope& envelope);
  void send_pending(const std::shared_ptr<Connection>& connection);
  void enqueue(const std::shared_ptr<Connection>& connection, std::string frame);
  void write_next(const std::shared_ptr<Connection>& connection);
  void arm_ack_timer(const std::shared_ptr<Connection>& connection);

  boost::asio::io_context& loop_;
  ReportSpool& spool_;
  ReporterSettings settings_;
  ReporterStatus status_;
  boost::asio::steady_timer reconnect_timer_;
  std::shared_ptr<Connection> connection_;
  std::chrono::nanoseconds backoff_{std::chrono::milliseconds(250)};
  std::mt19937_64 random_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  bool stopped_ = true;
};

}  // namespace sentinel::daemon
