// Writers of an exported volume. See image_writer.h.
#include "salvage/image_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "scanner/content_digest.h"
#include "scanner/merged_view.h"

namespace sentinel::salvage {

namespace {

constexpr uint64_t kBlock = scanner::kVolumeBlockBytes;

// Zeros for the stream: 1 MiB per write(2) keeps the syscall count of a 40 GiB hole near 40,000.
alignas(4096) const uint8_t kZeros[1 << 20] = {};

}  // namespace

bool ImageWriter::fail(const std::string& what, int err) {
  if (error_.empty()) error_ = what + ": " + std::strerror(err);
  return false;
}

scanner::SysResult<std::unique_ptr<SparseImageWriter>> SparseImageWriter::create(int fd, uint64_t volume_bytes,
                                                                                 std::string name,
                                                                                 uint64_t writeback_window) {
  if (::ftruncate(fd, static_cast<off_t>(volume_bytes)) != 0) {
    return scanner::sys_error("size " + name + " to " + std::to_string(volume_bytes) + " bytes");
  }
  return std::unique_ptr<SparseImageWriter>(new SparseImageWriter(fd, std::move(name), writeback_window));
}

bool SparseImageWriter::write_at(uint64_t offset, const uint8_t* bytes, size_t length) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::pwrite(fd_, bytes + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write " + name_ + " at offset " + std::to_string(offset + done), errno);
    }
    done += static_cast<size_t>(n);
  }
  written_ += length;
  writeback_.written(offset, length);
  return true;
}

bool SparseImageWriter::finish() {
  writeback_.finish();
  return error_.empty();
}

bool SparseImageWriter::data(uint64_t offset, const uint8_t* bytes, size_t length) {
  // Walk the piece in volume-aligned 4 KiB blocks; write each run of blocks holding data in one pwrite.
  size_t pos = 0;
  size_t run_start = 0;
  bool in_run = false;
  while (pos < length) {
    const uint64_t at = offset + pos;
    const size_t block = static_cast<size_t>(std::min<uint64_t>(kBlock - at % kBlock, length - pos));
    const bool zero = scanner::is_all_zero(bytes + pos, block);
    if (zero) {
      zero_skipped_ += block;
      if (in_run && !write_at(offset + run_start, bytes + run_start, pos - run_start)) return false;
      in_run = false;
    } else if (!in_run) {
      run_start = pos;
      in_run = true;
    }
    pos += block;
  }
  return !in_run || write_at(offset + run_start, bytes + run_start, length - run_start);
}

bool SparseImageWriter::zeros(uint64_t, uint64_t) { return true; }  // the file is already a hole there

bool StreamWriter::write_all(const uint8_t* bytes, size_t length) {
  size_t done = 0;
  while (done < length) {
    const ssize_t n = ::write(fd_, bytes + done, length - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write " + name_, errno);
    }
    done += static_cast<size_t>(n);
  }
  written_ += length;
  return true;
}

bool StreamWriter::data(uint64_t, const uint8_t* bytes, size_t length) { return write_all(bytes, length); }

bool StreamWriter::zeros(uint64_t, uint64_t length) {
  while (length > 0) {
    const size_t piece = static_cast<size_t>(std::min<uint64_t>(length, sizeof kZeros));
    if (!write_all(kZeros, piece)) return false;
    length -= piece;
  }
  return true;
}

}  // namespace sentinel::salvage
