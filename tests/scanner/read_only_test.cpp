// Read-only, proven: a quick or deep scan of Longhorn's fixture trees changes no byte, size, mtime, ctime or atime of any
// file or directory, opens everything O_RDONLY|O_NOFOLLOW|O_NOATIME, and never follows a symlink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "scanner/scanner.h"
#include "tests/scanner/delegating_file_system.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::testing {
namespace {

namespace fs = std::filesystem;

struct FileFacts {
  uint64_t size = 0;
  uint64_t blocks = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int64_t atime_ns = 0;
  uint32_t mode = 0;
  size_t content_hash = 0;  // regular files only (a hash: the images are 64 MiB each)
  bool operator==(const FileFacts&) const = default;
};

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

std::map<std::string, FileFacts> snapshot_tree(const std::string& root) {
  std::map<std::string, FileFacts> facts;
  std::vector<std::string> paths{root};
  for (const auto& entry : fs::recursive_directory_iterator(root)) paths.push_back(entry.path().string());
  for (const auto& path : paths) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) continue;
    FileFacts f{static_cast<uint64_t>(st.st_size), static_cast<uint64_t>(st.st_blocks), ns(st.st_mtim),
                ns(st.st_ctim), ns(st.st_atim), st.st_mode, 0};
    if (S_ISREG(st.st_mode)) f.content_hash = std::hash<std::string>{}(read_no_atime(path));
    facts[path] = std::move(f);
  }
  return facts;
}

// Sets every atime a day behind its mtime, so a read that forgets O_NOATIME would move it even under relatime.
void age_atimes(const std::string& root) {
  std::vector<std::string> paths{root};
  for (const auto& entry : fs::recursive_directory_iterator(root)) paths.push_back(entry.path().string());
  for (const auto& path : paths) {
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0);
    struct timespec times[2] = {st.st_mtim, st.st_mtim};
    times[0].tv_sec -= 86400;
    times[1].tv_nsec = UTIME_OMIT;
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW), 0) << path;
  }
}

TEST(ReadOnly, ScanOfEveryFixtureChangesNothing) {
  TempDir tmp;
  std::string cmd = std::string(SENTINELCTL_PATH) + " scan --json --extents";
  for (const auto& c : fixture_cases()) cmd += " --disk '" + extract_case_as_disk(c, tmp.path()) + "'";
  age_atimes(tmp.path());
  auto before = snapshot_tree(tmp.path());
  ASSERT_GT(before.size(), 40u);

  int rc = -1;
  std::string out = run_command(cmd + " >/dev/null", &rc);
  ASSERT_EQ(rc, 0);
  run_command(std::string(SENTINELCTL_PATH) + " scan --disk '" + tmp.path() + "/case2-chain' >/dev/null", &rc);
  ASSERT_EQ(rc, 0);
  // The deep scan reads every snapshot's data through io_uring: still nothing may change.
  run_command(cmd + " --deep >/dev/null", &rc);
  ASSERT_EQ(rc, 0);

  auto after = snapshot_tree(tmp.path());
  ASSERT_EQ(before.size(), after.size()) << "a file was created or removed";
  for (const auto& [path, facts] : before) {
    ASSERT_EQ(after.count(path), 1u) << path;
    const FileFacts& now = after.at(path);
    EXPECT_EQ(facts.content_hash, now.content_hash) << path;
    EXPECT_EQ(facts.size, now.size) << path;
    EXPECT_EQ(facts.blocks, now.blocks) << path;
    EXPECT_EQ(facts.mtime_ns, now.mtime_ns) << path;
    EXPECT_EQ(facts.ctime_ns, now.ctime_ns) << path;
    EXPECT_EQ(facts.atime_ns, now.atime_ns) << path << " (atime moved: a read without O_NOATIME)";
    EXPECT_EQ(facts.mode, now.mode) << path;
  }
}

