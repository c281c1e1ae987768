// Interop with Longhorn's own replica code: for every fixture case, `sentinelctl scan --json --extents` must
// agree with what Longhorn v1.5.3 itself reported (the case's expected.json).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <iostream>

#include <nlohmann/json.hpp>
#include <set>

#include "tests/scanner/fixture_support.h"

namespace sentinel::testing {
namespace {

using nlohmann::json;

// proto3 JSON prints 64-bit integers as strings; accept both forms.
int64_t as_int(const json& v) {
  if (v.is_string()) return std::stoll(v.get<std::string>());
  return v.get<int64_t>();
}

const json* find_replica(const json& inventory, const std::string& dir) {
  for (const auto& r : inventory.at("replicas")) {
    if (r.at("dir") == dir) return &r;
  }
  return nullptr;
}

const json* find_image(const json& replica, const std::string& name) {
  for (const auto& img : replica.at("images")) {
    if (img.at("name") == name) return &img;
  }
  return nullptr;
}

// st_blocks*512 of a file, as the kernel reports it now.
int64_t allocated_on_disk(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_blocks) * 512;
}

// Allocated bytes are the data extents plus the file system's own metadata for the file. The data part must
// equal Longhorn's exactly; ext4 may add an extent-tree block (4 KiB) on one machine and not on another,
// depending on how the extracted file was laid out physically (the fixtures README, "run sync"). So: Sentinel
// must report exactly what the kernel says (st_blocks), and that may exceed Longhorn's figure only by such
// metadata blocks.
void expect_allocated(int64_t got, int64_t longhorn, int64_t on_disk, int64_t extent_bytes, const std::string& name) {
  EXPECT_EQ(got, on_disk) << name << ": not what the kernel reports";
  if (got == longhorn) return;
  constexpr int64_t kMaxMetadataBlocks = 2;
  EXPECT_GE(got, extent_bytes) << name;
  EXPECT_EQ((got - longhorn) % 4096, 0) << name;
  EXPECT_LE(got - longhorn, kMaxMetadataBlocks * 4096)
      << name << ": Sentinel " << got << " vs Longhorn " << longhorn << " beyond file-system metadata";
  EXPECT_GE(got - longhorn, 0) << name;
  std::cout << "note: " << name << " allocates " << got << " bytes here, Longhorn saw " << longhorn
            << " (ext4 extent-tree block)\n";
}

void check_case(const std::string& case_name) {
  SCOPED_TRACE(case_name);
  TempDir tmp;
  const std::string disk = extract_case_as_disk(case_name, tmp.path());
  const json expected = json::parse(read_file(fixtures_dir() + "/" + case_name + ".expected.json"));

  int rc = -1;
  const std::string out = run_command(std::string(SENTINELCTL_PATH) + " scan --json --extents --disk '" + disk + "'", &rc);
  ASSERT_EQ(rc, 0) << out;
  const json inventory = json::parse(out);
  ASSERT_EQ(inventory.at("replicas").size(), expected.at("replicas").size());

  for (const auto& want : expected.at("replicas")) {
    const std::string dir = want.at("dir");
    SCOPED_TRACE(dir);
    const json* got = find_replica(inventory, dir);
    ASSERT_NE(got, nullptr) << "replica directory not reported";
    const json& view = want.at("replica_readonly_view");
    const json& info = view.at("ReadInfo_volume_meta");

    EXPECT_EQ(got->at("disk"), disk);
    EXPECT_EQ(got->at("volume"), expected.at("volume_name"));
    EXPECT_EQ(as_int(got->at("sizeBytes")), info.at("Size").get<int64_t>());
    EXPECT_EQ(got->at("head"), info.at("Head"));
    EXPECT_EQ(got->at("parent"), info.at("Parent"));
    EXPECT_EQ(got->at("dirty"), info.at("Dirty"));
    EXPECT_EQ(got->at("rebuilding"), info.at("Rebuilding"));
    EXPECT_EQ(got->at("error"), info.at("Error"));
    EXPECT_EQ(as_int(got->at("sectorSize")), info.at("SectorSize").get<int64_t>());

    std::vector<std::string> chain = got->at("chain").get<std::vector<std::string>>();
    EXPECT_EQ(chain, view.at("Chain_head_to_oldest").get<std::vector<std::string>>());

    const json& counter = want.at("revision_counter");
    EXPECT_EQ(got->at("revisionCounterPresent"), counter.at("file_present"));
    if (counter.at("file_present").get<bool>()) {
      EXPECT_EQ(as_int(got->at("revisionCounter")), counter.at("GetRevisionCounter").get<int64_t>());
    }

    // Removed flags and parents as Longhorn's ListDisks reports them.
    for (const auto& [name, disk_info] : view.at("ListDisks").items()) {
      const json* img = find_image(*got, name);
      ASSERT_NE(img, nullptr) << name;
      EXPECT_EQ(img->at("removed"), disk_info.at("removed")) << name;
      EXPECT_EQ(img->at("parent"), disk_info.at("parent")) << name;
      EXPECT_EQ(img->at("userCreated"), disk_info.at("usercreated")) << name;
      EXPECT_EQ(img->at("inChain"), true) << name;
    }

    // Every image file: apparent and allocated bytes and the coalesced extent list.
    size_t image_files = 0;
    uint64_t chain_allocated = 0;  // as the kernel reports it now; each term checked against Longhorn above
    int64_t head_on_disk = -1;
    std::set<std::string> chain_set(chain.begin(), chain.end());
    for (const auto& file : want.at("files")) {
      if (!file.contains("extents_coalesced")) continue;
      ++image_files;
      const std::string name = file.at("name");
      const json* img = find_image(*got, name);
      ASSERT_NE(img, nullptr) << name;
      EXPECT_EQ(as_int(img->at("apparentBytes")), file.at("apparent_size").get<int64_t>()) << name;
      const int64_t on_disk = allocated_on_disk(disk + "/replicas/" + dir + "/" + name);
      expect_allocated(as_int(img->at("allocatedBytes")), file.at("allocated_bytes").get<int64_t>(), on_disk,
                       file.at("extent_bytes").get<int64_t>(), name);
      if (name == got->at("head")) head_on_disk = on_disk;
      EXPECT_EQ(as_int(img->at("mtimeNs")), file.at("mtime_ns").get<int64_t>()) << name;
      std::vector<std::pair<int64_t, int64_t>> extents;
      for (const auto& e : img->at("extents")) extents.emplace_back(as_int(e.at("offset")), as_int(e.at("length")));
      std::vector<std::pair<int64_t, int64_t>> want_extents;
      for (const auto& e : file.at("extents_coalesced")) want_extents.emplace_back(e.at(0), e.at(1));
      EXPECT_EQ(extents, want_extents) << name;
      EXPECT_EQ(as_int(img->at("extentCount")), static_cast<int64_t>(want_extents.size())) << name;
      if (chain_set.count(name) != 0) chain_allocated += static_cast<uint64_t>(on_disk);
    }
    EXPECT_EQ(got->at("images").size(), image_files);
    // What `du` counts: every file of the directory, images and metadata alike.
    int64_t dir_on_disk = 0;
    for (const auto& file : want.at("files")) {
      dir_on_disk += allocated_on_disk(disk + "/replicas/" + dir + "/" + file.at("name").get<std::string>());
    }
    EXPECT_EQ(as_int(got->at("dirAllocatedBytes")), dir_on_disk);
    EXPECT_EQ(as_int(got->at("allocatedBytes")), static_cast<int64_t>(chain_allocated));

    // What Longhorn's replica gRPC would say about the head.
    const json& rpc = want.at("replica_opened_view").at("rpc_view");
    EXPECT_EQ(as_int(got->at("headMtimeNs")), as_int(rpc.at("lastModifyTime_ns")));
    EXPECT_EQ(as_int(got->at("headAllocatedBytes")), head_on_disk);
    EXPECT_LE(std::abs(head_on_disk - as_int(rpc.at("headFileSize_allocated"))), 2 * 4096);
  }
}

TEST(FixtureInterop, EveryCaseIsPresent) {
  auto cases = fixture_cases();
  // The seven cases the fixtures README documents; a missing one is a failure, not a skip.
  for (const char* needed : {"case1-simple", "case2-chain", "case3-salvage-pair", "case4-divergent", "case5a-dirty",
                             "case5b-rebuilding", "case5c-removed-snapshot"}) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), needed), cases.end()) << needed;
  }
}

