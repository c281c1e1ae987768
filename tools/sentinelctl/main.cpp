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
         "Run 'sentinelctl <command> --help' for the options of a command.\n"
         "Exit codes: 0 ran (findings or not), 1 could not run, 2 usage error.\n";
}

}  // namespace

int main(int argc, char** argv) {
  CommandArgs args(argv + 1, argv + argc);
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
