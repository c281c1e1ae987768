// The collector's HTTP API: any bytes as a request's method and target, through the routing
// (collector/http_routes.h: parse_route) and the handler (collector/http_api.h: HttpApi::handle) over a real
// SQLite store in a temporary directory. The store holds reports of two nodes (quick and deep scans, history),
// so the volume, history and plan routes (the salvage planner, with options from the query string) answer from
// data. Input: the method, a space, the target; without a space the whole input is the target of a GET.
//
// Invariants: a routed volume name is 1..255 bytes without '/' or control characters; a history limit is
// 1..100000; the handler never throws (the server would answer 500 instead of the real status); the status
// matches the route (404 unknown path or volume, 400 malformed, 405 other methods, never a 5xx: the store is
// healthy); every JSON body is valid JSON, and an error body says {"error": ..., "status": <the status>}.
#include <stdlib.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "collector/fleet_view.h"
#include "collector/http_api.h"
#include "collector/http_routes.h"
#include "collector/metrics.h"
#include "collector/store.h"
#include "tests/collector/collector_test_support.h"
#include "tests/fuzz/fuzz_protobuf.h"
#include "tests/fuzz/fuzz_support.h"

namespace collector = sentinel::collector;
namespace v1 = sentinel::v1;
using Kind = collector::Route::Kind;

namespace {

constexpr int64_t kNow = 1700000100000000000;

// make_replica's quick-scanned replica (tests/collector), left dirty (or rebuilding) with its finding, and for a
// deep scan with its content digest and chunks.
v1::Replica replica(const std::string& volume, const std::string& suffix, int64_t counter, int64_t mtime_ns,
                    bool deep) {
  v1::Replica r = collector::testing::make_replica("/var/lib/longhorn", volume, suffix, counter, mtime_ns);
  r.set_state(suffix == "dead0001" ? v1::Replica::REBUILDING : v1::Replica::DIRTY);
  r.set_rebuilding(suffix == "dead0001");
  r.set_dirty(true);
  r.mutable_images(0)->set_parent("volume-snap-a.img");
  auto* finding = r.add_findings();
  finding->set_code(v1::Finding::DIRTY);
  finding->set_severity(v1::Finding::WARNING);
  finding->set_path("replicas/" + r.dir() + "/volume.meta");
  finding->set_message("Dirty:true");
  if (deep) {
    r.set_content_digest(counter % 2 == 0 ? "34001ae2f947e773165f453a5f35c459" : "0123456789abcdef0123456789abcdef");
    auto* content = r.mutable_content();
    content->set_chunk_bytes(4u << 20);
    content->set_chunk_count(10240);
    content->set_nonzero_chunk_count(1);
    content->set_zero_chunk_digest("34001ae2f947e773165f453a5f35c459");
    auto* chunk = content->add_chunks();
    chunk->set_index(counter % 7);
    chunk->set_digest(r.content_digest());
  }
  return r;
}

// make_report's report, created 10 - sequence seconds before kNow (its node is not stale).
v1::Report report(const std::string& node, uint64_t sequence, v1::ScanKind kind, std::vector<v1::Replica> replicas) {
  v1::Report out = collector::testing::make_report(node, sequence, replicas, kind);
  out.set_created_at_ns(kNow - 1000000000 * static_cast<int64_t>(10 - sequence));
  out.mutable_inventory()->set_scanned_at_ns(out.created_at_ns() - 5000000);
  return out;
}

struct Fleet {
  collector::testing::TempDir dir;  // declared first: removed after the store is closed
  collector::Metrics metrics;
  collector::Config config;
  std::unique_ptr<collector::FleetView> view;
  std::unique_ptr<collector::HttpApi> api;

