// Writes Longhorn v1 replica directories (and disks) from a small declarative spec, for tests and demos.
//
// Contract:
// - Output follows shared/LONGHORN-FORMAT.md exactly as longhorn-engine v1.5.3 writes it (see
//   longhorn_json.h for the texts): replica directory 0700, images and metadata 0644, revision.counter 0600.
// - Images are sparse: ftruncate to the apparent size, then data only where the spec writes, in whole 4 KiB
//   blocks; a 40 GiB volume with 3 MiB of writes costs ~3 MiB of disk. Content is deterministic
//   (block_data.h), mtimes are set from the spec, so the same spec always yields the same tree (ctimes, inode
//   numbers, and the ctime-derived change_time of .checksum records aside).
// - Never overwrites: a replica directory (or file) that already exists is an EEXIST error. On error the
//   partially written directory is left for inspection.
// - Broken trees are first-class: every file can be omitted or replaced by raw bytes, and extra entries
//   (symlinks, FIFOs, subdirectories, odd files) can be added, so tests can stage any damage.
// - Errors are values (SysResult, with errno); nothing throws except std::bad_alloc. Thread-compatible:
//   concurrent calls are fine as long as they write different directories.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scanner/sys_result.h"
#include "tools/treegen/block_data.h"

namespace sentinel::treegen {

using scanner::Done;
using scanner::SysResult;

// 2024-02-25T23:10:17Z: the default clock of a generated tree, so trees do not depend on when they were made.
inline constexpr int64_t kDefaultBaseTimeNs = int64_t{1708902617} * 1'000'000'000;
inline constexpr int64_t kSecondNs = 1'000'000'000;

// One write into a layer: whole 4 KiB blocks (offset and length multiples of 4096).
struct Write {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t seed = 0;  // content seed; 0 = the layer's seed. Later writes overwrite earlier ones.
};

// One layer file (`*.img`) and its `.img.meta`.
struct LayerSpec {
  std::string file;                       // "volume-snap-<uuid>.img", "volume-head-001.img", ...
  std::vector<Write> writes;
  uint64_t seed = 1;
  std::optional<uint64_t> apparent_bytes; // default: the volume Size
  int64_t mtime_ns = 0;                   // 0: the replica's base time + (layer index) minutes
  // .img.meta fields. Name defaults to `file`; Parent to the previous (older) layer's file, "" for the oldest.
  std::optional<std::string> meta_name;
  std::optional<std::string> parent;
  bool removed = false;
  bool user_created = false;
  std::string created;                    // default: RFC 3339 of mtime_ns
  std::map<std::string, std::string> labels;
  bool write_meta = true;                 // false: no .img.meta at all
  std::optional<std::string> meta_text;   // raw .img.meta bytes instead of the generated JSON
  bool write_checksum = false;            // a current .img.checksum record (correct CRC, ctime-matched)
};

// An entry Longhorn never writes, added after everything else.
struct ExtraEntry {
  enum class Kind { kFile, kSymlink, kFifo, kDirectory };
  Kind kind = Kind::kFile;
  std::string name;                  // raw bytes; may hold newlines or invalid UTF-8
  std::string data;                  // kFile: content; kSymlink: the link target
  std::optional<mode_t> mode;        // default 0644 (files, FIFOs) / 0755 (directories); exact; not symlinks
};

struct ReplicaSpec {
  std::string dir;                   // "<volume>-<8 alnum>" for a well-formed replica
  int64_t size = 0;                  // volume.meta Size; images default to this apparent size
  int64_t sector_size = 512;
  std::vector<LayerSpec> layers;     // oldest first; the last one is the head
  std::optional<std::string> head;   // volume.meta Head; default: the last layer's file
  bool dirty = false;
  bool rebuilding = false;
  std::string error;
  std::string backing_file_path;
  std::optional<int64_t> revision_counter;  // nullopt: no revision.counter (counter disabled)
  std::optional<std::string> revision_counter_text;  // raw bytes instead (written as is, not padded)
  bool write_volume_meta = true;
  std::optional<std::string> volume_meta_text;       // raw volume.meta bytes instead of the generated JSON
  std::vector<ExtraEntry> extras;
  int64_t base_time_ns = kDefaultBaseTimeNs;         // volume.meta mtime; default layer mtimes count from it
};

// The blocks a layer holds after applying its writes in order (EINVAL on an unaligned write or one past the
// layer's apparent size).
SysResult<BlockMap> layer_blocks(const LayerSpec& layer, uint64_t apparent_bytes);

// Writes `<replicas_dir>/<spec.dir>/`. `replicas_dir` must exist.
SysResult<Done> write_replica(const std::string& replicas_dir, const ReplicaSpec& spec);

// Creates one ExtraEntry inside `dir` (also used for stray entries directly under replicas/).
SysResult<Done> write_extra_entry(const std::string& dir, const ExtraEntry& entry);

// Makes `disk_path` a Longhorn disk: the directory (created if missing), `longhorn-disk.cfg` (must not exist
// yet) and an empty `replicas/` (created if missing).
SysResult<Done> write_disk(const std::string& disk_path, const std::string& disk_name, const std::string& disk_uuid);

}  // namespace sentinel::treegen
