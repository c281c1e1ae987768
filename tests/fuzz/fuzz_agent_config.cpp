// sentinel-agent's configuration: any bytes as its config file (INI, `key = value`), and optionally as extra
// command-line arguments, through parse_agent_config. The input is the file's text; after a NUL byte, the rest
// is NUL-separated arguments (those with a '/' are left out: they could name another config file, such as
// /dev/zero, to read forever). Its contract: never throws, never exits; either a config, a text to print, or one
// error sentence.
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "daemon/agent_config.h"
#include "tests/fuzz/fuzz_support.h"

namespace {

// The config file lives in memory (memfd) and is named by its /proc/self/fd path: no disk I/O per input.
int config_fd() {
  static const int fd = memfd_create("sentinel-agent.conf", MFD_CLOEXEC);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16 * 1024) return 0;
  const std::string_view input = sentinel::fuzz::as_text(data, size);
  const size_t nul = input.find('\0');
  const std::string_view file = input.substr(0, nul);

  const int fd = config_fd();
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, file.data(), file.size(), 0) == static_cast<ssize_t>(file.size()));

  std::vector<std::string> args;  // argv without the program name, as main() passes it
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty() && args.size() < 16) {
      const size_t end = rest.find('\0');
      const std::string_view arg = rest.substr(0, end);
      if (arg.find('/') == std::string_view::npos) args.emplace_back(arg);
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
  }
  args.push_back("--config");
  args.push_back("/proc/self/fd/" + std::to_string(fd));

  const auto outcome = sentinel::daemon::parse_agent_config(args);
  const int answers = outcome.config.has_value() + !outcome.print.empty() + !outcome.error.empty();
  FUZZ_CHECK(answers == 1);
  if (outcome.config) {
    const auto& config = *outcome.config;
    FUZZ_CHECK(!config.disks.empty() && !config.node.empty());
    FUZZ_CHECK(config.quick_interval.count() > 0 && config.ack_timeout.count() > 0);
    FUZZ_CHECK(config.scan_threads >= 1 && config.scan_threads <= 64);
    FUZZ_CHECK(!sentinel::daemon::describe(config).empty());
  }
  return 0;
}
