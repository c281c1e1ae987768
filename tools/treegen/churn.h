// Churn: a stand-in for Longhorn's replica processes, for soak tests. It keeps live replica directories on
// one or more Longhorn disks changing the way longhorn-engine changes them (shared/LONGHORN-FORMAT.md):
//
// - writes: 4 KiB blocks pwritten into the head image (O_DIRECT when the file system allows it, as Longhorn's
//   DirectFileIoProcessor does), then revision.counter rewritten at offset 0 (4096 bytes, NUL-padded, O_DIRECT),
//   one increment per block written;
// - snapshots: the head and its .img.meta hard-linked to volume-snap-<uuid>.img(.meta), a new sparse head
//   volume-head-NNN.img with its .img.meta (Parent = the snapshot), the snapshot's .img.meta rewritten, the old
//   head's names removed, then volume.meta (Head, Parent) rewritten; every metadata file through `<file>.tmp`
//   and rename, as Longhorn's encodeToFile does. Some steps later (Longhorn hashes snapshots in the background)
//   the snapshot gets a current `.img.checksum` record (the right CRC-64, change_time = its ctime);
// - replicas closed cleanly (volume.meta Dirty:false) and reopened (Dirty:true);
// - replica directories deleted (os.RemoveAll) and new ones created (another volume, or a new replica of it).
//
// It never writes a wrong byte: every block's content is block_data.h's fill_block(seed, index) and every
// checksum record is the true CRC of its snapshot. So a scanner that reports corruption of a file this writer
// touched is wrong (the soak test's "false corruption" check).
//
// Not thread-safe; one owner. Errors are values (SysResult).
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "tools/treegen/block_data.h"
#include "tools/treegen/replica_writer.h"

namespace sentinel::treegen {

struct ChurnOptions {
  std::vector<std::string> disks;      // made Longhorn disks when they are not yet (longhorn-disk.cfg, replicas/)
  unsigned replicas_per_disk = 4;      // live replica directories kept on each disk
  uint64_t volume_bytes = 1ull << 30;  // volume.meta Size, the heads' apparent size
  uint64_t data_bytes = 16ull << 20;   // writes land in [0, data_bytes) (keeps deep scans short)
  unsigned max_blocks_per_write = 8;
  unsigned max_layers = 10;            // a replica whose chain is this long is deleted instead of snapshotted
  uint64_t seed = 1;
};

struct ChurnStats {
  uint64_t steps = 0;
  uint64_t writes = 0;
  uint64_t blocks = 0;
  uint64_t snapshots = 0;
  uint64_t checksums = 0;
  uint64_t closes = 0;
  uint64_t reopens = 0;
  uint64_t deletes = 0;
  uint64_t creates = 0;
  // "steps=.. writes=.. blocks=.. snapshots=.. checksums=.. closes=.. reopens=.. deletes=.. creates=.."
  std::string line() const;
};

class Churn {
 public:
  // Prepares the disks and creates replicas_per_disk replicas on each.
  static SysResult<std::unique_ptr<Churn>> start(const ChurnOptions& options);
  ~Churn();
  Churn(const Churn&) = delete;
  Churn& operator=(const Churn&) = delete;

  // One action on one replica, chosen at random (mostly writes).
  SysResult<Done> step();
  const ChurnStats& stats() const { return stats_; }

  // For tests: the replica directories alive now (full paths).
  std::vector<std::string> live_directories() const;

 private:
  struct Replica;
  struct PendingChecksum {
    uint64_t replica_serial = 0;
    std::string path;          // the snapshot image
    uint64_t crc = 0;
    uint64_t due_step = 0;
  };
  explicit Churn(ChurnOptions options);
  SysResult<Done> create_replica(size_t disk_index, const std::string& volume);
  SysResult<Done> write(Replica& replica);
  SysResult<Done> snapshot(Replica& replica);
  SysResult<Done> close_replica(Replica& replica);
  SysResult<Done> reopen(Replica& replica);
  SysResult<Done> replace(size_t index);
  SysResult<Done> write_volume_meta(const Replica& replica);
  SysResult<Done> write_counter(const Replica& replica);
  SysResult<Done> write_pending_checksums();
  std::string random_name(size_t length, const char* alphabet);
  std::string uuid();
  std::string new_volume_name();

  ChurnOptions options_;
  std::mt19937_64 random_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::vector<PendingChecksum> pending_checksums_;
  ChurnStats stats_;
  uint64_t next_seed_ = 1000;
  uint64_t next_serial_ = 1;
  char* block_buffer_ = nullptr;  // 4 KiB aligned (O_DIRECT)
};

// Writes `bytes` to `dir/name` the way Longhorn's encodeToFile does: `dir/name.tmp` (created or truncated,
// 0644 as umask 022 leaves 0666), then renamed over `dir/name`.
SysResult<Done> write_via_tmp(const std::string& dir, const std::string& name, const std::string& bytes,
                              const std::string& tmp_suffix = ".tmp");

}  // namespace sentinel::treegen
