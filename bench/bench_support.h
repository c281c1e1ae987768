// What every benchmark here needs besides its own measurement: small file writes, running a peer tool as a
// child process (wall time, CPU time, peak RSS), and reporting helpers. Bench-only code: failures throw
// std::runtime_error, which each bench's main turns into "could not run".
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sentinel::bench {

[[noreturn]] void fail_errno(const std::string& what);

std::string read_text(const std::filesystem::path& path);
void write_all(int fd, const void* data, size_t len, uint64_t offset, const std::string& what);
void write_file(const std::filesystem::path& path, const std::string& bytes, mode_t mode = 0644);

// An executable by name (PATH, then the sbin and bin directories: filefrag lives in /sbin) or by path.
std::string find_program(const std::string& name);

struct ChildRun {
  double seconds = 0;
  double cpu_user = 0;
  double cpu_sys = 0;
  long max_rss_kib = 0;
  int exit_code = 0;
  std::string out;  // stdout, when captured
};

// Runs argv[0] (a path) with stdout to /dev/null or captured. Its stderr is kept aside (xxhsum writes progress
// there whatever stderr is) and shown only when it fails. Throws unless it exits with one of `accepted_exits`
// (tools that report "different" by exit code: qemu-img compare 1, sentinelctl diff 3).
ChildRun run_child(const std::vector<std::string>& argv, bool capture, const std::vector<int>& accepted_exits = {0});

double median(std::vector<double> v);
std::string join_times(const std::vector<double>& v);  // "0.361 0.377 0.375"
std::string fs_type_name(const std::filesystem::path& dir);
uint64_t as_u64(const nlohmann::json& v);  // proto3 JSON prints uint64 as a string

}  // namespace sentinel::bench
