// sd_notify from the real sentinel-collector: READY=1 once listening (after the port file), STATUS= lines,
// WATCHDOG=1 at half of WATCHDOG_USEC, STOPPING=1 on SIGTERM. The test plays systemd's notify socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using namespace std::chrono_literals;

TEST(CollectorSystemd, NotifiesReadyStatusWatchdogAndStopping) {
  testing::TempDir dir;
  const std::string path = dir.file("notify.sock");
  wire::UniqueFd socket(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(socket);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(socket.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);

  ::setenv("NOTIFY_SOCKET", path.c_str(), 1);
  ::setenv("WATCHDOG_USEC", "200000", 1);  // 200 ms: pings every 100 ms
  std::string error;
  auto collector = testing::CollectorProcess::start(dir.path(), {}, &error);
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  ASSERT_NE(collector, nullptr) << error;

  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline && testing::count_occurrences(received, "WATCHDOG=1") < 3) {
    char buf[4096];
    timeval timeout{0, 100000};
    ::setsockopt(socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const ssize_t n = ::recv(socket.get(), buf, sizeof buf, 0);
    if (n > 0) received.append(buf, static_cast<size_t>(n)).push_back('\n');
  }
  EXPECT_NE(received.find("READY=1"), std::string::npos) << received;
  EXPECT_NE(received.find("STATUS=listening on 127.0.0.1:"), std::string::npos) << received;
  EXPECT_NE(received.find("STATUS=0 agent connections, 0 reports stored"), std::string::npos) << received;
  EXPECT_GE(testing::count_occurrences(received, "WATCHDOG=1"), 3u) << received;

  EXPECT_EQ(collector->terminate(10s), 0);
  char buf[4096];
  std::string last;
  for (;;) {
    const ssize_t n = ::recv(socket.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) break;
    last.append(buf, static_cast<size_t>(n)).push_back('\n');
  }
  EXPECT_NE(last.find("STOPPING=1"), std::string::npos) << last;
}

}  // namespace
}  // namespace sentinel::collector
