#include "daemon/scan_runner.h"

#include <boost/asio/post.hpp>
#include <chrono>

namespace sentinel::daemon {

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ScanRunner::ScanRunner(boost::asio::io_context& loop, ScanFunction scan, std::function<void(ScanOutcome&)> finisher)
    : loop_(loop), scan_(std::move(scan)), finisher_(std::move(finisher)) {}

ScanRunner::~ScanRunner() {
  cancelled_ = true;
  worker_.join();
}

bool ScanRunner::covers(const ScanRequest& running, const ScanRequest& wanted) {
  if (wanted.kind == v1::QUICK) return true;  // every scan starts with the full quick inventory
  if (running.kind != v1::DEEP) return false;
  return running.volume.empty() || running.volume == wanted.volume;
}

void ScanRunner::merge_into(ScanRequest* pending, const ScanRequest& wanted) {
  if (wanted.kind != v1::DEEP) return;
  if (pending->kind != v1::DEEP) {
    *pending = wanted;
  } else if (pending->volume != wanted.volume) {
    pending->volume.clear();  // two different volumes: scan them all
  }
}

std::optional<ScanRequest> ScanRunner::running() const {
  if (!running_) return std::nullopt;
  return running_->request;
}

void ScanRunner::request(const ScanRequest& request, ScanWaiter waiter, ProgressListener progress) {
  if (cancelled_) {
    if (waiter) {
      ScanOutcome outcome;
      outcome.request = request;
      outcome.error = "cancelled: the agent is shutting down";
      boost::asio::post(loop_, [waiter, outcome] { waiter(outcome, false); });
    }
    return;
  }
  if (running_ && covers(running_->request, request)) {
    if (waiter) running_->waiters.emplace_back(std::move(waiter), true);
    if (progress) running_->listeners.push_back(std::move(progress));
    return;
  }
  if (running_) {
    if (!pending_) {
      pending_ = std::make_shared<Job>();
      pending_->request = request;
    } else {
      merge_into(&pending_->request, request);
    }
    if (waiter) pending_->waiters.emplace_back(std::move(waiter), false);
    if (progress) pending_->listeners.push_back(std::move(progress));
    return;
  }
  auto job = std::make_shared<Job>();
  job->request = request;
  if (waiter) job->waiters.emplace_back(std::move(waiter), false);
  if (progress) job->listeners.push_back(std::move(progress));
  start(std::move(job));
}

void ScanRunner::start(std::shared_ptr<Job> job) {
  running_ = job;
  const ScanRequest request = job->request;
  boost::asio::post(worker_, [this, job, request] {
    auto report_progress = [this, job](const v1::Progress& progress) {
      boost::asio::post(loop_, [job, progress] {
        for (const auto& listener : job->listeners) listener(progress);
      });
    };
    ScanOutcome outcome;
    outcome.request = request;
    outcome.inventory = scan_(request, cancelled_, report_progress);
    outcome.finished_at_ns = now_ns();
    if (cancelled_) outcome.error = "cancelled: the agent is shutting down";
    boost::asio::post(loop_, [this, job, outcome = std::move(outcome)]() mutable {
      finish(job, std::move(outcome));
    });
  });
}

void ScanRunner::finish(std::shared_ptr<Job> job, ScanOutcome outcome) {
  if (outcome.error.empty()) finisher_(outcome);
  running_.reset();
  for (const auto& [waiter, joined] : job->waiters) waiter(outcome, joined);
  if (pending_ && !cancelled_) {
    auto next = std::move(pending_);
    pending_.reset();
    start(std::move(next));
  }
}

void ScanRunner::cancel() {
  cancelled_ = true;
  if (pending_) {
    auto job = std::move(pending_);
    pending_.reset();
    ScanOutcome outcome;
    outcome.request = job->request;
    outcome.error = "cancelled: the agent is shutting down";
    for (const auto& [waiter, joined] : job->waiters) waiter(outcome, joined);
  }
}

void ScanRunner::drain() { worker_.join(); }

}  // namespace sentinel::daemon
