// quick_scan_bench: the scanner issue's performance acceptance.
//
//   "A generated tree of 200 replica directories holding 1,000,000 extents in total; the quick scan (no data
//    read) must take no longer than `du -s` plus `filefrag` over the same tree, measured in the same run; the
//    benchmark prints both times and the ratio. Peak memory of the scan stays under 64 MiB."
//
// What it does:
//  1. Generates (once; reused while the marker file matches) a Longhorn disk under --dir: longhorn-disk.cfg and
//     replicas/pvc-<uuid>-<8 alnum>/ x N, each with volume.meta, revision.counter, a head and a snapshot image
//     with their .img.meta. Images are sparse (apparent size = volume Size) and hold non-adjacent 4 KiB
//     unwritten extents made with fallocate(2) (FIEMAP reports them; Longhorn counts them as data), spread so
//     that the whole tree holds exactly --extents extents. A hole separates every two runs, so no file system
//     can merge them.
//  2. Leaves the page cache alone (warm for both sides), runs each side once untimed, then --runs times
//     interleaved: (a) `du -s DIR` + `filefrag DIR/replicas/*/*.img`, (b) `sentinelctl scan --disk DIR --json`;
//     stdout to /dev/null, wall time by steady_clock, peak RSS of the scan by wait4()'s ru_maxrss.
//  3. Prints medians, the ratio sentinel/(du+filefrag), the scan's peak RSS, and PASS/FAIL per target.
//  4. Parses one scan's JSON and checks that it saw every extent.
//
// Exit: 0 when the report was produced (PASS or FAIL), 1 when it could not run, 2 on a usage error.
// It is a benchmark, never a test: not registered with ctest. Run it through bench/run-quick-scan.sh.
#include "bench/bench_support.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;
namespace po = boost::program_options;

using namespace sentinel::bench;  // NOLINT: the shared bench helpers

namespace {

constexpr int kExitReport = 0;
constexpr int kExitCouldNotRun = 1;
constexpr int kExitUsage = 2;

constexpr const char* kMarkerName = ".sentinel-bench-complete";      // written last: the tree is usable
constexpr const char* kGeneratingName = ".sentinel-bench-generating";  // written first: the tree is ours
constexpr uint64_t kBlock = 4096;
constexpr double kMaxRatio = 1.0;
constexpr double kMaxRssMiB = 64.0;

struct TreeSpec {
  uint32_t replicas = 200;
  uint64_t extents = 1'000'000;
  uint64_t volume_size = uint64_t{10} << 30;  // 10 GiB apparent per image; only the extents take space

  [[nodiscard]] uint64_t images() const { return uint64_t{replicas} * 2; }  // a head and a snapshot each
  [[nodiscard]] uint64_t extents_of_image(uint64_t index) const {
    return extents / images() + (index < extents % images() ? 1 : 0);
  }
  // The marker's content: a tree made for another spec is regenerated.
  [[nodiscard]] std::string marker() const {
    return "sentinel quick-scan bench tree v1 replicas=" + std::to_string(replicas) +
           " extents=" + std::to_string(extents) + " volume_size=" + std::to_string(volume_size) + "\n";
  }
};


// ---------------------------------------------------------------------------------------------------------------
// Tree generation



// A sparse image of `size` bytes with `count` 4 KiB unwritten extents, one per stride, a hole between each two.
void make_image(const fs::path& path, uint64_t size, uint64_t count, bool shifted) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_errno("create " + path.string());
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) fail_errno("truncate " + path.string());
  if (count > 0) {
    const uint64_t stride = (size / count) / kBlock * kBlock;
    if (stride < 2 * kBlock) throw std::runtime_error("volume too small for " + std::to_string(count) + " extents");
    // The head's runs sit between the snapshot's, as after overwrites; the hole after each run is >= 4 KiB.
    const uint64_t phase = shifted ? stride / 2 / kBlock * kBlock : 0;
    for (uint64_t i = 0; i < count; ++i) {
      const off_t off = static_cast<off_t>(i * stride + phase);
      if (::fallocate(fd, 0, off, static_cast<off_t>(kBlock)) != 0) {
        int err = errno;
        ::close(fd);
        errno = err;
        fail_errno("fallocate " + path.string());
      }
    }
  }
  if (::close(fd) != 0) fail_errno("close " + path.string());
}

class NameSource {
 public:
  explicit NameSource(uint64_t seed) : rng_(seed) {}
  std::string hex(size_t n) { return pick("0123456789abcdef", n); }
  std::string alnum(size_t n) { return pick("abcdefghijklmnopqrstuvwxyz0123456789", n); }
  std::string uuid() { return hex(8) + "-" + hex(4) + "-" + hex(4) + "-" + hex(4) + "-" + hex(12); }

