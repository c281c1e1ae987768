// A writer on a thread of its own. See pipelined_writer.h.
#include "salvage/pipelined_writer.h"

#include <cstring>

namespace sentinel::salvage {

PipelinedWriter::PipelinedWriter(std::unique_ptr<ImageWriter> inner)
    : inner_(std::move(inner)), slots_(kSlots), thread_([this] { run(); }) {}

PipelinedWriter::~PipelinedWriter() { (void)finish(); }

PipelinedWriter::Slot* PipelinedWriter::next_free_slot() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return failed_ || produced_ - consumed_ < kSlots; });
  if (failed_) return nullptr;
  return &slots_[produced_ % kSlots];  // free: the thread is done with it, and only this thread writes it
}

void PipelinedWriter::publish() {
  std::lock_guard<std::mutex> lock(mutex_);
  ++produced_;
  changed_.notify_all();
}

bool PipelinedWriter::data(uint64_t offset, const uint8_t* bytes, size_t length) {
  Slot* slot = next_free_slot();
  if (slot == nullptr) return false;
  slot->is_zeros = false;
  slot->offset = offset;
  slot->length = length;
  if (slot->bytes.size() < length) slot->bytes.resize(length);
  std::memcpy(slot->bytes.data(), bytes, length);
  publish();
  return true;
}

bool PipelinedWriter::zeros(uint64_t offset, uint64_t length) {
  Slot* slot = next_free_slot();
  if (slot == nullptr) return false;
  slot->is_zeros = true;
  slot->offset = offset;
  slot->length = length;
  publish();
  return true;
}

void PipelinedWriter::run() {
  for (;;) {
    Slot* slot = nullptr;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return produced_ > consumed_ || closing_; });
      if (produced_ == consumed_) return;  // closing, nothing left
      slot = &slots_[consumed_ % kSlots];
    }
    const bool ok = slot->is_zeros ? inner_->zeros(slot->offset, slot->length)
                                   : inner_->data(slot->offset, slot->bytes.data(), static_cast<size_t>(slot->length));
    std::lock_guard<std::mutex> lock(mutex_);
    ++consumed_;
    if (!ok) failed_ = true;
    changed_.notify_all();
    if (failed_) return;
  }
}

bool PipelinedWriter::finish() {
  if (finished_) return error_.empty();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    changed_.notify_all();
  }
  thread_.join();
  finished_ = true;
  (void)inner_->finish();
  error_ = inner_->error();
  written_ = inner_->bytes_written();
  zero_skipped_ = inner_->zero_bytes_skipped();
  return error_.empty();
}

}  // namespace sentinel::salvage
