// The spool: durable across restarts, sequences never reused, bounded by dropping old quick reports only,
// unreadable files set aside (never silently dropped).
#include "daemon/report_spool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/scanner/fixture_support.h"

namespace sentinel::daemon {
namespace {

v1::Report report_of(v1::ScanKind kind, const std::string& marker) {
  v1::Report report;
  report.set_kind(kind);
  report.mutable_inventory()->set_node(marker);
  return report;
}

ReportSpool open_spool(const std::string& dir, SpoolLimits limits = {}) {
  std::string error;
  std::vector<std::string> warnings;
  auto spool = ReportSpool::open(dir, limits, &error, &warnings);
  if (!spool) throw std::runtime_error(error);
  return std::move(*spool);
}

TEST(ReportSpool, SurvivesARestartAndNeverReusesASequence) {
  testing::TempDir dir;
  {
    ReportSpool spool = open_spool(dir.path());
    std::string error;
    EXPECT_EQ(spool.add(report_of(v1::QUICK, "a"), &error), 1u);
    EXPECT_EQ(spool.add(report_of(v1::QUICK, "b"), &error), 2u);
    EXPECT_EQ(spool.add(report_of(v1::DEEP, "c"), &error), 3u);
    spool.acknowledge(1);
    spool.acknowledge(2);
    spool.acknowledge(3);
    EXPECT_TRUE(spool.pending().empty());
  }
  ReportSpool reopened = open_spool(dir.path());
  EXPECT_TRUE(reopened.pending().empty());
  std::string error;
  EXPECT_EQ(reopened.add(report_of(v1::QUICK, "d"), &error), 4u) << "a sequence must never be handed out twice";
  EXPECT_EQ(reopened.last_acked(), 3u);
  {
    ReportSpool again = open_spool(dir.path());
    ASSERT_EQ(again.pending(), std::vector<uint64_t>{4});
    auto loaded = again.load(4, &error);
    ASSERT_TRUE(loaded) << error;
    EXPECT_EQ(loaded->inventory().node(), "d");
    EXPECT_EQ(loaded->sequence(), 4u);
  }
}

TEST(ReportSpool, FullSpoolDropsOldestQuickReportsAndKeepsDeepOnes) {
  testing::TempDir dir;
  ReportSpool spool = open_spool(dir.path(), SpoolLimits{4, 1 << 20});
  std::string error;
  spool.add(report_of(v1::DEEP, "deep-1"), &error);  // 1
  spool.add(report_of(v1::QUICK, "q-2"), &error);    // 2
  spool.add(report_of(v1::QUICK, "q-3"), &error);    // 3
  spool.add(report_of(v1::DEEP, "deep-4"), &error);  // 4
  const uint64_t fifth = spool.add(report_of(v1::QUICK, "q-5"), &error);
  EXPECT_EQ(fifth, 5u);
  EXPECT_EQ(spool.pending(), (std::vector<uint64_t>{1, 3, 4, 5}));
  EXPECT_EQ(spool.load(5, &error)->coalesced(), 1u);
  spool.add(report_of(v1::QUICK, "q-6"), &error);
  EXPECT_EQ(spool.pending(), (std::vector<uint64_t>{1, 4, 5, 6}));
  EXPECT_EQ(spool.stats().coalesced_total, 2u);
  // Only deep reports left besides the newest: they are kept, the spool grows past its bound rather than
  // lose a deep scan or refuse the newest report.
  spool.add(report_of(v1::QUICK, "q-7"), &error);
  spool.add(report_of(v1::QUICK, "q-8"), &error);
  EXPECT_EQ(spool.pending(), (std::vector<uint64_t>{1, 4, 7, 8}));
}

// Found by the soak test (tests/e2e/soak_driver.cpp): when a quick report that had itself replaced older ones
// was dropped in turn, the newest report counted only the one file it replaced, so the collector's sum of
// `coalesced` fell short of the reports it would never see. The count carries over, also across a restart.
TEST(ReportSpool, CoalescedCountCarriesTheReportsADroppedReportHadReplaced) {
  testing::TempDir dir;
  std::string error;
  {
    ReportSpool spool = open_spool(dir.path(), SpoolLimits{3, 1 << 20});
    spool.add(report_of(v1::DEEP, "deep-1"), &error);  // 1
    spool.add(report_of(v1::QUICK, "q-2"), &error);    // 2
    spool.add(report_of(v1::QUICK, "q-3"), &error);    // 3
    spool.add(report_of(v1::QUICK, "q-4"), &error);    // 4 replaces 2
    EXPECT_EQ(spool.load(4, &error)->coalesced(), 1u);
    spool.add(report_of(v1::QUICK, "q-5"), &error);    // 5 replaces 3
    EXPECT_EQ(spool.load(5, &error)->coalesced(), 1u);
    spool.add(report_of(v1::QUICK, "q-6"), &error);    // 6 replaces 4, which stood for 2 as well
    EXPECT_EQ(spool.pending(), (std::vector<uint64_t>{1, 5, 6}));
    EXPECT_EQ(spool.load(6, &error)->coalesced(), 2u);
    EXPECT_EQ(spool.stats().coalesced_total, 3u) << "files dropped by this run";
  }
  ReportSpool reopened = open_spool(dir.path(), SpoolLimits{3, 1 << 20});
  reopened.add(report_of(v1::QUICK, "q-7"), &error);   // 7 replaces 5, which stood for 3
  EXPECT_EQ(reopened.pending(), (std::vector<uint64_t>{1, 6, 7}));
  EXPECT_EQ(reopened.load(7, &error)->coalesced(), 2u);
  reopened.add(report_of(v1::QUICK, "q-8"), &error);   // 8 replaces 6, which stood for 2 and 4
  EXPECT_EQ(reopened.load(8, &error)->coalesced(), 3u);
  // Every report but the deep one and the two left is accounted for by exactly one `coalesced` count.
  EXPECT_EQ(reopened.load(7, &error)->coalesced() + reopened.load(8, &error)->coalesced(), 8u - 3u);
}

TEST(ReportSpool, UnreadableFileIsSetAsideWithAWarning) {
  testing::TempDir dir;
  {
    ReportSpool spool = open_spool(dir.path());
    std::string error;
    spool.add(report_of(v1::QUICK, "a"), &error);
    spool.add(report_of(v1::QUICK, "b"), &error);
  }
  std::ofstream(dir.path() + "/spool/00000000000000000001.report", std::ios::trunc) << "\xff\xff\xff garbage";
  std::ofstream(dir.path() + "/spool/00000000000000000009.report.tmp") << "half written";
  std::string error;
  std::vector<std::string> warnings;
  auto spool = ReportSpool::open(dir.path(), {}, &error, &warnings);
  ASSERT_TRUE(spool) << error;
  EXPECT_EQ(spool->pending(), std::vector<uint64_t>{2});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("corrupt"), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(dir.path() + "/spool/corrupt/00000000000000000001.report"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() + "/spool/00000000000000000009.report.tmp"));
  EXPECT_EQ(spool->add(report_of(v1::QUICK, "c"), &error), 3u);
}

TEST(ReportSpool, UnwritableStateDirIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes anywhere; the permission check cannot fail as root";
  testing::TempDir dir;
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  std::string error;
  std::vector<std::string> warnings;
  EXPECT_FALSE(ReportSpool::open(dir.path() + "/state", {}, &error, &warnings));
  EXPECT_FALSE(error.empty());
  std::filesystem::permissions(dir.path(), std::filesystem::perms::owner_all);
}

}  // namespace
}  // namespace sentinel::daemon
