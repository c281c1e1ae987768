// Shared benchmark helpers; see bench_support.h.
#include "bench/bench_support.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

namespace sentinel::bench {

namespace fs = std::filesystem;

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_all(int fd, const void* data, size_t len, uint64_t offset, const std::string& what) {
  const auto* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < len) {
    ssize_t n = ::pwrite(fd, p + done, len - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("write " + what);
    }
    done += static_cast<size_t>(n);
  }
}

void write_file(const fs::path& path, const std::string& bytes, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail_errno("create " + path.string());
  write_all(fd, bytes.data(), bytes.size(), 0, path.string());
  if (::close(fd) != 0) fail_errno("close " + path.string());
}

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    if (::access(name.c_str(), X_OK) == 0) return name;
    throw std::runtime_error(name + " is not executable");
  }
  std::vector<std::string> dirs;
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    for (std::string d; std::getline(ss, d, ':');) {
      if (!d.empty()) dirs.push_back(d);
    }
  }
  for (const char* d : {"/usr/local/bin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"}) dirs.emplace_back(d);
  for (const auto& d : dirs) {
    const std::string candidate = d + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  throw std::runtime_error(name + " not found in PATH or the sbin/bin directories (bench/deps.sh installs the peers)");
}

ChildRun run_child(const std::vector<std::string>& argv, bool capture, const std::vector<int>& accepted_exits) {
  std::fflush(stdout);
  const int err_fd = ::memfd_create("child-stderr", MFD_CLOEXEC);
  if (err_fd < 0) fail_errno("memfd_create");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int out_fd = -1;
  int pipe_fds[2] = {-1, -1};
  if (capture) {
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail_errno("pipe");
  } else {
    out_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (out_fd < 0) fail_errno("open /dev/null");
  }
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) fail_errno("fork");
  if (pid == 0) {
    if (::dup2(capture ? pipe_fds[1] : out_fd, STDOUT_FILENO) < 0 || ::dup2(err_fd, STDERR_FILENO) < 0) ::_exit(126);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ChildRun run;
  if (capture) {
    ::close(pipe_fds[1]);
    char buf[1 << 16];
    for (;;) {
      ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      run.out.append(buf, static_cast<size_t>(n));
    }
    ::close(pipe_fds[0]);
  }
  int status = 0;
  struct rusage usage {};
  while (::wait4(pid, &status, 0, &usage) < 0) {
    if (errno != EINTR) fail_errno("wait4");
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (out_fd >= 0) ::close(out_fd);
  const bool accepted = WIFEXITED(status) && std::find(accepted_exits.begin(), accepted_exits.end(),
                                                        WEXITSTATUS(status)) != accepted_exits.end();
  if (!accepted) {
    char buf[4096];
    const ssize_t n = ::pread(err_fd, buf, sizeof buf, 0);
    if (n > 0) std::cerr << argv[0] << ": " << std::string(buf, static_cast<size_t>(n)) << "\n";
    ::close(err_fd);
    throw std::runtime_error(argv[0] + " failed (" +
                             (WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                                : "signal " + std::to_string(WTERMSIG(status))) +
                             ")");
  }
  ::close(err_fd);
  run.exit_code = WEXITSTATUS(status);
  run.seconds = std::chrono::duration<double>(t1 - t0).count();
  run.cpu_user = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6;
  run.cpu_sys = usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  run.max_rss_kib = usage.ru_maxrss;  // KiB on Linux
  return run;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string join_times(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (double x : v) {
    std::snprintf(buf, sizeof buf, "%s%.3f", s.empty() ? "" : " ", x);
    s += buf;
  }
  return s;
}

std::string fs_type_name(const fs::path& dir) {
  struct statfs sfs {};
  if (::statfs(dir.c_str(), &sfs) != 0) return "unknown";
  switch (static_cast<uint64_t>(sfs.f_type)) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(sfs.f_type));
      return buf;
    }
  }
}

uint64_t as_u64(const nlohmann::json& v) {
  if (v.is_string()) return std::stoull(v.get<std::string>());  // proto3 JSON prints uint64 as a string
  if (v.is_number_unsigned() || v.is_number_integer()) return v.get<uint64_t>();
  return 0;
}

}  // namespace sentinel::bench
