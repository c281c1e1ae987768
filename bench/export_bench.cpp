// export_bench: the salvage issue's (issue 6) performance acceptance for export and diff, "Must show":
//
//   "Benchmarks in bench/: export of a 40 GiB volume whose chain has 4 layers and about 1.7 GB of data, vs
//    `cp --sparse=always` of the head file alone, same run: ratio <= 1.0; cross-node diff of two such replicas
//    differing in one 4 KiB block (from chunk lists) vs `qemu-img compare` of the two merged images on one
//    host: >= 10x faster. Printed with PASS/FAIL."
//
// What it does:
//  1. Generates (once; reused while the marker file matches) two Longhorn disks under --dir, worker-1 and
//     worker-2, each holding one replica of the volume pvc-bench-export (40 GiB), written by the project's
//     generator (tools/treegen: write_disk, write_replica; deterministic block content). The chain has 4 layers:
//     three snapshots and the head. 20,000 data runs (1,550 x 1 MiB + 18,450 x 4 KiB = 1.70 GB, one run per
//     2 MiB slot at a seeded random place, never touching the next) make up the merged volume; each run lives
//     in the head (94%) or in one of the snapshots (2% each, data only that snapshot supplies). Each snapshot
//     also holds older versions of 10% of the head's runs, which the head shadows (they are on disk, never
//     read by a merged read). So the head file alone holds ~1.6 GB and the merged volume 1.70 GB: the export
//     writes ~6% more than cp copies and has to merge four extent maps to do it. worker-2's replica is the
//     same except one 4 KiB block of the head (in its last data run: see (b)).
//  2. (a) Warm cache (the layers' data read once; one untimed run of each side), then --runs rounds,
//     interleaved: `sentinelctl export --replica A --output OUT` (child; it fsyncs its output before it
//     returns, and writes only the non-zero blocks) and `cp --sparse=always HEAD OUT2` followed by
//     `sync OUT2` (coreutils sync FILE = fsync). Ratio = export / (cp + sync): both durable on storage, the
//     like-for-like comparison; export / cp alone (cp leaves its data in the page cache) is printed too.
//  3. (b) The inventories are made the way two nodes make them: `sentinelctl scan --deep --chunks --json` on
//     each disk (timed, reported, not part of the ratio: each node does it on its own schedule). The two
//     merged images for the peer are made with `sentinelctl export` (untimed). Warm cache (both images' data
//     read once). Then --runs rounds, interleaved: `sentinelctl diff --inventory A.json --inventory B.json
//     --volume V` (child; reads only the two JSON files) and `qemu-img compare -f raw -F raw A.img B.img`
//     (skips holes through block status, reads and compares data, stops at the first mismatch). The differing
//     block sits in the head's last data run, so qemu-img compares all data before it: the work any full
//     comparison needs, as a differing block could be anywhere. The local `sentinelctl diff DIR_A DIR_B`
//     (same host, both merged volumes read and compared byte for byte) is timed as well, for information.
//     Checks: both tools find the block (qemu-img's offset, the diff's chunk, the local diff's exact range).
//  4. Prints every time, the ratios and PASS/FAIL per target.
//
// Exit: 0 when the report was produced (PASS or FAIL), 1 when it could not run, 2 on a usage error.
// It is a benchmark, never a test: not registered with ctest. Run it through bench/run-export.sh.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "tools/treegen/replica_writer.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace tg = sentinel::treegen;

using namespace sentinel::bench;  // NOLINT: the shared bench helpers

