// The generator (tools/treegen) writes what Longhorn v1.5.3 writes, sparsely and deterministically, and its
// incident sample scans as the story says. The suite name is lower case so that `ctest -R treegen`
// (case-sensitive) selects it.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <vector>

#include "scanner/file_system.h"
#include "scanner/longhorn_metadata.h"
#include "scanner/scanner.h"
#include "tests/scanner/fixture_support.h"
#include "tools/treegen/block_data.h"
#include "tools/treegen/broken_cases.h"
#include "tools/treegen/incident_sample.h"
#include "tools/treegen/longhorn_json.h"
#include "tools/treegen/replica_writer.h"

namespace sentinel::treegen {
namespace {

using testing::TempDir;
using v1::Finding;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

struct Extent {
  uint64_t offset;
  uint64_t length;
  bool operator==(const Extent&) const = default;
};

// Data runs of a file by SEEK_DATA/SEEK_HOLE: what really got allocated.
std::vector<Extent> data_runs(const std::string& path) {
  std::vector<Extent> runs;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return runs;
  const off_t end = ::lseek(fd, 0, SEEK_END);
  off_t pos = 0;
  while (pos < end) {
    const off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;
    const off_t hole = ::lseek(fd, data, SEEK_HOLE);
    runs.push_back({static_cast<uint64_t>(data), static_cast<uint64_t>(hole - data)});
    pos = hole;
  }
  ::close(fd);
  return runs;
}

struct stat lstat_or_fail(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st;
}

int64_t mtime_ns(const struct stat& st) { return int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec; }
int64_t ctime_ns(const struct stat& st) { return int64_t{st.st_ctim.tv_sec} * 1'000'000'000 + st.st_ctim.tv_nsec; }

TEST(treegen, Crc64IsGoIsoCrc) {
  // Go: crc64.Checksum([]byte("123456789"), crc64.MakeTable(crc64.ISO)); LONGHORN-FORMAT.md's check value.
  EXPECT_EQ(crc64_iso("123456789"), 0xb90956c775a41001ULL);
  EXPECT_EQ(crc64_iso(""), 0u);
}

TEST(treegen, Crc64SkipsZerosExactly) {
  for (uint64_t count : {0ULL, 1ULL, 7ULL, 8ULL, 255ULL, 4095ULL, 4096ULL, 100'003ULL}) {
    const uint64_t start = crc64_iso("sentinel");
    EXPECT_EQ(crc64_iso_zeros(start, count), crc64_iso_update(start, std::string(count, '\0'))) << count;
  }
}

TEST(treegen, BlocksAreDeterministicAndTagged) {
  std::string a(kBlockBytes, '\0'), b(kBlockBytes, '\0'), c(kBlockBytes, '\0');
  fill_block(42, 7, std::span<char>(a.data(), a.size()));
  fill_block(42, 7, std::span<char>(b.data(), b.size()));
  fill_block(42, 8, std::span<char>(c.data(), c.size()));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a.rfind("sentinel-gen seed=000000000000002a offset=0000000000007000\n", 0), 0u);
}

// The exact bytes of files in shared/fixtures (Longhorn v1.5.3): the generator must produce the same.
TEST(treegen, TextsAreByteForByteLonghorns) {
  VolumeMetaFields vm;
  vm.size = 67108864;
  vm.head = "volume-head-001.img";
  vm.dirty = true;
  vm.parent = "volume-snap-873ea989-7920-41b5-9ad4-56c4dd10e7a3.img";
  EXPECT_EQ(volume_meta_json(vm),
            "{\"Size\":67108864,\"Head\":\"volume-head-001.img\",\"Dirty\":true,\"Rebuilding\":false,\"Error\":\"\","
            "\"Parent\":\"volume-snap-873ea989-7920-41b5-9ad4-56c4dd10e7a3.img\",\"SectorSize\":512,"
            "\"BackingFilePath\":\"\"}\n");

  ImageMetaFields im;
  im.name = "volume-head-001.img";
  im.parent = "volume-snap-c2b3a9fc-bce8-4b64-8551-df6274b3f709.img";
  im.user_created = true;
  im.created = "2026-11-24T15:56:45Z";
  im.labels = {{"tier", "gold"}, {"app", "fixture"}};
  EXPECT_EQ(image_meta_json(im),
            "{\"Name\":\"volume-head-001.img\",\"Parent\":\"volume-snap-c2b3a9fc-bce8-4b64-8551-df6274b3f709.img\","
            "\"Removed\":false,\"UserCreated\":true,\"Created\":\"2026-11-24T15:56:45Z\","
            "\"Labels\":{\"app\":\"fixture\",\"tier\":\"gold\"}}\n");
  im.labels.clear();
  EXPECT_NE(image_meta_json(im).find("\"Labels\":null}\n"), std::string::npos);

  ChecksumFields sum;
  sum.checksum = 0xa2f0173de7c604eeULL;
  sum.change_time_ns = 1795535805658095880;  // 2026-11-24 15:56:45.65809588 UTC
  sum.last_hashed_at_ns = 1795535806000000000;
  EXPECT_EQ(checksum_json(sum),
            "{\"method\":\"crc64\",\"checksum\":\"a2f0173de7c604ee\",\"change_time\":\"2026-11-24 "
            "15:56:45.65809588 +0000 UTC\",\"last_hashed_at\":\"2026-11-24T15:56:46Z\","
            "\"silently_corrupted\":false}\n");

  const std::string counter = revision_counter_bytes(14);
  ASSERT_EQ(counter.size(), 4096u);
  EXPECT_EQ(counter.substr(0, 3), std::string("14\0", 3));
  EXPECT_EQ(counter.find_first_not_of('\0', 2), std::string::npos);

  EXPECT_EQ(disk_config_json("default-disk-1", "u-1"), "{\"diskName\":\"default-disk-1\",\"diskUUID\":\"u-1\"}");
}

TEST(treegen, WritesASparseReplicaExactlyAsSpecified) {
  TempDir tmp;
  const ReplicaSpec spec = healthy_small_replica("pvc-test-0a1b2c3d");
  ASSERT_TRUE(write_replica(tmp.path(), spec).ok());
  const std::string dir = tmp.path() + "/pvc-test-0a1b2c3d";

  EXPECT_EQ(lstat_or_fail(dir).st_mode & 07777, 0700u);
  const struct stat counter = lstat_or_fail(dir + "/revision.counter");
  EXPECT_EQ(counter.st_mode & 07777, 0600u);
  EXPECT_EQ(counter.st_size, 4096);
  EXPECT_EQ(testing::read_file(dir + "/revision.counter"), revision_counter_bytes(7));

  const struct stat head = lstat_or_fail(dir + "/volume-head-001.img");
  EXPECT_EQ(head.st_mode & 07777, 0644u);
  EXPECT_EQ(head.st_size, static_cast<off_t>(1 * kMiB));
  EXPECT_EQ(data_runs(dir + "/volume-head-001.img"),
            (std::vector<Extent>{{0, 4 * kKiB}, {1 * kMiB - 4 * kKiB, 4 * kKiB}}));
  EXPECT_EQ(static_cast<uint64_t>(head.st_blocks) * 512, 8 * kKiB);
  EXPECT_EQ(data_runs(dir + "/" + spec.layers[0].file),
            (std::vector<Extent>{{0, 16 * kKiB}, {512 * kKiB, 8 * kKiB}}));

  // The written bytes are the generator's blocks, holes are zeros.
  const std::string bytes = testing::read_file(dir + "/volume-head-001.img");
  std::string block(kBlockBytes, '\0');
  fill_block(12, 0, std::span<char>(block.data(), block.size()));
  EXPECT_EQ(bytes.substr(0, kBlockBytes), block);
  EXPECT_EQ(bytes.find_first_not_of('\0', kBlockBytes), 1 * kMiB - 4 * kKiB);

  // volume.meta is what the scanner's Longhorn-faithful parser reads back.
  auto meta = scanner::parse_volume_meta(testing::read_file(dir + "/volume.meta"));
  ASSERT_TRUE(std::holds_alternative<scanner::VolumeMeta>(meta));
  const auto& m = std::get<scanner::VolumeMeta>(meta);
  EXPECT_EQ(m.size, static_cast<int64_t>(1 * kMiB));
  EXPECT_EQ(m.head, "volume-head-001.img");
  EXPECT_EQ(m.parent, spec.layers[0].file);
  EXPECT_EQ(m.sector_size, 512);

  // mtimes come from the spec, not the clock: base time for volume.meta, +1 min per layer.
  EXPECT_EQ(mtime_ns(lstat_or_fail(dir + "/volume.meta")), kDefaultBaseTimeNs);
  EXPECT_EQ(mtime_ns(head), kDefaultBaseTimeNs + 2 * 60 * kSecondNs);
  EXPECT_EQ(mtime_ns(counter), mtime_ns(head));
}

TEST(treegen, SameSpecSameTree) {
  TempDir a, b;
  ReplicaSpec spec = healthy_small_replica("pvc-same-00000000");
  ASSERT_TRUE(write_replica(a.path(), spec).ok());
  ASSERT_TRUE(write_replica(b.path(), spec).ok());
  size_t compared = 0;
  for (const auto& entry : std::filesystem::directory_iterator(a.path() + "/pvc-same-00000000")) {
    const std::string name = entry.path().filename().string();
    const std::string other = b.path() + "/pvc-same-00000000/" + name;
    EXPECT_EQ(testing::read_file(entry.path().string()), testing::read_file(other)) << name;
    EXPECT_EQ(mtime_ns(lstat_or_fail(entry.path().string())), mtime_ns(lstat_or_fail(other))) << name;
    ++compared;
  }
  EXPECT_EQ(compared, 6u);  // volume.meta, revision.counter, 2 images, 2 .meta
}

TEST(treegen, ChecksumRecordIsCorrectAndCurrent) {
  TempDir tmp;
  ReplicaSpec spec = healthy_small_replica("pvc-sum-0a1b2c3d");
  spec.layers[0].write_checksum = true;
  ASSERT_TRUE(write_replica(tmp.path(), spec).ok());
  const std::string snap = tmp.path() + "/pvc-sum-0a1b2c3d/" + spec.layers[0].file;
  auto record = nlohmann::json::parse(testing::read_file(snap + ".checksum"));
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx",
                static_cast<unsigned long long>(crc64_iso(testing::read_file(snap))));  // every byte, holes too
  EXPECT_EQ(record.at("method"), "crc64");
  EXPECT_EQ(record.at("checksum"), hex);
  // Current: change_time is the file's ctime as Go prints it (checked with the scanner's own formatter).
  EXPECT_EQ(record.at("change_time"), scanner::go_time_string_utc(ctime_ns(lstat_or_fail(snap))));
  EXPECT_EQ(record.at("silently_corrupted"), false);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/pvc-sum-0a1b2c3d/volume-head-001.img.checksum"));
}

TEST(treegen, NeverOverwritesAndRejectsBadSpecs) {
  TempDir tmp;
  const ReplicaSpec spec = healthy_small_replica("pvc-once-0a1b2c3d");
  ASSERT_TRUE(write_replica(tmp.path(), spec).ok());
  auto again = write_replica(tmp.path(), spec);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().err, EEXIST);

