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
#include "tests/scanner/tree_facts.h"

namespace sentinel::testing {
namespace {

namespace fs = std::filesystem;

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

  expect_same_tree(before, snapshot_tree(tmp.path()));
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
