// `sentinelctl diff` and the local diff (salvage/replica_diff.h) against Longhorn's fixtures and generated trees:
// - case 4's two replicas differ exactly in the 4 KiB at 9445376 (the one write that carried different bytes),
//   locally; from two nodes' chunk lists the diff names the 4 MiB chunk holding it;
// - case 3's pair differs exactly where the history says replica A took writes B missed;
// - every replica compared with itself is equal; holes and written zeros, and different snapshot layering,
//   compare equal; a difference in a short last chunk is found; different Sizes differ without a read;
// - a layer that changes during the diff fails it, never a verdict; exit codes 0 / 3 / 1 / 2.
#include "salvage/replica_diff.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "salvage/chunk_diff.h"
#include "scanner/deep_scan.h"
#include "scanner/scanner.h"
#include "tests/scanner/fault_injection.h"
#include "tests/scanner/fixture_support.h"
#include "tools/sentinelctl/inventory_file.h"
#include "tools/sentinelctl/inventory_output.h"
#include "tools/treegen/replica_writer.h"

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

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kChunk = 4 * kMiB;

json expected_for(const std::string& case_name) {
  return json::parse(read_file(fixtures_dir() + "/" + case_name + ".expected.json"));
}

std::string ctl() { return SENTINELCTL_PATH; }
std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

// Two replica directories of one fixture case, A and B by the case's history_key.
struct FixturePair {
  TempDir tmp;
  std::string disk;
  json expected;
  std::string a;
  std::string b;
  explicit FixturePair(const std::string& name)
      : disk(extract_case_as_disk(name, tmp.path())), expected(expected_for(name)) {
    for (const auto& r : expected.at("replicas")) {
      (r.at("history_key") == "A" ? a : b) = disk + "/replicas/" + r.at("dir").get<std::string>();
    }
  }
  std::string dir_of(const std::string& path) const { return fs::path(path).filename().string(); }
};

// The writes the history sent to exactly `key`'s replica, as 4 KiB-aligned, merged byte ranges (Longhorn writes
// whole 4 KiB blocks: an unaligned write is read-modify-written as its whole block).
std::vector<ByteRange> writes_only_to(const json& expected, const std::string& key) {
  std::vector<ByteRange> ranges;
  std::vector<json> writes;
  for (const auto& op : expected.at("history")) {
    if (op.at("op") == "write" && op.at("replicas") == json::array({key})) writes.push_back(op);
  }
  std::sort(writes.begin(), writes.end(), [](const json& x, const json& y) {
    return x.at("offset").get<uint64_t>() < y.at("offset").get<uint64_t>();
  });
  for (const auto& w : writes) {
    const uint64_t begin = w.at("offset").get<uint64_t>() / 4096 * 4096;
    const uint64_t end = (w.at("end").get<uint64_t>() + 4095) / 4096 * 4096;
    if (!ranges.empty() && ranges.back().offset + ranges.back().length >= begin) {
      ranges.back().length = std::max(ranges.back().offset + ranges.back().length, end) - ranges.back().offset;
    } else {
      ranges.push_back({begin, end - begin});
    }
  }
  return ranges;
}

std::vector<ByteRange> ranges_of(const v1::DiffReport& report) {
  std::vector<ByteRange> out;
  for (const auto& r : report.ranges()) out.push_back({r.offset(), r.length()});
  return out;
}

v1::DiffReport diff(const std::string& a, const std::string& b) {
  scanner::PosixFileSystem posix;
  ReplicaDiffRequest request;
  request.dir_a = a;
  request.dir_b = b;
  return diff_replica_dirs(posix, request);
}

