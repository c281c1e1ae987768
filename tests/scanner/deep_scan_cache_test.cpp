// The deep-scan cache (issue 3, item 5): a re-scan of unchanged images reads nothing and gives the same sums and
// digests; a changed image is read again (and only it); a cache file that cannot be trusted is ignored with a
// warning and rebuilt; a cache directory under a disk is refused; racy (too recent) files are not cached; the
// entries of deleted replicas are pruned.
#include "scanner/deep_scan_cache.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "scanner/deep_scan.h"
#include "scanner/scanner.h"
#include "tests/scanner/fault_injection.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::scanner {
namespace {

namespace stdfs = std::filesystem;
using sentinel::testing::extract_case_as_disk;
using sentinel::testing::fixture_cases;
using sentinel::testing::HookedQueue;
using sentinel::testing::read_file;
using sentinel::testing::TempDir;
using v1::Image;

bool is_snapshot(const Image& image) {
  return image.kind() == Image::SNAPSHOT || image.kind() == Image::EXPANSION_SNAPSHOT;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  ASSERT_TRUE(out.good()) << path;
}

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : stdfs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// A fixture extracted as a disk, with a cache directory beside it (never inside it).
struct CachedCase {
  TempDir tmp;
  std::string disk;
  std::string cache_dir;
  PosixFileSystem fs;
  std::vector<std::string> warnings;
  std::unique_ptr<DeepScanCache> cache;
  uint64_t engine_reads = 0;  // read requests that reached the I/O layer, over every scan

