// The HTTP API's responses: a parsed Route in, a status and a JSON (or Prometheus text) body out, from the
// FleetView and the Metrics. No sockets here (http_server.h carries the bytes).
//
// Contract:
// - Runs on the HTTP thread only (it owns the FleetView's connection).
// - JSON follows protobuf's JSON conventions so scripts handle one style: lowerCamelCase keys, 64-bit integers
//   as decimal strings, enums by name; times also as RFC 3339 UTC strings. Replicas are embedded exactly as the
//   protobuf JSON mapping of sentinel.v1.Replica (defaults printed), under "replica", so a consumer can parse
//   them with JsonStringToMessage (what `sentinelctl plan` and the planner take).
// - /v1/volumes/{name}/plan is the salvage planner (salvage/planner.h) over each node's latest replica of the
//   volume: the body is the sentinel.v1.SalvagePlan JSON, as `sentinelctl plan --json` prints it, with a note
//   per stale node. Query: longhorn_version=vX.Y.Z, revision_counter=auto|enabled|disabled.
// - Errors are JSON too: {"error": "...", "status": N}; 404 for unknown paths and unknown volumes, 400 for
//   malformed requests, 405 for methods other than GET/HEAD, 503 when the store cannot be read.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "collector/config.h"
#include "collector/fleet_view.h"
#include "collector/http_routes.h"
#include "collector/metrics.h"

namespace sentinel::collector {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class HttpApi {
 public:
  // `now_ns`: the wall clock (injected so tests can age nodes without waiting).
  HttpApi(FleetView& view, const Metrics& metrics, const Config& config, std::function<int64_t()> now_ns);
  HttpResponse handle(const Route& route);

 private:
  HttpResponse nodes();
  HttpResponse volumes();
  HttpResponse volume(const std::string& name);
  HttpResponse history(const std::string& name, uint64_t limit);
  HttpResponse plan(const Route& route);
  HttpResponse health();
  HttpResponse metrics();

  FleetView& view_;
  const Metrics& metrics_;
  const Config& config_;
  std::function<int64_t()> now_ns_;
};

// "2024-05-01T12:34:56.789Z" (milliseconds, UTC); "" for 0.
std::string rfc3339(int64_t ns);

}  // namespace sentinel::collector
