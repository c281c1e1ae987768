// Streams a file's writeback on a thread of its own. See writeback_streamer.h.
#include "salvage/writeback_streamer.h"

#include <fcntl.h>

namespace sentinel::salvage {

WritebackStreamer::WritebackStreamer(int fd, uint64_t window) : fd_(fd), window_(window), thread_([this] { run(); }) {}

WritebackStreamer::~WritebackStreamer() { finish(); }

void WritebackStreamer::written(uint64_t offset, uint64_t length) {
  if (window_bytes_ == 0) window_start_ = offset;
  window_end_ = offset + length;
  window_bytes_ += length;
  if (window_bytes_ < window_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queued_.push_back({window_start_, window_end_ - window_start_});
  }
  changed_.notify_one();
  window_bytes_ = 0;
}

void WritebackStreamer::finish() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  changed_.notify_one();
  thread_.join();
}

void WritebackStreamer::run() {
  for (;;) {
    Range range{};
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return !queued_.empty() || stopping_; });
      if (queued_.empty()) return;  // stopping; what is left is the caller's fsync's
      range = queued_.front();
      queued_.pop_front();
    }
    (void)::sync_file_range(fd_, static_cast<off_t>(range.offset), static_cast<off_t>(range.length),
                            SYNC_FILE_RANGE_WRITE);
    in_flight_.push_back(range);
    if (in_flight_.size() > kDepth) {
      const Range oldest = in_flight_.front();
      in_flight_.pop_front();
      (void)::sync_file_range(fd_, static_cast<off_t>(oldest.offset), static_cast<off_t>(oldest.length),
                              SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      (void)::posix_fadvise(fd_, static_cast<off_t>(oldest.offset), static_cast<off_t>(oldest.length),
                            POSIX_FADV_DONTNEED);
    }
  }
}

}  // namespace sentinel::salvage
