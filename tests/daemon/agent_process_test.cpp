// sentinel-agent as a real process on a generated disk tree: reporting over loopback TCP to a collector,
// surviving a collector outage and its own SIGKILL without losing or duplicating a report, answering
// sentinelctl on its local socket (and refusing who it must), systemd notification, clean stop.
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "proto/wire/blocking_socket.h"
#include "tests/daemon/test_collector.h"
#include "tests/scanner/fixture_support.h"
#include "tests/support/child_process.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::testing {
namespace {

using namespace std::chrono_literals;

class AgentProcess : public ::testing::Test {
 protected:
  void SetUp() override {
    // Traversable by others (the refused-uid test connects as nobody); the tree itself stays the test's.
    std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all |
                                                  std::filesystem::perms::group_exec |
                                                  std::filesystem::perms::others_exec);
    ASSERT_TRUE(treegen::write_incident_sample(dir_.path() + "/disks"));
    socket_ = dir_.path() + "/agent.sock";
    state_ = dir_.path() + "/state";
    log_ = dir_.path() + "/agent.log";
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "--- agent log ---\n" << read_file(log_) << "\n";
  }

  std::unique_ptr<ChildProcess> start_agent(std::vector<std::string> extra, std::vector<std::string> env = {}) {
    std::vector<std::string> argv = {SENTINEL_AGENT_PATH, "--disk", dir_.path() + "/disks/worker-1", "--node",
                                     "worker-1", "--socket", socket_, "--state-dir", state_, "--reconnect-max",
                                     "300ms", "--log-level", "debug"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto agent = std::make_unique<ChildProcess>(argv, env, log_);
    EXPECT_TRUE(wait_until([&] { return std::filesystem::exists(socket_) || !agent->running(); }, 10s));
    return agent;
  }

  std::string ctl(const std::string& args, int* exit_code) {
    return run_command(std::string(SENTINELCTL_PATH) + " " + args + " 2>&1", exit_code);
  }

  nlohmann::json status_json() {
    int code = 0;
    const std::string out = ctl("status --socket " + socket_ + " --json", &code);
    if (code != 0) return nlohmann::json();
    return nlohmann::json::parse(out, nullptr, false);
  }

  static bool is_one_to_n(const std::vector<uint64_t>& sequences) {
    for (size_t i = 0; i < sequences.size(); ++i) {
      if (sequences[i] != i + 1) return false;
    }
    return !sequences.empty();
  }

  TempDir dir_;
  std::string socket_, state_, log_;
};

TEST_F(AgentProcess, ReportsEveryScanInOrderToTheCollector) {
  const int port = free_tcp_port();
  TestCollector collector(port);
  auto agent = start_agent({"--collector", "127.0.0.1:" + std::to_string(port), "--quick-interval", "300ms"});
  ASSERT_TRUE(wait_until([&] { return collector.stored("worker-1").size() >= 3; }, 15s));
  const auto stored = collector.stored("worker-1");
  EXPECT_TRUE(is_one_to_n(stored)) << "stored out of order or with gaps";
  const v1::Report last = collector.last_report("worker-1");
  EXPECT_EQ(last.kind(), v1::QUICK);
  EXPECT_EQ(last.inventory().node(), "worker-1");
  EXPECT_EQ(last.inventory().replicas_size(), 2);
  agent->signal(SIGTERM);
  EXPECT_EQ(agent->wait_for_exit(5s), 0);
}

TEST_F(AgentProcess, CollectorOutageLosesNothingAndStoresNothingTwice) {
  const int port = free_tcp_port();
  auto agent = start_agent({"--collector", "127.0.0.1:" + std::to_string(port), "--quick-interval", "200ms"});
  // Several scan intervals with nobody listening: the reports pile up in the spool.
  ASSERT_TRUE(wait_until([&] { return status_json().value("spoolReports", 0) >= 5; }, 15s));
  const auto status = status_json();
  EXPECT_FALSE(status["collectorConnected"].get<bool>());
  EXPECT_NE(status["collectorLastError"].get<std::string>().find("refused"), std::string::npos);

  TestCollector collector(port);
  ASSERT_TRUE(wait_until([&] { return collector.stored("worker-1").size() >= 8; }, 15s));
  agent->signal(SIGTERM);
  ASSERT_EQ(agent->wait_for_exit(5s), 0);
  const auto stored = collector.stored("worker-1");
  EXPECT_TRUE(is_one_to_n(stored)) << "every report, in order, once";
  const auto received = collector.received("worker-1");
  EXPECT_EQ(received.size(), stored.size() + collector.duplicates());
}

TEST_F(AgentProcess, KilledBetweenSendAndAckResendsAndTheCollectorStoresItOnce) {
  const int port = free_tcp_port();
  TestCollector collector(port);
  collector.hold_acks(true);
  const std::vector<std::string> args = {"--collector", "127.0.0.1:" + std::to_string(port), "--quick-interval",
                                         "1h"};
  {
    auto agent = start_agent(args);
    ASSERT_TRUE(wait_until([&] { return !collector.received("worker-1").empty(); }, 10s));
    agent->signal(SIGKILL);
    ASSERT_TRUE(agent->wait_for_exit(5s));
  }
  EXPECT_TRUE(collector.stored("worker-1").empty());
  collector.hold_acks(false);
  auto agent = start_agent(args);  // same state dir: report 1 is still in its spool
  ASSERT_TRUE(wait_until([&] { return collector.stored("worker-1").size() >= 2; }, 10s));
  EXPECT_EQ(collector.stored("worker-1"), (std::vector<uint64_t>{1, 2}));
  const auto received = collector.received("worker-1");
  EXPECT_EQ(std::count(received.begin(), received.end(), 1u), 2) << "report 1: sent, killed, sent again";
  EXPECT_TRUE(wait_until([&] { return status_json().value("spoolReports", -1) == 0; }, 5s));
}

TEST_F(AgentProcess, AnswersStatusAndScansFromSentinelctl) {
  auto agent = start_agent({"--quick-interval", "1h"});
  int code = -1;
  const std::string text = ctl("--socket " + socket_ + " status", &code);
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("worker-1"), std::string::npos);
  EXPECT_NE(text.find("local only"), std::string::npos);

