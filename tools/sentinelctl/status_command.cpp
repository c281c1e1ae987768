// sentinelctl status: what the node's sentinel-agent is doing, from its local socket.
#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>

#include "proto/wire/option_error.h"
#include "tools/sentinelctl/agent_client.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"

namespace po = boost::program_options;

namespace sentinel::tools {

namespace {

std::string ago(int64_t at_ns) {
  if (at_ns == 0) return "never";
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  int64_t seconds = std::max<int64_t>(0, (now - at_ns) / 1000000000);
  if (seconds < 120) return std::to_string(seconds) + "s ago";
  if (seconds < 7200) return std::to_string(seconds / 60) + "m ago";
  return std::to_string(seconds / 3600) + "h ago";
}

void print_status(const v1::AgentStatus& s, std::ostream& out) {
  out << "node        " << s.node() << " (sentinel-agent " << s.agent_version() << ", started "
      << ago(s.started_at_ns()) << ")\n";
  out << "disks      ";
  for (const auto& disk : s.disks()) out << " " << disk;
  out << "\n";
  out << "scanning    "
      << (s.scanning() ? (s.scan_kind() == v1::DEEP ? "yes, a deep scan" : "yes, a quick scan") : "no") << "\n";
  out << "last quick  " << ago(s.last_quick_scan_at_ns()) << ": " << s.replica_count() << " replica(s), "
      << s.findings_count() << " finding(s) of warning or error\n";
  out << "last deep   " << ago(s.last_deep_scan_at_ns()) << "\n";
  if (s.collector().empty()) {
    out << "collector   none (local only: reports are not sent)\n";
    return;
  }
  out << "collector   " << s.collector() << ": "
      << (s.collector_connected() ? "connected"
                                  : "NOT CONNECTED" + (s.collector_last_error().empty()
                                                           ? std::string()
                                                           : " (" + s.collector_last_error() + ")"))
      << "\n";
  out << "spool       " << s.spool_reports() << " report(s), " << human_bytes(s.spool_bytes())
      << " waiting for the collector's ack; last acked #" << s.last_acked_sequence() << ", next #"
      << s.next_sequence();
  if (s.reports_coalesced() > 0) out << "; " << s.reports_coalesced() << " old quick report(s) coalesced";
  out << "\n";
}

}  // namespace

int run_status_command(const CommandArgs& args) {
  po::options_description opts(
      "sentinelctl status [--socket PATH] [--json]\n"
      "\n"
      "Asks this node's sentinel-agent what it is doing: its last scans, whether it reaches the collector and\n"
      "how many reports wait in its spool. Needs root or the agent's --socket-group.\n"
      "\n"
      "Examples:\n"
      "  sudo sentinelctl status\n"
      "  sentinelctl status --socket /run/sentinel/agent.sock --json | jq .spoolReports\n"
      "\n"
      "Exit codes: 0 the agent answered, 1 it could not be reached or refused, 2 usage error.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")(
      "socket", po::value<std::string>()->default_value(kDefaultAgentSocket), "the agent's local socket")(
      "json", po::bool_switch(), "print the status as JSON (sentinel.v1.AgentStatus)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl status: " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  v1::Envelope request;
  request.mutable_status_request();
  AgentReply reply = ask_agent(vm["socket"].as<std::string>(), request, nullptr);
  if (!reply.final) {
    std::cerr << "sentinelctl status: " << reply.error << "\n";
    return kExitCouldNotRun;
  }
  if (reply.final->has_error()) {
    std::cerr << "sentinelctl status: the agent refused: " << reply.final->error().message() << "\n";
    return kExitCouldNotRun;
  }
  if (!reply.final->has_status()) {
    std::cerr << "sentinelctl status: unexpected reply from the agent\n";
    return kExitCouldNotRun;
  }
  if (vm["json"].as<bool>()) {
    std::cout << message_to_json(reply.final->status(), true) << "\n";
  } else {
    print_status(reply.final->status(), std::cout);
  }
  return kExitOk;
}

}  // namespace sentinel::tools
