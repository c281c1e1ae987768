// ScanRunner: scans never overlap, covered requests join the running scan, the rest wait merged in one slot,
// cancel stops between replicas and fails what is waiting.
#include "daemon/scan_runner.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <mutex>

namespace sentinel::daemon {
namespace {

// A scan function that blocks until the test releases it, and records what ran.
struct GatedScans {
  std::mutex mutex;
  std::condition_variable cv;
  int released = 0;
  int started = 0;
  int concurrent = 0;
  int max_concurrent = 0;
  std::vector<ScanRequest> ran;

  ScanFunction function() {
    return [this](const ScanRequest& request, const std::atomic<bool>& cancelled,
                  const std::function<void(const v1::Progress&)>& progress) {
      std::unique_lock lock(mutex);
      const int my_turn = started++;
      ran.push_back(request);
      max_concurrent = std::max(max_concurrent, ++concurrent);
      lock.unlock();
      v1::Progress p;
      p.set_phase("test");
      progress(p);
      lock.lock();
      // Polls `cancelled` too: the runner sets it without notifying this test's condition variable.
      while (!cv.wait_for(lock, std::chrono::milliseconds(1), [&] { return released > my_turn || cancelled; })) {
      }
      --concurrent;
      v1::Inventory inventory;
      inventory.set_node(request.kind == v1::DEEP ? "deep:" + request.volume : "quick");
      return inventory;
    };
  }
  void release_one() {
    std::lock_guard lock(mutex);
    ++released;
    cv.notify_all();
  }
};

// Runs the loop until `done` (at most 10 s). The work guard keeps run_for waiting for the worker's posts
// instead of returning at once when the loop has nothing queued yet.
void run_until(boost::asio::io_context& loop, const std::function<bool()>& done) {
  auto guard = boost::asio::make_work_guard(loop);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    loop.restart();
    loop.run_for(std::chrono::milliseconds(2));
  }
}

TEST(ScanRunner, CoveredRequestsJoinAndOthersWaitMergedNeverOverlapping) {
  boost::asio::io_context loop;
  GatedScans scans;
  int finished = 0;
  ScanRunner runner(loop, scans.function(), [&](ScanOutcome& outcome) { outcome.sequence = ++finished; });

  std::vector<std::pair<std::string, bool>> results;  // (inventory node, joined)
  auto waiter = [&](const ScanOutcome& outcome, bool joined) {
    results.emplace_back(outcome.inventory.node(), joined);
  };
  int progress_seen = 0;
  runner.request({v1::DEEP, "vol-a"}, waiter, [&](const v1::Progress&) { ++progress_seen; });
  runner.request({v1::QUICK, ""}, waiter);          // covered: joins
  runner.request({v1::DEEP, "vol-a"}, waiter);      // covered: joins
  runner.request({v1::DEEP, "vol-b"}, waiter);      // not covered: pending
  runner.request({v1::DEEP, "vol-c"}, waiter);      // merged with vol-b: deep of every volume
  EXPECT_TRUE(runner.busy());

  scans.release_one();
  run_until(loop, [&] { return results.size() >= 3; });
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0], std::make_pair(std::string("deep:vol-a"), false));
  EXPECT_EQ(results[1], std::make_pair(std::string("deep:vol-a"), true));
  EXPECT_EQ(results[2], std::make_pair(std::string("deep:vol-a"), true));
  EXPECT_GE(progress_seen, 1);

  scans.release_one();
  run_until(loop, [&] { return results.size() >= 5; });
  ASSERT_EQ(results.size(), 5u);
  EXPECT_EQ(results[3].first, "deep:");  // vol-b + vol-c became one scan of every volume
  EXPECT_EQ(results[4].first, "deep:");
  EXPECT_EQ(scans.ran.size(), 2u);
  EXPECT_EQ(scans.max_concurrent, 1);
  EXPECT_EQ(finished, 2);
  run_until(loop, [&] { return !runner.busy(); });
  EXPECT_FALSE(runner.busy());
}

TEST(ScanRunner, CancelStopsTheScanAndFailsWaitingRequests) {
  boost::asio::io_context loop;
  GatedScans scans;
  int finished = 0;
  ScanRunner runner(loop, scans.function(), [&](ScanOutcome&) { ++finished; });
  std::vector<std::string> errors;
  auto waiter = [&](const ScanOutcome& outcome, bool) { errors.push_back(outcome.error); };
  runner.request({v1::QUICK, ""}, waiter);
  runner.request({v1::DEEP, ""}, waiter);  // pending
  runner.cancel();
  run_until(loop, [&] { return errors.size() >= 2; });
  ASSERT_EQ(errors.size(), 2u);
  for (const auto& error : errors) EXPECT_NE(error.find("cancelled"), std::string::npos);
  EXPECT_EQ(finished, 0) << "a cancelled scan is not spooled";
  runner.request({v1::QUICK, ""}, waiter);  // refused after cancel
  run_until(loop, [&] { return errors.size() >= 3; });
  EXPECT_EQ(errors.size(), 3u);
  EXPECT_EQ(scans.ran.size(), 1u);
}

}  // namespace
}  // namespace sentinel::daemon
