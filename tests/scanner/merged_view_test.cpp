// The merged view (merged_view.h) and the replica content digest (content_digest.h, deep_scan.h):
// - for every fixture replica, the merged bytes Sentinel reads hash (SHA-256 over the full Size, holes as zeros)
//   to what Longhorn's own ReadAt gave, and the run list equals Longhorn's per-block location table;
// - contentDigest tells case 4's divergent replicas apart in exactly the chunk of the divergent write, and
//   case 3's; it equals an independent computation over the merged bytes;
// - replicas with the same visible bytes but different layering, holes vs written zeros, get the same digest;
// - the run list of a 40 GiB sparse volume with ~20,000 extents stays small, from a pure build and end to end;
// - bytes past a layer's apparent size are zeros; changed, vanished and unreadable layers give findings and no
//   digest, never a wrong one.
#include "scanner/merged_view.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>
#include <mutex>
#include <string>
#include <vector>

#include "scanner/content_digest.h"
#include "scanner/deep_scan.h"
#include "scanner/scanner.h"
#include "tests/scanner/delegating_file_system.h"
#include "tests/scanner/fault_injection.h"
#include "tests/scanner/fixture_support.h"
#include "tools/treegen/replica_writer.h"

namespace sentinel::scanner {
namespace {

using nlohmann::json;
using sentinel::testing::extract_case_as_disk;
using sentinel::testing::fixture_cases;
using sentinel::testing::fixtures_dir;
using sentinel::testing::read_file;
using sentinel::testing::HookedQueue;
using sentinel::testing::inode_of;
using sentinel::testing::TempDir;
using v1::Finding;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

// Holes are hashed from here.
alignas(64) const uint8_t kZeroBuffer[1 << 20] = {};

class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void update(const void* data, size_t n) { EVP_DigestUpdate(ctx_, data, n); }
  void update_zeros(uint64_t n) {
    while (n > 0) {
      const size_t piece = static_cast<size_t>(std::min<uint64_t>(n, sizeof kZeroBuffer));
      update(kZeroBuffer, piece);
      n -= piece;
    }
  }
  std::string hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, md, &len);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < len; ++i) {
      out += kHex[md[i] >> 4];
      out += kHex[md[i] & 0xf];
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

json expected_for(const std::string& case_name) {
  return json::parse(read_file(fixtures_dir() + "/" + case_name + ".expected.json"));
}

const v1::Replica* find_replica(const v1::Inventory& inventory, const std::string& dir) {
  for (const auto& r : inventory.replicas()) {
    if (r.dir() == dir) return &r;
  }
  return nullptr;
}

std::vector<const Finding*> findings_on(const v1::Replica& replica, Finding::Code code) {
  std::vector<const Finding*> out;
  for (const auto& f : replica.findings()) {
    if (f.code() == code) out.push_back(&f);
  }
  return out;
}

std::unique_ptr<ReadEngine> make_engine(const ReadOptions& options = {}) {
  auto engine = ReadEngine::create(options);
  EXPECT_TRUE(engine.ok());
  return engine.ok() ? std::move(engine.value()) : nullptr;
}

// The merged view of a scanned replica, streamed into SHA-256 (and optionally kept).
struct Merged {
  MergedViewReport report;
  std::string sha256;
  uint64_t delivered = 0;  // data + zeros
  uint64_t data_bytes = 0;
  bool in_order = true;
  std::vector<uint8_t> bytes;  // only when kept
};

Merged read_merged(FileSystem& fs, ReadEngine& engine, const v1::Replica& replica, bool keep,
                   const std::string& disk = "") {
  Merged m;
  Sha256 sha;
  MergedViewSink sink;
  sink.data = [&](uint64_t offset, const uint8_t* data, size_t n) {
    m.in_order = m.in_order && offset == m.delivered;
    sha.update(data, n);
    if (keep) m.bytes.insert(m.bytes.end(), data, data + n);
    m.delivered += n;
    m.data_bytes += n;
    return true;
  };
  sink.zeros = [&](uint64_t offset, uint64_t n) {
    m.in_order = m.in_order && offset == m.delivered;
    sha.update_zeros(n);
    if (keep) m.bytes.resize(m.bytes.size() + n, 0);
    m.delivered += n;
    return true;
  };
  m.report = stream_replica_merged_view(fs, engine, replica, sink, disk);
  m.sha256 = sha.hex();
  return m;
}

// contentDigest and chunk digests computed plainly from materialised bytes.
std::pair<std::string, std::vector<std::string>> reference_digest(const std::vector<uint8_t>& volume) {
  std::vector<uint8_t> list;
  std::vector<std::string> chunks;
  for (size_t start = 0; start < volume.size(); start += kContentChunkBytes) {
    const XXH128_hash_t h =
        XXH3_128bits(volume.data() + start, std::min<size_t>(kContentChunkBytes, volume.size() - start));
    chunks.push_back(Digest128{h.high64, h.low64}.hex());
    XXH128_canonical_t c;
    XXH128_canonicalFromHash(&c, h);
    list.insert(list.end(), c.digest, c.digest + 16);
  }
  const XXH128_hash_t d = XXH3_128bits(list.data(), list.size());
  return {Digest128{d.high64, d.low64}.hex(), chunks};
}

struct ScannedCase {
  TempDir tmp;
  std::string disk;
  PosixFileSystem fs;
  v1::Inventory inventory;
  json expected;
  explicit ScannedCase(const std::string& case_name) {
    disk = extract_case_as_disk(case_name, tmp.path());
    inventory = scan_disks(fs, {disk}, "test-node", ScanOptions{});
    expected = expected_for(case_name);
  }
};

// ---------------------------------------------------------------------------------------------------------
// Longhorn's fixtures.

TEST(MergedViewFixtures, Sha256OfTheMergedBytesEqualsLonghornsReadAt) {
  ReadOptions small;  // pieces much smaller than the runs, and the pread backend
  small.backend = ReadOptions::Backend::kPread;
  small.queue_depth = 3;
  small.block_bytes = 4096;
  auto engine = make_engine();
  auto small_engine = make_engine(small);
  ASSERT_TRUE(engine && small_engine);
  size_t checked = 0;
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    ScannedCase c(case_name);
    for (const auto& r : c.expected.at("replicas")) {
      SCOPED_TRACE(r.at("dir").get<std::string>());
      const v1::Replica* replica = find_replica(c.inventory, r.at("dir"));
      ASSERT_NE(replica, nullptr);
      const auto& merged = r.at("replica_readonly_view").at("merged");
      for (ReadEngine* e : {engine.get(), small_engine.get()}) {
        Merged m = read_merged(c.fs, *e, *replica, false);
        ASSERT_TRUE(m.report.ok()) << m.report.message;
        EXPECT_TRUE(m.in_order);
        EXPECT_EQ(m.delivered, replica->size_bytes());
        EXPECT_EQ(m.sha256, merged.at("sha256_via_ReadAt").get<std::string>());
        EXPECT_EQ(m.report.read_bytes, m.data_bytes);
        EXPECT_EQ(m.report.layers, static_cast<uint32_t>(replica->chain_size()));
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 9u);  // 7 archives; cases 3 and 4 hold two replicas each
}

// The run list against Longhorn's own location table (Preload), run by run.
TEST(MergedViewFixtures, RunsEqualLonghornsBlockSourceRuns) {
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    ScannedCase c(case_name);
    for (const auto& r : c.expected.at("replicas")) {
      const std::string dir = r.at("dir");
      SCOPED_TRACE(dir);
      const v1::Replica* replica = find_replica(c.inventory, dir);
      ASSERT_NE(replica, nullptr);
      MergedRunBuilder builder(replica->size_bytes());
      for (const std::string& layer : replica->chain()) {
        const std::string path = c.disk + "/replicas/" + dir + "/" + layer;
        Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        ASSERT_TRUE(fd.valid()) << path;
        struct stat st {};
        ASSERT_EQ(::fstat(fd.get(), &st), 0);
        std::vector<ReadExtent> extents;
        ASSERT_TRUE(c.fs.map_extents(fd.get(), static_cast<uint64_t>(st.st_size), [&](uint64_t o, uint64_t l) {
          extents.push_back({o, l});
        }).ok());
        ASSERT_TRUE(builder.add_layer(extents));
      }
      std::vector<std::tuple<std::string, uint64_t, uint64_t>> ours;
      for (const MergedRun& run : builder.finish()) ours.emplace_back(replica->chain(run.layer), run.offset, run.length);
      std::vector<std::tuple<std::string, uint64_t, uint64_t>> longhorns;
      for (const auto& run : r.at("replica_readonly_view").at("merged").at("block_source_runs")) {
        const std::string file = run.at("file");
        const uint64_t offset = run.at("offset");
        const uint64_t length = run.at("length");
        if (!longhorns.empty() && std::get<0>(longhorns.back()) == file &&
            std::get<1>(longhorns.back()) + std::get<2>(longhorns.back()) == offset) {
          std::get<2>(longhorns.back()) += length;
        } else {
          longhorns.emplace_back(file, offset, length);
        }
      }
      EXPECT_EQ(ours, longhorns);
    }
  }
}

TEST(ContentDigestFixtures, EveryReplicaGetsTheDigestOfItsMergedBytes) {
  auto engine = make_engine();
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    ScannedCase c(case_name);
    DeepScanOptions options;
    options.keep_chunks = true;
    deep_scan_inventory(c.fs, &c.inventory, options);
    for (const auto& replica : c.inventory.replicas()) {
      SCOPED_TRACE(replica.dir());
      ASSERT_EQ(replica.content_digest().size(), 32u) << replica.content().skipped();
      EXPECT_EQ(replica.content().skipped(), "");
      EXPECT_EQ(replica.content().chunk_bytes(), kContentChunkBytes);
      EXPECT_EQ(replica.content().chunk_count(), (replica.size_bytes() + kContentChunkBytes - 1) / kContentChunkBytes);
      EXPECT_EQ(replica.content().zero_chunk_digest(), kZeroChunkDigestHex);
      for (const auto& f : replica.findings()) {
        EXPECT_EQ(f.message().rfind("deep scan:", 0), std::string::npos) << f.message();
      }
      Merged m = read_merged(c.fs, *engine, replica, true);
      ASSERT_TRUE(m.report.ok());
      const auto [digest, chunks] = reference_digest(m.bytes);
      EXPECT_EQ(replica.content_digest(), digest);
      EXPECT_EQ(replica.content().read_bytes(), m.data_bytes);
      // The listed chunks are exactly those with a non-zero byte.
      size_t listed = 0;
      for (size_t i = 0; i < chunks.size(); ++i) {
        const size_t start = i * kContentChunkBytes;
        const size_t n = std::min<size_t>(kContentChunkBytes, m.bytes.size() - start);
        const bool zero = is_all_zero(m.bytes.data() + start, n);
        if (zero) {
          EXPECT_EQ(chunks[i], kZeroChunkDigestHex);
          continue;
        }
        ASSERT_LT(listed, static_cast<size_t>(replica.content().chunks_size()));
        EXPECT_EQ(replica.content().chunks(static_cast<int>(listed)).index(), i);
        EXPECT_EQ(replica.content().chunks(static_cast<int>(listed)).digest(), chunks[i]);
        ++listed;
      }
      EXPECT_EQ(listed, static_cast<size_t>(replica.content().chunks_size()));
      EXPECT_EQ(replica.content().nonzero_chunk_count(), listed);
    }
  }
}

