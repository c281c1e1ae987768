// The Debian package: CPack builds it from this build tree with the project's own CPack configuration, and it
// holds the binaries, the units, the configs as conffiles, computed dependencies, and maintainer scripts that
// enable and start nothing.
//
// How it is built without rebuilding anything: `cpack` on the build tree's CPackConfig.cmake first builds the
// `preinstall` target, which depends on `all` (every test, every benchmark). CPack's DEB generator installs the
// project with DESTDIR=<staging> and prefix /usr; the test does exactly that itself (stage_install, --strip for
// CPACK_STRIP_FILES) and runs cpack with the project's CPackConfig.cmake, told to package that staged tree
// (CPACK_INSTALLED_DIRECTORIES) instead of installing again. Everything that makes the .deb what it is (name,
// version, shlibdeps, control scripts, conffiles) comes from cmake/Packaging.cmake unchanged.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "tests/scanner/fixture_support.h"
#include "tests/systemd/install_tree.h"

namespace sentinel::testing {
namespace {

namespace fs = std::filesystem;

class PackagingDeb : public ::testing::Test {
 protected:
  void SetUp() override {
    int rc = 0;
    run_command("command -v dpkg-shlibdeps 2>&1", &rc);
    ASSERT_EQ(rc, 0) << "dpkg-shlibdeps (dpkg-dev) is needed for the package's Depends: run scripts/deps.sh";
    const std::string stage = dir_.path() + "/stage";
    const std::string out = dir_.path() + "/out";
    stage_install(stage, /*strip=*/true);
    const std::string config = dir_.path() + "/CPackStaged.cmake";
    std::ofstream(config) << "include(\"" << SENTINEL_BUILD_DIR << "/CPackConfig.cmake\")\n"
                          << "set(CPACK_INSTALL_CMAKE_PROJECTS \"\")\n"
                          << "set(CPACK_INSTALLED_DIRECTORIES \"" << stage << ";/\")\n"
                          << "set(CPACK_STRIP_FILES OFF)  # stripped by the staging install\n"
                          << "set(CPACK_PACKAGE_DIRECTORY \"" << out << "\")\n";
    const std::string log = run_command("cd " + shell_quote(dir_.path()) + " && cpack -G DEB --config " +
                                            shell_quote(config) + " 2>&1",
                                        &rc);
    ASSERT_EQ(rc, 0) << log;
    for (const auto& entry : fs::directory_iterator(out)) {
      if (entry.path().extension() == ".deb") debs_.push_back(entry.path().string());
    }
    ASSERT_EQ(debs_.size(), 1u) << log;
    deb_ = debs_.front();
  }

  std::string dpkg_deb(const std::string& args) {
    int rc = 0;
    const std::string out = run_command("dpkg-deb " + args + " 2>&1", &rc);
    EXPECT_EQ(rc, 0) << "dpkg-deb " << args << ": " << out;
    return out;
  }