  const std::string quick = ctl("scan --socket " + socket_ + " --json", &code);
  ASSERT_EQ(code, 0) << quick;
  auto inventory = nlohmann::json::parse(quick);
  EXPECT_EQ(inventory["node"], "worker-1");
  EXPECT_EQ(inventory["replicas"].size(), 2u);

  const std::string deep = ctl("scan --socket " + socket_ + " --deep --volume " + treegen::kSplitVolume + " --json",
                               &code);
  ASSERT_EQ(code, 0) << deep;
  inventory = nlohmann::json::parse(deep);
  for (const auto& replica : inventory["replicas"]) {
    const bool selected = replica["volume"] == treegen::kSplitVolume;
    EXPECT_EQ(replica["contentDigest"].get<std::string>().size(), selected ? 32u : 0u) << replica["dir"];
  }
  const std::string unknown = ctl("scan --socket " + socket_ + " --deep --volume pvc-nope", &code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(unknown.find("no replica of volume pvc-nope"), std::string::npos) << unknown;
  EXPECT_EQ(status_json().value("lastDeepScanAtNs", std::string("0")) != "0", true);
}

// The agent's deep scans keep a cache in <state-dir>/deep-cache: a second deep scan of unchanged replicas reads
// nothing and reports the same digests, saying they came from the cache.
TEST_F(AgentProcess, DeepScansReuseTheCacheInTheStateDir) {
  std::this_thread::sleep_for(1200ms);  // files changed within a second of a read are not cached
  auto agent = start_agent({"--quick-interval", "1h"});
  int code = -1;
  const std::string scan = "scan --socket " + socket_ + " --deep --volume " + treegen::kSplitVolume + " --json";
  const std::string first = ctl(scan, &code);
  ASSERT_EQ(code, 0) << first;
  const std::string second = ctl(scan, &code);
  ASSERT_EQ(code, 0) << second;
  EXPECT_TRUE(std::filesystem::is_directory(state_ + "/deep-cache"));
  const auto a = nlohmann::json::parse(first);
  const auto b = nlohmann::json::parse(second);
  ASSERT_EQ(a["replicas"].size(), b["replicas"].size());
  size_t reused = 0;
  for (size_t i = 0; i < a["replicas"].size(); ++i) {
    const auto& ra = a["replicas"][i];
    const auto& rb = b["replicas"][i];
    if (ra["volume"] != treegen::kSplitVolume) continue;
    EXPECT_EQ(ra["contentDigest"], rb["contentDigest"]);
    EXPECT_FALSE(ra["content"]["fromCache"].get<bool>());
    if (rb["content"]["fromCache"].get<bool>()) {
      ++reused;
      EXPECT_EQ(rb["content"]["readBytes"], "0");
    }
    for (size_t j = 0; j < ra["images"].size(); ++j) {
      EXPECT_EQ(ra["images"][j]["crc64"], rb["images"][j]["crc64"]);
      if (!rb["images"][j]["crc64"].get<std::string>().empty()) {
        EXPECT_TRUE(rb["images"][j]["crc64FromCache"].get<bool>()) << rb["images"][j]["name"];
      }
    }
  }
  EXPECT_GT(reused, 0u);
}

// Connects as `uid` (a forked child that drops to it) and returns the agent's reply to a status request.
v1::Envelope ask_status_as(const std::string& socket_path, uid_t uid, int* child_status = nullptr) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return {};
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (uid != ::geteuid() && (::setgid(65534) != 0 || ::setuid(uid) != 0)) ::_exit(3);
    std::string error;
    wire::UniqueFd fd = wire::connect_unix(socket_path, &error);
    if (!fd) ::_exit(4);
    v1::Envelope request;
    request.mutable_status_request();
    wire::FrameDecoder decoder;
    v1::Envelope reply;
    // Like sentinelctl: the refusal may arrive before the request is written, so read even if sending failed.
    (void)wire::send_frame(fd.get(), request, 5s, &error);
    if (wire::receive_frame(fd.get(), decoder, &reply, 5s, &error) != wire::ReceiveStatus::kFrame) {
      std::fprintf(stderr, "refused-uid child: %s\n", error.c_str());
      ::_exit(5);
    }
    const std::string bytes = reply.SerializeAsString();
    (void)!::write(pipe_fds[1], bytes.data(), bytes.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string bytes;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof buf)) > 0) bytes.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (child_status) *child_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  v1::Envelope reply;
  reply.ParseFromString(bytes);
  return reply;
}

