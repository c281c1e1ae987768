// The deep scan: Longhorn's snapshot checksum of every snapshot of a replica, computed from the allocated
// extents only, and checked against the `.img.checksum` record Longhorn left beside it; and the replica's
// content digest over its merged volume (issue 3).
//
// Contract:
// - Runs after the quick scan (scanner.h) on the replicas it produced and only adds to them: for every
//   snapshot image (kind SNAPSHOT or EXPANSION_SNAPSHOT, whatever its place in the chain; never the head or a
//   restore leftover) it sets `crc64`, `deep_read_bytes` and `stored_checksum`, and adds findings; then it
//   recomputes the replica's `state` from the findings (findings.h replica_state).
// - Read-only: files are opened through `fs` (O_RDONLY|O_NOFOLLOW|O_NOATIME) and read through a ReadEngine
//   (read_engine.h): only the extents FileSystem::map_extents lists are read; holes are folded into the CRC
//   arithmetically. The engine changes the open file description's O_NONBLOCK/O_DIRECT for the read and
//   restores them; nothing on disk changes.
// - Never throws and never stops early: an unreadable or vanished snapshot is a finding on its replica and the
//   next snapshot is read. A file whose (inode, size, mtime, ctime) changed since the quick scan or during the
//   read, or that ends early, gets CHANGED_DURING_SCAN (WARNING) and no crc64: it is never called corrupt.
//   A MISMATCH adds CHECKSUM_MISMATCH (ERROR), a FLAGGED record CHECKSUM_FLAGGED (ERROR).
// - Content digest (DeepScanOptions::content_digest, on by default): `content_digest` and `content` of the
//   replica, the XXH3-128 construction of content_digest.h over the merged view of merged_view.h (head and
//   every snapshot of the chain, Removed ones included). It is a second pass after the snapshots' crc64: the
//   owned runs of each layer are read again (snapshot data that the crc64 pass read is read twice; the head
//   once). A layer that changed since the quick scan or during the read (the head of a running replica does)
//   gives CHANGED_DURING_SCAN and no digest; an unreadable one UNREADABLE. A file the crc64 pass already
//   reported for the same reason gets no second finding: that finding's message says the digest is missing
//   too. A replica whose merged view cannot be built (no Size, incomplete chain, backing image) gets no digest
//   and `content.skipped` says why, without a finding (the quick scan already reported the cause).
// - Cost: the image's allocated bytes, once, plus O(log size) per hole; for the digest, the chain's owned bytes
//   once more, all-zero chunks nothing and the zeros inside chunks with data a few additions per 64 bytes
//   (content_digest.h); memory is the engine's buffer block (queue depth x block size) plus one extent list at
//   a time, plus the merged run list (24 bytes per run, about one run per extent).
// - Cache (DeepScanOptions::cache, deep_scan_cache.h): a snapshot whose (device, inode, size, mtime, ctime) equal
//   the cache entry's (and the quick scan's) is not read: crc64 comes from the cache with crc64_from_cache set and
//   deep_read_bytes 0, and the stored-checksum verdict is made as usual. The content digest is reused when every
//   layer of the chain and the volume Size are unchanged (ContentSummary.from_cache, read_bytes 0). Whatever was
//   computed (and is not racy) is written back after each replica; a cache file that cannot be trusted is
//   ignored with a warning through the cache and rewritten. Nothing is written under the disk.
// - Progress (DeepScanOptions::on_read): called with the size of every piece read, in both passes, from the read
//   lanes' threads one call at a time (never concurrently); deep_scan_planned_bytes() estimates the total.
// - Lanes (DeepScanOptions::read_lanes): a big snapshot's crc64 is computed per range and combined
//   (crc64_iso_combine), the digest per range of 4 MiB chunks; results are bit-identical to one lane. With more
//   than one lane the non-zero chunk list is held until the replica is done (24 bytes per 4 MiB chunk with data).
// - A DeepScanner is used by one thread at a time; scanners on different threads are independent.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "scanner/deep_scan_cache.h"
#include "scanner/file_system.h"
#include "scanner/read_engine.h"
#include "scanner/read_lanes.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::scanner {

