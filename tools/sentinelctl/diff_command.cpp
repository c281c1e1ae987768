// sentinelctl diff: do two replicas of a volume hold the same bytes, and where not. Locally by reading both
// merged volumes, or across nodes from two deep scans' chunk lists without moving any data.
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "proto/wire/option_error.h"
#include "salvage/chunk_diff.h"
#include "salvage/replica_diff.h"
#include "scanner/file_system.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_file.h"
#include "tools/sentinelctl/inventory_output.h"

namespace po = boost::program_options;

namespace sentinel::tools {

namespace {

// Exit code when both replicas were compared and differ.
constexpr int kExitDifferent = 3;

// The one replica of `volume` in `inventory` (restricted to directory `dir` when given), or why not.
const v1::Replica* pick_replica(const v1::Inventory& inventory, const std::string& path, const std::string& volume,
                                const std::string& dir, std::string* error) {
  std::vector<const v1::Replica*> found;
  for (const auto& r : inventory.replicas()) {
    if (r.volume() == volume && (dir.empty() || r.dir() == dir)) found.push_back(&r);
  }
  if (found.size() == 1) return found[0];
  if (found.empty()) {
    *error = path + " (node " + inventory.node() + ") holds no replica of " + volume +
             (dir.empty() ? "" : " in directory " + dir);
  } else {
    *error = path + " holds " + std::to_string(found.size()) + " replicas of " + volume + ":";
    for (const auto* r : found) *error += " " + r->dir();
    *error += "; choose one with --dir (one per --inventory, in the same order)";
  }
  return nullptr;
}

void describe_side(const std::string& path, const v1::Inventory& inventory, const v1::Replica& replica,
                   v1::DiffSide* side) {
  side->set_source(path);
  side->set_node(inventory.node());
  side->set_disk(replica.disk());
  side->set_dir(replica.dir());
  side->set_volume(replica.volume());
  side->set_size_bytes(replica.size_bytes());
  side->set_content_digest(replica.content_digest());
}

v1::DiffReport diff_inventories(const std::vector<std::string>& paths, const std::vector<std::string>& dirs,
                                const std::string& volume) {
  v1::DiffReport report;
  report.set_method(v1::DiffReport::CHUNK_LISTS);
  InventoryFile loaded[2];
  const v1::Replica* replicas[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    loaded[i] = read_inventory_file(paths[i]);
    if (!loaded[i].error.empty()) {
      report.set_verdict(v1::DiffReport::FAILED);
      report.set_error(loaded[i].error);
      return report;
    }
    std::string error;
    replicas[i] = pick_replica(loaded[i].inventory, paths[i], volume, dirs.empty() ? "" : dirs[i], &error);
    if (replicas[i] == nullptr) {
      report.set_verdict(v1::DiffReport::FAILED);
      report.set_error(error);
      return report;
    }
  }
  describe_side(paths[0], loaded[0].inventory, *replicas[0], report.mutable_a());
  describe_side(paths[1], loaded[1].inventory, *replicas[1], report.mutable_b());
  const salvage::ChunkDiff diff = salvage::diff_chunk_lists(*replicas[0], *replicas[1]);
  switch (diff.comparison) {
    case salvage::ContentComparison::kEqual:
      report.set_verdict(v1::DiffReport::EQUAL);
      break;
    case salvage::ContentComparison::kDifferent:
      report.set_verdict(v1::DiffReport::DIFFERENT);
      break;
    case salvage::ContentComparison::kUnknown:
      report.set_verdict(v1::DiffReport::UNKNOWN);
      break;
  }
  report.set_note(diff.note);
  report.set_granularity_bytes(diff.chunk_bytes);
  for (const auto& range : diff.differing) {
    auto* out = report.add_ranges();
    out->set_offset(range.offset);
    out->set_length(range.length);
  }
  report.set_differing_bytes(diff.differing_bytes);
  report.set_differing_chunks(diff.differing_chunks);
  return report;
}

void print_side(const char* label, const v1::DiffSide& side, bool local, std::ostream& out) {
  out << "  " << label << "  ";
  if (!side.node().empty()) out << "node " << side.node() << ", ";
  out << (local ? side.source() : side.disk() + "/replicas/" + side.dir()) << "\n";
  out << "     size " << human_bytes(side.size_bytes()) << ", content digest "
      << (side.content_digest().empty() ? "(none)" : side.content_digest());
  if (local) out << ", " << human_bytes(side.read_bytes()) << " read";
  out << "\n";
  for (const auto& warning : side.warnings()) out << "     warning: " << warning << "\n";
}

void print_report(const v1::DiffReport& r, std::ostream& out) {
  const bool local = r.method() == v1::DiffReport::MERGED_VOLUMES;
  const std::string volume = r.a().volume().empty() ? "the volumes" : r.a().volume();
  switch (r.verdict()) {
    case v1::DiffReport::EQUAL:
      out << "EQUAL: both replicas hold the same " << human_bytes(r.a().size_bytes()) << " of " << volume
          << (local ? " (compared byte for byte)" : " (compared by 4 MiB chunk digests)") << "\n";
      break;
    case v1::DiffReport::DIFFERENT:
      out << "DIFFERENT: " << volume << " differs in " << r.ranges_size() << " range(s), "
          << human_bytes(r.differing_bytes()) << " in " << r.differing_chunks() << " chunk(s) of 4 MiB"
          << (local ? " (compared byte for byte, in 4 KiB blocks)"
                    : " (from chunk digests: each range is whole 4 MiB chunks)")
          << "\n";
      break;
    case v1::DiffReport::UNKNOWN:
      out << "UNKNOWN: the inventories cannot tell whether the replicas differ\n";
      break;
    default:
      break;
  }
  print_side("A", r.a(), local, out);
  print_side("B", r.b(), local, out);
  if (!r.note().empty()) out << "  note: " << r.note() << "\n";
  constexpr int kShown = 50;
  if (r.ranges_size() > 0) out << "  differing byte ranges (offset, length):\n";
  for (int i = 0; i < r.ranges_size() && i < kShown; ++i) {
    const auto& range = r.ranges(i);
    char line[160];
    std::snprintf(line, sizeof line, "    %14llu  %12llu   [%s at %s]\n",
                  static_cast<unsigned long long>(range.offset()), static_cast<unsigned long long>(range.length()),
                  human_bytes(range.length()).c_str(), human_bytes(range.offset()).c_str());
    out << line;
  }
  if (r.ranges_size() > kShown) out << "    ... " << r.ranges_size() - kShown << " more (--json lists all)\n";
}

}  // namespace

int run_diff_command(const CommandArgs& args) {
  po::options_description opts(
      "sentinelctl diff DIR_A DIR_B [--json]\n"
      "sentinelctl diff --inventory A.json --inventory B.json --volume VOLUME [--dir DIR --dir DIR] [--json]\n"
      "\n"
      "Tells whether two replicas of a volume hold the same bytes (their merged volumes, as Longhorn presents\n"
      "them) and lists the byte ranges that differ. Read-only: nothing under a replica is changed.\n"
      "\n"
      "DIR_A DIR_B: two replica directories on this host. Both merged volumes are read at the same time and\n"
      "compared byte for byte; differing 4 KiB blocks are reported as byte ranges. Holes are never read.\n"
      "\n"
      "--inventory (twice): two nodes. No data is read or moved: the 4 MiB chunk digests recorded by\n"
      "`sentinelctl scan --deep --chunks --json` on each node are compared; differing ranges are whole chunks.\n"
      "Run a local diff (or export both) to narrow a chunk down to 4 KiB blocks.\n"
      "\n"
      "Examples:\n"
      "  sentinelctl diff /var/lib/longhorn/replicas/pvc-1234-6b3c66b1 /mnt/disk2/replicas/pvc-1234-d2100af3\n"
      "  # across nodes: scan each node, bring the two JSON files together, compare\n"
      "  worker-1$ sentinelctl scan --deep --chunks --json > worker-1.json\n"
      "  worker-2$ sentinelctl scan --deep --chunks --json > worker-2.json\n"
      "  sentinelctl diff --inventory worker-1.json --inventory worker-2.json --volume pvc-1234\n"
      "  sentinelctl diff DIR_A DIR_B --json | jq '.ranges'\n"
      "\n"
      "Exit codes: 0 the replicas are equal; 3 they differ; 1 could not compare (a replica cannot be read or\n"
      "changed during the read, an inventory lacks the chunk lists); 2 usage error.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")("inventory,i", po::value<std::vector<std::string>>()->composing(),
                                                 "an inventory file (`scan --deep --chunks --json`); give exactly two")(
      "volume,v", po::value<std::string>(), "with --inventory: the volume whose replicas to compare")(
      "dir", po::value<std::vector<std::string>>()->composing(),
      "with --inventory, when one holds several replicas of the volume: the replica directory name to use "
      "(give it twice, in the order of the --inventory files)")(
      "json", po::bool_switch(), "print the result as JSON (sentinel.v1.DiffReport)")("compact", po::bool_switch(),
                                                                                      "with --json: one line");
  po::options_description hidden;
  hidden.add_options()("replica-dirs", po::value<std::vector<std::string>>(), "DIR_A DIR_B");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description positionals;
  positionals.add("replica-dirs", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positionals).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl diff: " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  auto usage = [&](const std::string& why) {
    std::cerr << "sentinelctl diff: " << why << "\nRun 'sentinelctl diff --help' for examples.\n";
    return kExitUsage;
  };
  const auto dirs =
      vm.count("replica-dirs") ? vm["replica-dirs"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const auto inventories =
      vm.count("inventory") ? vm["inventory"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const auto pick_dirs = vm.count("dir") ? vm["dir"].as<std::vector<std::string>>() : std::vector<std::string>{};

  v1::DiffReport report;
  if (!inventories.empty()) {
    if (!dirs.empty()) return usage("give either two replica directories or two --inventory files, not both");
    if (inventories.size() != 2) return usage("--inventory must be given exactly twice");
    if (!vm.count("volume")) return usage("--volume VOLUME is required with --inventory");
    if (!pick_dirs.empty() && pick_dirs.size() != 2) return usage("--dir must be given twice (one per --inventory)");
    const auto started = std::chrono::steady_clock::now();
    report = diff_inventories(inventories, pick_dirs, vm["volume"].as<std::string>());
    report.set_duration_ns(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count());
  } else {
    if (dirs.size() != 2) return usage("give two replica directories (or two --inventory files)");
    if (vm.count("volume") || !pick_dirs.empty()) return usage("--volume and --dir go with --inventory");
    salvage::ReplicaDiffRequest request;
    request.dir_a = dirs[0];
    request.dir_b = dirs[1];
    sentinel::scanner::PosixFileSystem fs;
    report = salvage::diff_replica_dirs(fs, request);
  }

  if (vm["json"].as<bool>()) {
    std::cout << message_to_json(report, !vm["compact"].as<bool>()) << "\n";
  } else if (report.verdict() != v1::DiffReport::FAILED) {
    print_report(report, std::cout);
  }
  switch (report.verdict()) {
    case v1::DiffReport::EQUAL:
      return kExitOk;
    case v1::DiffReport::DIFFERENT:
      return kExitDifferent;
    case v1::DiffReport::UNKNOWN:
      std::cerr << "sentinelctl diff: cannot compare: " << report.note() << "\n";
      return kExitCouldNotRun;
    default:
      std::cerr << "sentinelctl diff: " << report.error() << "\n";
      return kExitCouldNotRun;
  }
}

}  // namespace sentinel::tools
