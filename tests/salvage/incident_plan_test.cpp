// The incident Sentinel was born from, on the generated sample (sentinel-gen incident): the 40 GiB volume
// pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d with a replica on worker-1 and one on worker-2, worker-2's behind.
// Both nodes are scanned as the operator would (quick, then deep); the plan must recommend worker-1's replica,
// say why, and give commands that name the volume exactly with no stray character (a strict pattern each).
#include <gtest/gtest.h>

#include <memory>
#include <regex>

#include "salvage/planner.h"
#include "scanner/deep_scan.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tests/scanner/fixture_support.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::salvage {
namespace {

const std::string kVolume = treegen::kSplitVolume;

struct Incident {
  testing::TempDir tmp;
  std::vector<NodeInventory> quick;
  std::vector<NodeInventory> deep;
  std::string survivor_dir;  // worker-1's replica of the split volume, per the sample's own description
  std::string behind_dir;
};

const Incident& incident() {
  // Made once per process, removed (TempDir) at exit.
  static const std::unique_ptr<Incident> made = [] {
    auto in = std::make_unique<Incident>();
    auto written = treegen::write_incident_sample(in->tmp.path());
    if (!written) throw std::runtime_error("write_incident_sample: " + written.error().message());
    for (const auto& placed : treegen::incident_sample().replicas) {
      if (placed.spec.dir.rfind(kVolume + "-", 0) != 0) continue;
      (placed.node == "worker-1" ? in->survivor_dir : in->behind_dir) = placed.spec.dir;
    }
    scanner::PosixFileSystem fs;
    for (const char* node : {"worker-1", "worker-2"}) {
      NodeInventory quick;
      quick.inventory = scanner::scan_disks(fs, {in->tmp.path() + "/" + node}, node, {});
      NodeInventory deep = quick;
      scanner::DeepScanOptions options;
      options.keep_chunks = true;
      scanner::deep_scan_inventory(fs, &deep.inventory, options);
      in->quick.push_back(std::move(quick));
      in->deep.push_back(std::move(deep));
    }
    return in;
  }();
  return *made;
}

std::string regex_escape(const std::string& text) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, special, R"(\$&)");
}

// Every command a plan may give for the incident, written out in full: the volume name appears exactly,
// followed only by a space or the end of the line.
std::regex strict_command_pattern(const std::string& disk_root) {
  const std::string v = regex_escape(kVolume);
  const std::string columns = "-o custom-columns=[A-Z_]+:\\.[a-zA-Z.]+(,[A-Z_]+:\\.[a-zA-Z.]+)*";
  return std::regex("^(kubectl -n longhorn-system get replicas\\.longhorn\\.io -l longhornvolume=" + v + " " + columns +
                    "|kubectl -n longhorn-system delete engines\\.longhorn\\.io -l longhornvolume=" + v +
                    "|kubectl -n longhorn-system get volumes\\.longhorn\\.io " + v + " " + columns +
                    "|sentinelctl export --replica " + regex_escape(disk_root) + "/worker-[12]/replicas/" + v +
                    "-[a-z0-9]{8} --output /var/tmp/" + v + "-[a-z0-9]{8}\\.img)$");
}

void expect_exact_commands(const v1::SalvagePlan& plan, const std::string& disk_root) {
  const std::regex pattern = strict_command_pattern(disk_root);
  int commands = 0;
  for (const auto& step : plan.steps()) {
    if (step.rfind("# ", 0) == 0) continue;  // an instruction
    ++commands;
    EXPECT_TRUE(std::regex_match(step, pattern)) << "not an exact command: [" << step << "]";
    EXPECT_NE(step.find(kVolume), std::string::npos) << step;
    EXPECT_EQ(step.find('~'), std::string::npos) << step;
    EXPECT_EQ(step.find_first_of("\t\r\n"), std::string::npos) << step;
    EXPECT_NE(step.back(), ' ') << step;
  }
  EXPECT_GE(commands, 4);
}

