// The systemd units as installed: systemd-analyze accepts them and rates the agent's exposure, and the agent
// (and the collector) work under the restrictions their units put on them.
//
// Every test starts from a staging install of this build tree, laid out as the .deb lays it out
// (install_tree.h): the units are the installed files, with ExecStart= filled in by the install rules, and the
// binaries they run are the installed copies.
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <optional>
#include <set>
#include <sstream>

#include "proto/wire/blocking_socket.h"
#include "tests/daemon/test_collector.h"
#include "tests/scanner/fixture_support.h"
#include "tests/support/child_process.h"
#include "tests/systemd/install_tree.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kUnitDir = SENTINEL_SYSTEMD_UNIT_DIR;  // absolute, inside the staging root
const std::vector<std::string> kUnits = {"sentinel-agent.service", "sentinel-agent.socket",
                                         "sentinel-collector.service"};
// The uid standing in for the units' User= (sentinel, sentinel-collector), which this machine need not have:
// what matters is a uid that owns nothing but the directories handed to it.
constexpr const char* kServiceUid = "65534";

// The command of an Exec*= line: the first word without systemd's prefixes (-, @, +, !, :).
std::string exec_path(const std::string& line) {
  const auto words = split_words(line);
  if (words.empty()) return "";
  return words.front().substr(words.front().find_first_not_of("-@+!:"));
}

// "CAP_DAC_READ_SEARCH CAP_X" -> "-all,+dac_read_search,+x" (setpriv's syntax for the same set).
std::string setpriv_caps(const std::string& unit_value) {
  std::string caps = "-all";
  for (std::string cap : split_words(unit_value)) {
    if (cap.rfind("CAP_", 0) == 0) cap = cap.substr(4);
    for (char& c : cap) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    caps += ",+" + cap;
  }
  return caps;
}

// setpriv with what the unit's [Service] says about credentials: the service uid in place of User=,
// CapabilityBoundingSet=, AmbientCapabilities= (also inheritable, which ambient requires), NoNewPrivileges=.
// `caps_instead` (setpriv syntax) replaces the unit's capabilities in all three sets.
std::vector<std::string> setpriv_for(const UnitFile& unit, const std::optional<std::string>& caps_instead = {}) {
  const std::string bounding = caps_instead.value_or(setpriv_caps(unit.value("Service", "CapabilityBoundingSet")));
  const std::string ambient = caps_instead.value_or(setpriv_caps(unit.value("Service", "AmbientCapabilities")));
  std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid",      kServiceUid, "--regid",  kServiceUid,
                                   "--clear-groups",   "--bounding-set", bounding,  "--inh-caps", ambient,
                                   "--ambient-caps",   ambient};
  if (unit.value("Service", "NoNewPrivileges") == "yes") argv.push_back("--no-new-privs");
  argv.push_back("--");
  return argv;
}

class StagedUnits : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/root";
    stage_install(root_);
  }
  std::string unit_path(const std::string& unit) const { return root_ + kUnitDir + "/" + unit; }
  UnitFile unit(const std::string& name) const { return UnitFile(unit_path(name)); }

  // ExecStart= of a unit as argv, every absolute path that exists in the staging root mapped into it.
  std::vector<std::string> staged_exec_start(const std::string& name) const {
    std::vector<std::string> argv;
    for (const auto& word : split_words(unit(name).value("Service", "ExecStart"))) {
      argv.push_back(!word.empty() && word[0] == '/' && fs::exists(root_ + word) ? root_ + word : word);
    }
    return argv;
  }

  TempDir dir_;
  std::string root_;
};

// --- systemd-analyze ----------------------------------------------------------------------------------------

using SystemdUnits = StagedUnits;

TEST_F(SystemdUnits, InstalledUnitsRunTheInstalledBinariesWithTheInstalledConfigs) {
  for (const std::string name : {"sentinel-agent.service", "sentinel-collector.service"}) {
    const UnitFile service = unit(name);
    const auto words = split_words(service.value("Service", "ExecStart"));
    ASSERT_GE(words.size(), 3u) << name;
    EXPECT_EQ(words[0], "/usr/sbin/" + name.substr(0, name.find('.'))) << "the package's prefix is /usr";
    EXPECT_TRUE(::access((root_ + words[0]).c_str(), X_OK) == 0) << words[0] << " is not installed";
    EXPECT_EQ(words[1], "--config");
    EXPECT_TRUE(fs::is_regular_file(root_ + words[2])) << words[2] << " is not installed";
    EXPECT_EQ(service.value("Service", "Type"), "notify");
    EXPECT_FALSE(service.value("Service", "WatchdogSec").empty());
    EXPECT_EQ(service.value("Service", "Restart"), "on-failure");
  }
  EXPECT_EQ(unit("sentinel-agent.socket").value("Socket", "ListenStream"), "/run/sentinel/agent.sock");
  EXPECT_EQ(unit("sentinel-agent.service").value("Service", "ExecReload"), "/bin/kill -HUP $MAINPID");
}

