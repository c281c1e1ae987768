#include "daemon/reporter.h"

#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>

namespace sentinel::daemon {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct Reporter::Connection {
  Connection(asio::io_context& loop, size_t max_frame_bytes, asio::ssl::context* tls_context)
      : socket(loop), resolver(loop), timer(loop), ack_timer(loop), decoder(max_frame_bytes) {
    if (tls_context != nullptr) tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket, *tls_context);
  }
  // Reads and writes go through TLS when it is on, else straight to the socket.
  template <typename Buffer, typename Handler>
  void read_some(const Buffer& buffer, Handler&& handler) {
    if (tls) return tls->async_read_some(buffer, std::forward<Handler>(handler));
    socket.async_read_some(buffer, std::forward<Handler>(handler));
  }
  template <typename Buffer, typename Handler>
  void write(const Buffer& buffer, Handler&& handler) {
    if (tls) return asio::async_write(*tls, buffer, std::forward<Handler>(handler));
    asio::async_write(socket, buffer, std::forward<Handler>(handler));
  }
  tcp::socket socket;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  tcp::resolver resolver;
  asio::steady_timer timer;      // connect + handshake deadline
  asio::steady_timer ack_timer;  // no ack for too long
  wire::FrameDecoder decoder;
  std::array<char, 64 * 1024> read_buffer{};
  std::deque<std::string> outbox;
  bool writing = false;
  bool ready = false;  // HelloAck received
  bool closed = false;
  std::set<uint64_t> in_flight;
  uint64_t last_sent = 0;
};

Reporter::Reporter(asio::io_context& loop, ReportSpool& spool, ReporterSettings settings)
    : loop_(loop),
      spool_(spool),
      settings_(std::move(settings)),
      reconnect_timer_(loop),
      random_(std::random_device{}()) {}

Reporter::~Reporter() { stop(); }

bool Reporter::start(std::string* error) {
  if (!settings_.tls_ca.empty()) {
    try {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
      tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
      tls_->load_verify_file(settings_.tls_ca);
      tls_->use_certificate_chain_file(settings_.tls_cert);
      tls_->use_private_key_file(settings_.tls_key, asio::ssl::context::pem);
      tls_->set_verify_mode(asio::ssl::verify_peer);
    } catch (const boost::system::system_error& e) {
      *error = std::string("cannot set up TLS from --tls-ca/--tls-cert/--tls-key: ") + e.what();
      return false;
    }
  }
  stopped_ = false;
  connect();
  return true;
}

void Reporter::stop() {
  stopped_ = true;
  reconnect_timer_.cancel();
  if (connection_) {
    connection_->closed = true;
    boost::system::error_code ignored;
    connection_->socket.close(ignored);
    connection_->timer.cancel();
    connection_->ack_timer.cancel();
    connection_->resolver.cancel();
    connection_.reset();
  }
  status_.connected = false;
}

void Reporter::connect() {
  if (stopped_) return;
  auto connection = std::make_shared<Connection>(loop_, settings_.max_frame_bytes, tls_.get());
  connection_ = connection;
  const auto colon = settings_.collector.rfind(':');
  std::string host = settings_.collector.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  const std::string port = settings_.collector.substr(colon + 1);

  connection->timer.expires_after(settings_.connect_timeout);
  connection->timer.async_wait([this, connection](const boost::system::error_code& ec) {
    if (!ec && !connection->ready) fail(connection, "no handshake within the connect timeout");
  });
  connection->resolver.async_resolve(
      host, port, [this, connection](const boost::system::error_code& ec, tcp::resolver::results_type results) {
        if (connection->closed) return;
        if (ec) return fail(connection, "cannot resolve " + settings_.collector + ": " + ec.message());
        asio::async_connect(connection->socket, results,
                            [this, connection](const boost::system::error_code& ec2, const tcp::endpoint&) {
                              if (connection->closed) return;
                              if (ec2) return fail(connection, "cannot connect to " + settings_.collector + ": " +
                                                                   ec2.message());
                              boost::system::error_code ignored;
                              connection->socket.set_option(tcp::no_delay(true), ignored);
                              if (!connection->tls) return handshake_done(connection);
                              SSL_set_tlsext_host_name(connection->tls->native_handle(),
                                                       settings_.tls_server_name.c_str());
                              connection->tls->set_verify_callback(
                                  asio::ssl::host_name_verification(settings_.tls_server_name));
                              connection->tls->async_handshake(
                                  asio::ssl::stream_base::client,
                                  [this, connection](const boost::system::error_code& ec3) {
                                    if (connection->closed) return;
                                    if (ec3) {
                                      return fail(connection, "TLS handshake with " + settings_.collector +
                                                                  " failed: " + ec3.message() +
                                                                  " (check --tls-ca and --tls-server-name)");
                                    }
                                    handshake_done(connection);
                                  });
                            });
      });
}

void Reporter::handshake_done(const std::shared_ptr<Connection>& connection) {
  v1::Envelope hello;
  hello.mutable_hello()->set_protocol_version(v1::PROTOCOL_VERSION_1);
  hello.mutable_hello()->set_node(settings_.node);
  hello.mutable_hello()->set_agent_version(settings_.agent_version);
  enqueue(connection, wire::encode_frame(hello));
  read_more(connection);
}

void Reporter::fail(const std::shared_ptr<Connection>& connection, const std::string& why) {
  if (connection->closed || connection != connection_) return;
  connection->closed = true;
  boost::system::error_code ignored;
  connection->socket.close(ignored);
  connection->timer.cancel();
  connection->ack_timer.cancel();
  const bool was_connected = status_.connected;
  status_.connected = false;
  if (status_.last_error != why || was_connected) {
    spdlog::warn("collector {}: {}; {} report(s) wait in the spool, retrying", settings_.collector, why,
                 spool_.pending().size());
  }
  status_.last_error = why;
  connection_.reset();
  schedule_reconnect();
}

