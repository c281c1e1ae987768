// Longhorn's snapshot checksum: CRC-64/ISO exactly as Go's hash/crc64 computes it with the ISO table
// (reflected polynomial 0xD800000000000000, initial value and final xor all ones), printed as 16 lowercase
// hex digits. LONGHORN-FORMAT.md, "Longhorn's snapshot checksum".
//
// Values passed around here are the finished CRC of everything fed so far (Go's `crc64.Update` and ISA-L's
// `crc64_iso_refl` convention): 0 is the CRC of no bytes, and `crc64_iso_update(crc64_iso_update(0, a), b)`
// equals the CRC of a||b. The check value of "123456789" is 0xb90956c775a41001.
//
// Holes cost nothing to read: `crc64_iso_extend_zeros` folds N zero bytes into a CRC in O(log N) by
// multiplying the CRC register by x^(8N) modulo the polynomial (the GF(2) technique of zlib's crc32_combine).
//
// Pure functions over memory; no I/O, no allocation (except the hex string), safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace sentinel::scanner {

// CRC of `data[0..len)` appended to the bytes whose CRC is `crc`. Uses ISA-L (carry-less multiply).
uint64_t crc64_iso_update(uint64_t crc, const void* data, size_t len);

// CRC after appending `zero_bytes` zero bytes to the bytes whose CRC is `crc`. O(log zero_bytes).
uint64_t crc64_iso_extend_zeros(uint64_t crc, uint64_t zero_bytes);

// CRC of a||b given crc(a), crc(b) and the length of b. O(log len_b). Lets pieces be hashed independently.
uint64_t crc64_iso_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b);

// 16 lowercase hex digits, most significant first: what Longhorn writes in `.img.checksum`.
std::string crc64_hex(uint64_t crc);

// Longhorn's checksum of a sparse file from its data pieces: feed the allocated pieces in file order, each at
// its offset; every gap before a piece and after the last one (up to the apparent size) is a hole and is
// folded in as zeros. Cost grows with the data fed plus O(log gap) per gap, never with the apparent size.
//
// Single-threaded value type. A piece that starts before the current position or ends past the apparent size
// is refused (update returns false and the state is unchanged): the caller's extent list is inconsistent with
// the file.
class SparseCrc64 {
 public:
  explicit SparseCrc64(uint64_t apparent_size) : size_(apparent_size) {}

  // Feeds `len` bytes found at `offset`; the bytes between position() and `offset` are zeros.
  [[nodiscard]] bool update(uint64_t offset, const void* data, size_t len);
  // Declares zeros up to `offset` (a hole or an unread range of zeros). Same ordering rule as update.
  [[nodiscard]] bool skip_to(uint64_t offset);

  // Bytes accounted for so far (data and holes).
  [[nodiscard]] uint64_t position() const { return pos_; }
  [[nodiscard]] uint64_t apparent_size() const { return size_; }

  // The CRC of the whole file: folds the zeros from position() to the apparent size. Does not change state.
  [[nodiscard]] uint64_t value() const;
  [[nodiscard]] std::string hex() const { return crc64_hex(value()); }

 private:
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t crc_ = 0;
};

}  // namespace sentinel::scanner