// `systemd-analyze verify --root=R` reads the units from R and checks every command they name exists in R. R is
// the staging install plus the rest of an OS copied from this host: its units (sysinit.target,
// network-online.target, ...) and the non-Sentinel commands the units name (/bin/kill). Sentinel's binaries
// are never copied in: they must be where the install put them. verify exits 0 on mere warnings (an unknown
// key, a bad value), so any output at all fails the test. The last step removes an installed binary and
// expects verify to notice, so a verify that checks nothing would fail here.
TEST_F(SystemdUnits, VerifyPassesOnEveryUnitAgainstTheInstalledTree) {
  int rc = 0;
  const std::string host_units = run_command("pkg-config --variable=systemdsystemunitdir systemd", &rc);
  const std::string host_unit_dir = rc == 0 && host_units.size() > 1 ? split_words(host_units)[0]
                                                                     : std::string("/lib/systemd/system");
  run_command("cp -rn " + shell_quote(host_unit_dir) + "/. " + shell_quote(root_ + kUnitDir) + "/ 2>&1", &rc);
  ASSERT_EQ(rc, 0);
  for (const auto& name : kUnits) {
    const UnitFile file = unit(name);
    for (const char* key : {"ExecStart", "ExecReload", "ExecStartPre", "ExecStop"}) {
      for (const auto& line : file.values("Service", key)) {
        const std::string path = exec_path(line);
        if (path.find("/sentinel") != std::string::npos) {
          ASSERT_TRUE(fs::exists(root_ + path)) << name << " runs " << path << ", which the install did not put there";
        } else if (!fs::exists(root_ + path)) {
          fs::create_directories(fs::path(root_ + path).parent_path());
          fs::copy_file(path, root_ + path);  // part of the OS, not of Sentinel
        }
      }
    }
  }
  std::string units;
  for (const auto& name : kUnits) units += " " + name;
  const std::string verify = "systemd-analyze verify --root=" + shell_quote(root_) + units + " 2>&1";
  const std::string out = run_command(verify, &rc);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "systemd-analyze verify complained";

  fs::rename(root_ + "/usr/sbin/sentinel-agent", root_ + "/usr/sbin/sentinel-agent.moved");
  const std::string broken = run_command(verify, &rc);
  EXPECT_NE(rc, 0);
  EXPECT_NE(broken.find("/usr/sbin/sentinel-agent is not executable"), std::string::npos) << broken;
}

// "→ Overall exposure level for sentinel-agent.service: 2.0 OK 🙂" -> 2.0
double exposure_of(const std::string& root, const std::string& unit_name, std::string* report) {
  int rc = 0;
  *report = run_command("systemd-analyze security --offline=true --root=" + shell_quote(root) + " " + unit_name +
                            " 2>&1",
                        &rc);
  std::smatch match;
  static const std::regex kOverall("Overall exposure level for [^:]+: ([0-9]+\\.[0-9]+)");
  if (!std::regex_search(*report, match, kOverall)) return -1;
  return std::stod(match[1]);
}

TEST_F(SystemdUnits, AgentSecurityExposureIsAtMostTwoAndAHalf) {
  std::string report;
  const double exposure = exposure_of(root_, "sentinel-agent.service", &report);
  ASSERT_GE(exposure, 0) << "no overall exposure level in:\n" << report;
  std::cout << "systemd-analyze security sentinel-agent.service: overall exposure " << exposure << "\n";
  RecordProperty("agent_exposure", std::to_string(exposure));
  EXPECT_LE(exposure, 2.5) << report;
}

TEST_F(SystemdUnits, CollectorSecurityExposureIsAtMostTwoAndAHalf) {
  std::string report;
  const double exposure = exposure_of(root_, "sentinel-collector.service", &report);
  ASSERT_GE(exposure, 0) << "no overall exposure level in:\n" << report;
  std::cout << "systemd-analyze security sentinel-collector.service: overall exposure " << exposure << "\n";
  RecordProperty("collector_exposure", std::to_string(exposure));
  EXPECT_LE(exposure, 2.5) << report;
}

// --- Running under the units' restrictions ------------------------------------------------------------------

