// Test support for systemd/, cmake/Packaging.cmake and deploy/: a staging install of this build tree laid out
// as the .deb lays it out, and a reader for systemd unit files. Test-only; failures throw, so a broken
// environment fails the test loudly instead of skipping it.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace sentinel::testing {

// Installs this build tree (SENTINEL_BUILD_DIR) under `root` exactly as CPack's DEB generator does: prefix /usr,
// DESTDIR=root (`DESTDIR=root cmake --install BUILD --prefix /usr`). Nothing is built; every installed target
// must already be. `strip` as CPACK_STRIP_FILES. Throws with cmake's output when the install fails.
void stage_install(const std::string& root, bool strip = false);

// A systemd unit file: section -> key -> every value in file order (keys such as SystemCallFilter repeat).
// Only what the tests need: no line continuations, no quoting rules, comments and blank lines skipped.
class UnitFile {
 public:
  explicit UnitFile(const std::string& path);
  std::vector<std::string> values(const std::string& section, const std::string& key) const;
  // The last value ("" when absent): what systemd uses for a key that does not accumulate.
  std::string value(const std::string& section, const std::string& key) const;

 private:
  std::map<std::string, std::map<std::string, std::vector<std::string>>> sections_;
};

// The words of `text` separated by white space.
std::vector<std::string> split_words(const std::string& text);

// `text` as one shell word, single-quoted.
std::string shell_quote(const std::string& text);

}  // namespace sentinel::testing