std::map<uint64_t, std::string> chunk_map(const v1::Replica& replica) {
  std::map<uint64_t, std::string> out;
  for (const auto& c : replica.content().chunks()) out[c.index()] = c.digest();
  return out;
}

TEST(ContentDigestFixtures, Case4DiffersExactlyInTheChunkOfTheDivergentWrite) {
  ScannedCase c("case4-divergent");
  DeepScanOptions options;
  options.keep_chunks = true;
  deep_scan_inventory(c.fs, &c.inventory, options);
  ASSERT_EQ(c.inventory.replicas_size(), 2);
  const v1::Replica& a = c.inventory.replicas(0);
  const v1::Replica& b = c.inventory.replicas(1);
  ASSERT_EQ(a.content_digest().size(), 32u);
  ASSERT_EQ(b.content_digest().size(), 32u);
  EXPECT_NE(a.content_digest(), b.content_digest());

  const uint64_t divergent_chunk = 9445376 / kContentChunkBytes;
  ASSERT_EQ(divergent_chunk, 2u);
  const auto ca = chunk_map(a);
  const auto cb = chunk_map(b);
  std::set<uint64_t> indices;
  for (const auto& [i, d] : ca) indices.insert(i);
  for (const auto& [i, d] : cb) indices.insert(i);
  std::vector<uint64_t> differing;
  for (uint64_t i : indices) {
    auto ia = ca.find(i);
    auto ib = cb.find(i);
    const std::string da = ia == ca.end() ? kZeroChunkDigestHex : ia->second;
    const std::string db = ib == cb.end() ? kZeroChunkDigestHex : ib->second;
    if (da != db) differing.push_back(i);
  }
  EXPECT_EQ(differing, std::vector<uint64_t>{divergent_chunk});
}