// The restrictions of the units that can be reproduced without systemd as PID 1, applied to the installed
// binaries with the installed configs:
//   file system   tests/systemd/sandbox.sh in a private mount namespace: everything read-only
//                 (ProtectSystem=strict), the Longhorn disks bound read-only (ReadOnlyPaths=), only the state
//                 and runtime directories writable (StateDirectory=, RuntimeDirectory=), UMask=0077;
//   credentials   setpriv: a uid that owns nothing else (User=), the unit's CapabilityBoundingSet= and
//                 AmbientCapabilities=, NoNewPrivileges=;
//   system calls  strace fault injection (AgentWorksUnderTheUnitsSystemCallFilter): what SystemCallFilter=
//                 refuses fails with EPERM; every call made and every socket family opened is checked against
//                 SystemCallFilter= and RestrictAddressFamilies=.
// Not reproduced: PrivateTmp, PrivateDevices, PrivateIPC, Protect{Kernel*,Clock,Hostname,ControlGroups,Home},
// ProcSubset, MemoryDenyWriteExecute, LockPersonality, Restrict{Namespaces,Realtime,SUIDSGID}: they take away
// what the agent never uses (and the read-only file system above is already stricter than PrivateTmp).
class SystemdHardening : public StagedUnits {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (mount namespaces, setpriv, a root-owned disk tree)";
    int rc = 0;
    const std::string out = run_command("unshare --mount --propagation private true 2>&1", &rc);
    if (rc != 0) GTEST_SKIP() << "cannot create a mount namespace here: " << out;
    StagedUnits::SetUp();
    agent_unit_ = std::make_unique<UnitFile>(unit_path("sentinel-agent.service"));

    // Longhorn's replica directories belong to root and nobody else may read them: only
    // CAP_DAC_READ_SEARCH lets the agent's uid in. The test directory itself stays traversable.
    fs::permissions(dir_.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    disks_ = dir_.path() + "/disks";
    ASSERT_TRUE(treegen::write_incident_sample(disks_));
    for (const auto& disk : fs::directory_iterator(disks_)) {
      run_command("chmod -R go-rwx " + shell_quote(disk.path().string() + "/replicas"), &rc);
      ASSERT_EQ(rc, 0);
      for (const auto& replica : fs::directory_iterator(disk.path() / "replicas")) {
        if (replica.is_directory()) expected_.insert(disk.path().string() + "/" + replica.path().filename().string());
      }
    }
    ASSERT_GE(expected_.size(), 3u);
    state_ = dir_.path() + "/state";
    run_ = dir_.path() + "/run";
    for (const auto& dir : {state_, run_}) {
      fs::create_directories(dir);
      ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
    }
    socket_ = run_ + "/agent.sock";
    log_ = dir_.path() + "/agent.log";
  }
  void TearDown() override {
    if (HasFailure() && fs::exists(log_)) std::cerr << "--- agent log ---\n" << read_file(log_) << "\n";
  }

  // The agent's argv: its unit's ExecStart (installed binary, installed agent.conf) and the test's own disks,
  // node, socket, state dir and collector. --socket-group 65534 replaces agent.conf's `sentinel` group (this
  // machine need not have it); like sentinel for the sentinel user, it is the agent's own group, so the chown
  // of the socket goes through the unit's system call filter without CAP_CHOWN.
  std::vector<std::string> agent_argv(const std::string& collector) const {
    auto argv = staged_exec_start("sentinel-agent.service");
    for (const auto& disk : {"worker-1", "worker-2"}) {
      argv.insert(argv.end(), {"--disk", disks_ + "/" + disk});
    }
    argv.insert(argv.end(), {"--node", "worker-1", "--socket", socket_, "--state-dir", state_, "--socket-group",
                             kServiceUid, "--collector", collector,
                             "--quick-interval", "1h", "--log-level", "debug"});
    return argv;
  }

