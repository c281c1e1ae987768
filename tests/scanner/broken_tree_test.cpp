// "Bad input" acceptance: a generated replicas/ full of damage (tools/treegen/broken_cases.h) is scanned to the
// end, every kind of damage is reported with its exact finding code at its exact place (and nothing else is
// reported with it), FIFOs and symlinks are never opened, and a healthy replica among them is still reported
// in full. Plus fault injection: a replica directory that vanishes mid-scan, and EIO on volume.meta.
// Suite names are lower case so that `ctest -R broken` (case-sensitive) selects them.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "scanner/file_system.h"
#include "scanner/replica_names.h"
#include "scanner/scanner.h"
#include "tests/scanner/delegating_file_system.h"
#include "tests/scanner/fixture_support.h"
#include "tools/treegen/broken_cases.h"
#include "tools/treegen/replica_writer.h"

namespace sentinel::scanner {
namespace {

using testing::TempDir;
using treegen::BrokenCase;
using treegen::FindingPlace;
using v1::Finding;

constexpr const char* kControl = "healthy-control-600d600d";

using testing::DelegatingFileSystem;

// Remembers the path behind every descriptor it hands out, and every path the scanner tried to open.
// Thread-safe: the scanner calls it from its worker threads.
class RecordingFileSystem : public DelegatingFileSystem {
 public:
  SysResult<Fd> open_root(const std::string& path) override {
    return remember(DelegatingFileSystem::open_root(path), path);
  }
  SysResult<Fd> open_dir_at(int dir_fd, const std::string& name) override {
    return remember(DelegatingFileSystem::open_dir_at(dir_fd, name), path_of(dir_fd) + "/" + name);
  }
  SysResult<Fd> open_file_at(int dir_fd, const std::string& name) override {
    return remember(DelegatingFileSystem::open_file_at(dir_fd, name), path_of(dir_fd) + "/" + name);
  }
  std::string path_of(int fd) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = paths_.find(fd);
    return it == paths_.end() ? "<unknown fd>" : it->second;
  }
  std::vector<std::string> attempted_opens() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return attempted_;
  }

 private:
  SysResult<Fd> remember(SysResult<Fd> result, const std::string& path) {
    std::lock_guard<std::mutex> lock(mutex_);
    attempted_.push_back(path);
    // Descriptor numbers are reused once closed (the scanner closes without telling us): the latest open wins,
    // which is right because only the thread holding an open descriptor can pass its number back to us.
    if (result) paths_[result->get()] = path;
    return result;
  }
  mutable std::mutex mutex_;
  std::map<int, std::string> paths_;
  std::vector<std::string> attempted_;
};

// Runs the scan on another thread so a hang (a FIFO opened for reading, /dev/zero read to the end) fails the
// test instead of stalling ctest. The scan thread cannot be cancelled, so a timeout ends the process.
// Four scanner threads even on a small machine, so bad input also meets the parallel path.
v1::Inventory scan_with_deadline(FileSystem& fs, const std::vector<std::string>& disks) {
  ScanOptions options;
  options.threads = 4;
  auto scan = std::async(std::launch::async, [&] { return scan_disks(fs, disks, "test-node", options); });
  if (scan.wait_for(std::chrono::seconds(60)) != std::future_status::ready) {
    std::fprintf(stderr, "FATAL: the scan did not finish within 60 s: something blocked on bad input\n");
    std::_Exit(1);
  }
  return scan.get();
}

const v1::Replica* find_replica(const v1::Inventory& inv, const std::string& escaped_dir) {
  const v1::Replica* found = nullptr;
  for (const auto& r : inv.replicas()) {
    if (r.dir() == escaped_dir) {
      EXPECT_EQ(found, nullptr) << "two replicas named " << escaped_dir;
      found = &r;
    }
  }
  return found;
}

// Code names, so a mismatch prints { "DIRTY" } rather than { 1 }.
std::set<std::string> code_set(const google::protobuf::RepeatedPtrField<Finding>& findings) {
  std::set<std::string> out;
  for (const auto& f : findings) out.insert(Finding::Code_Name(f.code()));
  return out;
}

std::string describe(const google::protobuf::RepeatedPtrField<Finding>& findings) {
  std::string out;
  for (const auto& f : findings) out += "\n    " + Finding::Code_Name(f.code()) + " at " + f.path();
  return out.empty() ? " (none)" : out;
}

std::string expected_path(const BrokenCase& row) {
  std::string path = "replicas/" + escape_name(row.entry);
  if (!row.file.empty()) path += "/" + escape_name(row.file);
  return path;
}

