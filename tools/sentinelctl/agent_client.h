// The agent's local socket as sentinelctl uses it: one request, the replies, a clear error when the agent is
// not there or refuses. Output rendering stays with the commands.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "sentinel/v1/wire.pb.h"

namespace sentinel::tools {

inline constexpr const char* kDefaultAgentSocket = "/run/sentinel/agent.sock";

struct AgentReply {
  std::optional<v1::Envelope> final;  // AgentStatus, ScanResult or Error
  std::string error;                  // set when no final reply arrived (cannot connect, timeout, closed)
};

// Sends `request` and reads replies until a final one; Progress messages go to `on_progress`.
AgentReply ask_agent(const std::string& socket_path, const v1::Envelope& request,
                     const std::function<void(const v1::Progress&)>& on_progress);

}  // namespace sentinel::tools