TEST(ContentDigestFixtures, Case3ReplicasDiffer) {
  ScannedCase c("case3-salvage-pair");
  deep_scan_inventory(c.fs, &c.inventory, DeepScanOptions{});
  ASSERT_EQ(c.inventory.replicas_size(), 2);
  ASSERT_EQ(c.inventory.replicas(0).content_digest().size(), 32u);
  ASSERT_EQ(c.inventory.replicas(1).content_digest().size(), 32u);
  EXPECT_NE(c.inventory.replicas(0).content_digest(), c.inventory.replicas(1).content_digest());
  EXPECT_TRUE(c.inventory.replicas(0).content().chunks().empty()) << "chunks are listed only when asked for";
}

// The command line: `--chunks` (implies --deep) lists the chunks with data; the table shows the digests.
TEST(ContentDigestFixtures, SentinelctlShowsDigestsAndChunks) {
  TempDir tmp;
  const std::string disk = extract_case_as_disk("case4-divergent", tmp.path());
  int rc = -1;
  const json out = json::parse(
      sentinel::testing::run_command(std::string(SENTINELCTL_PATH) + " scan --disk '" + disk + "' --chunks --json", &rc));
  ASSERT_EQ(rc, 0);
  ASSERT_EQ(out.at("replicas").size(), 2u);
  for (const auto& r : out.at("replicas")) {
    EXPECT_EQ(r.at("contentDigest").get<std::string>().size(), 32u);
    const auto& chunks = r.at("content").at("chunks");
    ASSERT_EQ(chunks.size(), 3u);  // 0, 2 and 15 hold data; the other 13 of 16 are zero and not listed
    EXPECT_EQ(chunks[1].at("index").get<std::string>(), "2");  // uint64 is a string in protobuf's JSON
    EXPECT_EQ(chunks[1].at("digest").get<std::string>().size(), 32u);
    EXPECT_EQ(r.at("content").at("zeroChunkDigest").get<std::string>(), kZeroChunkDigestHex);
  }
  const std::string table =
      sentinel::testing::run_command(std::string(SENTINELCTL_PATH) + " scan --disk '" + disk + "' --deep", &rc);
  ASSERT_EQ(rc, 0);
  for (const auto& r : out.at("replicas")) {
    EXPECT_NE(table.find("content  " + r.at("contentDigest").get<std::string>()), std::string::npos) << table;
  }
  EXPECT_NE(table.find("crc64    ba327d9395397a0f"), std::string::npos) << table;
  EXPECT_EQ(table.find("chunk 2 "), std::string::npos) << "chunks only with --chunks";
}

// ---------------------------------------------------------------------------------------------------------
// Generated replicas.

using treegen::LayerSpec;
using treegen::ReplicaSpec;
using treegen::Write;

// A Longhorn disk in a temporary directory.
struct GeneratedDisk {
  TempDir tmp;
  std::string disk;
  PosixFileSystem fs;
  GeneratedDisk() : disk(tmp.path() + "/disk") {
    auto r = treegen::write_disk(disk, "disk", "0b4930a7-0000-4000-8000-000000000001");
    EXPECT_TRUE(r.ok()) << r.error().message();
  }
  void add(const ReplicaSpec& spec) {
    auto r = treegen::write_replica(disk + "/replicas", spec);
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  std::string path(const std::string& dir, const std::string& file) const {
    return disk + "/replicas/" + dir + "/" + file;
  }
  v1::Inventory scan(const DeepScanOptions* deep = nullptr) {
    v1::Inventory inventory = scan_disks(fs, {disk}, "test-node", ScanOptions{});
    if (deep != nullptr) deep_scan_inventory(fs, &inventory, *deep);
    return inventory;
  }
};

LayerSpec layer(const std::string& file, std::vector<Write> writes) {
  LayerSpec l;
  l.file = file;
  l.writes = std::move(writes);
  return l;
}

// Allocated zeros, as a guest writing zeros leaves them: data extents that read as zeros.
void write_zeros(const std::string& path, uint64_t offset, uint64_t length) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << path;
  std::vector<char> zeros(length, 0);
  ASSERT_EQ(::pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(offset)), static_cast<ssize_t>(length));
  ASSERT_EQ(::fsync(fd), 0);
  ::close(fd);
}

constexpr const char* kSnap1 = "volume-snap-11111111-1111-4111-8111-111111111111.img";
constexpr const char* kSnap2 = "volume-snap-22222222-2222-4222-8222-222222222222.img";