// One generated disk: longhorn-disk.cfg, the healthy control replica, then every broken case.
class broken_tree : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = tmp_.path() + "/disk";
    ASSERT_TRUE(treegen::write_disk(disk_, "default-disk-test", "0badd15c-0000-4000-8000-000000000000").ok());
    ASSERT_TRUE(treegen::write_replica(disk_ + "/replicas", treegen::healthy_small_replica(kControl)).ok());
    auto table = treegen::write_broken_cases(disk_ + "/replicas");
    ASSERT_TRUE(table.ok()) << table.error().message();
    table_ = *table;
    inventory_ = scan_with_deadline(fs_, {disk_});
    ASSERT_EQ(inventory_.disks_size(), 1);
  }

  TempDir tmp_;
  std::string disk_;
  std::vector<BrokenCase> table_;
  RecordingFileSystem fs_;
  v1::Inventory inventory_;
};

TEST_F(broken_tree, TableCoversEveryRequiredKindOfDamage) {
  EXPECT_GE(table_.size(), 30u);
  std::set<Finding::Code> covered;
  for (const auto& row : table_) covered.insert(row.code);
  for (Finding::Code required :
       {Finding::BAD_METADATA, Finding::MISSING_META, Finding::ABSURD_SIZE, Finding::MISSING_HEAD,
        Finding::BROKEN_PARENT, Finding::CHAIN_CYCLE, Finding::CHAIN_TOO_LONG, Finding::ORPHAN_IMAGE,
        Finding::TEMP_LEFTOVER, Finding::SIZE_MISMATCH, Finding::DIRTY, Finding::REBUILDING, Finding::ERROR_SET,
        Finding::COUNTER_ZERO_WITH_DATA, Finding::COUNTER_INVALID, Finding::COUNTER_ABSENT, Finding::SYMLINK,
        Finding::UNEXPECTED_ENTRY, Finding::ODD_NAME, Finding::NOT_A_REPLICA, Finding::UNREADABLE}) {
    EXPECT_TRUE(covered.count(required)) << Finding::Code_Name(required) << " has no broken case";
  }
}

TEST_F(broken_tree, EveryCaseYieldsExactlyItsFindingsAtTheRightPlace) {
  size_t asserted = 0;
  std::set<std::string> disk_paths_expected;
  for (const auto& row : table_) {
    SCOPED_TRACE("entry " + escape_name(row.entry) + ": " + row.what);
    if (!row.skip_reason.empty()) {
      std::printf("[  NOTE    ] not asserted: %s (%s)\n", escape_name(row.entry).c_str(), row.skip_reason.c_str());
      continue;
    }
    ++asserted;
    if (row.place == FindingPlace::kDisk) {
      disk_paths_expected.insert(expected_path(row));
      EXPECT_EQ(find_replica(inventory_, escape_name(row.entry)), nullptr) << "a stray entry was scanned as a replica";
      bool found = false;
      for (const auto& f : inventory_.disks(0).findings()) {
        found = found || (f.code() == row.code && f.path() == expected_path(row));
      }
      EXPECT_TRUE(found) << "expected " << Finding::Code_Name(row.code) << " at " << expected_path(row)
                         << " on the disk; disk findings:" << describe(inventory_.disks(0).findings());
      continue;
    }
    const v1::Replica* replica = find_replica(inventory_, escape_name(row.entry));
    ASSERT_NE(replica, nullptr) << "not reported at all";
    bool found = false;
    for (const auto& f : replica->findings()) found = found || (f.code() == row.code && f.path() == expected_path(row));
    EXPECT_TRUE(found) << "expected " << Finding::Code_Name(row.code) << " at " << expected_path(row)
                       << "; got:" << describe(replica->findings());
    std::set<std::string> expected{Finding::Code_Name(row.code)};
    for (Finding::Code also : row.also) expected.insert(Finding::Code_Name(also));
    EXPECT_EQ(code_set(replica->findings()), expected) << "findings:" << describe(replica->findings());
  }
  EXPECT_GE(asserted, 30u);

  // Nothing but the stray entries (and no longhorn-disk.cfg complaint) on the disk itself.
  std::set<std::string> disk_paths_found;
  for (const auto& f : inventory_.disks(0).findings()) disk_paths_found.insert(f.path());
  EXPECT_EQ(disk_paths_found, disk_paths_expected) << describe(inventory_.disks(0).findings());

  // Every directory scanned is a table row or the control: none lost, none invented.
  std::set<std::string> dirs_expected{kControl};
  for (const auto& row : table_) {
    if (row.place == FindingPlace::kReplica) dirs_expected.insert(escape_name(row.entry));
  }
  std::set<std::string> dirs_found;
  for (const auto& r : inventory_.replicas()) dirs_found.insert(r.dir());
  EXPECT_EQ(dirs_found, dirs_expected);
  EXPECT_EQ(inventory_.disks(0).replica_count(), dirs_expected.size());
}

