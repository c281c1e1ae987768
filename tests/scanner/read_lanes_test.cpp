// Read lanes (scanner/read_lanes.h): how a file's data is cut into ranges for several threads.
#include "scanner/read_lanes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <vector>

namespace sentinel::scanner {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t data_in(const std::vector<ReadExtent>& pieces, const LaneRange& range) {
  uint64_t bytes = 0;
  for (const ReadExtent& piece : clip_to_range(pieces, range)) bytes += piece.length;
  return bytes;
}

TEST(PlanLanes, SmallFilesAndOneLaneStayWhole) {
  const std::vector<ReadExtent> pieces = {{0, 10 * kMiB}, {100 * kMiB, 10 * kMiB}};
  EXPECT_EQ(plan_lanes(pieces, 200 * kMiB, 1, 4 * kMiB, 0), (std::vector<LaneRange>{{0, 200 * kMiB}}));
  // 20 MiB of data with at least 16 MiB per lane: one lane.
  EXPECT_EQ(plan_lanes(pieces, 200 * kMiB, 4, 4 * kMiB, 16 * kMiB), (std::vector<LaneRange>{{0, 200 * kMiB}}));
  EXPECT_EQ(plan_lanes({}, 200 * kMiB, 4, 4 * kMiB, 0), (std::vector<LaneRange>{{0, 200 * kMiB}}));
  EXPECT_EQ(plan_lanes({}, 0, 4, 4 * kMiB, 0), (std::vector<LaneRange>{{0, 0}}));
}

TEST(PlanLanes, CutsOnAlignedBoundariesWithAboutEqualData) {
  // Two runs far apart: one lane each, the cut just after the first run's half of the data, rounded up.
  const std::vector<ReadExtent> pieces = {{0, 10 * kMiB}, {100 * kMiB, 10 * kMiB}};
  const auto two = plan_lanes(pieces, 200 * kMiB, 2, 4 * kMiB, 1);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0], (LaneRange{0, 12 * kMiB}));
  EXPECT_EQ(two[1], (LaneRange{12 * kMiB, 200 * kMiB}));
}

TEST(PlanLanes, RandomLayoutsAreCoveredInOrderAndBalanced) {
  std::mt19937_64 rng(77);
  for (int round = 0; round < 200; ++round) {
    SCOPED_TRACE(round);
    const uint64_t total = (1 + rng() % 4096) * 4096 * 16;
    std::vector<ReadExtent> pieces;
    uint64_t at = 0;
    while (true) {
      at += (rng() % 64) * 4096;
      const uint64_t len = (1 + rng() % 512) * 4096;
      if (at + len > total) break;
      pieces.push_back({at, len});
      at += len;
    }
    const unsigned lanes = 1 + static_cast<unsigned>(rng() % 6);
    const uint64_t align = uint64_t{4096} << (rng() % 8);
    const uint64_t min_bytes = rng() % 3 == 0 ? 0 : (rng() % 4) * kMiB;
    const auto ranges = plan_lanes(pieces, total, lanes, align, min_bytes);
    ASSERT_FALSE(ranges.empty());
    ASSERT_LE(ranges.size(), lanes);
    EXPECT_EQ(ranges.front().begin, 0u);
    EXPECT_EQ(ranges.back().end, total);
    uint64_t all = 0;
    for (const auto& p : pieces) all += p.length;
    uint64_t sum = 0;
    for (size_t i = 0; i < ranges.size(); ++i) {
      EXPECT_LT(ranges[i].begin, ranges[i].end);
      if (i > 0) {
        EXPECT_EQ(ranges[i].begin, ranges[i - 1].end);
        EXPECT_EQ(ranges[i].begin % align, 0u);
      }
      const uint64_t mine = data_in(pieces, ranges[i]);
      if (ranges.size() > 1) {
        EXPECT_GT(mine, 0u) << "a lane without data";
      }
      sum += mine;
    }
    EXPECT_EQ(sum, all);
    if (min_bytes > 0 && ranges.size() > 1) {
      EXPECT_GE(all / ranges.size(), min_bytes);
    }
    // When a share is well above the alignment, every lane asked for is used and holds its share, give or take
    // the data of one alignment unit at each end.
    const uint64_t wanted = min_bytes > 0 ? std::min<uint64_t>(lanes, all / min_bytes) : lanes;
    if (wanted > 1 && all / wanted > 4 * align) {
      EXPECT_EQ(ranges.size(), wanted);
      for (const auto& range : ranges) EXPECT_LE(data_in(pieces, range), all / wanted + 2 * align);
    }
  }
}

TEST(ClipToRange, CutsPiecesThatCrossTheBoundaries) {
  const std::vector<ReadExtent> pieces = {{0, 8192}, {12288, 8192}, {40960, 4096}};
  EXPECT_EQ(clip_to_range(pieces, {4096, 16384}).size(), 2u);
  const auto clipped = clip_to_range(pieces, {4096, 16384});
  EXPECT_EQ(clipped[0].offset, 4096u);
  EXPECT_EQ(clipped[0].length, 4096u);
  EXPECT_EQ(clipped[1].offset, 12288u);
  EXPECT_EQ(clipped[1].length, 4096u);
  EXPECT_TRUE(clip_to_range(pieces, {20480, 40960}).empty());
}

TEST(RunLanes, EveryLaneRunsOnceLaneZeroOnTheCaller) {
  std::mutex mutex;
  std::multiset<size_t> ran;
  std::set<std::thread::id> threads;
  std::thread::id lane_zero_thread;
  run_lanes(4, [&](size_t lane) {
    std::lock_guard<std::mutex> lock(mutex);
    ran.insert(lane);
    threads.insert(std::this_thread::get_id());
    if (lane == 0) lane_zero_thread = std::this_thread::get_id();
  });
  EXPECT_EQ(ran, (std::multiset<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(threads.size(), 4u);
  EXPECT_EQ(lane_zero_thread, std::this_thread::get_id());
  std::atomic<int> none{0};
  run_lanes(0, [&](size_t) { ++none; });
  EXPECT_EQ(none.load(), 0);
}

}  // namespace
}  // namespace sentinel::scanner
