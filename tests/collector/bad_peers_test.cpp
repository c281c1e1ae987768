// Peers that are not well-behaved agents, against the real sentinel-collector: garbage, an oversized length
// prefix, valid protobuf that says the wrong thing, a peer trickling a byte a second, a thousand idle
// connections. Each is refused or timed out with a log line, and a real agent is still served.
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <iostream>
#include <random>
#include <thread>

#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using namespace std::chrono_literals;
using testing::make_replica;
using testing::make_report;
using testing::TestAgent;

class CollectorBadPeers : public ::testing::Test {
 protected:
  void start(const std::vector<std::string>& args) {
    std::string error;
    collector_ = testing::CollectorProcess::start(dir_.path(), args, &error);
    ASSERT_NE(collector_, nullptr) << error;
  }

  TestAgent raw() {
    TestAgent agent;
    std::string error;
    EXPECT_TRUE(agent.connect(collector_->listen(), &error)) << error;
    return agent;
  }

  // A real agent still gets its report acked.
  void expect_served(const std::string& node, uint64_t sequence) {
    TestAgent agent = raw();
    v1::Envelope reply;
    ASSERT_TRUE(agent.hello(node, &reply)) << agent.last_error();
    ASSERT_TRUE(reply.has_hello_ack()) << reply.DebugString();
    const auto ack = agent.report(make_report(node, sequence, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)}));
    ASSERT_TRUE(ack.has_ack()) << ack.DebugString() << agent.last_error();
  }

  // The next frame is an Error with `code`, then the connection closes.
  void expect_refused(TestAgent& agent, v1::Error::Code code) {
    v1::Envelope reply;
    ASSERT_EQ(agent.receive(&reply), wire::ReceiveStatus::kFrame) << agent.last_error();
    ASSERT_TRUE(reply.has_error()) << reply.DebugString();
    EXPECT_EQ(reply.error().code(), code) << reply.error().message();
    EXPECT_EQ(agent.receive(&reply), wire::ReceiveStatus::kClosed);
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::CollectorProcess> collector_;
};

TEST_F(CollectorBadPeers, GarbageIsRefusedAsMalformed) {
  start({"--read-timeout", "2s"});
  TestAgent agent = raw();
  // A 3-byte frame whose content is a truncated field tag: not an Envelope.
  ASSERT_TRUE(agent.send_bytes(std::string("\x03\xff\xff\xff", 4)));
  expect_refused(agent, v1::Error::MALFORMED);
  EXPECT_TRUE(collector_->wait_for_log("not a frame of the sentinel protocol", 5s)) << collector_->log();

  // Random bytes: refused one way or another (their first bytes decide which: malformed, too large, not a
  // Hello, or a frame that never completes and times out), never served.
  std::mt19937 random(7);
  std::string noise(64 * 1024, '\0');
  for (auto& c : noise) c = static_cast<char>(random());
  TestAgent noisy = raw();
  noisy.send_bytes(noise);  // may fail half way: the collector closes as soon as it has seen enough
  v1::Envelope reply;
  const auto status = noisy.receive(&reply);
  EXPECT_TRUE(status == wire::ReceiveStatus::kClosed || (status == wire::ReceiveStatus::kFrame && reply.has_error()))
      << reply.DebugString();
  expect_served("worker-1", 1);
}

TEST_F(CollectorBadPeers, AnOversizedLengthPrefixIsRefusedBeforeItsPayload) {
  start({"--max-frame-bytes", "1MiB"});
  TestAgent agent = raw();
  // Varint 2 MiB, then nothing: the prefix alone is enough to refuse.
  ASSERT_TRUE(agent.send_bytes(std::string("\x80\x80\x80\x01", 4)));
  expect_refused(agent, v1::Error::FRAME_TOO_LARGE);
  EXPECT_TRUE(collector_->wait_for_log("over this collector's maximum of 1048576", 5s)) << collector_->log();
  // A prefix that is no varint32 at all.
  TestAgent broken = raw();
  ASSERT_TRUE(broken.send_bytes(std::string("\xff\xff\xff\xff\xff\xff", 6)));
  expect_refused(broken, v1::Error::FRAME_TOO_LARGE);
  expect_served("worker-1", 1);
}

TEST_F(CollectorBadPeers, AValidFrameThatSaysTheWrongThingIsRefused) {
  start({});
  {
    TestAgent agent = raw();
    v1::Envelope reply;
    ASSERT_TRUE(agent.hello("worker-1", &reply, 2));
    EXPECT_EQ(reply.error().code(), v1::Error::PROTOCOL_VERSION) << reply.DebugString();
  }
  {
    TestAgent agent = raw();
    v1::Envelope reply;
    ASSERT_TRUE(agent.hello("worker-1", &reply, 0));
    EXPECT_EQ(reply.error().code(), v1::Error::PROTOCOL_VERSION) << reply.DebugString();
  }
  {
    TestAgent agent = raw();
    v1::Envelope reply;
    ASSERT_TRUE(agent.hello("", &reply));
    EXPECT_EQ(reply.error().code(), v1::Error::BAD_HELLO) << reply.DebugString();
  }
  {
    TestAgent agent = raw();  // a Report before any Hello
    ASSERT_TRUE(agent.send(testing::as_envelope(make_report("worker-1", 1, {}))));
    expect_refused(agent, v1::Error::BAD_HELLO);
  }
  {
    TestAgent agent = raw();  // a second Hello
    v1::Envelope reply;
    ASSERT_TRUE(agent.hello("worker-1", &reply));
    ASSERT_TRUE(agent.hello("worker-1", &reply));
    EXPECT_EQ(reply.error().code(), v1::Error::UNEXPECTED);
  }
  EXPECT_TRUE(collector_->wait_for_log("refused agent connection", 5s, 5)) << collector_->log();
  EXPECT_NE(collector_->log().find("protocol version 2 is not supported"), std::string::npos);
  EXPECT_NE(collector_->log().find("names no node"), std::string::npos);
  expect_served("worker-1", 1);
}

