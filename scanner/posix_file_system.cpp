// The real, read-only file-system layer. See file_system.h for the contract.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <memory>

#include "scanner/file_system.h"

namespace sentinel::scanner {

Fd& Fd::operator=(Fd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

Fd::~Fd() {
  if (fd_ >= 0) ::close(fd_);
}

const char* entry_type_name(EntryType type) {
  switch (type) {
    case EntryType::kRegular: return "regular file";
    case EntryType::kDirectory: return "directory";
    case EntryType::kSymlink: return "symbolic link";
    case EntryType::kFifo: return "FIFO";
    case EntryType::kSocket: return "socket";
    case EntryType::kCharDevice: return "character device";
    case EntryType::kBlockDevice: return "block device";
    case EntryType::kUnknown: break;
  }
  return "unknown file type";
}

namespace {

constexpr int kReadOnlyFlags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC;

EntryType type_from_mode(mode_t mode) {
  if (S_ISREG(mode)) return EntryType::kRegular;
  if (S_ISDIR(mode)) return EntryType::kDirectory;
  if (S_ISLNK(mode)) return EntryType::kSymlink;
  if (S_ISFIFO(mode)) return EntryType::kFifo;
  if (S_ISSOCK(mode)) return EntryType::kSocket;
  if (S_ISCHR(mode)) return EntryType::kCharDevice;
  if (S_ISBLK(mode)) return EntryType::kBlockDevice;
  return EntryType::kUnknown;
}

EntryType type_from_dirent(unsigned char d_type) {
  switch (d_type) {
    case DT_REG: return EntryType::kRegular;
    case DT_DIR: return EntryType::kDirectory;
    case DT_LNK: return EntryType::kSymlink;
    case DT_FIFO: return EntryType::kFifo;
    case DT_SOCK: return EntryType::kSocket;
    case DT_CHR: return EntryType::kCharDevice;
    case DT_BLK: return EntryType::kBlockDevice;
    default: return EntryType::kUnknown;
  }
}

FileStat to_file_stat(const struct stat& st) {
  FileStat out;
  out.type = type_from_mode(st.st_mode);
  out.inode = st.st_ino;
  out.device = st.st_dev;
  out.size = st.st_size < 0 ? 0 : static_cast<uint64_t>(st.st_size);
  out.allocated_bytes = static_cast<uint64_t>(st.st_blocks) * 512;
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  out.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  out.mode = st.st_mode;
  return out;
}

// openat with O_NOATIME, dropping only that flag when the kernel refuses it (EPERM: not the owner and no
// CAP_FOWNER). Reading must never update atime where we can help it, but must not fail because of it.
int open_no_atime(int dir_fd, const char* name, int flags) {
  int fd;
  do {
    fd = ::openat(dir_fd, name, flags | O_NOATIME);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0 && errno == EPERM) {
    do {
      fd = ::openat(dir_fd, name, flags);
    } while (fd < 0 && errno == EINTR);
  }
  return fd;
}

SysResult<Done> map_with_fiemap(int fd, uint64_t file_size, const ExtentSink& sink) {
  constexpr uint32_t kExtentsPerCall = 1024;  // as Longhorn's sparse-tools does
  const size_t bytes = sizeof(struct fiemap) + kExtentsPerCall * sizeof(struct fiemap_extent);
  auto storage = std::make_unique<uint64_t[]>((bytes + 7) / 8);  // aligned for struct fiemap
  auto* map = reinterpret_cast<struct fiemap*>(storage.get());
  uint64_t next = 0;
  while (next < file_size) {
    std::fill_n(storage.get(), (bytes + 7) / 8, 0);
    map->fm_start = next;
    map->fm_length = file_size - next;
    map->fm_flags = 0;  // no FIEMAP_FLAG_SYNC: it would force writeback on the workload's files
    map->fm_extent_count = kExtentsPerCall;
    if (::ioctl(fd, FS_IOC_FIEMAP, map) < 0) {
      if (errno == EINTR) continue;
      return sys_error("FIEMAP");
    }
    if (map->fm_mapped_extents == 0) break;
    bool last = false;
    for (uint32_t i = 0; i < map->fm_mapped_extents; ++i) {
      const auto& e = map->fm_extents[i];
      uint64_t start = e.fe_logical;
      uint64_t end = std::min<uint64_t>(e.fe_logical + e.fe_length, file_size);
      if (end > start) sink(start, end - start);
      next = std::max<uint64_t>(next, e.fe_logical + e.fe_length);
      if (e.fe_flags & FIEMAP_EXTENT_LAST) last = true;
    }
    if (last) break;
  }
  return Done{};
}

SysResult<Done> map_with_seek(int fd, uint64_t file_size, const ExtentSink& sink) {
  off_t pos = 0;
  while (static_cast<uint64_t>(pos) < file_size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // no data after pos
      return sys_error("SEEK_DATA");
    }
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) return sys_error("SEEK_HOLE");
    uint64_t end = std::min<uint64_t>(static_cast<uint64_t>(hole), file_size);
    if (end > static_cast<uint64_t>(data)) sink(static_cast<uint64_t>(data), end - static_cast<uint64_t>(data));
    pos = hole;
  }
  return Done{};
}

}  // namespace

