// What the fuzz targets share: an invariant check that fails loudly (libFuzzer saves the input as a crash), and
// a reader that carves a fuzz input into the few choices a target makes before the bytes under test.
#pragma once

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

}  // namespace sentinel::fuzz
