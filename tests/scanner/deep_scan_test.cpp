// The deep scan against Longhorn's own fixtures: every snapshot's crc64 must equal what Longhorn v1.5.3
// computed (expected.json), the stored-checksum verdicts must be what the cases say, and faults injected
// below the scan (EIO, short reads, -EAGAIN, truncation between map and read, a change during the read, a
// vanished file) must become findings on that snapshot while the rest of the scan goes on.
#include "scanner/deep_scan.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "scanner/crc64.h"
#include "scanner/findings.h"
#include "scanner/longhorn_metadata.h"
#include "scanner/scanner.h"
#include "tests/scanner/delegating_file_system.h"
#include "tests/scanner/fault_injection.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::scanner {
namespace {

using nlohmann::json;
using sentinel::testing::extract_case_as_disk;
using sentinel::testing::fixture_cases;
using sentinel::testing::fixtures_dir;
using sentinel::testing::read_file;
using sentinel::testing::HookedQueue;
using sentinel::testing::inode_of;
using sentinel::testing::TempDir;
using v1::Finding;
using v1::Image;
using v1::StoredChecksum;

json expected_for(const std::string& case_name) {
  return json::parse(read_file(fixtures_dir() + "/" + case_name + ".expected.json"));
}

v1::Replica* find_replica(v1::Inventory* inventory, const std::string& dir) {
  for (auto& r : *inventory->mutable_replicas()) {
    if (r.dir() == dir) return &r;
  }
  return nullptr;
}

Image* find_image(v1::Replica* replica, const std::string& name) {
  for (auto& image : *replica->mutable_images()) {
    if (image.name() == name) return &image;
  }
  return nullptr;
}

bool is_snapshot(const Image& image) {
  return image.kind() == Image::SNAPSHOT || image.kind() == Image::EXPANSION_SNAPSHOT;
}

std::vector<const Finding*> findings_on(const v1::Replica& replica, Finding::Code code) {
  std::vector<const Finding*> out;
  for (const auto& f : replica.findings()) {
    if (f.code() == code) out.push_back(&f);
  }
  return out;
}


// A disk extracted from a fixture and quick-scanned.
struct ScannedCase {
  TempDir tmp;
  std::string disk;
  v1::Inventory inventory;
  json expected;
  PosixFileSystem fs;

