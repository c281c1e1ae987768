// The quick scan: every replica directory on the given Longhorn disks, read-only, without reading image data.
//
// Contract:
// - Never throws for anything found on disk and never stops early: a problem in one replica (or disk) is a
//   finding on it, and every other replica is still reported. Returns an Inventory always.
// - Touches the disks only through `fs` (see file_system.h: read-only, no symlink following, O_NOATIME).
// - Cost: a few metadata reads, one stat and one extent map per file; no image data is read. Memory is
//   bounded by the number of images, plus the extent lists only when `include_extents` is set.
// - Replicas are scanned on `options.threads` threads; the inventory's order does not depend on it
//   (disks in the order given, replica directories by name).
#pragma once

#include <string>
#include <vector>

#include "scanner/file_system.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::scanner {

struct ScanOptions {
  bool include_extents = false;  // fill Image.extents (the coalesced list), not just extent_count
  // Replica directories scanned at once. The cost is mostly the kernel's FIEMAP work, which scales with cores.
  // 0 = one per core, at most 8. With more than 1, `fs` must be safe to call from several threads.
  unsigned threads = 0;
};

// Scans `<disk>/replicas/<dir_name>`; `replicas_fd` is the open `<disk>/replicas` directory.
v1::Replica scan_replica_dir(FileSystem& fs, int replicas_fd, const std::string& disk, const std::string& dir_name,
                             const ScanOptions& options);

// Scans every disk in order. `node` and `agent_version` are copied into the inventory.
v1::Inventory scan_disks(FileSystem& fs, const std::vector<std::string>& disks, const std::string& node,
                         const ScanOptions& options);

}  // namespace sentinel::scanner
