// The HTTP API's routing, as a pure function of the request line: no I/O, no allocation beyond the result,
// never throws (except std::bad_alloc). Fuzzed on its own (any bytes as method and target).
//
// Routes (GET, or HEAD):
//   /healthz                          kHealth
//   /metrics                          kMetrics
//   /v1/nodes                         kNodes
//   /v1/volumes                       kVolumes
//   /v1/volumes/{name}                kVolume
//   /v1/volumes/{name}/history        kVolumeHistory   (?limit=N, 1..100000, default 1000)
//   /v1/volumes/{name}/plan           kVolumePlan      (?longhorn_version=v1.5.3&revision_counter=auto)
// A trailing '/' is ignored. {name} is percent-decoded and must be 1..255 bytes without '/', NUL or control
// characters. A known path with another method is kMethodNotAllowed; anything else kNotFound; a malformed
// target (no leading '/', bad percent escape, bad query value) kBadRequest, with `error` saying why.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace sentinel::collector {

struct Route {
  enum class Kind {
    kHealth,
    kMetrics,
    kNodes,
    kVolumes,
    kVolume,
    kVolumeHistory,
    kVolumePlan,
    kNotFound,
    kMethodNotAllowed,
    kBadRequest,
  };
  Kind kind = Kind::kNotFound;
  std::string volume;                        // kVolume, kVolumeHistory, kVolumePlan
  std::map<std::string, std::string> query;  // decoded parameters
  uint64_t limit = 1000;                     // kVolumeHistory
  bool head = false;                         // HEAD: the same response without its body
  std::string error;                         // kBadRequest, kNotFound: for the JSON error
};

Route parse_route(std::string_view method, std::string_view target);

// Percent-decoding ('+' stays '+'); nullopt-like failure as false.
bool percent_decode(std::string_view in, std::string* out);

}  // namespace sentinel::collector
