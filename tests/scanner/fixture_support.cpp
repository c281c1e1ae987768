#include "tests/scanner/fixture_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>

namespace sentinel::testing {

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/sentinel-test-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string fixtures_dir() { return SENTINEL_FIXTURES_DIR; }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<std::string> fixture_cases() {
  auto manifest = nlohmann::json::parse(read_file(fixtures_dir() + "/manifest.json"));
  std::vector<std::string> cases;
  for (const auto& file : manifest.at("files")) {
    std::string name = file.at("file").get<std::string>();
    const std::string suffix = ".tar";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      std::string c = name.substr(0, name.size() - suffix.size());
      for (const std::string& needed : {fixtures_dir() + "/" + c + ".tar", fixtures_dir() + "/" + c + ".expected.json"}) {
        if (!std::filesystem::exists(needed)) throw std::runtime_error("fixture missing: " + needed);
      }
      cases.push_back(c);
    }
  }
  return cases;
}

std::string run_command(const std::string& command, int* exit_code) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string out;
  std::array<char, 65536> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  if (exit_code != nullptr) *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string extract_case_as_disk(const std::string& case_name, const std::string& dest) {
  const std::string disk = dest + "/" + case_name;
  std::filesystem::create_directories(disk + "/replicas");
  int rc = 0;
  run_command("tar -xf '" + fixtures_dir() + "/" + case_name + ".tar' -C '" + disk + "/replicas' 2>&1", &rc);
  if (rc != 0) throw std::runtime_error("tar failed for " + case_name);
  // Freshly extracted files sit in delayed allocation; st_blocks is final only after writeback.
  ::sync();
  return disk;
}

}  // namespace sentinel::testing
