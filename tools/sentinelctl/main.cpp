// sentinelctl: the operator's command line. Thin: finds the command in the table, runs it, returns its exit
// code. The commands themselves are in <name>_command.cpp (see commands.h for the exit-code contract).
#include <iostream>
#include <string>
#include <vector>

#include "tools/sentinelctl/commands.h"

namespace {

using sentinel::tools::CommandArgs;

struct Command {
  const char* name;
  const char* summary;  // the line shown by 'sentinelctl --help'
  int (*run)(const CommandArgs&);
};

// One row per command, in the order --help lists them.
const Command kCommands[] = {
    {"scan",
     "inventory every replica directory on this node's Longhorn disks (reads metadata and\n"
     "           extent maps only; --deep reads the data; never writes to the disks)",
     sentinel::tools::run_scan_command},
    {"plan",
     "which replicas of a volume to salvage, why, what Longhorn itself would keep, and the exact\n"
     "           commands (offline, from `scan --json` inventories of every node)",
     sentinel::tools::run_plan_command},
    {"status", "what this node's sentinel-agent is doing (last scans, collector link, spool)",
     sentinel::tools::run_status_command},
    {"export",
     "write a replica's volume (head or a snapshot) to a sparse raw image or stdout, read-only",
     sentinel::tools::run_export_command},
    {"diff", "compare two replicas' volumes: locally byte by byte, or across nodes from chunk lists",
     sentinel::tools::run_diff_command},
    {"volumes", "every volume the collector knows, with its replicas across nodes (--collector URL)",
     sentinel::tools::run_volumes_command},
    {"volume", "one volume's replicas on every node: counters, sizes, digests (--collector URL)",
     sentinel::tools::run_volume_command},
    {"nodes", "the nodes reporting to the collector, their last report and staleness (--collector URL)",
     sentinel::tools::run_nodes_command},
    {"watch", "the collector's events as they happen, from RabbitMQ (--amqp-url URL; text or --json)",
     sentinel::tools::run_watch_command},
};

void print_usage(std::ostream& out) {
  out << "sentinelctl: read-only forensics for Longhorn replicas\n"
         "\n"
         "Usage: sentinelctl <command> [options]\n"
         "\n"
         "Commands:\n";
  for (const auto& command : kCommands) {
    std::string name = command.name;
    name.resize(std::max<size_t>(name.size() + 1, 9), ' ');
    out << "  " << name << command.summary << "\n";
  }
  out << "\n"
         "Run 'sentinelctl <command> --help' for the options of a command. Options may also come before the\n"
         "command: sentinelctl --socket /run/sentinel/agent.sock status\n"
         "Exit codes: 0 ran (findings or not), 1 could not run, 2 usage error.\n";
}

// `sentinelctl --socket PATH status` and `sentinelctl --collector URL volumes` read naturally; the commands parse
// their own options, so options given before the command word (as `--name value` or `--name=value`) are moved
// after it.
CommandArgs options_after_command(CommandArgs args) {
  size_t i = 0;
  while (i < args.size() && args[i].rfind("--", 0) == 0 && args[i] != "--help") {
    i += args[i].find('=') == std::string::npos ? 2 : 1;
  }
  if (i == 0 || i >= args.size()) return args;
  CommandArgs reordered{args[i]};
  reordered.insert(reordered.end(), args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i));
  reordered.insert(reordered.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
  return reordered;
}

}  // namespace

int main(int argc, char** argv) {
  CommandArgs args = options_after_command(CommandArgs(argv + 1, argv + argc));
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    print_usage(std::cout);
    return args.empty() ? sentinel::tools::kExitUsage : sentinel::tools::kExitOk;
  }
  const std::string name = args[0];
  args.erase(args.begin());
  for (const auto& command : kCommands) {
    if (name != command.name) continue;
    try {
      return command.run(args);
    } catch (const std::exception& e) {
      std::cerr << "sentinelctl " << name << ": " << e.what() << "\n";
      return sentinel::tools::kExitCouldNotRun;
    }
  }
  std::cerr << "sentinelctl: unknown command '" << name << "'\n\n";
  print_usage(std::cerr);
  return sentinel::tools::kExitUsage;
}