TEST(FixtureInterop, ScanAgreesWithLonghornOnEveryCase) {
  auto cases = fixture_cases();
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) check_case(c);
}

TEST(FixtureInterop, FindingsMatchTheCases) {
  TempDir tmp;
  for (const auto& c : fixture_cases()) extract_case_as_disk(c, tmp.path());
  int rc = -1;
  std::string cmd = std::string(SENTINELCTL_PATH) + " scan --json";
  for (const auto& c : fixture_cases()) cmd += " --disk '" + tmp.path() + "/" + c + "'";
  const json inventory = json::parse(run_command(cmd, &rc));
  ASSERT_EQ(rc, 0);
  std::map<std::string, std::set<std::string>> codes_by_disk_case;
  std::map<std::string, std::string> state_by_case;
  for (const auto& r : inventory.at("replicas")) {
    std::string case_name = r.at("disk").get<std::string>().substr(tmp.path().size() + 1);
    for (const auto& f : r.at("findings")) codes_by_disk_case[case_name].insert(f.at("code").get<std::string>());
    state_by_case[case_name] = r.at("state");
  }
  EXPECT_TRUE(codes_by_disk_case["case1-simple"].empty());
  EXPECT_EQ(state_by_case["case1-simple"], "CLEAN");
  EXPECT_EQ(codes_by_disk_case["case5a-dirty"], (std::set<std::string>{"DIRTY"}));
  EXPECT_EQ(state_by_case["case5a-dirty"], "DIRTY");
  EXPECT_EQ(codes_by_disk_case["case5b-rebuilding"], (std::set<std::string>{"DIRTY", "REBUILDING"}));
  EXPECT_EQ(state_by_case["case5b-rebuilding"], "REBUILDING");
  EXPECT_TRUE(codes_by_disk_case["case5c-removed-snapshot"].empty());
  EXPECT_EQ(codes_by_disk_case["case3-salvage-pair"], (std::set<std::string>{"DIRTY"}));
}

}  // namespace
}  // namespace sentinel::testing
