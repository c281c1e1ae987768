// `sentinelctl scan --deep` as an operator runs it: --cache-dir (a re-scan reads nothing and prints the same sums,
// nothing under the disk changes, a cache under a disk is refused, a corrupt cache file is a warning) and the
// progress line (its text, and silence when stderr is not a terminal).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/scanner/fixture_support.h"
#include "tests/scanner/tree_facts.h"
#include "tools/sentinelctl/scan_progress.h"

namespace sentinel::testing {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

std::string shell_quoted(const std::string& s) { return "'" + s + "'"; }

struct CliRun {
  int rc = -1;
  std::string out;
  std::string err;
};

// Runs sentinelctl with `args`, stderr captured in a file (not a terminal).
CliRun sentinelctl(const std::string& args, const std::string& scratch) {
  CliRun run;
  const std::string err_file = scratch + "/stderr.txt";
  run.out = run_command(std::string(SENTINELCTL_PATH) + " " + args + " 2>" + shell_quoted(err_file), &run.rc);
  run.err = read_file(err_file);
  return run;
}

// The fields a deep scan computed, per "dir/image" and per dir.
std::map<std::string, std::string> deep_fields(const json& inventory) {
  std::map<std::string, std::string> out;
  for (const auto& r : inventory.at("replicas")) {
    const std::string dir = r.at("dir");
    out[dir + " contentDigest"] = r.at("contentDigest");
    std::string chunks;
    for (const auto& c : r.at("content").at("chunks")) chunks += c.at("index").get<std::string>() + ":" +
                                                                 c.at("digest").get<std::string>() + " ";
    out[dir + " chunks"] = chunks;
    for (const auto& image : r.at("images")) {
      if (image.at("crc64").get<std::string>().empty()) continue;
      out[dir + "/" + image.at("name").get<std::string>()] =
          image.at("crc64").get<std::string>() + " " + image.at("storedChecksum").at("state").get<std::string>();
    }
  }
  return out;
}

// Longhorn's fixtures as disks, atimes aged (a read without O_NOATIME would show), and old enough that the
// cache trusts them (files changed within a second of a read are not cached).
struct Disks {
  TempDir tmp;
  std::string args;
  std::string cache;
  std::string first_disk;
  Disks() {
    for (const auto& c : fixture_cases()) {
      const std::string disk = extract_case_as_disk(c, tmp.path() + "/disks");
      if (first_disk.empty()) first_disk = disk;
      args += " --disk " + shell_quoted(disk);
    }
    age_atimes(tmp.path() + "/disks");
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));
    cache = tmp.path() + "/cache";
  }
};

TEST(ScanCommandCache, SecondScanReadsNothingPrintsTheSameAndChangesNothingUnderTheDisks) {
  Disks d;
  const auto before = snapshot_tree(d.tmp.path() + "/disks");
  const std::string cmd = "scan --deep --chunks --json" + d.args + " --cache-dir " + shell_quoted(d.cache);
  const CliRun first = sentinelctl(cmd, d.tmp.path());
  ASSERT_EQ(first.rc, 0) << first.err;
  EXPECT_EQ(first.err, "") << "no progress and no warning when stderr is not a terminal";
  ASSERT_FALSE(stdfs::is_empty(d.cache));
  const CliRun second = sentinelctl(cmd, d.tmp.path());
  ASSERT_EQ(second.rc, 0) << second.err;
  EXPECT_EQ(second.err, "");

  const json a = json::parse(first.out);
  const json b = json::parse(second.out);
  EXPECT_EQ(deep_fields(a), deep_fields(b));
  size_t snapshots = 0;
  for (const auto& r : b.at("replicas")) {
    if (!r.at("contentDigest").get<std::string>().empty()) {
      EXPECT_TRUE(r.at("content").at("fromCache").get<bool>()) << r.at("dir");
      EXPECT_EQ(r.at("content").at("readBytes"), "0");
    }
    for (const auto& image : r.at("images")) {
      if (image.at("crc64").get<std::string>().empty()) continue;
      ++snapshots;
      EXPECT_TRUE(image.at("crc64FromCache").get<bool>()) << image.at("name");
      EXPECT_EQ(image.at("deepReadBytes"), "0") << image.at("name");
    }
  }
  EXPECT_GT(snapshots, 5u);
  for (const auto& r : a.at("replicas")) {
    for (const auto& image : r.at("images")) EXPECT_FALSE(image.at("crc64FromCache").get<bool>());
  }
  // Read-only, proven: neither the first scan (which wrote the cache) nor the second changed anything.
  expect_same_tree(before, snapshot_tree(d.tmp.path() + "/disks"));

  // The table says where the sums came from.
  const CliRun table = sentinelctl("scan --deep" + d.args + " --cache-dir " + shell_quoted(d.cache), d.tmp.path());
  ASSERT_EQ(table.rc, 0);
  EXPECT_NE(table.out.find("(from the cache)"), std::string::npos);
  EXPECT_NE(table.out.find("with data, from the cache"), std::string::npos);
}