TEST_F(CollectorBadPeers, APeerTricklingAByteASecondIsCutOff) {
  start({"--read-timeout", "2s"});
  TestAgent slow = raw();
  v1::Envelope reply;
  ASSERT_TRUE(slow.hello("worker-slow", &reply));
  ASSERT_TRUE(reply.has_hello_ack());
  const std::string frame = wire::encode_frame(
      testing::as_envelope(make_report("worker-slow", 1, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)})));
  const auto started = std::chrono::steady_clock::now();
  size_t sent = 0;
  // One byte a second; the collector must give up on the frame 2 s after its first byte, however alive the
  // connection looks.
  while (sent < frame.size() && std::chrono::steady_clock::now() - started < 10s) {
    if (!slow.send_bytes(frame.substr(sent, 1))) break;
    ++sent;
    pollfd pfd{slow.fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 1000) > 0) break;  // the collector answered (with an Error)
  }
  const auto elapsed = std::chrono::steady_clock::now() - started;
  expect_refused(slow, v1::Error::TIMED_OUT);
  EXPECT_LT(elapsed, 5s);
  EXPECT_GE(elapsed, 1500ms);
  EXPECT_LT(sent, frame.size());
  EXPECT_TRUE(collector_->wait_for_log("was not complete 2s after its first byte", 5s)) << collector_->log();

  // A peer that never completes its Hello gets the same treatment.
  TestAgent mute = raw();
  ASSERT_TRUE(mute.send_bytes(std::string("\x10", 1)));
  expect_refused(mute, v1::Error::TIMED_OUT);
  expect_served("worker-1", 1);
}

// Raises this process's descriptor limit so it can hold `count` sockets; false when the hard limit is too low.
bool allow_descriptors(rlim_t count) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= count) return true;
  if (limit.rlim_max < count) return false;
  limit.rlim_cur = limit.rlim_max;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST_F(CollectorBadPeers, AThousandIdleConnectionsAreTimedOutWhileARealAgentIsServed) {
  if (!allow_descriptors(1200)) GTEST_SKIP() << "needs an open-file limit of at least 1200";
  start({"--read-timeout", "3s", "--max-connections", "2000"});
  const long rss_before = collector_->rss_kib();
  std::vector<wire::UniqueFd> idle;
  std::string error;
  for (int i = 0; i < 1000; ++i) {
    auto fd = wire::connect_tcp(collector_->listen(), &error);
    ASSERT_TRUE(fd) << error << " (connection " << i << ")";
    idle.push_back(std::move(fd));
  }
  // The collector has accepted them all (each is a session waiting for a Hello) and still serves an agent.
  expect_served("worker-1", 1);
  const long rss_idle = collector_->rss_kib();
  std::cout << "collector RSS: " << rss_before / 1024.0 << " MiB before, " << rss_idle / 1024.0
            << " MiB with 1000 idle connections open\n";
  EXPECT_LT(rss_idle, 256 * 1024) << "RSS should stay bounded";
  // Every idle connection is timed out (an Error frame, then a close) and logged.
  EXPECT_TRUE(collector_->wait_for_log("no complete Hello within 3s", 20s, 1000))
      << testing::count_occurrences(collector_->log(), "no complete Hello");
  size_t closed = 0;
  for (auto& fd : idle) {
    char buf[256];
    pollfd pfd{fd.get(), POLLIN, 0};
    if (::poll(&pfd, 1, 5000) > 0 && ::recv(fd.get(), buf, sizeof buf, 0) > 0) ++closed;
  }
  EXPECT_EQ(closed, 1000u);
  expect_served("worker-1", 2);
  std::cout << "collector RSS after the timeouts: " << collector_->rss_kib() / 1024.0 << " MiB\n";
}

TEST_F(CollectorBadPeers, ConnectionsOverTheLimitAreRefusedWithALogLine) {
  start({"--max-connections", "20", "--read-timeout", "2s"});
  std::vector<wire::UniqueFd> held;
  std::string error;
  for (int i = 0; i < 20; ++i) {
    held.push_back(wire::connect_tcp(collector_->listen(), &error));
    ASSERT_TRUE(held.back()) << error;
  }
  // Let the collector accept the twenty before the twenty-first arrives.
  std::this_thread::sleep_for(300ms);
  TestAgent over = raw();
  expect_refused(over, v1::Error::UNAVAILABLE);
  EXPECT_TRUE(collector_->wait_for_log("connections already open (--max-connections 20)", 5s)) << collector_->log();
  // Once they are gone, agents get in again.
  held.clear();
  std::this_thread::sleep_for(300ms);
  expect_served("worker-1", 1);
}

}  // namespace
}  // namespace sentinel::collector
