#include "tests/systemd/install_tree.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "tests/scanner/fixture_support.h"

namespace sentinel::testing {

void stage_install(const std::string& root, bool strip) {
  int rc = 0;
  const std::string out = run_command("DESTDIR=" + shell_quote(root) + " cmake --install " +
                                          shell_quote(SENTINEL_BUILD_DIR) + " --prefix /usr" +
                                          (strip ? " --strip" : "") + " 2>&1",
                                      &rc);
  if (rc != 0) throw std::runtime_error("cmake --install into " + root + " failed:\n" + out);
}

UnitFile::UnitFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read unit file " + path);
  std::string line, section;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#' || line[first] == ';') continue;
    if (line[first] == '[') {
      section = line.substr(first + 1, line.find(']') - first - 1);
      continue;
    }
    const auto equals = line.find('=');
    if (equals == std::string::npos) continue;
    auto trim = [](std::string s) {
      s.erase(0, s.find_first_not_of(" \t"));
      s.erase(s.find_last_not_of(" \t\r") + 1);
      return s;
    };
    sections_[section][trim(line.substr(0, equals))].push_back(trim(line.substr(equals + 1)));
  }
}

std::vector<std::string> UnitFile::values(const std::string& section, const std::string& key) const {
  const auto s = sections_.find(section);
  if (s == sections_.end()) return {};
  const auto k = s->second.find(key);
  return k == s->second.end() ? std::vector<std::string>{} : k->second;
}

std::string UnitFile::value(const std::string& section, const std::string& key) const {
  const auto all = values(section, key);
  return all.empty() ? "" : all.back();
}

std::vector<std::string> split_words(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  std::string word;
  while (in >> word) words.push_back(word);
  return words;
}

std::string shell_quote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace sentinel::testing