void Reporter::schedule_reconnect() {
  if (stopped_) return;
  // Full jitter between half and all of the current backoff, then double it (capped).
  std::uniform_int_distribution<int64_t> jitter(backoff_.count() / 2, backoff_.count());
  reconnect_timer_.expires_after(std::chrono::nanoseconds(jitter(random_)));
  backoff_ = std::min(backoff_ * 2, settings_.reconnect_max);
  reconnect_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) connect();
  });
}

void Reporter::read_more(const std::shared_ptr<Connection>& connection) {
  connection->read_some(
      asio::buffer(connection->read_buffer),
      [this, connection](const boost::system::error_code& ec, size_t n) {
        if (connection->closed) return;
        if (ec) {
          return fail(connection, ec == asio::error::eof ? "the collector closed the connection"
                                                         : "connection lost: " + ec.message());
        }
        connection->decoder.feed(std::string_view(connection->read_buffer.data(), n));
        v1::Envelope envelope;
        for (;;) {
          const auto status = connection->decoder.next(&envelope);
          if (status == wire::FrameDecoder::Status::kNeedMore) break;
          if (status == wire::FrameDecoder::Status::kTooLarge) {
            return fail(connection, "the collector sent a frame over the maximum size");
          }
          if (status == wire::FrameDecoder::Status::kMalformed) {
            return fail(connection, "the collector sent a malformed frame");
          }
          on_envelope(connection, envelope);
          if (connection->closed) return;
        }
        read_more(connection);
      });
}

void Reporter::on_envelope(const std::shared_ptr<Connection>& connection, const v1::Envelope& envelope) {
  switch (envelope.body_case()) {
    case v1::Envelope::kHelloAck:
      if (connection->ready) return fail(connection, "unexpected second HelloAck");
      if (envelope.hello_ack().protocol_version() != v1::PROTOCOL_VERSION_1) {
        return fail(connection, "collector speaks protocol version " +
                                    std::to_string(envelope.hello_ack().protocol_version()) + ", this agent 1");
      }
      connection->ready = true;
      connection->timer.cancel();
      backoff_ = std::chrono::milliseconds(250);
      status_.connected = true;
      status_.last_error.clear();
      ++status_.connects;
      spdlog::info("connected to collector {} ({}); {} report(s) to send", settings_.collector,
                   envelope.hello_ack().collector_version(), spool_.pending().size());
      send_pending(connection);
      return;
    case v1::Envelope::kAck: {
      if (!connection->ready) return fail(connection, "ack before the handshake");
      const uint64_t sequence = envelope.ack().sequence();
      if (connection->in_flight.erase(sequence) == 0) {
        spdlog::debug("ack for report {} that was not in flight (ignored)", sequence);
      }
      spool_.acknowledge(sequence);
      ++status_.reports_acked;
      if (envelope.ack().duplicate()) ++status_.duplicates_acked;
      arm_ack_timer(connection);
      send_pending(connection);
      return;
    }
    case v1::Envelope::kError:
      return fail(connection, "collector refused: " + envelope.error().message() + " (" +
                                  v1::Error::Code_Name(envelope.error().code()) + ")");
    default:
      return fail(connection, std::string("unexpected ") + wire::body_name(envelope) + " from the collector");
  }
}

size_t Reporter::in_flight() const { return connection_ ? connection_->in_flight.size() : 0; }

void Reporter::report_added() {
  if (connection_ && connection_->ready) send_pending(connection_);
}

void Reporter::send_pending(const std::shared_ptr<Connection>& connection) {
  for (uint64_t sequence : spool_.pending()) {
    if (connection->in_flight.size() >= settings_.window) break;
    if (sequence <= connection->last_sent) continue;
    std::string error;
    auto report = spool_.load(sequence, &error);
    connection->last_sent = sequence;
    if (!report) {
      spdlog::error("cannot read spooled report {}: {}; it is skipped", sequence, error);
      continue;
    }
    v1::Envelope envelope;
    *envelope.mutable_report() = std::move(*report);
    std::string frame = wire::encode_frame(envelope);
    if (frame.size() > settings_.max_frame_bytes) {
      spdlog::error("report {} is {} bytes, over the {}-byte frame limit; it stays in the spool unsent "
                    "(raise --max-frame-bytes on the agent and the collector)",
                    sequence, frame.size(), settings_.max_frame_bytes);
      continue;
    }
    connection->in_flight.insert(sequence);
    enqueue(connection, std::move(frame));
  }
  arm_ack_timer(connection);
}

void Reporter::arm_ack_timer(const std::shared_ptr<Connection>& connection) {
  if (connection->in_flight.empty()) {
    connection->ack_timer.cancel();
    return;
  }
  connection->ack_timer.expires_after(settings_.ack_timeout);
  connection->ack_timer.async_wait([this, connection](const boost::system::error_code& ec) {
    if (!ec) fail(connection, "no ack within the ack timeout");
  });
}

void Reporter::enqueue(const std::shared_ptr<Connection>& connection, std::string frame) {
  connection->outbox.push_back(std::move(frame));
  if (!connection->writing) write_next(connection);
}

void Reporter::write_next(const std::shared_ptr<Connection>& connection) {
  if (connection->outbox.empty() || connection->closed) {
    connection->writing = false;
    return;
  }
  connection->writing = true;
  connection->write(asio::buffer(connection->outbox.front()),
                    [this, connection](const boost::system::error_code& ec, size_t) {
                      if (connection->closed) return;
                      if (ec) return fail(connection, "cannot send: " + ec.message());
                      connection->outbox.pop_front();
                      write_next(connection);
                    });
}

}  // namespace sentinel::daemon