  Fleet() {
    const std::string db = dir.file("sentinel.db");
    std::string error;
    {
      auto store = collector::Store::open(db, collector::SyncMode::kNormal, &error);
      if (store == nullptr) {
        std::fprintf(stderr, "cannot open a store in %s: %s\n", dir.path().c_str(), error.c_str());
      }
      FUZZ_CHECK(store != nullptr);
      const std::vector<v1::Report> reports = {
          report("worker-1", 1, v1::QUICK, {replica("pvc-a", "59dc1016", 1042, kNow - 9000000000, false)}),
          report("worker-2", 1, v1::DEEP,
                 {replica("pvc-a", "a259a8c0", 1040, kNow - 8000000000, true),
                  replica("pvc-b", "dead0001", 7, kNow - 7000000000, true)}),
          report("worker-1", 2, v1::DEEP,
                 {replica("pvc-a", "59dc1016", 1044, kNow - 6000000000, true),
                  replica("pvc-b", "0b0b0b0b", 7, kNow - 5000000000, false)}),
      };
      for (const auto& r : reports) {
        v1::ReportView view;
        FUZZ_CHECK(view.ParseFromString(r.SerializeAsString()));
        collector::ReportToStore item{r.inventory().node(), "127.0.0.1:1", kNow - 1000, 1000, &view};
        const auto outcomes = store->store_reports(std::span(&item, 1), &error);
        FUZZ_CHECK(outcomes.has_value() && !outcomes->front().malformed);
      }
    }
    view = collector::FleetView::open(db, config.stale_after.count(), &error);
    FUZZ_CHECK(view != nullptr);
    api = std::make_unique<collector::HttpApi>(*view, metrics, config, [] { return kNow; });
  }
};

Fleet* fleet;

void check_route(const collector::Route& route) {
  switch (route.kind) {
    case Kind::kVolumeHistory:
      FUZZ_CHECK(route.limit >= 1 && route.limit <= 100000);
      [[fallthrough]];
    case Kind::kVolume:
    case Kind::kVolumePlan:
      FUZZ_CHECK(!route.volume.empty() && route.volume.size() <= 255);
      for (unsigned char c : route.volume) FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '/');
      break;
    case Kind::kNotFound:
    case Kind::kBadRequest:
    case Kind::kMethodNotAllowed:
      FUZZ_CHECK(!route.error.empty());
      break;
    default:
      break;
  }
}

void check_response(const collector::Route& route, const collector::HttpResponse& response) {
  FUZZ_CHECK(response.status < 500);
  switch (route.kind) {
    case Kind::kNotFound:
      FUZZ_CHECK(response.status == 404);
      break;
    case Kind::kBadRequest:
      FUZZ_CHECK(response.status == 400);
      break;
    case Kind::kMethodNotAllowed:
      FUZZ_CHECK(response.status == 405);
      break;
    case Kind::kVolume:
    case Kind::kVolumeHistory:
      FUZZ_CHECK(response.status == 200 || response.status == 404);
      break;
    case Kind::kVolumePlan:
      FUZZ_CHECK(response.status == 200 || response.status == 404 || response.status == 400);
      break;
    default:
      FUZZ_CHECK(response.status == 200);
      break;
  }
  if (response.content_type != "application/json") return;
  const auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(!body.is_discarded());
  if (response.status != 200) {
    FUZZ_CHECK(body.is_object() && body.contains("error") && body["error"].is_string());
    FUZZ_CHECK(body.contains("status") && body["status"] == response.status);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fleet = new Fleet();
  std::atexit([] { delete fleet; });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;  // the server refuses larger request headers (431)
  const std::string_view input = sentinel::fuzz::as_text(data, size);
  const size_t space = input.find(' ');
  const std::string_view method = space == std::string_view::npos ? "GET" : input.substr(0, space);
  const std::string_view target = space == std::string_view::npos ? input : input.substr(space + 1);

  const collector::Route route = collector::parse_route(method, target);
  check_route(route);
  collector::HttpResponse response;
  try {
    response = fleet->api->handle(route);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FUZZ: HttpApi::handle threw (the server would answer 500): %s\n", e.what());
    FUZZ_CHECK(false);
  }
  check_response(route, response);
  return 0;
}
