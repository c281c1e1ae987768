// The agent and the real collector over loopback: the collector down for several scan intervals, then up; the
// agent killed with SIGKILL while reporting and restarted. Afterwards the collector's store holds every report
// the agent spooled, each (node, sequence) once, and the agent's spool is empty.
#include <signal.h>

#include <gtest/gtest.h>

#include <SQLiteCpp/SQLiteCpp.h>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "tests/scanner/fixture_support.h"
#include "tests/support/child_process.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::testing {
namespace {

using namespace std::chrono_literals;

class AgentAndCollector : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(treegen::write_incident_sample(dir_.path() + "/disks"));
    port_ = free_tcp_port();
  }
  void TearDown() override {
    if (HasFailure()) {
      std::cerr << "--- agent log ---\n" << read_file(dir_.path() + "/agent.log") << "\n--- collector log ---\n"
                << read_file(dir_.path() + "/collector.log") << "\n";
    }
  }

  std::unique_ptr<ChildProcess> start_agent() {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{SENTINEL_AGENT_PATH, "--disk", dir_.path() + "/disks/worker-1", "--node", "worker-1",
                                 "--collector", "127.0.0.1:" + std::to_string(port_), "--socket",
                                 dir_.path() + "/agent.sock", "--state-dir", dir_.path() + "/state",
                                 "--quick-interval", "200ms", "--reconnect-max", "300ms"},
        std::vector<std::string>{}, dir_.path() + "/agent.log");
  }
  std::unique_ptr<ChildProcess> start_collector() {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{SENTINEL_COLLECTOR_PATH, "--listen", "127.0.0.1:" + std::to_string(port_), "--http",
                                 "127.0.0.1:0", "--db", dir_.path() + "/collector.db"},
        std::vector<std::string>{}, dir_.path() + "/collector.log");
  }
  nlohmann::json agent_status() {
    int code = -1;
    const std::string out = run_command(std::string(SENTINELCTL_PATH) + " status --json --socket " + dir_.path() +
                                            "/agent.sock 2>/dev/null",
                                        &code);
    return code == 0 ? nlohmann::json::parse(out, nullptr, false) : nlohmann::json();
  }
  int spooled() {
    const auto status = agent_status();
    return status.is_object() ? status.value("spoolReports", -1) : -1;
  }
  uint64_t last_sequence() {
    return std::stoull(read_file(dir_.path() + "/state/sequence"));
  }

  TempDir dir_;
  int port_ = 0;
};

TEST_F(AgentAndCollector, OutageAndAgentKillLoseNothingAndStoreNothingTwice) {
  auto agent = start_agent();
  // Collector down for several intervals: the agent keeps scanning, its spool grows.
  ASSERT_TRUE(wait_until([&] { return spooled() >= 5; }, 15s));
  auto collector = start_collector();
  ASSERT_TRUE(wait_until([&] { return spooled() == 0; }, 15s)) << "the backlog was not delivered";
  // Killed while reporting (a scan every 200 ms), restarted on the same state dir.
  std::this_thread::sleep_for(300ms);
  agent->signal(SIGKILL);
  ASSERT_TRUE(agent->wait_for_exit(5s));
  agent = start_agent();
  ASSERT_TRUE(wait_until([&] { return last_sequence() >= 15 && spooled() == 0; }, 20s));
  agent->signal(SIGTERM);
  ASSERT_EQ(agent->wait_for_exit(5s), 0);
  collector->signal(SIGTERM);
  ASSERT_EQ(collector->wait_for_exit(10s), 0);

  const uint64_t last = last_sequence();
  SQLite::Database db(dir_.path() + "/collector.db", SQLite::OPEN_READONLY);
  SQLite::Statement query(db, "SELECT sequence FROM reports WHERE node = 'worker-1' ORDER BY sequence");
  std::vector<uint64_t> stored;
  while (query.executeStep()) stored.push_back(static_cast<uint64_t>(query.getColumn(0).getInt64()));
  ASSERT_FALSE(stored.empty());
  std::set<uint64_t> unique(stored.begin(), stored.end());
  EXPECT_EQ(unique.size(), stored.size()) << "a report stored twice";
  EXPECT_EQ(stored.back(), last) << "the last report the agent spooled is not in the store";
  // Every sequence handed out was stored, except at most one the SIGKILL may have caught between reserving the
  // number (written first, durably) and writing its report: that report never existed, so nothing was lost.
  EXPECT_GE(stored.size() + 1, last) << "reports missing from the store";
  EXPECT_TRUE(std::filesystem::is_empty(dir_.path() + "/state/spool")) << "unacked reports left in the spool";
}

}  // namespace
}  // namespace sentinel::testing
