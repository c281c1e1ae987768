// DelegatingFileSystem: the real PosixFileSystem behind every call, for tests that override the few calls they
// want to observe or break (vanished directories, EIO, truncation mid-scan). Test-only. Thread-safe as long as
// the overrides are: the scanner calls it from its worker threads.
#pragma once

#include <string>
#include <vector>

#include "scanner/file_system.h"

namespace sentinel::testing {

class DelegatingFileSystem : public scanner::FileSystem {
 public:
  using Fd = scanner::Fd;
  template <typename T>
  using SysResult = scanner::SysResult<T>;

  SysResult<Fd> open_root(const std::string& path) override { return real_.open_root(path); }
  SysResult<Fd> open_dir_at(int dir_fd, const std::string& name) override { return real_.open_dir_at(dir_fd, name); }
  SysResult<Fd> open_file_at(int dir_fd, const std::string& name) override {
    return real_.open_file_at(dir_fd, name);
  }
  SysResult<std::vector<scanner::DirEntry>> list_dir(int dir_fd) override { return real_.list_dir(dir_fd); }
  SysResult<scanner::FileStat> stat_at(int dir_fd, const std::string& name) override {
    return real_.stat_at(dir_fd, name);
  }
  SysResult<scanner::FileStat> stat_fd(int fd) override { return real_.stat_fd(fd); }
  SysResult<size_t> read_at(int fd, void* buffer, size_t length, uint64_t offset) override {
    return real_.read_at(fd, buffer, length, offset);
  }
  SysResult<scanner::Done> map_extents(int fd, uint64_t file_size, const scanner::ExtentSink& sink) override {
    return real_.map_extents(fd, file_size, sink);
  }

 private:
  scanner::PosixFileSystem real_;
};

}  // namespace sentinel::testing