  // `command` in tests/systemd/sandbox.sh: only `writable` may be written; the disks are bound read-only.
  std::vector<std::string> in_sandbox(const std::vector<std::string>& writable,
                                      const std::vector<std::string>& command) const {
    std::vector<std::string> argv = {"/usr/bin/unshare", "--mount",   "--propagation", "private",
                                     "/bin/sh",          SENTINEL_SANDBOX_SCRIPT, "--read-only", disks_,
                                     "--writable"};
    argv.insert(argv.end(), writable.begin(), writable.end());
    argv.insert(argv.end(), {"--outside", dir_.path(), "/var/tmp", "--"});
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

  std::string ctl(const std::string& args, int* rc) const {
    return run_command(shell_quote(root_ + "/usr/bin/sentinelctl") + " " + args + " 2>&1", rc);
  }

  // disk/dir of every replica in an inventory, and the UNREADABLE findings anywhere in it.
  static std::set<std::string> replicas_of(const nlohmann::json& inventory, std::vector<std::string>* unreadable) {
    std::set<std::string> seen;
    if (!inventory.is_object()) return seen;  // no inventory at all (the scan could not run)
    auto collect = [&](const nlohmann::json& findings) {
      for (const auto& finding : findings) {
        if (finding.value("code", "") == "UNREADABLE") unreadable->push_back(finding.value("path", ""));
      }
    };
    for (const auto& disk : inventory.value("disks", nlohmann::json::array())) {
      collect(disk.value("findings", nlohmann::json::array()));
    }
    for (const auto& replica : inventory.value("replicas", nlohmann::json::array())) {
      seen.insert(replica.value("disk", "") + "/" + replica.value("dir", ""));
      collect(replica.value("findings", nlohmann::json::array()));
    }
    return seen;
  }

  std::map<std::string, int64_t> access_times() const {
    std::map<std::string, int64_t> times;
    for (const auto& entry : fs::recursive_directory_iterator(disks_)) {
      struct stat st {};
      if (entry.is_regular_file() && ::stat(entry.path().c_str(), &st) == 0) {
        times[entry.path().string()] = st.st_atim.tv_sec * 1'000'000'000LL + st.st_atim.tv_nsec;
      }
    }
    return times;
  }

  std::unique_ptr<UnitFile> agent_unit_;
  std::string disks_, state_, run_, socket_, log_;
  std::set<std::string> expected_;  // <disk>/<dir> of every replica directory in the tree
};

TEST_F(SystemdHardening, AgentScansEveryReplicaUnderItsUnitsRestrictions) {
  // What sandbox.sh reproduces must be what the unit says: all read-only but the state and runtime directories,
  // the Longhorn disk read-only, and no path (least of all one under a Longhorn disk) made writable again.
  const UnitFile& unit = *agent_unit_;
  EXPECT_EQ(unit.value("Service", "ProtectSystem"), "strict");
  EXPECT_EQ(unit.value("Service", "StateDirectory"), "sentinel");
  EXPECT_EQ(unit.value("Service", "RuntimeDirectory"), "sentinel");
  EXPECT_EQ(unit.value("Service", "UMask"), "0077");
  const auto read_only = unit.values("Service", "ReadOnlyPaths");
  EXPECT_TRUE(std::find(read_only.begin(), read_only.end(), "-/var/lib/longhorn") != read_only.end() ||
              std::find(read_only.begin(), read_only.end(), "/var/lib/longhorn") != read_only.end());
  for (const char* writable : {"ReadWritePaths", "BindPaths", "TemporaryFileSystem", "LogsDirectory",
                               "CacheDirectory", "ConfigurationDirectory"}) {
    EXPECT_TRUE(unit.values("Service", writable).empty()) << writable << "= makes more writable than sandbox.sh does";
  }
  EXPECT_NE(unit.value("Service", "User"), "root");
  EXPECT_FALSE(unit.value("Service", "User").empty());

  const auto atimes_before = access_times();
  const int port = free_tcp_port();
  TestCollector collector(port);
  auto command = setpriv_for(*agent_unit_);
  const auto agent_args = agent_argv("127.0.0.1:" + std::to_string(port));
  command.insert(command.end(), agent_args.begin(), agent_args.end());
  ChildProcess agent(in_sandbox({state_, run_}, command), {}, log_);
  ASSERT_TRUE(wait_until([&] { return fs::exists(socket_) || !agent.running(); }, 20s));
  ASSERT_TRUE(agent.running()) << "the agent exited (97: the sandbox did not hold)";

  int rc = 0;
  const std::string quick = ctl("scan --socket " + shell_quote(socket_) + " --json", &rc);
  ASSERT_EQ(rc, 0) << quick;
  std::vector<std::string> unreadable;
  EXPECT_EQ(replicas_of(nlohmann::json::parse(quick), &unreadable), expected_);
  EXPECT_TRUE(unreadable.empty()) << "unreadable: " << unreadable.front();

  // A deep scan reads every allocated byte (io_uring, or pread where io_uring is refused).
  const std::string deep = ctl("scan --socket " + shell_quote(socket_) + " --deep --json", &rc);
  ASSERT_EQ(rc, 0) << deep;
  const auto inventory = nlohmann::json::parse(deep);
  EXPECT_EQ(replicas_of(inventory, &unreadable), expected_);
  EXPECT_TRUE(unreadable.empty());
  for (const auto& replica : inventory["replicas"]) {
    EXPECT_EQ(replica.value("contentDigest", "").size(), 32u) << replica.value("dir", "") << " was not read";
  }

  // Reports are spooled in the state directory and reach the collector.
  ASSERT_TRUE(wait_until([&] { return collector.stored("worker-1").size() >= 2; }, 15s));
  EXPECT_EQ(collector.last_report("worker-1").inventory().replicas_size(), static_cast<int>(expected_.size()));

  // systemctl reload: SIGHUP re-reads the installed agent.conf inside the sandbox.
  agent.signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return read_file(log_).find("SIGHUP: configuration reloaded") != std::string::npos; },
                         5s))
      << "no reload in the log";
  ASSERT_TRUE(agent.running());
  ctl("status --socket " + shell_quote(socket_), &rc);
  EXPECT_EQ(rc, 0);

  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_for_exit(5s), 0);
  EXPECT_FALSE(fs::exists(socket_)) << "the agent could not remove its socket from its runtime directory";
  EXPECT_EQ(access_times(), atimes_before) << "reading the replicas changed their access times";
}