// Wraps the real file system and records the kernel's view of every descriptor it opens.
class FlagRecordingFileSystem final : public DelegatingFileSystem {
 public:
  scanner::SysResult<scanner::Fd> open_dir_at(int dir_fd, const std::string& name) override {
    return record(DelegatingFileSystem::open_dir_at(dir_fd, name), name);
  }
  scanner::SysResult<scanner::Fd> open_file_at(int dir_fd, const std::string& name) override {
    return record(DelegatingFileSystem::open_file_at(dir_fd, name), name);
  }

  std::map<std::string, long> flags_by_name;

 private:
  scanner::SysResult<scanner::Fd> record(scanner::SysResult<scanner::Fd> fd, const std::string& name) {
    if (fd) {
      std::ifstream info("/proc/self/fdinfo/" + std::to_string(fd->get()));
      std::string key;
      while (info >> key) {
        if (key == "flags:") {
          std::string octal;
          info >> octal;
          flags_by_name[name] = std::stol(octal, nullptr, 8);
        }
      }
    }
    return fd;
  }
};

TEST(ReadOnly, EveryOpenIsReadOnlyNoFollowNoAtime) {
  TempDir tmp;
  std::vector<std::string> disks;
  for (const auto& c : fixture_cases()) disks.push_back(extract_case_as_disk(c, tmp.path()));
  FlagRecordingFileSystem spy;
  scanner::ScanOptions one_thread;  // the spy's map is not locked
  one_thread.threads = 1;
  auto inventory = scanner::scan_disks(spy, disks, "test", one_thread);
  ASSERT_GT(inventory.replicas_size(), 0);
  ASSERT_GT(spy.flags_by_name.size(), 10u);
  for (const auto& [name, flags] : spy.flags_by_name) {
    EXPECT_EQ(flags & O_ACCMODE, O_RDONLY) << name;
    EXPECT_NE(flags & O_NOFOLLOW, 0) << name;
    EXPECT_NE(flags & O_NOATIME, 0) << name << " (running as root, O_NOATIME must be in effect)";
  }
}

TEST(ReadOnly, SymlinksAreNeverFollowed) {
  TempDir tmp;
  const std::string outside = tmp.path() + "/outside.json";
  {
    std::ofstream(outside) << R"({"Size":4096,"Head":"volume-head-000.img","Dirty":false,"Rebuilding":false,)"
                           << R"("Error":"","Parent":"","SectorSize":512,"BackingFilePath":""})" << "\n";
  }
  const std::string dir = tmp.path() + "/disk/replicas/pvc-1-abcdefgh";
  fs::create_directories(dir);
  fs::create_symlink(outside, dir + "/volume.meta");
  fs::create_directories(tmp.path() + "/elsewhere/pvc-2-abcdefgh");
  fs::create_symlink(tmp.path() + "/elsewhere/pvc-2-abcdefgh", tmp.path() + "/disk/replicas/pvc-2-abcdefgh");

  scanner::PosixFileSystem real;
  auto inventory = scanner::scan_disks(real, {tmp.path() + "/disk"}, "test", {});
  ASSERT_EQ(inventory.replicas_size(), 1) << "a symlinked directory must not be scanned as a replica";
  const auto& replica = inventory.replicas(0);
  EXPECT_EQ(replica.size_bytes(), 0u) << "volume.meta was read through the symlink";
  std::set<v1::Finding::Code> codes;
  for (const auto& f : replica.findings()) codes.insert(f.code());
  EXPECT_TRUE(codes.count(v1::Finding::SYMLINK));
  EXPECT_TRUE(codes.count(v1::Finding::MISSING_META));
  ASSERT_EQ(inventory.disks(0).findings_size(), 2);  // no longhorn-disk.cfg, and the symlinked directory
  EXPECT_EQ(inventory.disks(0).findings(1).code(), v1::Finding::SYMLINK);
}

}  // namespace
}  // namespace sentinel::testing
