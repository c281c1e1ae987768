// The collector's configuration: defaults, flags, a config file, and a clear error for every bad value.
#include "collector/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/collector/collector_test_support.h"
#include "tests/support/child_process.h"

namespace sentinel::collector {
namespace {

using namespace std::chrono_literals;

ConfigOutcome parse(std::vector<std::string> args) { return parse_config(args); }

TEST(CollectorConfig, DefaultsAreTheDocumentedOnes) {
  const auto outcome = parse({});
  ASSERT_EQ(outcome.action, ConfigOutcome::Action::kRun) << outcome.message;
  const Config& c = outcome.config;
  EXPECT_EQ(c.listen.to_string(), "0.0.0.0:7460");
  EXPECT_EQ(c.http.to_string(), "127.0.0.1:7461");
  EXPECT_EQ(c.db_path, "/var/lib/sentinel-collector/sentinel.db");
  EXPECT_EQ(c.sync, SyncMode::kFull);
  EXPECT_EQ(c.stale_after, 3min);
  EXPECT_EQ(c.retention, std::chrono::hours(24 * 30));
  EXPECT_EQ(c.max_frame_bytes, 64u << 20);
  EXPECT_EQ(c.read_timeout, 30s);
  EXPECT_FALSE(c.tls_enabled());
}

TEST(CollectorConfig, FlagsWinOverTheConfigFile) {
  testing::TempDir dir;
  std::ofstream(dir.file("collector.conf")) << "listen = 127.0.0.1:9000\nstale-after = 10m\nretention = 0\n"
                                               "max-frame-bytes = 1MiB\n";
  const auto outcome = parse({"--config", dir.file("collector.conf"), "--stale-after", "90s", "--listen", "[::1]:0"});
  ASSERT_EQ(outcome.action, ConfigOutcome::Action::kRun) << outcome.message;
  EXPECT_EQ(outcome.config.listen.host, "::1");
  EXPECT_EQ(outcome.config.listen.port, 0);
  EXPECT_EQ(outcome.config.listen.to_string(), "[::1]:0");
  EXPECT_EQ(outcome.config.stale_after, 90s);
  EXPECT_EQ(outcome.config.retention, 0s);
  EXPECT_EQ(outcome.config.max_frame_bytes, 1u << 20);
}

TEST(CollectorConfig, EveryBadValueIsNamed) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--listen", "7460"}, "--listen"},
      {{"--listen", "host:70000"}, "--listen"},
      {{"--http", "127.0.0.1:"}, "--http"},
      {{"--stale-after", "3"}, "--stale-after"},
      {{"--stale-after", "0s"}, "--stale-after"},
      {{"--retention", "a week"}, "--retention"},
      {{"--read-timeout", "1ms"}, "--read-timeout"},
      {{"--max-frame-bytes", "12TB"}, "--max-frame-bytes"},
      {{"--max-frame-bytes", "100"}, "--max-frame-bytes"},
      {{"--max-connections", "0"}, "--max-connections"},
      {{"--sync", "sometimes"}, "--sync"},
      {{"--tls-cert", "/etc/hostname"}, "--tls-cert"},
      {{"--tls-cert", "/nonexistent", "--tls-key", "/nonexistent", "--tls-ca", "/nonexistent"}, "--tls-cert"},
      {{"--log-level", "loud"}, "--log-level"},
      {{"--amqp-url", "http://broker:5672/"}, "--amqp-url"},
      {{"--amqp-url", "amqp://broker:notaport/"}, "--amqp-url"},
      {{"--amqp-url", "amqp://g:g@127.0.0.1:5672", "--amqp-exchange", ""}, "--amqp-exchange"},
      {{"--no-such-flag"}, "no-such-flag"},
      {{"--config", "/nonexistent/collector.conf"}, "config file"},
  };
  for (const auto& [args, expected] : cases) {
    const auto outcome = parse(args);
    EXPECT_EQ(outcome.action, ConfigOutcome::Action::kError) << args[0];
    EXPECT_NE(outcome.message.find(expected), std::string::npos) << outcome.message;
  }
}

// Boost.Program_options (1.74) fills "%value%" into its error message until none is left: a bad value holding it
// made the message loop forever (the agent's parser hung on it first; found by tests/fuzz/fuzz_agent_config). The
// collector's flags and config file go through the same safe message (proto/wire/option_error.h).
TEST(CollectorConfig, APercentPlaceholderInABadValueIsAnErrorNotAHang) {
  testing::TempDir dir;
  const std::string path = dir.file("collector.conf");
  std::ofstream(path) << "max-connections = %value%\n";
  const std::vector<std::vector<std::string>> cases = {
      {"--max-connections", "%value%"},
      {"--%option%"},
      {"--config", path},
  };
  for (const auto& args : cases) {
    ASSERT_TRUE(sentinel::testing::finishes_within([&] { parse(args); }, std::chrono::seconds(20))) << args.back();
    const auto outcome = parse(args);
    EXPECT_EQ(outcome.action, ConfigOutcome::Action::kError) << args.back();
    EXPECT_FALSE(outcome.message.empty()) << args.back();
  }
  EXPECT_NE(parse({"--max-connections", "%value%"}).message.find("max-connections"), std::string::npos);
  // Without a '%' the message stays Boost's own, value and all.
  EXPECT_NE(parse({"--max-connections", "many"}).message.find("many"), std::string::npos);
}

TEST(CollectorConfig, TheBinaryExitsWithTwoOnABadConfig) {
  std::string out;
  EXPECT_EQ(testing::run_command({SENTINEL_COLLECTOR_PATH, "--read-timeout", "soon"}, &out), 2);
  EXPECT_EQ(testing::run_command({SENTINEL_COLLECTOR_PATH, "--amqp-url", "rabbit://x"}, &out), 2);
  EXPECT_EQ(testing::run_command({SENTINEL_COLLECTOR_PATH, "--help"}, &out), 0);
  EXPECT_NE(out.find("--max-frame-bytes"), std::string::npos);
  EXPECT_NE(out.find("--amqp-url"), std::string::npos);
}

}  // namespace
}  // namespace sentinel::collector
