// The planner on inventories built in memory: usability reasons, ranking, the recommended set with and without
// digests, divergence with chunk ranges, duplicates across inventories, volume-name validation and the steps.
#include "salvage/planner.h"

#include <gtest/gtest.h>

#include <regex>

#include "salvage/shell_words.h"
#include "salvage/steps.h"
#include "tests/salvage/replica_builder.h"

namespace sentinel::salvage {
namespace {

using testing::kMiB;
using testing::kSecond;
using testing::node_inventory;
using testing::ReplicaBuilder;

constexpr const char* kVolume = "pvc-11111111-2222-4333-8444-555555555555";

std::string dir_of(const std::string& suffix) { return std::string(kVolume) + "-" + suffix; }

v1::SalvagePlan plan_of(const std::vector<NodeInventory>& inventories, const std::string& version = "v1.5.3") {
  PlanOptions options;
  options.longhorn_version = version;
  PlanResult result = make_salvage_plan(kVolume, inventories, options);
  EXPECT_TRUE(result.ok()) << result.message;
  return result.plan;
}

const v1::RankedReplica& ranked(const v1::SalvagePlan& plan, const std::string& suffix) {
  for (const auto& r : plan.replicas()) {
    if (r.dir() == dir_of(suffix)) return r;
  }
  throw std::runtime_error("no replica " + suffix);
}

bool any_contains(const google::protobuf::RepeatedPtrField<std::string>& texts, const std::string& needle) {
  for (const auto& t : texts) {
    if (t.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(Planner, UnusableReasons) {
  auto plan = plan_of({node_inventory(
      "worker-1", {ReplicaBuilder(kVolume, "good0000").counter(3), ReplicaBuilder(kVolume, "good0001").counter(3),
                   ReplicaBuilder(kVolume, "rebuild0").counter(9).rebuilding(),
                   ReplicaBuilder(kVolume, "errored0").counter(9).error("boom"),
                   ReplicaBuilder(kVolume, "smaller0").counter(9).size(512 * kMiB),
                   ReplicaBuilder(kVolume, "chain000").counter(9).broken(v1::Finding::CHAIN_CYCLE),
                   ReplicaBuilder(kVolume, "crcbad00")
                       .counter(9)
                       .finding(v1::Finding::CHECKSUM_MISMATCH, v1::Finding::ERROR, "crc differs"),
                   ReplicaBuilder(kVolume, "zero0000")
                       .counter(0)
                       .finding(v1::Finding::COUNTER_ZERO_WITH_DATA, v1::Finding::WARNING, "0 with data")})});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"rebuild0", "Rebuilding"},   {"errored0", "Error set"},         {"smaller0", "Size 536870912 differs"},
      {"chain000", "broken chain"}, {"crcbad00", "snapshot checksum"}, {"zero0000", "revision counter 0 with data"}};
  for (const auto& [suffix, reason] : expected) {
    const auto& r = ranked(plan, suffix);
    EXPECT_FALSE(r.usable()) << suffix;
    EXPECT_TRUE(any_contains(r.reasons(), reason)) << suffix << " lacks \"" << reason << "\"";
    EXPECT_GT(r.rank(), 2u) << suffix << ": unusable replicas rank after the usable ones";
  }
  EXPECT_TRUE(ranked(plan, "good0000").usable());
  // Higher counters on unusable replicas do not win.
  EXPECT_EQ(plan.recommended(0).dir().substr(plan.recommended(0).dir().size() - 8, 4), "good");
  EXPECT_FALSE(plan.last_resort());
}

// With the revision counter disabled the file can be stale: a 0 next to data is a caveat, not a blocker.
TEST(Planner, StaleZeroCounterDoesNotBlockWhenTheCounterIsDisabled) {
  std::vector<NodeInventory> inventories = {node_inventory(
      "worker-1", {ReplicaBuilder(kVolume, "zero0000").counter(0).finding(v1::Finding::COUNTER_ZERO_WITH_DATA,
                                                                          v1::Finding::WARNING, "0 with data")})};
  PlanOptions options;
  options.revision_counter = RevisionCounterChoice::kDisabled;
  auto disabled = make_salvage_plan(kVolume, inventories, options);
  ASSERT_TRUE(disabled.ok());
  EXPECT_TRUE(disabled.plan.replicas(0).usable());
  EXPECT_TRUE(any_contains(disabled.plan.replicas(0).reasons(), "may be stale"));
  options.revision_counter = RevisionCounterChoice::kEnabled;
  EXPECT_FALSE(make_salvage_plan(kVolume, inventories, options).plan.replicas(0).usable());
}

TEST(Planner, RanksByCounterThenMtimeThenContent) {
  auto plan = plan_of(
      {node_inventory("worker-1", {ReplicaBuilder(kVolume, "c10old00").counter(10).mtime_offset(-9 * kSecond)}),
       node_inventory("worker-2", {ReplicaBuilder(kVolume, "c10new00").counter(10).mtime_offset(0)}),
       node_inventory("worker-3", {ReplicaBuilder(kVolume, "c11old00").counter(11).mtime_offset(-60 * kSecond)})});
  ASSERT_EQ(plan.replicas_size(), 3);
  EXPECT_EQ(plan.replicas(0).dir(), dir_of("c11old00"));
  EXPECT_EQ(plan.replicas(1).dir(), dir_of("c10new00"));
  EXPECT_EQ(plan.replicas(2).dir(), dir_of("c10old00"));
  EXPECT_TRUE(any_contains(plan.replicas(0).reasons(), "higher revision counter (11 vs 10)"));
  EXPECT_TRUE(any_contains(plan.replicas(2).reasons(), "older head mtime"));
  EXPECT_EQ(plan.replicas(0).rank(), 1u);
  EXPECT_EQ(plan.replicas(0).node(), "worker-3");
}

// Found by tests/fuzz/fuzz_planner: head mtimes come from inventories and may be any int64. Ranking two at the
// ends of the range subtracted them with a signed overflow (the reason read "1 ns apart"; UBSan aborted).
TEST(Planner, HeadMtimesAtTheEndsOfTheInt64RangeDoNotOverflow) {
  v1::Replica newest = ReplicaBuilder(kVolume, "newest00").counter(7);
  v1::Replica oldest = ReplicaBuilder(kVolume, "oldest00").counter(7);
  newest.set_head_mtime_ns(INT64_MAX);
  oldest.set_head_mtime_ns(INT64_MIN);
  auto plan = plan_of({node_inventory("worker-1", {oldest}), node_inventory("worker-2", {newest})});
  ASSERT_EQ(plan.replicas_size(), 2);
  EXPECT_EQ(plan.replicas(0).dir(), dir_of("newest00"));
  EXPECT_TRUE(any_contains(plan.replicas(0).reasons(), "newer head mtime (18446744074 s apart)"))
      << plan.replicas(0).reasons(0);
  EXPECT_TRUE(any_contains(plan.replicas(1).reasons(), "older head mtime (18446744074 s apart)"));
}

TEST(Planner, RecommendsEveryReplicaWithTheBestContent) {
  auto plan =
      plan_of({node_inventory("worker-1", {ReplicaBuilder(kVolume, "best0000").counter(7).digest("aaa")}),
               node_inventory("worker-2",
                              {ReplicaBuilder(kVolume, "same0000").counter(7).mtime_offset(-kSecond).digest("aaa")}),
               node_inventory("worker-3",
                              {ReplicaBuilder(kVolume, "other000").counter(7).mtime_offset(-kSecond).digest("bbb")})});
  ASSERT_EQ(plan.recommended_size(), 2);
  EXPECT_EQ(plan.recommended(0).dir(), dir_of("best0000"));
  EXPECT_EQ(plan.recommended(0).node(), "worker-1");
  EXPECT_EQ(plan.recommended(0).disk(), "/var/lib/longhorn");
  EXPECT_EQ(plan.recommended(1).dir(), dir_of("same0000"));
  EXPECT_TRUE(plan.content_compared());
  EXPECT_TRUE(ranked(plan, "same0000").recommended());
  EXPECT_FALSE(ranked(plan, "other000").recommended());
  // Equal counters, different content: divergent (Longhorn keeps all three RW).
  EXPECT_TRUE(plan.divergent());
  EXPECT_EQ(plan.divergences_size(), 2);  // best vs other, same vs other
  EXPECT_TRUE(any_contains(plan.warnings(), "DIVERGENT"));
  EXPECT_TRUE(any_contains(plan.warnings(), "LONGHORN DIFFERS"));
}

TEST(Planner, WithoutDigestsRecommendsOnlyTheBestAndSaysWhy) {
  auto plan =
      plan_of({node_inventory("worker-1", {ReplicaBuilder(kVolume, "best0000").counter(7)}),
               node_inventory("worker-2", {ReplicaBuilder(kVolume, "next0000").counter(7).mtime_offset(-kSecond)})});
  ASSERT_EQ(plan.recommended_size(), 1);
  EXPECT_FALSE(plan.content_compared());
  EXPECT_FALSE(plan.divergence_checked());
  EXPECT_NE(plan.recommendation_reason().find("--deep"), std::string::npos) << plan.recommendation_reason();
}

TEST(Planner, DivergenceRangesComeFromTheChunkLists) {
  const uint64_t chunk = 4 * kMiB;
  auto plan = plan_of(
      {node_inventory("worker-1",
                      {ReplicaBuilder(kVolume, "aaaaaaaa").counter(5).digest("A").chunks({{0, "z"}, {2, "p"}})}),
       node_inventory("worker-2",
                      {ReplicaBuilder(kVolume, "bbbbbbbb").counter(5).digest("B").chunks({{0, "z"}, {2, "q"}})})});
  ASSERT_TRUE(plan.divergent());
  ASSERT_EQ(plan.divergences_size(), 1);
  const auto& d = plan.divergences(0);
  EXPECT_TRUE(d.ranges_known());
  ASSERT_EQ(d.differing_ranges_size(), 1);
  EXPECT_EQ(d.differing_ranges(0).offset(), 2 * chunk);
  EXPECT_EQ(d.differing_ranges(0).length(), chunk);
  EXPECT_EQ(d.a().node(), "worker-1");
  // Both stay RW in Longhorn (equal counters); Sentinel recommends one and warns about the other.
  EXPECT_EQ(plan.longhorn_would_keep_size(), 2);
  EXPECT_EQ(plan.recommended_size(), 1);
  EXPECT_NE(plan.recommendation_reason().find("tied with"), std::string::npos) << plan.recommendation_reason();
  // Without chunk lists the pair is still divergent, the ranges unknown.
  auto no_lists = plan_of({node_inventory("worker-1", {ReplicaBuilder(kVolume, "aaaaaaaa").counter(5).digest("A")}),
                           node_inventory("worker-2", {ReplicaBuilder(kVolume, "bbbbbbbb").counter(5).digest("B")})});
  ASSERT_EQ(no_lists.divergences_size(), 1);
  EXPECT_FALSE(no_lists.divergences(0).ranges_known());
  EXPECT_NE(no_lists.divergences(0).note().find("--chunks"), std::string::npos);
}

// Longhorn does not verify checksums: it keeps the corrupt replica with the highest counter and fails the good
// one. The plan recommends the good one and warns twice: Longhorn keeps another, and fails the recommended one.
TEST(Planner, WarnsWhenLonghornWouldKeepACorruptReplica) {
  auto plan = plan_of({node_inventory("worker-1", {ReplicaBuilder(kVolume, "corrupt0").counter(9).finding(
                                                      v1::Finding::CHECKSUM_MISMATCH, v1::Finding::ERROR, "crc")}),
                       node_inventory("worker-2", {ReplicaBuilder(kVolume, "good0000").counter(8)})});
  ASSERT_EQ(plan.recommended_size(), 1);
  EXPECT_EQ(plan.recommended(0).dir(), dir_of("good0000"));
  EXPECT_EQ(ranked(plan, "corrupt0").longhorn(), v1::LONGHORN_KEEP);
  EXPECT_EQ(ranked(plan, "good0000").longhorn(), v1::LONGHORN_FAIL);
  int differs = 0;
  for (const auto& w : plan.warnings()) differs += w.find("LONGHORN DIFFERS") != std::string::npos ? 1 : 0;
  EXPECT_EQ(differs, 2);
  EXPECT_TRUE(any_contains(plan.warnings(), "would keep worker-1/" + dir_of("corrupt0")));
  EXPECT_TRUE(any_contains(plan.warnings(), "would not keep worker-2/" + dir_of("good0000")));
}

TEST(Planner, LastResortWhenNothingIsUsable) {
  auto plan = plan_of({node_inventory("worker-1", {ReplicaBuilder(kVolume, "rebuild0").counter(9).rebuilding()}),
                       node_inventory("worker-2", {ReplicaBuilder(kVolume, "chain000")
                                                       .counter(9)
                                                       .broken(v1::Finding::MISSING_HEAD)
                                                       .broken(v1::Finding::BROKEN_PARENT)})});
  EXPECT_TRUE(plan.last_resort());
  ASSERT_EQ(plan.recommended_size(), 1);
  EXPECT_EQ(plan.recommended(0).dir(), dir_of("rebuild0"));  // fewer blocking reasons
  EXPECT_TRUE(any_contains(plan.warnings(), "NO USABLE REPLICA"));
}

TEST(Planner, DuplicateInventoriesKeepTheNewestScan) {
  auto older = node_inventory("worker-1", {ReplicaBuilder(kVolume, "aaaaaaaa").counter(5)}, 100);
  auto newer = node_inventory("worker-1", {ReplicaBuilder(kVolume, "aaaaaaaa").counter(6)}, 200);
  auto plan = plan_of({older, newer});
  ASSERT_EQ(plan.replicas_size(), 1);
  EXPECT_EQ(plan.replicas(0).revision_counter(), 6);
  EXPECT_TRUE(any_contains(plan.notes(), "more than one inventory"));
}

TEST(Planner, ErrorsAreValues) {
  PlanOptions options;
  options.longhorn_version = "1.5";
  auto bad = make_salvage_plan(kVolume, std::vector<NodeInventory>{}, options);
  EXPECT_EQ(bad.error, PlanError::kBadOption);
  auto none = make_salvage_plan(kVolume, {node_inventory("worker-1", {ReplicaBuilder("pvc-other", "aaaaaaaa")})}, {});
  EXPECT_EQ(none.error, PlanError::kNoReplicas);
  EXPECT_NE(none.message.find(kVolume), std::string::npos);
  EXPECT_EQ(parse_revision_counter_choice("enabled"), RevisionCounterChoice::kEnabled);
  EXPECT_FALSE(parse_revision_counter_choice("on"));
}

TEST(VolumeName, LonghornRule) {
  EXPECT_EQ(volume_name_problem("pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d"), "");
  EXPECT_EQ(volume_name_problem("db.data-1"), "");
  const std::string trailing = volume_name_problem("pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d~");
  EXPECT_NE(trailing.find("'~' last"), std::string::npos) << trailing;
  for (const char* bad : {"", "a", "-pvc", "pvc-", "Pvc", "pvc_x", "pvc x", "pvc\n", "pvc;rm", "pvc'x"}) {
    EXPECT_NE(volume_name_problem(bad), "") << bad;
  }
  EXPECT_NE(volume_name_problem(std::string(64, 'a')), "");
  EXPECT_EQ(volume_name_problem(std::string(63, 'a')), "");
}

TEST(ShellWord, QuotesOnlyWhatNeedsIt) {
  EXPECT_EQ(shell_word("/var/lib/longhorn"), "/var/lib/longhorn");
  EXPECT_EQ(shell_word("/mnt/my disk"), "'/mnt/my disk'");
  EXPECT_EQ(shell_word("/mnt/it's"), "'/mnt/it'\\''s'");
  EXPECT_EQ(shell_word(""), "''");
}

TEST(Steps, InvalidVolumeNameGivesNoCommandsAndAWarning) {
  const std::string bad = "Bad_Volume";
  VolumeReplicas replicas;
  v1::Replica r = ReplicaBuilder(bad, "aaaaaaaa");
  replicas.replicas.push_back({"worker-1", 0, r});
  auto result = make_salvage_plan(bad, replicas, {});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.plan.steps().empty());
  EXPECT_TRUE(any_contains(result.plan.warnings(), "not a valid Longhorn volume name"));
}

TEST(Steps, CommandsAreExactAndInstructionsAreMarked) {
  auto plan = plan_of({node_inventory("worker-1", {ReplicaBuilder(kVolume, "aaaaaaaa").counter(5).disk("/mnt/disk 2")}),
                       node_inventory("worker-2", {ReplicaBuilder(kVolume, "bbbbbbbb").counter(4)})});
  ASSERT_FALSE(plan.steps().empty());
  const std::regex command(
      "^(kubectl -n longhorn-system (get|delete) (replicas|engines|volumes)\\.longhorn\\.io "
      "(-l longhornvolume=" +
      std::string(kVolume) + "|" + std::string(kVolume) +
      ")( -o custom-columns=[A-Z_:.a-zA-Z,]+)?"
      "|sentinelctl export --replica '/mnt/disk 2/replicas/" +
      dir_of("aaaaaaaa") + "' --output /var/tmp/" + dir_of("aaaaaaaa") + "\\.img)$");
  int commands = 0;
  for (const auto& step : plan.steps()) {
    if (step.rfind("# ", 0) == 0) continue;
    ++commands;
    EXPECT_TRUE(std::regex_match(step, command)) << step;
    EXPECT_NE(step.find(kVolume), std::string::npos) << step;
  }
  EXPECT_EQ(commands, 4);  // export, list the replica CRs, delete the engine, check the volume
  // The one not picked is named in a "keep" instruction.
  bool keep_named = false;
  for (const auto& step : plan.steps()) keep_named = keep_named || step.find(dir_of("bbbbbbbb")) != std::string::npos;
  EXPECT_TRUE(keep_named);
}

}  // namespace
}  // namespace sentinel::salvage