// The capability set is what makes the replicas readable: without it the same uid sees none of them. (For a
// bounding set of several capabilities this would drop each in turn.)
TEST_F(SystemdHardening, ReadingRootsReplicasNeedsTheUnitsCapabilitiesAndNoMore) {
  const std::string scan = shell_quote(root_ + "/usr/bin/sentinelctl") + " scan --json --disk " +
                           shell_quote(disks_ + "/worker-1") + " --disk " + shell_quote(disks_ + "/worker-2");
  auto as = [&](const std::vector<std::string>& setpriv) {
    std::string command;
    for (const auto& word : setpriv) command += shell_quote(word) + " ";
    int rc = 0;
    return run_command(command + scan + " 2>/dev/null", &rc);
  };
  std::vector<std::string> unreadable;
  const std::string with_caps = as(setpriv_for(*agent_unit_));
  EXPECT_EQ(replicas_of(nlohmann::json::parse(with_caps, nullptr, false), &unreadable), expected_);
  EXPECT_TRUE(unreadable.empty());

  const auto bounding = split_words(agent_unit_->value("Service", "CapabilityBoundingSet"));
  ASSERT_FALSE(bounding.empty());
  for (const auto& dropped : bounding) {
    std::string rest;
    for (const auto& cap : bounding) rest += cap == dropped ? "" : cap + " ";
    unreadable.clear();
    const auto seen =
        replicas_of(nlohmann::json::parse(as(setpriv_for(*agent_unit_, setpriv_caps(rest))), nullptr, false),
                    &unreadable);
    EXPECT_TRUE(seen != expected_ || !unreadable.empty()) << "every replica was readable without " << dropped;
  }
}