  explicit ScannedCase(const std::string& case_name) {
    disk = extract_case_as_disk(case_name, tmp.path());
    inventory = scan_disks(fs, {disk}, "test-node", ScanOptions{});
    expected = expected_for(case_name);
  }
  std::string path_of(const v1::Replica& replica, const std::string& image) const {
    return disk + "/replicas/" + replica.dir() + "/" + image;
  }
};

// The crc64 Longhorn computed for each snapshot file of each replica dir in a case.
std::map<std::pair<std::string, std::string>, std::string> longhorn_sums(const json& expected) {
  std::map<std::pair<std::string, std::string>, std::string> out;
  for (const auto& r : expected.at("replicas")) {
    for (const auto& f : r.at("files")) {
      if (f.contains("longhorn_snapshot_checksum_crc64_iso")) {
        out[{r.at("dir").get<std::string>(), f.at("name").get<std::string>()}] =
            f.at("longhorn_snapshot_checksum_crc64_iso").get<std::string>();
      }
    }
  }
  return out;
}

// Checks every snapshot of a deep-scanned case against Longhorn's own numbers.
void check_against_longhorn(const std::string& case_name, ScannedCase& c) {
  SCOPED_TRACE(case_name);
  const auto sums = longhorn_sums(c.expected);
  size_t checked = 0;
  for (const auto& r : c.expected.at("replicas")) {
    v1::Replica* replica = find_replica(&c.inventory, r.at("dir").get<std::string>());
    ASSERT_NE(replica, nullptr);
    for (const auto& f : r.at("files")) {
      const std::string name = f.at("name");
      if (name.size() < 4 || name.substr(name.size() - 4) != ".img") continue;
      SCOPED_TRACE(name);
      Image* image = find_image(replica, name);
      ASSERT_NE(image, nullptr);
      if (!is_snapshot(*image)) {
        EXPECT_EQ(image->crc64(), "") << "the head is never hashed";
        EXPECT_FALSE(image->has_stored_checksum());
        continue;
      }
      auto it = sums.find({replica->dir(), name});
      ASSERT_NE(it, sums.end()) << "expected.json has no crc64 for a snapshot";
      EXPECT_EQ(image->crc64(), it->second);
      EXPECT_EQ(image->deep_read_bytes(), f.at("extent_bytes").get<uint64_t>()) << "only allocated bytes are read";
      ++checked;
      // Case 2 carries .checksum records whose change_time predates the extraction; the others have none.
      const bool has_record = image->has_checksum_record();
      EXPECT_EQ(has_record, case_name == "case2-chain");
      EXPECT_EQ(image->stored_checksum().state(), has_record ? StoredChecksum::STALE : StoredChecksum::ABSENT);
      EXPECT_EQ(image->stored_checksum().computed(), it->second);
      if (has_record) {
        EXPECT_EQ(image->stored_checksum().stored(), it->second);
      }
    }
    EXPECT_TRUE(findings_on(*replica, Finding::CHECKSUM_MISMATCH).empty());
    EXPECT_TRUE(findings_on(*replica, Finding::CHECKSUM_FLAGGED).empty());
    EXPECT_TRUE(findings_on(*replica, Finding::CHANGED_DURING_SCAN).empty());
    // The content digest of the merged volume comes with every deep scan (merged_view_test checks its value).
    EXPECT_EQ(replica->content_digest().size(), 32u) << replica->content().skipped();
    EXPECT_EQ(replica->content().chunk_count(), replica->size_bytes() / (4 << 20));
    for (const auto& finding : replica->findings()) {
      EXPECT_EQ(finding.message().rfind("deep scan:", 0), std::string::npos) << finding.message();
    }
  }
  EXPECT_EQ(checked, sums.size());
}

TEST(DeepScanFixtures, EverySnapshotCrcEqualsLonghorns) {
  const auto cases = fixture_cases();
  ASSERT_FALSE(cases.empty());
  for (const auto& case_name : cases) {
    ScannedCase c(case_name);
    deep_scan_inventory(c.fs, &c.inventory, DeepScanOptions{});
    check_against_longhorn(case_name, c);
  }
}

TEST(DeepScanFixtures, PreadBackendAndSmallBlocksAgree) {
  for (const std::string case_name : {"case2-chain", "case5c-removed-snapshot"}) {
    ScannedCase c(case_name);
    DeepScanOptions options;
    options.read.backend = ReadOptions::Backend::kPread;
    options.read.queue_depth = 3;
    options.read.block_bytes = 4096;
    auto scanner = DeepScanner::create(c.fs, options);
    ASSERT_TRUE(scanner.ok());
    EXPECT_STREQ((*scanner)->backend(), "pread");
    (*scanner)->scan_inventory(&c.inventory);
    check_against_longhorn(case_name, c);
  }
}

TEST(DeepScanFixtures, DirectIoAgrees) {
  ScannedCase c("case2-chain");
  DeepScanOptions options;
  options.read.direct_io = true;
  deep_scan_inventory(c.fs, &c.inventory, options);
  check_against_longhorn("case2-chain", c);
}

// Case 2 with its records made current (change_time = the extracted file's ctime, as Longhorn would have
// written it for this inode): CURRENT; then with a tampered sum: MISMATCH; then flagged: FLAGGED.
TEST(DeepScanFixtures, CurrentMismatchAndFlaggedRecords) {
  ScannedCase c("case2-chain");
  ASSERT_EQ(c.inventory.replicas_size(), 1);
  v1::Replica pristine = c.inventory.replicas(0);
  int snapshots = 0;
  for (auto& image : *pristine.mutable_images()) {
    if (!is_snapshot(image)) continue;
    ++snapshots;
    ASSERT_TRUE(image.has_checksum_record());
    image.mutable_checksum_record()->set_change_time(go_time_string_utc(image.ctime_ns()));
  }
  ASSERT_EQ(snapshots, 3);

  v1::Replica current = pristine;
  deep_scan_replica(c.fs, c.disk, &current, DeepScanOptions{});
  for (const auto& image : current.images()) {
    if (!is_snapshot(image)) continue;
    EXPECT_EQ(image.stored_checksum().state(), StoredChecksum::CURRENT) << image.name();
  }
  EXPECT_EQ(worst_severity(current.findings()), worst_severity(pristine.findings()));

  v1::Replica tampered = pristine;
  Image* victim = nullptr;
  for (auto& image : *tampered.mutable_images()) {
    if (is_snapshot(image)) victim = &image;
  }
  std::string sum = victim->checksum_record().checksum();
  sum[0] = sum[0] == '0' ? '1' : '0';
  victim->mutable_checksum_record()->set_checksum(sum);
  const std::string victim_name = victim->name();
  deep_scan_replica(c.fs, c.disk, &tampered, DeepScanOptions{});
  for (const auto& image : tampered.images()) {
    if (!is_snapshot(image)) continue;
    EXPECT_EQ(image.stored_checksum().state(),
              image.name() == victim_name ? StoredChecksum::MISMATCH : StoredChecksum::CURRENT)
        << image.name();
  }
  auto mismatches = findings_on(tampered, Finding::CHECKSUM_MISMATCH);
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0]->severity(), Finding::ERROR);
  EXPECT_NE(mismatches[0]->path().find(victim_name), std::string::npos);
  // The ERROR finding changes the summed-up state: a silently corrupted replica is not a clean one.
  EXPECT_EQ(pristine.state(), v1::Replica::CLEAN);
  EXPECT_EQ(current.state(), v1::Replica::CLEAN);
  EXPECT_EQ(tampered.state(), v1::Replica::BROKEN);

  v1::Replica flagged = pristine;
  for (auto& image : *flagged.mutable_images()) {
    if (is_snapshot(image)) image.mutable_checksum_record()->set_silently_corrupted(true);
  }
  deep_scan_replica(c.fs, c.disk, &flagged, DeepScanOptions{});
  EXPECT_EQ(findings_on(flagged, Finding::CHECKSUM_FLAGGED).size(), 3u);
  for (const auto& image : flagged.images()) {
    if (is_snapshot(image)) {
      EXPECT_EQ(image.stored_checksum().state(), StoredChecksum::FLAGGED);
    }
  }
}

