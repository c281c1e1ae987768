// The deep-scan cache (issue 3, item 5): what a deep scan computed for a replica, kept in a directory of the
// operator's choosing (`sentinelctl scan --deep --cache-dir DIR`, the agent's <state-dir>/deep-cache), so that a
// re-scan skips the images that did not change since they were last read.
//
// What is kept, per replica directory (one file each):
// - per snapshot: its identity (device, inode, size, mtime_ns, ctime_ns) when it was read, and its crc64. A later
//   deep scan that finds the same identity (and the quick scan saw the same) takes the crc64 from the cache:
//   Image.crc64_from_cache, deep_read_bytes 0. The verdict on the `.img.checksum` record is always made again
//   against the record as it is now (Longhorn may have rewritten it), so only the sum itself is reused.
// - the content digest of the merged volume: it depends on every layer of the chain, so it is keyed by the
//   volume Size and the ordered list of the chain's layers (name and identity each, head included). When any
//   layer changed (the head of a running replica always does) the whole merged view is read again; when none
//   did, ContentSummary.from_cache is set, read_bytes is 0 and the chunk list comes from the cache.
// - the parameters that shape the results (format version, chunk size, the zero-chunk digest, the CRC variant):
//   a file written with other parameters is a miss.
//
// Trust: a file is used only when its header names this format, its XXH3-64 over the body matches, and every
// field parses and is well formed (16/32 lowercase hex digests, chunks in range and ascending). Anything else is
// ignored with a warning (the `warn` callback) and rewritten by the scan. An identity is trusted only when it is
// not "racy": a file whose mtime or ctime is within `racy_window_ns` of the moment its read began is not cached
// (a write landing in the same timestamp tick as the read would otherwise go unnoticed, the way git's racy index
// entries would). Clocks that step backwards defeat this, as they defeat every mtime-based cache.
//
// Where it writes: only inside its own directory, never under a Longhorn disk: open() refuses a directory that
// is a disk or lies inside one (by real path, and by device and inode of every ancestor, which also catches a
// bind mount of a disk root). Each file is written atomically (a temporary in the same directory, write, fsync,
// rename, fsync of the directory); readers see the old or the new file, never a mix. Files are named from the
// disk root's (device, inode) and the replica directory's name; the dir is created (0700) when missing.
//
// Threads: one DeepScanCache may be shared by scanners on several threads (counters are atomic, files are
// replaced atomically; two scans storing the same replica at once leave one of the two, both correct).
// Errors are values and warnings; nothing throws (except std::bad_alloc).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace sentinel::scanner {

// A file as the cache keys it.
struct CacheIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const CacheIdentity&) const = default;
};

struct CachedImage {
  std::string name;  // as in the inventory (escaped)
  CacheIdentity identity;
  std::string crc64;  // 16 lowercase hex
  bool operator==(const CachedImage&) const = default;
};

struct CachedLayer {
  std::string name;
  CacheIdentity identity;
  bool operator==(const CachedLayer&) const = default;
};

struct CachedChunk {
  uint64_t index = 0;
  std::string digest;  // 32 lowercase hex
  bool operator==(const CachedChunk&) const = default;
};

struct CachedContent {
  uint64_t volume_bytes = 0;
  std::vector<CachedLayer> layers;  // the chain, head first
  std::string digest;               // content_digest, 32 lowercase hex
  uint64_t chunk_count = 0;
  uint64_t nonzero_chunk_count = 0;
  uint64_t mapped_bytes = 0;
  uint64_t run_count = 0;
  std::vector<CachedChunk> chunks;  // every non-zero chunk, ascending index
  bool operator==(const CachedContent&) const = default;
};

// Which replica directory an entry is for: the disk root's identity (its path may be spelled differently from
// one scan to the next) and the directory's name under replicas/ (as in the inventory).
struct CacheKey {
  uint64_t disk_device = 0;
  uint64_t disk_inode = 0;
  std::string dir;
};

struct CacheEntry {
  std::string disk;  // the disk path of the scan that wrote it (for a person reading the file; not a key)
  std::vector<CachedImage> images;
  std::optional<CachedContent> content;
  bool operator==(const CacheEntry&) const = default;
  [[nodiscard]] bool empty() const { return images.empty() && !content; }
  [[nodiscard]] const CachedImage* find_image(const std::string& name, const CacheIdentity& identity) const;
};

