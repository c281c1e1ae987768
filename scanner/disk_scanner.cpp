// Disk discovery: every entry of <disk>/replicas, each directory scanned as a replica. See scanner.h.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "scanner/findings.h"
#include "scanner/longhorn_metadata.h"
#include "scanner/replica_names.h"
#include "scanner/scanner.h"

namespace sentinel::scanner {
namespace {

using v1::Finding;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void read_disk_config(FileSystem& fs, int disk_fd, v1::Disk* disk) {
  auto text = read_small_file(fs, disk_fd, "longhorn-disk.cfg", kMaxMetaFileBytes);
  if (!text) {
    add_finding(disk->mutable_findings(), Finding::DISK_CONFIG, Finding::INFO,
                "no readable longhorn-disk.cfg (" + text.error().message() + "); the disk UUID is unknown",
                "longhorn-disk.cfg");
    return;
  }
  auto parsed = parse_disk_config(*text);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    add_finding(disk->mutable_findings(), Finding::DISK_CONFIG, Finding::WARNING,
                "longhorn-disk.cfg is not what Longhorn writes (" + *why + ")", "longhorn-disk.cfg");
    return;
  }
  disk->set_disk_uuid(escape_name(std::get<DiskConfig>(parsed).disk_uuid));
}

unsigned worker_count(const ScanOptions& options, size_t jobs) {
  unsigned wanted = options.threads;
  if (wanted == 0) wanted = std::clamp(std::thread::hardware_concurrency(), 1u, 8u);
  return static_cast<unsigned>(std::min<size_t>(wanted, jobs));
}

// Scans each named directory; results come back in the order of `dirs` whatever the thread count.
std::vector<v1::Replica> scan_replica_dirs(FileSystem& fs, int replicas_fd, const std::string& disk,
                                           const std::vector<std::string>& dirs, const ScanOptions& options) {
  std::vector<v1::Replica> results(dirs.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < dirs.size(); i = next++) {
      results[i] = scan_replica_dir(fs, replicas_fd, disk, dirs[i], options);
    }
  };
  const unsigned workers = worker_count(options, dirs.size());
  if (workers <= 1) {
    work();
    return results;
  }
  std::vector<std::jthread> pool;
  for (unsigned i = 0; i < workers; ++i) pool.emplace_back(work);
  pool.clear();  // joins
  return results;
}

void scan_one_disk(FileSystem& fs, const std::string& path, const ScanOptions& options, v1::Inventory* inventory) {
  v1::Disk* disk = inventory->add_disks();
  disk->set_path(path);
  auto disk_fd = fs.open_root(path);
  if (!disk_fd) {
    add_finding(disk->mutable_findings(), Finding::UNREADABLE, Finding::ERROR,
                "cannot open disk: " + disk_fd.error().message(), "");
    return;
  }
  read_disk_config(fs, disk_fd->get(), disk);
  auto replicas_fd = fs.open_dir_at(disk_fd->get(), "replicas");
  if (!replicas_fd) {
    const int err = replicas_fd.error().err;
    if (err == ENOENT) {
      add_finding(disk->mutable_findings(), Finding::NO_REPLICAS_DIR, Finding::WARNING,
                  "no replicas/ directory: not a Longhorn disk, or no replica was ever placed here", "replicas");
    } else if (err == ELOOP) {
      add_finding(disk->mutable_findings(), Finding::SYMLINK, Finding::ERROR,
                  "replicas is a symbolic link; not followed. Point --disk at the real disk path", "replicas");
    } else {
      add_finding(disk->mutable_findings(), Finding::UNREADABLE, Finding::ERROR,
                  "cannot open replicas/: " + replicas_fd.error().message(), "replicas");
    }
    return;
  }
  auto entries = fs.list_dir(replicas_fd->get());
  if (!entries) {
    add_finding(disk->mutable_findings(), Finding::UNREADABLE, Finding::ERROR,
                "cannot list replicas/: " + entries.error().message(), "replicas");
    return;
  }
  std::vector<std::string> replica_dirs;
  for (const auto& entry : *entries) {
    const std::string rel = "replicas/" + escape_name(entry.name);
    switch (entry.type) {
      case EntryType::kDirectory:
        replica_dirs.push_back(entry.name);
        break;
      case EntryType::kSymlink:
        add_finding(disk->mutable_findings(), Finding::SYMLINK, Finding::WARNING,
                    "symbolic link under replicas/; not followed (Longhorn never creates one)", rel);
        break;
      default:
        add_finding(disk->mutable_findings(), Finding::UNEXPECTED_ENTRY, Finding::WARNING,
                    std::string(entry_type_name(entry.type)) + " under replicas/; Longhorn ignores it", rel);
        break;
    }
  }
  std::vector<v1::Replica> scanned = scan_replica_dirs(fs, replicas_fd->get(), path, replica_dirs, options);
  for (auto& replica : scanned) *inventory->add_replicas() = std::move(replica);
  disk->set_replica_count(static_cast<uint32_t>(replica_dirs.size()));
}

}  // namespace

v1::Inventory scan_disks(FileSystem& fs, const std::vector<std::string>& disks, const std::string& node,
                         const ScanOptions& options) {
  v1::Inventory inventory;
  inventory.set_node(node);
  inventory.set_agent_version(SENTINEL_VERSION_STRING);
  const int64_t start = now_ns();
  inventory.set_scanned_at_ns(start);
  for (const auto& disk : disks) scan_one_disk(fs, disk, options, &inventory);
  inventory.set_scan_duration_ns(now_ns() - start);
  return inventory;
}

}  // namespace sentinel::scanner