  ReplicaSpec unaligned = healthy_small_replica("pvc-unaligned-0a1b2c3d");
  unaligned.layers[1].writes = {{512, 4096}};
  auto r = write_replica(tmp.path(), unaligned);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().err, EINVAL);

  ReplicaSpec past_end = healthy_small_replica("pvc-past-end-0a1b2c3d");
  past_end.layers[1].writes = {{1 * kMiB, 4096}};
  EXPECT_FALSE(write_replica(tmp.path(), past_end).ok());

  ReplicaSpec escaping = healthy_small_replica("../escape-0a1b2c3d");
  EXPECT_FALSE(write_replica(tmp.path(), escaping).ok());
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/../escape-0a1b2c3d"));
}

const v1::Replica* find_replica(const v1::Inventory& inv, const std::string& disk, const std::string& dir) {
  for (const auto& r : inv.replicas()) {
    if (r.disk() == disk && r.dir() == dir) return &r;
  }
  return nullptr;
}

const v1::Image* find_image(const v1::Replica& r, const std::string& name) {
  for (const auto& image : r.images()) {
    if (image.name() == name) return &image;
  }
  return nullptr;
}

std::vector<Finding::Code> codes(const v1::Replica& r) {
  std::vector<Finding::Code> out;
  for (const auto& f : r.findings()) out.push_back(f.code());
  return out;
}