TEST(IncidentPlan, RecommendsWorker1AndExplainsWhy) {
  const Incident& in = incident();
  ASSERT_FALSE(in.survivor_dir.empty());
  for (const auto* inventories : {&in.quick, &in.deep}) {
    PlanOptions options;
    options.longhorn_version = "v1.5.3";
    auto result = make_salvage_plan(kVolume, *inventories, options);
    ASSERT_TRUE(result.ok()) << result.message;
    const v1::SalvagePlan& plan = result.plan;
    ASSERT_EQ(plan.recommended_size(), 1);
    EXPECT_EQ(plan.recommended(0).node(), "worker-1");
    EXPECT_EQ(plan.recommended(0).dir(), in.survivor_dir);
    EXPECT_EQ(plan.recommended(0).disk(), in.tmp.path() + "/worker-1");
    // Why: the higher revision counter, said in the recommendation and in the replica's own reasons.
    EXPECT_NE(plan.recommendation_reason().find("higher revision counter"), std::string::npos)
        << plan.recommendation_reason();
    ASSERT_EQ(plan.replicas_size(), 2);
    EXPECT_EQ(plan.replicas(0).dir(), in.survivor_dir);
    EXPECT_TRUE(plan.replicas(0).usable());
    EXPECT_EQ(plan.replicas(1).dir(), in.behind_dir);
    EXPECT_EQ(plan.replicas(1).node(), "worker-2");
    // Longhorn agrees (counter enabled): it keeps worker-1's and fails worker-2's; no warning.
    EXPECT_EQ(plan.longhorn_would_keep_size(), 1);
    EXPECT_EQ(plan.longhorn_would_keep(0), in.survivor_dir);
    EXPECT_TRUE(plan.warnings().empty()) << plan.warnings(0);
    EXPECT_FALSE(plan.divergent());
    expect_exact_commands(plan, in.tmp.path());
    // The replica not picked is to be kept, by name.
    bool keep_named = false;
    for (const auto& step : plan.steps()) {
      keep_named = keep_named || (step.rfind("#    " + in.behind_dir, 0) == 0);
    }
    EXPECT_TRUE(keep_named);
  }
}

TEST(IncidentPlan, DeepScanShowsWorker2HoldsOtherData) {
  const Incident& in = incident();
  auto result = make_salvage_plan(kVolume, in.deep, {});
  ASSERT_TRUE(result.ok());
  EXPECT_TRUE(result.plan.content_compared());
  ASSERT_EQ(result.plan.replicas_size(), 2);
  EXPECT_NE(result.plan.replicas(0).content_digest(), result.plan.replicas(1).content_digest());
  EXPECT_EQ(result.plan.recommended_size(), 1);  // worker-2 misses writes: not the same data
  // The version is unknown, but with the counter enabled the prediction does not depend on it.
  EXPECT_EQ(result.plan.longhorn_version(), "unknown");
  EXPECT_TRUE(result.plan.longhorn().deterministic());
}

TEST(IncidentPlan, WithTheCounterDisabledWorker2IsOutsideTheWindow) {
  const Incident& in = incident();
  PlanOptions options;
  options.longhorn_version = "v1.5.3";
  options.revision_counter = RevisionCounterChoice::kDisabled;
  auto result = make_salvage_plan(kVolume, in.quick, options);
  ASSERT_TRUE(result.ok());
  // worker-2's head is 7.43 s older: outside the 5 s window, so even v1.5.3's random pick is worker-1's.
  EXPECT_TRUE(result.plan.longhorn().deterministic());
  ASSERT_EQ(result.plan.longhorn_would_keep_size(), 1);
  EXPECT_EQ(result.plan.longhorn_would_keep(0), in.survivor_dir);
  EXPECT_EQ(result.plan.recommended(0).dir(), in.survivor_dir);
}

}  // namespace
}  // namespace sentinel::salvage
