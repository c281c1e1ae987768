// Real processes for integration tests: spawn a binary (agent, collector, sentinelctl) with extra environment
// and its stderr in a file, signal it, wait for its exit with a deadline. The destructor kills and reaps a
// child that is still running, so a failing test never leaks a daemon.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sentinel::testing {

class ChildProcess {
 public:
  // argv[0] is the program path. `env` entries ("NAME=value") are added to (or override) the test's
  // environment. stdout and stderr go to `log_path` (appended) when given, else to /dev/null.
  ChildProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
               const std::string& log_path = "");
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // The exit status (exit code, or 128 + signal number), or nullopt when it did not exit in time.
  std::optional<int> wait_for_exit(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Polls `condition` every 20 ms until it holds or the timeout passes; returns its last value.
bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read back, closed).
int free_tcp_port();

// The resident set size of a process in KiB (VmRSS), 0 when it cannot be read.
uint64_t rss_kib(pid_t pid);

// Runs `body` in a forked child: true when it returned within `limit` (a hang is killed, not waited for), so a
// test of "this must not hang" fails instead of stalling the suite.
bool finishes_within(const std::function<void()>& body, std::chrono::seconds limit);

}  // namespace sentinel::testing
