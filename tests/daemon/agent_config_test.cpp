// sentinel-agent's configuration: defaults, the config file, flags over the file, and a clear error for every
// kind of bad value.
#include "daemon/agent_config.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <thread>

#include "tests/support/child_process.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::daemon {
namespace {

using std::chrono::seconds;

TEST(AgentConfig, DefaultsAreTheDesignCards) {
  auto outcome = parse_agent_config({"--node", "worker-1"});
  ASSERT_TRUE(outcome.config) << outcome.error;
  const AgentConfig& c = *outcome.config;
  EXPECT_EQ(c.disks, std::vector<std::string>{"/var/lib/longhorn"});
  EXPECT_EQ(c.socket_path, "/run/sentinel/agent.sock");
  EXPECT_EQ(c.state_dir, "/var/lib/sentinel");
  EXPECT_EQ(c.quick_interval, seconds(60));
  EXPECT_EQ(c.deep_interval.count(), 0);
  EXPECT_EQ(c.collector, "");
}

TEST(AgentConfig, FileIsReadAndFlagsOverrideIt) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/agent.conf";
  std::ofstream(path) << "# comment\nnode = worker-2\ndisk = /mnt/a\ndisk = /mnt/b\nquick-interval = 5m\n"
                         "deep-interval = 1h\ncollector = collector.example:7460\n";
  auto outcome = parse_agent_config({"--config", path, "--quick-interval", "30s"});
  ASSERT_TRUE(outcome.config) << outcome.error;
  EXPECT_EQ(outcome.config->node, "worker-2");
  EXPECT_EQ(outcome.config->disks, (std::vector<std::string>{"/mnt/a", "/mnt/b"}));
  EXPECT_EQ(outcome.config->quick_interval, seconds(30));
  EXPECT_EQ(outcome.config->deep_interval, seconds(3600));
  EXPECT_EQ(outcome.config->collector, "collector.example:7460");
  EXPECT_EQ(outcome.config->config_file, path);
}

TEST(AgentConfig, EveryBadValueIsAClearError) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  };
  const Case cases[] = {
      {{"--node", "w1", "--quick-interval", "60"}, "quick-interval"},    // no unit
      {{"--node", "w1", "--quick-interval", "0s"}, "quick-interval"},    // zero
      {{"--node", "w1", "--deep-interval", "soon"}, "deep-interval"},
      {{"--node", "w1", "--collector", "collector"}, "HOST:PORT"},
      {{"--node", "w1", "--collector", "c:99999"}, "HOST:PORT"},
      {{"--node", "Worker_1"}, "node"},
      {{"--node", "w1", "--socket-group", "no-such-group-here"}, "socket-group"},
      {{"--node", "w1", "--scan-threads", "0"}, "scan-threads"},
      {{"--node", "w1", "--log-level", "loud"}, "log-level"},
      {{"--node", "w1", "--bogus"}, "bogus"},
      {{"--config", "/nonexistent/agent.conf"}, "config file"},
      {{"--node", "w1", "--collector", "c:7460", "--tls-ca", "/etc/ca.pem"}, "TLS needs all"},
      {{"--node", "w1", "--tls-ca", "a", "--tls-cert", "b", "--tls-key", "c"}, "need --collector"},
  };
  for (const auto& c : cases) {
    auto outcome = parse_agent_config(c.args);
    EXPECT_FALSE(outcome.config) << c.args.back();
    EXPECT_NE(outcome.error.find(c.mentions), std::string::npos) << outcome.error;
  }
}

// Found by tests/fuzz/fuzz_agent_config: Boost.Program_options (1.74) fills "%value%" into its error message until
// none is left, so a bad value holding "%value%" never got its message: the agent hung at start, memory growing.
TEST(AgentConfig, APercentPlaceholderInABadValueIsAnErrorNotAHang) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/agent.conf";
  std::ofstream(path) << "node = w1\nscan-threads = %value%\n";
  const std::vector<std::vector<std::string>> cases = {
      {"--node", "w1", "--scan-threads", "%value%"},
      {"--node", "w1", "--%option%"},
      {"--config", path},
  };
  for (const auto& args : cases) {
    // In a child first: a hang must fail the test, not stall it.
    ASSERT_TRUE(testing::finishes_within([&] { parse_agent_config(args); }, std::chrono::seconds(20))) << args.back();
    const auto outcome = parse_agent_config(args);
    EXPECT_FALSE(outcome.config) << args.back();
    EXPECT_FALSE(outcome.error.empty()) << args.back();
  }
  const auto outcome = parse_agent_config({"--node", "w1", "--scan-threads", "%value%"});
  EXPECT_NE(outcome.error.find("scan-threads"), std::string::npos) << outcome.error;
  // Without a '%' the message stays Boost's own, value and all.
  const auto plain = parse_agent_config({"--node", "w1", "--scan-threads", "many"});
  EXPECT_NE(plain.error.find("many"), std::string::npos) << plain.error;
}

// A numeric --socket-group (no such group name) must be a gid: 20 digits threw std::out_of_range out of this
// never-throwing parser, and 4294967296 wrapped around to gid 0, root's group.
TEST(AgentConfig, ANumericSocketGroupMustFitAGid) {
  for (const char* gid : {"99999999999999999999", "4294967296", "4294967295"}) {
    ConfigOutcome outcome;
    EXPECT_NO_THROW(outcome = parse_agent_config({"--node", "w1", "--socket-group", gid})) << gid;
    EXPECT_FALSE(outcome.config) << gid;
    EXPECT_NE(outcome.error.find("socket-group"), std::string::npos) << outcome.error;
  }
  const auto outcome = parse_agent_config({"--node", "w1", "--socket-group", "4242"});
  ASSERT_TRUE(outcome.config) << outcome.error;
  EXPECT_EQ(outcome.config->socket_group, gid_t{4242});
}

TEST(AgentConfig, TlsServerNameDefaultsToTheCollectorHost) {
  auto outcome = parse_agent_config({"--node", "w1", "--collector", "collector.example:7460", "--tls-ca", "ca.pem",
                                     "--tls-cert", "w1.pem", "--tls-key", "w1.key"});
  ASSERT_TRUE(outcome.config) << outcome.error;
  EXPECT_EQ(outcome.config->tls_server_name, "collector.example");
}

TEST(AgentConfig, HelpTeaches) {
  auto outcome = parse_agent_config({"--help"});
  EXPECT_FALSE(outcome.config);
  EXPECT_NE(outcome.print.find("Examples:"), std::string::npos);
  EXPECT_NE(outcome.print.find("--collector"), std::string::npos);
}

}  // namespace
}  // namespace sentinel::daemon