// The same visible bytes, three ways: everything in the head; spread over two snapshots (one Removed, one
// holding data that a newer layer shadows) and the head; and with written zeros where the others have holes.
TEST(ContentDigestLayering, SameVisibleBytesGiveTheSameDigest) {
  const uint64_t size = 48 * kMiB + 16 * kKiB;  // 13 chunks, the last one 16 KiB
  const uint64_t seed = 7;
  GeneratedDisk g;

  ReplicaSpec flat;
  flat.dir = "same-vol-aaaa1111";
  flat.size = static_cast<int64_t>(size);
  flat.revision_counter = 4;
  flat.layers = {layer("volume-head-000.img", {{0, 64 * kKiB, seed},
                                               {5 * kMiB, kMiB, seed},
                                               {20 * kMiB + 4 * kKiB, 8 * kKiB, seed},
                                               {size - 8 * kKiB, 8 * kKiB, seed}})};
  g.add(flat);

  ReplicaSpec layered;
  layered.dir = "same-vol-bbbb2222";
  layered.size = static_cast<int64_t>(size);
  layered.revision_counter = 9;
  layered.layers = {layer(kSnap1, {{0, 64 * kKiB, 9},  // shadowed below by the Removed snapshot and the head
                                   {5 * kMiB, kMiB, seed}}),
                    layer(kSnap2, {{0, 32 * kKiB, seed}, {20 * kMiB + 4 * kKiB, 8 * kKiB, seed}}),
                    layer("volume-head-002.img", {{32 * kKiB, 32 * kKiB, seed}, {size - 8 * kKiB, 8 * kKiB, seed}})};
  layered.layers[1].removed = true;
  g.add(layered);

  ReplicaSpec zeros = flat;
  zeros.dir = "same-vol-cccc3333";
  g.add(zeros);
  // Written zeros where the others have holes: a few blocks inside a chunk with data, a whole chunk of its own
  // (32..36 MiB), and inside the short last chunk.
  write_zeros(g.path(zeros.dir, "volume-head-000.img"), 5 * kMiB + kMiB, 16 * kKiB);
  write_zeros(g.path(zeros.dir, "volume-head-000.img"), 32 * kMiB, 4 * kMiB);
  write_zeros(g.path(zeros.dir, "volume-head-000.img"), 48 * kMiB, 4 * kKiB);

  ReplicaSpec different = layered;  // one block of the head differs
  different.dir = "same-vol-dddd4444";
  different.layers[2].writes.push_back({20 * kMiB + 4 * kKiB, 4 * kKiB, 8});
  g.add(different);

  DeepScanOptions options;
  options.keep_chunks = true;
  const v1::Inventory inventory = g.scan(&options);
  ASSERT_EQ(inventory.replicas_size(), 4);
  std::map<std::string, const v1::Replica*> by_dir;
  for (const auto& r : inventory.replicas()) {
    by_dir[r.dir()] = &r;
    EXPECT_EQ(r.content_digest().size(), 32u) << r.dir() << ": " << r.content().skipped();
    for (const auto& f : r.findings()) EXPECT_EQ(f.message().rfind("deep scan:", 0), std::string::npos) << f.message();
  }
  const v1::Replica& a = *by_dir.at(flat.dir);
  const v1::Replica& b = *by_dir.at(layered.dir);
  const v1::Replica& z = *by_dir.at(zeros.dir);
  const v1::Replica& d = *by_dir.at(different.dir);
  EXPECT_EQ(b.chain_size(), 3);
  EXPECT_EQ(a.content_digest(), b.content_digest());
  EXPECT_EQ(a.content_digest(), z.content_digest());
  EXPECT_NE(a.content_digest(), d.content_digest());
  EXPECT_EQ(chunk_map(a), chunk_map(b));
  EXPECT_EQ(chunk_map(a), chunk_map(z));
  EXPECT_EQ(a.content().chunk_count(), 13u);
  EXPECT_EQ(a.content().nonzero_chunk_count(), 4u);  // chunks 0, 1, 5 and 12
  EXPECT_EQ(z.content().nonzero_chunk_count(), 4u);  // the written-zero chunk 8 is not listed
  EXPECT_GT(z.content().mapped_bytes(), a.content().mapped_bytes());
  // And the bytes themselves are equal.
  auto engine = make_engine();
  const std::string sha = read_merged(g.fs, *engine, a, false).sha256;
  EXPECT_EQ(read_merged(g.fs, *engine, b, false).sha256, sha);
  EXPECT_EQ(read_merged(g.fs, *engine, z, false).sha256, sha);
}

// Longhorn's rule for a block owned by a layer whose apparent size ends inside or before it: zeros, even where
// an older layer has data. Such an extent can only come from FIEMAP past end of file (preallocation), which the
// real file system layer clips; a wrapper plays it.
class ExtentPastEofFs final : public testing::DelegatingFileSystem {
 public:
  ExtentPastEofFs(uint64_t inode, uint64_t extra) : inode_(inode), extra_(extra) {}
  SysResult<Done> map_extents(int fd, uint64_t file_size, const ExtentSink& sink) override {
    auto r = DelegatingFileSystem::map_extents(fd, file_size, sink);
    auto st = DelegatingFileSystem::stat_fd(fd);
    if (r.ok() && st.ok() && st->inode == inode_) sink(file_size, extra_);
    return r;
  }

 private:
  uint64_t inode_;
  uint64_t extra_;
};