// --- fault injection ---


DeepScanOptions hooked(HookedQueue::Hook hook, uint32_t block_bytes = 64 * 1024) {
  DeepScanOptions options;
  options.read.block_bytes = block_bytes;
  options.queue_factory = [hook](const ReadOptions& o, std::string* note) {
    return std::unique_ptr<ReadQueue>(std::make_unique<HookedQueue>(make_default_read_queue(o, note), hook));
  };
  return options;
}

// The snapshot of case 2 with the most data, and the others.
struct Case2 {
  ScannedCase c{"case2-chain"};
  v1::Replica* replica = nullptr;
  std::string target;  // image name
  std::string target_path;
  uint64_t target_inode = 0;
  Case2() {
    replica = &(*c.inventory.mutable_replicas())[0];
    uint64_t most = 0;
    for (const auto& image : replica->images()) {
      if (is_snapshot(image) && image.allocated_bytes() > most) {
        most = image.allocated_bytes();
        target = image.name();
      }
    }
    target_path = c.path_of(*replica, target);
    target_inode = inode_of(target_path);
  }
  // The other snapshots still have Longhorn's sums.
  void expect_others_intact() {
    const auto sums = longhorn_sums(c.expected);
    for (const auto& image : replica->images()) {
      if (!is_snapshot(image) || image.name() == target) continue;
      EXPECT_EQ(image.crc64(), sums.at({replica->dir(), image.name()})) << image.name();
    }
  }
  const Image& target_image() { return *find_image(replica, target); }
};

