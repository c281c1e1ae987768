// FileSystem: the scanner's only way to touch a Longhorn disk, read-only by construction.
//
// Contract, for every implementation:
// - Nothing here writes, creates, renames or changes timestamps. Files and directories are opened with
//   O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC and O_NOATIME when the kernel permits it (it refuses O_NOATIME on
//   files the caller does not own unless it has CAP_FOWNER; the fallback drops only that flag).
// - Names are single path components relative to an open directory (openat), so a symlink anywhere under a
//   replica directory is never followed out of it. Only the disk root an operator names is opened by path.
// - Errors are values (SysResult) carrying errno; nothing throws. ENOENT means the entry vanished.
// - The scan calls one instance from several threads at once (ScanOptions::threads), so implementations
//   must be thread-safe; PosixFileSystem is stateless. A test wrapper that is not must scan with threads=1.
// Tests substitute a wrapper that injects faults (vanished directories, EIO, short reads).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "scanner/sys_result.h"

namespace sentinel::scanner {

// An owned file descriptor; closes on destruction. Move-only.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.release()) {}
  Fd& operator=(Fd&& other) noexcept;
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd();
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_ = -1;
};

enum class EntryType { kRegular, kDirectory, kSymlink, kFifo, kSocket, kCharDevice, kBlockDevice, kUnknown };

const char* entry_type_name(EntryType type);

struct DirEntry {
  std::string name;  // raw bytes as the kernel returned them (may hold newlines or invalid UTF-8)
  EntryType type = EntryType::kUnknown;
};

struct FileStat {
  EntryType type = EntryType::kUnknown;
  uint64_t inode = 0;
  uint64_t device = 0;
  uint64_t size = 0;
  uint64_t allocated_bytes = 0;  // st_blocks * 512
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  uint32_t mode = 0;
};

// Receives each allocated extent (offset, length) in file order; adjacent ones may arrive unmerged.
using ExtentSink = std::function<void(uint64_t offset, uint64_t length)>;

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // Opens a directory the operator named (a disk root). Follows symlinks in `path`: it is trusted input.
  virtual SysResult<Fd> open_root(const std::string& path) = 0;
  // Opens the directory `name` inside `dir_fd`; fails with ELOOP/ENOTDIR on a symlink or non-directory.
  virtual SysResult<Fd> open_dir_at(int dir_fd, const std::string& name) = 0;
  // Opens the regular file `name` inside `dir_fd`; fails with ELOOP on a symlink. The caller checks the type.
  virtual SysResult<Fd> open_file_at(int dir_fd, const std::string& name) = 0;
  // Lists `dir_fd` (reading from its start; the fd's own offset is not disturbed). Skips "." and "..".
  virtual SysResult<std::vector<DirEntry>> list_dir(int dir_fd) = 0;
  // lstat of `name` inside `dir_fd` (does not follow a final symlink).
  virtual SysResult<FileStat> stat_at(int dir_fd, const std::string& name) = 0;
  virtual SysResult<FileStat> stat_fd(int fd) = 0;
  // Reads up to `length` bytes at `offset`; returns fewer only at end of file. Retries EINTR.
  virtual SysResult<size_t> read_at(int fd, void* buffer, size_t length, uint64_t offset) = 0;
  // Reports every allocated extent of the open file: FIEMAP (1024 extents per call), falling back to
  // SEEK_DATA/SEEK_HOLE where the file system has no FIEMAP. Unwritten extents count as data (Longhorn's rule).
  virtual SysResult<Done> map_extents(int fd, uint64_t file_size, const ExtentSink& sink) = 0;
};

// The real thing. Stateless; one shared instance is fine.
class PosixFileSystem final : public FileSystem {
 public:
  SysResult<Fd> open_root(const std::string& path) override;
  SysResult<Fd> open_dir_at(int dir_fd, const std::string& name) override;
  SysResult<Fd> open_file_at(int dir_fd, const std::string& name) override;
  SysResult<std::vector<DirEntry>> list_dir(int dir_fd) override;
  SysResult<FileStat> stat_at(int dir_fd, const std::string& name) override;
  SysResult<FileStat> stat_fd(int fd) override;
  SysResult<size_t> read_at(int fd, void* buffer, size_t length, uint64_t offset) override;
  SysResult<Done> map_extents(int fd, uint64_t file_size, const ExtentSink& sink) override;
};

// Reads a whole small file (metadata) of at most `max_bytes`; a larger file is an EFBIG error and is not read.
SysResult<std::string> read_small_file(FileSystem& fs, int dir_fd, const std::string& name, size_t max_bytes);

}  // namespace sentinel::scanner