TEST(MergedView, BytesPastTheOwningLayersSizeAreZeros) {
  GeneratedDisk g;
  ReplicaSpec spec;
  spec.dir = "short-vol-eeee5555";
  spec.size = static_cast<int64_t>(16 * kMiB);
  spec.revision_counter = 3;
  spec.layers = {layer(kSnap1, {{8 * kMiB, 16 * kKiB, 3}}), layer(kSnap2, {{0, 4 * kKiB, 4}}),
                 layer("volume-head-002.img", {{12 * kMiB, 4 * kKiB, 5}})};
  spec.layers[1].apparent_bytes = 8 * kMiB;  // older than the head, smaller than the volume
  g.add(spec);
  const v1::Inventory inventory = g.scan();
  ASSERT_EQ(inventory.replicas_size(), 1);
  const v1::Replica& replica = inventory.replicas(0);
  struct stat st {};
  ASSERT_EQ(::stat(g.path(spec.dir, kSnap2).c_str(), &st), 0);

  auto engine = make_engine();
  const Merged plain = read_merged(g.fs, *engine, replica, true);
  ASSERT_TRUE(plain.report.ok()) << plain.report.message;
  ExtentPastEofFs fs(st.st_ino, 8 * kKiB);  // kSnap2 "owns" [8 MiB, 8 MiB + 8 KiB), past its 8 MiB
  const Merged clipped = read_merged(fs, *engine, replica, true);
  ASSERT_TRUE(clipped.report.ok()) << clipped.report.message;
  ASSERT_EQ(plain.bytes.size(), 16 * kMiB);
  ASSERT_EQ(clipped.bytes.size(), 16 * kMiB);
  // Without the extra extent the oldest snapshot shows through at 8 MiB; with it, 8 KiB of zeros, then the
  // oldest snapshot again.
  EXPECT_FALSE(is_all_zero(plain.bytes.data() + 8 * kMiB, 8 * kKiB));
  EXPECT_TRUE(is_all_zero(clipped.bytes.data() + 8 * kMiB, 8 * kKiB));
  EXPECT_EQ(0, std::memcmp(plain.bytes.data() + 8 * kMiB + 8 * kKiB, clipped.bytes.data() + 8 * kMiB + 8 * kKiB,
                           8 * kKiB));
  EXPECT_EQ(0, std::memcmp(plain.bytes.data(), clipped.bytes.data(), 8 * kMiB));
  EXPECT_EQ(clipped.report.mapped_bytes, plain.report.mapped_bytes);  // same blocks owned, by other layers
  EXPECT_EQ(clipped.report.read_bytes + 8 * kKiB, plain.report.read_bytes);
}

// ---------------------------------------------------------------------------------------------------------
// The run list.

// Per-block reference of the rule on a small volume: newest layer with an extent touching the block.
TEST(MergedRunBuilder, MatchesAPerBlockTableOnRandomLayers) {
  std::mt19937_64 rng(7714);
  for (int round = 0; round < 200; ++round) {
    const uint64_t blocks = 1 + rng() % 300;
    const uint64_t volume = blocks * kVolumeBlockBytes - (rng() % 4 == 0 ? rng() % 4096 : 0);
    const uint32_t layers = 1 + static_cast<uint32_t>(rng() % 6);
    std::vector<int> owner(blocks, -1);
    MergedRunBuilder builder(volume);
    for (uint32_t l = 0; l < layers; ++l) {
      std::vector<ReadExtent> extents;
      uint64_t pos = 0;
      while (true) {
        pos += rng() % (3 * kVolumeBlockBytes) + (rng() % 3 == 0 ? rng() % 4096 : 0);
        const uint64_t len = 1 + rng() % (6 * kVolumeBlockBytes);
        if (pos >= blocks * kVolumeBlockBytes + 2 * kVolumeBlockBytes) break;
        extents.push_back({pos, len});  // may run past the volume, overlap or touch the previous one
        // The part inside the volume, widened to whole blocks.
        const uint64_t end = std::min(pos + len, volume);
        for (uint64_t b = pos / kVolumeBlockBytes; pos < end && b < (end + kVolumeBlockBytes - 1) / kVolumeBlockBytes;
             ++b) {
          if (owner[b] < 0) owner[b] = static_cast<int>(l);
        }
        pos += rng() % 2 == 0 ? len : len / 2;
      }
      ASSERT_TRUE(builder.add_layer(extents));
    }
    std::vector<int> got(blocks, -1);
    uint64_t prev_end = 0;
    const auto runs = builder.finish();
    for (size_t i = 0; i < runs.size(); ++i) {
      const MergedRun& r = runs[i];
      ASSERT_GE(r.offset, prev_end);
      ASSERT_EQ(r.offset % kVolumeBlockBytes, 0u);
      ASSERT_LE(r.offset + r.length, volume);
      ASSERT_TRUE(r.length % kVolumeBlockBytes == 0 || r.offset + r.length == volume);
      if (i > 0 && runs[i - 1].offset + runs[i - 1].length == r.offset) {
        ASSERT_NE(runs[i - 1].layer, r.layer);
      }
      for (uint64_t b = r.offset / kVolumeBlockBytes; b * kVolumeBlockBytes < r.offset + r.length; ++b) {
        got[b] = static_cast<int>(r.layer);
      }
      prev_end = r.offset + r.length;
    }
    for (uint64_t blk = 0; blk < blocks; ++blk) {
      ASSERT_EQ(got[blk], owner[blk]) << "round " << round << ", block " << blk << " of " << blocks << ", volume "
                                      << volume;
    }
  }
}

TEST(MergedRunBuilder, RefusesExtentsOutOfOrder) {
  MergedRunBuilder builder(kMiB);
  EXPECT_FALSE(builder.add_layer({{8192, 4096}, {0, 4096}}));
  EXPECT_TRUE(builder.add_layer({{0, 4096}}));
  EXPECT_EQ(builder.finish(), (std::vector<MergedRun>{{0, 4096, 0}}));
}

// 40 GiB, a snapshot with 20,000 extents (1 MiB and 4 KiB, random offsets) and a head with 2,000 more over it.
std::vector<ReadExtent> random_extents(std::mt19937_64& rng, uint64_t volume, size_t count, uint64_t big_every) {
  std::set<uint64_t> starts;
  while (starts.size() < count) starts.insert(rng() % (volume / kMiB - 1) * kMiB + (rng() % 255) * 4096);
  std::vector<ReadExtent> out;
  size_t i = 0;
  for (uint64_t s : starts) {
    const uint64_t len = (big_every != 0 && i++ % big_every == 0) ? kMiB : 4096;
    if (!out.empty() && out.back().offset + out.back().length > s) continue;
    out.push_back({s, len});
  }
  return out;
}