namespace {

constexpr int kExitReport = 0;
constexpr int kExitCouldNotRun = 1;
constexpr int kExitUsage = 2;

constexpr const char* kMarkerName = ".sentinel-bench-complete";        // written last: the tree is usable
constexpr const char* kGeneratingName = ".sentinel-bench-generating";  // written first: the tree is ours
constexpr const char* kVolume = "pvc-bench-export";
constexpr const char* kDirA = "pvc-bench-export-aaaa1111";
constexpr const char* kDirB = "pvc-bench-export-bbbb2222";
constexpr const char* kHead = "volume-head-003.img";
constexpr const char* kSnapshots[3] = {"volume-snap-0e1a2b3c-0000-4000-8000-000000000001.img",
                                       "volume-snap-0e1a2b3c-0000-4000-8000-000000000002.img",
                                       "volume-snap-0e1a2b3c-0000-4000-8000-000000000003.img"};
constexpr uint64_t kBlock = 4096;
constexpr uint64_t kBigRun = uint64_t{1} << 20;
constexpr uint64_t kChunk = uint64_t{4} << 20;
constexpr uint64_t kDivergentSeed = 0xd1ffd1ff;

constexpr double kMaxRatioExport = 1.0;  // (a)
constexpr double kMinRatioDiff = 10.0;   // (b)

struct Spec {
  uint64_t volume_size = uint64_t{40} << 30;
  uint64_t runs = 20'000;
  uint64_t big_runs = 1'550;
  double snapshot_share = 0.02;  // of the runs, each snapshot's own
  double stale_share = 0.10;     // of the head's runs, an older shadowed copy in each snapshot
  uint64_t seed = 20261124;

