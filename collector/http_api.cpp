#include "collector/http_api.h"

#include <google/protobuf/util/json_util.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "proto/wire/duration.h"
#include "salvage/longhorn_version.h"
#include "collector/volume_plan.h"
#include "salvage/planner.h"
#include "sentinel/v1/wire.pb.h"

namespace sentinel::collector {

namespace {

using nlohmann::json;

HttpResponse json_response(int status, const json& body) {
  HttpResponse response;
  response.status = status;
  // Replace, do not throw on, bytes that are not UTF-8: error messages quote the request's path, method and
  // volume name as the client sent them (found by tests/fuzz/fuzz_http_routes).
  response.body = body.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
  return response;
}

HttpResponse error_response(int status, const std::string& message) {
  return json_response(status, json{{"error", message}, {"status", status}});
}

std::string i64(int64_t value) { return std::to_string(value); }
std::string u64(uint64_t value) { return std::to_string(value); }

std::string kind_name(int kind) {
  const std::string& name = v1::ScanKind_Name(static_cast<v1::ScanKind>(kind));
  return name.empty() ? std::to_string(kind) : name;
}

json finding_list(const std::string& codes) {
  json list = json::array();
  size_t start = 0;
  while (start < codes.size()) {
    size_t end = codes.find(',', start);
    if (end == std::string::npos) end = codes.size();
    list.push_back(codes.substr(start, end - start));
    start = end + 1;
  }
  return list;
}

json message_json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return nullptr;
  return json::parse(text, nullptr, false);
}

}  // namespace

