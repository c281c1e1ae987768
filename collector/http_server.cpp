#include "collector/http_server.h"

// Boost 1.74's asio/awaitable.hpp (pulled in by Beast) uses std::exchange without including <utility>.
#include <utility>

#include <spdlog/spdlog.h>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "collector/listener.h"

namespace sentinel::collector {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr uint64_t kMaxRequestBytes = 16 * 1024;

}  // namespace

class HttpConnection : public std::enable_shared_from_this<HttpConnection> {
 public:
  HttpConnection(tcp::socket socket, HttpServer& server) : stream_(std::move(socket)), server_(server) {}
  ~HttpConnection() {
    if (!closed_) server_.connections_.erase(this);
  }

  void start() { read_request(); }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    server_.connections_.erase(this);
  }

 private:
  void read_request() {
    parser_.emplace();
    parser_->header_limit(kMaxRequestBytes);
    parser_->body_limit(kMaxRequestBytes);
    stream_.expires_after(kRequestTimeout);
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](const error_code& ec, size_t) {
      self->on_request(ec);
    });
  }

  void on_request(const error_code& ec) {
    if (closed_) return;
    if (ec) {
      // Closed by the client between requests, timed out, or a request we cannot parse.
      if (ec != http::error::end_of_stream && ec != asio::error::operation_aborted &&
          ec != beast::error::timeout && ec != asio::error::connection_reset) {
        send_plain_error(ec == http::error::header_limit || ec == http::error::body_limit ? 431 : 400,
                         "malformed HTTP request: " + ec.message());
        return;
      }
      close();
      return;
    }
    const auto& request = parser_->get();
    server_.metrics_.http_requests.fetch_add(1, std::memory_order_relaxed);
    const Route route = parse_route(std::string_view(request.method_string().data(), request.method_string().size()),
                                    std::string_view(request.target().data(), request.target().size()));
    HttpResponse result;
    try {
      result = server_.api_.handle(route);
    } catch (const std::exception& e) {
      spdlog::error("HTTP {}: {}", std::string(request.target()), e.what());
      result.status = 500;
      result.body = "{\"error\": \"internal error\", \"status\": 500}\n";
    }
    auto response = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(result.status), request.version());
    response->set(http::field::server, "sentinel-collector");
    response->set(http::field::content_type, result.content_type);
    response->set(http::field::cache_control, "no-store");
    if (route.kind == Route::Kind::kMethodNotAllowed) response->set(http::field::allow, "GET, HEAD");
    response->keep_alive(request.keep_alive());
    response->content_length(result.body.size());
    if (!route.head) response->body() = std::move(result.body);
    write(response);
  }

  void send_plain_error(int status, const std::string& message) {
    auto response = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(status), 11);
    response->set(http::field::content_type, "application/json");
    response->keep_alive(false);
    response->body() = "{\"error\": \"" + message + "\", \"status\": " + std::to_string(status) + "}\n";
    response->prepare_payload();
    write(response);
  }

  void write(const std::shared_ptr<http::response<http::string_body>>& response) {
    stream_.expires_after(kRequestTimeout);
    http::async_write(stream_, *response, [self = shared_from_this(), response](const error_code& ec, size_t) {
      if (self->closed_) return;
      if (ec || !response->keep_alive()) {
        self->close();
        return;
      }
      self->read_request();
    });
  }

  beast::tcp_stream stream_;
  HttpServer& server_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool closed_ = false;
};

HttpServer::HttpServer(asio::io_context& io, const Config& config, HttpApi& api, Metrics& metrics)
    : io_(io), config_(config), api_(api), metrics_(metrics), acceptor_(io) {}

std::optional<tcp::endpoint> HttpServer::open(std::string* error) {
  auto endpoint = resolve_for_bind(io_, config_.http, error);
  if (!endpoint) return std::nullopt;
  error_code ec;
  acceptor_.open(endpoint->protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(*endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    *error = "cannot listen on " + config_.http.to_string() + " (--http): " + ec.message();
    return std::nullopt;
  }
  return acceptor_.local_endpoint();
}

void HttpServer::start() { accept_next(); }

void HttpServer::accept_next() {
  acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
    if (stopping_ || ec == asio::error::operation_aborted) return;
    if (ec) {
      spdlog::warn("accepting an HTTP connection failed: {}", ec.message());
    } else if (connections_.size() >= kMaxConnections) {
      error_code ignored;
      spdlog::warn("refused HTTP connection from {}: {} connections already open", endpoint_text(
                       socket.remote_endpoint(ignored)), connections_.size());
      socket.close(ignored);
    } else {
      auto connection = std::make_shared<HttpConnection>(std::move(socket), *this);
      connections_[connection.get()] = connection;
      connection->start();
    }
    accept_next();
  });
}

void HttpServer::shutdown() {
  stopping_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  std::vector<std::shared_ptr<HttpConnection>> open;
  for (const auto& [raw, weak] : connections_) {
    if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  for (const auto& connection : open) connection->close();
}

}  // namespace sentinel::collector
