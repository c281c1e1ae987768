// `sentinelctl plan`, the real binary: inventories written by `sentinelctl scan --json` on the generated incident
// sample (one file per node), then the plan's JSON fields, its text form, and the exit codes.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "tests/scanner/fixture_support.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::testing {
namespace {

using Json = nlohmann::json;

const std::string kVolume = treegen::kSplitVolume;

struct Sample {
  TempDir tmp;
  std::string worker1_json;  // quick scan
  std::string worker2_json;  // deep scan with chunk lists
  std::string survivor_dir;
};

std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

const Sample& sample() {
  static const std::unique_ptr<Sample> made = [] {
    auto s = std::make_unique<Sample>();
    if (!treegen::write_incident_sample(s->tmp.path())) throw std::runtime_error("write_incident_sample failed");
    for (const auto& placed : treegen::incident_sample().replicas) {
      if (placed.node == "worker-1" && placed.spec.dir.rfind(kVolume + "-", 0) == 0) s->survivor_dir = placed.spec.dir;
    }
    s->worker1_json = s->tmp.path() + "/worker-1.json";
    s->worker2_json = s->tmp.path() + "/worker-2.json";
    int rc = 0;
    run_command(std::string(SENTINELCTL_PATH) + " scan --disk " + shell_quoted(s->tmp.path() + "/worker-1") +
                    " --node worker-1 --json > " + shell_quoted(s->worker1_json),
                &rc);
    if (rc != 0) throw std::runtime_error("scan of worker-1 failed");
    run_command(std::string(SENTINELCTL_PATH) + " scan --deep --chunks --disk " +
                    shell_quoted(s->tmp.path() + "/worker-2") + " --node worker-2 --json > " +
                    shell_quoted(s->worker2_json),
                &rc);
    if (rc != 0) throw std::runtime_error("scan of worker-2 failed");
    return s;
  }();
  return *made;
}

// Runs `sentinelctl plan <args>`; stdout (and stderr when `with_stderr`) in the result, the exit code in *rc.
std::string plan(const std::string& args, int* rc, bool with_stderr = false) {
  return run_command(std::string(SENTINELCTL_PATH) + " plan " + args + (with_stderr ? " 2>&1" : " 2>/dev/null"), rc);
}

std::string both_inventories() {
  return "--inventory " + shell_quoted(sample().worker1_json) + " --inventory " + shell_quoted(sample().worker2_json);
}

TEST(PlanCli, JsonHasTheContractFields) {
  int rc = -1;
  const std::string out = plan(kVolume + " " + both_inventories() + " --longhorn-version v1.5.3 --json", &rc);
  ASSERT_EQ(rc, 0) << out;
  const Json plan = Json::parse(out);
  EXPECT_EQ(plan.at("volume"), kVolume);
  ASSERT_EQ(plan.at("recommended").size(), 1u);
  EXPECT_EQ(plan.at("recommended")[0].at("node"), "worker-1");
  EXPECT_EQ(plan.at("recommended")[0].at("dir"), sample().survivor_dir);
  EXPECT_EQ(plan.at("recommended")[0].at("disk"), sample().tmp.path() + "/worker-1");
  EXPECT_EQ(plan.at("longhornWouldKeep"), Json::array({sample().survivor_dir}));
  EXPECT_EQ(plan.at("divergent"), false);
  EXPECT_EQ(plan.at("longhornVersion"), "v1.5.3");
  EXPECT_EQ(plan.at("revisionCounterMode"), "ENABLED");
  const Json& replicas = plan.at("replicas");
  ASSERT_EQ(replicas.size(), 2u);
  EXPECT_EQ(replicas[0].at("node"), "worker-1");
  EXPECT_EQ(replicas[0].at("usable"), true);
  EXPECT_EQ(replicas[0].at("rank"), 1);
  EXPECT_TRUE(replicas[0].at("revisionCounter").is_string());  // int64 as a decimal string, as protobuf maps it
  EXPECT_FALSE(replicas[0].at("reasons").empty());
  EXPECT_EQ(replicas[0].at("longhorn"), "LONGHORN_KEEP");
  EXPECT_EQ(replicas[1].at("node"), "worker-2");
  EXPECT_EQ(replicas[1].at("longhorn"), "LONGHORN_FAIL");
  EXPECT_FALSE(replicas[1].at("contentDigest").get<std::string>().empty());  // worker-2 was deep-scanned
  ASSERT_FALSE(plan.at("steps").empty());
  for (const auto& step : plan.at("steps")) {
    const std::string line = step;
    if (line.rfind("# ", 0) != 0) {
      EXPECT_NE(line.find(kVolume), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(plan.at("warnings").is_array());
}

TEST(PlanCli, TextShowsTheRecommendationPredictionAndSteps) {
  int rc = -1;
  const std::string out = plan(kVolume + " " + both_inventories() + " --longhorn-version v1.5.3", &rc);
  ASSERT_EQ(rc, 0) << out;
  for (const std::string& needle :
       {std::string("RECOMMENDED"), std::string("LONGHORN v1.5.3"), std::string("STEPS"), sample().survivor_dir,
        std::string("higher revision counter"),
        "kubectl -n longhorn-system delete engines.longhorn.io -l longhornvolume=" + kVolume + "\n"}) {
    EXPECT_NE(out.find(needle), std::string::npos) << "missing: " << needle << "\n" << out;
  }
}

TEST(PlanCli, ExitCodes) {
  int rc = -1;
  // 1: the volume is in no inventory (and the message lists the volumes that are).
  std::string out = plan("pvc-00000000-0000-4000-8000-000000000000 " + both_inventories(), &rc, true);
  EXPECT_EQ(rc, 1) << out;
  EXPECT_NE(out.find(kVolume), std::string::npos) << out;
  // 1: an inventory that cannot be read, or is not an inventory.
  plan(kVolume + " --inventory " + shell_quoted(sample().tmp.path() + "/missing.json"), &rc);
  EXPECT_EQ(rc, 1);
  plan(kVolume + " --inventory /etc/hostname", &rc);
  EXPECT_EQ(rc, 1);
  // 2: usage errors.
  plan(kVolume + " " + both_inventories() + " --bogus", &rc);
  EXPECT_EQ(rc, 2);
  plan(kVolume, &rc);  // no --inventory
  EXPECT_EQ(rc, 2);
  plan(both_inventories(), &rc);  // no VOLUME
  EXPECT_EQ(rc, 2);
  plan(kVolume + " " + both_inventories() + " --longhorn-version 1.5", &rc);
  EXPECT_EQ(rc, 2);
  plan(kVolume + " " + both_inventories() + " --revision-counter maybe", &rc);
  EXPECT_EQ(rc, 2);
  // The incident's typo: a trailing '~' is a usage error that says what is wrong.
  out = plan(shell_quoted(kVolume + "~") + " " + both_inventories(), &rc, true);
  EXPECT_EQ(rc, 2) << out;
  EXPECT_NE(out.find("'~'"), std::string::npos) << out;
  // --help teaches, and exits 0.
  out = plan("--help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("Examples:"), std::string::npos);
  EXPECT_NE(out.find("Exit codes"), std::string::npos);
}

}  // namespace
}  // namespace sentinel::testing