TEST(MergedRunBuilder, FortyGibSparseVolumeWithTwentyThousandExtentsStaysSmall) {
  std::mt19937_64 rng(40);
  const uint64_t volume = 40 * kGiB;
  const auto snapshot = random_extents(rng, volume, 20000, 12);
  const auto head = random_extents(rng, volume, 2000, 0);
  MergedRunBuilder builder(volume);
  ASSERT_TRUE(builder.add_layer(head));
  ASSERT_TRUE(builder.add_layer(snapshot));
  const auto runs = builder.finish();
  // Each head extent can split at most one snapshot extent in two: runs <= extents + head extents.
  EXPECT_LE(runs.size(), head.size() + snapshot.size() + head.size());
  EXPECT_GE(runs.size(), snapshot.size());
  EXPECT_LT(runs.capacity() * sizeof(MergedRun), 1 * kMiB) << "not a per-block table (10,485,760 blocks)";
  uint64_t owned = 0;
  for (const auto& r : runs) owned += r.length;
  EXPECT_LT(owned, 2 * kGiB);
}

// End to end on real files: the 40 GiB volume with ~20,000 extents in a snapshot and its head.
TEST(MergedView, FortyGibSparseReplicaEndToEnd) {
  GeneratedDisk g;
  std::mt19937_64 rng(1700);
  const uint64_t volume = 40 * kGiB;
  auto to_writes = [](const std::vector<ReadExtent>& extents, uint64_t seed) {
    std::vector<Write> writes;
    for (const auto& e : extents) writes.push_back({e.offset, e.length, seed});
    return writes;
  };
  ReplicaSpec spec;
  spec.dir = "big-vol-ffff6666";
  spec.size = static_cast<int64_t>(volume);
  spec.revision_counter = 20000;
  spec.layers = {layer(kSnap1, to_writes(random_extents(rng, volume, 18000, 1000), 11)),
                 layer("volume-head-001.img", to_writes(random_extents(rng, volume, 2000, 0), 12))};
  g.add(spec);

  const auto start = std::chrono::steady_clock::now();
  DeepScanOptions options;
  const v1::Inventory inventory = g.scan(&options);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(inventory.replicas_size(), 1);
  const v1::Replica& r = inventory.replicas(0);
  ASSERT_EQ(r.content_digest().size(), 32u) << r.content().skipped();
  uint64_t extents = 0;
  for (const auto& image : r.images()) extents += image.extent_count();
  EXPECT_GE(extents, 19000u);
  EXPECT_LE(r.content().run_count(), extents + 2000);
  EXPECT_EQ(r.content().chunk_count(), volume / kContentChunkBytes);
  EXPECT_EQ(r.content().read_bytes(), r.content().mapped_bytes());
  EXPECT_LE(r.content().mapped_bytes(), r.allocated_bytes());
  std::cout << "40 GiB sparse replica, " << extents << " extents, " << r.content().run_count() << " runs, "
            << r.content().nonzero_chunk_count() << " chunks with data: quick + deep scan in " << seconds << " s\n";
}

// ---------------------------------------------------------------------------------------------------------
// Faults and replicas without a merged view.



// A replica with a snapshot and a head, both with data in several chunks.
struct TwoLayers {
  GeneratedDisk g;
  ReplicaSpec spec;
  v1::Inventory inventory;
  std::string head_path;
  TwoLayers() {
    spec.dir = "fault-vol-1234abcd";
    spec.size = static_cast<int64_t>(32 * kMiB);
    spec.revision_counter = 6;
    spec.layers = {layer(kSnap1, {{0, kMiB, 1}, {9 * kMiB, kMiB, 1}}),
                   layer("volume-head-001.img", {{512 * kKiB, kMiB, 2}, {20 * kMiB, 64 * kKiB, 2}})};
    g.add(spec);
    inventory = g.scan();
    head_path = g.path(spec.dir, "volume-head-001.img");
  }
  v1::Replica& replica() { return *inventory.mutable_replicas(0); }
  std::string head_rel() const { return "replicas/" + spec.dir + "/volume-head-001.img"; }
};

TEST(ContentDigestFaults, HeadChangedSinceTheQuickScanGivesNoDigest) {
  TwoLayers t;
  write_zeros(t.head_path, 30 * kMiB, 4096);  // the replica is live: the head moved on
  deep_scan_replica(t.g.fs, t.g.disk, &t.replica(), DeepScanOptions{});
  EXPECT_EQ(t.replica().content_digest(), "");
  EXPECT_NE(t.replica().content().skipped().find("changed since the quick scan"), std::string::npos)
      << t.replica().content().skipped();
  auto changed = findings_on(t.replica(), Finding::CHANGED_DURING_SCAN);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0]->path(), t.head_rel());
  EXPECT_EQ(changed[0]->severity(), Finding::WARNING);
  EXPECT_NE(changed[0]->message().find("content digest not computed"), std::string::npos);
  // The snapshot's crc64 is unaffected.
  for (const auto& image : t.replica().images()) {
    if (image.kind() == v1::Image::SNAPSHOT) {
      EXPECT_EQ(image.crc64().size(), 16u);
    }
  }
}

TEST(ContentDigestFaults, HeadChangedWhileItWasReadGivesNoDigest) {
  TwoLayers t;
  const uint64_t head = inode_of(t.head_path);
  bool touched = false;
  const std::string path = t.head_path;
  DeepScanOptions options;
  options.queue_factory = [&](const ReadOptions& o, std::string* note) {
    return std::unique_ptr<ReadQueue>(std::make_unique<HookedQueue>(
        make_default_read_queue(o, note), [&](int fd, uint64_t, uint32_t*) -> std::optional<int64_t> {
          if (!touched && inode_of(fd) == head) {
            touched = true;
            EXPECT_EQ(::chmod(path.c_str(), 0600), 0);
          }
          return std::nullopt;
        }));
  };
  deep_scan_replica(t.g.fs, t.g.disk, &t.replica(), options);
  ASSERT_TRUE(touched);
  EXPECT_EQ(t.replica().content_digest(), "");
  auto changed = findings_on(t.replica(), Finding::CHANGED_DURING_SCAN);
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_EQ(changed[0]->path(), t.head_rel());
  EXPECT_NE(changed[0]->message().find("while the merged volume was read"), std::string::npos)
      << changed[0]->message();
  EXPECT_TRUE(findings_on(t.replica(), Finding::UNREADABLE).empty());
}

