#include "collector/committer.h"

#include <pthread.h>
#include <SQLiteCpp/Database.h>
#include <spdlog/spdlog.h>

#include <vector>

namespace sentinel::collector {

namespace {

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

Committer::Committer(Store& store, Metrics& metrics, CommitterOptions options)
    : store_(store), metrics_(metrics), options_(options), highest_(store.highest_sequences()) {}

Committer::~Committer() { stop(); }

void Committer::start() {
  // Prune once soon after start (a collector that was down for a while may hold expired rows), then on interval.
  next_prune_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "committer");  // `top -H` and profiles say which thread is busy
    run();
  });
  checkpoint_thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "checkpoint");
    run_checkpoints();
  });
}

void Committer::run_checkpoints() {
  std::unique_ptr<SQLite::Database> db;
  try {
    db = std::make_unique<SQLite::Database>(store_.path(), SQLite::OPEN_READWRITE);
    db->exec("PRAGMA busy_timeout = 1000");
  } catch (const std::exception& e) {
    spdlog::warn("store: no background checkpoints ({}); the store checkpoints itself", e.what());
    return;
  }
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    wake_checkpoints_.wait_for(lock, std::chrono::milliseconds(250), [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    try {
      db->exec("PRAGMA wal_checkpoint(PASSIVE)");
    } catch (const std::exception& e) {
      spdlog::debug("store: checkpoint: {}", e.what());
    }
    lock.lock();
  }
}

bool Committer::submit(PendingReport report) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return false;
    queued_bytes_ += report.item.wire_bytes;
    queue_.push_back(std::move(report));
  }
  wake_.notify_one();
  return true;
}

void Committer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  wake_checkpoints_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
}

uint64_t Committer::highest_sequence(const std::string& node) const {
  std::lock_guard lock(mutex_);
  const auto it = highest_.find(node);
  return it == highest_.end() ? 0 : it->second;
}

uint64_t Committer::queued_bytes() const {
  std::lock_guard lock(mutex_);
  return queued_bytes_;
}

void Committer::run() {
  std::vector<PendingReport> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const bool prune_enabled = options_.retention.count() > 0;
      auto ready = [&] { return !queue_.empty() || stopping_; };
      if (prune_enabled && !prune_pending_) {
        wake_.wait_until(lock, next_prune_, ready);
      } else if (!prune_pending_) {
        wake_.wait(lock, ready);
      }
      if (queue_.empty() && stopping_) return;
      uint64_t bytes = 0;
      while (!queue_.empty() && batch.size() < options_.max_batch_reports &&
             (batch.empty() || bytes + queue_.front().item.wire_bytes <= options_.max_batch_bytes)) {
        bytes += queue_.front().item.wire_bytes;
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!batch.empty()) {
      commit(batch);
      batch.clear();
    }
    // Between batches, also under a load that never leaves the queue empty: one bounded step at a time.
    if (options_.retention.count() > 0 &&
        (prune_pending_ || std::chrono::steady_clock::now() >= next_prune_)) {
      prune_step();
    }
  }
}

void Committer::commit(std::vector<PendingReport>& batch) {
  std::vector<ReportToStore> items;
  items.reserve(batch.size());
  uint64_t bytes = 0;
  for (const auto& pending : batch) {
    items.push_back(pending.item);
    bytes += pending.item.wire_bytes;
  }
  const auto started = std::chrono::steady_clock::now();
  std::string error;
  auto outcomes = store_.store_reports(items, &error);
  metrics_.commit_latency.observe(std::chrono::steady_clock::now() - started);
  {
    std::lock_guard lock(mutex_);
    queued_bytes_ -= bytes;
    if (outcomes) {
      for (size_t i = 0; i < batch.size(); ++i) {
        if ((*outcomes)[i].malformed) continue;  // not stored
        uint64_t& highest = highest_[items[i].node];
        highest = std::max(highest, items[i].report->sequence());
      }
    }
  }
  if (!outcomes) {
    metrics_.commit_failures.fetch_add(1, std::memory_order_relaxed);
    spdlog::error("store: a batch of {} reports could not be committed and was rolled back: {}", batch.size(), error);
  } else {
    metrics_.commit_batches.fetch_add(1, std::memory_order_relaxed);
    if (options_.on_events && store_.events_in_last_commit() > 0) options_.on_events();
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    CommitOutcome outcome;
    outcome.ok = outcomes.has_value();
    if (outcomes) {
      outcome.stored = (*outcomes)[i];
      if (!outcome.stored.malformed) {
        auto& counter = outcome.stored.duplicate ? metrics_.reports_duplicate : metrics_.reports_stored;
        counter.fetch_add(1, std::memory_order_relaxed);
      }
      if (outcome.stored.superseded) metrics_.reports_superseded.fetch_add(1, std::memory_order_relaxed);
    } else {
      outcome.error = error;
    }
    batch[i].done(std::move(outcome));
    batch[i].done = nullptr;
    batch[i].owner.reset();
  }
}

void Committer::prune_step() {
  const int64_t cutoff = wall_clock_ns() - options_.retention.count();
  std::string error;
  const auto result = store_.prune(cutoff, options_.prune_rows_per_step, &error);
  if (!result) {
    spdlog::error("store: {}", error);
    prune_pending_ = false;
  } else {
    if (result->history_rows + result->report_rows > 0) {
      spdlog::info("store: pruned {} history rows and {} report records older than the retention",
                   result->history_rows, result->report_rows);
    }
    prune_pending_ = result->more;
  }
  if (!prune_pending_) next_prune_ = std::chrono::steady_clock::now() + options_.prune_interval;
}

}  // namespace sentinel::collector
