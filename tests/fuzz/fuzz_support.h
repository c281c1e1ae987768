// What the fuzz targets share: an invariant check that fails loudly (libFuzzer saves the input as a crash), a
// reader that carves a fuzz input into the few choices a target makes before the bytes under test, and the
// delivery of bytes to a frame decoder in reads of a chosen size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// An invariant of the code under test: when it does not hold, print it and abort (a crash artifact for libFuzzer).
#define FUZZ_CHECK(condition)                                                                   \
  do {                                                                                          \
    if (!(condition)) {                                                                         \
      std::fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                             \
    }                                                                                           \
  } while (false)

namespace sentinel::fuzz {

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(reinterpret_cast<const char*>(data)), size_(size) {}

  // One byte of the input (0 once it is used up).
  uint8_t byte() {
    if (at_ == size_) return 0;
    return static_cast<uint8_t>(data_[at_++]);
  }
  // Everything not taken yet.
  std::string_view rest() {
    std::string_view out(data_ + at_, size_ - at_);
    at_ = size_;
    return out;
  }
  size_t remaining() const { return size_ - at_; }

 private:
  const char* data_;
  size_t size_;
  size_t at_ = 0;
};

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

// Feeds `bytes` to `decoder` (a wire::FrameDecoder) as a socket would deliver them, in reads of `read_size` bytes
// (0: all at once). After each read the decoder must hold no more than it was fed, and `drain()` takes the frames
// that are now complete; it returns false once the decoder has failed, which ends the feeding.
template <typename Decoder, typename Drain>
void feed_in_reads(Decoder& decoder, std::string_view bytes, size_t read_size, Drain drain) {
  size_t fed = 0;
  while (!bytes.empty()) {
    const size_t n = read_size == 0 ? bytes.size() : std::min(read_size, bytes.size());
    decoder.feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
    fed += n;
    FUZZ_CHECK(decoder.buffered() <= fed);
    if (!drain()) return;
  }
}

}  // namespace sentinel::fuzz
