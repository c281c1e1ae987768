// sentinelctl scan: the offline inventory of this node's Longhorn disks (quick, or --deep with data reads).
#include <unistd.h>

#include <boost/program_options.hpp>
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "proto/wire/option_error.h"
#include "salvage/export_progress.h"
#include "scanner/deep_scan.h"
#include "scanner/deep_scan_cache.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"
#include "tools/sentinelctl/scan_progress.h"

namespace po = boost::program_options;

namespace sentinel::tools {

namespace {

// The progress line on stderr: redrawn in place on a terminal, one line per update otherwise (--progress).
// Warnings printed meanwhile clear the line first.
class ProgressLine {
 public:
  ProgressLine(bool shown, bool terminal) : shown_(shown), terminal_(terminal) {}
  [[nodiscard]] bool shown() const { return shown_; }
  void draw(const std::string& line) {
    if (!shown_) return;
    if (terminal_) {
      std::cerr << "\r" << line << "\033[K" << std::flush;
      dirty_ = true;
    } else {
      std::cerr << line << "\n" << std::flush;
    }
  }
  // Ends the line in place (the next output starts on a clean line).
  void clear() {
    if (dirty_) std::cerr << "\r\033[K" << std::flush;
    dirty_ = false;
  }

 private:
  bool shown_;
  bool terminal_;
  bool dirty_ = false;
};

// The deep scan of every replica of `inventory`, one after the other, with progress and the cache.
void deep_scan_with_progress(sentinel::scanner::FileSystem& fs, v1::Inventory* inventory,
                             sentinel::scanner::DeepScanOptions options, ProgressLine* line) {
  namespace sc = sentinel::scanner;
  ScanProgress progress;
  progress.replicas_total = static_cast<uint32_t>(inventory->replicas_size());
  std::vector<uint64_t> planned;  // per replica, in inventory order
  planned.reserve(inventory->replicas_size());
  for (const auto& replica : inventory->replicas()) {
    planned.push_back(sc::deep_scan_planned_bytes(replica, options));
    progress.total_bytes += planned.back();
  }
  salvage::ProgressThrottle throttle(kScanProgressInterval);
  if (line->shown()) {
    options.on_read = [&](uint64_t bytes) {
      progress.done_bytes += bytes;
      if (throttle.due(&progress.elapsed_seconds)) line->draw(format_scan_progress(progress));
    };
  }
  auto scanner = sc::DeepScanner::create(fs, options);
  if (!scanner) {  // every replica gets a finding saying why
    sc::deep_scan_inventory(fs, inventory, options);
    return;
  }
  for (v1::Replica& replica : *inventory->mutable_replicas()) {
    progress.current = replica.dir();
    const uint64_t done_before = progress.done_bytes;
    (*scanner)->scan_replica(&replica);
    // The plan was an upper bound (shadowed layers, cached images): correct the total with what was read.
    progress.total_bytes = progress.total_bytes - planned[progress.replicas_done] + (progress.done_bytes - done_before);
    ++progress.replicas_done;
  }
  if (options.cache != nullptr) sc::prune_deep_scan_cache(fs, *options.cache, *inventory);
  if (line->shown()) {
    line->clear();
    ScanSummary summary;
    summary.replicas = progress.replicas_total;
    summary.read_bytes = progress.done_bytes;
    summary.elapsed_seconds = throttle.elapsed();
    if (options.cache != nullptr) {
      const auto stats = options.cache->stats();
      summary.cache_used = true;
      summary.images_reused = stats.image_hits;
      summary.images_total = stats.image_hits + stats.image_misses;
      summary.digests_reused = stats.content_hits;
      summary.digests_total = stats.content_hits + stats.content_misses;
    }
    std::cerr << format_scan_summary(summary) << "\n";
  }
}

}  // namespace

int run_scan_command(const std::vector<std::string>& args) {
  po::options_description opts(
      "sentinelctl scan [--disk DIR]... [--json] [--extents] [--deep [--chunks] [--cache-dir DIR]]\n"
      "                 [--progress | --no-progress]\n"
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
      "  sentinelctl scan --deep --cache-dir /var/cache/sentinel   # re-scans read only what changed\n"
      "  sudo sentinelctl scan --socket /run/sentinel/agent.sock --deep --volume pvc-5adeffdc-...\n"
      "\n"
      "With --socket the node's sentinel-agent runs the scan (joining one already running), reports it to the\n"
      "collector and sends the inventory back. A deep scan shows its progress (bytes, rate, time left) when\n"
      "stderr is a terminal; --progress / --no-progress override that.\n"
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
      "cache-dir", po::value<std::string>(),
      "with --deep: keep what the deep scan computed in this directory (created if missing; never under a "
      "--disk) and, on the next scan, reuse it for every snapshot and merged volume whose files (device, inode, "
      "size, mtime, ctime) did not change; reused results say so (crc64FromCache, content.fromCache)")(
      "progress", po::bool_switch(), "show deep-scan progress on stderr even when it is not a terminal")(
      "no-progress", po::bool_switch(), "never show deep-scan progress (by default it is shown on a terminal)")(
      "threads", po::value<unsigned>()->default_value(0),
      "replica directories scanned at once, and with --deep the lanes that read one big file at once; 0 = one "
      "per core (at most 8 directories, 4 lanes); 1 keeps the load off a busy node")(
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
    std::cerr << "sentinelctl scan: " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  if (vm["progress"].as<bool>() && vm["no-progress"].as<bool>()) {
    std::cerr << "sentinelctl scan: --progress and --no-progress contradict each other\n";
    return kExitUsage;
  }
  const ProgressMode progress_mode = vm["progress"].as<bool>()      ? ProgressMode::kOn
                                     : vm["no-progress"].as<bool>() ? ProgressMode::kOff
                                                                    : ProgressMode::kAuto;
  const bool deep = vm["deep"].as<bool>() || vm["chunks"].as<bool>();
  if (vm.count("socket")) {
    if (vm.count("disk") || vm["extents"].as<bool>() || vm["chunks"].as<bool>() || vm.count("cache-dir")) {
      std::cerr << "sentinelctl scan: --disk, --extents, --chunks and --cache-dir are the agent's settings with "
                   "--socket\n";
      return kExitUsage;
    }
    AgentScanOptions agent;
    agent.socket_path = vm["socket"].as<std::string>();
    agent.deep = vm["deep"].as<bool>();
    agent.volume = vm.count("volume") ? vm["volume"].as<std::string>() : "";
    agent.json = vm["json"].as<bool>();
    agent.compact = vm["compact"].as<bool>();
    agent.progress = progress_mode;
    return run_agent_scan(agent);
  }
  if (vm.count("volume")) {
    std::cerr << "sentinelctl scan: --volume needs --socket and --deep (an offline scan reads every replica)\n";
    return kExitUsage;
  }
  std::vector<std::string> disks = vm.count("disk") ? vm["disk"].as<std::vector<std::string>>()
                                                    : std::vector<std::string>{"/var/lib/longhorn"};
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  ProgressLine line(deep && progress_wanted(progress_mode, terminal), terminal);
  // The cache is opened (and refused when it would be under a disk) before anything is scanned.
  std::unique_ptr<sentinel::scanner::DeepScanCache> cache;
  if (vm.count("cache-dir")) {
    if (!deep) {
      std::cerr << "sentinelctl scan: --cache-dir needs --deep (a quick scan reads no data)\n";
      return kExitUsage;
    }
    sentinel::scanner::DeepScanCacheOptions cache_options;
    cache_options.dir = vm["cache-dir"].as<std::string>();
    cache_options.disks = disks;
    cache_options.warn = [&line](const std::string& message) {
      line.clear();
      std::cerr << "sentinelctl scan: warning: " << message << "\n";
    };
    std::string error;
    cache = sentinel::scanner::DeepScanCache::open(cache_options, &error);
    if (!cache) {
      std::cerr << "sentinelctl scan: --cache-dir refused: " << error << "\n";
      return kExitUsage;
    }
  }
  sentinel::scanner::ScanOptions scan_options;
  scan_options.include_extents = vm["extents"].as<bool>();
  scan_options.threads = vm["threads"].as<unsigned>();
  sentinel::scanner::PosixFileSystem fs;
  auto inventory = sentinel::scanner::scan_disks(fs, disks, vm["node"].as<std::string>(), scan_options);
  if (deep) {
    sentinel::scanner::DeepScanOptions deep_options;
    deep_options.keep_chunks = vm["chunks"].as<bool>();
    deep_options.cache = cache.get();
    deep_options.read_lanes = std::min(vm["threads"].as<unsigned>(), 64u);
    deep_scan_with_progress(fs, &inventory, deep_options, &line);
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
