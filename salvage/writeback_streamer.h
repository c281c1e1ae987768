// Streams a file's writeback to the storage while it is still being written, on a thread of its own.
//
// Why a thread: starting writeback (sync_file_range WRITE) does the file system's block allocation and builds and
// submits the I/O in the calling thread, tens of milliseconds per 32 MiB; done inline it stalls the export's
// reading for as long as a `sync` at the end would. On this thread it runs beside the reading, on another core.
//
// Contract:
// - written(range): a range of the file whose pages were just written; when kWindow bytes have accumulated, the
//   thread starts their writeback, and once more than kDepth windows are in flight waits for the oldest and
//   drops it from the page cache (POSIX_FADV_DONTNEED), so a 40 GiB export neither piles up gigabytes of dirty
//   pages nor leaves its data in the node's page cache. Ranges are in ascending order (the export writes in
//   volume order); a range may span holes (nothing there to write).
// - Best effort: a file system without sync_file_range simply leaves everything to the caller's final fsync,
//   which stays required for durability (sync_file_range flushes neither metadata nor the device cache).
// - finish() (or the destructor) stops the thread after the ranges handed over; it does not wait for their
//   writeback (the caller's fsync does).
// - written() and finish() are called from one thread; nothing throws except std::bad_alloc / std::system_error
//   from thread creation.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>

namespace sentinel::salvage {

class WritebackStreamer {
 public:
  static constexpr uint64_t kWindow = uint64_t{32} << 20;
  static constexpr size_t kDepth = 8;  // windows in flight: ~256 MiB of dirty pages at most from this file

  // `fd` stays open for the streamer's life. `window`: tests use a small one.
  explicit WritebackStreamer(int fd, uint64_t window = kWindow);
  ~WritebackStreamer();
  WritebackStreamer(const WritebackStreamer&) = delete;
  WritebackStreamer& operator=(const WritebackStreamer&) = delete;

  void written(uint64_t offset, uint64_t length);
  void finish();

 private:
  struct Range {
    uint64_t offset;
    uint64_t length;
  };
  void run();

  int fd_;
  uint64_t window_;
  // The producer's side.
  uint64_t window_start_ = 0;
  uint64_t window_end_ = 0;
  uint64_t window_bytes_ = 0;
  // Shared, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Range> queued_;
  bool stopping_ = false;
  // The thread's own.
  std::deque<Range> in_flight_;
  std::thread thread_;
};

}  // namespace sentinel::salvage