TEST_F(broken_tree, StatesFollowTheDamage) {
  auto state_of = [&](const std::string& slug_dir) {
    const v1::Replica* r = find_replica(inventory_, slug_dir);
    return r == nullptr ? v1::Replica::STATE_UNSPECIFIED : r->state();
  };
  for (const auto& row : table_) {
    if (row.place != FindingPlace::kReplica || !row.skip_reason.empty()) continue;
    SCOPED_TRACE(escape_name(row.entry));
    const v1::Replica::State state = state_of(escape_name(row.entry));
    // A garbage .img.checksum only makes Longhorn rehash; it does not stop the replica.
    if (row.code == Finding::BAD_METADATA && row.entry.find("checksum") != std::string::npos) {
      EXPECT_EQ(state, v1::Replica::CLEAN);
      continue;
    }
    switch (row.code) {
      case Finding::BAD_METADATA:
      case Finding::COUNTER_INVALID:
      case Finding::MISSING_META:
      case Finding::BROKEN_PARENT:
      case Finding::CHAIN_CYCLE:
      case Finding::CHAIN_TOO_LONG:
      case Finding::MISSING_HEAD:
      case Finding::ABSURD_SIZE:
      case Finding::UNREADABLE:
        EXPECT_EQ(state, v1::Replica::BROKEN);
        break;
      case Finding::DIRTY:
        EXPECT_EQ(state, v1::Replica::DIRTY);
        break;
      case Finding::REBUILDING:
        EXPECT_EQ(state, v1::Replica::REBUILDING);
        break;
      case Finding::ERROR_SET:
        EXPECT_EQ(state, v1::Replica::ERRORED);
        break;
      default:
        break;
    }
  }
  // An empty directory is not a replica at all.
  for (const auto& row : table_) {
    if (row.entry.rfind("broken-empty-dir-", 0) == 0) {
      EXPECT_EQ(state_of(escape_name(row.entry)), v1::Replica::FOREIGN);
    }
  }
}

TEST_F(broken_tree, HealthyReplicaAmongTheBrokenIsFullyReported) {
  const v1::Replica* r = find_replica(inventory_, kControl);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->state(), v1::Replica::CLEAN);
  EXPECT_EQ(r->findings_size(), 0) << describe(r->findings());
  EXPECT_EQ(r->volume(), "healthy-control");
  EXPECT_EQ(r->size_bytes(), 1024u * 1024u);
  ASSERT_EQ(r->chain_size(), 2);
  EXPECT_EQ(r->chain(0), "volume-head-001.img");
  EXPECT_TRUE(r->revision_counter_present());
  EXPECT_EQ(r->revision_counter(), 7);
  EXPECT_EQ(r->head_allocated_bytes(), 8192u);
  EXPECT_EQ(r->allocated_bytes(), 8192u + 24576u);
  EXPECT_EQ(r->images_size(), 2);
}

TEST_F(broken_tree, NeverOpensFifosSymlinksOrDevices) {
  size_t fifos = 0;
  size_t symlinks = 0;
  for (const auto& row : table_) {
    struct stat st {};
    const std::string path = disk_ + "/replicas/" + row.entry + (row.file.empty() ? "" : "/" + row.file);
    if (::lstat(path.c_str(), &st) != 0) continue;
    fifos += S_ISFIFO(st.st_mode);
    symlinks += S_ISLNK(st.st_mode);
  }
  EXPECT_GE(fifos, 2u);     // the tree does hold them
  EXPECT_GE(symlinks, 4u);
  ASSERT_FALSE(fs_.attempted_opens().empty());
  for (const auto& path : fs_.attempted_opens()) {
    struct stat st {};
    ASSERT_EQ(::lstat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) << "the scanner tried to open " << escape_name(path);
  }
}

TEST_F(broken_tree, UnreadableFileIsReported) {
  for (const auto& row : table_) {
    if (row.code != Finding::UNREADABLE) continue;
    if (!row.skip_reason.empty()) GTEST_SKIP() << row.skip_reason << " (EIO is covered by broken_tree_faults)";
    const v1::Replica* r = find_replica(inventory_, escape_name(row.entry));
    ASSERT_NE(r, nullptr);
    EXPECT_TRUE(code_set(r->findings()).count("UNREADABLE")) << describe(r->findings());
    return;
  }
  FAIL() << "no UNREADABLE row in the table";
}

