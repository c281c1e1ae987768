// Writers of an exported volume: the merged view's pieces (data and zero ranges, in volume order) into a sparse
// raw image file, or as a plain byte stream (stdout) for dd / qemu-img pipelines.
//
// Contract:
// - SparseImageWriter: the file is sized to the volume first (ftruncate), then only 4 KiB blocks holding a
//   non-zero byte are written (pwrite at their volume offset). Zero ranges and all-zero data blocks are left as
//   holes: the file reads back byte-identical (a hole reads as zeros) and allocates about the data's size.
//   Blocks are aligned to the volume offset, as Longhorn's own 4 KiB blocks are.
//   Writeback streams to the storage while the export goes on (writeback_streamer.h), and the pages written are
//   dropped from the page cache once on storage.
// - StreamWriter: every byte in order, zeros included (from a static zero buffer), with write(2) until done;
//   EPIPE (the reader went away) is an error like any other. Nothing is seeked: pipes cannot seek.
// - Errors are values: data()/zeros() return false and keep the first error (error()); the caller stops the
//   stream then. Nothing throws except std::bad_alloc. One thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "salvage/writeback_streamer.h"
#include "scanner/sys_result.h"

namespace sentinel::salvage {

class ImageWriter {
 public:
  virtual ~ImageWriter() = default;
  // `length` bytes of volume data at `offset` (valid only during the call).
  [[nodiscard]] virtual bool data(uint64_t offset, const uint8_t* bytes, size_t length) = 0;
  // `length` zero bytes at `offset` (holes).
  [[nodiscard]] virtual bool zeros(uint64_t offset, uint64_t length) = 0;
  // Once, after the last data()/zeros() (also after a failed stream): false when any write failed. Writers
  // that buffer flush here; the counters are final after it.
  virtual bool finish() { return error_.empty(); }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] uint64_t bytes_written() const { return written_; }
  [[nodiscard]] uint64_t zero_bytes_skipped() const { return zero_skipped_; }

 protected:
  bool fail(const std::string& what, int err);
  std::string error_;
  uint64_t written_ = 0;
  uint64_t zero_skipped_ = 0;
};

class SparseImageWriter final : public ImageWriter {
 public:
  // Sizes the open, empty file `fd` to `volume_bytes`; `name` is for messages. `writeback_window`: tests use a
  // small one to exercise the streaming writeback on a small file.
  static scanner::SysResult<std::unique_ptr<SparseImageWriter>> create(
      int fd, uint64_t volume_bytes, std::string name, uint64_t writeback_window = WritebackStreamer::kWindow);
  bool data(uint64_t offset, const uint8_t* bytes, size_t length) override;
  bool zeros(uint64_t offset, uint64_t length) override;
  bool finish() override;

 private:
  SparseImageWriter(int fd, std::string name, uint64_t writeback_window)
      : fd_(fd), name_(std::move(name)), writeback_(fd, writeback_window) {}
  bool write_at(uint64_t offset, const uint8_t* bytes, size_t length);
  int fd_;
  std::string name_;
  WritebackStreamer writeback_;
};

class StreamWriter final : public ImageWriter {
 public:
  StreamWriter(int fd, std::string name) : fd_(fd), name_(std::move(name)) {}
  bool data(uint64_t offset, const uint8_t* bytes, size_t length) override;
  bool zeros(uint64_t offset, uint64_t length) override;

 private:
  bool write_all(const uint8_t* bytes, size_t length);
  int fd_;
  std::string name_;
};

}  // namespace sentinel::salvage
