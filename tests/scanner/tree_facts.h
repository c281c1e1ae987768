// Read-only proofs for tests: a snapshot of every file and directory under a tree (content, size, allocation,
// mtime, ctime, atime, mode, names) taken without disturbing it, so a test can show that running Sentinel over
// the tree changed nothing. Used by the scanner's read-only test and by the export/diff tests. Test-only;
// assumes the tests run as root (O_NOATIME is then always permitted).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sentinel::testing {

struct FileFacts {
  uint64_t size = 0;
  uint64_t blocks = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  int64_t atime_ns = 0;
  uint32_t mode = 0;
  size_t content_hash = 0;  // regular files only (a hash: the images are 64 MiB each)
  bool operator==(const FileFacts&) const = default;
};

// Every path under `root` (root included) -> its facts. Reads file contents with O_NOATIME.
std::map<std::string, FileFacts> snapshot_tree(const std::string& root);

// Sets every atime a day behind its mtime, so a read that forgets O_NOATIME would move it even under relatime.
// Fails the calling test (ASSERT) when a path cannot be changed.
void age_atimes(const std::string& root);

// EXPECTs that `after` has exactly the paths of `before`, each with the same facts; the messages name the path
// and the fact that moved.
void expect_same_tree(const std::map<std::string, FileFacts>& before, const std::map<std::string, FileFacts>& after);

}  // namespace sentinel::testing