TEST_F(AgentProcess, RefusesACallerThatIsNotRootNorInTheGroup) {
  auto agent = start_agent({"--quick-interval", "1h"});
  ASSERT_TRUE(agent->running());
  struct stat st {};
  ASSERT_EQ(::stat(socket_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  // The file mode already keeps strangers out; open it up so the agent's own credential check is what is
  // tested (as with a permissive socket-activation unit or a group mistake).
  ::chmod(socket_.c_str(), 0666);
  const uid_t stranger = ::geteuid() == 0 ? 65534 : ::geteuid();  // nobody, or ourselves when not root
  int child_status = -1;
  const v1::Envelope reply = ask_status_as(socket_, stranger, &child_status);
  ASSERT_TRUE(reply.has_error()) << "child exit " << child_status << " (3 setuid, 4 connect, 5 exchange) "
                                 << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::Error::PERMISSION_DENIED);
  EXPECT_NE(reply.error().message().find("uid " + std::to_string(stranger)), std::string::npos);
  if (::geteuid() == 0) {
    EXPECT_TRUE(ask_status_as(socket_, 0).has_status()) << "root is allowed";
  }
  EXPECT_TRUE(agent->running());
}

TEST_F(AgentProcess, SurvivesGarbageOversizedAndWrongFramesOnItsSocket) {
  auto agent = start_agent({"--quick-interval", "1h", "--max-frame-bytes", "65536"});
  auto exchange = [&](const std::string& bytes) {
    std::string error;
    wire::UniqueFd fd = wire::connect_unix(socket_, &error);
    EXPECT_TRUE(fd) << error;
    wire::send_bytes(fd.get(), bytes, 5s, &error);
    wire::FrameDecoder decoder;
    v1::Envelope reply;
    const auto status = wire::receive_frame(fd.get(), decoder, &reply, 5s, &error);
    return status == wire::ReceiveStatus::kFrame ? reply : v1::Envelope();
  };
  // Bytes that are no frame: an Error reply (or a close), never a crash.
  v1::Envelope reply = exchange(std::string("\x05\xff\xff\xff\xff\xff", 6));
  EXPECT_EQ(reply.error().code(), v1::Error::MALFORMED);
  // A length prefix of 1 GiB against a 64 KiB maximum: refused before any payload.
  reply = exchange(std::string("\x80\x80\x80\x80\x04", 5));
  EXPECT_EQ(reply.error().code(), v1::Error::FRAME_TOO_LARGE);
  // A valid frame of the wrong kind.
  v1::Envelope hello;
  hello.mutable_hello()->set_node("worker-1");
  reply = exchange(wire::encode_frame(hello));
  EXPECT_EQ(reply.error().code(), v1::Error::UNEXPECTED);
  // A quick scan limited to a volume is not a thing.
  v1::Envelope bad_scan;
  bad_scan.mutable_scan_request()->set_kind(v1::QUICK);
  bad_scan.mutable_scan_request()->set_volume("pvc-x");
  reply = exchange(wire::encode_frame(bad_scan));
  EXPECT_EQ(reply.error().code(), v1::Error::BAD_REQUEST);
  // And a caller that connects and hangs up at once.
  { std::string error; wire::UniqueFd fd = wire::connect_unix(socket_, &error); }
  ASSERT_TRUE(agent->running());
  EXPECT_EQ(status_json().value("node", std::string()), "worker-1") << "the agent still answers";
}

TEST_F(AgentProcess, NotifiesSystemdReadyAndPingsTheWatchdog) {
  const std::string notify_path = dir_.path() + "/notify.sock";
  wire::UniqueFd notify(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, notify_path.c_str(), sizeof addr.sun_path - 1);
  ASSERT_EQ(::bind(notify.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval timeout{0, 200000};
  ::setsockopt(notify.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);

  auto agent = start_agent({"--quick-interval", "1h"}, {"NOTIFY_SOCKET=" + notify_path, "WATCHDOG_USEC=200000"});
  std::vector<std::string> messages;
  int watchdog_pings = 0;
  bool ready = false;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && !(ready && watchdog_pings >= 3)) {
    char buf[4096];
    const ssize_t n = ::recv(notify.get(), buf, sizeof buf, 0);
    if (n <= 0) continue;
    const std::string message(buf, static_cast<size_t>(n));
    messages.push_back(message);
    ready = ready || message.find("READY=1") != std::string::npos;
    if (message.find("WATCHDOG=1") != std::string::npos) ++watchdog_pings;
  }
  EXPECT_TRUE(ready);
  EXPECT_GE(watchdog_pings, 3);
  bool status_line = false;
  for (const auto& m : messages) status_line = status_line || m.find("STATUS=quick scan: 2 replica(s)") == 0;
  EXPECT_TRUE(status_line);
}

TEST_F(AgentProcess, StopsCleanlyOnSigtermAndRemovesItsSocket) {
  auto agent = start_agent({"--quick-interval", "1h"});
  ASSERT_TRUE(wait_until([&] { return status_json().value("lastQuickScanAtNs", std::string("0")) != "0"; }, 10s));
  const auto started = std::chrono::steady_clock::now();
  agent->signal(SIGTERM);
  EXPECT_EQ(agent->wait_for_exit(5s), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 3s);
  EXPECT_FALSE(std::filesystem::exists(socket_));
  // A stale socket file (an agent killed with SIGKILL leaves one) does not stop the next start.
  {
    auto killed = start_agent({"--quick-interval", "1h"});
    killed->signal(SIGKILL);
    killed->wait_for_exit(5s);
  }
  ASSERT_TRUE(std::filesystem::exists(socket_));
  auto restarted = start_agent({"--quick-interval", "1h"});
  EXPECT_TRUE(wait_until([&] { return !status_json().is_null(); }, 5s));
}

TEST_F(AgentProcess, SighupRereadsTheConfigFile) {
  const std::string config = dir_.path() + "/agent.conf";
  std::ofstream(config) << "quick-interval = 1h\n";
  auto agent = start_agent({"--config", config});
  ASSERT_TRUE(wait_until([&] { return status_json().value("lastQuickScanAtNs", std::string("0")) != "0"; }, 10s));
  const std::string first = status_json().value("lastQuickScanAtNs", std::string());
  std::ofstream(config, std::ios::trunc) << "quick-interval = 200ms\ncollector = 127.0.0.1:9\n";
  agent->signal(SIGHUP);
  // The new interval applies at once; a new collector needs a restart and the log says so.
  EXPECT_TRUE(wait_until([&] { return status_json().value("lastQuickScanAtNs", first) != first; }, 10s));
  EXPECT_EQ(status_json().value("collector", std::string("?")), "");
  EXPECT_TRUE(wait_until([&] { return read_file(log_).find("takes effect after a restart") != std::string::npos; },
                         5s));
  // A file that no longer parses is refused and the running configuration kept.
  std::ofstream(config, std::ios::trunc) << "quick-interval = soon\n";
  agent->signal(SIGHUP);
  EXPECT_TRUE(wait_until([&] { return read_file(log_).find("no longer parses") != std::string::npos; }, 5s));
  EXPECT_TRUE(agent->running());
}

TEST_F(AgentProcess, BadConfigurationExitsWithTwoAndSaysWhy) {
  ChildProcess agent({SENTINEL_AGENT_PATH, "--node", "worker-1", "--quick-interval", "60"}, {}, log_);
  EXPECT_EQ(agent.wait_for_exit(5s), 2);
  EXPECT_NE(read_file(log_).find("quick-interval"), std::string::npos);
}

}  // namespace
}  // namespace sentinel::testing
