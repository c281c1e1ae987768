// A writer on a thread of its own, so that writing the image (the copy into the page cache, the file system's
// block allocation, the writeback) runs on a second core while the merged view is read on the first.
//
// Contract:
// - Wraps any ImageWriter (image_writer.h); the wrapped writer is used only from the pipeline's thread, in the
//   order data()/zeros() were called, so it sees exactly the same calls as without the pipeline.
// - data() copies the piece into one of a fixed ring of slots (the merged view's bytes are valid only during the
//   call) and returns; it waits only when every slot is still queued. Memory: kSlots slots of at most the largest
//   piece seen (the read engine's block size, 512 KiB by default).
// - The first failure of the wrapped writer stops the pipeline: later data()/zeros() return false, so the
//   stream stops, and finish() returns false with the wrapped writer's error. finish() (or the destructor)
//   drains the queue and joins the thread.
// - Not thread-safe itself: one producer thread calls it.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "salvage/image_writer.h"

namespace sentinel::salvage {

class PipelinedWriter final : public ImageWriter {
 public:
  static constexpr size_t kSlots = 8;

  explicit PipelinedWriter(std::unique_ptr<ImageWriter> inner);
  ~PipelinedWriter() override;
  PipelinedWriter(const PipelinedWriter&) = delete;
  PipelinedWriter& operator=(const PipelinedWriter&) = delete;

  bool data(uint64_t offset, const uint8_t* bytes, size_t length) override;
  bool zeros(uint64_t offset, uint64_t length) override;
  bool finish() override;

 private:
  struct Slot {
    bool is_zeros = false;
    uint64_t offset = 0;
    uint64_t length = 0;
    std::vector<uint8_t> bytes;  // data slots only
  };
  // Waits for a free slot; nullptr when the pipeline failed.
  Slot* next_free_slot();
  void publish();
  void run();

  std::unique_ptr<ImageWriter> inner_;
  std::vector<Slot> slots_;
  // Guarded by mutex_: the ring's positions (slot i % kSlots), and the pipeline's state.
  std::mutex mutex_;
  std::condition_variable changed_;
  uint64_t produced_ = 0;  // slots handed to the thread
  uint64_t consumed_ = 0;  // slots the thread finished with
  bool closing_ = false;
  bool failed_ = false;
  bool finished_ = false;
  std::thread thread_;
};

}  // namespace sentinel::salvage
