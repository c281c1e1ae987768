// The replica scan runs on several threads; the inventory must not depend on how many.
#include <gtest/gtest.h>

#include <google/protobuf/util/message_differencer.h>

#include "scanner/scanner.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::testing {
namespace {

v1::Inventory scan_with_threads(const std::vector<std::string>& disks, unsigned threads) {
  scanner::PosixFileSystem fs;
  scanner::ScanOptions options;
  options.include_extents = true;
  options.threads = threads;
  v1::Inventory inventory = scanner::scan_disks(fs, disks, "test", options);
  inventory.clear_scanned_at_ns();
  inventory.clear_scan_duration_ns();
  return inventory;
}

TEST(ParallelScan, SameInventoryWhateverTheThreadCount) {
  TempDir tmp;
  // All cases as replicas of one disk, so one disk holds many replica directories.
  std::vector<std::string> disks;
  for (const auto& c : fixture_cases()) disks.push_back(extract_case_as_disk(c, tmp.path()));
  const v1::Inventory serial = scan_with_threads(disks, 1);
  ASSERT_GE(serial.replicas_size(), 9);
  for (unsigned threads : {2u, 4u, 16u}) {
    const v1::Inventory parallel = scan_with_threads(disks, threads);
    std::string diff;
    google::protobuf::util::MessageDifferencer differ;
    differ.ReportDifferencesToString(&diff);
    EXPECT_TRUE(differ.Compare(serial, parallel)) << threads << " threads: " << diff;
  }
}

}  // namespace
}  // namespace sentinel::testing