  [[nodiscard]] uint64_t data_bytes() const { return big_runs * kBigRun + (runs - big_runs) * kBlock; }
  [[nodiscard]] std::string marker() const {
    char share[64];
    std::snprintf(share, sizeof share, " snapshot_share=%.4f stale_share=%.4f", snapshot_share, stale_share);
    return "sentinel export bench tree v1 volume_size=" + std::to_string(volume_size) +
           " runs=" + std::to_string(runs) + " big_runs=" + std::to_string(big_runs) + share +
           " seed=" + std::to_string(seed) + "\n";
  }
};

struct Paths {
  fs::path dir;
  fs::path disk_a, disk_b, replica_a, replica_b, out;
  [[nodiscard]] fs::path head_a() const { return replica_a / kHead; }
};

Paths paths_of(const fs::path& dir) {
  Paths p;
  p.dir = dir;
  p.disk_a = dir / "worker-1";
  p.disk_b = dir / "worker-2";
  p.replica_a = p.disk_a / "replicas" / kDirA;
  p.replica_b = p.disk_b / "replicas" / kDirB;
  p.out = dir / "out";
  return p;
}

// ---------------------------------------------------------------------------------------------------------------
// The trees

struct Layout {
  std::vector<tg::LayerSpec> layers;  // oldest first, the head last
  uint64_t head_bytes = 0;
  uint64_t stale_bytes = 0;
  uint64_t divergent_offset = 0;  // where worker-2's head differs
};

// One run per slot of volume_size / runs bytes, at a random block inside it, never reaching the slot's end.
Layout plan(const Spec& spec) {
  const uint64_t slot_blocks = spec.volume_size / spec.runs / kBlock;
  if (slot_blocks < kBigRun / kBlock + 1) throw std::runtime_error("the runs do not fit in the volume");
  std::mt19937_64 rng(spec.seed);
  std::vector<uint64_t> lengths(spec.runs, 1);
  for (uint64_t i = 0; i < spec.big_runs; ++i) lengths[i] = kBigRun / kBlock;
  std::shuffle(lengths.begin(), lengths.end(), rng);
  std::uniform_real_distribution<double> unit(0.0, 1.0);

  Layout layout;
  layout.layers.resize(4);
  for (int i = 0; i < 3; ++i) {
    layout.layers[i].file = kSnapshots[i];
    layout.layers[i].seed = 101 + i;
    layout.layers[i].user_created = true;
  }
  layout.layers[3].file = kHead;
  layout.layers[3].seed = 104;
  for (uint64_t i = 0; i < spec.runs; ++i) {
    std::uniform_int_distribution<uint64_t> place(0, slot_blocks - lengths[i] - 1);
    const uint64_t offset = (i * slot_blocks + place(rng)) * kBlock;
    const uint64_t length = lengths[i] * kBlock;
    const double pick = unit(rng);
    const int layer = pick < spec.snapshot_share       ? 0
                      : pick < 2 * spec.snapshot_share ? 1
                      : pick < 3 * spec.snapshot_share ? 2
                                                       : 3;
    layout.layers[layer].writes.push_back({offset, length, 0});
    if (layer == 3) {
      layout.head_bytes += length;
      layout.divergent_offset = offset;  // the last one wins
      for (int s = 0; s < 3; ++s) {
        if (unit(rng) < spec.stale_share) {
          layout.layers[s].writes.push_back({offset, length, 201 + static_cast<uint64_t>(s)});  // older content
          layout.stale_bytes += length;
        }
      }
    }
  }
  for (auto& layer : layout.layers) {
    std::sort(layer.writes.begin(), layer.writes.end(),
              [](const tg::Write& a, const tg::Write& b) { return a.offset < b.offset; });
  }
  return layout;
}

void write_replica(const fs::path& disk, const std::string& disk_name, const std::string& uuid, const std::string& dir,
                   uint64_t size, std::vector<tg::LayerSpec> layers) {
  if (auto r = tg::write_disk(disk.string(), disk_name, uuid); !r) throw std::runtime_error(r.error().message());
  tg::ReplicaSpec spec;
  spec.dir = dir;
  spec.size = static_cast<int64_t>(size);
  spec.revision_counter = 1700;
  spec.layers = std::move(layers);
  if (auto r = tg::write_replica((disk / "replicas").string(), spec); !r) throw std::runtime_error(r.error().message());
}

// Returns the divergent block's offset (cached in the marker).
uint64_t ensure_trees(const Paths& p, const Spec& spec, bool regenerate) {
  const fs::path marker = p.dir / kMarkerName;
  if (!regenerate && fs::exists(marker)) {
    const std::string text = read_text(marker);
    if (text.rfind(spec.marker(), 0) == 0 && fs::exists(p.head_a()) && fs::exists(p.replica_b / kHead)) {
      const auto at = text.find("divergent_offset=");
      if (at != std::string::npos) return std::stoull(text.substr(at + 17));
    }
  }
  // Only ever delete a tree this benchmark made: never a real Longhorn disk pointed at by mistake.
  fs::create_directories(p.dir);
  const bool ours = fs::exists(marker) || fs::exists(p.dir / kGeneratingName);
  for (const auto& entry : fs::directory_iterator(p.dir)) {
    const std::string name = entry.path().filename().string();
    const bool known =
        name == "worker-1" || name == "worker-2" || name == "out" || name == kMarkerName || name == kGeneratingName;
    if (!known || !ours) {
      throw std::runtime_error(p.dir.string() + " holds " + name +
                               ", which this benchmark did not create; refusing to overwrite it. Use an empty or "
                               "new --dir.");
    }
  }
  write_file(p.dir / kGeneratingName, spec.marker());
  fs::remove(marker);
  for (const fs::path& d : {p.disk_a, p.disk_b, p.out}) fs::remove_all(d);

  Layout layout = plan(spec);
  std::printf(
      "generating two replicas of a %.0f GiB volume (4 layers; merged data %.3f GB, head %.3f GB, "
      "shadowed older copies %.3f GB) with tools/treegen ...",
      spec.volume_size / double(1ull << 30), spec.data_bytes() / 1e9, layout.head_bytes / 1e9,
      layout.stale_bytes / 1e9);
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  write_replica(p.disk_a, "worker-1-disk", "0b3e7c1a-3d5e-4c0e-9000-0000000000a1", kDirA, spec.volume_size,
                layout.layers);
  layout.layers.back().writes.push_back({layout.divergent_offset, kBlock, kDivergentSeed});
  write_replica(p.disk_b, "worker-2-disk", "0b3e7c1a-3d5e-4c0e-9000-0000000000b2", kDirB, spec.volume_size,
                layout.layers);
  for (const fs::path& disk : {p.disk_a, p.disk_b}) {
    int dfd = ::open(disk.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) fail_errno("open " + disk.string());
    if (::syncfs(dfd) != 0) fail_errno("syncfs " + disk.string());
    ::close(dfd);
  }
  fs::create_directories(p.out);
  write_file(marker, spec.marker() + "divergent_offset=" + std::to_string(layout.divergent_offset) + "\n");
  fs::remove(p.dir / kGeneratingName);
  std::printf(" done in %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return layout.divergent_offset;
}

// ---------------------------------------------------------------------------------------------------------------
// Page cache and file facts

// Reads every data byte of `path` once (SEEK_DATA/SEEK_HOLE, 1 MiB preads), so the timed runs start warm.
uint64_t read_data(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open " + path.string());
  std::vector<char> buf(kBigRun);
  uint64_t total = 0;
  for (off_t pos = 0;;) {
    const off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    for (off_t at = data; at < hole;) {
      const ssize_t n = ::pread(fd, buf.data(), std::min<off_t>(hole - at, static_cast<off_t>(buf.size())), at);
      if (n <= 0) break;
      at += n;
      total += static_cast<uint64_t>(n);
    }
    pos = hole;
  }
  ::close(fd);
  return total;
}

uint64_t allocated(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail_errno("stat " + path.string());
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// ---------------------------------------------------------------------------------------------------------------
// Reporting

struct Series {
  std::vector<double> wall;
  [[nodiscard]] double med() const { return median(wall); }
};

void print_row(const char* name, const Series& s) {
  std::printf("  %-60s %9.3f   %s\n", name, s.med(), join_times(s.wall).c_str());
}

const char* verdict(bool ok) { return ok ? "PASS" : "FAIL"; }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

int run(int argc, char** argv) {
  Spec spec;
  std::string dir_arg;
  std::string sentinelctl;
  std::string qemu_img_arg;
  int runs = 3;
  bool regenerate = false;
  bool keep_outputs = false;
  po::options_description opts(
      "export_bench [--dir DIR] [--runs N] [--regenerate]\n"
      "\n"
      "Issue 6's export and diff targets over two generated replicas of a 40 GiB volume (4 layers, ~1.7 GB of\n"
      "data, differing in one 4 KiB block; cached in DIR): (a) `sentinelctl export` vs `cp --sparse=always` of\n"
      "the head file (+ sync, see the header): ratio <= 1.0; (b) `sentinelctl diff --inventory` from two deep\n"
      "scans' chunk lists vs `qemu-img compare` of the two merged images: >= 10x faster. Warm cache.\n"
      "Exit 0 when the report was printed (PASS or FAIL), 1 when it could not run, 2 on a usage error.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")("dir",
                                                 po::value(&dir_arg)->default_value("/var/tmp/sentinel-bench-export"),
                                                 "where the generated disks and the outputs live (~11 GB at the peak)")(
      "runs", po::value(&runs)->default_value(3), "timed rounds of each measurement (after one warm-up)")(
      "seed", po::value(&spec.seed)->default_value(spec.seed), "layout seed")(
      "sentinelctl", po::value(&sentinelctl)->default_value(SENTINELCTL_PATH), "the sentinelctl to measure")(
      "qemu-img", po::value(&qemu_img_arg)->default_value("qemu-img"), "qemu-img to compare with")(
      "regenerate", po::bool_switch(&regenerate), "rebuild the trees even when matching ones exist")(
      "keep-outputs", po::bool_switch(&keep_outputs), "leave the exported images and inventories in DIR/out");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "export_bench: " << e.what() << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitReport;
  }
  if (runs < 1) {
    std::cerr << "export_bench: --runs must be >= 1\n";
    return kExitUsage;
  }
  const Paths p = paths_of(fs::absolute(dir_arg).lexically_normal());
  if (::access(sentinelctl.c_str(), X_OK) != 0) throw std::runtime_error(sentinelctl + " is not executable");
  const std::string qemu_img = find_program(qemu_img_arg);
  const std::string cp = find_program("cp");
  const std::string sync = find_program("sync");

  const uint64_t divergent = ensure_trees(p, spec, regenerate);
  fs::create_directories(p.out);
  struct utsname un {};
  ::uname(&un);
  std::printf("trees:    %s (%s, kernel %s)\n", p.dir.c_str(), fs_type_name(p.dir).c_str(), un.release);
  std::printf("machine:  %s, %ld cores online\n", cpu_model().c_str(), ::sysconf(_SC_NPROCESSORS_ONLN));
  std::printf(
      "sentinel: %s\npeers:    %s, %s, %s\nruns:     %d per measurement (interleaved, median, one untimed "
      "warm-up each), warm page cache\n\n",
      sentinelctl.c_str(), cp.c_str(), sync.c_str(), qemu_img.c_str(), runs);

  // ---- (a) export vs cp --sparse=always of the head -------------------------------------------------------
  uint64_t layer_data = 0;
  for (const auto& entry : fs::directory_iterator(p.replica_a)) {
    if (entry.path().extension() == ".img") layer_data += read_data(entry.path());
  }
  const fs::path export_out = p.out / "export.img";
  const fs::path cp_out = p.out / "cp.img";
  const std::vector<std::string> export_argv = {sentinelctl,          "export",   "--replica",
                                                p.replica_a.string(), "--output", export_out.string()};
  const std::vector<std::string> cp_argv = {cp, "--sparse=always", p.head_a().string(), cp_out.string()};
  auto clean = [&] {
    fs::remove(export_out);
    fs::remove(cp_out);
  };
  clean();
  long export_rss = run_child(export_argv, false).max_rss_kib;
  run_child(cp_argv, false);
  run_child({sync, cp_out.string()}, false);
  const uint64_t export_allocated = allocated(export_out);
  const uint64_t cp_allocated = allocated(cp_out);
  Series s_export, s_cp, s_cp_sync;
  for (int i = 0; i < runs; ++i) {
    clean();
    const ChildRun e = run_child(export_argv, false);
    s_export.wall.push_back(e.seconds);
    export_rss = std::max(export_rss, e.max_rss_kib);
    const ChildRun c = run_child(cp_argv, false);
    const ChildRun s = run_child({sync, cp_out.string()}, false);
    s_cp.wall.push_back(c.seconds);
    s_cp_sync.wall.push_back(c.seconds + s.seconds);
  }
  clean();
  // One more, with --verify and --json: what it read and wrote, its digest, and the cost of verifying.
  const ChildRun report_run = run_child(
      {sentinelctl, "export", "--replica", p.replica_a.string(), "--output", export_out.string(), "--verify", "--json"},
      true);
  const auto export_report = nlohmann::json::parse(report_run.out);
  Series s_verify;
  s_verify.wall.push_back(report_run.seconds);
  fs::remove(export_out);

  // ---- (b) diff from chunk lists vs qemu-img compare ------------------------------------------------------
  const fs::path inv_a = p.out / "worker-1.json";
  const fs::path inv_b = p.out / "worker-2.json";
  Series s_scan;
  for (const auto& [disk, node, inv] :
       {std::tuple{p.disk_a, "worker-1", inv_a}, std::tuple{p.disk_b, "worker-2", inv_b}}) {
    const ChildRun scan =
        run_child({sentinelctl, "scan", "--deep", "--chunks", "--json", "--node", node, "--disk", disk.string()}, true);
    write_file(inv, scan.out);
    s_scan.wall.push_back(scan.seconds);
  }
  uintmax_t inventory_bytes[2] = {fs::file_size(inv_a), fs::file_size(inv_b)};
  size_t chunk_counts[2] = {0, 0};
  std::string digest_a;
  for (int i = 0; i < 2; ++i) {
    const auto doc = nlohmann::json::parse(read_text(i == 0 ? inv_a : inv_b));
    for (const auto& r : doc["replicas"]) {
      chunk_counts[i] += r["content"]["chunks"].size();
      if (i == 0) digest_a = r.value("contentDigest", std::string());
    }
  }
  const fs::path img_a = p.out / "a.img";
  const fs::path img_b = p.out / "b.img";
  for (const auto& [replica, img] : {std::pair{p.replica_a, img_a}, std::pair{p.replica_b, img_b}}) {
    fs::remove(img);
    run_child({sentinelctl, "export", "--replica", replica.string(), "--output", img.string()}, false);
  }
  read_data(img_a);
  read_data(img_b);
  const std::vector<std::string> diff_argv = {sentinelctl,    "diff",     "--inventory", inv_a.string(), "--inventory",
                                              inv_b.string(), "--volume", kVolume,       "--json"};
  const std::vector<std::string> qemu_argv = {qemu_img, "compare", "-f",           "raw",
                                              "-F",     "raw",     img_a.string(), img_b.string()};
  const std::vector<std::string> local_argv = {sentinelctl, "diff", p.replica_a.string(), p.replica_b.string(),
                                               "--json"};
  ChildRun diff_run = run_child(diff_argv, true, {3});
  ChildRun qemu_run = run_child(qemu_argv, true, {1});
  ChildRun local_run = run_child(local_argv, true, {3});
  Series s_diff, s_qemu, s_local;
  for (int i = 0; i < runs; ++i) {
    diff_run = run_child(diff_argv, true, {3});
    s_diff.wall.push_back(diff_run.seconds);
    qemu_run = run_child(qemu_argv, true, {1});
    s_qemu.wall.push_back(qemu_run.seconds);
    local_run = run_child(local_argv, true, {3});
    s_local.wall.push_back(local_run.seconds);
  }
  const auto diff_doc = nlohmann::json::parse(diff_run.out);
  const auto local_doc = nlohmann::json::parse(local_run.out);
  std::smatch m;
  const std::regex mismatch(R"(mismatch at offset (\d+))");
  const uint64_t qemu_offset = std::regex_search(qemu_run.out, m, mismatch) ? std::stoull(m[1].str()) : UINT64_MAX;
  if (!keep_outputs) {
    for (const fs::path& f : {img_a, img_b, export_out, inv_a, inv_b}) fs::remove(f);
  }

  // ---- report ---------------------------------------------------------------------------------------------
  const double gb = spec.data_bytes() / 1e9;
  std::printf("(a) export of the merged volume vs a sparse copy of the head file (seconds)\n");
  print_row("sentinelctl export --replica A --output OUT (fsyncs)", s_export);
  print_row("cp --sparse=always HEAD OUT2", s_cp);
  print_row("cp --sparse=always HEAD OUT2 + sync OUT2", s_cp_sync);
  print_row("sentinelctl export ... --verify --json (one run, information)", s_verify);
  std::printf(
      "  data: merged volume %.3f GB (export read %.3f GB, wrote %.3f GB, allocated %.3f GB); head file "
      "%.3f GB allocated (cp's output %.3f GB); all four layers hold %.3f GB\n",
      gb, as_u64(export_report["dataBytesRead"]) / 1e9, as_u64(export_report["dataBytesWritten"]) / 1e9,
      export_allocated / 1e9, allocated(p.head_a()) / 1e9, cp_allocated / 1e9, layer_data / 1e9);
  std::printf("  export: %s reads, peak RSS %.1f MiB; --verify: %s, contentDigest %s (worker-1's deep scan: %s)\n",
              export_report.value("readBackend", std::string("?")).c_str(), export_rss / 1024.0,
              export_report["verify"].value("state", std::string("?")).c_str(),
              export_report.value("contentDigest", std::string("?")).c_str(), digest_a.c_str());
  const double ratio_a = s_export.med() / s_cp_sync.med();
  const double ratio_a_nosync = s_export.med() / s_cp.med();
  std::printf("  ratio export / (cp + sync) = %.3f;  export / cp alone (cp's data still in the page cache) = %.3f\n\n",
              ratio_a, ratio_a_nosync);

  std::printf("(b) are the two replicas equal, and where not (seconds)\n");
  print_row("sentinelctl diff --inventory A.json --inventory B.json", s_diff);
  print_row("qemu-img compare -f raw -F raw A.img B.img", s_qemu);
  print_row("sentinelctl diff DIR_A DIR_B (local, byte for byte; info)", s_local);
  print_row("sentinelctl scan --deep --chunks (each node, once; info)", s_scan);
  const uint64_t diff_chunk_offset = diff_doc["ranges"].empty() ? UINT64_MAX : as_u64(diff_doc["ranges"][0]["offset"]);
  const uint64_t local_offset = local_doc["ranges"].empty() ? UINT64_MAX : as_u64(local_doc["ranges"][0]["offset"]);
  std::printf("  the differing block: generated at %" PRIu64 "; qemu-img: mismatch at %" PRIu64
              "; diff --inventory: %zu range(s), first [%" PRIu64 ", +%" PRIu64
              "); local diff: %zu range(s), first "
              "[%" PRIu64 ", +%" PRIu64 ")\n",
              divergent, qemu_offset, diff_doc["ranges"].size(), diff_chunk_offset,
              diff_doc["ranges"].empty() ? 0 : as_u64(diff_doc["ranges"][0]["length"]), local_doc["ranges"].size(),
              local_offset, local_doc["ranges"].empty() ? 0 : as_u64(local_doc["ranges"][0]["length"]));
  std::printf("  inventories: %.1f KiB + %.1f KiB of JSON, %zu + %zu chunk digests\n", inventory_bytes[0] / 1024.0,
              inventory_bytes[1] / 1024.0, chunk_counts[0], chunk_counts[1]);
  const double ratio_b = s_qemu.med() / s_diff.med();
  std::printf("  ratio qemu-img compare / diff --inventory = %.1f\n\n", ratio_b);

  const bool verified = export_report["verify"].value("state", std::string()) == "PASSED" &&
                        export_report.value("contentDigest", std::string()) == digest_a;
  const bool found = qemu_offset == divergent && diff_doc["ranges"].size() == 1 &&
                     diff_chunk_offset == divergent / kChunk * kChunk && local_doc["ranges"].size() == 1 &&
                     local_offset == divergent && as_u64(local_doc["ranges"][0]["length"]) == kBlock;
  std::printf("%s  (a) sentinelctl export / (cp --sparse=always + sync): %.3f <= %.1f  (vs cp alone: %.3f)\n",
              verdict(ratio_a <= kMaxRatioExport), ratio_a, kMaxRatioExport, ratio_a_nosync);
  std::printf("%s  (b) qemu-img compare / sentinelctl diff --inventory: %.1f >= %.0f\n",
              verdict(ratio_b >= kMinRatioDiff), ratio_b, kMinRatioDiff);
  std::printf("%s  the export verified (read back, every chunk equal) and its digest is worker-1's deep scan's\n",
              verdict(verified));
  std::printf(
      "%s  every tool found the differing block (qemu-img exactly, the chunk-list diff its 4 MiB chunk, the "
      "local diff exactly)\n",
      verdict(found));
  return kExitReport;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << "\nexport_bench: could not run: " << e.what() << "\n";
    return kExitCouldNotRun;
  }
}