TEST(treegen, IncidentSampleScansAsTheStorySays) {
  TempDir tmp;
  ASSERT_TRUE(write_incident_sample(tmp.path()).ok());
  const std::string w1 = tmp.path() + "/worker-1";
  const std::string w2 = tmp.path() + "/worker-2";
  scanner::PosixFileSystem fs;
  const v1::Inventory inv = scanner::scan_disks(fs, {w1, w2}, "test", {});

  ASSERT_EQ(inv.disks_size(), 2);
  EXPECT_EQ(inv.disks(0).disk_uuid(), "4b1e8f0a-2c3d-4e5f-9a8b-7c6d5e4f3a21");
  EXPECT_EQ(inv.disks(1).disk_uuid(), "d93c2a1b-5e6f-4a7b-8c9d-0e1f2a3b4c5d");
  EXPECT_EQ(inv.disks(0).replica_count(), 2u);
  EXPECT_EQ(inv.disks(1).replica_count(), 1u);
  EXPECT_EQ(inv.disks(0).findings_size(), 0);
  EXPECT_EQ(inv.disks(1).findings_size(), 0);
  ASSERT_EQ(inv.replicas_size(), 3);

  // Every replica is what its spec says: size, chain (head first), counter, flags.
  const IncidentSample sample = incident_sample();
  for (const auto& placed : sample.replicas) {
    const v1::Replica* r = find_replica(inv, tmp.path() + "/" + placed.node, placed.spec.dir);
    ASSERT_NE(r, nullptr) << placed.spec.dir;
    EXPECT_EQ(r->size_bytes(), static_cast<uint64_t>(placed.spec.size));
    std::vector<std::string> chain(r->chain().begin(), r->chain().end());
    std::vector<std::string> expected;
    for (auto it = placed.spec.layers.rbegin(); it != placed.spec.layers.rend(); ++it) expected.push_back(it->file);
    EXPECT_EQ(chain, expected) << placed.spec.dir;
    EXPECT_TRUE(r->revision_counter_present());
    EXPECT_EQ(r->revision_counter(), *placed.spec.revision_counter);
    EXPECT_EQ(r->dirty(), placed.spec.dirty);
    EXPECT_EQ(r->sector_size(), 512);
  }

  // The degraded volume: one replica, on worker-1, closed cleanly, with its one realistic oddity.
  const v1::Replica* degraded = find_replica(inv, w1, std::string(kDegradedVolume) + "-3c9e1a7f");
  ASSERT_NE(degraded, nullptr);
  EXPECT_EQ(degraded->volume(), kDegradedVolume);
  EXPECT_EQ(degraded->size_bytes(), 8 * kGiB);
  EXPECT_EQ(degraded->revision_counter(), 48213);
  EXPECT_FALSE(degraded->dirty());
  EXPECT_EQ(degraded->state(), v1::Replica::CLEAN);
  EXPECT_EQ(codes(*degraded), std::vector<Finding::Code>{Finding::TEMP_LEFTOVER});
  EXPECT_EQ(degraded->findings(0).path(), "replicas/" + degraded->dir() +
                                              "/volume-snap-6f2e9c4d-8b17-4a3e-b5d0-9c8e7f6a5b43.img.checksum..tmp");
  const v1::Image* removed = find_image(*degraded, "volume-snap-6f2e9c4d-8b17-4a3e-b5d0-9c8e7f6a5b43.img");
  ASSERT_NE(removed, nullptr);
  EXPECT_TRUE(removed->removed());
  EXPECT_TRUE(removed->in_chain());
  const v1::Image* base = find_image(*degraded, "volume-snap-0d6b3a8e-5c21-4f7a-9e4b-1a2c3d4e5f60.img");
  ASSERT_NE(base, nullptr);
  EXPECT_TRUE(base->user_created());
  EXPECT_EQ(base->labels().at("purpose"), "before-upgrade");
  EXPECT_EQ(base->checksum_record().method(), "crc64");
  EXPECT_EQ(base->checksum_record().change_time(), scanner::go_time_string_utc(base->ctime_ns()));
  // Data written: 3 MiB + 576 KiB + 1 MiB + 132 KiB; a file system may add an extent-tree block or two.
  const uint64_t written = 4 * kMiB + (64 + 512 + 128 + 4) * kKiB;
  EXPECT_GE(degraded->allocated_bytes(), written);
  EXPECT_LE(degraded->allocated_bytes(), written + 64 * kKiB);

  // The split volume: a replica on each node, both crashed; worker-1's is the newer one on every measure.
  const v1::Replica* a = find_replica(inv, w1, std::string(kSplitVolume) + "-8b2d4f61");
  const v1::Replica* b = find_replica(inv, w2, std::string(kSplitVolume) + "-e07a95c3");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  for (const v1::Replica* r : {a, b}) {
    EXPECT_EQ(r->volume(), kSplitVolume);
    EXPECT_EQ(r->size_bytes(), 40 * kGiB);
    EXPECT_TRUE(r->dirty());
    EXPECT_EQ(r->state(), v1::Replica::DIRTY);
    EXPECT_EQ(codes(*r), std::vector<Finding::Code>{Finding::DIRTY});
  }
  EXPECT_GT(a->revision_counter(), b->revision_counter());
  EXPECT_EQ(a->head_mtime_ns() - b->head_mtime_ns(), 7'430'000'000);
  EXPECT_GT(a->head_allocated_bytes(), b->head_allocated_bytes());
  EXPECT_NE(a->head(), b->head());  // head numbers differ between replicas of one volume
  ASSERT_EQ(a->chain_size(), 2);
  ASSERT_EQ(b->chain_size(), 2);
  EXPECT_EQ(a->chain(1), b->chain(1));
  const v1::Image* snap_a = find_image(*a, a->chain(1));
  const v1::Image* snap_b = find_image(*b, b->chain(1));
  ASSERT_NE(snap_a, nullptr);
  ASSERT_NE(snap_b, nullptr);
  EXPECT_EQ(snap_a->allocated_bytes(), snap_b->allocated_bytes());
  EXPECT_EQ(snap_a->extent_count(), snap_b->extent_count());
  EXPECT_EQ(snap_a->checksum_record().checksum(), snap_b->checksum_record().checksum());
  EXPECT_FALSE(snap_a->checksum_record().checksum().empty());
  // Byte-identical snapshot files: compare the data regions (the rest is holes on both).
  const std::string snap_a_path = w1 + "/replicas/" + a->dir() + "/" + a->chain(1);
  const std::string snap_b_path = w2 + "/replicas/" + b->dir() + "/" + b->chain(1);
  EXPECT_EQ(data_runs(snap_a_path), data_runs(snap_b_path));
}

TEST(treegen, IncidentSampleCostsAFewMiB) {
  TempDir tmp;
  ASSERT_TRUE(write_incident_sample(tmp.path()).ok());
  uint64_t allocated = 0;
  uint64_t apparent = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(tmp.path())) {
    const struct stat st = lstat_or_fail(entry.path().string());
    allocated += static_cast<uint64_t>(st.st_blocks) * 512;
    if (S_ISREG(st.st_mode)) apparent += static_cast<uint64_t>(st.st_size);
  }
  EXPECT_GT(apparent, 88 * kGiB);
  EXPECT_LT(allocated, 32 * kMiB);
}