 private:
  std::string pick(std::string_view alphabet, size_t n) {
    std::uniform_int_distribution<size_t> dist(0, alphabet.size() - 1);
    std::string out;
    for (size_t i = 0; i < n; ++i) out += alphabet[dist(rng_)];
    return out;
  }
  std::mt19937_64 rng_;
};

std::string image_meta(const std::string& name, const std::string& parent) {
  return R"({"Name":")" + name + R"(","Parent":")" + parent +
         R"(","Removed":false,"UserCreated":false,"Created":"2026-11-24T00:00:00Z","Labels":null})" + "\n";
}

// Returns true when a tree was generated, false when the cached one was reused.
bool ensure_tree(const fs::path& dir, const TreeSpec& spec, bool regenerate) {
  const fs::path marker = dir / kMarkerName;
  if (!regenerate && fs::exists(marker) && read_text(marker) == spec.marker()) return false;

  // Only ever delete a tree this benchmark made: never a real Longhorn disk pointed at by mistake.
  fs::create_directories(dir);
  const bool ours = fs::exists(marker) || fs::exists(dir / kGeneratingName);
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool known = name == "replicas" || name == "longhorn-disk.cfg" || name == kMarkerName ||
                       name == kGeneratingName;
    if (!known || (name == "replicas" && !ours)) {
      throw std::runtime_error(dir.string() + " holds " + name +
                               ", which this benchmark did not create; refusing to overwrite it. Use an empty or "
                               "new --dir.");
    }
  }
  write_file(dir / kGeneratingName, spec.marker());
  fs::remove(marker);
  fs::remove_all(dir / "replicas");

  std::cout << "generating " << spec.replicas << " replicas / " << spec.extents << " extents in " << dir.string()
            << " ..." << std::flush;
  const auto t0 = std::chrono::steady_clock::now();
  NameSource names(20261124);
  write_file(dir / "longhorn-disk.cfg",
             R"({"diskName":"sentinel-bench","diskUUID":")" + names.uuid() + R"(","diskDriver":""})");
  fs::create_directory(dir / "replicas");
  uint64_t image_index = 0;
  for (uint32_t r = 0; r < spec.replicas; ++r) {
    const fs::path rdir = dir / "replicas" / ("pvc-" + names.uuid() + "-" + names.alnum(8));
    fs::create_directory(rdir);
    const std::string head = "volume-head-001.img";
    const std::string snap = "volume-snap-" + names.uuid() + ".img";
    write_file(rdir / "volume.meta", R"({"Size":)" + std::to_string(spec.volume_size) + R"(,"Head":")" + head +
                                         R"(","Dirty":false,"Rebuilding":false,"Error":"","Parent":")" + snap +
                                         R"(","SectorSize":512,"BackingFilePath":""})" + "\n");
    std::string counter = std::to_string(1000 + r);
    counter.resize(kBlock, '\0');
    write_file(rdir / "revision.counter", counter, 0600);
    make_image(rdir / snap, spec.volume_size, spec.extents_of_image(image_index++), false);
    write_file(rdir / (snap + ".meta"), image_meta(snap, ""));
    make_image(rdir / head, spec.volume_size, spec.extents_of_image(image_index++), true);
    write_file(rdir / (head + ".meta"), image_meta(head, snap));
    if ((r + 1) % 20 == 0) std::cout << " " << (r + 1) << std::flush;
  }
  // Everything on disk before the marker, so a crash never leaves a "complete" half tree, and no writeback
  // of ours runs during the measurements.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail_errno("open " + dir.string());
  if (::syncfs(dfd) != 0) fail_errno("syncfs " + dir.string());
  ::close(dfd);
  write_file(marker, spec.marker());
  fs::remove(dir / kGeneratingName);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(" done in %.1f s\n", secs);
  return true;
}

std::vector<std::string> image_paths(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& rdir : fs::directory_iterator(dir / "replicas")) {
    if (!rdir.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(rdir.path())) {
      if (f.path().extension() == ".img") out.push_back(f.path().string());
    }
  }
  std::sort(out.begin(), out.end());  // as the shell's glob would pass them
  return out;
}

struct Usage {
  uint64_t allocated = 0;
  uint64_t apparent = 0;
  uint64_t files = 0;
};

Usage tree_usage(const fs::path& dir) {
  Usage u;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    struct stat st {};
    if (::lstat(e.path().c_str(), &st) != 0) continue;
    u.allocated += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISREG(st.st_mode)) {
      u.apparent += static_cast<uint64_t>(st.st_size);
      ++u.files;
    }
  }
  return u;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes









int run(int argc, char** argv) {
  TreeSpec spec;
  std::string dir_arg;
  std::string sentinelctl;
  int runs = 3;
  unsigned threads = 0;
  bool regenerate = false;
  po::options_description opts(
      "quick_scan_bench [--dir DIR] [--runs N] [--replicas N] [--extents N] [--regenerate]\n"
      "\n"
      "Times `sentinelctl scan --disk DIR --json` against `du -s DIR` + `filefrag DIR/replicas/*/*.img` over a\n"
      "generated Longhorn disk (cached in DIR), warm page cache, median of N runs each; prints the ratio, the\n"
      "scan's peak RSS and PASS/FAIL against the issue's targets (ratio <= 1.0, peak RSS < 64 MiB).\n"
      "Exit 0 when the report was printed (PASS or FAIL), 1 when it could not run, 2 on a usage error.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")(
      "dir", po::value(&dir_arg)->default_value("/var/tmp/sentinel-bench-quick"),
      "where the generated disk lives (reused while its marker matches; ~4 GiB for the default tree)")(
      "runs", po::value(&runs)->default_value(3), "timed runs per side (after one untimed warm-up run each)")(
      "replicas", po::value(&spec.replicas)->default_value(200), "replica directories (a head + a snapshot each)")(
      "extents", po::value(&spec.extents)->default_value(1'000'000), "extents in the whole tree")(
      "sentinelctl", po::value(&sentinelctl)->default_value(SENTINELCTL_PATH), "the sentinelctl to measure")(
      "threads", po::value(&threads)->default_value(0), "passed to sentinelctl scan --threads (0: one per core)")(
      "regenerate", po::bool_switch(&regenerate), "rebuild the tree even when a matching one exists");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "quick_scan_bench: " << e.what() << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitReport;
  }
  if (runs < 1 || spec.replicas < 1) {
    std::cerr << "quick_scan_bench: --runs and --replicas must be at least 1\n";
    return kExitUsage;
  }

  const fs::path dir = fs::absolute(dir_arg).lexically_normal();
  if (::access(sentinelctl.c_str(), X_OK) != 0) throw std::runtime_error(sentinelctl + " is not executable");
  const std::string du = find_program("du");
  const std::string filefrag = find_program("filefrag");

  ensure_tree(dir, spec, regenerate);
  const std::vector<std::string> images = image_paths(dir);
  if (images.size() != spec.images()) {
    throw std::runtime_error("expected " + std::to_string(spec.images()) + " images under " + dir.string() +
                             "/replicas, found " + std::to_string(images.size()) + "; rerun with --regenerate");
  }

  // The tree really holds separate extents: filefrag -v lists every FIEMAP record of one image. (Its summary
  // "N extents found" counts physically discontiguous fragments, which depends on the allocator, not on us.)
  {
    const auto check = run_child({filefrag, "-v", images.front()}, true);
    static const std::regex record(R"(^\s*\d+:\s+\d+\.\.\s*\d+:)");
    uint64_t records = 0;
    std::istringstream lines(check.out);
    std::string summary;
    for (std::string line; std::getline(lines, line);) {
      if (std::regex_search(line, record)) ++records;
      if (line.find("extents found") != std::string::npos || line.find("extent found") != std::string::npos) {
        summary = line.substr(line.rfind(": ") == std::string::npos ? 0 : line.rfind(": ") + 2);
      }
    }
    // Images hold extents/images extents each, the first (extents % images) generated ones one more.
    const uint64_t lo = spec.extents_of_image(spec.images() - 1);
    const uint64_t hi = spec.extents_of_image(0);
    const std::string want = lo == hi ? std::to_string(lo) : std::to_string(lo) + " or " + std::to_string(hi);
    std::printf("filefrag -v %s: %llu extent records, expected %s%s (filefrag's own summary: %s)\n",
                fs::path(images.front()).lexically_relative(dir).c_str(), static_cast<unsigned long long>(records),
                want.c_str(), records == lo || records == hi ? "" : "  <-- MISMATCH", summary.c_str());
  }

  const Usage usage = tree_usage(dir);
  struct utsname un {};
  ::uname(&un);
  std::printf("tree:     %s (%s, kernel %s)\n", dir.c_str(), fs_type_name(dir).c_str(), un.release);
  std::printf("          %u replicas, %llu images, %llu extents (%llu-%llu per image), %llu files\n", spec.replicas,
              static_cast<unsigned long long>(spec.images()), static_cast<unsigned long long>(spec.extents),
              static_cast<unsigned long long>(spec.extents_of_image(spec.images() - 1)),
              static_cast<unsigned long long>(spec.extents_of_image(0)),
              static_cast<unsigned long long>(usage.files));
  std::printf("          allocated %.2f GiB on disk, apparent %.1f TiB\n", usage.allocated / double(1ull << 30),
              usage.apparent / double(1ull << 40));
  std::printf("sentinel: %s\n", sentinelctl.c_str());
  std::printf("runs:     %d per side, interleaved, median; one untimed warm-up each; page cache left warm\n\n", runs);
  std::fflush(stdout);

  std::vector<std::string> du_argv = {du, "-s", dir.string()};
  std::vector<std::string> ff_argv = {filefrag};
  ff_argv.insert(ff_argv.end(), images.begin(), images.end());
  std::vector<std::string> scan_argv = {sentinelctl, "scan", "--disk", dir.string(), "--json", "--threads",
                                       std::to_string(threads)};

  run_child(du_argv, false);
  run_child(ff_argv, false);
  long max_rss_kib = run_child(scan_argv, false).max_rss_kib;

  std::vector<double> t_du, t_ff, t_base, t_scan;
  for (int i = 0; i < runs; ++i) {
    const double d = run_child(du_argv, false).seconds;
    const double f = run_child(ff_argv, false).seconds;
    t_du.push_back(d);
    t_ff.push_back(f);
    t_base.push_back(d + f);
    const ChildRun s = run_child(scan_argv, false);
    t_scan.push_back(s.seconds);
    max_rss_kib = std::max(max_rss_kib, s.max_rss_kib);
  }

  // What the scan saw.
  const ChildRun seen = run_child(scan_argv, true);
  max_rss_kib = std::max(max_rss_kib, seen.max_rss_kib);
  uint64_t seen_extents = 0;
  uint64_t seen_images = 0;
  uint64_t seen_replicas = 0;
  std::map<std::string, uint64_t> finding_codes;
  {
    const auto doc = nlohmann::json::parse(seen.out);
    for (const auto& disk : doc.value("disks", nlohmann::json::array())) {
      for (const auto& f : disk.value("findings", nlohmann::json::array())) {
        ++finding_codes["disk:" + f.value("code", std::string("?"))];
      }
    }
    for (const auto& replica : doc.value("replicas", nlohmann::json::array())) {
      ++seen_replicas;
      for (const auto& f : replica.value("findings", nlohmann::json::array())) {
        ++finding_codes[f.value("code", std::string("?"))];
      }
      for (const auto& image : replica.value("images", nlohmann::json::array())) {
        ++seen_images;
        if (image.contains("extentCount")) seen_extents += as_u64(image["extentCount"]);
      }
    }
  }

  const double base = median(t_base);
  const double scan = median(t_scan);
  const double ratio = base > 0 ? scan / base : 0;
  const double rss_mib = max_rss_kib / 1024.0;

  std::printf("%-34s %10s   %s\n", "tool", "median s", "runs (s)");
  std::printf("%-34s %10.3f   %s\n", "du -s + filefrag (sum)", base, join_times(t_base).c_str());
  std::printf("%-34s %10.3f   %s\n", "  du -s DIR", median(t_du), join_times(t_du).c_str());
  std::printf("%-34s %10.3f   %s\n", "  filefrag DIR/replicas/*/*.img", median(t_ff), join_times(t_ff).c_str());
  std::printf("%-34s %10.3f   %s\n", "sentinelctl scan --json", scan, join_times(t_scan).c_str());
  std::printf("\nratio sentinel / (du + filefrag): %.3f\n", ratio);
  std::printf("sentinel peak RSS (max over all runs): %.1f MiB\n", rss_mib);
  std::printf("scan saw: %llu replicas, %llu images, %llu extents (expected %llu)\n",
              static_cast<unsigned long long>(seen_replicas), static_cast<unsigned long long>(seen_images),
              static_cast<unsigned long long>(seen_extents), static_cast<unsigned long long>(spec.extents));
  if (finding_codes.empty()) {
    std::printf("scan findings: none\n");
  } else {
    std::printf("scan findings:");
    for (const auto& [code, n] : finding_codes) std::printf(" %s x%llu", code.c_str(), static_cast<unsigned long long>(n));
    std::printf("\n");
  }
  if (seen_extents != spec.extents) {
    std::printf("\n!!! EXTENT COUNT MISMATCH: the scan reported %llu extents, the tree holds %llu. !!!\n"
                "!!! The timing above does not measure a scan of the whole tree.                !!!\n",
                static_cast<unsigned long long>(seen_extents), static_cast<unsigned long long>(spec.extents));
  }
  std::printf("\n%s  time:    ratio %.3f <= %.1f\n", ratio <= kMaxRatio ? "PASS" : "FAIL", ratio, kMaxRatio);
  std::printf("%s  memory:  peak RSS %.1f MiB < %.0f MiB\n", rss_mib < kMaxRssMiB ? "PASS" : "FAIL", rss_mib,
              kMaxRssMiB);
  std::printf("%s  extents: %llu seen of %llu\n", seen_extents == spec.extents ? "PASS" : "FAIL",
              static_cast<unsigned long long>(seen_extents), static_cast<unsigned long long>(spec.extents));
  return kExitReport;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << "\nquick_scan_bench: could not run: " << e.what() << "\n";
    return kExitCouldNotRun;
  }
}