  explicit CachedCase(const std::string& case_name, int64_t racy_window_ns = 0) {
    disk = extract_case_as_disk(case_name, tmp.path() + "/disk");
    cache_dir = tmp.path() + "/cache";
    open_cache(racy_window_ns);
  }
  void open_cache(int64_t racy_window_ns = 0) {
    DeepScanCacheOptions options;
    options.dir = cache_dir;
    options.disks = {disk};
    options.warn = [this](const std::string& message) { warnings.push_back(message); };
    options.racy_window_ns = racy_window_ns;
    std::string error;
    cache = DeepScanCache::open(options, &error);
    ASSERT_NE(cache, nullptr) << error;
  }
  // A fresh quick scan, then a deep scan with the cache; counts what was read.
  v1::Inventory scan(bool with_cache = true, uint64_t* read_bytes = nullptr) {
    v1::Inventory inventory = scan_disks(fs, {disk}, "test-node", ScanOptions{});
    DeepScanOptions options;
    options.keep_chunks = true;
    options.cache = with_cache ? cache.get() : nullptr;
    uint64_t seen = 0;
    options.on_read = [&seen](uint64_t bytes) { seen += bytes; };
    options.queue_factory = [this](const ReadOptions& o, std::string* note) {
      return std::unique_ptr<ReadQueue>(std::make_unique<HookedQueue>(
          make_default_read_queue(o, note), [this](int, uint64_t, uint32_t*) -> std::optional<int64_t> {
            ++engine_reads;
            return std::nullopt;
          }));
    };
    deep_scan_inventory(fs, &inventory, options);
    if (read_bytes != nullptr) *read_bytes = seen;
    return inventory;
  }
  std::string cache_file() {
    auto names = files_in(cache_dir);
    EXPECT_EQ(names.size(), 1u);
    return names.empty() ? "" : cache_dir + "/" + names[0];
  }
};

// Everything a deep scan computed, to compare two scans.
struct DeepResults {
  std::map<std::string, std::string> crc64;          // "dir/image" -> crc64
  std::map<std::string, std::string> digest;         // dir -> content digest
  std::map<std::string, std::string> chunks;         // dir -> serialized chunk list
  std::map<std::string, std::string> verdicts;       // "dir/image" -> stored checksum state
  bool operator==(const DeepResults&) const = default;
};

DeepResults results_of(const v1::Inventory& inventory) {
  DeepResults out;
  for (const auto& r : inventory.replicas()) {
    out.digest[r.dir()] = r.content_digest();
    std::string chunks = std::to_string(r.content().chunk_count()) + "/" +
                         std::to_string(r.content().nonzero_chunk_count()) + "/" +
                         std::to_string(r.content().mapped_bytes()) + "/" + std::to_string(r.content().run_count());
    for (const auto& c : r.content().chunks()) chunks += " " + std::to_string(c.index()) + ":" + c.digest();
    out.chunks[r.dir()] = chunks;
    for (const auto& image : r.images()) {
      if (!is_snapshot(image)) continue;
      out.crc64[r.dir() + "/" + image.name()] = image.crc64();
      out.verdicts[r.dir() + "/" + image.name()] = v1::StoredChecksum::State_Name(image.stored_checksum().state());
    }
  }
  return out;
}

TEST(DeepScanCache, SecondScanReadsNothingAndGivesTheSameResults) {
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    CachedCase c(case_name);
    uint64_t first_bytes = 0;
    const v1::Inventory first = c.scan(true, &first_bytes);
    const v1::Inventory uncached = c.scan(false);
    EXPECT_EQ(results_of(first), results_of(uncached)) << "the cache changed a first scan's results";
    EXPECT_GT(first_bytes, 0u);
    size_t snapshots = 0;
    for (const auto& r : first.replicas()) {
      EXPECT_FALSE(r.content().from_cache());
      for (const auto& image : r.images()) {
        if (!is_snapshot(image)) continue;
        ++snapshots;
        EXPECT_FALSE(image.crc64_from_cache());
        EXPECT_EQ(image.crc64().size(), 16u);
      }
    }
    EXPECT_TRUE(c.warnings.empty()) << c.warnings.front();

    const uint64_t reads_before = c.engine_reads;
    uint64_t second_bytes = 1;
    const v1::Inventory second = c.scan(true, &second_bytes);
    EXPECT_EQ(second_bytes, 0u) << "a re-scan of unchanged images read data";
    EXPECT_EQ(c.engine_reads, reads_before) << "a re-scan of unchanged images submitted reads";
    EXPECT_EQ(results_of(second), results_of(first));
    for (const auto& r : second.replicas()) {
      SCOPED_TRACE(r.dir());
      if (!r.content_digest().empty()) {
        EXPECT_TRUE(r.content().from_cache());
        EXPECT_EQ(r.content().read_bytes(), 0u);
      }
      for (const auto& image : r.images()) {
        if (!is_snapshot(image)) continue;
        EXPECT_TRUE(image.crc64_from_cache()) << image.name();
        EXPECT_EQ(image.deep_read_bytes(), 0u) << image.name();
      }
    }
    const auto stats = c.cache->stats();
    EXPECT_EQ(stats.image_hits, snapshots);
    EXPECT_EQ(stats.image_misses, snapshots);  // the first scan's
    EXPECT_EQ(stats.files_written, static_cast<uint64_t>(first.replicas_size()))
        << "an unchanged entry must not be written again";
    EXPECT_TRUE(c.warnings.empty());
  }
}

TEST(DeepScanCache, ChunksAreReusedWhetherOrNotTheFirstScanListedThem) {
  CachedCase c("case2-chain");
  v1::Inventory inventory = scan_disks(c.fs, {c.disk}, "test-node", ScanOptions{});
  DeepScanOptions options;
  options.cache = c.cache.get();  // keep_chunks off: the cache keeps them anyway
  deep_scan_inventory(c.fs, &inventory, options);
  EXPECT_EQ(inventory.replicas(0).content().chunks_size(), 0);
  const v1::Inventory again = c.scan();  // keep_chunks on, from the cache
  const v1::Inventory uncached = c.scan(false);
  EXPECT_TRUE(again.replicas(0).content().from_cache());
  EXPECT_GT(again.replicas(0).content().chunks_size(), 0);
  EXPECT_EQ(results_of(again), results_of(uncached));
}

