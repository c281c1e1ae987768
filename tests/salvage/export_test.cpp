// Export (salvage/volume_export.h) against Longhorn's fixtures and the real CLI:
// - every fixture replica's head exports to an image whose SHA-256 is the merged-volume SHA-256 Longhorn's own
//   ReadAt recorded, whose content digest is the deep scan's, and whose allocation is the data's (sparse);
// - every snapshot of every replica exports to the SHA-256 of an independent merge of Longhorn's recorded
//   extents (expected.json `extents_coalesced`) over the extracted bytes. expected.json records the merged
//   SHA-256 of the head only; the independent merge is checked against it for every head, and for an oldest
//   snapshot (a one-layer chain) it must also equal Longhorn's SHA-256 of that file;
// - the replica trees are byte-, name- and timestamp-identical after every kind of export and diff;
// - `--output -` streams the same bytes as the file; --verify passes, and catches an output tampered with
//   between writing and reading back (the output is corrupted, never the replica);
// - outputs under the replica directory or the disk's replicas/ tree are refused, however the path is spelt;
//   an existing output is replaced only with --force;
// - a layer that changes during the export fails it, with no output left behind;
// - Dirty and Rebuilding replicas export, with warnings that say what that means.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "salvage/export_progress.h"
#include "salvage/image_verify.h"
#include "salvage/image_writer.h"
#include "salvage/replica_source.h"
#include "salvage/volume_export.h"
#include "scanner/deep_scan.h"
#include "scanner/scanner.h"
#include "tests/scanner/delegating_file_system.h"
#include "tests/scanner/fault_injection.h"
#include "tests/scanner/fixture_support.h"
#include "tests/scanner/tree_facts.h"

