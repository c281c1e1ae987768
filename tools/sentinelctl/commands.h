// The commands of sentinelctl. Each lives in its own <name>_command.cpp and is listed once in main.cpp's
// table; a command takes its arguments (without the command word) and returns the process exit code.
//
// Exit codes, the same for every command: 0 the command ran (findings or not); 1 it could not run (a disk,
// socket, collector or file could not be reached or read); 2 usage error. A command may define more codes
// above 2 for outcomes a script must tell apart (documented in its --help).
#pragma once

#include <unistd.h>

#include <string>
#include <vector>

#include "tools/sentinelctl/scan_progress.h"

namespace sentinel::tools {

constexpr int kExitOk = 0;
constexpr int kExitCouldNotRun = 1;
constexpr int kExitUsage = 2;

using CommandArgs = std::vector<std::string>;

inline std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

int run_scan_command(const CommandArgs& args);
int run_plan_command(const CommandArgs& args);  // plan_command.cpp
int run_status_command(const CommandArgs& args);
int run_export_command(const CommandArgs& args);  // export_command.cpp
int run_diff_command(const CommandArgs& args);    // diff_command.cpp
int run_volumes_command(const CommandArgs& args);  // collector_command.cpp
int run_volume_command(const CommandArgs& args);   // collector_command.cpp
int run_nodes_command(const CommandArgs& args);    // collector_command.cpp
int run_watch_command(const CommandArgs& args);    // watch_command.cpp

// `scan --socket`: the agent scans; agent_scan.cpp.
struct AgentScanOptions {
  std::string socket_path;
  bool deep = false;
  std::string volume;
  bool json = false;
  bool compact = false;
  ProgressMode progress = ProgressMode::kAuto;
};
int run_agent_scan(const AgentScanOptions& options);

}  // namespace sentinel::tools
