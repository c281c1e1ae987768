// sentinel-gen: writes Longhorn-format replica trees to try Sentinel on, without a cluster.
//
// Exit codes: 0 written; 1 could not write (the error names the file and errno); 2 usage error.
// Never overwrites: writing into a tree that already holds the same entries fails with EEXIST.
#include <signal.h>
#include <time.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "proto/wire/option_error.h"
#include "scanner/replica_names.h"
#include "tools/treegen/broken_cases.h"
#include "tools/treegen/churn.h"
#include "tools/treegen/incident_sample.h"
#include "tools/treegen/posix_io.h"

namespace po = boost::program_options;
namespace tg = sentinel::treegen;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitCouldNotWrite = 1;
constexpr int kExitUsage = 2;

const char* kTopUsage =
    "sentinel-gen: writes Longhorn v1 replica trees (as longhorn-engine v1.5.3 lays them out) for tests and demos\n"
    "\n"
    "Usage: sentinel-gen <command> --out DIR      (churn: sentinel-gen churn --disk DIR...)\n"
    "\n"
    "Commands:\n"
    "  incident   two nodes' disks after a bad night: a degraded 8 GiB volume with one replica left, and a\n"
    "             40 GiB volume whose two replicas both crashed (Dirty) at different moments. Which one to\n"
    "             salvage? Writes DIR/worker-1 and DIR/worker-2 (~13 MiB on disk, ~184 GiB apparent).\n"
    "  broken     one Longhorn disk at DIR whose replicas/ holds 50+ kinds of damage (bad JSON, cycles,\n"
    "             symlinks, FIFOs, odd names, ...), each listed with the finding Sentinel must report.\n"
    "  churn      stands in for Longhorn's replica processes on --disk DIR...: keeps writing heads, taking\n"
    "             snapshots, deleting and creating replica directories, until SIGTERM (for soak tests).\n"
    "\n"
    "Images are sparse and their content is deterministic: the same command always writes the same bytes.\n"
    "Then look at it with:  sentinelctl scan --disk DIR/worker-1 --disk DIR/worker-2   (or --disk DIR)\n"
    "\n"
    "Run 'sentinel-gen <command> --help' for details.\n"
    "Exit codes: 0 written, 1 could not write, 2 usage error.\n";