TEST(DeepScanFaults, EioInsideAnExtentIsAFindingAndTheScanGoesOn) {
  Case2 k;
  const uint64_t inode = k.target_inode;
  auto options = hooked([inode](int fd, uint64_t offset, uint32_t* length) -> std::optional<int64_t> {
    const uint64_t bad = 4194304 + 300000;  // inside the 1 MiB extent at 4 MiB
    if (inode_of(fd) == inode && bad >= offset && bad < offset + *length) return -EIO;
    return std::nullopt;
  });
  deep_scan_inventory(k.c.fs, &k.c.inventory, options);
  EXPECT_EQ(k.target_image().crc64(), "");
  EXPECT_EQ(k.target_image().stored_checksum().state(), StoredChecksum::STALE);
  auto unreadable = findings_on(*k.replica, Finding::UNREADABLE);
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_EQ(unreadable[0]->severity(), Finding::ERROR);
  EXPECT_NE(unreadable[0]->path().find(k.target), std::string::npos);
  EXPECT_NE(unreadable[0]->message().find(std::strerror(EIO)), std::string::npos) << unreadable[0]->message();
  EXPECT_TRUE(findings_on(*k.replica, Finding::CHECKSUM_MISMATCH).empty());
  k.expect_others_intact();
}

TEST(DeepScanFaults, ShortReadsAndEagainStillGiveLonghornsSums) {
  ScannedCase c("case2-chain");
  std::map<uint64_t, int> attempts;
  auto options = hooked([&attempts](int, uint64_t offset, uint32_t* length) -> std::optional<int64_t> {
    if (attempts[offset]++ == 0) return -EAGAIN;
    if (*length > 5000) *length = 5000;  // every read comes back short
    return std::nullopt;
  });
  deep_scan_inventory(c.fs, &c.inventory, options);
  check_against_longhorn("case2-chain", c);
}

// A FileSystem that truncates the target file right after mapping its extents; everything else is real.
class TruncateAfterMapFs final : public testing::DelegatingFileSystem {
 public:
  TruncateAfterMapFs(uint64_t inode, std::string path, uint64_t new_size)
      : inode_(inode), path_(std::move(path)), new_size_(new_size) {}
  SysResult<Done> map_extents(int fd, uint64_t file_size, const ExtentSink& sink) override {
    auto result = DelegatingFileSystem::map_extents(fd, file_size, sink);
    if (inode_of(fd) == inode_) {
      EXPECT_EQ(::truncate(path_.c_str(), static_cast<off_t>(new_size_)), 0);
    }
    return result;
  }

 private:
  uint64_t inode_;
  std::string path_;
  uint64_t new_size_;
};

TEST(DeepScanFaults, TruncatedBetweenMapAndReadIsChangedNotCorrupt) {
  Case2 k;
  // A current record, so that a wrong sum would be called a MISMATCH if the scan were careless.
  for (auto& image : *k.replica->mutable_images()) {
    if (is_snapshot(image)) image.mutable_checksum_record()->set_change_time(go_time_string_utc(image.ctime_ns()));
  }
  TruncateAfterMapFs fs(k.target_inode, k.target_path, 4194304 + 4096);
  deep_scan_replica(fs, k.c.disk, k.replica, DeepScanOptions{});
  EXPECT_EQ(k.target_image().crc64(), "");
  auto changed = findings_on(*k.replica, Finding::CHANGED_DURING_SCAN);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_NE(changed[0]->path().find(k.target), std::string::npos);
  EXPECT_EQ(changed[0]->severity(), Finding::WARNING);
  EXPECT_TRUE(findings_on(*k.replica, Finding::CHECKSUM_MISMATCH).empty());
  EXPECT_TRUE(findings_on(*k.replica, Finding::UNREADABLE).empty());
  // Its record no longer matches the (new) ctime: no verdict on it.
  EXPECT_NE(k.target_image().stored_checksum().state(), StoredChecksum::MISMATCH);
  k.expect_others_intact();
}