// Changing one snapshot (its mtime, then its bytes) invalidates exactly its entry: the other snapshots still come
// from the cache; the content digest depends on every layer, so it is computed again.
TEST(DeepScanCache, ChangingOneImageInvalidatesExactlyItsEntry) {
  CachedCase c("case2-chain");
  const v1::Inventory first = c.scan();
  const v1::Replica& r = first.replicas(0);
  std::string victim;
  for (const auto& image : r.images()) {
    if (is_snapshot(image) && image.allocated_bytes() > 0) victim = image.name();
  }
  ASSERT_FALSE(victim.empty());
  const std::string path = c.disk + "/replicas/" + r.dir() + "/" + victim;

  // 1. A new mtime, same bytes: read again, same sum.
  const timespec times[2] = {{0, UTIME_OMIT}, {1'600'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  uint64_t bytes = 0;
  const v1::Inventory touched = c.scan(true, &bytes);
  EXPECT_GT(bytes, 0u);
  for (const auto& image : touched.replicas(0).images()) {
    if (!is_snapshot(image)) continue;
    EXPECT_EQ(image.crc64_from_cache(), image.name() != victim) << image.name();
    EXPECT_EQ(image.deep_read_bytes() > 0, image.name() == victim) << image.name();
  }
  EXPECT_FALSE(touched.replicas(0).content().from_cache()) << "a layer changed: the merged view is read again";
  EXPECT_EQ(results_of(touched), results_of(first));

  // 2. New bytes in its first extent: a new sum, which the next scan takes from the cache.
  const v1::Image* before = nullptr;
  for (const auto& image : touched.replicas(0).images()) {
    if (image.name() == victim) before = &image;
  }
  ASSERT_NE(before, nullptr);
  {
    const int fd = ::open(path.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    off_t data = ::lseek(fd, 0, SEEK_DATA);
    ASSERT_GE(data, 0);
    uint8_t byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, data), 1);
    byte ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &byte, 1, data), 1);
    ::close(fd);
  }
  const v1::Inventory written = c.scan();
  const v1::Inventory truth = c.scan(false);
  EXPECT_EQ(results_of(written), results_of(truth));
  for (const auto& image : written.replicas(0).images()) {
    if (!is_snapshot(image)) continue;
    EXPECT_EQ(image.crc64_from_cache(), image.name() != victim) << image.name();
    if (image.name() == victim) {
      EXPECT_NE(image.crc64(), before->crc64());
    }
  }
  const v1::Inventory after = c.scan();
  EXPECT_EQ(results_of(after), results_of(truth));
  for (const auto& image : after.replicas(0).images()) {
    if (is_snapshot(image)) {
      EXPECT_TRUE(image.crc64_from_cache()) << image.name();
    }
  }
  EXPECT_TRUE(after.replicas(0).content().from_cache());
  EXPECT_TRUE(c.warnings.empty());
}

// A cache file that cannot be trusted is ignored with a warning, the scan reads everything and gets the right
// results, and the file is rewritten so that the next scan uses it.
TEST(DeepScanCache, UntrustworthyCacheFilesAreIgnoredWithAWarningAndRebuilt) {
  CachedCase c("case2-chain");
  const DeepResults truth = results_of(c.scan());
  const std::string file = c.cache_file();
  const std::string good = read_file(file);
  ASSERT_FALSE(good.empty());

  struct Variant {
    std::string name;
    std::string bytes;
    std::string expect_in_warning;
  };
  std::string flipped = good;
  flipped[good.size() - 20] ^= 0x01;  // one bit in the body
  const std::vector<Variant> variants = {
      {"bit flip", flipped, "corrupt"},
      {"truncated", good.substr(0, good.size() / 2), "corrupt"},
      {"appended", good + "x", "corrupt"},
      {"garbage", "not a cache file at all\n", "not a Sentinel deep-scan cache file"},
      {"empty", "", "not a Sentinel deep-scan cache file"},
      {"foreign version", "SENTINEL-DEEP-SCAN-CACHE 999 0000000000000000 3\n{}\n", "format 999"},
  };
  for (const Variant& v : variants) {
    SCOPED_TRACE(v.name);
    write_file(file, v.bytes);
    c.warnings.clear();
    uint64_t bytes = 0;
    const v1::Inventory inventory = c.scan(true, &bytes);
    EXPECT_GT(bytes, 0u) << "an untrusted file was used";
    EXPECT_EQ(results_of(inventory), truth);
    for (const auto& image : inventory.replicas(0).images()) {
      EXPECT_FALSE(image.crc64_from_cache()) << image.name();
    }
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find(v.expect_in_warning), std::string::npos) << c.warnings[0];
    EXPECT_NE(c.warnings[0].find("ignored"), std::string::npos) << c.warnings[0];
    EXPECT_EQ(read_file(file), good) << "the entry was not rebuilt";
    c.warnings.clear();
    c.scan(true, &bytes);
    EXPECT_EQ(bytes, 0u) << "the rebuilt entry is not used";
    EXPECT_TRUE(c.warnings.empty());
  }
}