// Parses `--out DIR` (and --help). Returns the directory, or nullopt after printing help / a usage error.
std::optional<std::string> parse_out(const std::string& command, const char* description,
                                     const std::vector<std::string>& args, int* exit_code) {
  po::options_description opts(description);
  opts.add_options()("help,h", "show this help")("out,o", po::value<std::string>(),
                                                 "directory to write into (created if missing)");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinel-gen " << command << ": " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    *exit_code = kExitOk;
    return std::nullopt;
  }
  if (!vm.count("out")) {
    std::cerr << "sentinel-gen " << command << ": --out DIR is required\n\n" << opts << "\n";
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  return vm["out"].as<std::string>();
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  while (bytes >= 1024 && bytes % 1024 == 0 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + " " + units[unit];
}

int run_incident(const std::vector<std::string>& args) {
  int exit_code = kExitOk;
  auto out = parse_out("incident",
                       "sentinel-gen incident --out DIR\n"
                       "\n"
                       "Writes DIR/worker-1 and DIR/worker-2, two Longhorn disks (longhorn-disk.cfg + replicas/):\n"
                       "  pvc-7de9f38e-...  8 GiB, degraded: its only replica is on worker-1 (a Removed snapshot\n"
                       "                    still in the chain, a leftover .checksum..tmp)\n"
                       "  pvc-5adeffdc-... 40 GiB, detached: replicas on worker-1 and worker-2, both Dirty:true;\n"
                       "                    worker-1 has the higher revision counter, the newer head and more data\n"
                       "\n"
                       "Options",
                       args, &exit_code);
  if (!out) return exit_code;
  if (auto r = tg::write_incident_sample(*out); !r) {
    std::cerr << "sentinel-gen incident: " << r.error().message() << "\n";
    return kExitCouldNotWrite;
  }
  const tg::IncidentSample sample = tg::incident_sample();
  for (const auto& disk : sample.disks) {
    std::cout << "disk " << tg::join(*out, disk.node) << "  (diskUUID " << disk.disk_uuid << ")\n";
    for (const auto& placed : sample.replicas) {
      if (placed.node != disk.node) continue;
      const tg::ReplicaSpec& spec = placed.spec;
      std::cout << "  replicas/" << spec.dir << "\n"
                << "    size " << human_bytes(static_cast<uint64_t>(spec.size)) << ", " << spec.layers.size()
                << " layers, head " << spec.layers.back().file << ", revision counter "
                << (spec.revision_counter ? std::to_string(*spec.revision_counter) : "absent")
                << (spec.dirty ? ", Dirty:true" : ", Dirty:false") << "\n";
    }
  }
  std::cout << "\nscan it:  sentinelctl scan --disk " << tg::join(*out, "worker-1") << " --disk "
            << tg::join(*out, "worker-2") << "\n";
  return kExitOk;
}

int run_broken(const std::vector<std::string>& args) {
  int exit_code = kExitOk;
  auto out = parse_out("broken",
                       "sentinel-gen broken --out DIR\n"
                       "\n"
                       "Makes DIR a Longhorn disk (longhorn-disk.cfg + replicas/) and fills replicas/ with one broken\n"
                       "replica directory or stray entry per kind of damage, plus one healthy control replica.\n"
                       "Prints each entry with the finding code `sentinelctl scan` must report for it, and where.\n"
                       "Names may hold newlines or invalid UTF-8; they are printed escaped (\\n, \\xNN).\n"
                       "\n"
                       "Options",
                       args, &exit_code);
  if (!out) return exit_code;
  if (auto r = tg::write_disk(*out, "broken-disk", "0badd15c-0000-4000-8000-000000000000"); !r) {
    std::cerr << "sentinel-gen broken: " << r.error().message() << "\n";
    return kExitCouldNotWrite;
  }
  const std::string replicas = tg::join(*out, "replicas");
  if (auto r = tg::write_replica(replicas, tg::healthy_small_replica("healthy-control-600d600d")); !r) {
    std::cerr << "sentinel-gen broken: " << r.error().message() << "\n";
    return kExitCouldNotWrite;
  }
  auto table = tg::write_broken_cases(replicas);
  if (!table) {
    std::cerr << "sentinel-gen broken: " << table.error().message() << "\n";
    return kExitCouldNotWrite;
  }
  std::cout << "wrote " << table->size() << " broken entries and replicas/healthy-control-600d600d (CLEAN) under "
            << replicas << "\n\n";
  for (const auto& row : *table) {
    std::string where = row.place == tg::FindingPlace::kDisk ? "disk" : "replica";
    if (!row.file.empty()) where += " file " + sentinel::scanner::escape_name(row.file);
    std::cout << sentinel::scanner::escape_name(row.entry) << "\n    " << sentinel::v1::Finding::Code_Name(row.code)
              << " (" << where << "): " << row.what << "\n";
    if (!row.skip_reason.empty()) std::cout << "    note: " << row.skip_reason << "\n";
  }
  std::cout << "\nscan it:  sentinelctl scan --disk " << *out << "\n";
  return kExitOk;
}

volatile sig_atomic_t g_stop = 0;
void request_stop(int) { g_stop = 1; }

int run_churn(const std::vector<std::string>& args) {
  po::options_description opts(
      "sentinel-gen churn --disk DIR [--disk DIR]... [options]\n"
      "\n"
      "Stands in for Longhorn's replica processes, for soak tests: makes each DIR a Longhorn disk if it is not one\n"
      "yet, creates --replicas live replicas on each, then every --interval-ms does one thing to one replica, the\n"
      "way longhorn-engine does it: writes 4 KiB blocks into its head (O_DIRECT) and bumps revision.counter\n"
      "(mostly); takes a snapshot (head hard-linked to volume-snap-<uuid>.img, a new head, metadata through\n"
      "<file>.tmp + rename; a correct .img.checksum record follows a few steps later); closes it cleanly\n"
      "(Dirty:false) or reopens it; deletes its directory and creates a new replica. It never writes a wrong byte\n"
      "or a wrong checksum. Stops at SIGTERM/SIGINT (or after --seconds) and prints what it did on one line.\n"
      "\n"
      "WRITES UNDER THE GIVEN DISKS: never point it at a real Longhorn disk.\n"
      "\n"
      "Options");
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("disk", po::value<std::vector<std::string>>()->composing(), "a disk directory to churn (repeatable)")
    ("replicas", po::value<unsigned>()->default_value(4), "live replicas per disk")
    ("interval-ms", po::value<unsigned>()->default_value(20), "milliseconds between steps")
    ("seconds", po::value<unsigned>()->default_value(0), "stop after this long; 0 = at SIGTERM/SIGINT only")
    ("seed", po::value<uint64_t>()->default_value(1), "random seed")
    ("volume-mib", po::value<uint64_t>()->default_value(1024), "volume size (the heads' apparent size)")
    ("data-mib", po::value<uint64_t>()->default_value(16), "writes land in the first this many MiB")
    ("max-layers", po::value<unsigned>()->default_value(10), "a replica with this many layers is replaced")
    ("ready-file", po::value<std::string>(), "written (\"ready\") once the initial replicas exist");
  // clang-format on
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinel-gen churn: " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  if (!vm.count("disk")) {
    std::cerr << "sentinel-gen churn: --disk DIR is required\n\n" << opts << "\n";
    return kExitUsage;
  }
  tg::ChurnOptions options;
  options.disks = vm["disk"].as<std::vector<std::string>>();
  options.replicas_per_disk = vm["replicas"].as<unsigned>();
  options.seed = vm["seed"].as<uint64_t>();
  options.volume_bytes = vm["volume-mib"].as<uint64_t>() << 20;
  options.data_bytes = vm["data-mib"].as<uint64_t>() << 20;
  options.max_layers = vm["max-layers"].as<unsigned>();
  if (options.replicas_per_disk == 0) {
    std::cerr << "sentinel-gen churn: --replicas must be at least 1\n";
    return kExitUsage;
  }

  struct sigaction action {};
  action.sa_handler = request_stop;
  sigemptyset(&action.sa_mask);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);

  auto churn = tg::Churn::start(options);
  if (!churn) {
    std::cerr << "sentinel-gen churn: " << churn.error().message() << "\n";
    return kExitCouldNotWrite;
  }
  if (vm.count("ready-file")) {
    const std::string path = vm["ready-file"].as<std::string>();
    std::ofstream(path + ".tmp") << "ready\n";
    std::rename((path + ".tmp").c_str(), path.c_str());
  }
  const unsigned interval_ms = vm["interval-ms"].as<unsigned>();
  const unsigned seconds = vm["seconds"].as<unsigned>();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int exit_code = kExitOk;
  while (!g_stop && (seconds == 0 || std::chrono::steady_clock::now() < deadline)) {
    if (auto r = (*churn)->step(); !r) {
      std::cerr << "sentinel-gen churn: " << r.error().message() << "\n";
      exit_code = kExitCouldNotWrite;
      break;
    }
    if (interval_ms > 0) {
      timespec pause{static_cast<time_t>(interval_ms / 1000), static_cast<long>(interval_ms % 1000) * 1'000'000};
      nanosleep(&pause, nullptr);  // a signal ends it early
    }
  }
  std::cout << "churn: " << (*churn)->stats().line() << std::endl;
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kTopUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  try {
    if (command == "incident") return run_incident(args);
    if (command == "broken") return run_broken(args);
    if (command == "churn") return run_churn(args);
  } catch (const std::exception& e) {
    std::cerr << "sentinel-gen " << command << ": " << e.what() << "\n";
    return kExitCouldNotWrite;
  }
  std::cerr << "sentinel-gen: unknown command '" << command << "'\n\n" << kTopUsage;
  return kExitUsage;
}