SysResult<Fd> PosixFileSystem::open_root(const std::string& path) {
  int fd = open_no_atime(AT_FDCWD, path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open " + path);
  return Fd(fd);
}

SysResult<Fd> PosixFileSystem::open_dir_at(int dir_fd, const std::string& name) {
  int fd = open_no_atime(dir_fd, name.c_str(), kReadOnlyFlags | O_DIRECTORY);
  if (fd < 0) return sys_error("open directory");
  return Fd(fd);
}

SysResult<Fd> PosixFileSystem::open_file_at(int dir_fd, const std::string& name) {
  int fd = open_no_atime(dir_fd, name.c_str(), kReadOnlyFlags);
  if (fd < 0) return sys_error("open");
  return Fd(fd);
}

SysResult<std::vector<DirEntry>> PosixFileSystem::list_dir(int dir_fd) {
  // A fresh descriptor for the same directory, so fdopendir/closedir own it and the caller's fd is untouched.
  int fd = open_no_atime(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_error("open directory for listing");
  DIR* dir = ::fdopendir(fd);
  if (dir == nullptr) {
    int err = errno;
    ::close(fd);
    return sys_error("fdopendir", err);
  }
  std::vector<DirEntry> entries;
  errno = 0;
  while (struct dirent* ent = ::readdir(dir)) {
    std::string name = ent->d_name;
    if (name == "." || name == "..") continue;
    EntryType type = type_from_dirent(ent->d_type);
    if (type == EntryType::kUnknown) {
      struct stat st {};
      if (::fstatat(::dirfd(dir), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) type = type_from_mode(st.st_mode);
    }
    entries.push_back({std::move(name), type});
    errno = 0;
  }
  int err = errno;
  ::closedir(dir);
  if (err != 0) return sys_error("readdir", err);
  std::sort(entries.begin(), entries.end(), [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
  return entries;
}

SysResult<FileStat> PosixFileSystem::stat_at(int dir_fd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return sys_error("stat");
  return to_file_stat(st);
}

SysResult<FileStat> PosixFileSystem::stat_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error("fstat");
  return to_file_stat(st);
}

SysResult<size_t> PosixFileSystem::read_at(int fd, void* buffer, size_t length, uint64_t offset) {
  size_t done = 0;
  auto* out = static_cast<char*>(buffer);
  while (done < length) {
    ssize_t n = ::pread(fd, out + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read");
    }
    if (n == 0) break;  // end of file
    done += static_cast<size_t>(n);
  }
  return done;
}

SysResult<Done> PosixFileSystem::map_extents(int fd, uint64_t file_size, const ExtentSink& sink) {
  auto fiemap = map_with_fiemap(fd, file_size, sink);
  if (fiemap.ok()) return fiemap;
  if (fiemap.error().err == EOPNOTSUPP || fiemap.error().err == ENOTTY || fiemap.error().err == EINVAL) {
    return map_with_seek(fd, file_size, sink);
  }
  return fiemap;
}

SysResult<std::string> read_small_file(FileSystem& fs, int dir_fd, const std::string& name, size_t max_bytes) {
  auto fd = fs.open_file_at(dir_fd, name);
  if (!fd) return fd.error();
  auto st = fs.stat_fd(fd->get());
  if (!st) return st.error();
  if (st->type != EntryType::kRegular) return sys_error("not a regular file", EINVAL);
  if (st->size > max_bytes) return sys_error("file is " + std::to_string(st->size) + " bytes", EFBIG);
  std::string text(st->size, '\0');
  auto n = fs.read_at(fd->get(), text.data(), text.size(), 0);
  if (!n) return n.error();
  text.resize(*n);
  return text;
}

}  // namespace sentinel::scanner
