// Live replicas changing as Longhorn changes them; see churn.h.
#include "tools/treegen/churn.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <span>

#include "tools/treegen/longhorn_json.h"
#include "tools/treegen/posix_io.h"

namespace sentinel::treegen {

using scanner::sys_error;

namespace {

constexpr const char* kAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
constexpr const char* kHex = "0123456789abcdef";
constexpr size_t kCounterBytes = 4096;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string head_name(int number) {
  char name[32];
  std::snprintf(name, sizeof name, "volume-head-%03d.img", number);
  return name;
}

// Longhorn opens images and revision.counter with O_DIRECT; file systems without it (tmpfs) get buffered I/O.
SysResult<int> open_maybe_direct(const std::string& path, int flags, mode_t mode) {
  int fd = ::open(path.c_str(), flags | O_DIRECT | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0 && errno == EINVAL) fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return sys_error("open " + path);
  return fd;
}

}  // namespace

std::string ChurnStats::line() const {
  return "steps=" + std::to_string(steps) + " writes=" + std::to_string(writes) + " blocks=" + std::to_string(blocks) +
         " snapshots=" + std::to_string(snapshots) + " checksums=" + std::to_string(checksums) +
         " closes=" + std::to_string(closes) + " reopens=" + std::to_string(reopens) +
         " deletes=" + std::to_string(deletes) + " creates=" + std::to_string(creates);
}

SysResult<Done> write_via_tmp(const std::string& dir, const std::string& name, const std::string& bytes,
                              const std::string& tmp_suffix) {
  const std::string tmp = join(dir, name + tmp_suffix);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return sys_error("create " + tmp);
  auto written = pwrite_all(fd, bytes.data(), bytes.size(), 0, tmp);
  ::close(fd);
  if (!written) return written;
  if (::rename(tmp.c_str(), join(dir, name).c_str()) != 0) return sys_error("rename " + tmp);
  return Done{};
}

struct Churn::Replica {
  ~Replica() {
    if (head_fd >= 0) ::close(head_fd);
    if (counter_fd >= 0) ::close(counter_fd);
  }
  uint64_t serial = 0;
  size_t disk_index = 0;
  std::string dir;  // full path
  std::string volume;
  int head_number = 0;
  std::string head;                    // file name
  std::string parent;                  // the newest snapshot's file name, "" before the first
  std::vector<std::string> snapshots;  // oldest first
  BlockMap head_blocks;                // what the head holds (block -> seed)
  int64_t counter = 0;
  bool open = true;
  int head_fd = -1;
  int counter_fd = -1;
};

Churn::Churn(ChurnOptions options) : options_(std::move(options)), random_(options_.seed) {
  block_buffer_ = static_cast<char*>(std::aligned_alloc(kCounterBytes, kCounterBytes));
}

Churn::~Churn() {
  replicas_.clear();
  std::free(block_buffer_);
}

SysResult<std::unique_ptr<Churn>> Churn::start(const ChurnOptions& options) {
  if (options.disks.empty()) return sys_error("churn: no disk given", EINVAL);
  if (options.data_bytes < kBlockBytes || options.data_bytes > options.volume_bytes ||
      options.volume_bytes % kBlockBytes != 0 || options.max_layers < 2 || options.max_blocks_per_write == 0) {
    return sys_error("churn: inconsistent options", EINVAL);
  }
  std::unique_ptr<Churn> churn(new Churn(options));
  for (size_t d = 0; d < options.disks.size(); ++d) {
    const std::string& disk = options.disks[d];
    struct stat st {};
    if (::stat(join(disk, "longhorn-disk.cfg").c_str(), &st) != 0) {
      if (auto r = make_dirs(disk); !r) return r.error();
      if (auto r = write_disk(disk, "soak-disk-" + std::to_string(d + 1), churn->uuid()); !r) return r.error();
    } else if (auto r = make_dir(join(disk, "replicas"), 0755, true); !r) {
      return r.error();
    }
    for (unsigned i = 0; i < options.replicas_per_disk; ++i) {
      if (auto r = churn->create_replica(d, churn->new_volume_name()); !r) return r.error();
    }
  }
  return churn;
}

std::vector<std::string> Churn::live_directories() const {
  std::vector<std::string> dirs;
  for (const auto& replica : replicas_) dirs.push_back(replica->dir);
  return dirs;
}

std::string Churn::random_name(size_t length, const char* alphabet) {
  const size_t n = std::char_traits<char>::length(alphabet);
  std::string out;
  for (size_t i = 0; i < length; ++i) out += alphabet[random_() % n];
  return out;
}

std::string Churn::uuid() {
  return random_name(8, kHex) + "-" + random_name(4, kHex) + "-4" + random_name(3, kHex) + "-8" +
         random_name(3, kHex) + "-" + random_name(12, kHex);
}

std::string Churn::new_volume_name() { return "pvc-" + uuid(); }

SysResult<Done> Churn::write_volume_meta(const Replica& replica) {
  VolumeMetaFields meta;
  meta.size = static_cast<int64_t>(options_.volume_bytes);
  meta.head = replica.head;
  meta.dirty = replica.open;
  meta.parent = replica.parent;
  return write_via_tmp(replica.dir, "volume.meta", volume_meta_json(meta));
}

SysResult<Done> Churn::write_counter(const Replica& replica) {
  const std::string bytes = revision_counter_bytes(replica.counter);
  std::copy(bytes.begin(), bytes.end(), block_buffer_);
  return pwrite_all(replica.counter_fd, block_buffer_, kCounterBytes, 0, join(replica.dir, "revision.counter"));
}

// As longhorn-engine's replica.New on an empty directory: the directory, a sparse head and its metadata,
// volume.meta (Dirty: the replica is open), revision.counter at 0.
SysResult<Done> Churn::create_replica(size_t disk_index, const std::string& volume) {
  auto replica = std::make_unique<Replica>();
  replica->serial = next_serial_++;
  replica->disk_index = disk_index;
  replica->volume = volume;
  replica->dir = join(join(options_.disks[disk_index], "replicas"), volume + "-" + random_name(8, kAlnum));
  if (auto r = make_dir(replica->dir, 0700, false); !r) return r;
  replica->head = head_name(0);
  auto head_fd = open_maybe_direct(join(replica->dir, replica->head), O_RDWR | O_CREAT | O_EXCL, 0666);
  if (!head_fd) return head_fd.error();
  replica->head_fd = *head_fd;
  if (::ftruncate(replica->head_fd, static_cast<off_t>(options_.volume_bytes)) != 0) {
    return sys_error("truncate " + join(replica->dir, replica->head));
  }
  ImageMetaFields head_meta;
  head_meta.name = replica->head;
  head_meta.created = rfc3339_utc(now_ns());
  if (auto r = write_via_tmp(replica->dir, replica->head + ".meta", image_meta_json(head_meta)); !r) return r;
  if (auto r = write_volume_meta(*replica); !r) return r;
  auto counter_fd = open_maybe_direct(join(replica->dir, "revision.counter"), O_RDWR | O_CREAT, 0600);
  if (!counter_fd) return counter_fd.error();
  replica->counter_fd = *counter_fd;
  if (auto r = write_counter(*replica); !r) return r;
  replicas_.push_back(std::move(replica));
  ++stats_.creates;
  return Done{};
}

SysResult<Done> Churn::write(Replica& replica) {
  const uint64_t blocks = options_.data_bytes / kBlockBytes;
  const unsigned count = 1 + static_cast<unsigned>(random_() % options_.max_blocks_per_write);
  for (unsigned i = 0; i < count; ++i) {
    const uint64_t index = random_() % blocks;
    const uint64_t seed = next_seed_++;
    fill_block(seed, index, std::span<char>(block_buffer_, kBlockBytes));
    if (auto r = pwrite_all(replica.head_fd, block_buffer_, kBlockBytes, index * kBlockBytes,
                            join(replica.dir, replica.head));
        !r) {
      return r;
    }
    replica.head_blocks[index] = seed;
  }
  replica.counter += count;
  if (auto r = write_counter(replica); !r) return r;
  ++stats_.writes;
  stats_.blocks += count;
  return Done{};
}

// As longhorn-engine's Replica.Snapshot: link the head to the snapshot name (image and .meta), create the new
// head and its .meta, rewrite the snapshot's .meta, remove the old head's names, rewrite volume.meta.
SysResult<Done> Churn::snapshot(Replica& replica) {
  const std::string snapshot = "volume-snap-" + uuid() + ".img";
  const std::string old_head = replica.head;
  const std::string dir = replica.dir;
  if (::link(join(dir, old_head).c_str(), join(dir, snapshot).c_str()) != 0) return sys_error("link " + snapshot);
  if (::link(join(dir, old_head + ".meta").c_str(), join(dir, snapshot + ".meta").c_str()) != 0) {
    return sys_error("link " + snapshot + ".meta");
  }
  const std::string new_head = head_name(replica.head_number + 1);
  auto head_fd = open_maybe_direct(join(dir, new_head), O_RDWR | O_CREAT | O_EXCL, 0666);
  if (!head_fd) return head_fd.error();
  if (::ftruncate(*head_fd, static_cast<off_t>(options_.volume_bytes)) != 0) {
    ::close(*head_fd);
    return sys_error("truncate " + join(dir, new_head));
  }
  const std::string created = rfc3339_utc(now_ns());
  ImageMetaFields head_meta;
  head_meta.name = new_head;
  head_meta.parent = snapshot;
  head_meta.created = created;
  if (auto r = write_via_tmp(dir, new_head + ".meta", image_meta_json(head_meta)); !r) {
    ::close(*head_fd);
    return r;
  }
  ImageMetaFields snapshot_meta;
  snapshot_meta.name = old_head;  // Longhorn leaves the old head's name in it
  snapshot_meta.parent = replica.parent;
  snapshot_meta.user_created = random_() % 2 == 0;
  snapshot_meta.created = created;
  if (auto r = write_via_tmp(dir, snapshot + ".meta", image_meta_json(snapshot_meta)); !r) {
    ::close(*head_fd);
    return r;
  }
  ::close(replica.head_fd);
  replica.head_fd = *head_fd;
  if (::unlink(join(dir, old_head).c_str()) != 0) return sys_error("unlink " + old_head);
  if (::unlink(join(dir, old_head + ".meta").c_str()) != 0) return sys_error("unlink " + old_head + ".meta");
  replica.head_number += 1;
  replica.head = new_head;
  replica.parent = snapshot;
  replica.snapshots.push_back(snapshot);
  if (auto r = write_volume_meta(replica); !r) return r;
  // Longhorn hashes new snapshots in the background, a while later.
  pending_checksums_.push_back(PendingChecksum{replica.serial, join(dir, snapshot),
                                               layer_crc64_iso(replica.head_blocks, options_.volume_bytes),
                                               stats_.steps + 5 + random_() % 60});
  replica.head_blocks.clear();
  ++stats_.snapshots;
  return Done{};
}

SysResult<Done> Churn::write_pending_checksums() {
  for (auto it = pending_checksums_.begin(); it != pending_checksums_.end();) {
    if (it->due_step > stats_.steps) {
      ++it;
      continue;
    }
    const bool alive = std::any_of(replicas_.begin(), replicas_.end(),
                                   [&](const auto& replica) { return replica->serial == it->replica_serial; });
    if (alive) {
      auto ctime = ctime_ns(it->path);
      if (!ctime) return ctime.error();
      ChecksumFields record;
      record.checksum = it->crc;
      record.change_time_ns = *ctime;
      record.last_hashed_at_ns = now_ns();
      const auto slash = it->path.rfind('/');
      const std::string dir = it->path.substr(0, slash);
      const std::string name = it->path.substr(slash + 1) + ".checksum";
      if (auto r = write_via_tmp(dir, name, checksum_json(record), "..tmp"); !r) return r;
      ++stats_.checksums;
    }
    it = pending_checksums_.erase(it);
  }
  return Done{};
}

SysResult<Done> Churn::close_replica(Replica& replica) {
  ::close(replica.head_fd);
  ::close(replica.counter_fd);
  replica.head_fd = replica.counter_fd = -1;
  replica.open = false;
  ++stats_.closes;
  return write_volume_meta(replica);
}

SysResult<Done> Churn::reopen(Replica& replica) {
  auto head_fd = open_maybe_direct(join(replica.dir, replica.head), O_RDWR, 0);
  if (!head_fd) return head_fd.error();
  replica.head_fd = *head_fd;
  auto counter_fd = open_maybe_direct(join(replica.dir, "revision.counter"), O_RDWR, 0);
  if (!counter_fd) return counter_fd.error();
  replica.counter_fd = *counter_fd;
  replica.open = true;
  ++stats_.reopens;
  return write_volume_meta(replica);
}

// The replica is deleted (os.RemoveAll of its directory) and a new one takes its place on the same disk: half
// the time a new replica of the same volume, else a new volume.
SysResult<Done> Churn::replace(size_t index) {
  const size_t disk_index = replicas_[index]->disk_index;
  const std::string volume = random_() % 2 == 0 ? replicas_[index]->volume : new_volume_name();
  const std::string dir = replicas_[index]->dir;
  replicas_.erase(replicas_.begin() + static_cast<std::ptrdiff_t>(index));
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return sys_error("remove " + dir, ec.value());
  ++stats_.deletes;
  return create_replica(disk_index, volume);
}

SysResult<Done> Churn::step() {
  ++stats_.steps;
  if (auto r = write_pending_checksums(); !r) return r;
  const size_t index = random_() % replicas_.size();
  Replica& replica = *replicas_[index];
  if (!replica.open) return reopen(replica);
  const uint64_t roll = random_() % 1000;
  if (roll < 20) return replace(index);
  if (roll < 50) return close_replica(replica);
  if (roll < 130) {
    if (replica.snapshots.size() + 1 >= options_.max_layers) return replace(index);
    return snapshot(replica);
  }
  return write(replica);
}

}  // namespace sentinel::treegen
