// Writes a replica directory from a ReplicaSpec; see replica_writer.h.
#include "tools/treegen/replica_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

#include "tools/treegen/longhorn_json.h"
#include "tools/treegen/posix_io.h"

namespace sentinel::treegen {
namespace {

using scanner::sys_error;

constexpr mode_t kDirMode = 0700;        // as the engine's os.MkdirAll(dir, 0700)
constexpr mode_t kFileMode = 0644;
constexpr mode_t kCounterMode = 0600;
constexpr uint64_t kMaxRunBytes = 1 << 20;  // pwrite granularity: bounds the buffer, not the write size
constexpr int64_t kMinuteNs = 60 * kSecondNs;

// Writes every run of consecutive blocks with one pwrite per (at most 1 MiB) chunk.
SysResult<Done> write_blocks(int fd, const std::string& path, const BlockMap& blocks) {
  std::vector<char> buffer;
  auto it = blocks.begin();
  while (it != blocks.end()) {
    const uint64_t first = it->first;
    buffer.clear();
    uint64_t next = first;
    while (it != blocks.end() && it->first == next && buffer.size() < kMaxRunBytes) {
      buffer.resize(buffer.size() + kBlockBytes);
      fill_block(it->second, it->first, std::span<char>(buffer.data() + buffer.size() - kBlockBytes, kBlockBytes));
      ++it;
      ++next;
    }
    if (auto r = pwrite_all(fd, buffer.data(), buffer.size(), first * kBlockBytes, path); !r) return r;
  }
  return Done{};
}

SysResult<Done> write_image(const std::string& path, uint64_t apparent_bytes, const BlockMap& blocks) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, kFileMode);
  if (fd < 0) return sys_error("create " + path);
  SysResult<Done> result = Done{};
  if (::fchmod(fd, kFileMode) != 0) {
    result = sys_error("chmod " + path);
  } else if (::ftruncate(fd, static_cast<off_t>(apparent_bytes)) != 0) {
    result = sys_error("truncate " + path);  // e.g. EFBIG: the file system cannot hold a file that large
  } else {
    result = write_blocks(fd, path, blocks);
  }
  if (::close(fd) != 0 && result.ok()) result = sys_error("close " + path);
  return result;
}

class ReplicaWriter {
 public:
  ReplicaWriter(const std::string& replicas_dir, const ReplicaSpec& spec)
      : spec_(spec), dir_(join(replicas_dir, spec.dir)) {}

  SysResult<Done> run() {
    if (!is_single_component(spec_.dir)) return sys_error("replica directory name '" + spec_.dir + "'", EINVAL);
    if (auto r = make_dir(dir_, kDirMode, /*exist_ok=*/false); !r) return r;
    for (size_t i = 0; i < spec_.layers.size(); ++i) {
      if (auto r = write_layer(i); !r) return r;
    }
    if (auto r = write_volume_meta(); !r) return r;
    if (auto r = write_revision_counter(); !r) return r;
    for (const auto& extra : spec_.extras) {
      if (auto r = write_extra_entry(dir_, extra); !r) return r;
      if (auto r = set_mtime(join(dir_, extra.name), head_mtime_ns()); !r) return r;
    }
    // Last, because every entry created above touched it.
    return set_mtime(dir_, head_mtime_ns());
  }

 private:
  int64_t layer_mtime_ns(size_t index) const {
    const LayerSpec& layer = spec_.layers[index];
    return layer.mtime_ns != 0 ? layer.mtime_ns
                               : spec_.base_time_ns + static_cast<int64_t>(index + 1) * kMinuteNs;
  }
  int64_t head_mtime_ns() const {
    return spec_.layers.empty() ? spec_.base_time_ns : layer_mtime_ns(spec_.layers.size() - 1);
  }

  SysResult<Done> write_layer(size_t index) {
    const LayerSpec& layer = spec_.layers[index];
    if (!is_single_component(layer.file)) return sys_error("layer file name '" + layer.file + "'", EINVAL);
    const std::string path = join(dir_, layer.file);
    if (!layer.apparent_bytes && spec_.size <= 0) {
      return sys_error(layer.file + ": Size " + std::to_string(spec_.size) + " needs an explicit apparent_bytes",
                       EINVAL);
    }
    const uint64_t apparent = layer.apparent_bytes.value_or(static_cast<uint64_t>(spec_.size));
    auto blocks = layer_blocks(layer, apparent);
    if (!blocks) return blocks.error();
    if (auto r = write_image(path, apparent, *blocks); !r) return r;
    const int64_t mtime = layer_mtime_ns(index);
    if (auto r = set_mtime(path, mtime); !r) return r;

    if (layer.write_meta) {
      std::string text;
      if (layer.meta_text) {
        text = *layer.meta_text;
      } else {
        ImageMetaFields meta;
        meta.name = layer.meta_name.value_or(layer.file);
        meta.parent = layer.parent.value_or(index == 0 ? std::string() : spec_.layers[index - 1].file);
        meta.removed = layer.removed;
        meta.user_created = layer.user_created;
        meta.created = layer.created.empty() ? rfc3339_utc(mtime) : layer.created;
        meta.labels = layer.labels;
        text = image_meta_json(meta);
      }
      const std::string meta_path = path + ".meta";
      if (auto r = write_new_file(meta_path, text, kFileMode); !r) return r;
      if (auto r = set_mtime(meta_path, mtime); !r) return r;
    }

    if (layer.write_checksum) {
      // The record is current only while change_time equals the image's ctime, so read the ctime after the
      // last change to the image (set_mtime above changed it).
      auto ctime = ctime_ns(path);
      if (!ctime) return ctime.error();
      ChecksumFields sum;
      sum.checksum = layer_crc64_iso(*blocks, apparent);
      sum.change_time_ns = *ctime;
      sum.last_hashed_at_ns = mtime + kMinuteNs;
      const std::string sum_path = path + ".checksum";
      if (auto r = write_new_file(sum_path, checksum_json(sum), kFileMode); !r) return r;
      if (auto r = set_mtime(sum_path, sum.last_hashed_at_ns); !r) return r;
    }
    return Done{};
  }

