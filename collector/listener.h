// The agent listener: accepts TCP (optionally TLS) connections on --listen and runs a Session for each, up to
// --max-connections at once. Runs on the ingest io_context's single thread.
//
// Contract:
// - open() binds and listens (port 0 = any free port) and returns the bound endpoint, or nullopt with *error
//   (address in use, bad address, unreadable TLS files).
// - A connection over the limit is refused at once: logged, counted, an Error{UNAVAILABLE} frame written
//   (plain TCP only) and closed; it never gets a Session.
// - accept failures (EMFILE...) are logged and retried after a pause, never spun on.
// - shutdown(): stops accepting; every session stops reading, gets its in-flight reports acked and closes
//   (Session::shutdown); after `grace` the rest are closed. The io_context then runs out of work.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "collector/session.h"

namespace sentinel::collector {

class AgentListener {
 public:
  AgentListener(boost::asio::io_context& io, const Config& config, Committer& committer, Metrics& metrics,
                std::string collector_version);

  std::optional<boost::asio::ip::tcp::endpoint> open(std::string* error);
  void start();
  void shutdown(std::chrono::milliseconds grace);
  size_t open_connections() const { return registry_.size(); }

 private:
  void accept_next();
  void refuse_over_limit(boost::asio::ip::tcp::socket socket, const std::string& peer);
  void wait_for_sessions();

  boost::asio::io_context& io_;
  const Config& config_;
  Metrics& metrics_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  SessionRegistry registry_;
  std::vector<char> read_buffer_;
  SessionContext context_;
  boost::asio::steady_timer retry_timer_;
  boost::asio::steady_timer grace_timer_;
  std::chrono::steady_clock::time_point grace_deadline_;
  bool stopping_ = false;
};

// "10.0.0.1:5000", "[::1]:5000".
std::string endpoint_text(const boost::asio::ip::tcp::endpoint& endpoint);

// Resolves a configured Endpoint to an address to bind (numeric addresses and names; the first result wins).
std::optional<boost::asio::ip::tcp::endpoint> resolve_for_bind(boost::asio::io_context& io, const Endpoint& where,
                                                              std::string* error);

}  // namespace sentinel::collector
