// Lowercase hex, the one spelling Sentinel writes for checksums and digests (crc64: 16 digits, XXH3-128: 32).
// Header-only and dependency-free, so every part can use it: the wire form (proto/wire/wire_form.cpp) and the
// scanner (scanner/crc64.cpp, scanner/content_digest.cpp).
//
// Contract: parsing is strict (exactly the expected length, lowercase digits only) because a value that parses
// must format back to the very same text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sentinel::wire {

inline constexpr char kHexDigits[] = "0123456789abcdef";

// 16 lowercase hex digits, most significant first.
inline std::string hex64(uint64_t value) {
  std::string text(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) text[static_cast<size_t>(i)] = kHexDigits[value & 0xf];
  return text;
}

// Two lowercase hex digits per byte, in order.
inline std::string hex_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    out.push_back(kHexDigits[byte >> 4]);
    out.push_back(kHexDigits[byte & 0xf]);
  }
  return out;
}

inline int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // upper case is not what Sentinel writes
}

// Exactly 16 lowercase hex digits -> the number they spell.
inline bool parse_hex64(std::string_view text, uint64_t* value) {
  if (text.size() != 16) return false;
  uint64_t out = 0;
  for (char c : text) {
    const int digit = hex_digit(c);
    if (digit < 0) return false;
    out = (out << 4) | static_cast<uint64_t>(digit);
  }
  *value = out;
  return true;
}

// Exactly 2 * byte_count lowercase hex digits -> the bytes they spell.
inline bool parse_hex_bytes(std::string_view text, size_t byte_count, std::string* bytes) {
  if (text.size() != 2 * byte_count) return false;
  std::string out(byte_count, '\0');
  for (size_t i = 0; i < byte_count; ++i) {
    const int high = hex_digit(text[2 * i]);
    const int low = hex_digit(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<char>((high << 4) | low);
  }
  *bytes = std::move(out);
  return true;
}

}  // namespace sentinel::wire
