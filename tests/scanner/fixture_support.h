// Test support for Longhorn's fixture archives (../shared/fixtures): temporary trees, extraction, running
// the real sentinelctl. Test-only; throws on setup failures so a broken environment fails loudly.
#pragma once

#include <string>
#include <vector>

namespace sentinel::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string fixtures_dir();

// Case names ("case1-simple", ...) listed in the fixtures' manifest.json; every one must have its .tar and
// .expected.json (throws otherwise, so a missing case fails the test instead of being skipped).
std::vector<std::string> fixture_cases();

// Extracts <case>.tar into <dest>/replicas/ (a Longhorn disk layout) and syncs it, so st_blocks is final.
// Returns the disk path (<dest>).
std::string extract_case_as_disk(const std::string& case_name, const std::string& dest);

// Runs a shell command, returns its stdout; `exit_code` receives the exit status.
std::string run_command(const std::string& command, int* exit_code);

std::string read_file(const std::string& path);

}  // namespace sentinel::testing