std::string rfc3339(int64_t ns) {
  if (ns == 0) return "";
  const time_t seconds = static_cast<time_t>(ns / 1'000'000'000);
  const int64_t millis = (ns % 1'000'000'000) / 1'000'000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(millis));
  return buf;
}

HttpApi::HttpApi(FleetView& view, const Metrics& metrics, const Config& config, std::function<int64_t()> now_ns)
    : view_(view), metrics_(metrics), config_(config), now_ns_(std::move(now_ns)) {}

HttpResponse HttpApi::handle(const Route& route) {
  switch (route.kind) {
    case Route::Kind::kHealth: return health();
    case Route::Kind::kMetrics: return metrics();
    case Route::Kind::kNodes: return nodes();
    case Route::Kind::kVolumes: return volumes();
    case Route::Kind::kVolume: return volume(route.volume);
    case Route::Kind::kVolumeHistory: return history(route.volume, route.limit);
    case Route::Kind::kVolumePlan: return plan(route);
    case Route::Kind::kNotFound: return error_response(404, route.error);
    case Route::Kind::kMethodNotAllowed: return error_response(405, route.error);
    case Route::Kind::kBadRequest: return error_response(400, route.error);
  }
  return error_response(500, "unhandled route");
}

HttpResponse HttpApi::health() {
  std::string error;
  if (!view_.healthy(&error)) return json_response(503, json{{"status", "unavailable"}, {"error", error}});
  return json_response(200, json{{"status", "ok"}});
}

HttpResponse HttpApi::metrics() {
  std::string error;
  FleetStats fleet;
  if (auto stats = view_.stats(now_ns_(), &error)) fleet = *stats;
  HttpResponse response;
  response.content_type = "text/plain; version=0.0.4; charset=utf-8";
  response.body = metrics_.render(fleet);
  return response;
}

HttpResponse HttpApi::nodes() {
  std::string error;
  const auto rows = view_.nodes(now_ns_(), &error);
  if (!rows) return error_response(503, error);
  json nodes = json::array();
  for (const auto& row : *rows) {
    nodes.push_back(json{{"name", row.name},
                         {"agentVersion", row.agent_version},
                         {"stale", row.stale},
                         {"lastReport", rfc3339(row.last_report_ns)},
                         {"lastReportNs", i64(row.last_report_ns)},
                         {"lastSequence", u64(row.last_sequence)},
                         {"latestSequence", u64(row.latest_sequence)},
                         {"latestScan", rfc3339(row.latest_scanned_ns)},
                         {"latestKind", kind_name(row.latest_kind)},
                         {"replicaCount", row.replica_count},
                         {"lastPeer", row.last_peer},
                         {"firstSeen", rfc3339(row.first_seen_ns)}});
  }
  return json_response(200, json{{"staleAfter", wire::format_duration(config_.stale_after)}, {"nodes", nodes}});
}

HttpResponse HttpApi::volumes() {
  std::string error;
  const auto rows = view_.volumes(now_ns_(), &error);
  if (!rows) return error_response(503, error);
  json volumes = json::array();
  for (const auto& v : *rows) {
    json agree = nullptr;  // unknown until every replica has a digest
    if (v.digests.size() > 1) agree = false;
    else if (v.digests.size() == 1 && v.replicas_without_digest == 0) agree = true;
    volumes.push_back(json{{"name", v.name},
                           {"replicaCount", v.replicas},
                           {"nodes", v.nodes},
                           {"sizeBytes", u64(v.size_bytes)},
                           {"states", v.states},
                           {"replicasWithFindings", v.replicas_with_findings},
                           {"staleReplicas", v.stale_replicas},
                           {"maxRevisionCounter", i64(v.max_revision_counter)},
                           {"contentDigests", v.digests},
                           {"replicasWithoutDigest", v.replicas_without_digest},
                           {"digestsAgree", agree},
                           {"lastSeen", rfc3339(v.last_seen_ns)}});
  }
  return json_response(200, json{{"volumes", volumes}});
}

HttpResponse HttpApi::volume(const std::string& name) {
  std::string error;
  const auto rows = view_.volume(name, now_ns_(), true, &error);
  if (!rows) return error_response(503, error);
  if (rows->empty()) return error_response(404, "no replica of volume '" + name + "' is known to this collector");
  json replicas = json::array();
  for (const auto& row : *rows) {
    json entry{{"node", row.node},
               {"nodeStale", row.node_stale},
               {"disk", row.disk},
               {"dir", row.dir},
               {"lastSeen", rfc3339(row.last_seen_ns)},
               {"lastSeenNs", i64(row.last_seen_ns)},
               {"scannedAt", rfc3339(row.scanned_ns)},
               {"firstSeen", rfc3339(row.first_seen_ns)},
               {"changedAt", rfc3339(row.changed_ns)},
               {"contentDigest", row.content_digest}};
    if (!row.deep_digest.empty()) {
      entry["lastDeepScan"] = json{{"contentDigest", row.deep_digest},
                                   {"scannedAt", rfc3339(row.deep_scanned_ns)},
                                   {"scannedAtNs", i64(row.deep_scanned_ns)},
                                   {"current", row.deep_current}};
    }
    entry["replica"] = row.replica ? message_json(*row.replica) : json(nullptr);
    replicas.push_back(std::move(entry));
  }
  return json_response(200, json{{"volume", name}, {"replicas", replicas}});
}

HttpResponse HttpApi::history(const std::string& name, uint64_t limit) {
  std::string error;
  const auto rows = view_.history(name, limit, &error);
  if (!rows) return error_response(503, error);
  if (rows->empty()) return error_response(404, "no history of volume '" + name + "' is known to this collector");
  json history = json::array();
  for (const auto& row : *rows) {
    history.push_back(json{{"node", row.node},
                           {"disk", row.disk},
                           {"dir", row.dir},
                           {"observedAt", rfc3339(row.observed_ns)},
                           {"observedAtNs", i64(row.observed_ns)},
                           {"sequence", u64(row.sequence)},
                           {"kind", kind_name(row.kind)},
                           {"gone", row.gone},
                           {"state", row.gone ? "" : replica_state_name(row.state)},
                           {"revisionCounter", i64(row.revision_counter)},
                           {"headMtimeNs", i64(row.head_mtime_ns)},
                           {"allocatedBytes", u64(row.allocated_bytes)},
                           {"contentDigest", row.content_digest},
                           {"findings", finding_list(row.findings)}});
  }
  return json_response(200, json{{"volume", name}, {"limit", limit}, {"history", history}});
}

HttpResponse HttpApi::plan(const Route& route) {
  salvage::PlanOptions options;
  if (const auto it = route.query.find("longhorn_version"); it != route.query.end()) {
    options.longhorn_version = it->second;
    if (!options.longhorn_version.empty() && !salvage::parse_longhorn_version(options.longhorn_version)) {
      return error_response(400, "longhorn_version \"" + options.longhorn_version + "\" is not vX.Y.Z (e.g. v1.5.3)");
    }
  }
  if (const auto it = route.query.find("revision_counter"); it != route.query.end()) {
    const auto choice = salvage::parse_revision_counter_choice(it->second);
    if (!choice) return error_response(400, "revision_counter takes enabled, disabled or auto");
    options.revision_counter = *choice;
  }
  auto planned = plan_volume(view_, route.volume, now_ns_(), options);
  switch (planned.outcome) {
    case VolumePlan::Outcome::kStoreError:
      return error_response(503, planned.error);
    case VolumePlan::Outcome::kUnknownVolume:
      return error_response(404, "no replica of volume '" + route.volume + "' is known to this collector");
    case VolumePlan::Outcome::kPlanError:
      return error_response(planned.result.error == salvage::PlanError::kBadOption ? 400 : 404,
                            planned.result.message);
    case VolumePlan::Outcome::kPlanned:
      break;
  }
  const auto& result = planned.result;
  // The body is the sentinel.v1.SalvagePlan itself, as `sentinelctl plan --json` prints it.
  return json_response(200, message_json(result.plan));
}

}  // namespace sentinel::collector