// One HTTP/1.1 GET on 127.0.0.1; the whole response ("" when the connection fails).
std::string http_get(const std::string& host_port, const std::string& path) {
  std::string error;
  wire::UniqueFd fd = wire::connect_tcp(host_port, &error);
  if (!fd) return "";
  const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  if (!wire::send_bytes(fd.get(), request, 5s, &error)) return "";
  timeval timeout{5, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  std::string response;
  char buf[65536];
  ssize_t n;
  while ((n = ::recv(fd.get(), buf, sizeof buf, 0)) > 0) response.append(buf, static_cast<size_t>(n));
  return response;
}

// The collector under its unit's restrictions (no capabilities at all, only its state directory writable),
// with the installed collector.conf, and the hardened agent reporting to it: the whole path, both confined.
TEST_F(SystemdHardening, AgentReportsToTheCollectorBothUnderTheirUnitsRestrictions) {
  const UnitFile collector_unit = unit("sentinel-collector.service");
  EXPECT_EQ(collector_unit.value("Service", "CapabilityBoundingSet"), "") << "the collector needs no capability";
  const std::string store = dir_.path() + "/collector-state";
  fs::create_directories(store);
  ASSERT_EQ(::chown(store.c_str(), 65534, 65534), 0);
  auto collector_command = setpriv_for(collector_unit);
  const auto exec = staged_exec_start("sentinel-collector.service");
  collector_command.insert(collector_command.end(), exec.begin(), exec.end());
  collector_command.insert(collector_command.end(), {"--db", store + "/sentinel.db", "--listen", "127.0.0.1:0",
                                                     "--http", "127.0.0.1:0", "--port-file", store + "/ports"});
  const std::string collector_log = dir_.path() + "/collector.log";
  ChildProcess collector(in_sandbox({store}, collector_command), {}, collector_log);
  ASSERT_TRUE(wait_until([&] { return fs::exists(store + "/ports") || !collector.running(); }, 20s));
  ASSERT_TRUE(collector.running()) << read_file(collector_log);
  std::map<std::string, std::string> ports;
  {
    std::istringstream lines(read_file(store + "/ports"));
    std::string line;
    while (std::getline(lines, line)) ports[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
  }
  ASSERT_TRUE(ports.count("listen") && ports.count("http")) << read_file(store + "/ports");
  EXPECT_EQ(http_get(ports["http"], "/healthz").rfind("HTTP/1.1 200", 0), 0u);

  auto agent_command = setpriv_for(*agent_unit_);
  const auto agent_args = agent_argv(ports["listen"]);
  agent_command.insert(agent_command.end(), agent_args.begin(), agent_args.end());
  ChildProcess agent(in_sandbox({state_, run_}, agent_command), {}, log_);
  EXPECT_TRUE(wait_until([&] { return http_get(ports["http"], "/v1/nodes").find("worker-1") != std::string::npos; },
                         20s))
      << "the collector never listed the agent's node:\n"
      << http_get(ports["http"], "/v1/nodes") << "\n--- collector log ---\n"
      << read_file(collector_log);

  agent.signal(SIGTERM);
  EXPECT_EQ(agent.wait_for_exit(5s), 0);
  collector.signal(SIGTERM);
  EXPECT_EQ(collector.wait_for_exit(10s), 0) << read_file(collector_log);
}

// --- System calls -------------------------------------------------------------------------------------------

// The system calls one SystemCallFilter= word stands for: a name, or a @group expanded by systemd-analyze
// (groups nest).
std::set<std::string> expand_syscalls(const std::string& word) {
  if (word.empty() || word[0] != '@') return {word};
  int rc = 0;
  const std::string out = run_command("systemd-analyze syscall-filter " + shell_quote(word) + " 2>/dev/null", &rc);
  if (rc != 0) throw std::runtime_error("systemd-analyze syscall-filter " + word + " failed");
  std::set<std::string> names;
  std::istringstream lines(out);
  std::string line;
  std::getline(lines, line);  // the group's own name
  while (std::getline(lines, line)) {
    const auto words = split_words(line);
    if (words.empty() || words[0][0] == '#') continue;
    const auto inner = expand_syscalls(words[0]);
    names.insert(inner.begin(), inner.end());
  }
  return names;
}

// What a unit's SystemCallFilter= lines allow, applied in order as systemd does: the first line decides
// allow-list or deny-list; later lines add (no ~) or remove (~).
std::set<std::string> allowed_syscalls(const UnitFile& unit) {
  std::set<std::string> allowed;
  const auto lines = unit.values("Service", "SystemCallFilter");
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const bool deny = !line.empty() && line[0] == '~';
    if (deny && i == 0) throw std::runtime_error("a deny-list SystemCallFilter is not what these units use");
    for (const auto& word : split_words(deny ? line.substr(1) : line)) {
      for (const auto& name : expand_syscalls(word)) {
        if (deny) allowed.erase(name);
        else allowed.insert(name);
      }
    }
  }
  // systemd always allows these (systemd.exec(5), SystemCallFilter=).
  for (const char* always : {"execve", "exit", "exit_group", "getrlimit", "rt_sigreturn", "sigreturn"}) {
    allowed.insert(always);
  }
  return allowed;
}

// Calls the unit's filter refuses that the agent is known to survive, each with its fallback.
// cachestat (Linux 6.5, syscall 451) is newer than systemd 252 and its libseccomp 2.5.4: SystemCallFilter= cannot
// name it, so an allow-list refuses it. The read engine then treats ranges as not cached before the read
// (scanner/read_engine.cpp: ENOSYS/EPERM -> cachestat_available = false), which means a deep scan drops from the
// page cache what it read even where the workload had it cached. strace 6.1 shows it as syscall_0x1c3.
const std::set<std::string> kRefusedWithFallback = {"cachestat", "syscall_0x1c3"};

// SystemCallFilter= reproduced with strace's fault injection: every system call systemd knows (@known) that
// the unit's filter does not allow fails with EPERM (SystemCallErrorNumber=EPERM), in the agent and all its
// threads, while it starts, scans, deep-scans (io_uring), reports to a collector, reloads and stops; the agent
// runs under setpriv with the unit's credentials (strace runs as that uid too: it traces its own child). The
// trace then says which calls the agent made; those the filter refuses, and socket families outside
// RestrictAddressFamilies=, fail the test unless listed above with their fallback.
TEST_F(SystemdHardening, AgentWorksUnderTheUnitsSystemCallFilter) {
  if (::access("/usr/bin/strace", X_OK) != 0) GTEST_SKIP() << "strace is not installed (scripts/deps.sh installs it)";
#ifdef SENTINEL_SANITIZED
  GTEST_SKIP() << "a sanitizer build: its runtime makes system calls of its own (LeakSanitizer attaches with "
                  "ptrace), which neither the filter nor strace allows; the normal build runs this test";
#endif
  const UnitFile& unit = *agent_unit_;
  const std::set<std::string> allowed = allowed_syscalls(unit);
  ASSERT_GT(allowed.size(), 100u);
  std::string refused_by_filter;
  for (const auto& name : expand_syscalls("@known")) {
    if (!allowed.count(name)) refused_by_filter += (refused_by_filter.empty() ? "?" : ",?") + name;
  }
  ASSERT_FALSE(refused_by_filter.empty());
  const auto families_list = split_words(unit.value("Service", "RestrictAddressFamilies"));
  const std::set<std::string> families(families_list.begin(), families_list.end());

  const std::string trace_dir = dir_.path() + "/trace";
  fs::create_directories(trace_dir);
  ASSERT_EQ(::chown(trace_dir.c_str(), 65534, 65534), 0);
  const std::string trace = trace_dir + "/agent.strace";
  const int port = free_tcp_port();
  TestCollector collector(port);
  std::vector<std::string> command = setpriv_for(unit);
  command.insert(command.end(), {"/usr/bin/strace", "-f", "-qq", "-o", trace, "-e", "trace=all", "-e",
                                 "inject=" + refused_by_filter + ":error=EPERM", "--"});
  const auto agent_args = agent_argv("127.0.0.1:" + std::to_string(port));
  command.insert(command.end(), agent_args.begin(), agent_args.end());
  {
    ChildProcess strace(command, {}, log_);  // setpriv execs strace: same pid
    ASSERT_TRUE(wait_until([&] { return fs::exists(socket_) || !strace.running(); }, 30s));
    ASSERT_TRUE(strace.running());
    int rc = 0;
    std::vector<std::string> unreadable;
    const std::string quick = ctl("scan --socket " + shell_quote(socket_) + " --json", &rc);
    ASSERT_EQ(rc, 0) << quick;
    EXPECT_EQ(replicas_of(nlohmann::json::parse(quick), &unreadable), expected_);
    const std::string deep = ctl("scan --socket " + shell_quote(socket_) + " --deep --json", &rc);
    ASSERT_EQ(rc, 0) << deep;
    for (const auto& replica : nlohmann::json::parse(deep)["replicas"]) {
      EXPECT_EQ(replica.value("contentDigest", "").size(), 32u) << replica.value("dir", "") << " was not read";
    }
    EXPECT_TRUE(unreadable.empty());
    EXPECT_TRUE(wait_until([&] { return collector.stored("worker-1").size() >= 2; }, 15s));
    // The agent is strace's child: signal it, not strace (which would detach and leave it running).
    const std::string children =
        read_file("/proc/" + std::to_string(strace.pid()) + "/task/" + std::to_string(strace.pid()) + "/children");
    ASSERT_FALSE(split_words(children).empty()) << "strace has no child";
    const pid_t agent = static_cast<pid_t>(std::stol(split_words(children).front()));
    ::kill(agent, SIGHUP);
    EXPECT_TRUE(wait_until(
        [&] { return read_file(log_).find("SIGHUP: configuration reloaded") != std::string::npos; }, 10s));
    ctl("status --socket " + shell_quote(socket_), &rc);
    EXPECT_EQ(rc, 0);
    ::kill(agent, SIGTERM);
    EXPECT_EQ(strace.wait_for_exit(10s), 0) << "strace exits with the agent's status";
  }

  // Lines are "PID name(args) = result" or "PID <... name resumed> ..."; the agent's begin at its execve.
  std::ifstream in(trace);
  ASSERT_TRUE(in) << "no trace";
  static const std::regex kCall(R"(^\d+\s+([a-z0-9_]+)\()");
  static const std::regex kSocket(R"(^\d+\s+socket(?:pair)?\((AF_[A-Z0-9]+))");
  const std::string agent_exec = "execve(\"" + staged_exec_start("sentinel-agent.service").front() + "\"";
  bool in_agent = false;
  std::set<std::string> calls, used_families;
  std::string line;
  while (std::getline(in, line)) {
    if (!in_agent) {
      in_agent = line.find(agent_exec) != std::string::npos && line.find("= 0") != std::string::npos;
      continue;
    }
    std::smatch match;
    if (std::regex_search(line, match, kCall)) calls.insert(match[1]);
    if (std::regex_search(line, match, kSocket)) used_families.insert(match[1]);
  }
  ASSERT_TRUE(in_agent) << "the trace never shows the agent's execve";
  std::cout << "the agent made " << calls.size() << " distinct system calls\n";
  EXPECT_TRUE(calls.count("io_uring_setup")) << "the deep scan never tried io_uring: the test missed that path";
  for (const auto& call : calls) {
    if (allowed.count(call)) continue;
    if (kRefusedWithFallback.count(call)) {
      std::cout << "refused by the unit's filter, survived with a fallback: " << call << "\n";
      continue;
    }
    ADD_FAILURE() << call << " is not allowed by the unit's SystemCallFilter=";
  }
  for (const auto& family : used_families) {
    EXPECT_TRUE(families.count(family)) << family << " is not in RestrictAddressFamilies=";
  }
}

// --- The README's TLS commands -------------------------------------------------------------------------------

// The fenced code blocks of one README section ("### TLS between ..."), in order, with their language.
std::vector<std::pair<std::string, std::string>> readme_blocks(const std::string& heading) {
  std::istringstream readme(read_file(std::string(SENTINEL_SOURCE_DIR) + "/README.md"));
  std::vector<std::pair<std::string, std::string>> blocks;
  std::string line;
  bool in_section = false, in_block = false;
  while (std::getline(readme, line)) {
    if (line.rfind("#", 0) == 0 && !in_block) {
      in_section = line == heading;
      continue;
    }
    if (!in_section) continue;
    if (line.rfind("```", 0) == 0) {
      if (!in_block) blocks.emplace_back(line.substr(3), "");
      in_block = !in_block;
    } else if (in_block) {
      blocks.back().second += line + "\n";
    }
  }
  return blocks;
}

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The README's openssl commands, run as written (without sudo, in a temporary directory instead of
// /etc/sentinel/tls, without the chgrp to a group this machine need not have), make a CA and certificates that
// the installed collector and agent accept with the README's config lines added to the installed configs: the
// agent's report arrives over TLS. An agent whose certificate names another node is refused.
using PackagingDocs = StagedUnits;

TEST_F(PackagingDocs, ReadmeTlsCommandsMakeCertificatesTheDaemonsAccept) {
  int rc = 0;
  run_command("command -v openssl", &rc);
  ASSERT_EQ(rc, 0) << "openssl is needed (scripts/deps.sh installs it)";
  const auto blocks = readme_blocks("### TLS between agents and the collector");
  ASSERT_EQ(blocks.size(), 3u) << "expected the sh block and two ini blocks";
  ASSERT_EQ(blocks[0].first, "sh");
  const std::string tls_dir = dir_.path() + "/tls";
  std::string script;
  {
    std::istringstream lines(blocks[0].second);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.find("chgrp") != std::string::npos) continue;
      script += replace_all(replace_all(line, "sudo ", ""), "/etc/sentinel/tls", tls_dir) + "\n";
    }
  }
  const std::string out = run_command("(\nset -e\n" + script + ") 2>&1", &rc);
  ASSERT_EQ(rc, 0) << script << "\n" << out;

  // The README's config lines, after the installed configs, as an operator would add them.
  auto config_with = [&](const std::string& installed, const std::string& block) {
    const std::string path = dir_.path() + "/" + fs::path(installed).filename().string();
    std::ofstream(path) << read_file(root_ + installed) << "\n"
                        << replace_all(block, "/etc/sentinel/tls", tls_dir);
    return path;
  };
  ASSERT_EQ(blocks[1].first, "ini");
  ASSERT_EQ(blocks[2].first, "ini");
  const std::string config_dir = SENTINEL_CONFIG_DIR;
  const std::string collector_conf = config_with(config_dir + "/collector.conf", blocks[1].second);
  const std::string agent_conf = config_with(config_dir + "/agent.conf", blocks[2].second);

  const std::string ports = dir_.path() + "/ports";
  const std::string collector_log = dir_.path() + "/collector.log";
  ChildProcess collector({root_ + "/usr/sbin/sentinel-collector", "--config", collector_conf, "--db",
                          dir_.path() + "/store.db", "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                          "--port-file", ports},
                         {}, collector_log);
  ASSERT_TRUE(wait_until([&] { return fs::exists(ports) || !collector.running(); }, 20s));
  ASSERT_TRUE(collector.running()) << read_file(collector_log);
  std::map<std::string, std::string> address;
  {
    std::istringstream lines(read_file(ports));
    std::string line;
    while (std::getline(lines, line)) address[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
  }
  EXPECT_TRUE(wait_until([&] { return read_file(collector_log).find("(TLS)") != std::string::npos; }, 5s))
      << read_file(collector_log);

  ASSERT_TRUE(treegen::write_incident_sample(dir_.path() + "/disks"));
  // The agent connects to 127.0.0.1, so it is told the name on the collector's certificate
  // (tls-server-name, as the README says for this case); its socket group is root's, which exists here.
  auto run_agent = [&](const std::string& node, const std::string& log) {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{root_ + "/usr/sbin/sentinel-agent", "--config", agent_conf, "--disk",
                                 dir_.path() + "/disks/" + node, "--node", node, "--collector", address["listen"],
                                 "--tls-server-name", "collector.example", "--socket",
                                 dir_.path() + "/" + node + ".sock", "--state-dir", dir_.path() + "/state-" + node,
                                 "--socket-group", "0", "--reconnect-max", "300ms"},
        std::vector<std::string>{}, log);
  };
  const std::string agent_log = dir_.path() + "/agent-worker-1.log";
  auto agent = run_agent("worker-1", agent_log);
  EXPECT_TRUE(wait_until([&] { return http_get(address["http"], "/v1/nodes").find("worker-1") != std::string::npos; },
                         20s))
      << read_file(agent_log) << "\n--- collector ---\n" << read_file(collector_log);
  EXPECT_NE(read_file(agent_log).find("tls=on"), std::string::npos) << read_file(agent_log);

  // worker-2 presenting worker-1's certificate: refused, never stored.
  const std::string impostor_log = dir_.path() + "/agent-worker-2.log";
  auto impostor = run_agent("worker-2", impostor_log);
  auto impostor_said = [&] { return fs::exists(impostor_log) ? read_file(impostor_log) : std::string(); };
  EXPECT_TRUE(wait_until([&] { return impostor_said().find("issued to 'worker-1'") != std::string::npos; }, 20s))
      << impostor_said();
  EXPECT_EQ(http_get(address["http"], "/v1/nodes").find("worker-2"), std::string::npos);
  agent->signal(SIGTERM);
  impostor->signal(SIGTERM);
  collector.signal(SIGTERM);
  EXPECT_EQ(collector.wait_for_exit(10s), 0);
}

}  // namespace
}  // namespace sentinel::testing
