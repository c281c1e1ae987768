// The store's writer thread: reports from every connection queue here and are committed in batches (group
// commit), so ingest costs one transaction (one fsync with --sync full) per batch, not per report.
//
// Contract:
// - submit() is thread-safe and never blocks on the store. Each report's `done` runs exactly once, on the
//   committer's thread, AFTER the transaction holding the report has committed (or failed and rolled back):
//   that is what makes "acked = durable" true. `done` must be cheap (post to the connection's executor).
// - Batches take whatever is queued when the previous commit ends (no artificial delay: an idle collector
//   commits a lone report at once), at most max_batch_reports / max_batch_bytes. Reports of one connection
//   are committed, and their `done` run, in submission order.
// - stop() commits everything already submitted, runs its `done`s, and joins; submit() after stop() began
//   returns false (the caller refuses the report: the agent keeps it and retries).
// - Between batches, when --retention is set, old history and report records are pruned in small steps.
// - WAL checkpoints run on a thread of their own (its own connection, PASSIVE, a few times a second), so most
//   of the copying of pages back into the database file happens beside the commits, not in them (the store's
//   own automatic checkpoint finishes the job so the WAL restarts; see store.cpp).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "collector/metrics.h"
#include "collector/store.h"

namespace sentinel::collector {

struct CommitOutcome {
  bool ok = false;
  StoredReport stored;
  std::string error;  // !ok: why the store could not commit
};

struct PendingReport {
  ReportToStore item;              // item.report points into `owner`
  std::shared_ptr<const void> owner;  // keeps the parsed report alive until done has run
  std::function<void(CommitOutcome)> done;
};

struct CommitterOptions {
  size_t max_batch_reports = 2000;
  uint64_t max_batch_bytes = 64ull << 20;
  std::chrono::nanoseconds retention{0};  // 0 = never prune
  std::chrono::nanoseconds prune_interval = std::chrono::minutes(10);
  uint64_t prune_rows_per_step = 5000;
  // Called on the committer's thread after a commit that recorded events (the publisher's notify()).
  std::function<void()> on_events;
};

class Committer {
 public:
  Committer(Store& store, Metrics& metrics, CommitterOptions options);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  void start();
  bool submit(PendingReport report);
  void stop();

  // Thread-safe: the highest committed sequence of a node (0 = none).
  uint64_t highest_sequence(const std::string& node) const;
  // Thread-safe: wire bytes queued and not yet committed (connections stop reading above a limit).
  uint64_t queued_bytes() const;

 private:
  void run();
  void run_checkpoints();
  void commit(std::vector<PendingReport>& batch);
  void prune_step();

  Store& store_;
  Metrics& metrics_;
  const CommitterOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable wake_checkpoints_;
  std::deque<PendingReport> queue_;
  uint64_t queued_bytes_ = 0;
  bool stopping_ = false;
  std::unordered_map<std::string, uint64_t> highest_;  // guarded by mutex_

  std::chrono::steady_clock::time_point next_prune_;  // committer thread only
  bool prune_pending_ = false;                        // committer thread only
  std::thread thread_;
  std::thread checkpoint_thread_;
};

}  // namespace sentinel::collector
