// deep_scan_bench: the deep-scan issue's (issue 3) performance acceptance, "Must show" (a)-(d).
//
//   "Benchmarks in bench/ that build their own test file: a 40 GiB sparse image with about 1.7 GB of data in
//    about 20,000 extents (1 MiB and 4 KiB runs, random offsets). Printed, in one run, warm cache:
//    (a) deep scan of that image vs `xxhsum -H3` on the same file: ratio >= 60;
//    (b) vs a simple SEEK_DATA/SEEK_HOLE + pread + XXH3 loop written in the bench: Sentinel at least 1.2x faster;
//    (c) Longhorn CRC-64 of the same file as a snapshot vs Longhorn's method (Go's hash/crc64 ISO table over a
//        full sequential read of the file): ratio >= 30;
//    (d) peak RSS of the deep scan <= 128 MiB."
//
// What it does:
//  1. Generates (once; reused while the marker file matches) a Longhorn disk under --dir:
//     longhorn-disk.cfg and replicas/pvc-bench-abcd1234/ with volume.meta, revision.counter, the big image as
//     the snapshot volume-snap-bench.img (+ .meta) and an empty sparse head volume-head-001.img (+ .meta), the
//     small files byte for byte as Longhorn writes them (sentinel_treegen's longhorn_json). The snapshot is
//     --volume-size apparent bytes holding --big-runs runs of 1 MiB and (--extents - --big-runs) runs of 4 KiB
//     of random bytes at seeded random 4 KiB-aligned offsets, with at least one 4 KiB hole between two runs
//     (so no file system merges them). Its Longhorn CRC-64 is computed while it is written, with the
//     generator's own byte-wise table code (not the scanner's ISA-L path), and kept in the marker.
//  2. Warm cache: reads the snapshot's data once; every Sentinel-side measurement gets one untimed run first.
//     Then --runs rounds, interleaved: (i) `sentinelctl scan --deep --disk DIR --json` as a child, stdout to
//     /dev/null, wall time by steady_clock, peak RSS by wait4()'s ru_maxrss; (ii) in process: the scanner's
//     ReadEngine (the deep scan's default options) over the FIEMAP extents feeding XXH3-128; (iii) the same
//     feeding the scanner's SparseCrc64; (iv) the deep scan's read lanes (one ReadEngine and thread per core, at
//     most 4, each reading and hashing its own range) computing the content digest of the image as a one-layer
//     volume, and (v) its crc64; (vi) the bench's own SEEK_DATA/SEEK_HOLE + pread (1 MiB) + XXH3-128.
//  3. The peers, last (a 40 GiB read pushes the data out of the page cache): `xxhsum -H3 IMAGE` and Longhorn's
//     method (bench/longhorn_crc64.go, built by the wrapper), --peer-runs each. Before each peer run the
//     image's page cache is dropped and its data read again, so every peer run starts from the same state:
//     data cached, holes not (the image's apparent size is larger than RAM on most machines, so a "fully warm"
//     40 GiB file is not a state they could start from anyway). At the end the image's pages are dropped
//     (--leave-cache keeps them) so the benchmark does not leave ~20 GiB of zero pages behind.
//  4. Prints every time, every ratio, the checksums (generator, sentinelctl's JSON, in-process, Go), and
//     PASS/FAIL per target. The sentinelctl child is the "deep scan" of (a), (c) and (d); the in-process paths
//     are printed beside it. (b) compares the deep scan's read path, its read lanes feeding the content digest
//     (what the digest pass of `scan --deep` does for this replica, whose head is empty), with the simple loop;
//     the one-thread engine+XXH3 ratio is printed beside it. The lanes' digest must equal the child's
//     contentDigest.
//
// Exit: 0 when the report was produced (PASS or FAIL), 1 when it could not run, 2 on a usage error.
// It is a benchmark, never a test: not registered with ctest. Run it through bench/run-deep-scan.sh.
#include "bench/bench_support.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "scanner/content_digest.h"
#include "scanner/crc64.h"
#include "scanner/file_system.h"
#include "scanner/read_engine.h"
#include "scanner/read_lanes.h"
#include "tools/treegen/block_data.h"
#include "tools/treegen/longhorn_json.h"

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace sc = sentinel::scanner;
namespace tg = sentinel::treegen;

using namespace sentinel::bench;  // NOLINT: the shared bench helpers

namespace {

constexpr int kExitReport = 0;
constexpr int kExitCouldNotRun = 1;
constexpr int kExitUsage = 2;

constexpr const char* kMarkerName = ".sentinel-bench-complete";      // written last: the tree is usable
constexpr const char* kGeneratingName = ".sentinel-bench-generating";  // written first: the tree is ours
constexpr const char* kReplicaDir = "pvc-bench-abcd1234";
constexpr const char* kSnapName = "volume-snap-bench.img";
constexpr const char* kHeadName = "volume-head-001.img";
constexpr uint64_t kBlock = 4096;
constexpr uint64_t kBigRun = uint64_t{1} << 20;
constexpr uint64_t kLoopBuffer = uint64_t{1} << 20;  // the simple loop's pread size

constexpr double kMinRatioXxhsum = 60.0;  // (a)
constexpr double kMinRatioLoop = 1.2;     // (b)
constexpr double kMinRatioGo = 30.0;      // (c)
constexpr double kMaxRssMiB = 128.0;      // (d)

struct Spec {
  uint64_t volume_size = uint64_t{40} << 30;
  uint64_t extents = 20'000;
  uint64_t big_runs = 1'550;  // 1550 x 1 MiB + 18450 x 4 KiB = 1,700,790,272 bytes
  uint64_t seed = 20261124;

