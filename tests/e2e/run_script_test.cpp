// ./scripts/run, the README's first command, on its bundled sample: it shows both replicas of the split volume
// with their nodes, sizes and counters and the recommended salvage set, exits 0, and leaves no process of its
// own behind. The test runs the script against this build's binaries (SENTINEL_RUN_NO_BUILD=1).
#include <dirent.h>

#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "tests/scanner/fixture_support.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::testing {
namespace {

// Processes whose command line mentions `needle`.
std::vector<std::string> processes_mentioning(const std::string& needle) {
  std::vector<std::string> found;
  DIR* proc = ::opendir("/proc");
  while (dirent* entry = proc ? ::readdir(proc) : nullptr) {
    const std::string pid = entry->d_name;
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in("/proc/" + pid + "/cmdline");
    std::string cmdline((std::istreambuf_iterator<char>(in)), {});
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(needle) != std::string::npos) found.push_back(pid + ": " + cmdline);
  }
  if (proc) ::closedir(proc);
  return found;
}

TEST(RunScript, ShowsTheSplitVolumeAndItsPlanThenStopsEverything) {
  int code = -1;
  const std::string out = run_command("SENTINEL_RUN_NO_BUILD=1 SENTINEL_BUILD_DIR=" SENTINEL_BINARY_DIR " "
                                      SENTINEL_SOURCE_DIR "/scripts/run 2>&1 </dev/null",
                                      &code);
  ASSERT_EQ(code, 0) << out;
  const std::string volume = treegen::kSplitVolume;
  // The fleet view: both replicas, their nodes, sizes and revision counters.
  const std::regex worker1("worker-1 +" + volume + "-[0-9a-f]{8} +DIRTY +40 GiB +[0-9.]+ [KM]iB +[0-9]+ ");
  const std::regex worker2("worker-2 +" + volume + "-[0-9a-f]{8} +DIRTY +40 GiB +[0-9.]+ [KM]iB +[0-9]+ ");
  EXPECT_TRUE(std::regex_search(out, worker1)) << out;
  EXPECT_TRUE(std::regex_search(out, worker2)) << out;
  // The plan: worker-1's replica recommended.
  const std::regex recommended("RECOMMENDED[^\n]*\n +worker-1 +[^\n]*/replicas/" + volume + "-[0-9a-f]{8}\n");
  EXPECT_TRUE(std::regex_search(out, recommended)) << out;
  // Nothing of this run is still running.
  std::smatch work;
  ASSERT_TRUE(std::regex_search(out, work, std::regex("Store: (/[^ ]*/sentinel-run-[A-Za-z0-9]+)/")));
  EXPECT_TRUE(processes_mentioning(work[1].str()).empty())
      << "left behind:\n" << ::testing::PrintToString(processes_mentioning(work[1].str()));
}

}  // namespace
}  // namespace sentinel::testing
