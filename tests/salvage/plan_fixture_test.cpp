// The planner on Longhorn's own fixture replicas (../shared/fixtures, written by longhorn-engine v1.5.3):
// extracted, scanned (quick, and deep with chunk lists), split per node as `node_hint` says, then planned.
// Checked against the case's expected.json (read from the file, never copied here):
// - the prediction of Longhorn's own choice equals `engine_controller_start` (run_1 and the 20 more runs), and
//   under the revision counter disabled (v1.5.3) its possible outcomes contain every outcome the what-if runs saw;
// - the recommended replica is the one the engine kept (the README's answer; case4 keeps both and is divergent,
//   so one of them is recommended and the pair is reported with the differing range);
// - the evidence the plan shows (counter, head mtime, head allocated size) equals the replica's gRPC view.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "salvage/planner.h"
#include "scanner/deep_scan.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::salvage {
namespace {

using Json = nlohmann::json;
using DirSet = std::set<std::string>;

const char* const kCases[] = {"case3-salvage-pair", "case4-divergent", "case5a-dirty", "case5b-rebuilding",
                              "case5c-removed-snapshot"};

// One extracted and scanned case (extraction and deep scans are done once per case for the whole suite).
struct ScannedCase {
  Json expected;
  std::string volume;
  std::vector<NodeInventory> quick;  // one inventory per node_hint
  std::vector<NodeInventory> deep;   // the same, deep-scanned with chunk lists
};

std::vector<NodeInventory> split_by_node(const v1::Inventory& scanned, const Json& expected) {
  std::map<std::string, std::string> node_of;  // dir -> node_hint
  for (const auto& r : expected.at("replicas")) node_of[r.at("dir")] = r.at("node_hint");
  std::map<std::string, NodeInventory> by_node;
  for (const auto& replica : scanned.replicas()) {
    const std::string node = node_of.at(replica.dir());
    auto& inventory = by_node[node];
    inventory.inventory.set_node(node);
    inventory.inventory.set_scanned_at_ns(scanned.scanned_at_ns());
    *inventory.inventory.add_replicas() = replica;
  }
  std::vector<NodeInventory> out;
  for (auto& [node, inventory] : by_node) out.push_back(std::move(inventory));
  return out;
}

const ScannedCase& scanned_case(const std::string& name) {
  static std::map<std::string, ScannedCase> cache;
  static testing::TempDir tmp;
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  ScannedCase c;
  c.expected = Json::parse(testing::read_file(testing::fixtures_dir() + "/" + name + ".expected.json"));
  c.volume = c.expected.at("volume_name");
  const std::string disk = testing::extract_case_as_disk(name, tmp.path());
  scanner::PosixFileSystem fs;
  v1::Inventory quick = scanner::scan_disks(fs, {disk}, "fixture", {});
  v1::Inventory deep = quick;
  scanner::DeepScanOptions deep_options;
  deep_options.keep_chunks = true;
  scanner::deep_scan_inventory(fs, &deep, deep_options);
  c.quick = split_by_node(quick, c.expected);
  c.deep = split_by_node(deep, c.expected);
  return cache.emplace(name, std::move(c)).first->second;
}

v1::SalvagePlan plan_of(const ScannedCase& c, const std::vector<NodeInventory>& inventories, const std::string& version,
                        RevisionCounterChoice counter = RevisionCounterChoice::kAuto) {
  PlanOptions options;
  options.longhorn_version = version;
  options.revision_counter = counter;
  PlanResult result = make_salvage_plan(c.volume, inventories, options);
  EXPECT_TRUE(result.ok()) << result.message;
  return result.plan;
}

// "dirA=RW,dirB=ERR" (the outcome keys of expected.json) -> the RW dirs.
DirSet rw_dirs_of_outcome_key(const std::string& key) {
  DirSet rw;
  size_t start = 0;
  while (start < key.size()) {
    size_t end = key.find(',', start);
    if (end == std::string::npos) end = key.size();
    const std::string part = key.substr(start, end - start);
    const size_t eq = part.rfind('=');
    if (part.substr(eq + 1) == "RW") rw.insert(part.substr(0, eq));
    start = end + 1;
  }
  return rw;
}

DirSet rw_dirs_of_run_1(const Json& expected) {
  DirSet rw;
  for (const auto& [dir, mode] : expected.at("engine_controller_start").at("run_1").at("replica_modes").items()) {
    if (mode == "RW") rw.insert(dir);
  }
  return rw;
}

std::set<DirSet> possible_outcomes(const v1::SalvagePlan& plan) {
  std::set<DirSet> out;
  for (const auto& o : plan.longhorn().possible_outcomes()) out.insert(DirSet(o.keep().begin(), o.keep().end()));
  return out;
}

class PlanFixture : public ::testing::TestWithParam<const char*> {};

TEST_P(PlanFixture, PredictsTheEngineStartRecordedByLonghorn) {
  const ScannedCase& c = scanned_case(GetParam());
  const Json& engine = c.expected.at("engine_controller_start");
  const DirSet rw = rw_dirs_of_run_1(c.expected);
  for (const auto* inventories : {&c.quick, &c.deep}) {
    const v1::SalvagePlan plan = plan_of(c, *inventories, "v1.5.3");
    EXPECT_EQ(plan.revision_counter_mode() == v1::LonghornPrediction::DISABLED,
              engine.at("run_1").at("revision_counter_disabled").get<bool>());
    ASSERT_TRUE(plan.longhorn().deterministic()) << plan.longhorn().rule();
    EXPECT_EQ(possible_outcomes(plan), std::set<DirSet>{rw});
    EXPECT_EQ(DirSet(plan.longhorn_would_keep().begin(), plan.longhorn_would_keep().end()), rw);
    for (const auto& r : plan.replicas()) {
      const std::string mode = engine.at("run_1").at("replica_modes").at(r.dir());
      if (mode == "RW") {
        EXPECT_EQ(r.longhorn(), v1::LONGHORN_KEEP) << r.dir();
      } else {
        EXPECT_TRUE(r.longhorn() == v1::LONGHORN_FAIL || r.longhorn() == v1::LONGHORN_DROP) << r.dir();
      }
    }
    if (engine.contains("outcome_counts_over_20_more_runs")) {
      for (const auto& [key, count] : engine.at("outcome_counts_over_20_more_runs").items()) {
        EXPECT_EQ(rw_dirs_of_outcome_key(key), rw) << key << " seen " << count << " times";
      }
    }
  }
}

TEST_P(PlanFixture, WhatIfRevisionCounterDisabledContainsEveryObservedOutcome) {
  const ScannedCase& c = scanned_case(GetParam());
  const Json& engine = c.expected.at("engine_controller_start");
  const char* kWhatIf = "whatif_started_with_revision_counter_disabled_and_salvage_20_runs";
  const v1::SalvagePlan plan = plan_of(c, c.deep, "v1.5.3", RevisionCounterChoice::kDisabled);
  if (!engine.contains(kWhatIf)) {
    // No what-if runs for a single replica: it is the only candidate, so it stays, as in run_1.
    EXPECT_TRUE(plan.longhorn().deterministic());
    EXPECT_EQ(possible_outcomes(plan), std::set<DirSet>{rw_dirs_of_run_1(c.expected)});
    return;
  }
  const std::set<DirSet> possible = possible_outcomes(plan);
  for (const auto& outcome : possible) EXPECT_EQ(outcome.size(), 1u) << "exactly one replica survives a salvage";
  for (const auto& [key, count] : engine.at(kWhatIf).items()) {
    EXPECT_EQ(possible.count(rw_dirs_of_outcome_key(key)), 1u) << key << " was seen " << count << " times";
  }
  // A prediction of one outcome must be the only one the engine reached.
  if (plan.longhorn().deterministic()) {
    EXPECT_EQ(engine.at(kWhatIf).size(), 1u);
  }
}

TEST_P(PlanFixture, RecommendsTheReplicaTheCaseSays) {
  const ScannedCase& c = scanned_case(GetParam());
  const DirSet rw = rw_dirs_of_run_1(c.expected);
  const v1::SalvagePlan plan = plan_of(c, c.deep, "v1.5.3");
  ASSERT_GE(plan.recommended_size(), 1);
  EXPECT_EQ(rw.count(plan.recommended(0).dir()), 1u) << plan.recommended(0).dir();
  if (rw.size() == 1) {
    ASSERT_EQ(plan.recommended_size(), 1);
    EXPECT_EQ(plan.recommended(0).dir(), *rw.begin());
  }
  for (const auto& r : c.expected.at("replicas")) {
    if (r.at("dir") != plan.recommended(0).dir()) continue;
    EXPECT_EQ(plan.recommended(0).node(), r.at("node_hint").get<std::string>());
    // A Rebuilding replica is never "usable": recommended only as the last resort, and the plan says so.
    const bool rebuilding = r.at("replica_readonly_view").at("ReadInfo_volume_meta").at("Rebuilding");
    EXPECT_EQ(plan.last_resort(), rebuilding);
  }
  EXPECT_FALSE(plan.recommendation_reason().empty());
}

TEST_P(PlanFixture, EvidenceEqualsTheReplicaGrpcView) {
  const ScannedCase& c = scanned_case(GetParam());
  const v1::SalvagePlan plan = plan_of(c, c.quick, "v1.5.3");
  ASSERT_EQ(plan.replicas_size(), static_cast<int>(c.expected.at("replicas").size()));
  for (const auto& r : c.expected.at("replicas")) {
    const Json& rpc = r.at("replica_opened_view").at("rpc_view");
    bool found = false;
    for (const auto& ranked : plan.replicas()) {
      if (ranked.dir() != r.at("dir")) continue;
      found = true;
      EXPECT_EQ(ranked.revision_counter(), rpc.at("revisionCounter").get<int64_t>());
      EXPECT_EQ(ranked.head_mtime_ns(), rpc.at("lastModifyTime_ns").get<int64_t>());
      EXPECT_EQ(ranked.head_allocated_bytes(), rpc.at("headFileSize_allocated").get<uint64_t>());
    }
    EXPECT_TRUE(found) << r.at("dir");
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, PlanFixture, ::testing::ValuesIn(kCases), [](const auto& info) {
  std::string name = info.param;
  for (char& ch : name) {
    if (ch == '-') ch = '_';
  }
  return name;
});

// case4: equal counters, one 4 KiB head write carried different bytes: divergent, and the range that differs
// holds the offset of every write that reached only some of the replicas (from the case's history).
TEST(PlanFixtureDivergence, Case4IsDivergentAtTheWriteThatDiffered) {
  const ScannedCase& c = scanned_case("case4-divergent");
  std::set<uint64_t> diverging_offsets;
  const size_t replica_count = c.expected.at("replicas").size();
  for (const auto& op : c.expected.at("history")) {
    if (op.at("op") == "write" && op.at("replicas").size() < replica_count)
      diverging_offsets.insert(op.at("offset").get<uint64_t>());
  }
  ASSERT_FALSE(diverging_offsets.empty());

  const v1::SalvagePlan plan = plan_of(c, c.deep, "v1.5.3");
  ASSERT_TRUE(plan.divergent());
  ASSERT_EQ(plan.divergences_size(), 1);
  const auto& d = plan.divergences(0);
  ASSERT_TRUE(d.ranges_known()) << d.note();
  for (uint64_t offset : diverging_offsets) {
    bool covered = false;
    for (const auto& range : d.differing_ranges()) {
      covered = covered || (offset >= range.offset() && offset < range.offset() + range.length());
    }
    EXPECT_TRUE(covered) << "offset " << offset << " is not in a differing range";
  }
  EXPECT_EQ(d.differing_chunks(), 1u);  // one 4 KiB write: one 4 MiB chunk
  EXPECT_EQ(plan.recommended_size(), 1);
  EXPECT_EQ(plan.longhorn_would_keep_size(), 2);  // Longhorn keeps both RW and does not notice
  bool warned = false;
  for (const auto& w : plan.warnings()) warned = warned || w.find("DIVERGENT") != std::string::npos;
  EXPECT_TRUE(warned);
  // The quick scan cannot tell: not divergent, and says it did not check.
  const v1::SalvagePlan quick = plan_of(c, c.quick, "v1.5.3");
  EXPECT_FALSE(quick.divergent());
  EXPECT_FALSE(quick.divergence_checked());
}

// case3: A took 3 writes more; the plan recommends A alone (B's content differs) and Longhorn agrees: no warning.
TEST(PlanFixtureDivergence, Case3RecommendsTheReplicaThatKeptWriting) {
  const ScannedCase& c = scanned_case("case3-salvage-pair");
  const v1::SalvagePlan plan = plan_of(c, c.deep, "v1.5.3");
  ASSERT_EQ(plan.recommended_size(), 1);
  EXPECT_FALSE(plan.divergent());
  EXPECT_TRUE(plan.warnings().empty()) << plan.warnings(0);
  EXPECT_NE(plan.recommendation_reason().find("higher revision counter"), std::string::npos)
      << plan.recommendation_reason();
}

}  // namespace
}  // namespace sentinel::salvage