struct DeepScanOptions {
  ReadOptions read;                // queue depth, block size, O_DIRECT, rate cap, backend
  ReadQueueFactory queue_factory;  // empty: io_uring with pread fallback; tests inject faults here
  bool content_digest = true;      // also Replica.content_digest over the merged view (a second pass)
  bool keep_chunks = false;        // with content_digest: list the non-zero chunks in Replica.content.chunks
  DeepScanCache* cache = nullptr;  // not owned; nullptr: every image is read
  std::function<void(uint64_t bytes)> on_read;  // progress: bytes just read; may be empty
  // Read lanes (read_lanes.h): a snapshot's extents, and the merged volume, are cut into up to `read_lanes`
  // contiguous ranges (on 4 MiB boundaries) read and hashed at once, each on its own engine and thread, when
  // each range gets at least `min_lane_bytes` of data. 0 = default_read_lanes() (one per core, at most 4);
  // 1 = everything on the calling thread. A read-rate cap is shared out between the lanes.
  unsigned read_lanes = 0;
  uint64_t min_lane_bytes = kDefaultMinLaneBytes;
};

// What a deep scan of `replica` will read at most, for a progress total before it starts: the snapshots'
// allocated bytes, plus (with content_digest, when the merged view can be built) the chain's allocated bytes.
// The real figure is smaller when layers shadow each other or the cache has the images. Pure.
uint64_t deep_scan_planned_bytes(const v1::Replica& replica, const DeepScanOptions& options);

// Removes the cache entries of replicas that no longer exist on the inventory's disks: for every disk that
// could be listed, the entries of directories the inventory does not hold. Call only with an inventory whose
// replicas were all deep-scanned (a scan of part of a disk would drop the others' entries).
size_t prune_deep_scan_cache(FileSystem& fs, DeepScanCache& cache, const v1::Inventory& inventory);

// The verdict on a snapshot's stored checksum record. Pure.
// `record` is the parsed `.img.checksum` (nullptr when there is none or it did not parse); `record_file_present`
// says whether a `.img.checksum` file exists at all; `ctime_ns` is the image's ctime; `computed` is Sentinel's
// crc64 in hex, or "" when it could not be computed. Order of the rules: ABSENT, UNREADABLE (present but not
// parsed, method not "crc64", checksum not 16 hex digits), FLAGGED, STALE, UNVERIFIED, CURRENT / MISMATCH.
v1::StoredChecksum verify_stored_checksum(const v1::ChecksumRecord* record, bool record_file_present,
                                          int64_t ctime_ns, const std::string& computed);

// Go's time.String() ("2024-03-05 08:12:33.123456789 +0100 CET", fraction optional, anything after the zone
// name such as a monotonic-clock reading ignored) as Unix nanoseconds; nullopt when the text does not fit.
// Longhorn writes change_time in the node's local zone, so the offset must be honoured.
std::optional<int64_t> parse_go_time_string(std::string_view text);

class DeepScanner {
 public:
  // Makes the read engines (one per lane). Fails only as ReadEngine::create does (bad options, no memory, forced io_uring
  // unavailable).
  static SysResult<std::unique_ptr<DeepScanner>> create(FileSystem& fs, const DeepScanOptions& options);

  // Deep-scans the snapshots (and, when asked, the merged volume) of one replica found by the quick scan on
  // `disk_path` (the replica's own `disk` field when empty). The replica directory is reopened as
  // <disk>/replicas/<dir>.
  void scan_replica(v1::Replica* replica, const std::string& disk_path = "");
  // Every replica of an inventory (and, with a cache, prune_deep_scan_cache after them).
  void scan_inventory(v1::Inventory* inventory);

  // "io_uring" or "pread", and why a fallback was taken ("" when none).
  [[nodiscard]] const char* backend() const { return engines_.front()->backend(); }
  [[nodiscard]] const std::string& backend_note() const { return engines_.front()->note(); }

 private:
  DeepScanner(FileSystem& fs, std::vector<std::unique_ptr<ReadEngine>> engines, const DeepScanOptions& options)
      : fs_(fs), engines_(std::move(engines)), options_(options) {}
  FileSystem& fs_;
  std::vector<std::unique_ptr<ReadEngine>> engines_;  // [0] reads on the calling thread
  DeepScanOptions options_;
};

// One replica with a scanner made for the call. When the engine cannot be made, a replica with snapshots (or,
// with content_digest, any replica) gets one UNREADABLE finding saying why.
void deep_scan_replica(FileSystem& fs, const std::string& disk_path, v1::Replica* replica,
                       const DeepScanOptions& options);
// Every replica of an inventory with one scanner.
void deep_scan_inventory(FileSystem& fs, v1::Inventory* inventory, const DeepScanOptions& options);

}  // namespace sentinel::scanner
