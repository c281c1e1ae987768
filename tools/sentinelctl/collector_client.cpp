#include "tools/sentinelctl/collector_client.h"

// Boost 1.74's asio/awaitable.hpp (pulled in by Beast) uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <iostream>

namespace sentinel::tools {

bool parse_collector_url(const std::string& url, std::string* host, std::string* port, std::string* error) {
  std::string rest = url;
  if (rest.rfind("https://", 0) == 0) {
    *error = "https is not supported by sentinelctl; use http://HOST:PORT";
    return false;
  }
  if (rest.rfind("http://", 0) == 0) rest = rest.substr(7);
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (rest.empty() || rest.find('/') != std::string::npos) {
    *error = "expected http://HOST:PORT, got '" + url + "'";
    return false;
  }
  if (colon == std::string::npos || (rest.front() == '[' && rest.back() == ']')) {
    *host = rest;
    *port = "80";
  } else {
    *host = rest.substr(0, colon);
    *port = rest.substr(colon + 1);
  }
  if (host->size() > 2 && host->front() == '[' && host->back() == ']') *host = host->substr(1, host->size() - 2);
  return true;
}

std::string percent_encode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

HttpResult http_get(const std::string& url, const std::string& path) {
  namespace asio = boost::asio;
  namespace beast = boost::beast;
  namespace http = beast::http;
  HttpResult result;
  std::string host;
  std::string port;
  if (!parse_collector_url(url, &host, &port, &result.error)) return result;
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(30));
    stream.connect(resolver.resolve(host, port));
    http::request<http::empty_body> request(http::verb::get, path, 11);
    request.set(http::field::host, host);
    request.set(http::field::user_agent, "sentinelctl");
    http::write(stream, request);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256ull << 20);
    http::read(stream, buffer, parser);
    result.reached = true;
    result.status = static_cast<int>(parser.get().result_int());
    result.body = parser.get().body();
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  } catch (const std::exception& e) {
    result.error = "cannot reach the collector at " + url + ": " + e.what() +
                   " (is sentinel-collector running? check --collector and its --http address)";
  }
  return result;
}

std::optional<nlohmann::json> fetch(const std::string& command, const std::string& url, const std::string& path,
                          bool raw_json) {
  const HttpResult result = http_get(url, path);
  if (!result.reached) {
    std::cerr << "sentinelctl " << command << ": " << result.error << "\n";
    return std::nullopt;
  }
  nlohmann::json body = nlohmann::json::parse(result.body, nullptr, false);
  if (result.status != 200) {
    const std::string message = body.is_object() && body.contains("error") && body["error"].is_string()
                                    ? body["error"].get<std::string>()
                                    : result.body;
    std::cerr << "sentinelctl " << command << ": the collector answered " << result.status << ": " << message << "\n";
    return std::nullopt;
  }
  if (body.is_discarded()) {
    std::cerr << "sentinelctl " << command << ": the collector's answer is not JSON\n";
    return std::nullopt;
  }
  if (raw_json) std::cout << result.body;
  return body;
}

}  // namespace sentinel::tools