TEST(DeepScanFaults, ChangedDuringTheReadIsNeverCalledCorrupt) {
  Case2 k;
  for (auto& image : *k.replica->mutable_images()) {
    if (is_snapshot(image)) image.mutable_checksum_record()->set_change_time(go_time_string_utc(image.ctime_ns()));
  }
  const uint64_t inode = k.target_inode;
  const std::string path = k.target_path;
  bool touched = false;
  auto options = hooked([&](int fd, uint64_t, uint32_t*) -> std::optional<int64_t> {
    if (!touched && inode_of(fd) == inode) {
      touched = true;
      EXPECT_EQ(::chmod(path.c_str(), 0600), 0);  // a new ctime, as a copy or chmod by someone else would give
    }
    return std::nullopt;
  });
  deep_scan_replica(k.c.fs, k.c.disk, k.replica, options);
  ASSERT_TRUE(touched);
  EXPECT_EQ(k.target_image().crc64(), "");
  auto changed = findings_on(*k.replica, Finding::CHANGED_DURING_SCAN);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_NE(changed[0]->message().find("ctime"), std::string::npos) << changed[0]->message();
  EXPECT_EQ(k.target_image().stored_checksum().state(), StoredChecksum::UNVERIFIED);
  EXPECT_TRUE(findings_on(*k.replica, Finding::CHECKSUM_MISMATCH).empty());
  for (const auto& image : k.replica->images()) {
    if (is_snapshot(image) && image.name() != k.target) {
      EXPECT_EQ(image.stored_checksum().state(), StoredChecksum::CURRENT) << image.name();
    }
  }
  k.expect_others_intact();
}

TEST(DeepScanFaults, SnapshotGoneAfterTheQuickScanIsVanished) {
  Case2 k;
  ASSERT_EQ(::unlink(k.target_path.c_str()), 0);
  deep_scan_replica(k.c.fs, k.c.disk, k.replica, DeepScanOptions{});
  auto vanished = findings_on(*k.replica, Finding::VANISHED);
  ASSERT_EQ(vanished.size(), 1u);
  EXPECT_NE(vanished[0]->path().find(k.target), std::string::npos);
  EXPECT_EQ(k.target_image().crc64(), "");
  k.expect_others_intact();
}

TEST(DeepScanFaults, ChangedBetweenQuickScanAndDeepScan) {
  Case2 k;
  ASSERT_EQ(::chmod(k.target_path.c_str(), 0600), 0);
  deep_scan_replica(k.c.fs, k.c.disk, k.replica, DeepScanOptions{});
  auto changed = findings_on(*k.replica, Finding::CHANGED_DURING_SCAN);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_NE(changed[0]->message().find("since the quick scan"), std::string::npos);
  EXPECT_EQ(k.target_image().crc64(), "");
  k.expect_others_intact();
}

// --- the stored-checksum verdict, as a pure function ---

v1::ChecksumRecord record(const std::string& sum, const std::string& change_time, bool flagged = false) {
  v1::ChecksumRecord r;
  r.set_method("crc64");
  r.set_checksum(sum);
  r.set_change_time(change_time);
  r.set_last_hashed_at("2026-11-24T15:56:46Z");
  r.set_silently_corrupted(flagged);
  return r;
}

