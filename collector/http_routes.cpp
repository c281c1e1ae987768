#include "collector/http_routes.h"

#include <vector>

namespace sentinel::collector {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Route bad_request(std::string why) {
  Route route;
  route.kind = Route::Kind::kBadRequest;
  route.error = std::move(why);
  return route;
}

Route not_found(std::string_view path) {
  Route route;
  route.kind = Route::Kind::kNotFound;
  route.error = "no such API path: " + std::string(path.substr(0, 200)) +
                " (try /v1/nodes, /v1/volumes, /v1/volumes/{name}, /v1/volumes/{name}/history, /v1/volumes/{name}/plan, /healthz, /metrics)";
  return route;
}

bool valid_volume_name(const std::string& name) {
  if (name.empty() || name.size() > 255) return false;
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || c == '/') return false;
  }
  return true;
}

}  // namespace

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;  // '%' needs two hex digits after it
    const int high = hex_value(in[i + 1]);
    const int low = hex_value(in[i + 2]);
    if (high < 0 || low < 0) return false;
    out->push_back(static_cast<char>(high * 16 + low));
    i += 2;
  }
  return true;
}

Route parse_route(std::string_view method, std::string_view target) {
  if (target.empty() || target.front() != '/') return bad_request("the request target must start with '/'");
  const auto question = target.find('?');
  std::string_view path = target.substr(0, question);
  const std::string_view query_text = question == std::string_view::npos ? "" : target.substr(question + 1);

  std::map<std::string, std::string> query;
  size_t start = 0;
  while (start < query_text.size()) {
    size_t end = query_text.find('&', start);
    if (end == std::string_view::npos) end = query_text.size();
    const std::string_view pair = query_text.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const auto equals = pair.find('=');
    std::string key;
    std::string value;
    if (!percent_decode(pair.substr(0, equals), &key) ||
        (equals != std::string_view::npos && !percent_decode(pair.substr(equals + 1), &value))) {
      return bad_request("bad percent escape in the query string");
    }
    query[std::move(key)] = std::move(value);
  }

  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  std::vector<std::string_view> segments;
  for (size_t i = 1; i <= path.size();) {
    size_t next = path.find('/', i);
    if (next == std::string_view::npos) next = path.size();
    segments.push_back(path.substr(i, next - i));
    i = next + 1;
  }

  Route route;
  route.query = std::move(query);
  if (segments.size() == 1 && segments[0] == "healthz") route.kind = Route::Kind::kHealth;
  else if (segments.size() == 1 && segments[0] == "metrics") route.kind = Route::Kind::kMetrics;
  else if (segments.size() == 2 && segments[0] == "v1" && segments[1] == "nodes") route.kind = Route::Kind::kNodes;
  else if (segments.size() == 2 && segments[0] == "v1" && segments[1] == "volumes") route.kind = Route::Kind::kVolumes;
  else if ((segments.size() == 3 || segments.size() == 4) && segments[0] == "v1" && segments[1] == "volumes") {
    if (segments.size() == 3) route.kind = Route::Kind::kVolume;
    else if (segments[3] == "history") route.kind = Route::Kind::kVolumeHistory;
    else if (segments[3] == "plan") route.kind = Route::Kind::kVolumePlan;
    else return not_found(path);
    if (!percent_decode(segments[2], &route.volume)) return bad_request("bad percent escape in the volume name");
    if (!valid_volume_name(route.volume)) {
      return bad_request("not a volume name (1 to 255 bytes, no '/' or control characters)");
    }
  } else {
    return not_found(path);
  }

  if (route.kind == Route::Kind::kVolumeHistory) {
    const auto it = route.query.find("limit");
    if (it != route.query.end()) {
      uint64_t limit = 0;
      const std::string& text = it->second;
      if (text.empty() || text.size() > 6) return bad_request("limit must be a number from 1 to 100000");
      for (char c : text) {
        if (c < '0' || c > '9') return bad_request("limit must be a number from 1 to 100000");
        limit = limit * 10 + static_cast<uint64_t>(c - '0');
      }
      if (limit == 0 || limit > 100000) return bad_request("limit must be a number from 1 to 100000");
      route.limit = limit;
    }
  }

  if (method == "HEAD") {
    route.head = true;
  } else if (method != "GET") {
    Route refused;
    refused.kind = Route::Kind::kMethodNotAllowed;
    refused.error = "method " + std::string(method.substr(0, 20)) + " is not allowed: the API is read-only (GET)";
    return refused;
  }
  return route;
}

}  // namespace sentinel::collector
