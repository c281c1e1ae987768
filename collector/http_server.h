// The HTTP listener (Boost.Beast) of the JSON API and /metrics, on its own io_context thread so a slow query
// never delays agent acks.
//
// Contract:
// - HTTP/1.1 with keep-alive; GET and HEAD only (routing in http_routes.h, responses in http_api.h).
// - Bounded: requests over 16 KiB (headers and body together) are refused; at most kMaxConnections connections
//   at once (more are closed); each request must arrive within 10 s and each response be taken within 10 s.
// - shutdown(): closes the acceptor and every connection; the io_context then runs out of work.
// - Runs on one thread; HttpApi is called from it only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "collector/config.h"
#include "collector/http_api.h"

namespace sentinel::collector {

class HttpConnection;

class HttpServer {
 public:
  static constexpr size_t kMaxConnections = 64;

  HttpServer(boost::asio::io_context& io, const Config& config, HttpApi& api, Metrics& metrics);
  std::optional<boost::asio::ip::tcp::endpoint> open(std::string* error);
  void start();
  void shutdown();

 private:
  friend class HttpConnection;
  void accept_next();

  boost::asio::io_context& io_;
  const Config& config_;
  HttpApi& api_;
  Metrics& metrics_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unordered_map<HttpConnection*, std::weak_ptr<HttpConnection>> connections_;
  bool stopping_ = false;
};

}  // namespace sentinel::collector
