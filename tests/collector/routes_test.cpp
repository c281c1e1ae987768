// The HTTP routing, a pure function: every route, decoding, and what a hostile request line gets (the handler too).
#include "collector/http_routes.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "collector/fleet_view.h"
#include "collector/http_api.h"
#include "collector/store.h"
#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using Kind = Route::Kind;

TEST(CollectorRoutes, KnowsEveryRoute) {
  EXPECT_EQ(parse_route("GET", "/healthz").kind, Kind::kHealth);
  EXPECT_EQ(parse_route("GET", "/metrics").kind, Kind::kMetrics);
  EXPECT_EQ(parse_route("GET", "/v1/nodes").kind, Kind::kNodes);
  EXPECT_EQ(parse_route("GET", "/v1/nodes/").kind, Kind::kNodes);
  EXPECT_EQ(parse_route("GET", "/v1/volumes?x=1").kind, Kind::kVolumes);
  const auto volume = parse_route("GET", "/v1/volumes/pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d");
  EXPECT_EQ(volume.kind, Kind::kVolume);
  EXPECT_EQ(volume.volume, "pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d");
  const auto history = parse_route("GET", "/v1/volumes/pvc-a/history?limit=20");
  EXPECT_EQ(history.kind, Kind::kVolumeHistory);
  EXPECT_EQ(history.volume, "pvc-a");
  EXPECT_EQ(history.limit, 20u);
  const auto plan = parse_route("GET", "/v1/volumes/pvc-a/plan?longhorn_version=v1.5.3");
  EXPECT_EQ(plan.kind, Kind::kVolumePlan);
  EXPECT_EQ(plan.query.at("longhorn_version"), "v1.5.3");
  EXPECT_TRUE(parse_route("HEAD", "/v1/volumes").head);
}

TEST(CollectorRoutes, DecodesTheVolumeName) {
  EXPECT_EQ(parse_route("GET", "/v1/volumes/pvc%2Da").volume, "pvc-a");
  EXPECT_EQ(parse_route("GET", "/v1/volumes/pvc%2fa").kind, Kind::kBadRequest);  // no '/' in a name
  EXPECT_EQ(parse_route("GET", "/v1/volumes/pvc%0aa").kind, Kind::kBadRequest);
  EXPECT_EQ(parse_route("GET", "/v1/volumes/pvc%zz").kind, Kind::kBadRequest);
  EXPECT_EQ(parse_route("GET", "/v1/volumes/pvc%2").kind, Kind::kBadRequest);
  EXPECT_EQ(parse_route("GET", "/v1/volumes/%").kind, Kind::kBadRequest);
  EXPECT_EQ(parse_route("GET", "/v1/volumes/" + std::string(256, 'a')).kind, Kind::kBadRequest);
}

TEST(CollectorRoutes, RefusesWhatItDoesNotServe) {
  EXPECT_EQ(parse_route("GET", "/").kind, Kind::kNotFound);
  EXPECT_EQ(parse_route("GET", "/v2/nodes").kind, Kind::kNotFound);
  EXPECT_EQ(parse_route("GET", "/v1/volumes/a/b").kind, Kind::kNotFound);
  EXPECT_EQ(parse_route("GET", "/v1/volumes/a/history/x").kind, Kind::kNotFound);
  EXPECT_EQ(parse_route("GET", "/v1//volumes").kind, Kind::kNotFound);
  EXPECT_EQ(parse_route("GET", "v1/nodes").kind, Kind::kBadRequest);
  EXPECT_EQ(parse_route("GET", "").kind, Kind::kBadRequest);
  EXPECT_EQ(parse_route("POST", "/v1/nodes").kind, Kind::kMethodNotAllowed);
  EXPECT_EQ(parse_route("DELETE", "/v1/volumes/a").kind, Kind::kMethodNotAllowed);
  for (const char* limit : {"0", "-1", "abc", "100001", "9999999999", ""}) {
    EXPECT_EQ(parse_route("GET", std::string("/v1/volumes/a/history?limit=") + limit).kind, Kind::kBadRequest)
        << limit;
  }
  const auto not_found = parse_route("GET", "/nope");
  EXPECT_NE(not_found.error.find("/v1/volumes"), std::string::npos);
}

// Found by tests/fuzz/fuzz_http_routes: an error message that quotes a path, method or value that is not UTF-8
// made the JSON writer throw, and the server answered 500 instead of the 404, 405 or 400 it owed.
TEST(CollectorRoutes, ErrorsQuotingBytesThatAreNotUtf8AreStillJson) {
  testing::TempDir dir;
  const std::string db = dir.file("sentinel.db");
  std::string error;
  ASSERT_NE(Store::open(db, SyncMode::kNormal, &error), nullptr) << error;  // creates the schema
  auto view = FleetView::open(db, 180 * 1000000000ll, &error);
  ASSERT_NE(view, nullptr) << error;
  Metrics metrics;
  Config config;
  HttpApi api(*view, metrics, config, [] { return int64_t{1700000000000000000}; });
  const struct {
    std::string method;
    std::string target;
    int status;
  } cases[] = {
      {"GET", "/\xfc\xfc", 404},
      {"GET", "/v1/volumes/%ff%fe", 404},
      {"G\xffT", "/v1/nodes", 405},
      {"GET", "/v1/volumes/pvc-a/plan?longhorn_version=%ff", 400},
  };
  for (const auto& c : cases) {
    HttpResponse response;
    ASSERT_NO_THROW(response = api.handle(parse_route(c.method, c.target))) << c.target;
    EXPECT_EQ(response.status, c.status) << c.target;
    const auto body = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(body.is_discarded()) << response.body;
    EXPECT_EQ(body["status"], c.status) << response.body;
    EXPECT_TRUE(body["error"].is_string()) << response.body;
  }
}

// Random bytes as method and target: never a crash, and anything accepted is one of the routes (a fast fuzz;
// the same function is what a libFuzzer target would call).
TEST(CollectorRoutes, SurvivesRandomRequestLines) {
  std::mt19937 random(42);
  const std::string alphabet = "/v1volumeshistoryplannodes%?&=2fF0aZ.\x00\x7f\xff-";
  for (int i = 0; i < 20000; ++i) {
    std::string target;
    const int length = static_cast<int>(random() % 40);
    for (int j = 0; j < length; ++j) target.push_back(alphabet[random() % alphabet.size()]);
    if (random() % 2 != 0) target = "/v1/volumes/" + target;
    const Route route = parse_route(random() % 4 == 0 ? "PUT" : "GET", target);
    if (route.kind == Kind::kVolume || route.kind == Kind::kVolumeHistory || route.kind == Kind::kVolumePlan) {
      EXPECT_FALSE(route.volume.empty());
      EXPECT_EQ(route.volume.find('/'), std::string::npos);
    }
  }
}

}  // namespace
}  // namespace sentinel::collector