TEST(DeepScanCache, SerializeAndParseRoundTripAndCheckEveryField) {
  CacheKey key{64768, 1234, "pvc-1-abcdefgh"};
  CacheEntry entry;
  entry.disk = "/var/lib/longhorn";
  entry.images.push_back({"volume-snap-a.img", {1, 2, 3, -4, 5}, "0123456789abcdef"});
  CachedContent content;
  content.volume_bytes = 3 * (4 << 20) + 1;
  content.layers = {{"volume-head-001.img", {1, 7, 8, 9, 10}}, {"volume-snap-a.img", {1, 2, 3, -4, 5}}};
  content.digest = std::string(32, 'a');
  content.chunk_count = 4;
  content.nonzero_chunk_count = 2;
  content.mapped_bytes = 8192;
  content.run_count = 2;
  content.chunks = {{0, std::string(32, 'b')}, {3, std::string(32, 'c')}};
  entry.content = content;
  const std::string bytes = DeepScanCache::serialize(key, entry);
  std::string why;
  bool foreign = false;
  auto back = DeepScanCache::parse(bytes, key, &why, &foreign);
  ASSERT_TRUE(back.has_value()) << why;
  EXPECT_EQ(*back, entry);

  // Another replica's key: a miss (file names are hashes; a collision must not hand out another's sums).
  CacheKey other = key;
  other.dir = "pvc-2-abcdefgh";
  EXPECT_FALSE(DeepScanCache::parse(bytes, other, &why, &foreign).has_value());
  EXPECT_NE(why.find("another replica"), std::string::npos) << why;

  // Well formed and correctly checksummed, but not what Sentinel writes: each is refused.
  auto reserialize_with = [&](CacheEntry e) { return DeepScanCache::serialize(key, e); };
  CacheEntry bad = entry;
  bad.images[0].crc64 = "0123456789ABCDEF";  // uppercase
  EXPECT_FALSE(DeepScanCache::parse(reserialize_with(bad), key, &why, &foreign).has_value());
  EXPECT_NE(why.find("crc64"), std::string::npos) << why;
  bad = entry;
  bad.content->chunks = {{3, std::string(32, 'c')}, {0, std::string(32, 'b')}};  // out of order
  EXPECT_FALSE(DeepScanCache::parse(reserialize_with(bad), key, &why, &foreign).has_value());
  bad = entry;
  bad.content->chunk_count = 5;  // does not fit the volume size
  EXPECT_FALSE(DeepScanCache::parse(reserialize_with(bad), key, &why, &foreign).has_value());
  bad = entry;
  bad.content->nonzero_chunk_count = 3;
  EXPECT_FALSE(DeepScanCache::parse(reserialize_with(bad), key, &why, &foreign).has_value());
  // Another format version is "foreign".
  std::string v2 = bytes;
  v2.replace(v2.find(" 1 "), 3, " 2 ");
  EXPECT_FALSE(DeepScanCache::parse(v2, key, &why, &foreign).has_value());
  EXPECT_TRUE(foreign);
}

