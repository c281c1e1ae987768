// The incident across a real network: worker-1, worker-2 and the collector as three network hosts (Linux
// network namespaces joined by veth pairs, addresses in 198.18.0.0/15, the range set aside for network tests),
// each agent scanning its own generated disk and reporting as protobuf frames over its veth link. The collector
// lines both replicas of pvc-5adeffdc-... up; the veth counters prove the reports crossed the interfaces.
//
// Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) and `ip` from iproute2; skips, saying why, where namespaces cannot
// be created. Everything it creates is named with the test's pid and removed at the end, also on failure.
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/scanner/fixture_support.h"
#include "tests/support/child_process.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::testing {
namespace {

using namespace std::chrono_literals;

std::string find_ip() {
  for (const char* path : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return "";
}

// Runs `ip ARGS`; returns its exit code (output discarded unless asked for).
int ip(const std::string& ip_path, const std::string& args, std::string* output = nullptr) {
  int code = -1;
  const std::string out = run_command(ip_path + " " + args + " 2>&1", &code);
  if (output) *output = out;
  return code;
}

class Netns : public ::testing::Test {
 protected:
  void SetUp() override {
    ip_ = find_ip();
    if (ip_.empty()) GTEST_SKIP() << "iproute2's ip is not installed (scripts/deps.sh installs it)";
    const std::string tag = std::to_string(::getpid() % 100000);
    collector_ns_ = "sn-col-" + tag;
    worker_ns_ = {"sn-w1-" + tag, "sn-w2-" + tag};
    std::string why;
    if (ip(ip_, "netns add " + collector_ns_, &why) != 0) {
      GTEST_SKIP() << "cannot create network namespaces here (needs root / CAP_SYS_ADMIN): " << why;
    }
    created_.push_back(collector_ns_);
    for (int i = 0; i < 2; ++i) {
      const std::string& ns = worker_ns_[i];
      const std::string subnet = "198.18." + std::to_string(i + 1) + ".";
      const std::string col_if = "sc" + std::to_string(i + 1) + "-" + tag;  // the collector's end
      const std::string wk_if = "sw" + std::to_string(i + 1) + "-" + tag;
      collector_ifs_.push_back(col_if);
      ASSERT_EQ(ip(ip_, "netns add " + ns), 0);
      created_.push_back(ns);
      ASSERT_EQ(ip(ip_, "link add " + col_if + " netns " + collector_ns_ + " type veth peer name " + wk_if +
                            " netns " + ns, &why), 0) << why;
      ASSERT_EQ(ip(ip_, "-n " + collector_ns_ + " addr add " + subnet + "1/30 dev " + col_if), 0);
      ASSERT_EQ(ip(ip_, "-n " + ns + " addr add " + subnet + "2/30 dev " + wk_if), 0);
      ASSERT_EQ(ip(ip_, "-n " + collector_ns_ + " link set " + col_if + " up"), 0);
      ASSERT_EQ(ip(ip_, "-n " + ns + " link set " + wk_if + " up"), 0);
      ASSERT_EQ(ip(ip_, "-n " + ns + " link set lo up"), 0);
    }
    ASSERT_EQ(ip(ip_, "-n " + collector_ns_ + " link set lo up"), 0);
  }

  void TearDown() override {
    processes_.clear();  // kills what is still running before its namespace goes
    for (const auto& ns : created_) ip(ip_, "netns del " + ns);
  }

  std::unique_ptr<ChildProcess> in_ns(const std::string& ns, std::vector<std::string> argv, const std::string& log) {
    argv.insert(argv.begin(), {ip_, "netns", "exec", ns});
    return std::make_unique<ChildProcess>(argv, std::vector<std::string>{}, log);
  }

  uint64_t rx_bytes(const std::string& interface) {
    std::string out;
    ip(ip_, "netns exec " + collector_ns_ + " cat /sys/class/net/" + interface + "/statistics/rx_bytes", &out);
    return out.empty() ? 0 : std::stoull(out);
  }

  std::string ip_;
  std::string collector_ns_;
  std::vector<std::string> worker_ns_;
  std::vector<std::string> collector_ifs_;
  std::vector<std::string> created_;
  std::vector<std::unique_ptr<ChildProcess>> processes_;
  TempDir dir_;
};

TEST_F(Netns, TwoWorkersReportTheSplitVolumeToTheCollectorAcrossVethLinks) {
  ASSERT_TRUE(treegen::write_incident_sample(dir_.path() + "/disks"));
  const std::string db = dir_.path() + "/collector.db";
  processes_.push_back(in_ns(collector_ns_,
                             {SENTINEL_COLLECTOR_PATH, "--listen", "0.0.0.0:7460", "--http", "127.0.0.1:7461", "--db",
                              db, "--port-file", dir_.path() + "/ports"},
                             dir_.path() + "/collector.log"));
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(dir_.path() + "/ports"); }, 20s))
      << read_file(dir_.path() + "/collector.log");
  const uint64_t rx_before[2] = {rx_bytes(collector_ifs_[0]), rx_bytes(collector_ifs_[1])};

  for (int i = 0; i < 2; ++i) {
    const std::string node = "worker-" + std::to_string(i + 1);
    const std::string home = dir_.path() + "/" + node;
    std::filesystem::create_directories(home);
    processes_.push_back(in_ns(worker_ns_[i],
                               {SENTINEL_AGENT_PATH, "--disk", dir_.path() + "/disks/" + node, "--node", node,
                                "--collector", "198.18." + std::to_string(i + 1) + ".1:7460", "--socket",
                                home + "/agent.sock", "--state-dir", home + "/state", "--quick-interval", "1h"},
                               home + "/agent.log"));
  }
  // The fleet view, asked inside the collector's namespace (its HTTP API listens on that host's loopback).
  nlohmann::json volume;
  const bool both = wait_until(
      [&] {
        int code = -1;
        const std::string out = run_command(ip_ + " netns exec " + collector_ns_ + " " + SENTINELCTL_PATH +
                                                " volume " + treegen::kSplitVolume +
                                                " --collector http://127.0.0.1:7461 --json 2>/dev/null",
                                            &code);
        if (code != 0) return false;
        volume = nlohmann::json::parse(out, nullptr, false);
        return !volume.is_discarded() && volume["replicas"].size() == 2;
      },
      30s);
  ASSERT_TRUE(both) << volume.dump() << "\n" << read_file(dir_.path() + "/collector.log");
  std::set<std::string> nodes;
  for (const auto& replica : volume["replicas"]) nodes.insert(replica["node"].get<std::string>());
  EXPECT_EQ(nodes, (std::set<std::string>{"worker-1", "worker-2"}));
  for (int i = 0; i < 2; ++i) {
    const uint64_t crossed = rx_bytes(collector_ifs_[i]) - rx_before[i];
    std::printf("worker-%d 198.18.%d.2 (%s) -> collector 198.18.%d.1:7460 (%s): %llu bytes received\n", i + 1, i + 1,
                worker_ns_[i].c_str(), i + 1, collector_ifs_[i].c_str(), static_cast<unsigned long long>(crossed));
    EXPECT_GT(rx_bytes(collector_ifs_[i]), rx_before[i] + 1000)
        << "the report of worker-" << i + 1 << " did not cross " << collector_ifs_[i];
  }
  // The plan from the collector: worker-1's replica (higher revision counter), commands with the exact name.
  int code = -1;
  const std::string plan_out = run_command(ip_ + " netns exec " + collector_ns_ + " " + SENTINELCTL_PATH + " plan " +
                                               treegen::kSplitVolume + " --collector http://127.0.0.1:7461 --json",
                                           &code);
  ASSERT_EQ(code, 0) << plan_out;
  const auto plan = nlohmann::json::parse(plan_out);
  ASSERT_EQ(plan["recommended"].size(), 1u) << plan_out;
  EXPECT_EQ(plan["recommended"][0]["node"], "worker-1");
  bool names_volume = false;
  for (const auto& step : plan["steps"]) {
    names_volume = names_volume || step.get<std::string>().find(std::string("longhornvolume=") +
                                                                treegen::kSplitVolume) != std::string::npos;
  }
  EXPECT_TRUE(names_volume);
}

}  // namespace
}  // namespace sentinel::testing
