#include "tests/scanner/tree_facts.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <vector>

namespace sentinel::testing {

namespace {

namespace fs = std::filesystem;

int64_t ns(const struct timespec& t) { return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

// Reads without touching atime itself (the test runs as root, so O_NOATIME is always permitted).
std::string read_no_atime(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOATIME | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return "<unreadable>";
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::vector<std::string> paths_under(const std::string& root) {
  std::vector<std::string> paths{root};
  for (const auto& entry : fs::recursive_directory_iterator(root)) paths.push_back(entry.path().string());
  return paths;
}

}  // namespace

std::map<std::string, FileFacts> snapshot_tree(const std::string& root) {
  std::map<std::string, FileFacts> facts;
  for (const auto& path : paths_under(root)) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    FileFacts f{static_cast<uint64_t>(st.st_size),
                static_cast<uint64_t>(st.st_blocks),
                ns(st.st_mtim),
                ns(st.st_ctim),
                ns(st.st_atim),
                st.st_mode,
                0};
    if (S_ISREG(st.st_mode)) f.content_hash = std::hash<std::string>{}(read_no_atime(path));
    facts[path] = std::move(f);
  }
  return facts;
}

void age_atimes(const std::string& root) {
  for (const auto& path : paths_under(root)) {
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    struct timespec times[2] = {st.st_mtim, st.st_mtim};
    times[0].tv_sec -= 86400;
    times[1].tv_nsec = UTIME_OMIT;
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
  }
}

void expect_same_tree(const std::map<std::string, FileFacts>& before, const std::map<std::string, FileFacts>& after) {
  EXPECT_EQ(before.size(), after.size()) << "a file was created or removed";
  for (const auto& [path, now] : after) {
    EXPECT_EQ(before.count(path), 1u) << path << " appeared";
  }
  for (const auto& [path, facts] : before) {
    auto it = after.find(path);
    if (it == after.end()) {
      ADD_FAILURE() << path << " disappeared";
      continue;
    }
    const FileFacts& now = it->second;
    EXPECT_EQ(facts.content_hash, now.content_hash) << path;
    EXPECT_EQ(facts.size, now.size) << path;
    EXPECT_EQ(facts.blocks, now.blocks) << path;
    EXPECT_EQ(facts.mtime_ns, now.mtime_ns) << path;
    EXPECT_EQ(facts.ctime_ns, now.ctime_ns) << path;
    EXPECT_EQ(facts.atime_ns, now.atime_ns) << path << " (atime moved: a read without O_NOATIME)";
    EXPECT_EQ(facts.mode, now.mode) << path;
  }
}

}  // namespace sentinel::testing