TEST(DeepScanCache, ADirectoryInsideADiskIsRefusedAndNothingIsCreated) {
  TempDir tmp;
  const std::string disk = extract_case_as_disk("case1-simple", tmp.path() + "/disk");
  ASSERT_EQ(::symlink(disk.c_str(), (tmp.path() + "/link-to-disk").c_str()), 0);
  ASSERT_EQ(::symlink((disk + "/replicas").c_str(), (tmp.path() + "/link-to-replicas").c_str()), 0);
  const std::vector<std::string> inside = {
      disk,
      disk + "/",
      disk + "/cache",
      disk + "/replicas/new/deeper",
      disk + "/replicas/../cache",
      tmp.path() + "/link-to-disk/cache",
      tmp.path() + "/link-to-replicas/cache",
  };
  for (const std::string& dir : inside) {
    SCOPED_TRACE(dir);
    DeepScanCacheOptions options;
    options.dir = dir;
    options.disks = {tmp.path() + "/elsewhere", disk};
    std::string error;
    EXPECT_EQ(DeepScanCache::open(options, &error), nullptr);
    EXPECT_NE(error.find("inside the Longhorn disk"), std::string::npos) << error;
  }
  EXPECT_FALSE(stdfs::exists(disk + "/cache"));
  EXPECT_FALSE(stdfs::exists(disk + "/replicas/new"));
  // Beside the disk, or a disk given through a symlink with the cache beside it: fine.
  DeepScanCacheOptions beside;
  beside.dir = tmp.path() + "/disk-cache";
  beside.disks = {tmp.path() + "/link-to-disk"};
  std::string error;
  EXPECT_NE(DeepScanCache::open(beside, &error), nullptr) << error;
  EXPECT_TRUE(stdfs::is_directory(tmp.path() + "/disk-cache"));
  EXPECT_EQ(cache_dir_conflict(tmp.path() + "/disk-cache", {disk}), "");
}

// Files modified within the racy window of the read are not cached (a write in the same timestamp tick would go
// unnoticed); the scan's results are the same.
TEST(DeepScanCache, RacyFilesAreNotCached) {
  CachedCase c("case2-chain", int64_t{3600} * 1'000'000'000 * 24 * 365 * 100);  // everything is "recent"
  const v1::Inventory first = c.scan();
  EXPECT_GT(c.cache->stats().racy_skipped, 0u);
  EXPECT_TRUE(files_in(c.cache_dir).empty()) << "nothing trustworthy to store";
  uint64_t bytes = 0;
  const v1::Inventory second = c.scan(true, &bytes);
  EXPECT_GT(bytes, 0u);
  EXPECT_EQ(results_of(second), results_of(first));
}

TEST(DeepScanCache, EntriesOfDeletedReplicasArePruned) {
  CachedCase c("case3-salvage-pair");
  const v1::Inventory first = c.scan();
  ASSERT_GE(first.replicas_size(), 2);
  ASSERT_EQ(files_in(c.cache_dir).size(), static_cast<size_t>(first.replicas_size()));
  // A stale temporary of an interrupted write, two hours old, goes too; a foreign file stays.
  const std::string prefix = files_in(c.cache_dir)[0].substr(0, 17);
  const std::string temp = c.cache_dir + "/." + prefix + "0000000000000000.dsc.tmp-0123";
  write_file(temp, "partial");
  const timespec old[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 7200, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, temp.c_str(), old, 0), 0);
  write_file(c.cache_dir + "/README", "the operator's own file");
  stdfs::remove_all(c.disk + "/replicas/" + first.replicas(0).dir());
  const v1::Inventory second = c.scan();
  ASSERT_EQ(second.replicas_size(), first.replicas_size() - 1);
  auto names = files_in(c.cache_dir);
  EXPECT_EQ(names.size(), static_cast<size_t>(second.replicas_size()) + 1);
  EXPECT_TRUE(std::find(names.begin(), names.end(), "README") != names.end());
  EXPECT_FALSE(stdfs::exists(temp));
}

}  // namespace
}  // namespace sentinel::scanner
