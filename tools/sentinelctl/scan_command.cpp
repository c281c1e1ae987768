// sentinelctl scan: the offline inventory of this node's Longhorn disks (quick, or --deep with data reads).
#include <boost/program_options.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "scanner/deep_scan.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"

namespace po = boost::program_options;

namespace sentinel::tools {

int run_scan_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "sentinelctl scan [--disk DIR]... [--json] [--extents] [--deep [--chunks]]\n"
      "sentinelctl scan --socket PATH [--deep [--volume V]] [--json]\n"
      "\n"
      "Lists every directory under <disk>/replicas/ with its volume, size, allocated bytes, snapshot chain,\n"
      "revision counter, state and findings. Nothing on the disk is changed: files are opened read-only,\n"
      "without following symlinks and without updating access times.\n"
      "\n"
      "Examples:\n"
      "  sentinelctl scan                                   # /var/lib/longhorn\n"
      "  sentinelctl scan --disk /var/lib/longhorn --disk /mnt/disk2\n"
      "  sentinelctl scan --json | jq '.replicas[] | {volume, dir, revisionCounter}'\n"
      "  sentinelctl scan --deep --json | jq '.replicas[] | {volume, dir, contentDigest}'\n"
      "  sudo sentinelctl scan --socket /run/sentinel/agent.sock --deep --volume pvc-5adeffdc-...\n"
      "\n"
      "With --socket the node's sentinel-agent runs the scan (joining one already running), reports it to the\n"
      "collector and sends the inventory back; a deep scan shows its progress on a terminal.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")(
      "disk,d", po::value<std::vector<std::string>>()->composing(),
      "a Longhorn disk path (the directory holding replicas/); repeatable; default /var/lib/longhorn")(
      "json", po::bool_switch(), "print the inventory as JSON (protobuf JSON mapping of sentinel.v1.Inventory)")(
      "compact", po::bool_switch(), "with --json: one line, no indentation")(
      "extents", po::bool_switch(), "include each image's extent list (offset, length), not just the count")(
      "deep", po::bool_switch(),
      "also read every snapshot's allocated data (io_uring) for Longhorn's crc64, checked against .img.checksum, "
      "and each replica's merged volume for its content digest (XXH3-128 over 4 MiB chunks; equal digests = "
      "equal volume bytes)")(
      "chunks", po::bool_switch(),
      "with --deep (implies it): list the 4 MiB chunks of each merged volume that hold data, with their digests")(
      "threads", po::value<unsigned>()->default_value(0),
      "replica directories scanned at once; 0 = one per core (at most 8); 1 keeps the load off a busy node")(
      "node", po::value<std::string>()->default_value(host_name()), "node name recorded in the inventory")(
      "socket", po::value<std::string>(),
      "ask the sentinel-agent listening on this socket (e.g. /run/sentinel/agent.sock) to scan, instead of "
      "scanning here")(
      "volume", po::value<std::string>(), "with --socket --deep: deep-scan only this volume's replicas");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl scan: " << e.what() << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  if (vm.count("socket")) {
    if (vm.count("disk") || vm["extents"].as<bool>() || vm["chunks"].as<bool>()) {
      std::cerr << "sentinelctl scan: --disk, --extents and --chunks are the agent's settings with --socket\n";
      return kExitUsage;
    }
    AgentScanOptions agent;
    agent.socket_path = vm["socket"].as<std::string>();
    agent.deep = vm["deep"].as<bool>();
    agent.volume = vm.count("volume") ? vm["volume"].as<std::string>() : "";
    agent.json = vm["json"].as<bool>();
    agent.compact = vm["compact"].as<bool>();
    return run_agent_scan(agent);
  }
  if (vm.count("volume")) {
    std::cerr << "sentinelctl scan: --volume needs --socket and --deep (an offline scan reads every replica)\n";
    return kExitUsage;
  }
  std::vector<std::string> disks = vm.count("disk") ? vm["disk"].as<std::vector<std::string>>()
                                                    : std::vector<std::string>{"/var/lib/longhorn"};
  sentinel::scanner::ScanOptions scan_options;
  scan_options.include_extents = vm["extents"].as<bool>();
  scan_options.threads = vm["threads"].as<unsigned>();
  sentinel::scanner::PosixFileSystem fs;
  auto inventory = sentinel::scanner::scan_disks(fs, disks, vm["node"].as<std::string>(), scan_options);
  if (vm["deep"].as<bool>() || vm["chunks"].as<bool>()) {
    sentinel::scanner::DeepScanOptions deep_options;
    deep_options.keep_chunks = vm["chunks"].as<bool>();
    sentinel::scanner::deep_scan_inventory(fs, &inventory, deep_options);
  }

  if (vm["json"].as<bool>()) {
    std::cout << sentinel::tools::inventory_to_json(inventory, !vm["compact"].as<bool>()) << "\n";
  } else {
    sentinel::tools::print_inventory_table(inventory, std::cout);
  }
  // The scan "could not run" only when no disk could even be opened.
  bool any_disk_opened = false;
  for (const auto& disk : inventory.disks()) {
    bool unopened = false;
    for (const auto& f : disk.findings()) {
      if (f.code() == sentinel::v1::Finding::UNREADABLE && f.path().empty()) unopened = true;
    }
    any_disk_opened = any_disk_opened || !unopened;
  }
  if (!any_disk_opened) {
    std::cerr << "sentinelctl scan: no disk could be opened; check the --disk paths and permissions\n";
    return kExitCouldNotRun;
  }
  return kExitOk;
}

}  // namespace sentinel::tools