  [[nodiscard]] uint64_t small_runs() const { return extents - big_runs; }
  [[nodiscard]] uint64_t data_bytes() const { return big_runs * kBigRun + small_runs() * kBlock; }
  // The marker's first line: a tree made for another spec is regenerated.
  [[nodiscard]] std::string marker() const {
    return "sentinel deep-scan bench tree v1 volume_size=" + std::to_string(volume_size) +
           " extents=" + std::to_string(extents) + " big_runs=" + std::to_string(big_runs) +
           " seed=" + std::to_string(seed) + "\n";
  }
};





// ---------------------------------------------------------------------------------------------------------------
// Test image

struct Run {
  uint64_t offset;
  uint64_t length;
};

// Random non-overlapping, non-adjacent runs: the run sizes shuffled, then the free blocks cut into gaps at
// sorted uniform points, at least one free block between two runs.
std::vector<Run> layout(const Spec& spec) {
  const uint64_t blocks = spec.volume_size / kBlock;
  std::vector<uint64_t> lengths(spec.extents, 1);
  for (uint64_t i = 0; i < spec.big_runs; ++i) lengths[i] = kBigRun / kBlock;
  std::mt19937_64 rng(spec.seed);
  std::shuffle(lengths.begin(), lengths.end(), rng);
  uint64_t used = 0;
  for (uint64_t l : lengths) used += l;
  const uint64_t n = lengths.size();
  if (n == 0) return {};
  if (used + (n - 1) > blocks) throw std::runtime_error("the runs do not fit in --volume-size");
  const uint64_t spare = blocks - used - (n - 1);  // free blocks beyond the one mandatory between two runs
  std::uniform_int_distribution<uint64_t> point(0, spare);
  std::vector<uint64_t> cuts(n);
  for (auto& c : cuts) c = point(rng);
  std::sort(cuts.begin(), cuts.end());
  std::vector<Run> runs;
  runs.reserve(n);
  uint64_t block = cuts[0];
  for (uint64_t i = 0; i < n; ++i) {
    if (i > 0) block += (cuts[i] - cuts[i - 1]) + 1;
    runs.push_back({block * kBlock, lengths[i] * kBlock});
    block += lengths[i];
  }
  return runs;
}

// splitmix64: fast, seeded random bytes.
struct SplitMix {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  void fill(uint8_t* out, size_t len) {
    for (size_t i = 0; i + 8 <= len; i += 8) {
      const uint64_t v = next();
      std::memcpy(out + i, &v, 8);
    }
  }
};

struct Paths {
  fs::path dir;
  fs::path replica;
  fs::path snapshot;
  fs::path head;
};

Paths paths_of(const fs::path& dir) {
  Paths p;
  p.dir = dir;
  p.replica = dir / "replicas" / kReplicaDir;
  p.snapshot = p.replica / kSnapName;
  p.head = p.replica / kHeadName;
  return p;
}

// Writes the snapshot image; returns its Longhorn CRC-64 (treegen's byte-wise code, holes folded).
uint64_t make_snapshot(const fs::path& path, const Spec& spec) {
  const std::vector<Run> runs = layout(spec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) fail_errno("create " + path.string());
  if (::ftruncate(fd, static_cast<off_t>(spec.volume_size)) != 0) fail_errno("truncate " + path.string());
  SplitMix rng{spec.seed ^ 0x5eed5eed5eed5eedULL};
  std::vector<uint8_t> buf(kBigRun);
  uint64_t crc = 0;
  uint64_t pos = 0;
  size_t done = 0;
  for (const Run& r : runs) {
    rng.fill(buf.data(), r.length);
    write_all(fd, buf.data(), r.length, r.offset, path.string());
    crc = tg::crc64_iso_zeros(crc, r.offset - pos);
    crc = tg::crc64_iso_update(crc, std::string_view(reinterpret_cast<const char*>(buf.data()), r.length));
    pos = r.offset + r.length;
    if (++done % 2000 == 0) std::cout << " " << done << std::flush;
  }
  crc = tg::crc64_iso_zeros(crc, spec.volume_size - pos);
  if (::fsync(fd) != 0) fail_errno("fsync " + path.string());
  if (::close(fd) != 0) fail_errno("close " + path.string());
  return crc;
}

std::string image_meta(const std::string& name, const std::string& parent) {
  tg::ImageMetaFields m;
  m.name = name;
  m.parent = parent;
  m.created = tg::rfc3339_utc(int64_t{1708902617} * 1'000'000'000);  // 2024-02-25T23:10:17Z
  return tg::image_meta_json(m);
}

// Returns the generator's CRC-64 of the snapshot (cached in the marker).
std::string ensure_tree(const Paths& p, const Spec& spec, bool regenerate) {
  const fs::path marker = p.dir / kMarkerName;
  if (!regenerate && fs::exists(marker)) {
    const std::string text = read_text(marker);
    if (text.rfind(spec.marker(), 0) == 0 && fs::exists(p.snapshot)) {
      const auto at = text.find("crc64=");
      if (at != std::string::npos) return text.substr(at + 6, 16);
    }
  }

  // Only ever delete a tree this benchmark made: never a real Longhorn disk pointed at by mistake.
  fs::create_directories(p.dir);
  const bool ours = fs::exists(marker) || fs::exists(p.dir / kGeneratingName);
  for (const auto& entry : fs::directory_iterator(p.dir)) {
    const std::string name = entry.path().filename().string();
    const bool known = name == "replicas" || name == "longhorn-disk.cfg" || name == kMarkerName ||
                       name == kGeneratingName;
    if (!known || (name == "replicas" && !ours)) {
      throw std::runtime_error(p.dir.string() + " holds " + name +
                               ", which this benchmark did not create; refusing to overwrite it. Use an empty or "
                               "new --dir.");
    }
  }
  write_file(p.dir / kGeneratingName, spec.marker());
  fs::remove(marker);
  fs::remove_all(p.dir / "replicas");

  std::printf("generating %s: %.1f GiB apparent, %" PRIu64 " x 1 MiB + %" PRIu64 " x 4 KiB runs (%.3f GB) ...",
              p.snapshot.c_str(), spec.volume_size / double(1ull << 30), spec.big_runs, spec.small_runs(),
              spec.data_bytes() / 1e9);
  std::fflush(stdout);
  const auto t0 = std::chrono::steady_clock::now();
  write_file(p.dir / "longhorn-disk.cfg", tg::disk_config_json("sentinel-bench-deep", "0b3e7c1a-3d5e-4c0e-9000-000000000003"));
  fs::create_directories(p.replica);
  fs::permissions(p.replica, fs::perms::owner_all, fs::perm_options::replace);  // 0700, as Longhorn
  tg::VolumeMetaFields vm;
  vm.size = static_cast<int64_t>(spec.volume_size);
  vm.head = kHeadName;
  vm.parent = kSnapName;
  write_file(p.replica / "volume.meta", tg::volume_meta_json(vm));
  write_file(p.replica / "revision.counter", tg::revision_counter_bytes(1700), 0600);
  const uint64_t crc = make_snapshot(p.snapshot, spec);
  write_file(p.replica / (std::string(kSnapName) + ".meta"), image_meta(kSnapName, ""));
  {
    int fd = ::open(p.head.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) fail_errno("create " + p.head.string());
    if (::ftruncate(fd, static_cast<off_t>(spec.volume_size)) != 0) fail_errno("truncate " + p.head.string());
    ::close(fd);
  }
  write_file(p.replica / (std::string(kHeadName) + ".meta"), image_meta(kHeadName, kSnapName));
  int dfd = ::open(p.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail_errno("open " + p.dir.string());
  if (::syncfs(dfd) != 0) fail_errno("syncfs " + p.dir.string());
  ::close(dfd);
  const std::string hex = sc::crc64_hex(crc);
  write_file(marker, spec.marker() + "crc64=" + hex + "\n");
  fs::remove(p.dir / kGeneratingName);
  std::printf(" done in %.1f s\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return hex;
}

// ---------------------------------------------------------------------------------------------------------------
// Page cache of the image

void drop_cache(const fs::path& image) {
  int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open " + image.string());
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

// ---------------------------------------------------------------------------------------------------------------
// In-process readers. Each returns the number of data bytes it hashed.

struct Xxh3 {
  XXH3_state_t* state = XXH3_createState();
  Xxh3() {
    if (state == nullptr) throw std::bad_alloc();
    XXH3_128bits_reset(state);
  }
  ~Xxh3() { XXH3_freeState(state); }
  Xxh3(const Xxh3&) = delete;
  Xxh3& operator=(const Xxh3&) = delete;
  void update(const void* p, size_t n) { XXH3_128bits_update(state, p, n); }
  [[nodiscard]] std::string hex() const {
    XXH128_hash_t h = XXH3_128bits_digest(state);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%016" PRIx64 "%016" PRIx64, static_cast<uint64_t>(h.high64),
                  static_cast<uint64_t>(h.low64));
    return buf;
  }
};

struct InProcessResult {
  uint64_t bytes = 0;
  uint64_t extents = 0;
  std::string digest;  // XXH3-128 hex or crc64 hex
  std::string backend;
};

// An open image and its FIEMAP extents, adjacent ones merged (as deep_scan.cpp does).
struct MappedImage {
  sc::PosixFileSystem pfs;
  sc::Fd fd;
  uint64_t size = 0;
  std::vector<sc::ReadExtent> extents;
};

std::unique_ptr<MappedImage> map_image(const fs::path& image) {
  auto m = std::make_unique<MappedImage>();
  auto root = m->pfs.open_root(image.parent_path().string());
  if (!root) throw std::runtime_error("open " + image.parent_path().string() + ": " + root.error().message());
  auto fd = m->pfs.open_file_at(root->get(), image.filename().string());
  if (!fd) throw std::runtime_error("open " + image.string() + ": " + fd.error().message());
  m->fd = std::move(fd.value());
  auto st = m->pfs.stat_fd(m->fd.get());
  if (!st) throw std::runtime_error("stat " + image.string() + ": " + st.error().message());
  m->size = st->size;
  auto& extents = m->extents;
  auto mapped = m->pfs.map_extents(m->fd.get(), st->size, [&](uint64_t offset, uint64_t length) {
    if (!extents.empty() && extents.back().offset + extents.back().length == offset) {
      extents.back().length += length;
    } else {
      extents.push_back({offset, length});
    }
  });
  if (!mapped) throw std::runtime_error("map extents of " + image.string() + ": " + mapped.error().message());
  return m;
}

// The deep scan's read path with its read lanes (DeepScanOptions defaults: one lane per core, at most 4, cut on
// 4 MiB boundaries when each gets 64 MiB of data): every lane reads its range with its own ReadEngine on its own
// thread (the scanner's read_in_lanes) and computes its part, combined as deep_scan.cpp does. `crc`: Longhorn's
// CRC-64 of the image as a snapshot (parts combined with crc64_iso_combine); else the content digest of the image
// as a one-layer volume (XXH3-128 per 4 MiB chunk, parts put together by content_digest_from_chunks).
InProcessResult engine_lanes(const fs::path& image, bool crc, unsigned lanes) {
  const auto m = map_image(image);
  std::vector<std::unique_ptr<sc::ReadEngine>> engines;
  for (unsigned i = 0; i < lanes; ++i) {
    auto engine = sc::ReadEngine::create(sc::ReadOptions{});
    if (!engine) throw std::runtime_error("ReadEngine::create: " + engine.error().message());
    engines.push_back(std::move(engine.value()));
  }
  const std::vector<sc::LaneRange> ranges =
      sc::plan_lanes(m->extents, m->size, lanes, sc::kContentChunkBytes, sc::kDefaultMinLaneBytes);
  std::vector<sc::SparseCrc64> crcs;
  std::vector<std::unique_ptr<sc::ContentDigester>> parts;
  for (const sc::LaneRange& range : ranges) {
    crcs.emplace_back(range.end - range.begin);
    parts.push_back(std::make_unique<sc::ContentDigester>(m->size, true, range.begin));
  }
  std::vector<sc::ReadEngine*> lane_engines;
  for (const auto& engine : engines) lane_engines.push_back(engine.get());
  std::vector<uint8_t> fits(ranges.size(), 1);
  const std::vector<sc::ReadReport> reports = sc::read_in_lanes(
      lane_engines, m->fd.get(), m->extents, ranges,
      [&](size_t lane, uint64_t offset, const uint8_t* data, size_t length) {
        fits[lane] = crc ? crcs[lane].update(offset - ranges[lane].begin, data, length)
                         : parts[lane]->data(offset, data, length);
        return fits[lane] != 0;
      });
  InProcessResult result;
  result.extents = m->extents.size();
  result.backend = std::string(engines[0]->backend()) + ", " + std::to_string(ranges.size()) + " lanes";
  uint64_t value = 0;
  std::vector<sc::ChunkDigest> chunks;
  for (size_t lane = 0; lane < ranges.size(); ++lane) {
    if (!reports[lane].ok()) throw std::runtime_error("ReadEngine: " + reports[lane].message());
    if (fits[lane] == 0) throw std::runtime_error("a lane refused a piece");
    result.bytes += reports[lane].bytes_delivered;
    if (crc) {
      value = lane == 0 ? crcs[0].value()
                        : sc::crc64_iso_combine(value, crcs[lane].value(), ranges[lane].end - ranges[lane].begin);
    } else {
      if (!parts[lane]->zeros(parts[lane]->position(), ranges[lane].end - parts[lane]->position())) {
        throw std::runtime_error("a lane's digest refused its trailing zeros");
      }
      chunks.insert(chunks.end(), parts[lane]->chunks().begin(), parts[lane]->chunks().end());
    }
  }
  result.digest = crc ? sc::crc64_hex(value) : sc::content_digest_from_chunks(m->size, chunks).hex();
  return result;
}

// The deep scan's engine on one thread: FIEMAP extents, then the ReadEngine with the deep scan's default options
// feeding one sink (XXH3-128 of the data as one stream, or SparseCrc64).
InProcessResult engine_read(const fs::path& image, bool crc) {
  const auto m = map_image(image);
  const auto& extents = m->extents;
  auto engine = sc::ReadEngine::create(sc::ReadOptions{});
  if (!engine) throw std::runtime_error("ReadEngine::create: " + engine.error().message());

  InProcessResult result;
  result.extents = extents.size();
  result.backend = (*engine)->backend();
  sc::ReadReport report;
  if (crc) {
    sc::SparseCrc64 sum(m->size);
    bool ok = true;
    report = (*engine)->read(m->fd.get(), extents, [&](uint64_t offset, const uint8_t* data, size_t length) {
      ok = sum.update(offset, data, length);
      return ok;
    });
    if (!ok) throw std::runtime_error("SparseCrc64 refused a piece");
    result.digest = sum.hex();
  } else {
    Xxh3 h;
    report = (*engine)->read(m->fd.get(), extents, [&](uint64_t, const uint8_t* data, size_t length) {
      h.update(data, length);
      return true;
    });
    result.digest = h.hex();
  }
  if (!report.ok()) throw std::runtime_error("ReadEngine: " + report.message());
  result.bytes = report.bytes_delivered;
  return result;
}

// The simple loop (b) compares with: SEEK_DATA/SEEK_HOLE, pread of 1 MiB, XXH3-128 of what was read.
InProcessResult simple_loop(const fs::path& image) {
  int fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC | O_NOATIME);
  if (fd < 0) fd = ::open(image.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_errno("open " + image.string());
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(std::aligned_alloc(kBlock, kLoopBuffer)),
                                                     &std::free);
  if (!buf) throw std::bad_alloc();
  Xxh3 h;
  InProcessResult result;
  result.backend = "pread";
  off_t pos = 0;
  for (;;) {
    const off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;
      ::close(fd);
      fail_errno("SEEK_DATA " + image.string());
    }
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) {
      ::close(fd);
      fail_errno("SEEK_HOLE " + image.string());
    }
    ++result.extents;
    for (off_t at = data; at < hole;) {
      const size_t want = static_cast<size_t>(std::min<off_t>(hole - at, static_cast<off_t>(kLoopBuffer)));
      const ssize_t n = ::pread(fd, buf.get(), want, at);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        if (n == 0) throw std::runtime_error("unexpected end of " + image.string());
        fail_errno("pread " + image.string());
      }
      h.update(buf.get(), static_cast<size_t>(n));
      result.bytes += static_cast<uint64_t>(n);
      at += n;
    }
    pos = hole;
  }
  ::close(fd);
  result.digest = h.hex();
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes




// ---------------------------------------------------------------------------------------------------------------
// Reporting helpers



std::string loadavg() {
  std::string s = read_text("/proc/loadavg");
  const auto cut = s.find(' ', s.find(' ', s.find(' ') + 1) + 1);  // the three averages
  return cut == std::string::npos ? s : s.substr(0, cut);
}


std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

uint64_t mem_total_kib() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("MemTotal:", 0) == 0) return std::stoull(line.substr(9));
  }
  return 0;
}


