// sentinel-agent: one per worker node. Parses the configuration, sets up logging, runs the Agent.
// Exit codes: 0 stopped by SIGTERM/SIGINT (or --help/--version); 1 could not start; 2 bad configuration.
#include <cstdlib>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "daemon/agent.h"
#include "daemon/agent_config.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  auto outcome = sentinel::daemon::parse_agent_config(args);
  if (!outcome.print.empty()) {
    std::cout << outcome.print;
    return 0;
  }
  if (!outcome.config) {
    std::cerr << "sentinel-agent: " << outcome.error << "\nRun 'sentinel-agent --help' for the options.\n";
    return 2;
  }
  // Logs go to stderr; under systemd, journald stamps and stores them, so the time is left out there.
  auto logger = spdlog::stderr_color_mt("sentinel-agent");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(std::getenv("JOURNAL_STREAM") ? "%l: %v" : "%Y-%m-%dT%H:%M:%S.%e %l: %v");
  spdlog::set_level(spdlog::level::from_str(outcome.config->log_level));
  spdlog::flush_on(spdlog::level::info);
  sentinel::daemon::Agent agent(args, std::move(*outcome.config));
  return agent.run();
}