  TempDir dir_;
  std::vector<std::string> debs_;
  std::string deb_;
};

TEST_F(PackagingDeb, ListsTheBinariesUnitsConfigsAndSysusersEntry) {
  EXPECT_TRUE(std::regex_match(fs::path(deb_).filename().string(), std::regex(R"(sentinel_[0-9.]+_[a-z0-9]+\.deb)")))
      << deb_;
  const std::string listing = dpkg_deb("-c " + shell_quote(deb_));
  std::cout << listing;
  const std::string unit_dir = std::string(".") + SENTINEL_SYSTEMD_UNIT_DIR + "/";
  const std::string config_dir = std::string(".") + SENTINEL_CONFIG_DIR + "/";
  for (const std::string& path :
       {std::string("./usr/sbin/sentinel-agent"), std::string("./usr/sbin/sentinel-collector"),
        std::string("./usr/bin/sentinelctl"), unit_dir + "sentinel-agent.service", unit_dir + "sentinel-agent.socket",
        unit_dir + "sentinel-collector.service", config_dir + "agent.conf", config_dir + "collector.conf",
        std::string("./usr/lib/sysusers.d/sentinel.conf"), std::string("./usr/share/doc/sentinel/README.md")}) {
    EXPECT_TRUE(std::regex_search(listing, std::regex(" " + std::regex_replace(path, std::regex(R"([.+])"), R"(\$&)") +
                                                      "(\n|$)")))
        << path << " is not in the package";
  }
  for (const std::string binary : {"sbin/sentinel-agent", "sbin/sentinel-collector", "bin/sentinelctl"}) {
    EXPECT_TRUE(std::regex_search(listing, std::regex("-rwxr-xr-x root/root .* \\./usr/" + binary)))
        << binary << " is not an executable owned by root";
  }
}

TEST_F(PackagingDeb, ControlFieldsAndDependenciesAreComputed) {
  EXPECT_EQ(dpkg_deb("-f " + shell_quote(deb_) + " Package"), "sentinel\n");
  const std::string depends = dpkg_deb("-f " + shell_quote(deb_) + " Depends");
  std::cout << "Depends: " << depends;
  // dpkg-shlibdeps from the binaries' NEEDED libraries: libc6 and libsystemd0 at least.
  for (const char* library : {"libc6", "libsystemd0", "libstdc++6"}) {
    EXPECT_NE(depends.find(library), std::string::npos) << "Depends lacks " << library;
  }
}

TEST_F(PackagingDeb, ConfigsAreConffilesAndMaintainerScriptsEnableAndStartNothing) {
  const std::string control = dir_.path() + "/control";
  dpkg_deb("-e " + shell_quote(deb_) + " " + shell_quote(control));
  const std::string conffiles = read_file(control + "/conffiles");
  EXPECT_NE(conffiles.find(std::string(SENTINEL_CONFIG_DIR) + "/agent.conf\n"), std::string::npos) << conffiles;
  EXPECT_NE(conffiles.find(std::string(SENTINEL_CONFIG_DIR) + "/collector.conf\n"), std::string::npos) << conffiles;

  const std::regex systemctl_verb(R"(systemctl\s+(?:--\S+\s+)*([a-z-]+))");
  for (const std::string script : {"postinst", "prerm", "postrm"}) {
    const std::string path = control + "/" + script;
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << script << " is missing";
    EXPECT_EQ(st.st_mode & 0777, 0755u) << script;
    int rc = 0;
    const std::string syntax = run_command("sh -n " + shell_quote(path) + " 2>&1", &rc);
    EXPECT_EQ(rc, 0) << script << " is not valid sh: " << syntax;
    // The commands, not the comments that explain them.
    std::string text;
    {
      std::istringstream lines(read_file(path));
      std::string line;
      while (std::getline(lines, line)) {
        const auto first = line.find_first_not_of(" \t");
        if (first != std::string::npos && line[first] != '#') text += line + "\n";
      }
    }
    std::set<std::string> verbs;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), systemctl_verb); it != std::sregex_iterator(); ++it) {
      verbs.insert((*it)[1]);
    }
    for (const auto& verb : verbs) {
      // daemon-reload everywhere; stop only in prerm (the package is being removed: no daemon may keep running
      // from deleted files). Never enable, start, restart, reload or mask.
      EXPECT_TRUE(verb == "daemon-reload" || (verb == "stop" && script == "prerm"))
          << script << " runs systemctl " << verb;
    }
    for (const char* forbidden : {"deb-systemd-invoke", "invoke-rc.d", "update-rc.d"}) {
      EXPECT_EQ(text.find(forbidden), std::string::npos) << script << " uses " << forbidden;
    }
  }
  EXPECT_NE(read_file(control + "/postinst").find("systemctl daemon-reload"), std::string::npos);
}

TEST_F(PackagingDeb, UnitsInThePackageRunThePackagesBinaries) {
  int rc = 0;
  const std::string unit = run_command("dpkg-deb --fsys-tarfile " + shell_quote(deb_) + " | tar -xO ." +
                                           SENTINEL_SYSTEMD_UNIT_DIR + "/sentinel-agent.service",
                                       &rc);
  ASSERT_EQ(rc, 0);
  EXPECT_NE(unit.find("\nExecStart=/usr/sbin/sentinel-agent --config " + std::string(SENTINEL_CONFIG_DIR) +
                      "/agent.conf\n"),
            std::string::npos)
      << unit;
  EXPECT_FALSE(std::regex_search(unit, std::regex("@[A-Z_]+@"))) << "a placeholder was left unfilled";
}

}  // namespace
}  // namespace sentinel::testing