TEST(ScanCommandCache, ACacheDirectoryUnderADiskIsRefused) {
  Disks d;
  const auto before = snapshot_tree(d.first_disk);
  for (const std::string& dir : {d.first_disk + "/sentinel-cache", d.first_disk + "/replicas", d.first_disk}) {
    const CliRun run = sentinelctl("scan --deep" + d.args + " --cache-dir " + shell_quoted(dir), d.tmp.path());
    EXPECT_EQ(run.rc, 2) << dir;
    EXPECT_NE(run.err.find("--cache-dir refused"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("inside the Longhorn disk"), std::string::npos) << run.err;
    EXPECT_EQ(run.out, "") << "nothing is scanned with a refused cache";
  }
  expect_same_tree(before, snapshot_tree(d.first_disk));  // nothing created, nothing touched
  // Usage errors.
  EXPECT_EQ(sentinelctl("scan" + d.args + " --cache-dir " + shell_quoted(d.cache), d.tmp.path()).rc, 2)
      << "--cache-dir without --deep";
  EXPECT_FALSE(stdfs::exists(d.cache));
  EXPECT_EQ(sentinelctl("scan --deep --progress --no-progress" + d.args, d.tmp.path()).rc, 2);
}

TEST(ScanCommandCache, ACorruptCacheFileIsIgnoredWithAWarning) {
  Disks d;
  const std::string cmd = "scan --deep --json" + d.args + " --cache-dir " + shell_quoted(d.cache);
  const CliRun first = sentinelctl(cmd, d.tmp.path());
  ASSERT_EQ(first.rc, 0);
  std::string victim;
  for (const auto& e : stdfs::directory_iterator(d.cache)) victim = e.path().string();
  ASSERT_FALSE(victim.empty());
  std::string bytes = read_file(victim);
  bytes[bytes.size() / 2] ^= 0x20;
  std::ofstream(victim, std::ios::binary | std::ios::trunc) << bytes;

  const CliRun second = sentinelctl(cmd, d.tmp.path());
  ASSERT_EQ(second.rc, 0);
  EXPECT_NE(second.err.find("warning: deep-scan cache: " + victim), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("ignored"), std::string::npos) << second.err;
  EXPECT_EQ(deep_fields(json::parse(first.out)), deep_fields(json::parse(second.out)));
  const CliRun third = sentinelctl(cmd, d.tmp.path());
  EXPECT_EQ(third.err, "") << "the entry was rebuilt by the second scan";
}

// --- progress ---

TEST(ScanProgressText, FormatsBytesRateEtaAndReplicas) {
  tools::ScanProgress p;
  p.done_bytes = 812ull << 20;
  p.total_bytes = 1624ull << 20;
  p.elapsed_seconds = 2.0;
  p.replicas_done = 2;
  p.replicas_total = 5;
  p.current = "pvc-5adeffdc-59dc1016";
  EXPECT_EQ(tools::format_scan_progress(p),
            "deep scan: 812 MiB / 1.6 GiB (50%)  406 MiB/s  ETA 0:00:02  2/5 replicas  pvc-5adeffdc-59dc1016");
  // Nothing read yet: no rate, no ETA.
  p.done_bytes = 0;
  p.current.clear();
  EXPECT_EQ(tools::format_scan_progress(p), "deep scan: 0 B / 1.6 GiB (0%)  2/5 replicas");
  // More read than planned (the plan is an estimate): capped at 100%, no ETA.
  p.done_bytes = 2ull << 30;
  p.total_bytes = 1ull << 30;
  p.replicas_total = 0;
  EXPECT_EQ(tools::format_scan_progress(p), "deep scan: 2 GiB / 1 GiB (100%)  1 GiB/s");
  // Long scans: hours in the ETA.
  p.done_bytes = 1ull << 30;
  p.total_bytes = 10000ull << 30;
  p.elapsed_seconds = 1.0;
  EXPECT_EQ(tools::format_scan_progress(p), "deep scan: 1 GiB / 9.8 TiB (0%)  1 GiB/s  ETA 2:46:39");

  tools::ScanSummary s;
  s.replicas = 3;
  s.read_bytes = 3ull << 30;
  s.elapsed_seconds = 1.5;
  EXPECT_EQ(tools::format_scan_summary(s), "deep scan: 3 replicas, 3 GiB read in 1.50 s (2 GiB/s)");
  s.cache_used = true;
  s.images_reused = 4;
  s.images_total = 5;
  s.digests_reused = 1;
  s.digests_total = 1;
  s.read_bytes = 0;
  EXPECT_EQ(tools::format_scan_summary(s),
            "deep scan: 3 replicas, 0 B read in 1.50 s; cache: 4 of 5 snapshots and 1 of 1 content digest reused");
}

TEST(ScanProgressText, ShownOnATerminalOrWhenAsked) {
  using tools::ProgressMode;
  EXPECT_TRUE(tools::progress_wanted(ProgressMode::kAuto, true));
  EXPECT_FALSE(tools::progress_wanted(ProgressMode::kAuto, false));
  EXPECT_TRUE(tools::progress_wanted(ProgressMode::kOn, false));
  EXPECT_FALSE(tools::progress_wanted(ProgressMode::kOff, true));
}

TEST(ScanProgressCommand, QuietInAPipeShownWhenAskedOrOnATerminal) {
  Disks d;
  const CliRun piped = sentinelctl("scan --deep --json" + d.args, d.tmp.path());
  ASSERT_EQ(piped.rc, 0);
  EXPECT_EQ(piped.err, "") << "progress in a pipe";
  const CliRun asked = sentinelctl("scan --deep --json --progress" + d.args, d.tmp.path());
  ASSERT_EQ(asked.rc, 0);
  EXPECT_EQ(asked.err.rfind("deep scan: ", 0), 0u) << asked.err;
  EXPECT_EQ(asked.err.find('\r'), std::string::npos) << "no carriage returns when stderr is not a terminal";
  EXPECT_EQ(json::parse(asked.out).at("replicas").size(), json::parse(piped.out).at("replicas").size())
      << "progress never goes to stdout";
  // On a terminal (script(1) gives the command one), progress is on by default and --no-progress silences it.
  int rc = -1;
  run_command("command -v script >/dev/null 2>&1", &rc);
  if (rc != 0) GTEST_SKIP() << "script(1) is not installed: the terminal half is not checked";
  const std::string typescript = d.tmp.path() + "/typescript";
  // (The disk paths are single-quoted inside; the temporary directory's name needs no quoting of its own.)
  // script -e passes sentinelctl's exit status on: a failure on a terminal fails the test.
  auto on_terminal = [&](const std::string& args) {
    run_command("script -qec \"" + std::string(SENTINELCTL_PATH) + " " + args + " >/dev/null\" " +
                    shell_quoted(typescript) + " >/dev/null 2>&1",
                &rc);
    EXPECT_EQ(rc, 0) << args;
    return stdfs::exists(typescript) ? read_file(typescript) : std::string("no typescript");
  };
  const std::string shown = on_terminal("scan --deep" + d.args);
  EXPECT_NE(shown.find("deep scan: "), std::string::npos) << shown;
  const std::string silenced = on_terminal("scan --deep --no-progress" + d.args);
  EXPECT_EQ(silenced.find("deep scan: "), std::string::npos) << silenced;
  EXPECT_NE(silenced, "no typescript");
}

}  // namespace
}  // namespace sentinel::testing
