// sentinel-collector: parses the configuration, sets up logging, runs the CollectorService.
// Exit codes: 0 stopped by SIGTERM/SIGINT (or --help/--version); 1 could not start; 2 bad configuration.
#include <sys/resource.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>

#include "collector/collector_service.h"
#include "collector/config.h"

namespace {

// Each agent connection is a descriptor: raise the soft limit to the hard one, and say so when even that is
// below --max-connections (connections over the descriptor limit would fail in accept, not be refused politely).
void raise_descriptor_limit(unsigned max_connections) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    ::getrlimit(RLIMIT_NOFILE, &limit);
  }
  const rlim_t needed = static_cast<rlim_t>(max_connections) + 128;  // the store, HTTP, logs
  if (limit.rlim_cur < needed) {
    spdlog::warn("the open-file limit ({}) is below --max-connections + 128 ({}): raise LimitNOFILE", limit.rlim_cur,
                 needed);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto outcome = sentinel::collector::parse_config(args);
  switch (outcome.action) {
    case sentinel::collector::ConfigOutcome::Action::kHelp:
      std::cout << outcome.message << "\n";
      return 0;
    case sentinel::collector::ConfigOutcome::Action::kVersion:
      std::cout << "sentinel-collector " << sentinel::collector::kCollectorVersion << "\n";
      return 0;
    case sentinel::collector::ConfigOutcome::Action::kError:
      std::cerr << "sentinel-collector: " << outcome.message << "\nRun 'sentinel-collector --help' for the options.\n";
      return 2;
    case sentinel::collector::ConfigOutcome::Action::kRun:
      break;
  }
  // Logs go to stderr; under systemd, journald stamps and stores them, so the time is left out there.
  auto logger = spdlog::stderr_color_mt("sentinel-collector");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(std::getenv("JOURNAL_STREAM") ? "%l: %v" : "%Y-%m-%dT%H:%M:%S.%e %l: %v");
  spdlog::set_level(spdlog::level::from_str(outcome.config.log_level));
  spdlog::flush_on(spdlog::level::info);
  raise_descriptor_limit(outcome.config.max_connections);
  sentinel::collector::CollectorService service(std::move(outcome.config));
  return service.run();
}
