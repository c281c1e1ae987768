// sentinel-collector put together: the store and its committer thread, the agent listener on the ingest
// io_context (the calling thread), the HTTP API on its own thread, signals and systemd notification.
//
// Contract: run() returns the process exit code: 0 after SIGTERM/SIGINT once every report received has been
// committed and answered (or the grace period ran out), 1 when it cannot start (store, ports). SIGHUP is logged
// and ignored (the configuration is read at start; restart to change it). Nothing is written before the
// store is open and locked; the port file is written once both listeners are bound, then READY=1 is sent.
#pragma once

#include <string>

#include "collector/config.h"

namespace sentinel::collector {

inline constexpr const char* kCollectorVersion = SENTINEL_VERSION_STRING;

class CollectorService {
 public:
  explicit CollectorService(Config config) : config_(std::move(config)) {}
  int run();

 private:
  const Config config_;
};

}  // namespace sentinel::collector
