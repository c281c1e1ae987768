#include "daemon/node_scan.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>

#include "scanner/deep_scan.h"
#include "scanner/deep_scan_cache.h"
#include "scanner/file_system.h"
#include "scanner/findings.h"
#include "scanner/scanner.h"

namespace sentinel::daemon {

NodeScanSettings node_scan_settings(const AgentConfig& config) {
  NodeScanSettings settings;
  settings.disks = config.disks;
  settings.node = config.node;
  settings.threads = config.scan_threads;
  settings.max_read_bytes_per_sec = config.max_read_mbps * 1000 * 1000;
  if (!config.state_dir.empty()) settings.deep_cache_dir = config.state_dir + "/deep-cache";
  return settings;
}

v1::Inventory scan_node(const NodeScanSettings& settings, const ScanRequest& request,
                        const std::atomic<bool>& cancelled,
                        const std::function<void(const v1::Progress&)>& progress) {
  scanner::PosixFileSystem fs;
  scanner::ScanOptions quick;
  quick.threads = settings.threads;
  const auto started = std::chrono::steady_clock::now();
  v1::Inventory inventory = scanner::scan_disks(fs, settings.disks, settings.node, quick);
  if (request.kind != v1::DEEP || cancelled) return inventory;

  std::vector<v1::Replica*> selected;
  v1::Progress state;
  state.set_phase("deep scan");
  for (v1::Replica& replica : *inventory.mutable_replicas()) {
    if (!request.volume.empty() && replica.volume() != request.volume) continue;
    selected.push_back(&replica);
    state.set_total_bytes(state.total_bytes() + replica.allocated_bytes());
  }
  state.set_replicas_total(static_cast<uint32_t>(selected.size()));
  if (progress) progress(state);

  scanner::DeepScanOptions options;
  options.read.max_read_bytes_per_sec = settings.max_read_bytes_per_sec;  // shared out between the read lanes
  options.read_lanes = settings.threads;
  options.keep_chunks = true;  // the collector compares replicas across nodes chunk by chunk
  std::unique_ptr<scanner::DeepScanCache> cache;
  if (!settings.deep_cache_dir.empty()) {
    scanner::DeepScanCacheOptions cache_options;
    cache_options.dir = settings.deep_cache_dir;
    cache_options.disks = settings.disks;
    cache_options.warn = [](const std::string& message) { spdlog::warn("{}", message); };
    std::string error;
    cache = scanner::DeepScanCache::open(cache_options, &error);
    if (!cache) spdlog::warn("deep-scan cache not used, every image is read: {}", error);
    options.cache = cache.get();
  }
  auto deep = scanner::DeepScanner::create(fs, options);
  for (v1::Replica* replica : selected) {
    if (cancelled) break;
    state.set_current(replica->dir());
    if (deep) {
      (*deep)->scan_replica(replica);
    } else {
      scanner::deep_scan_replica(fs, replica->disk(), replica, options);  // records why it cannot read
    }
    state.set_replicas_done(state.replicas_done() + 1);
    state.set_done_bytes(state.done_bytes() + replica->allocated_bytes());
    if (progress) progress(state);
  }
  if (cache && deep && request.volume.empty() && !cancelled) scanner::prune_deep_scan_cache(fs, *cache, inventory);
  inventory.set_scan_duration_ns(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  return inventory;
}

}  // namespace sentinel::daemon
