// POSIX calls behind the generator; see posix_io.h.
#include "tools/treegen/posix_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sentinel::treegen {

using scanner::sys_error;

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_single_component(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

SysResult<Done> make_dir(const std::string& path, mode_t mode, bool exist_ok) {
  if (::mkdir(path.c_str(), mode) != 0) {
    const int err = errno;
    struct stat st {};
    if (err == EEXIST && exist_ok && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Done{};
    return sys_error("mkdir " + path, err);
  }
  return set_mode(path, mode);
}

SysResult<Done> make_dirs(const std::string& path) {
  for (size_t slash = path.find('/', 1); ; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) return sys_error("mkdir " + prefix);
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return sys_error("stat " + path);
  if (!S_ISDIR(st.st_mode)) return sys_error(path, ENOTDIR);
  return Done{};
}

SysResult<Done> pwrite_all(int fd, const char* data, size_t length, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pwrite(fd, data + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write " + what);
    }
    done += static_cast<size_t>(n);
  }
  return Done{};
}

SysResult<Done> write_new_file(const std::string& path, std::string_view bytes, mode_t mode) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return sys_error("create " + path);
  if (auto written = pwrite_all(fd, bytes.data(), bytes.size(), 0, path); !written) {
    ::close(fd);
    return written;
  }
  if (::fchmod(fd, mode) != 0) {
    const int err = errno;
    ::close(fd);
    return sys_error("chmod " + path, err);
  }
  if (::close(fd) != 0) return sys_error("close " + path);
  return Done{};
}

SysResult<Done> make_symlink(const std::string& target, const std::string& path) {
  if (::symlink(target.c_str(), path.c_str()) != 0) return sys_error("symlink " + path);
  return Done{};
}

SysResult<Done> make_fifo(const std::string& path, mode_t mode) {
  if (::mkfifo(path.c_str(), mode) != 0) return sys_error("mkfifo " + path);
  return set_mode(path, mode);
}

SysResult<Done> set_mode(const std::string& path, mode_t mode) {
  if (::fchmodat(AT_FDCWD, path.c_str(), mode, 0) != 0) return sys_error("chmod " + path);
  return Done{};
}

SysResult<Done> set_mtime(const std::string& path, int64_t mtime_ns) {
  struct timespec times[2];
  times[0].tv_sec = static_cast<time_t>(mtime_ns / 1'000'000'000);
  times[0].tv_nsec = static_cast<long>(mtime_ns % 1'000'000'000);
  times[1] = times[0];
  if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) return sys_error("utimensat " + path);
  return Done{};
}

SysResult<int64_t> ctime_ns(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return sys_error("stat " + path);
  return int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec;
}

}  // namespace sentinel::treegen
