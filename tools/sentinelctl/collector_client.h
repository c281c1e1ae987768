// sentinelctl's side of sentinel-collector's HTTP JSON API (Boost.Beast, synchronous, one request per call).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace sentinel::tools {

inline constexpr const char* kDefaultCollector = "http://127.0.0.1:7461";

struct HttpResult {
  bool reached = false;
  int status = 0;
  std::string body;
  std::string error;  // !reached: why
};

// "http://host:port[/]", "host:port" -> host, port. https is not spoken here (the API listens on localhost by
// default; put a TLS proxy in front for remote access).
bool parse_collector_url(const std::string& url, std::string* host, std::string* port, std::string* error);

// For a path segment: everything but unreserved characters as %XX.
std::string percent_encode(const std::string& text);

// GET url + path (30 s deadline, body up to 256 MiB).
HttpResult http_get(const std::string& url, const std::string& path);

// GET and parse: the JSON body of a 200 answer (also printed to stdout as is when raw_json), or nullopt after
// printing the problem ("sentinelctl <command>: ...") to stderr.
std::optional<nlohmann::json> fetch(const std::string& command, const std::string& url, const std::string& path,
                                    bool raw_json);

}  // namespace sentinel::tools