// How busy the machine was apart from us: CPU seconds of every process (from /proc/stat) minus our own and our
// children's (getrusage), over a wall-clock interval. The load average lags by a minute; this does not.
struct CpuMark {
  double busy = 0;  // machine-wide busy CPU seconds
  double ours = 0;  // this process + its reaped children
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::now();
};

CpuMark cpu_mark() {
  CpuMark m;
  std::ifstream in("/proc/stat");
  std::string cpu;
  uint64_t v[8] = {};
  in >> cpu >> v[0] >> v[1] >> v[2] >> v[3] >> v[4] >> v[5] >> v[6] >> v[7];  // user nice system idle iowait irq softirq steal
  const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
  m.busy = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / tick;
  for (int who : {RUSAGE_SELF, RUSAGE_CHILDREN}) {
    struct rusage ru {};
    ::getrusage(who, &ru);
    m.ours += ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
  }
  return m;
}

// Average number of cores other processes kept busy between `a` and `b`.
double other_cores(const CpuMark& a, const CpuMark& b) {
  const double wall = std::chrono::duration<double>(b.at - a.at).count();
  if (wall <= 0) return 0;
  return std::max(0.0, ((b.busy - a.busy) - (b.ours - a.ours)) / wall);
}

const char* verdict(bool ok) { return ok ? "PASS" : "FAIL"; }