  SysResult<Done> write_volume_meta() {
    if (!spec_.write_volume_meta) return Done{};
    std::string text;
    if (spec_.volume_meta_text) {
      text = *spec_.volume_meta_text;
    } else {
      VolumeMetaFields meta;
      meta.size = spec_.size;
      meta.head = spec_.head.value_or(spec_.layers.empty() ? std::string() : spec_.layers.back().file);
      meta.dirty = spec_.dirty;
      meta.rebuilding = spec_.rebuilding;
      meta.error = spec_.error;
      // volume.meta Parent is the head's parent: the newest snapshot.
      meta.parent = spec_.layers.size() >= 2 ? spec_.layers[spec_.layers.size() - 2].file : std::string();
      meta.sector_size = spec_.sector_size;
      meta.backing_file_path = spec_.backing_file_path;
      text = volume_meta_json(meta);
    }
    const std::string path = join(dir_, "volume.meta");
    if (auto r = write_new_file(path, text, kFileMode); !r) return r;
    return set_mtime(path, spec_.base_time_ns);
  }

  SysResult<Done> write_revision_counter() {
    std::string bytes;
    if (spec_.revision_counter_text) {
      bytes = *spec_.revision_counter_text;
    } else if (spec_.revision_counter) {
      bytes = revision_counter_bytes(*spec_.revision_counter);
    } else {
      return Done{};  // revision counter disabled: Longhorn writes no file
    }
    const std::string path = join(dir_, "revision.counter");
    if (auto r = write_new_file(path, bytes, kCounterMode); !r) return r;
    return set_mtime(path, head_mtime_ns());  // every write bumps it, so it ages with the head
  }

  const ReplicaSpec& spec_;
  std::string dir_;
};

}  // namespace

SysResult<BlockMap> layer_blocks(const LayerSpec& layer, uint64_t apparent_bytes) {
  BlockMap blocks;
  for (const Write& w : layer.writes) {
    if (w.offset % kBlockBytes != 0 || w.length % kBlockBytes != 0) {
      return sys_error(layer.file + ": write at " + std::to_string(w.offset) + " is not 4 KiB aligned", EINVAL);
    }
    if (w.offset > apparent_bytes || w.length > apparent_bytes - w.offset) {
      return sys_error(layer.file + ": write at " + std::to_string(w.offset) + " ends past the file", EINVAL);
    }
    const uint64_t seed = w.seed != 0 ? w.seed : layer.seed;
    for (uint64_t b = w.offset / kBlockBytes; b < (w.offset + w.length) / kBlockBytes; ++b) blocks[b] = seed;
  }
  return blocks;
}

SysResult<Done> write_replica(const std::string& replicas_dir, const ReplicaSpec& spec) {
  return ReplicaWriter(replicas_dir, spec).run();
}

SysResult<Done> write_extra_entry(const std::string& dir, const ExtraEntry& entry) {
  if (!is_single_component(entry.name)) return sys_error("entry name '" + entry.name + "'", EINVAL);
  const std::string path = join(dir, entry.name);
  switch (entry.kind) {
    case ExtraEntry::Kind::kFile:
      return write_new_file(path, entry.data, entry.mode.value_or(kFileMode));
    case ExtraEntry::Kind::kSymlink:
      return make_symlink(entry.data, path);
    case ExtraEntry::Kind::kFifo:
      return make_fifo(path, entry.mode.value_or(kFileMode));
    case ExtraEntry::Kind::kDirectory:
      return make_dir(path, entry.mode.value_or(0755), /*exist_ok=*/false);
  }
  return sys_error("entry kind", EINVAL);
}

SysResult<Done> write_disk(const std::string& disk_path, const std::string& disk_name, const std::string& disk_uuid) {
  if (auto r = make_dirs(disk_path); !r) return r;
  if (auto r = write_new_file(join(disk_path, "longhorn-disk.cfg"), disk_config_json(disk_name, disk_uuid), 0644);
      !r) {
    return r;
  }
  return make_dir(join(disk_path, "replicas"), 0755, /*exist_ok=*/true);
}

}  // namespace sentinel::treegen