// Fault injection over a small healthy disk: three clean replicas, one of which is made to fail.
class broken_tree_faults : public ::testing::Test {
 protected:
  void SetUp() override {
    disk_ = tmp_.path() + "/disk";
    ASSERT_TRUE(treegen::write_disk(disk_, "default-disk-test", "f4a17000-0000-4000-8000-000000000000").ok());
    for (const auto& dir : dirs_) {
      ASSERT_TRUE(treegen::write_replica(disk_ + "/replicas", treegen::healthy_small_replica(dir)).ok());
    }
  }

  // The target has exactly `code` at `path`; the others are reported as if nothing happened.
  void expect_only_target_hit(const v1::Inventory& inv, Finding::Code code, const std::string& path) {
    ASSERT_EQ(inv.replicas_size(), 3);
    EXPECT_EQ(inv.disks(0).replica_count(), 3u);
    EXPECT_EQ(inv.disks(0).findings_size(), 0) << describe(inv.disks(0).findings());
    for (const auto& r : inv.replicas()) {
      if (r.dir() == kTarget) {
        EXPECT_EQ(code_set(r.findings()), std::set<std::string>{Finding::Code_Name(code)}) << describe(r.findings());
        ASSERT_GE(r.findings_size(), 1);
        EXPECT_EQ(r.findings(0).path(), path);
        EXPECT_EQ(r.state(), v1::Replica::BROKEN);
      } else {
        EXPECT_EQ(r.findings_size(), 0) << r.dir() << describe(r.findings());
        EXPECT_EQ(r.state(), v1::Replica::CLEAN) << r.dir();
        EXPECT_EQ(r.chain_size(), 2) << r.dir();
        EXPECT_EQ(r.revision_counter(), 7) << r.dir();
      }
    }
  }

  static constexpr const char* kTarget = "pvc-faults-bbbbbbbb";
  const std::vector<std::string> dirs_{"pvc-faults-aaaaaaaa", kTarget, "pvc-faults-cccccccc"};
  TempDir tmp_;
  std::string disk_;
};

// The directory was listed, then removed before it could be opened (e.g. Longhorn deleted the replica).
class VanishingDirFileSystem : public DelegatingFileSystem {
 public:
  explicit VanishingDirFileSystem(std::string victim) : victim_(std::move(victim)) {}
  SysResult<Fd> open_dir_at(int dir_fd, const std::string& name) override {
    if (name == victim_) return sys_error("open directory", ENOENT);
    return DelegatingFileSystem::open_dir_at(dir_fd, name);
  }

 private:
  std::string victim_;
};

// The disk returns EIO when volume.meta of one replica is read (a failing sector).
class EioOnVolumeMetaFileSystem : public RecordingFileSystem {
 public:
  explicit EioOnVolumeMetaFileSystem(std::string victim_suffix) : victim_suffix_(std::move(victim_suffix)) {}
  SysResult<size_t> read_at(int fd, void* buffer, size_t length, uint64_t offset) override {
    const std::string path = path_of(fd);
    if (path.size() >= victim_suffix_.size() &&
        path.compare(path.size() - victim_suffix_.size(), victim_suffix_.size(), victim_suffix_) == 0) {
      ++injected_;
      return sys_error("read", EIO);
    }
    return RecordingFileSystem::read_at(fd, buffer, length, offset);
  }
  int injected() const { return injected_; }

 private:
  std::string victim_suffix_;
  std::atomic<int> injected_{0};
};

TEST_F(broken_tree_faults, DirectoryVanishingBetweenListingAndOpeningIsVanished) {
  VanishingDirFileSystem fs(kTarget);
  const v1::Inventory inv = scan_with_deadline(fs, {disk_});
  expect_only_target_hit(inv, Finding::VANISHED, std::string("replicas/") + kTarget);
}

TEST_F(broken_tree_faults, EioReadingVolumeMetaIsUnreadable) {
  EioOnVolumeMetaFileSystem fs(std::string("/replicas/") + kTarget + "/volume.meta");
  const v1::Inventory inv = scan_with_deadline(fs, {disk_});
  EXPECT_GE(fs.injected(), 1);
  expect_only_target_hit(inv, Finding::UNREADABLE, std::string("replicas/") + kTarget + "/volume.meta");
}

}  // namespace
}  // namespace sentinel::scanner