struct Series {
  std::vector<double> wall;
  std::vector<double> cpu;  // user + sys, children only
  [[nodiscard]] double med() const { return median(wall); }
};

void print_row(const char* name, const Series& s) {
  if (s.cpu.empty()) {
    std::printf("%-52s %9.3f   %s\n", name, s.med(), join_times(s.wall).c_str());
  } else {
    std::printf("%-52s %9.3f   %s   (cpu user+sys %s)\n", name, s.med(), join_times(s.wall).c_str(),
                join_times(s.cpu).c_str());
  }
}

template <typename F>
double timed(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

int run(int argc, char** argv) {
  Spec spec;
  std::string dir_arg;
  std::string sentinelctl;
  std::string xxhsum_arg;
  std::string go_crc64;
  int runs = 3;
  int peer_runs = 1;
  bool regenerate = false;
  bool leave_cache = false;
  po::options_description opts(
      "deep_scan_bench [--dir DIR] [--runs N] [--peer-runs N] [--go-crc64 PATH] [--regenerate]\n"
      "\n"
      "Times `sentinelctl scan --deep --disk DIR --json` (and the scanner's ReadEngine in process) over a generated\n"
      "Longhorn replica whose snapshot is a 40 GiB sparse image with ~1.7 GB of data in 20,000 extents (cached in\n"
      "DIR), warm cache, against `xxhsum -H3`, a simple SEEK_DATA/SEEK_HOLE + pread + XXH3 loop and Longhorn's\n"
      "own checksum method (Go hash/crc64 ISO over a full read); prints times, ratios, checksums, the scan's\n"
      "peak RSS and PASS/FAIL against issue 3's targets (a) >= 60, (b) >= 1.2, (c) >= 30, (d) <= 128 MiB.\n"
      "Exit 0 when the report was printed (PASS or FAIL), 1 when it could not run, 2 on a usage error.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")(
      "dir", po::value(&dir_arg)->default_value("/var/tmp/sentinel-bench-deep"),
      "where the generated disk lives (reused while its marker matches; ~1.7 GB on disk)")(
      "runs", po::value(&runs)->default_value(3), "timed runs of each Sentinel-side measurement (after one warm-up)")(
      "peer-runs", po::value(&peer_runs)->default_value(1),
      "timed runs of xxhsum and of the Go program (each reads the full apparent size)")(
      "volume-size", po::value(&spec.volume_size)->default_value(spec.volume_size), "apparent bytes of the image")(
      "extents", po::value(&spec.extents)->default_value(spec.extents), "data runs in the image")(
      "big-runs", po::value(&spec.big_runs)->default_value(spec.big_runs),
      "how many of the runs are 1 MiB (the rest are 4 KiB)")(
      "seed", po::value(&spec.seed)->default_value(spec.seed), "layout and content seed")(
      "sentinelctl", po::value(&sentinelctl)->default_value(SENTINELCTL_PATH), "the sentinelctl to measure")(
      "xxhsum", po::value(&xxhsum_arg)->default_value("xxhsum"), "xxhsum to compare with (name in PATH or path)")(
      "go-crc64", po::value(&go_crc64),
      "Longhorn's method: the binary bench/run-deep-scan.sh builds from bench/longhorn_crc64.go")(
      "regenerate", po::bool_switch(&regenerate), "rebuild the tree even when a matching one exists")(
      "leave-cache", po::bool_switch(&leave_cache), "do not drop the image's page cache at the end");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "deep_scan_bench: " << e.what() << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitReport;
  }
  if (runs < 1 || peer_runs < 1 || spec.extents < 1 || spec.big_runs > spec.extents ||
      spec.volume_size % kBlock != 0) {
    std::cerr << "deep_scan_bench: --runs and --peer-runs must be >= 1, --big-runs <= --extents, --volume-size a "
                 "multiple of 4096\n";
    return kExitUsage;
  }
  if (go_crc64.empty()) {
    std::cerr << "deep_scan_bench: --go-crc64 is required (bench/run-deep-scan.sh builds it and passes it)\n";
    return kExitUsage;
  }

  const Paths p = paths_of(fs::absolute(dir_arg).lexically_normal());
  if (::access(sentinelctl.c_str(), X_OK) != 0) throw std::runtime_error(sentinelctl + " is not executable");
  const std::string xxhsum = find_program(xxhsum_arg);
  go_crc64 = find_program(go_crc64);

  const std::string load_start = loadavg();
  const std::string expected_crc = ensure_tree(p, spec, regenerate);
  struct stat st {};
  if (::stat(p.snapshot.c_str(), &st) != 0) fail_errno("stat " + p.snapshot.string());

  struct utsname un {};
  ::uname(&un);
  std::printf("image:    %s (%s, kernel %s)\n", p.snapshot.c_str(), fs_type_name(p.dir).c_str(), un.release);
  std::printf("          apparent %.1f GiB, allocated %.3f GB (expected data %.3f GB: %" PRIu64 " x 1 MiB + %" PRIu64
              " x 4 KiB, seed %" PRIu64 ")\n",
              st.st_size / double(1ull << 30), st.st_blocks * 512 / 1e9, spec.data_bytes() / 1e9, spec.big_runs,
              spec.small_runs(), spec.seed);
  std::printf("machine:  %s, %ld cores online, %.1f GiB RAM; load average at start %s\n", cpu_model().c_str(),
              ::sysconf(_SC_NPROCESSORS_ONLN), mem_total_kib() / double(1 << 20), load_start.c_str());
  std::printf("sentinel: %s\n", sentinelctl.c_str());
  std::printf("peers:    %s -H3 (XXH3-64 in xxhsum 0.8.x); %s (Go hash/crc64 ISO, io.Copy)\n", xxhsum.c_str(),
              go_crc64.c_str());
  std::printf("runs:     %d per Sentinel-side measurement (interleaved, median, one untimed warm-up each), %d per peer\n\n",
              runs, peer_runs);
  std::fflush(stdout);

  const std::vector<std::string> scan_argv = {sentinelctl, "scan", "--deep", "--disk", p.dir.string(), "--json"};

  // Warm cache: the data once (the simple loop reads exactly the data), then an untimed run of each.
  std::printf("warming the page cache with the image's data ...");
  std::fflush(stdout);
  const double warm_s = timed([&] { simple_loop(p.snapshot); });
  std::printf(" %.2f s\n", warm_s);
  long max_rss_kib = run_child(scan_argv, false).max_rss_kib;
  (void)engine_read(p.snapshot, false);
  (void)engine_read(p.snapshot, true);
  const unsigned lanes = sc::default_read_lanes();
  (void)engine_lanes(p.snapshot, false, lanes);
  (void)engine_lanes(p.snapshot, false, 1);
  (void)engine_lanes(p.snapshot, true, lanes);

  const CpuMark mark_sentinel = cpu_mark();
  Series s_scan, s_engine_xxh, s_engine_crc, s_one_lane_digest, s_lanes_digest, s_lanes_crc, s_loop;
  InProcessResult r_engine_xxh, r_engine_crc, r_one_lane_digest, r_lanes_digest, r_lanes_crc, r_loop;
  for (int i = 0; i < runs; ++i) {
    const ChildRun c = run_child(scan_argv, false);
    s_scan.wall.push_back(c.seconds);
    s_scan.cpu.push_back(c.cpu_user + c.cpu_sys);
    max_rss_kib = std::max(max_rss_kib, c.max_rss_kib);
    s_engine_xxh.wall.push_back(timed([&] { r_engine_xxh = engine_read(p.snapshot, false); }));
    s_engine_crc.wall.push_back(timed([&] { r_engine_crc = engine_read(p.snapshot, true); }));
    s_one_lane_digest.wall.push_back(timed([&] { r_one_lane_digest = engine_lanes(p.snapshot, false, 1); }));
    s_lanes_digest.wall.push_back(timed([&] { r_lanes_digest = engine_lanes(p.snapshot, false, lanes); }));
    s_lanes_crc.wall.push_back(timed([&] { r_lanes_crc = engine_lanes(p.snapshot, true, lanes); }));
    s_loop.wall.push_back(timed([&] { r_loop = simple_loop(p.snapshot); }));
  }

  const CpuMark mark_sentinel_end = cpu_mark();
  // What the deep scan computed.
  const ChildRun seen = run_child(scan_argv, true);
  max_rss_kib = std::max(max_rss_kib, seen.max_rss_kib);
  std::string scan_crc;
  uint64_t scan_read_bytes = 0;
  uint64_t scan_extents = 0;
  std::string scan_state;
  std::string content_digest;
  uint64_t content_read_bytes = 0;
  std::map<std::string, uint64_t> finding_codes;
  {
    const auto doc = nlohmann::json::parse(seen.out);
    for (const auto& replica : doc.value("replicas", nlohmann::json::array())) {
      for (const auto& f : replica.value("findings", nlohmann::json::array())) {
        ++finding_codes[f.value("code", std::string("?"))];
      }
      // The merged-volume content digest, when this sentinelctl computes one (a read pass of its own).
      content_digest = replica.value("contentDigest", std::string());
      if (replica.contains("content") && replica["content"].contains("readBytes")) {
        content_read_bytes = as_u64(replica["content"]["readBytes"]);
      }
      for (const auto& image : replica.value("images", nlohmann::json::array())) {
        if (image.value("name", std::string()) != kSnapName) continue;
        scan_crc = image.value("crc64", std::string());
        if (image.contains("deepReadBytes")) scan_read_bytes = as_u64(image["deepReadBytes"]);
        if (image.contains("extentCount")) scan_extents = as_u64(image["extentCount"]);
        if (image.contains("storedChecksum")) scan_state = image["storedChecksum"].value("state", std::string());
      }
    }
  }
  const std::string load_mid = loadavg();

  // The peers: each run starts with the image's data cached and its holes not.
  const CpuMark mark_peers = cpu_mark();
  Series s_xxhsum, s_go;
  std::string xxhsum_out, go_crc;
  for (int i = 0; i < peer_runs; ++i) {
    drop_cache(p.snapshot);
    simple_loop(p.snapshot);
    const ChildRun x = run_child({xxhsum, "-H3", p.snapshot.string()}, true);
    s_xxhsum.wall.push_back(x.seconds);
    s_xxhsum.cpu.push_back(x.cpu_user + x.cpu_sys);
    // "XXH3 (FILE) = HASH" (xxhsum 0.8's BSD-style line for -H3) or "HASH  FILE"
    const auto eq = x.out.find(" = ");
    xxhsum_out = eq != std::string::npos ? x.out.substr(eq + 3, x.out.find('\n', eq) - eq - 3)
                                         : x.out.substr(0, x.out.find(' '));
    drop_cache(p.snapshot);
    simple_loop(p.snapshot);
    const ChildRun g = run_child({go_crc64, p.snapshot.string()}, true);
    s_go.wall.push_back(g.seconds);
    s_go.cpu.push_back(g.cpu_user + g.cpu_sys);
    go_crc = g.out.substr(0, g.out.find('\n'));
  }
  const CpuMark mark_peers_end = cpu_mark();
  if (!leave_cache) drop_cache(p.snapshot);
  const std::string load_end = loadavg();

  const double t_scan = s_scan.med();
  const double t_engine_xxh = s_engine_xxh.med();
  const double t_engine_crc = s_engine_crc.med();
  const double t_lanes_digest = s_lanes_digest.med();
  const double t_lanes_crc = s_lanes_crc.med();
  const double t_loop = s_loop.med();
  const double t_xxhsum = s_xxhsum.med();
  const double t_go = s_go.med();
  const double ratio_a = t_xxhsum / t_scan;
  const double ratio_a_engine = t_xxhsum / t_engine_xxh;
  const double ratio_b = t_loop / t_lanes_digest;
  const double ratio_b_one_thread = t_loop / t_engine_xxh;
  const double ratio_b_one_lane = t_loop / s_one_lane_digest.med();
  const double ratio_c = t_go / t_scan;
  const double ratio_c_engine = t_go / t_lanes_crc;
  const double rss_mib = max_rss_kib / 1024.0;
  const double gb = spec.data_bytes() / 1e9;

  std::printf("%-52s %9s   %s\n", "measurement", "median s", "runs (s)");
  print_row("sentinelctl scan --deep --json (child)", s_scan);
  print_row("in-process ReadEngine + XXH3-128", s_engine_xxh);
  print_row("in-process ReadEngine + SparseCrc64", s_engine_crc);
  print_row("in-process 1 read lane: content digest", s_one_lane_digest);
  print_row(("in-process " + std::to_string(lanes) + " read lanes: content digest").c_str(), s_lanes_digest);
  print_row(("in-process " + std::to_string(lanes) + " read lanes: crc64").c_str(), s_lanes_crc);
  print_row("simple SEEK_DATA/SEEK_HOLE + pread 1 MiB + XXH3-128", s_loop);
  print_row("xxhsum -H3 IMAGE (full 40 GiB read)", s_xxhsum);
  print_row("Go hash/crc64 ISO, io.Copy (Longhorn's method)", s_go);
  std::printf("\nthroughput over the %.3f GB of data: sentinelctl %.2f GB/s (two passes), engine+XXH3 %.2f GB/s, "
              "engine+CRC %.2f GB/s, lanes digest %.2f GB/s, lanes crc64 %.2f GB/s, simple loop %.2f GB/s\n",
              gb, gb / t_scan, gb / t_engine_xxh, gb / t_engine_crc, gb / t_lanes_digest, gb / t_lanes_crc,
              gb / t_loop);
  std::printf("throughput over the %.1f GiB apparent size: xxhsum %.2f GB/s, Go crc64 %.2f GB/s\n",
              st.st_size / double(1ull << 30), st.st_size / 1e9 / t_xxhsum, st.st_size / 1e9 / t_go);
  std::printf("read engine backend: %s; extents read: engine %" PRIu64 " (FIEMAP, merged), simple loop %" PRIu64
              " (SEEK_DATA), deep scan extentCount %" PRIu64 "\n",
              r_engine_xxh.backend.c_str(), r_engine_xxh.extents, r_loop.extents, scan_extents);
  std::printf("bytes hashed: engine %" PRIu64 ", simple loop %" PRIu64 ", deep scan deepReadBytes %" PRIu64
              ", expected %" PRIu64 "\n",
              r_engine_xxh.bytes, r_loop.bytes, scan_read_bytes, spec.data_bytes());
  std::printf("XXH3-128 of the data: engine %s, simple loop %s%s\n", r_engine_xxh.digest.c_str(),
              r_loop.digest.c_str(), r_engine_xxh.digest == r_loop.digest ? "" : "  <-- DIFFER");
  std::printf("read lanes (%s): content digest %s, %" PRIu64 " bytes; crc64 %s\n", r_lanes_digest.backend.c_str(),
              r_lanes_digest.digest.c_str(), r_lanes_digest.bytes, r_lanes_crc.digest.c_str());
  std::printf("xxhsum -H3 of the whole file: %s\n", xxhsum_out.c_str());
  std::printf("deep scan: crc64 pass read %" PRIu64 " bytes; merged-volume contentDigest %s (its pass read %" PRIu64
              " bytes)\n",
              scan_read_bytes, content_digest.empty() ? "(not computed by this sentinelctl)" : content_digest.c_str(),
              content_read_bytes);
  std::printf("crc64 (Longhorn's checksum of the snapshot):\n");
  std::printf("  generator (treegen byte-wise table, at write time) %s\n", expected_crc.c_str());
  std::printf("  sentinelctl scan --deep JSON images[].crc64        %s (storedChecksum %s)\n",
              scan_crc.empty() ? "(none)" : scan_crc.c_str(), scan_state.empty() ? "-" : scan_state.c_str());
  std::printf("  in-process ReadEngine + SparseCrc64                %s\n", r_engine_crc.digest.c_str());
  std::printf("  in-process read lanes, parts combined              %s\n", r_lanes_crc.digest.c_str());
  std::printf("  Go hash/crc64 ISO over the full file               %s\n", go_crc.c_str());
  if (finding_codes.empty()) {
    std::printf("deep scan findings: none\n");
  } else {
    std::printf("deep scan findings:");
    for (const auto& [code, n] : finding_codes) std::printf(" %s x%" PRIu64, code.c_str(), n);
    std::printf("\n");
  }
  std::printf("other load: other processes kept %.2f of %ld cores busy during the Sentinel runs, %.2f during the "
              "peers' runs\n",
              other_cores(mark_sentinel, mark_sentinel_end), ::sysconf(_SC_NPROCESSORS_ONLN),
              other_cores(mark_peers, mark_peers_end));
  std::printf("load average: start %s, after Sentinel runs %s, end %s\n", load_start.c_str(), load_mid.c_str(),
              load_end.c_str());

  const bool crc_equal = !scan_crc.empty() && scan_crc == go_crc && scan_crc == r_engine_crc.digest &&
                         scan_crc == r_lanes_crc.digest && scan_crc == expected_crc;
  // The head is empty, so the merged volume is the snapshot: the lanes' digest must be the deep scan's.
  const bool bytes_ok = scan_read_bytes == spec.data_bytes() && r_engine_xxh.bytes == spec.data_bytes() &&
                        r_loop.bytes == spec.data_bytes() && r_engine_xxh.digest == r_loop.digest &&
                        r_lanes_digest.bytes == spec.data_bytes() && r_lanes_digest.digest == content_digest &&
                        r_one_lane_digest.digest == content_digest;
  std::printf("\nratios (peer time / Sentinel time):\n");
  std::printf("  (a) xxhsum / sentinelctl deep scan     %8.1f   (xxhsum / in-process engine+XXH3: %.1f)\n", ratio_a,
              ratio_a_engine);
  std::printf("  (b) simple loop / read lanes digest    %8.2f   (/ the digest on 1 lane: %.2f; / engine+XXH3 stream on "
              "one thread: %.2f)\n",
              ratio_b, ratio_b_one_lane, ratio_b_one_thread);
  std::printf("  (c) Go crc64 / sentinelctl deep scan   %8.1f   (Go / in-process read lanes crc64: %.1f)\n", ratio_c,
              ratio_c_engine);
  std::printf("\n%s  (a) xxhsum -H3 / sentinelctl scan --deep: %.1f >= %.0f\n", verdict(ratio_a >= kMinRatioXxhsum),
              ratio_a, kMinRatioXxhsum);
  std::printf("%s  (b) simple SEEK_DATA+pread+XXH3 loop / the deep scan's read lanes + content digest: %.2f >= %.1f\n",
              verdict(ratio_b >= kMinRatioLoop), ratio_b, kMinRatioLoop);
  std::printf("%s  (c) Go hash/crc64 (Longhorn) / sentinelctl scan --deep: %.1f >= %.0f\n",
              verdict(ratio_c >= kMinRatioGo), ratio_c, kMinRatioGo);
  std::printf("%s  (c) same checksum: sentinelctl %s, Go %s, in-process %s, generator %s\n", verdict(crc_equal),
              scan_crc.empty() ? "(none)" : scan_crc.c_str(), go_crc.c_str(), r_engine_crc.digest.c_str(),
              expected_crc.c_str());
  std::printf("%s  (d) sentinelctl scan --deep peak RSS %.1f MiB <= %.0f MiB\n", verdict(rss_mib <= kMaxRssMiB),
              rss_mib, kMaxRssMiB);
  std::printf("%s  every data byte read once by each Sentinel path; the engine and the loop agree; the lanes' content "
              "digest is the deep scan's\n",
              verdict(bytes_ok));
  return kExitReport;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << "\ndeep_scan_bench: could not run: " << e.what() << "\n";
    return kExitCouldNotRun;
  }
}
