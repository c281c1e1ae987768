// sentinel-agent's configuration: flags and an optional config file (--config, Boost.Program_options INI
// syntax: `key = value`, repeatable keys for --disk), parsed once into an immutable, validated AgentConfig.
// Flags override the file. SIGHUP re-runs the same parse (same argv, the file re-read) and the agent applies
// what may change at run time (see Agent::reload).
//
// Contract: parse_agent_config never throws and never exits; it returns either a config, a help/version text
// to print, or one error sentence naming the bad option and what is accepted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sentinel::daemon {

struct AgentConfig {
  std::vector<std::string> disks;          // Longhorn disk paths (each holding replicas/)
  std::string node;                        // the node name reported (default: the host name)
  std::string collector;                   // HOST:PORT; "" = local only (no reports sent)
  std::string socket_path;                 // the local control socket
  std::optional<gid_t> socket_group;       // a group allowed on the socket besides root
  std::string socket_group_name;
  std::string state_dir;                   // spool and sequence
  std::chrono::nanoseconds quick_interval{std::chrono::seconds(60)};
  std::chrono::nanoseconds deep_interval{0};  // 0 = no scheduled deep scans (on demand only)
  uint64_t max_read_mbps = 0;              // deep-scan read cap in MB/s; 0 = none
  unsigned scan_threads = 2;               // replica directories scanned at once; a deep scan's read lanes
  uint32_t spool_max_reports = 1000;
  uint64_t spool_max_bytes = 256ull << 20;
  uint64_t max_frame_bytes = 64ull << 20;
  std::chrono::nanoseconds ack_timeout{std::chrono::seconds(30)};
  std::chrono::nanoseconds reconnect_max{std::chrono::seconds(30)};
  // TLS to the collector: all three or none. The collector's certificate must chain to tls_ca and name
  // tls_server_name (default: the --collector host); the agent presents tls_cert, whose CN must be --node.
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  std::string log_level = "info";
  std::string config_file;                 // "" when none was given
};

struct ConfigOutcome {
  std::optional<AgentConfig> config;  // set when the agent should run
  std::string print;                  // --help / --version text (exit 0)
  std::string error;                  // a usage or validation error (exit 2)
};

ConfigOutcome parse_agent_config(const std::vector<std::string>& args);

// One line for the log at start and after a reload: every setting that matters to an operator.
std::string describe(const AgentConfig& config);

}  // namespace sentinel::daemon
