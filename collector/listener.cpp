#include "collector/listener.h"

#include <spdlog/spdlog.h>

namespace sentinel::collector {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

std::string endpoint_text(const tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
         std::to_string(endpoint.port());
}

std::optional<tcp::endpoint> resolve_for_bind(asio::io_context& io, const Endpoint& where, std::string* error) {
  error_code ec;
  const auto address = asio::ip::make_address(where.host, ec);
  if (!ec) return tcp::endpoint(address, where.port);
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(where.host, std::to_string(where.port), tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    *error = "cannot resolve " + where.to_string() + ": " + (ec ? ec.message() : "no address");
    return std::nullopt;
  }
  return results.begin()->endpoint();
}

AgentListener::AgentListener(asio::io_context& io, const Config& config, Committer& committer, Metrics& metrics,
                             std::string collector_version)
    : io_(io),
      config_(config),
      metrics_(metrics),
      acceptor_(io),
      read_buffer_(256 * 1024),
      context_{config, committer, metrics, registry_, std::move(collector_version), read_buffer_},
      retry_timer_(io),
      grace_timer_(io) {}

std::optional<tcp::endpoint> AgentListener::open(std::string* error) {
  if (config_.tls_enabled()) {
    try {
      tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
      tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
      tls_->use_certificate_chain_file(config_.tls_cert);
      tls_->use_private_key_file(config_.tls_key, asio::ssl::context::pem);
      tls_->load_verify_file(config_.tls_ca);
      // Only agents with a certificate from the configured CA get in; the CN is checked against the Hello.
      tls_->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    } catch (const std::exception& e) {
      *error = std::string("cannot set up TLS from --tls-cert/--tls-key/--tls-ca: ") + e.what();
      return std::nullopt;
    }
  }
  auto endpoint = resolve_for_bind(io_, config_.listen, error);
  if (!endpoint) return std::nullopt;
  error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + config_.listen.to_string() + " (--listen): " + ec.message();
    return std::nullopt;
  }
  return acceptor_.local_endpoint();
}

void AgentListener::start() { accept_next(); }

void AgentListener::accept_next() {
  acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      // EMFILE/ENFILE/ENOBUFS: the connection stays in the backlog; try again shortly instead of spinning.
      spdlog::error("accepting an agent connection failed: {} (retrying in 100ms)", ec.message());
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait([this](const error_code& wait_error) {
        if (!wait_error && !stopping_) accept_next();
      });
      return;
    }
    error_code peer_error;
    const auto remote = socket.remote_endpoint(peer_error);
    std::string peer = peer_error ? std::string("unknown peer") : endpoint_text(remote);
    if (registry_.size() >= config_.max_connections) {
      refuse_over_limit(std::move(socket), peer);
    } else {
      metrics_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
      metrics_.connections_open.fetch_add(1, std::memory_order_relaxed);
      auto session = std::make_shared<Session>(std::move(socket), std::move(peer), context_, tls_.get());
      registry_.add(session);
      session->start();
    }
    accept_next();
  });
}

void AgentListener::refuse_over_limit(tcp::socket socket, const std::string& peer) {
  spdlog::warn("refused agent connection {}: {} connections already open (--max-connections {})", peer,
               registry_.size(), config_.max_connections);
  metrics_.refused(Refusal::kTooManyConnections);
  error_code ignored;
  if (!tls_) {
    // One small frame into an empty send buffer: a non-blocking write completes or is dropped, never waits.
    const std::string frame = wire::encode_frame(wire::make_error(
        v1::Error::UNAVAILABLE, "the collector has too many connections open; retry later"));
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(frame), ignored);
  }
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);
}

void AgentListener::shutdown(std::chrono::milliseconds grace) {
  if (stopping_) return;
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
  for (const auto& session : registry_.all()) session->shutdown();
  grace_deadline_ = std::chrono::steady_clock::now() + grace;
  wait_for_sessions();
}

void AgentListener::wait_for_sessions() {
  if (registry_.size() == 0) return;  // nothing left: the io_context can run out of work
  if (std::chrono::steady_clock::now() >= grace_deadline_) {
    const auto left = registry_.all();
    spdlog::warn("shutdown: closing {} agent connections that did not finish within the grace period", left.size());
    for (const auto& session : left) session->close_now();
    return;
  }
  grace_timer_.expires_after(std::chrono::milliseconds(20));
  grace_timer_.async_wait([this](const error_code& ec) {
    if (!ec) wait_for_sessions();
  });
}

}  // namespace sentinel::collector