std::string shell_quote(const std::string& s) { return "'" + s + "'"; }

TEST(treegen, CommandLineWritesAndRefusesToOverwrite) {
  TempDir tmp;
  int rc = -1;
  const std::string gen = SENTINEL_GEN_PATH;
  const std::string help = testing::run_command(gen + " --help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(help.find("incident"), std::string::npos);
  EXPECT_NE(help.find("broken"), std::string::npos);
  testing::run_command(gen + " 2>/dev/null", &rc);
  EXPECT_EQ(rc, 2);
  testing::run_command(gen + " incident 2>/dev/null", &rc);
  EXPECT_EQ(rc, 2);  // --out is required

  const std::string out = testing::run_command(gen + " incident --out " + shell_quote(tmp.path() + "/demo"), &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(kSplitVolume), std::string::npos);
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/demo/worker-2/longhorn-disk.cfg"));
  testing::run_command(gen + " incident --out " + shell_quote(tmp.path() + "/demo") + " 2>/dev/null", &rc);
  EXPECT_EQ(rc, 1);

  const std::string broken = testing::run_command(gen + " broken --out " + shell_quote(tmp.path() + "/bad"), &rc);
  EXPECT_EQ(rc, 0) << broken;
  EXPECT_NE(broken.find("CHAIN_CYCLE"), std::string::npos);
  EXPECT_NE(broken.find("broken-new\\nline-9a8b7c6d"), std::string::npos);  // printed escaped
  EXPECT_TRUE(std::filesystem::exists(tmp.path() + "/bad/replicas/healthy-control-600d600d/volume.meta"));
}

}  // namespace
}  // namespace sentinel::treegen
