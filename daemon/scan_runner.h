// ScanRunner: runs the agent's scans off the event loop, one at a time, and lets requests join them.
//
// Contract:
// - Every public method is called on the loop thread (the io_context the runner was made with). The scan itself
//   runs on the runner's own worker thread; its progress, its result and the waiters' callbacks are posted
//   back to the loop, so callers never see another thread.
// - Scans never overlap. A request that the running scan covers joins it (its waiter gets the same result,
//   `joined` = true): a deep scan covers a quick one, an all-volumes scan covers a one-volume scan. Otherwise
//   the request waits in the single pending slot, merged with what is already there (quick + deep = deep,
//   deep of volume A + deep of volume B = deep of all volumes).
// - The finisher runs on the loop for every completed scan before the waiters are told (the agent spools the
//   report there and stamps the sequence into the outcome).
// - cancel() stops the running scan at the next replica boundary (a deep scan; a quick scan is short and ends
//   normally), fails every pending request with "cancelled", and refuses new ones. drain() then waits for the
//   worker thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sentinel/v1/wire.pb.h"

namespace sentinel::daemon {

struct ScanRequest {
  v1::ScanKind kind = v1::QUICK;
  std::string volume;  // deep scans only: "" = every volume
};

struct ScanOutcome {
  ScanRequest request;
  v1::Inventory inventory;
  int64_t finished_at_ns = 0;
  uint64_t sequence = 0;  // set by the finisher when the report was spooled
  std::string error;      // "" when the scan ran; "cancelled" when the agent stopped it
};

// Called on the worker thread. Must return promptly once `cancelled` is true (at the next replica).
using ScanFunction = std::function<v1::Inventory(const ScanRequest& request, const std::atomic<bool>& cancelled,
                                                 const std::function<void(const v1::Progress&)>& progress)>;
using ScanWaiter = std::function<void(const ScanOutcome& outcome, bool joined)>;
using ProgressListener = std::function<void(const v1::Progress& progress)>;

class ScanRunner {
 public:
  ScanRunner(boost::asio::io_context& loop, ScanFunction scan, std::function<void(ScanOutcome&)> finisher);
  ~ScanRunner();
  ScanRunner(const ScanRunner&) = delete;
  ScanRunner& operator=(const ScanRunner&) = delete;

  // Starts, joins or queues a scan. `waiter` and `progress` may be empty.
  void request(const ScanRequest& request, ScanWaiter waiter = {}, ProgressListener progress = {});

  bool busy() const { return running_ != nullptr; }
  std::optional<ScanRequest> running() const;
  void cancel();
  void drain();

 private:
  struct Job {
    ScanRequest request;
    std::vector<std::pair<ScanWaiter, bool>> waiters;  // (callback, joined)
    std::vector<ProgressListener> listeners;
  };
  static bool covers(const ScanRequest& running, const ScanRequest& wanted);
  static void merge_into(ScanRequest* pending, const ScanRequest& wanted);
  void start(std::shared_ptr<Job> job);
  void finish(std::shared_ptr<Job> job, ScanOutcome outcome);

  boost::asio::io_context& loop_;
  ScanFunction scan_;
  std::function<void(ScanOutcome&)> finisher_;
  boost::asio::thread_pool worker_{1};
  std::atomic<bool> cancelled_{false};
  std::shared_ptr<Job> running_;
  std::shared_ptr<Job> pending_;
};

}  // namespace sentinel::daemon