struct DeepScanCacheOptions {
  std::string dir;                 // the cache directory; created when missing
  std::vector<std::string> disks;  // Longhorn disks: `dir` must not be one of them nor lie inside one
  std::function<void(const std::string& message)> warn;  // ignored or unwritable files; may be empty
  int64_t racy_window_ns = 1'000'000'000;                // see "Trust" above; tests of the library may use 0
};

struct DeepScanCacheStats {
  uint64_t image_hits = 0;
  uint64_t image_misses = 0;    // snapshots read (cache consulted, nothing usable)
  uint64_t content_hits = 0;
  uint64_t content_misses = 0;
  uint64_t files_ignored = 0;   // corrupt, foreign-version or other-parameter files (each warned about)
  uint64_t files_written = 0;
  uint64_t racy_skipped = 0;    // results not stored because a file was too recently modified
};

class DeepScanCache {
 public:
  // The current format; a file with another is ignored with a warning and rewritten.
  static constexpr int kFormatVersion = 1;

  // Refuses (nullptr, *error set) a `dir` that is a disk or inside one, that cannot be created, or that is not
  // a directory. A disk path that does not exist cannot contain anything and is skipped by the check.
  static std::unique_ptr<DeepScanCache> open(const DeepScanCacheOptions& options, std::string* error);
  ~DeepScanCache();
  DeepScanCache(const DeepScanCache&) = delete;
  DeepScanCache& operator=(const DeepScanCache&) = delete;

  // The entry for `key`, or nullopt when there is none or it cannot be trusted (then warned about).
  // `raw` (may be null) receives the file's bytes, so that an unchanged entry need not be written again;
  // `existed` (may be null) whether a file was there at all, trusted or not.
  std::optional<CacheEntry> load(const CacheKey& key, std::string* raw = nullptr, bool* existed = nullptr);
  // Writes the entry atomically. `previous_raw`: what load() returned as raw; an entry that serializes to
  // exactly those bytes is not written again. False (and a warning) when the write failed.
  bool store(const CacheKey& key, const CacheEntry& entry, const std::string& previous_raw = "");

  // Removes the entries of disk (device, inode) whose replica directory is not in `dirs` (they were deleted),
  // and temporaries older than an hour left by an interrupted write. Returns the number of files removed.
  size_t prune(uint64_t disk_device, uint64_t disk_inode, const std::set<std::string>& dirs);

  // True when `identity` is too recent to be trusted for a read that began at `read_started_ns` (wall clock).
  [[nodiscard]] bool racy(const CacheIdentity& identity, int64_t read_started_ns) const;

  void count_image(bool hit);
  void count_content(bool hit);
  void count_racy();
  [[nodiscard]] DeepScanCacheStats stats() const;
  [[nodiscard]] const std::string& dir() const { return options_.dir; }

  // The file name of an entry (inside dir()). Exposed for tests.
  static std::string file_name(const CacheKey& key);
  // The file's bytes for an entry, and the parse back (nullopt and *why when the bytes cannot be trusted).
  static std::string serialize(const CacheKey& key, const CacheEntry& entry);
  static std::optional<CacheEntry> parse(const std::string& bytes, const CacheKey& key, std::string* why,
                                         bool* foreign);

 private:
  DeepScanCache(DeepScanCacheOptions options, int dir_fd) : options_(std::move(options)), dir_fd_(dir_fd) {}
  void warn(const std::string& message);

  DeepScanCacheOptions options_;
  int dir_fd_ = -1;
  std::atomic<uint64_t> image_hits_{0}, image_misses_{0}, content_hits_{0}, content_misses_{0};
  std::atomic<uint64_t> files_ignored_{0}, files_written_{0}, racy_skipped_{0};
};

// Why `dir` may not hold a cache next to `disks`, or "" when it may: it is one of them or lies inside one
// (real paths, and device and inode of `dir`'s existing ancestors). `dir` need not exist yet. Nothing is created.
std::string cache_dir_conflict(const std::string& dir, const std::vector<std::string>& disks);

// Wall-clock nanoseconds now (CLOCK_REALTIME), the clock file timestamps are taken from.
int64_t wall_clock_ns();

}  // namespace sentinel::scanner