TEST(ContentDigestFaults, EioInTheHeadIsUnreadableAndGivesNoDigest) {
  TwoLayers t;
  const uint64_t head = inode_of(t.head_path);
  DeepScanOptions options;
  options.queue_factory = [&](const ReadOptions& o, std::string* note) {
    return std::unique_ptr<ReadQueue>(std::make_unique<HookedQueue>(
        make_default_read_queue(o, note), [&](int fd, uint64_t offset, uint32_t* length) -> std::optional<int64_t> {
          const uint64_t bad = 20 * kMiB + 8192;
          if (inode_of(fd) == head && bad >= offset && bad < offset + *length) return -EIO;
          return std::nullopt;
        }));
  };
  deep_scan_replica(t.g.fs, t.g.disk, &t.replica(), options);
  EXPECT_EQ(t.replica().content_digest(), "");
  auto unreadable = findings_on(t.replica(), Finding::UNREADABLE);
  ASSERT_EQ(unreadable.size(), 1u);
  EXPECT_EQ(unreadable[0]->path(), t.head_rel());
  EXPECT_EQ(unreadable[0]->severity(), Finding::ERROR);
  EXPECT_NE(unreadable[0]->message().find(std::strerror(EIO)), std::string::npos) << unreadable[0]->message();
  EXPECT_TRUE(findings_on(t.replica(), Finding::CHECKSUM_MISMATCH).empty());
}

// A snapshot the crc64 pass already reported is not reported twice.
TEST(ContentDigestFaults, OneFindingPerProblem) {
  TwoLayers t;
  ASSERT_EQ(::unlink(t.g.path(t.spec.dir, kSnap1).c_str()), 0);
  deep_scan_replica(t.g.fs, t.g.disk, &t.replica(), DeepScanOptions{});
  EXPECT_EQ(t.replica().content_digest(), "");
  auto vanished = findings_on(t.replica(), Finding::VANISHED);
  ASSERT_EQ(vanished.size(), 1u);
  EXPECT_NE(vanished[0]->message().find("content digest not computed either"), std::string::npos)
      << vanished[0]->message();
}

TEST(ContentDigest, WithoutAMergedViewTheDigestIsSkippedAndSaysWhy) {
  GeneratedDisk g;
  ReplicaSpec broken;  // the head's parent is not in the directory
  broken.dir = "cut-vol-11112222";
  broken.size = static_cast<int64_t>(8 * kMiB);
  broken.revision_counter = 1;
  broken.layers = {layer("volume-head-001.img", {{0, 4096, 1}})};
  broken.layers[0].parent = "volume-snap-gone.img";
  g.add(broken);
  ReplicaSpec backed = broken;
  backed.dir = "backed-vol-33334444";
  backed.layers[0].parent = "";
  backed.backing_file_path = "/var/lib/longhorn/backing-images/parrot/backing";
  g.add(backed);
  ReplicaSpec fine = backed;
  fine.dir = "fine-vol-55556666";
  fine.backing_file_path = "";
  g.add(fine);

  DeepScanOptions options;
  const v1::Inventory inventory = g.scan(&options);
  ASSERT_EQ(inventory.replicas_size(), 3);
  for (const auto& r : inventory.replicas()) {
    SCOPED_TRACE(r.dir());
    for (const auto& f : r.findings()) EXPECT_EQ(f.message().rfind("deep scan:", 0), std::string::npos) << f.message();
    if (r.dir() == fine.dir) {
      EXPECT_EQ(r.content_digest().size(), 32u);
      continue;
    }
    EXPECT_EQ(r.content_digest(), "");
    EXPECT_NE(r.content().skipped().find(r.dir() == broken.dir ? "chain is incomplete" : "backing image"),
              std::string::npos)
        << r.content().skipped();
  }
  // Turned off: no content at all.
  options.content_digest = false;
  const v1::Inventory without = g.scan(&options);
  for (const auto& r : without.replicas()) {
    EXPECT_FALSE(r.has_content());
    EXPECT_EQ(r.content_digest(), "");
  }
}

// ---------------------------------------------------------------------------------------------------------
// Read lanes: one replica's files read by several threads at once (DeepScanOptions::read_lanes).

// A 256 MiB volume over three layers (one of them Removed) with data in most chunks.
struct LanedReplica {
  GeneratedDisk g;
  ReplicaSpec spec;
  LanedReplica() {
    std::mt19937_64 rng(4242);
    const uint64_t volume = 256 * kMiB + 12 * kKiB;
    auto to_writes = [](const std::vector<ReadExtent>& extents, uint64_t seed) {
      std::vector<Write> writes;
      for (const auto& e : extents) writes.push_back({e.offset, e.length, seed});
      return writes;
    };
    spec.dir = "lane-vol-0000aaaa";
    spec.size = static_cast<int64_t>(volume);
    spec.revision_counter = 31;
    spec.layers = {layer(kSnap1, to_writes(random_extents(rng, volume, 300, 10), 21)),
                   layer(kSnap2, to_writes(random_extents(rng, volume, 200, 5), 22)),
                   layer("volume-head-003.img", to_writes(random_extents(rng, volume, 100, 0), 23))};
    spec.layers[1].removed = true;
    g.add(spec);
  }
  std::string rel(const std::string& file) const { return "replicas/" + spec.dir + "/" + file; }
};