TEST(StoredChecksumVerdict, EveryState) {
  const int64_t ctime = 1795535805658095880;  // 2026-11-24 15:56:45.65809588 UTC
  const std::string now = go_time_string_utc(ctime);
  ASSERT_EQ(now, "2026-11-24 15:56:45.65809588 +0000 UTC");
  const std::string sum = "1af9b7573697ea4c";
  const std::string other = "1af9b7573697ea4d";

  EXPECT_EQ(verify_stored_checksum(nullptr, false, ctime, sum).state(), StoredChecksum::ABSENT);
  EXPECT_EQ(verify_stored_checksum(nullptr, true, ctime, sum).state(), StoredChecksum::UNREADABLE);

  auto r = record(sum, now);
  auto v = verify_stored_checksum(&r, true, ctime, sum);
  EXPECT_EQ(v.state(), StoredChecksum::CURRENT);
  EXPECT_EQ(v.stored(), sum);
  EXPECT_EQ(v.computed(), sum);
  EXPECT_EQ(verify_stored_checksum(&r, true, ctime, other).state(), StoredChecksum::MISMATCH);
  EXPECT_EQ(verify_stored_checksum(&r, true, ctime, "").state(), StoredChecksum::UNVERIFIED);
  EXPECT_EQ(verify_stored_checksum(&r, true, ctime + 1, sum).state(), StoredChecksum::STALE);
  EXPECT_EQ(verify_stored_checksum(&r, true, ctime + 1, other).state(), StoredChecksum::STALE);

  auto upper = record("1AF9B7573697EA4C", now);
  EXPECT_EQ(verify_stored_checksum(&upper, true, ctime, sum).state(), StoredChecksum::CURRENT);

  auto flagged = record(sum, "2020-01-01 00:00:00 +0000 UTC", true);
  EXPECT_EQ(verify_stored_checksum(&flagged, true, ctime, sum).state(), StoredChecksum::FLAGGED);

  auto method = record(sum, now);
  method.set_method("sha512");
  EXPECT_EQ(verify_stored_checksum(&method, true, ctime, sum).state(), StoredChecksum::UNREADABLE);
  auto garbage = record("not-hex", now);
  EXPECT_EQ(verify_stored_checksum(&garbage, true, ctime, sum).state(), StoredChecksum::UNREADABLE);

  // A node in another time zone writes its local time: the same instant is still current.
  auto cet = record(sum, "2026-11-24 16:56:45.65809588 +0100 CET");
  EXPECT_EQ(verify_stored_checksum(&cet, true, ctime, sum).state(), StoredChecksum::CURRENT);
  EXPECT_EQ(verify_stored_checksum(&cet, true, ctime, other).state(), StoredChecksum::MISMATCH);
}

TEST(ParseGoTimeString, Forms) {
  EXPECT_EQ(parse_go_time_string("2026-11-24 15:56:45.65809588 +0000 UTC"), 1795535805658095880);
  EXPECT_EQ(parse_go_time_string("2026-11-24 15:56:45 +0000 UTC"), 1795535805000000000);
  EXPECT_EQ(parse_go_time_string("2026-11-24 10:26:45.000000001 -0530 XYZ"), 1795535805000000001);
  EXPECT_EQ(parse_go_time_string("2026-11-24 15:56:45.1 +0000 UTC m=+0.000000001"), 1795535805100000000);
  EXPECT_EQ(parse_go_time_string("1970-01-01 00:00:00 +0000 UTC"), 0);
  EXPECT_EQ(parse_go_time_string("1969-12-31 23:59:59.5 +0000 UTC"), -500000000);
  for (int64_t ns : {int64_t{0}, int64_t{1}, int64_t{1795535804551141018}, int64_t{1700000000123000000}}) {
    EXPECT_EQ(parse_go_time_string(go_time_string_utc(ns)), ns) << go_time_string_utc(ns);
  }
  for (const char* bad : {"", "2026-11-24", "2026-11-24T15:56:45Z", "2026-11-24 15:56:45 UTC",
                          "2026-13-24 15:56:45 +0000 UTC", "2026-11-24 15:56:45. +0000 UTC",
                          "2026-11-24 15:56:45.1234567890 +0000 UTC", "2026-11-24 15:56:45 +0000"}) {
    EXPECT_FALSE(parse_go_time_string(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace sentinel::scanner
