// Longhorn's own choice with the revision counter DISABLED, per version (LONGHORN-FORMAT.md "How Longhorn
// salvages"): no revision.counter, head mtimes inside and outside the 5 s window, head sizes that differ, at the
// version boundaries v1.4.0, v1.5.3/v1.5.4, v1.5.5/v1.5.6, v1.6.0, v1.6.2/v1.6.3, v1.7.0. Plus the engine-start
// drops and the counter-enabled rule. Inventories are built in memory (the planner's input); the last test
// writes real trees with sentinel-gen's writer and scans them.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "salvage/longhorn_version.h"
#include "salvage/planner.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tests/salvage/replica_builder.h"
#include "tests/scanner/fixture_support.h"
#include "tools/treegen/replica_writer.h"

namespace sentinel::salvage {
namespace {

using testing::kMiB;
using testing::kSecond;
using testing::node_inventory;
using testing::ReplicaBuilder;

constexpr const char* kVolume = "pvc-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";

std::string dir_of(const std::string& suffix) { return std::string(kVolume) + "-" + suffix; }

// The possible outcomes as sets of kept directories.
std::set<std::set<std::string>> outcomes(const v1::SalvagePlan& plan) {
  std::set<std::set<std::string>> out;
  for (const auto& o : plan.longhorn().possible_outcomes()) out.insert({o.keep().begin(), o.keep().end()});
  return out;
}

const v1::RankedReplica& ranked(const v1::SalvagePlan& plan, const std::string& suffix) {
  for (const auto& r : plan.replicas()) {
    if (r.dir() == dir_of(suffix)) return r;
  }
  throw std::runtime_error("no replica " + suffix + " in the plan");
}

v1::SalvagePlan plan_for(const std::vector<v1::Replica>& replicas, const std::string& version,
                         RevisionCounterChoice counter = RevisionCounterChoice::kAuto) {
  std::vector<NodeInventory> inventories;
  int node = 0;
  for (const auto& r : replicas) inventories.push_back(node_inventory("worker-" + std::to_string(++node), {r}));
  PlanOptions options;
  options.longhorn_version = version;
  options.revision_counter = counter;
  PlanResult result = make_salvage_plan(kVolume, inventories, options);
  EXPECT_TRUE(result.ok()) << result.message;
  return result.plan;
}

// Two replicas without revision.counter inside the 5 s window: "newer" (head mtime newest, small head) and
// "bigger" (2 s older, 8x the head data).
std::vector<v1::Replica> newer_vs_bigger() {
  return {ReplicaBuilder(kVolume, "aaaaaaaa").no_counter().dirty().mtime_offset(0).head_allocated(1 * kMiB),
          ReplicaBuilder(kVolume, "bbbbbbbb").no_counter().dirty().mtime_offset(-2 * kSecond).head_allocated(8 * kMiB)};
}

TEST(LonghornVersion, ParsesAndRejects) {
  ASSERT_TRUE(parse_longhorn_version("v1.5.3"));
  EXPECT_EQ(parse_longhorn_version("v1.5.3")->to_string(), "v1.5.3");
  EXPECT_EQ(parse_longhorn_version("1.10.0")->minor, 10);
  for (const char* bad : {"", "v", "1.5", "v1.5.3~", "v1.5.3-rc1", "latest", "v1..3", "v-1.5.3", "v1.5.3 "}) {
    EXPECT_FALSE(parse_longhorn_version(bad)) << bad;
  }
}

TEST(LonghornRules, NoRevisionCounterFileMeansDisabledWhenAuto) {
  auto plan = plan_for(newer_vs_bigger(), "v1.7.0");
  EXPECT_EQ(plan.revision_counter_mode(), v1::LonghornPrediction::DISABLED);
  EXPECT_TRUE(plan.longhorn().revision_counter_mode_inferred());
  // An explicit choice is not inferred.
  auto forced = plan_for(newer_vs_bigger(), "v1.7.0", RevisionCounterChoice::kDisabled);
  EXPECT_FALSE(forced.longhorn().revision_counter_mode_inferred());
}

// v1.4.0-v1.5.5 and v1.6.0-v1.6.2: any candidate may win (7714 and/or 8659); the prediction is the set.
TEST(LonghornRules, BuggyVersionsLetAnyCandidateWin) {
  for (const char* version : {"v1.4.0", "v1.5.0", "v1.5.3", "v1.5.4", "v1.5.5", "v1.6.0", "v1.6.2"}) {
    SCOPED_TRACE(version);
    auto plan = plan_for(newer_vs_bigger(), version);
    EXPECT_FALSE(plan.longhorn().deterministic());
    EXPECT_EQ(outcomes(plan), (std::set<std::set<std::string>>{{dir_of("aaaaaaaa")}, {dir_of("bbbbbbbb")}}));
    EXPECT_EQ(ranked(plan, "aaaaaaaa").longhorn(), v1::LONGHORN_MAY_KEEP);
    EXPECT_EQ(ranked(plan, "bbbbbbbb").longhorn(), v1::LONGHORN_MAY_KEEP);
    ASSERT_EQ(plan.longhorn_would_keep_size(), 2);
    EXPECT_NE(plan.longhorn().rule().find("8659"), std::string::npos) << plan.longhorn().rule();
    const bool mtime_bug = std::string(version) <= "v1.5.3";
    EXPECT_EQ(plan.longhorn().rule().find("7714") != std::string::npos, mtime_bug) << plan.longhorn().rule();
  }
}

// v1.5.6+ (1.5 line), v1.6.3+, v1.7.0: the largest head allocated size wins, even against a newer mtime.
TEST(LonghornRules, FixedVersionsKeepTheLargestHead) {
  for (const char* version : {"v1.5.6", "v1.6.3", "v1.7.0", "v1.8.1"}) {
    SCOPED_TRACE(version);
    auto plan = plan_for(newer_vs_bigger(), version);
    EXPECT_TRUE(plan.longhorn().deterministic());
    EXPECT_EQ(outcomes(plan), (std::set<std::set<std::string>>{{dir_of("bbbbbbbb")}}));
    EXPECT_EQ(ranked(plan, "bbbbbbbb").longhorn(), v1::LONGHORN_KEEP);
    EXPECT_EQ(ranked(plan, "aaaaaaaa").longhorn(), v1::LONGHORN_FAIL);
    EXPECT_NE(ranked(plan, "aaaaaaaa").longhorn_reason().find("smaller"), std::string::npos);
  }
  // The 1.5.x fix is inferred, and the plan says so.
  auto plan = plan_for(newer_vs_bigger(), "v1.5.6");
  bool said = false;
  for (const auto& note : plan.longhorn().notes()) said = said || note.find("inferred") != std::string::npos;
  EXPECT_TRUE(said);
}

// Sentinel ranks by head mtime (no counters when disabled); v1.7.0 keeps the bigger head: a warning says so.
TEST(LonghornRules, WarnsWhenLonghornKeepsAnotherReplica) {
  auto plan = plan_for(newer_vs_bigger(), "v1.7.0");
  ASSERT_EQ(plan.recommended_size(), 1);
  EXPECT_EQ(plan.recommended(0).dir(), dir_of("aaaaaaaa"));
  bool warned = false;
  for (const auto& w : plan.warnings()) {
    warned =
        warned || (w.find("LONGHORN DIFFERS") != std::string::npos && w.find(dir_of("bbbbbbbb")) != std::string::npos);
  }
  EXPECT_TRUE(warned);
  // With the same content, Longhorn keeping the bigger one is harmless: both are recommended, no warning.
  auto same = newer_vs_bigger();
  same[0] = ReplicaBuilder(kVolume, "aaaaaaaa").no_counter().mtime_offset(0).head_allocated(1 * kMiB).digest("d1");
  same[1] =
      ReplicaBuilder(kVolume, "bbbbbbbb").no_counter().mtime_offset(-2 * kSecond).head_allocated(8 * kMiB).digest("d1");
  auto equal_plan = plan_for(same, "v1.7.0");
  EXPECT_EQ(equal_plan.recommended_size(), 2);
  EXPECT_TRUE(equal_plan.warnings().empty()) << equal_plan.warnings(0);
}

// The 5 s window: t + 5 s > newest. 4.999 s older is a candidate; exactly 5 s and 7 s older are not.
TEST(LonghornRules, FiveSecondWindow) {
  std::vector<v1::Replica> replicas = {
      ReplicaBuilder(kVolume, "newest00").no_counter().mtime_offset(0).head_allocated(1 * kMiB),
      ReplicaBuilder(kVolume, "inside00").no_counter().mtime_offset(-4'999'999'999).head_allocated(2 * kMiB),
      ReplicaBuilder(kVolume, "edge0000").no_counter().mtime_offset(-5 * kSecond).head_allocated(64 * kMiB),
      ReplicaBuilder(kVolume, "outside0").no_counter().mtime_offset(-7 * kSecond).head_allocated(64 * kMiB)};
  for (const char* version : {"v1.5.3", "v1.7.0", ""}) {
    SCOPED_TRACE(version);
    auto plan = plan_for(replicas, version);
    EXPECT_EQ(ranked(plan, "edge0000").longhorn(), v1::LONGHORN_FAIL);
    EXPECT_EQ(ranked(plan, "outside0").longhorn(), v1::LONGHORN_FAIL);
    EXPECT_NE(ranked(plan, "outside0").longhorn_reason().find("5 s"), std::string::npos);
    std::set<std::string> winners;
    for (const auto& o : outcomes(plan)) winners.insert(o.begin(), o.end());
    if (std::string(version) == "v1.7.0") {
      EXPECT_EQ(winners, (std::set<std::string>{dir_of("inside00")}));  // larger head among the two candidates
    } else {
      EXPECT_EQ(winners, (std::set<std::string>{dir_of("newest00"), dir_of("inside00")}));
    }
  }
  // Only one candidate: deterministic in every version, even the buggy ones.
  std::vector<v1::Replica> one = {replicas[0], replicas[3]};
  for (const char* version : {"v1.4.0", "v1.5.3", "v1.6.0", "v1.7.0"}) {
    auto plan = plan_for(one, version);
    EXPECT_TRUE(plan.longhorn().deterministic()) << version;
    EXPECT_EQ(outcomes(plan), (std::set<std::set<std::string>>{{dir_of("newest00")}})) << version;
  }
}

// Found by tests/fuzz/fuzz_planner: the window added 5 s to a head mtime, which overflows near the end of the int64
// range, so a replica 1 s older than the newest fell out of the window (and UBSan aborted).
TEST(LonghornRules, FiveSecondWindowAtTheEndOfTheInt64Range) {
  v1::Replica newest = ReplicaBuilder(kVolume, "newest00").no_counter().head_allocated(1 * kMiB);
  v1::Replica inside = ReplicaBuilder(kVolume, "inside00").no_counter().head_allocated(2 * kMiB);
  v1::Replica outside = ReplicaBuilder(kVolume, "outside0").no_counter().head_allocated(64 * kMiB);
  newest.set_head_mtime_ns(INT64_MAX);
  inside.set_head_mtime_ns(INT64_MAX - kSecond);
  outside.set_head_mtime_ns(INT64_MIN);
  for (const char* version : {"v1.5.3", "v1.7.0"}) {
    SCOPED_TRACE(version);
    auto plan = plan_for({newest, inside, outside}, version);
    EXPECT_NE(ranked(plan, "inside00").longhorn(), v1::LONGHORN_FAIL) << ranked(plan, "inside00").longhorn_reason();
    EXPECT_EQ(ranked(plan, "outside0").longhorn(), v1::LONGHORN_FAIL);
    EXPECT_NE(ranked(plan, "outside0").longhorn_reason().find("18446744074 s older"), std::string::npos)
        << ranked(plan, "outside0").longhorn_reason();
    std::set<std::string> winners;
    for (const auto& o : outcomes(plan)) winners.insert(o.begin(), o.end());
    if (std::string(version) == "v1.7.0") {
      EXPECT_EQ(winners, (std::set<std::string>{dir_of("inside00")}));
    } else {
      EXPECT_EQ(winners, (std::set<std::string>{dir_of("newest00"), dir_of("inside00")}));
    }
  }
}

// v1.7.0 ties: equal head size goes to the newer mtime; equal size and mtime depends on the engine's replica
// list order, which Sentinel cannot see: both are possible.
TEST(LonghornRules, FixedRuleTies) {
  auto plan =
      plan_for({ReplicaBuilder(kVolume, "older000").no_counter().mtime_offset(-1 * kSecond).head_allocated(kMiB),
                ReplicaBuilder(kVolume, "newer000").no_counter().mtime_offset(0).head_allocated(kMiB)},
               "v1.7.0");
  EXPECT_EQ(outcomes(plan), (std::set<std::set<std::string>>{{dir_of("newer000")}}));
  EXPECT_NE(ranked(plan, "older000").longhorn_reason().find("older"), std::string::npos);

  auto tie = plan_for({ReplicaBuilder(kVolume, "first000").no_counter().head_allocated(kMiB).digest("x"),
                       ReplicaBuilder(kVolume, "second00").no_counter().head_allocated(kMiB).digest("y")},
                      "v1.7.0");
  EXPECT_FALSE(tie.longhorn().deterministic());
  EXPECT_EQ(outcomes(tie), (std::set<std::set<std::string>>{{dir_of("first000")}, {dir_of("second00")}}));
  EXPECT_NE(ranked(tie, "first000").longhorn_reason().find("replica list"), std::string::npos);
  // Possible winners with different content: divergent.
  EXPECT_TRUE(tie.divergent());
}

TEST(LonghornRules, UnknownVersionAndOldVersions) {
  auto unknown = plan_for(newer_vs_bigger(), "");
  EXPECT_EQ(unknown.longhorn_version(), "unknown");
  EXPECT_EQ(outcomes(unknown).size(), 2u);
  auto old = plan_for(newer_vs_bigger(), "v1.3.2");
  EXPECT_EQ(outcomes(old).size(), 2u);
  EXPECT_NE(old.longhorn().rule().find("not modelled"), std::string::npos) << old.longhorn().rule();
}

TEST(LonghornRules, CounterEnabledHighestWinsTiesSurvive) {
  auto plan = plan_for({ReplicaBuilder(kVolume, "high0000").counter(20).mtime_offset(-60 * kSecond),
                        ReplicaBuilder(kVolume, "high0001").counter(20).mtime_offset(-30 * kSecond),
                        ReplicaBuilder(kVolume, "low00000").counter(19).mtime_offset(0).head_allocated(64 * kMiB)},
                       "v1.5.3");
  EXPECT_EQ(plan.revision_counter_mode(), v1::LonghornPrediction::ENABLED);
  EXPECT_TRUE(plan.longhorn().deterministic());
  EXPECT_EQ(outcomes(plan), (std::set<std::set<std::string>>{{dir_of("high0000"), dir_of("high0001")}}));
  EXPECT_EQ(ranked(plan, "low00000").longhorn(), v1::LONGHORN_FAIL);
  // Sentinel ranks by counter first too, then mtime.
  EXPECT_EQ(plan.replicas(0).dir(), dir_of("high0001"));
  // The same replicas under a disabled counter: only the newest is inside the window.
  auto disabled = plan_for({ReplicaBuilder(kVolume, "high0000").counter(20).mtime_offset(-60 * kSecond),
                            ReplicaBuilder(kVolume, "low00000").counter(19).mtime_offset(0)},
                           "v1.5.3", RevisionCounterChoice::kDisabled);
  EXPECT_EQ(outcomes(disabled), (std::set<std::set<std::string>>{{dir_of("low00000")}}));
  EXPECT_EQ(disabled.replicas(0).dir(), dir_of("low00000"));  // stale counters are not ranked on
}

TEST(LonghornRules, EngineStartDrops) {
  auto plan = plan_for(
      {ReplicaBuilder(kVolume, "good0000").counter(5), ReplicaBuilder(kVolume, "rebuild0").counter(9).rebuilding(),
       ReplicaBuilder(kVolume, "errored0").counter(9).error("I/O error"),
       ReplicaBuilder(kVolume, "smaller0").counter(9).size(512 * kMiB),
       ReplicaBuilder(kVolume, "sector00").counter(9).sector_size(4096),
       ReplicaBuilder(kVolume, "broken00").counter(9).broken(v1::Finding::BROKEN_PARENT)},
      "v1.5.3");
  EXPECT_EQ(outcomes(plan), (std::set<std::set<std::string>>{{dir_of("good0000")}}));
  for (const char* dropped : {"rebuild0", "errored0", "smaller0", "sector00", "broken00"}) {
    EXPECT_EQ(ranked(plan, dropped).longhorn(), v1::LONGHORN_DROP) << dropped;
    EXPECT_FALSE(ranked(plan, dropped).usable()) << dropped;
  }
  // The only replica, Rebuilding: ResetRebuild keeps it; Sentinel recommends it only as a last resort.
  auto alone = plan_for({ReplicaBuilder(kVolume, "rebuild0").counter(9).rebuilding()}, "v1.5.3");
  EXPECT_EQ(outcomes(alone), (std::set<std::set<std::string>>{{dir_of("rebuild0")}}));
  EXPECT_TRUE(alone.last_resort());
  ASSERT_EQ(alone.recommended_size(), 1);
  // Nothing survives: the volume cannot start.
  auto none = plan_for({ReplicaBuilder(kVolume, "errored0").error("x"), ReplicaBuilder(kVolume, "errored1").error("y")},
                       "v1.5.3");
  EXPECT_EQ(outcomes(none), (std::set<std::set<std::string>>{{}}));
  EXPECT_EQ(none.longhorn_would_keep_size(), 0);
}

// The same rules on real trees: sentinel-gen's writer makes two replicas without revision.counter (head mtimes
// 3 s apart, heads of 256 KiB and 2 MiB), the scanner reads them, the planner predicts per version.
TEST(LonghornRules, GeneratedTreesWithoutRevisionCounter) {
  testing::TempDir tmp;
  const std::string disk = tmp.path() + "/disk";
  ASSERT_TRUE(treegen::write_disk(disk, "disk-1", "7c1f3e2a-0b4d-4c5e-8f6a-9b0c1d2e3f4a").ok());
  const int64_t base = treegen::kDefaultBaseTimeNs;
  auto spec = [&](const std::string& suffix, int64_t head_mtime, uint64_t head_bytes) {
    treegen::ReplicaSpec r;
    r.dir = dir_of(suffix);
    r.size = static_cast<int64_t>(64 * kMiB);
    r.dirty = true;
    r.revision_counter = std::nullopt;  // revision counter disabled: no file
    treegen::LayerSpec snap;
    snap.file = "volume-snap-5d0c3a1e-7b2f-4e6a-9c8d-1f0e2d3c4b5a.img";
    snap.writes = {{0, 1 * kMiB, 0}};
    snap.mtime_ns = base;
    treegen::LayerSpec head;
    head.file = "volume-head-001.img";
    head.writes = {{8 * kMiB, head_bytes, 0}};
    head.mtime_ns = head_mtime;
    r.layers = {snap, head};
    return r;
  };
  ASSERT_TRUE(treegen::write_replica(disk + "/replicas", spec("newer001", base + 600 * kSecond, 256 * 1024)).ok());
  ASSERT_TRUE(treegen::write_replica(disk + "/replicas", spec("bigger01", base + 597 * kSecond, 2 * kMiB)).ok());
  scanner::PosixFileSystem fs;
  v1::Inventory scanned = scanner::scan_disks(fs, {disk}, "node-a", {});
  // One node per replica, as in a real cluster.
  std::vector<NodeInventory> inventories;
  for (const auto& r : scanned.replicas()) {
    NodeInventory n;
    n.inventory.set_node(r.dir() == dir_of("newer001") ? "worker-1" : "worker-2");
    *n.inventory.add_replicas() = r;
    inventories.push_back(std::move(n));
  }
  for (const auto& [version, expected] : std::vector<std::pair<std::string, std::set<std::set<std::string>>>>{
           {"v1.5.3", {{dir_of("newer001")}, {dir_of("bigger01")}}},
           {"v1.6.0", {{dir_of("newer001")}, {dir_of("bigger01")}}},
           {"v1.6.3", {{dir_of("bigger01")}}},
           {"v1.7.0", {{dir_of("bigger01")}}}}) {
    SCOPED_TRACE(version);
    PlanOptions options;
    options.longhorn_version = version;
    auto result = make_salvage_plan(kVolume, inventories, options);
    ASSERT_TRUE(result.ok()) << result.message;
    EXPECT_EQ(result.plan.revision_counter_mode(), v1::LonghornPrediction::DISABLED);
    EXPECT_EQ(outcomes(result.plan), expected);
    EXPECT_EQ(result.plan.recommended(0).dir(), dir_of("newer001"));  // newest head mtime
  }
}

}  // namespace
}  // namespace sentinel::salvage