namespace sentinel::salvage {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using sentinel::testing::extract_case_as_disk;
using sentinel::testing::fixture_cases;
using sentinel::testing::fixtures_dir;
using sentinel::testing::read_file;
using sentinel::testing::run_command;
using sentinel::testing::TempDir;

constexpr uint64_t kBlock = 4096;
// Allocation beyond the data a file system may add (ext4 extent-tree blocks, xfs preallocation rounding).
constexpr uint64_t kAllocationSlack = 64 * 1024;

std::string hex(const unsigned char* md, unsigned int len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

std::string sha256(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return hex(md, len);
}

uint64_t allocated_bytes(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

uint64_t nonzero_block_bytes(const std::string& volume) {
  uint64_t total = 0;
  for (size_t at = 0; at < volume.size(); at += kBlock) {
    const size_t n = std::min<size_t>(kBlock, volume.size() - at);
    const auto block = volume.begin() + static_cast<std::ptrdiff_t>(at);
    if (std::any_of(block, block + static_cast<std::ptrdiff_t>(n), [](char c) { return c != 0; })) total += n;
  }
  return total;
}

json expected_for(const std::string& case_name) {
  return json::parse(read_file(fixtures_dir() + "/" + case_name + ".expected.json"));
}

const json& file_entry(const json& replica, const std::string& name) {
  for (const auto& f : replica.at("files")) {
    if (f.at("name") == name) return f;
  }
  throw std::runtime_error("expected.json lists no file " + name);
}

// The merged volume of chain[start..] built independently of Sentinel's code: Longhorn's recorded extents
// (expected.json `extents_coalesced`) decide which layer owns each 4 KiB block, newest first; the owner's bytes
// are read with plain pread from the extracted file; blocks nobody owns, and bytes past the owner's apparent
// size, are zeros.
std::string reference_volume(const json& replica, const std::string& replica_path, size_t start) {
  const auto& view = replica.at("replica_readonly_view");
  const uint64_t size = view.at("Info").at("Size");
  const auto& chain = view.at("Chain_head_to_oldest");
  std::vector<int> owner((size + kBlock - 1) / kBlock, -1);
  for (size_t layer = start; layer < chain.size(); ++layer) {
    for (const auto& extent : file_entry(replica, chain[layer]).at("extents_coalesced")) {
      const uint64_t offset = extent[0];
      const uint64_t length = extent[1];
      for (uint64_t b = offset / kBlock; b * kBlock < offset + length && b < owner.size(); ++b) {
        if (owner[b] < 0) owner[b] = static_cast<int>(layer);
      }
    }
  }
  std::string volume(size, '\0');
  std::vector<int> fds;
  for (const auto& name : chain) {
    fds.push_back(::open((replica_path + "/" + name.get<std::string>()).c_str(), O_RDONLY | O_NOATIME | O_CLOEXEC));
    EXPECT_GE(fds.back(), 0) << name;
  }
  for (uint64_t b = 0; b < owner.size(); ++b) {
    if (owner[b] < 0) continue;
    const uint64_t n = std::min<uint64_t>(kBlock, size - b * kBlock);
    // A short read (past the layer's end) leaves zeros, as Longhorn's ReadAt does.
    EXPECT_GE(::pread(fds[owner[b]], volume.data() + b * kBlock, n, static_cast<off_t>(b * kBlock)), 0);
  }
  for (int fd : fds) ::close(fd);
  return volume;
}

// One fixture case extracted as a disk, with its expected.json.
struct FixtureCase {
  TempDir tmp;
  std::string disk;
  json expected;
  explicit FixtureCase(const std::string& name)
      : disk(extract_case_as_disk(name, tmp.path())), expected(expected_for(name)) {}
  std::string replica_path(const json& replica) const {
    return disk + "/replicas/" + replica.at("dir").get<std::string>();
  }
};

v1::ExportReport export_to(const std::string& replica_dir, const std::string& snapshot, const std::string& output,
                           bool verify = false, scanner::FileSystem* fs = nullptr) {
  scanner::PosixFileSystem posix;
  ExportRequest request;
  request.replica_dir = replica_dir;
  request.snapshot = snapshot;
  request.output = output;
  request.verify = verify;
  return export_volume(fs != nullptr ? *fs : posix, request);
}

std::vector<std::string> leftovers_in(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.find(".sentinel-export-") != std::string::npos) names.push_back(name);
  }
  return names;
}

std::string ctl() { return SENTINELCTL_PATH; }
std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

// ---------------------------------------------------------------------------------------------------------
// Longhorn's fixtures.

TEST(ExportFixtures, HeadImageHasLonghornsMergedSha256AndIsSparse) {
  size_t checked = 0;
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    FixtureCase c(case_name);
    TempDir out;
    scanner::PosixFileSystem posix;
    v1::Inventory inventory = scanner::scan_disks(posix, {c.disk}, "test", {});
    scanner::deep_scan_inventory(posix, &inventory, {});
    for (const auto& replica : c.expected.at("replicas")) {
      const std::string dir = replica.at("dir");
      SCOPED_TRACE(dir);
      const auto& merged = replica.at("replica_readonly_view").at("merged");
      const std::string image = out.path() + "/" + dir + ".img";
      const v1::ExportReport report = export_to(c.replica_path(replica), "", image, /*verify=*/true);
      ASSERT_EQ(report.outcome(), v1::ExportReport::EXPORTED) << report.error();
      EXPECT_EQ(report.verify().state(), v1::ExportVerification::PASSED);
      const std::string bytes = read_file(image);
      ASSERT_EQ(bytes.size(), merged.at("size").get<uint64_t>());
      EXPECT_EQ(sha256(bytes), merged.at("sha256_via_ReadAt").get<std::string>());
      EXPECT_EQ(report.start_image(), replica.at("replica_readonly_view").at("Chain_head_to_oldest")[0]);

      // Sparse: the file holds the non-zero blocks and nothing else (written-zero blocks stay holes).
      const uint64_t nonzero = merged.at("nonzero_4k_blocks_bytes");
      EXPECT_EQ(report.data_bytes_written(), nonzero);
      EXPECT_GE(allocated_bytes(image), nonzero);
      EXPECT_LE(allocated_bytes(image), nonzero + kAllocationSlack);
      EXPECT_EQ(report.output_allocated_bytes(), allocated_bytes(image));
      EXPECT_EQ(report.data_bytes_written() + report.zero_bytes_skipped(), report.data_bytes_read());

      // The digest (computed with --verify) an operator can compare with any node's `scan --deep`.
      for (const auto& r : inventory.replicas()) {
        if (r.dir() == dir) {
          EXPECT_EQ(report.content_digest(), r.content_digest());
        }
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, 9u);  // 7 archives; cases 3 and 4 hold two replicas each
}

TEST(ExportFixtures, EverySnapshotEqualsAnIndependentMergeOfLonghornsExtents) {
  size_t snapshots = 0;
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    FixtureCase c(case_name);
    TempDir out;
    for (const auto& replica : c.expected.at("replicas")) {
      const std::string dir = replica.at("dir");
      SCOPED_TRACE(dir);
      const auto& view = replica.at("replica_readonly_view");
      const auto& chain = view.at("Chain_head_to_oldest");
      // The independent merge reproduces what Longhorn recorded for the head: it can be trusted for snapshots.
      ASSERT_EQ(sha256(reference_volume(replica, c.replica_path(replica), 0)),
                view.at("merged").at("sha256_via_ReadAt").get<std::string>());
      for (size_t start = 1; start < chain.size(); ++start) {
        const std::string snapshot = chain[start];
        SCOPED_TRACE(snapshot);
        const std::string reference = reference_volume(replica, c.replica_path(replica), start);
        if (start + 1 == chain.size()) {
          // A one-layer chain is the file itself, whose SHA-256 Longhorn's side recorded.
          EXPECT_EQ(sha256(reference), file_entry(replica, snapshot).at("sha256").get<std::string>());
        }
        // By full image name and by Longhorn's short snapshot name.
        const std::string short_name = snapshot.substr(12, snapshot.size() - 12 - 4);  // volume-snap-<name>.img
        for (const std::string& name : {snapshot, short_name}) {
          const std::string image = out.path() + "/" + dir + "-" + name + ".img";
          const v1::ExportReport report = export_to(c.replica_path(replica), name, image);
          ASSERT_EQ(report.outcome(), v1::ExportReport::EXPORTED) << report.error();
          EXPECT_EQ(report.start_image(), snapshot);
          EXPECT_EQ(report.chain_size(), static_cast<int>(chain.size() - start));
          EXPECT_EQ(sha256(read_file(image)), sha256(reference));
          EXPECT_LE(allocated_bytes(image), nonzero_block_bytes(reference) + kAllocationSlack);
          EXPECT_GE(allocated_bytes(image), nonzero_block_bytes(reference));
        }
        ++snapshots;
      }
    }
  }
  EXPECT_EQ(snapshots, 12u);  // case2: 3, case3: 1+1, case4: 1+1, case5a: 1, case5b: 1, case5c: 3
}

TEST(ExportFixtures, DirtyAndRebuildingReplicasExportWithWarnings) {
  FixtureCase rebuilding("case5b-rebuilding");
  FixtureCase dirty("case5a-dirty");
  TempDir out;
  const v1::ExportReport rb =
      export_to(rebuilding.replica_path(rebuilding.expected.at("replicas")[0]), "", out.path() + "/rb.img");
  ASSERT_EQ(rb.outcome(), v1::ExportReport::EXPORTED) << rb.error();
  std::string all;
  for (const auto& w : rb.warnings()) all += w + "\n";
  EXPECT_NE(all.find("Rebuilding"), std::string::npos) << all;
  EXPECT_NE(all.find("INCOMPLETE"), std::string::npos) << all;
  EXPECT_NE(all.find("Dirty"), std::string::npos) << all;

  const v1::ExportReport d = export_to(dirty.replica_path(dirty.expected.at("replicas")[0]), "", out.path() + "/d.img");
  ASSERT_EQ(d.outcome(), v1::ExportReport::EXPORTED) << d.error();
  ASSERT_EQ(d.warnings_size(), 1);
  EXPECT_NE(d.warnings(0).find("Dirty"), std::string::npos);

  // The CLI says so on stderr, before the summary.
  int rc = -1;
  const std::string err = run_command(ctl() + " export --replica " +
                                          shell_quoted(rebuilding.replica_path(rebuilding.expected.at("replicas")[0])) +
                                          " --output " + shell_quoted(out.path() + "/rb2.img") + " 2>&1 >/dev/null",
                                      &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(err.find("warning: the replica is Rebuilding"), std::string::npos) << err;
}

// ---------------------------------------------------------------------------------------------------------
// The CLI.

TEST(ExportCli, StdoutEqualsTheFileAndVerifyPasses) {
  FixtureCase c("case2-chain");
  TempDir out;
  const std::string replica = c.replica_path(c.expected.at("replicas")[0]);
  const std::string file = out.path() + "/vol.img";
  int rc = -1;
  const std::string text = run_command(
      ctl() + " export --replica " + shell_quoted(replica) + " --output " + shell_quoted(file) + " --verify", &rc);
  ASSERT_EQ(rc, 0) << text;
  EXPECT_NE(text.find("verify:  PASSED"), std::string::npos) << text;
  run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output - > " +
                  shell_quoted(out.path() + "/stream.img"),
              &rc);
  ASSERT_EQ(rc, 0);
  const std::string from_file = read_file(file);
  const std::string from_stream = read_file(out.path() + "/stream.img");
  EXPECT_EQ(from_stream.size(), from_file.size());
  EXPECT_TRUE(from_stream == from_file) << "the stream and the file hold different bytes";
  EXPECT_EQ(
      sha256(from_stream),
      c.expected.at("replicas")[0].at("replica_readonly_view").at("merged").at("sha256_via_ReadAt").get<std::string>());

  // --json: the report a script reads.
  const std::string doc = run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output " +
                                          shell_quoted(out.path() + "/j.img") + " --verify --json",
                                      &rc);
  ASSERT_EQ(rc, 0) << doc;
  const json report = json::parse(doc);
  EXPECT_EQ(report.at("outcome"), "EXPORTED");
  EXPECT_EQ(report.at("verify").at("state"), "PASSED");
  EXPECT_EQ(report.at("verify").at("outputContentDigest"), report.at("contentDigest"));
  EXPECT_EQ(report.at("volumeBytes"), "67108864");
  EXPECT_EQ(report.at("chain").size(), 4u);