std::string content_digest_by_deep_scan(const std::string& disk, const std::string& dir) {
  scanner::PosixFileSystem posix;
  v1::Inventory inventory = scanner::scan_disks(posix, {disk}, "test", {});
  scanner::deep_scan_inventory(posix, &inventory, {});
  for (const auto& r : inventory.replicas()) {
    if (r.dir() == dir) return r.content_digest();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------------------
// Local diff of Longhorn's fixtures.

TEST(ReplicaDiffFixtures, Case4DiffersExactlyInTheDivergentBlock) {
  FixturePair c("case4-divergent");
  // What the history says, before what Sentinel says: one 4 KiB write at 9445376 carried different bytes.
  const std::vector<ByteRange> divergent = {{9445376, 4096}};
  ASSERT_EQ(writes_only_to(c.expected, "A"), divergent);
  ASSERT_EQ(writes_only_to(c.expected, "B"), divergent);

  const v1::DiffReport report = diff(c.a, c.b);
  ASSERT_EQ(report.verdict(), v1::DiffReport::DIFFERENT) << report.error();
  EXPECT_EQ(report.method(), v1::DiffReport::MERGED_VOLUMES);
  EXPECT_EQ(report.granularity_bytes(), 4096u);
  EXPECT_EQ(ranges_of(report), divergent);
  EXPECT_EQ(report.differing_bytes(), 4096u);
  EXPECT_EQ(report.differing_chunks(), 1u);
  EXPECT_GT(report.a().read_bytes(), 0u);
  EXPECT_EQ(report.a().read_bytes(), report.b().read_bytes());
  EXPECT_EQ(report.a().content_digest(), content_digest_by_deep_scan(c.disk, c.dir_of(c.a)));
  EXPECT_EQ(report.b().content_digest(), content_digest_by_deep_scan(c.disk, c.dir_of(c.b)));
  EXPECT_NE(report.a().content_digest(), report.b().content_digest());
}

TEST(ReplicaDiffFixtures, Case3DiffersWhereBMissedAsWrites) {
  FixturePair c("case3-salvage-pair");
  const std::vector<ByteRange> missed = writes_only_to(c.expected, "A");
  ASSERT_EQ(missed.size(), 3u);
  ASSERT_TRUE(writes_only_to(c.expected, "B").empty());
  const v1::DiffReport report = diff(c.a, c.b);
  ASSERT_EQ(report.verdict(), v1::DiffReport::DIFFERENT) << report.error();
  EXPECT_EQ(ranges_of(report), missed);
  // Both are Dirty (crashed): each side says so.
  ASSERT_EQ(report.a().warnings_size(), 1);
  EXPECT_NE(report.a().warnings(0).find("Dirty"), std::string::npos);
}

TEST(ReplicaDiffFixtures, EveryReplicaEqualsItself) {
  size_t checked = 0;
  for (const auto& case_name : fixture_cases()) {
    SCOPED_TRACE(case_name);
    TempDir tmp;
    const std::string disk = extract_case_as_disk(case_name, tmp.path());
    const json expected = expected_for(case_name);  // kept: the loop walks a part of it
    for (const auto& r : expected.at("replicas")) {
      const std::string path = disk + "/replicas/" + r.at("dir").get<std::string>();
      const v1::DiffReport report = diff(path, path);
      EXPECT_EQ(report.verdict(), v1::DiffReport::EQUAL) << report.error();
      EXPECT_EQ(report.ranges_size(), 0);
      EXPECT_EQ(report.a().content_digest(), report.b().content_digest());
      ++checked;
    }
  }
  EXPECT_EQ(checked, 9u);
}

// ---------------------------------------------------------------------------------------------------------
// The CLI: locally, and across two nodes from their deep scans' chunk lists.

TEST(ReplicaDiffCli, LocalDiffPrintsTheRangeAndExitsThree) {
  FixturePair c("case4-divergent");
  int rc = -1;
  const std::string text = run_command(ctl() + " diff " + shell_quoted(c.a) + " " + shell_quoted(c.b), &rc);
  EXPECT_EQ(rc, 3) << text;
  EXPECT_NE(text.find("DIFFERENT"), std::string::npos) << text;
  EXPECT_NE(text.find("9445376"), std::string::npos) << text;
  const json doc =
      json::parse(run_command(ctl() + " diff " + shell_quoted(c.a) + " " + shell_quoted(c.b) + " --json", &rc));
  EXPECT_EQ(rc, 3);
  EXPECT_EQ(doc.at("verdict"), "DIFFERENT");
  EXPECT_EQ(doc.at("ranges"), json::parse(R"([{"offset":"9445376","length":"4096"}])"));
  run_command(ctl() + " diff " + shell_quoted(c.a) + " " + shell_quoted(c.a) + " >/dev/null", &rc);
  EXPECT_EQ(rc, 0);
  // Usage errors and a directory that is not there.
  run_command(ctl() + " diff " + shell_quoted(c.a) + " >/dev/null 2>&1", &rc);
  EXPECT_EQ(rc, 2);
  run_command(ctl() + " diff " + shell_quoted(c.a) + " " + shell_quoted(c.b) + " --inventory x.json >/dev/null 2>&1",
              &rc);
  EXPECT_EQ(rc, 2);
  run_command(ctl() + " diff " + shell_quoted(c.a) + " " + shell_quoted(c.disk + "/replicas/nope-12345678") +
                  " >/dev/null 2>&1",
              &rc);
  EXPECT_EQ(rc, 1);
  const std::string help = run_command(ctl() + " diff --help", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_NE(help.find("Examples:"), std::string::npos);
}

// Each replica of a pair on a disk of its own, scanned as its own node (`scan --deep --chunks --json`).
struct TwoNodes {
  std::string inventory_a;
  std::string inventory_b;
  std::string volume;
  TwoNodes(FixturePair& c, const std::string& flags = "--deep --chunks") {
    const std::string disk2 = c.tmp.path() + "/worker-2";
    fs::create_directories(disk2 + "/replicas");
    const std::string moved = disk2 + "/replicas/" + c.dir_of(c.b);
    fs::rename(c.b, moved);
    c.b = moved;
    volume = c.expected.at("volume_name");
    inventory_a = c.tmp.path() + "/worker-1.json";
    inventory_b = c.tmp.path() + "/worker-2.json";
    int rc = -1;
    run_command(ctl() + " scan " + flags + " --json --node worker-1 --disk " + shell_quoted(c.disk) + " > " +
                    shell_quoted(inventory_a),
                &rc);
    EXPECT_EQ(rc, 0);
    run_command(ctl() + " scan " + flags + " --json --node worker-2 --disk " + shell_quoted(disk2) + " > " +
                    shell_quoted(inventory_b),
                &rc);
    EXPECT_EQ(rc, 0);
  }
  std::string command() const {
    return ctl() + " diff --inventory " + shell_quoted(inventory_a) + " --inventory " + shell_quoted(inventory_b) +
           " --volume " + volume;
  }
};

TEST(ReplicaDiffCli, AcrossNodesTheChunkListsFindTheDivergentChunk) {
  FixturePair c("case4-divergent");
  TwoNodes nodes(c);
  int rc = -1;
  const std::string out = run_command(nodes.command() + " --json", &rc);
  EXPECT_EQ(rc, 3) << out;
  const json doc = json::parse(out);
  EXPECT_EQ(doc.at("verdict"), "DIFFERENT");
  EXPECT_EQ(doc.at("method"), "CHUNK_LISTS");
  EXPECT_EQ(doc.at("a").at("node"), "worker-1");
  EXPECT_EQ(doc.at("b").at("node"), "worker-2");
  EXPECT_EQ(doc.at("granularityBytes"), std::to_string(kChunk));
  ASSERT_EQ(doc.at("ranges").size(), 1u);
  const uint64_t offset = std::stoull(doc.at("ranges")[0].at("offset").get<std::string>());
  const uint64_t length = std::stoull(doc.at("ranges")[0].at("length").get<std::string>());
  EXPECT_EQ(offset, 9445376 / kChunk * kChunk);  // the chunk holding the divergent block: [8 MiB, 12 MiB)
  EXPECT_EQ(length, kChunk);
  EXPECT_LE(offset, 9445376u);
  EXPECT_GE(offset + length, 9445376u + 4096);
  const std::string text = run_command(nodes.command(), &rc);
  EXPECT_EQ(rc, 3);
  EXPECT_NE(text.find("8388608"), std::string::npos) << text;

  // The same inventory twice, same directory: equal.
  run_command(ctl() + " diff --inventory " + shell_quoted(nodes.inventory_a) + " --inventory " +
                  shell_quoted(nodes.inventory_a) + " --volume " + nodes.volume + " >/dev/null",
              &rc);
  EXPECT_EQ(rc, 0);
  // Not the volume in an inventory: could not run.
  run_command(ctl() + " diff --inventory " + shell_quoted(nodes.inventory_a) + " --inventory " +
                  shell_quoted(nodes.inventory_b) + " --volume pvc-nope >/dev/null 2>&1",
              &rc);
  EXPECT_EQ(rc, 1);
}

TEST(ReplicaDiffCli, AcrossNodesCase3ChunksCoverEveryLocalDifference) {
  FixturePair c("case3-salvage-pair");
  const v1::DiffReport local = diff(c.a, c.b);
  ASSERT_EQ(local.verdict(), v1::DiffReport::DIFFERENT);
  TwoNodes nodes(c);
  int rc = -1;
  const json doc = json::parse(run_command(nodes.command() + " --json", &rc));
  EXPECT_EQ(rc, 3);
  std::vector<std::pair<uint64_t, uint64_t>> chunks;
  for (const auto& r : doc.at("ranges")) {
    chunks.emplace_back(std::stoull(r.at("offset").get<std::string>()), std::stoull(r.at("length").get<std::string>()));
  }
  for (const auto& r : local.ranges()) {
    bool covered = false;
    for (const auto& [offset, length] : chunks)
      covered |= offset <= r.offset() && r.offset() + r.length() <= offset + length;
    EXPECT_TRUE(covered) << "local difference at " << r.offset() << " not in any differing chunk";
  }
  // Exactly the chunks holding a local difference.
  EXPECT_EQ(doc.at("differingChunks"), std::to_string(local.differing_chunks()));
}

TEST(ReplicaDiffCli, QuickScanInventoriesCannotTell) {
  FixturePair c("case4-divergent");
  TwoNodes nodes(c, "");
  int rc = -1;
  const std::string err = run_command(nodes.command() + " 2>&1 >/dev/null", &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_NE(err.find("--deep --chunks"), std::string::npos) << err;
}

// `diff --inventory` reads the chunk lists itself (tools/sentinelctl/inventory_file.h): it must read exactly what
// protobuf's own JSON parser reads, also for entries it hands over to it.
TEST(ReplicaDiffCli, InventoryFilesReadAsProtobufReadsThem) {
  FixturePair c("case4-divergent");
  scanner::PosixFileSystem posix;
  v1::Inventory inventory = scanner::scan_disks(posix, {c.disk}, "worker-1", {});
  scanner::DeepScanOptions deep;
  deep.keep_chunks = true;
  scanner::deep_scan_inventory(posix, &inventory, deep);
  ASSERT_GT(inventory.replicas(0).content().chunks_size(), 1);
  json doc = json::parse(tools::message_to_json(inventory, /*pretty=*/true));
  // Entries the fast path must not take: a numeric index, an unknown field (a newer sentinelctl's).
  doc["replicas"][0]["content"]["chunks"][0]["index"] = 0;
  doc["replicas"][0]["content"]["chunks"][1]["fromTheFuture"] = true;
  doc["replicas"][0]["futureField"] = "ignored";
  const std::string path = c.tmp.path() + "/inventory.json";
  { std::ofstream(path) << doc.dump(1); }
  const tools::InventoryFile loaded = tools::read_inventory_file(path);
  ASSERT_EQ(loaded.error, "");
  v1::Inventory by_protobuf;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(doc.dump(), &by_protobuf, options).ok());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(loaded.inventory, by_protobuf));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(loaded.inventory, inventory));

  doc["replicas"][0]["content"]["chunks"][2]["index"] = "not a number";
  { std::ofstream(path) << doc.dump(); }
  EXPECT_NE(tools::read_inventory_file(path).error, "");
  { std::ofstream(path) << "{\"replicas\": ["; }
  EXPECT_NE(tools::read_inventory_file(path).error, "");
  EXPECT_NE(tools::read_inventory_file(c.tmp.path() + "/missing.json").error, "");
}

// ---------------------------------------------------------------------------------------------------------
// Generated replicas.

using treegen::LayerSpec;
using treegen::ReplicaSpec;
using treegen::Write;

LayerSpec layer(const std::string& file, std::vector<Write> writes) {
  LayerSpec l;
  l.file = file;
  l.writes = std::move(writes);
  return l;
}

struct GeneratedPairs {
  TempDir tmp;
  std::string replicas;
  GeneratedPairs() : replicas(tmp.path() + "/disk/replicas") {
    auto r = treegen::write_disk(tmp.path() + "/disk", "disk", "0b4930a7-0000-4000-8000-00000000d1ff");
    EXPECT_TRUE(r.ok()) << r.error().message();
  }
  std::string add(const ReplicaSpec& spec) {
    auto r = treegen::write_replica(replicas, spec);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return replicas + "/" + spec.dir;
  }
};

TEST(ReplicaDiffGenerated, LayeringAndWrittenZerosDoNotMatterAShortLastChunkDoes) {
  const uint64_t size = 12 * kMiB + 8 * kKiB;  // 4 chunks, the last one 8 KiB
  GeneratedPairs g;
  ReplicaSpec flat;
  flat.dir = "gen-vol-aaaa1111";
  flat.size = static_cast<int64_t>(size);
  flat.revision_counter = 3;
  flat.layers = {
      layer("volume-head-000.img", {{0, 64 * kKiB, 5}, {5 * kMiB, kMiB, 5}, {size - 8 * kKiB, 8 * kKiB, 5}})};
  const std::string a = g.add(flat);

  ReplicaSpec layered = flat;  // the same bytes over a snapshot (with shadowed data) and a head
  layered.dir = "gen-vol-bbbb2222";
  layered.layers = {
      layer("volume-snap-11111111-1111-4111-8111-111111111111.img", {{0, 64 * kKiB, 9}, {5 * kMiB, kMiB, 5}}),
      layer("volume-head-001.img", {{0, 64 * kKiB, 5}, {size - 8 * kKiB, 8 * kKiB, 5}})};
  const std::string b = g.add(layered);
  // Written zeros where the other has holes: a whole chunk and blocks inside a chunk with data.
  {
    const int fd = ::open((b + "/volume-head-001.img").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    const std::vector<char> zeros(kChunk, 0);
    ASSERT_EQ(::pwrite(fd, zeros.data(), kChunk, static_cast<off_t>(8 * kMiB)), static_cast<ssize_t>(kChunk));
    ASSERT_EQ(::pwrite(fd, zeros.data(), 16 * kKiB, static_cast<off_t>(64 * kKiB)), static_cast<ssize_t>(16 * kKiB));
    ::close(fd);
  }
  const v1::DiffReport same = diff(a, b);
  EXPECT_EQ(same.verdict(), v1::DiffReport::EQUAL) << same.error();
  EXPECT_EQ(same.a().content_digest(), same.b().content_digest());

  ReplicaSpec tail = flat;  // the volume's very last block differs
  tail.dir = "gen-vol-cccc3333";
  tail.layers[0].writes.push_back({size - 4 * kKiB, 4 * kKiB, 6});
  const v1::DiffReport last = diff(a, g.add(tail));
  ASSERT_EQ(last.verdict(), v1::DiffReport::DIFFERENT) << last.error();
  EXPECT_EQ(ranges_of(last), (std::vector<ByteRange>{{size - 4 * kKiB, 4 * kKiB}}));
  EXPECT_EQ(last.differing_chunks(), 1u);

  ReplicaSpec bigger = flat;  // expanded: different Size
  bigger.dir = "gen-vol-dddd4444";
  bigger.size = static_cast<int64_t>(size + kChunk);
  const v1::DiffReport sizes = diff(a, g.add(bigger));
  EXPECT_EQ(sizes.verdict(), v1::DiffReport::DIFFERENT);
  EXPECT_EQ(sizes.ranges_size(), 0);
  EXPECT_EQ(sizes.a().read_bytes(), 0u) << "nothing needs reading to see the sizes differ";
  EXPECT_NE(sizes.note().find("different sizes"), std::string::npos) << sizes.note();
}

TEST(ReplicaDiffFaults, ALayerChangedDuringTheDiffFailsIt) {
  FixturePair c("case4-divergent");
  const std::string head = c.b + "/volume-head-001.img";
  const uint64_t head_inode = sentinel::testing::inode_of(head);
  ASSERT_NE(head_inode, 0u);
  std::atomic<bool> touched{false};  // the hook runs on both sides' threads
  auto hook = [&](int fd, uint64_t, uint32_t*) -> std::optional<int64_t> {
    if (sentinel::testing::inode_of(fd) == head_inode && !touched.exchange(true)) {
      EXPECT_EQ(::utimensat(AT_FDCWD, head.c_str(), nullptr, 0), 0);
    }
    return std::nullopt;
  };
  scanner::PosixFileSystem posix;
  ReplicaDiffRequest request;
  request.dir_a = c.a;
  request.dir_b = c.b;
  request.queue_factory = [&](const scanner::ReadOptions& options, std::string* note) {
    return std::unique_ptr<scanner::ReadQueue>(
        new sentinel::testing::HookedQueue(scanner::make_default_read_queue(options, note), hook));
  };
  const v1::DiffReport report = diff_replica_dirs(posix, request);
  EXPECT_TRUE(touched);
  EXPECT_EQ(report.verdict(), v1::DiffReport::FAILED);
  EXPECT_EQ(report.error().rfind("B: ", 0), 0u) << report.error();
  EXPECT_NE(report.error().find("changed while it was read"), std::string::npos) << report.error();
  EXPECT_EQ(report.ranges_size(), 0);
}

}  // namespace
}  // namespace sentinel::salvage