// The facts a deep scan computes, to compare two scans.
struct DeepFacts {
  std::map<std::string, std::string> crc64;  // snapshot name -> crc64
  std::string digest;
  std::map<uint64_t, std::string> chunks;
  uint64_t chunk_count = 0;
  uint64_t nonzero = 0;
  uint64_t read_bytes = 0;
};
DeepFacts facts_of(const v1::Replica& r) {
  DeepFacts f;
  for (const auto& image : r.images()) {
    if (image.kind() == v1::Image::SNAPSHOT) {
      f.crc64[image.name()] = image.crc64();
      f.read_bytes += image.deep_read_bytes();
    }
  }
  f.digest = r.content_digest();
  f.chunks = chunk_map(r);
  f.chunk_count = r.content().chunk_count();
  f.nonzero = r.content().nonzero_chunk_count();
  f.read_bytes += r.content().read_bytes();
  return f;
}

// Counts the threads that submit reads, through the test's fault-injection queue (passing every read on).
DeepScanOptions lanes_options(unsigned lanes, std::mutex* mutex, std::set<std::thread::id>* threads,
                              HookedQueue::Hook extra = {}) {
  DeepScanOptions options;
  options.keep_chunks = true;
  options.read_lanes = lanes;
  options.min_lane_bytes = 1;  // cut even this small volume
  options.queue_factory = [=](const ReadOptions& o, std::string* note) {
    return std::unique_ptr<ReadQueue>(std::make_unique<HookedQueue>(
        make_default_read_queue(o, note), [=](int fd, uint64_t offset, uint32_t* length) -> std::optional<int64_t> {
          {
            std::lock_guard<std::mutex> lock(*mutex);
            threads->insert(std::this_thread::get_id());
          }
          return extra ? extra(fd, offset, length) : std::nullopt;
        }));
  };
  return options;
}

TEST(DeepScanLanes, ThreeLanesGiveExactlyWhatOneLaneGives) {
  LanedReplica t;
  std::mutex mutex;
  std::set<std::thread::id> one_lane_threads;
  std::set<std::thread::id> three_lane_threads;
  DeepScanOptions one = lanes_options(1, &mutex, &one_lane_threads);
  DeepScanOptions three = lanes_options(3, &mutex, &three_lane_threads);
  uint64_t progress_bytes = 0;
  three.on_read = [&](uint64_t n) { progress_bytes += n; };  // called one at a time (the contract)
  const v1::Inventory a = t.g.scan(&one);
  const v1::Inventory b = t.g.scan(&three);
  ASSERT_EQ(a.replicas_size(), 1);
  ASSERT_EQ(b.replicas_size(), 1);
  const DeepFacts fa = facts_of(a.replicas(0));
  const DeepFacts fb = facts_of(b.replicas(0));
  ASSERT_EQ(fa.digest.size(), 32u) << a.replicas(0).content().skipped();
  ASSERT_EQ(fa.crc64.size(), 2u);
  for (const auto& [name, crc] : fa.crc64) EXPECT_EQ(crc.size(), 16u) << name;
  EXPECT_EQ(fb.crc64, fa.crc64);
  EXPECT_EQ(fb.digest, fa.digest);
  EXPECT_EQ(fb.chunks, fa.chunks);
  EXPECT_EQ(fb.chunk_count, fa.chunk_count);
  EXPECT_EQ(fb.nonzero, fa.nonzero);
  EXPECT_EQ(fb.read_bytes, fa.read_bytes);
  EXPECT_EQ(progress_bytes, fb.read_bytes);
  EXPECT_GT(fa.nonzero, 40u);
  EXPECT_EQ(one_lane_threads.size(), 1u);
  EXPECT_EQ(three_lane_threads.size(), 3u) << "the reads did not come from three lanes";
  for (const auto& f : b.replicas(0).findings()) {
    EXPECT_EQ(f.message().rfind("deep scan:", 0), std::string::npos) << f.message();
  }
}

// An I/O error in the last lane's range of a snapshot is a finding on that snapshot, as with one lane; the other
// snapshot keeps its crc64 and the scan completes.
TEST(DeepScanLanes, EioInAnotherLaneIsAFindingOnThatSnapshot) {
  LanedReplica t;
  const std::string snap_path = t.g.path(t.spec.dir, kSnap1);
  const uint64_t snap = inode_of(snap_path);
  std::mutex mutex;
  std::set<std::thread::id> threads;
  // The snapshot's last extent: in the last lane's range whatever the cut.
  const uint64_t bad = t.spec.layers[0].writes.back().offset;
  DeepScanOptions options =
      lanes_options(3, &mutex, &threads, [=](int fd, uint64_t offset, uint32_t* length) -> std::optional<int64_t> {
        if (inode_of(fd) == snap && bad >= offset && bad < offset + *length) return -EIO;
        return std::nullopt;
      });
  DeepScanOptions clean = lanes_options(1, &mutex, &threads);
  const v1::Inventory reference = t.g.scan(&clean);
  threads.clear();
  const v1::Inventory inventory = t.g.scan(&options);
  ASSERT_EQ(inventory.replicas_size(), 1);
  const v1::Replica& r = inventory.replicas(0);
  EXPECT_EQ(threads.size(), 3u);
  const auto unreadable = findings_on(r, Finding::UNREADABLE);
  ASSERT_GE(unreadable.size(), 1u);
  EXPECT_EQ(unreadable[0]->path(), t.rel(kSnap1));
  EXPECT_NE(unreadable[0]->message().find(std::strerror(EIO)), std::string::npos) << unreadable[0]->message();
  const DeepFacts got = facts_of(r);
  const DeepFacts want = facts_of(reference.replicas(0));
  EXPECT_EQ(got.crc64.at(kSnap1), "");
  EXPECT_EQ(got.crc64.at(kSnap2), want.crc64.at(kSnap2));
  EXPECT_TRUE(findings_on(r, Finding::CHECKSUM_MISMATCH).empty());
}

}  // namespace
}  // namespace sentinel::scanner