  // --progress on a stderr that is not a terminal: plain lines, the last one at 100%.
  const std::string progress = run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output " +
                                               shell_quoted(out.path() + "/p.img") + " --progress 2>&1 >/dev/null",
                                           &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(progress.find("data (100%)"), std::string::npos) << progress;

  // Usage errors.
  run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output - --verify >/dev/null 2>&1", &rc);
  EXPECT_EQ(rc, 2);
  run_command(ctl() + " export --output " + shell_quoted(out.path() + "/x.img") + " >/dev/null 2>&1", &rc);
  EXPECT_EQ(rc, 2);
  run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output " +
                  shell_quoted(out.path() + "/y.img") + " --snapshot no-such-snapshot >/dev/null 2>&1",
              &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_FALSE(fs::exists(out.path() + "/y.img"));
  const std::string help = run_command(ctl() + " export --help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(help.find("Examples:"), std::string::npos);
}

TEST(ExportCli, RefusesOutputsInsideTheReplicaTreeAndExistingFiles) {
  FixtureCase c("case1-simple");
  TempDir out;
  const std::string replica = c.replica_path(c.expected.at("replicas")[0]);
  const std::string replicas = c.disk + "/replicas";
  fs::create_symlink(replica, out.path() + "/link-to-replica");
  fs::create_symlink(replicas, out.path() + "/link-to-replicas");
  sentinel::testing::age_atimes(c.disk);
  const auto before = sentinel::testing::snapshot_tree(c.disk);

  for (const std::string& output :
       {replica + "/export.img", replicas + "/export.img", replica + "/../x.img",
        out.path() + "/link-to-replica/export.img", out.path() + "/link-to-replicas/export.img",
        out.path() + "/../" + fs::relative(replica, fs::path(out.path()).parent_path()).string() + "/export.img"}) {
    SCOPED_TRACE(output);
    int rc = -1;
    const std::string err = run_command(
        ctl() + " export --replica " + shell_quoted(replica) + " --output " + shell_quoted(output) + " --force 2>&1",
        &rc);
    EXPECT_EQ(rc, 1) << err;
    EXPECT_NE(err.find("refusing to write"), std::string::npos) << err;
  }
  sentinel::testing::expect_same_tree(before, sentinel::testing::snapshot_tree(c.disk));

  // An existing output is kept unless --force, and then replaced whole.
  const std::string beside = out.path() + "/existing.img";
  { std::ofstream(beside) << "keep me"; }
  int rc = -1;
  run_command(
      ctl() + " export --replica " + shell_quoted(replica) + " --output " + shell_quoted(beside) + " 2>/dev/null", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(read_file(beside), "keep me");
  run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output " + shell_quoted(beside) + " --force",
              &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(
      sha256(read_file(beside)),
      c.expected.at("replicas")[0].at("replica_readonly_view").at("merged").at("sha256_via_ReadAt").get<std::string>());
  fs::create_directory(out.path() + "/a-directory");
  run_command(ctl() + " export --replica " + shell_quoted(replica) + " --output " +
                  shell_quoted(out.path() + "/a-directory") + " --force 2>/dev/null",
              &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_TRUE(leftovers_in(out.path()).empty());
}

// ---------------------------------------------------------------------------------------------------------
// Read-only, proven.

TEST(ExportReadOnly, ReplicaTreesAreIdenticalAfterEveryExportAndDiff) {
  TempDir disks;
  TempDir out;
  std::vector<std::pair<std::string, json>> replicas;  // path, expected.json entry
  for (const auto& case_name : fixture_cases()) {
    const std::string disk = extract_case_as_disk(case_name, disks.path());
    const json expected = expected_for(case_name);  // kept: the loop walks a part of it
    for (const auto& r : expected.at("replicas")) {
      replicas.emplace_back(disk + "/replicas/" + r.at("dir").get<std::string>(), r);
    }
  }
  sentinel::testing::age_atimes(disks.path());
  const auto before = sentinel::testing::snapshot_tree(disks.path());
  ASSERT_GT(before.size(), 40u);

  int n = 0;
  for (const auto& [path, r] : replicas) {
    const auto& chain = r.at("replica_readonly_view").at("Chain_head_to_oldest");
    for (size_t i = 0; i < chain.size(); ++i) {
      const std::string snapshot = i == 0 ? "" : " --snapshot " + chain[i].get<std::string>();
      int rc = -1;
      run_command(ctl() + " export --replica " + shell_quoted(path) + snapshot + " --verify --output " +
                      shell_quoted(out.path() + "/" + std::to_string(n++) + ".img") + " >/dev/null 2>&1",
                  &rc);
      EXPECT_EQ(rc, 0) << path << snapshot;
    }
    int rc = -1;
    run_command(ctl() + " export --replica " + shell_quoted(path) + " --output - 2>/dev/null | cat >/dev/null", &rc);
    EXPECT_EQ(rc, 0);
    run_command(ctl() + " diff " + shell_quoted(path) + " " + shell_quoted(replicas.front().first) + " >/dev/null 2>&1",
                &rc);
    EXPECT_TRUE(rc == 0 || rc == 3) << rc;
    run_command(ctl() + " diff " + shell_quoted(path) + " " + shell_quoted(path) + " >/dev/null 2>&1", &rc);
    EXPECT_EQ(rc, 0);
  }
  EXPECT_GT(n, 20);
  sentinel::testing::expect_same_tree(before, sentinel::testing::snapshot_tree(disks.path()));
}

// ---------------------------------------------------------------------------------------------------------
// --verify and failures.

// Corrupts the export's file in progress just before the export reads it back: what a bad disk, a bad
// controller or another process writing there would do. Only the OUTPUT is touched.
class TamperingFileSystem final : public sentinel::testing::DelegatingFileSystem {
 public:
  explicit TamperingFileSystem(uint64_t offset) : offset_(offset) {}
  SysResult<scanner::FileStat> stat_at(int dir_fd, const std::string& name) override {
    if (name.find(".sentinel-export-") != std::string::npos && !tampered) {
      const int fd = ::openat(dir_fd, name.c_str(), O_WRONLY | O_CLOEXEC);
      EXPECT_GE(fd, 0);
      const char junk = 'X';
      EXPECT_EQ(::pwrite(fd, &junk, 1, static_cast<off_t>(offset_)), 1);
      ::close(fd);
      tampered = true;
    }
    return DelegatingFileSystem::stat_at(dir_fd, name);
  }
  bool tampered = false;

 private:
  uint64_t offset_;
};

TEST(ExportVerify, DetectsAnOutputTamperedWithBeforeItIsReadBack) {
  FixtureCase c("case2-chain");
  TempDir out;
  const std::string replica = c.replica_path(c.expected.at("replicas")[0]);
  // One byte in a data block (chunk 12: 50 MiB + 5), and one in a hole (chunk 7), each on its own export.
  for (const uint64_t offset : {uint64_t{52428800 + 5}, uint64_t{30} << 20}) {
    SCOPED_TRACE(offset);
    TamperingFileSystem tampering(offset);
    const std::string image = out.path() + "/vol.img";
    const v1::ExportReport report = export_to(replica, "", image, /*verify=*/true, &tampering);
    EXPECT_TRUE(tampering.tampered);
    EXPECT_EQ(report.outcome(), v1::ExportReport::VERIFY_FAILED) << report.error();
    EXPECT_EQ(report.verify().state(), v1::ExportVerification::FAILED);
    ASSERT_EQ(report.verify().mismatched_chunks_size(), 1);
    EXPECT_EQ(report.verify().mismatched_chunks(0), offset / (uint64_t{4} << 20));
    EXPECT_FALSE(fs::exists(image)) << "a file that failed verification must not be left at the output path";
    EXPECT_TRUE(leftovers_in(out.path()).empty());
  }
  // Without tampering the same wrapper's export verifies.
  TamperingFileSystem untouched(0);
  untouched.tampered = true;
  EXPECT_EQ(export_to(replica, "", out.path() + "/ok.img", true, &untouched).outcome(), v1::ExportReport::EXPORTED);
}

TEST(ExportVerify, ReReadingATamperedFileNamesTheChunk) {
  FixtureCase c("case4-divergent");
  TempDir out;
  const std::string replica = c.replica_path(c.expected.at("replicas")[0]);
  const std::string image = out.path() + "/vol.img";
  ASSERT_EQ(export_to(replica, "", image).outcome(), v1::ExportReport::EXPORTED);
  // The source's chunk digests, from its merged view.
  scanner::PosixFileSystem posix;
  ReplicaSourceResult source = open_replica_source(posix, replica);
  ASSERT_TRUE(source.source) << source.error;
  auto engine = scanner::ReadEngine::create({});
  ASSERT_TRUE(engine.ok());
  scanner::ContentDigester digester(source.source->volume_bytes, true);
  scanner::MergedViewSink sink;
  sink.data = [&](uint64_t o, const uint8_t* d, size_t n) { return digester.data(o, d, n); };
  sink.zeros = [&](uint64_t o, uint64_t n) { return digester.zeros(o, n); };
  ASSERT_TRUE(stream_replica_source(posix, **engine, *source.source, sink).ok());
  const SourceDigests expected{digester.digest(), digester.chunks()};
  scanner::Fd dir(::open(out.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  EXPECT_EQ(verify_image(posix, **engine, dir.get(), "vol.img", source.source->volume_bytes, expected).state(),
            v1::ExportVerification::PASSED);

  // Flip the divergent block's first byte in the OUTPUT.
  {
    const int fd = ::open(image.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, 9445376), 1);
    byte = static_cast<char>(byte ^ 0x01);
    ASSERT_EQ(::pwrite(fd, &byte, 1, 9445376), 1);
    ::close(fd);
  }
  const v1::ExportVerification v =
      verify_image(posix, **engine, dir.get(), "vol.img", source.source->volume_bytes, expected);
  EXPECT_EQ(v.state(), v1::ExportVerification::FAILED);
  ASSERT_EQ(v.mismatched_chunks_size(), 1);
  EXPECT_EQ(v.mismatched_chunks(0), 2u);  // 9445376 / 4 MiB
  EXPECT_NE(v.detail().find("chunk 2"), std::string::npos) << v.detail();
}

TEST(ExportFaults, ALayerChangedDuringTheExportFailsItWithNothingLeftBehind) {
  FixtureCase c("case2-chain");
  TempDir out;
  const std::string replica = c.replica_path(c.expected.at("replicas")[0]);
  const std::string head = replica + "/volume-head-003.img";
  const uint64_t head_inode = sentinel::testing::inode_of(head);
  bool touched = false;
  // What a still-running engine does: the head is written (here: its mtime moves) while it is being read.
  auto hook = [&](int fd, uint64_t, uint32_t*) -> std::optional<int64_t> {
    if (!touched && sentinel::testing::inode_of(fd) == head_inode) {
      touched = true;
      EXPECT_EQ(::utimensat(AT_FDCWD, head.c_str(), nullptr, 0), 0);
    }
    return std::nullopt;
  };
  for (const std::string& output : {out.path() + "/vol.img", std::string("-")}) {
    SCOPED_TRACE(output);
    touched = false;
    scanner::PosixFileSystem posix;
    ExportRequest request;
    request.replica_dir = replica;
    request.output = output;
    request.stream_fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    request.queue_factory = [&](const scanner::ReadOptions& options, std::string* note) {
      return std::unique_ptr<scanner::ReadQueue>(
          new sentinel::testing::HookedQueue(scanner::make_default_read_queue(options, note), hook));
    };
    const v1::ExportReport report = export_volume(posix, request);
    ::close(request.stream_fd);
    EXPECT_TRUE(touched);
    EXPECT_EQ(report.outcome(), v1::ExportReport::FAILED);
    EXPECT_NE(report.error().find("volume-head-003.img"), std::string::npos) << report.error();
    EXPECT_NE(report.error().find("changed while it was read"), std::string::npos) << report.error();
    EXPECT_FALSE(fs::exists(out.path() + "/vol.img"));
    EXPECT_TRUE(leftovers_in(out.path()).empty());
  }
  // A replica directory that is not there: "could not run".
  int rc = -1;
  run_command(ctl() + " export --replica " + shell_quoted(replica + "/does-not-exist") + " --output " +
                  shell_quoted(out.path() + "/z.img") + " 2>/dev/null",
              &rc);
  EXPECT_EQ(rc, 1);
}

// ---------------------------------------------------------------------------------------------------------
// Pieces.

TEST(ExportPieces, ChainStartAcceptsFullAndShortSnapshotNames) {
  v1::Replica r;
  for (const char* name : {"volume-head-002.img", "volume-snap-b.img", "volume-snap-a.img"}) r.add_chain(name);
  EXPECT_EQ(find_chain_start(r, ""), std::optional<size_t>(0));
  EXPECT_EQ(find_chain_start(r, "volume-head-002.img"), std::optional<size_t>(0));
  EXPECT_EQ(find_chain_start(r, "volume-snap-b.img"), std::optional<size_t>(1));
  EXPECT_EQ(find_chain_start(r, "a"), std::optional<size_t>(2));
  EXPECT_EQ(find_chain_start(r, "c"), std::nullopt);
  EXPECT_EQ(find_chain_start(v1::Replica(), ""), std::nullopt);
}

TEST(ExportPieces, SparseWriterLeavesZeroBlocksAsHoles) {
  TempDir out;
  const std::string path = out.path() + "/w.img";
  scanner::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  auto created = SparseImageWriter::create(fd.get(), 64 * kBlock + 100, path);
  ASSERT_TRUE(created.ok());
  SparseImageWriter* writer = created->get();
  std::vector<uint8_t> piece(6 * kBlock, 0);
  piece[kBlock + 7] = 1;  // block 1: data
  piece[4 * kBlock] = 2;  // block 4: data; blocks 0, 2, 3, 5: zeros
  ASSERT_TRUE(writer->data(8 * kBlock, piece.data(), piece.size()));
  std::vector<uint8_t> tail(100, 3);  // the short last block
  ASSERT_TRUE(writer->data(64 * kBlock, tail.data(), tail.size()));
  EXPECT_EQ(writer->bytes_written(), 2 * kBlock + 100);
  EXPECT_EQ(writer->zero_bytes_skipped(), 4 * kBlock);
  ASSERT_EQ(::fsync(fd.get()), 0);
  std::vector<std::pair<off_t, off_t>> data;
  for (off_t pos = 0;;) {
    const off_t start = ::lseek(fd.get(), pos, SEEK_DATA);
    if (start < 0) break;
    const off_t end = ::lseek(fd.get(), start, SEEK_HOLE);
    data.emplace_back(start, end);
    pos = end;
  }
  const std::vector<std::pair<off_t, off_t>> want = {
      {9 * kBlock, 10 * kBlock}, {12 * kBlock, 13 * kBlock}, {64 * kBlock, 64 * kBlock + 100}};
  EXPECT_EQ(data, want);
  const std::string bytes = read_file(path);
  ASSERT_EQ(bytes.size(), 64 * kBlock + 100);
  EXPECT_EQ(bytes[9 * kBlock + 7], 1);
  EXPECT_EQ(bytes[12 * kBlock], 2);
  EXPECT_EQ(bytes[64 * kBlock + 99], 3);
}

// The streaming writeback (sync_file_range windows on the streamer's thread, the oldest waited for and dropped
// from the cache) leaves the same file as plain writes: with a 16 KiB window, 300 pieces cross it 150 times and
// the depth many times over.
TEST(ExportPieces, StreamingWritebackKeepsEveryByte) {
  TempDir out;
  const std::string path = out.path() + "/s.img";
  scanner::Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd.valid());
  const uint64_t size = 1200 * kBlock;
  auto created = SparseImageWriter::create(fd.get(), size, path, /*writeback_window=*/4 * kBlock);
  ASSERT_TRUE(created.ok());
  SparseImageWriter* writer = created->get();
  std::string expected(size, '\0');
  for (uint64_t piece = 0; piece < 300; ++piece) {  // every 4th block pair holds data
    std::vector<uint8_t> bytes(2 * kBlock);
    for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(1 + (piece * 7 + i) % 251);
    const uint64_t offset = piece * 4 * kBlock;
    ASSERT_TRUE(writer->data(offset, bytes.data(), bytes.size()));
    std::memcpy(expected.data() + offset, bytes.data(), bytes.size());
  }
  ASSERT_TRUE(writer->finish());
  EXPECT_EQ(writer->bytes_written(), 300 * 2 * kBlock);
  ASSERT_EQ(::fsync(fd.get()), 0);
  EXPECT_TRUE(read_file(path) == expected);
  EXPECT_LE(allocated_bytes(path), 300 * 2 * kBlock + kAllocationSlack);
}

TEST(ExportPieces, MismatchedChunksTreatsMissingChunksAsZeros) {
  const scanner::Digest128 x{1, 2};
  const scanner::Digest128 y{3, 4};
  EXPECT_TRUE(mismatched_chunks({{1, x}, {5, y}}, {{1, x}, {5, y}}).empty());
  EXPECT_EQ(mismatched_chunks({{1, x}, {5, y}}, {{1, y}, {5, y}, {9, x}}), (std::vector<uint64_t>{1, 9}));
  EXPECT_EQ(mismatched_chunks({{0, x}, {2, x}}, {{2, x}}), (std::vector<uint64_t>{0}));
}

TEST(ExportPieces, ProgressLineSaysDataDoneRateAndEta) {
  ExportProgress p;
  p.data_done = 512ull << 20;
  p.data_total = 2048ull << 20;
  p.volume_offset = 10ull << 30;
  p.volume_bytes = 40ull << 30;
  p.elapsed_seconds = 2;
  const std::string line = format_progress(p);
  EXPECT_EQ(line, "512.0 MiB / 2.0 GiB data (25%)  256.0 MiB/s  ETA 0:00:06  [volume offset 10.0 GiB / 40.0 GiB]");
}

}  // namespace
}  // namespace sentinel::salvage
