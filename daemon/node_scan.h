// The agent's scan of this node: the scanner library's quick scan of every configured disk and, for a deep
// request, its deep scan of each selected replica, with progress and cancellation between replicas.
//
// Contract: never throws for anything a disk can do (the scanner reports problems as findings); a deep scan
// of an unknown volume returns the quick inventory with no deep data (the caller checks the volume exists).
// Progress is reported once before the first replica and after each one (bytes = the replicas' allocated
// bytes, the data a deep scan reads at most once per layer). A full deep scan (no volume filter) that was not
// cancelled also drops the cache entries of replicas that are gone.
#pragma once

#include <atomic>
#include <functional>

#include "daemon/agent_config.h"
#include "daemon/scan_runner.h"

namespace sentinel::daemon {

struct NodeScanSettings {
  std::vector<std::string> disks;
  std::string node;
  unsigned threads = 2;
  uint64_t max_read_bytes_per_sec = 0;
  // Deep scans keep their results here and skip unchanged images (scanner/deep_scan_cache.h): <state-dir>/deep-cache.
  // "" = no cache. A directory under a disk is refused with a warning in the log, and the scan reads everything.
  std::string deep_cache_dir;
};

NodeScanSettings node_scan_settings(const AgentConfig& config);

v1::Inventory scan_node(const NodeScanSettings& settings, const ScanRequest& request,
                        const std::atomic<bool>& cancelled,
                        const std::function<void(const v1::Progress&)>& progress);

}  // namespace sentinel::daemon
