// CRC-64/ISO as Go's hash/crc64 computes it. See crc64.h for the contract.
//
// Polynomial arithmetic follows zlib's crc32_combine (multmodp / x2nmodp), widened to 64 bits. In the
// reflected representation the most significant bit is the coefficient of x^0, so shifting right multiplies
// by x, and a bit falling off the low end is reduced with the reflected polynomial.
#include "scanner/crc64.h"

#include "proto/wire/hex.h"

#include <isa-l/crc64.h>

#include <array>

namespace sentinel::scanner {
namespace {

constexpr uint64_t kPolyReflected = 0xD800000000000000ULL;  // x^64 + x^4 + x^3 + x + 1, reflected
constexpr uint64_t kOne = 1ULL << 63;                       // the polynomial 1 (x^0)

// a * b modulo the polynomial; both reflected. `a` is never 0 for the operators used here (x^n mod P is
// never 0 because P has a constant term), but 0 is handled anyway.
constexpr uint64_t multmodp(uint64_t a, uint64_t b) {
  uint64_t product = 0;
  for (uint64_t m = kOne; m != 0; m >>= 1) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1)) == 0) break;  // no higher-degree terms left in a
    }
    b = (b & 1) ? (b >> 1) ^ kPolyReflected : b >> 1;
  }
  return product;
}

// kX2n[k] = x^(2^k) mod P. Zero runs are at most 2^64 - 1 bytes = 2^67 bits, so k < 3 + 64.
constexpr size_t kX2nEntries = 67;
constexpr std::array<uint64_t, kX2nEntries> make_x2n_table() {
  std::array<uint64_t, kX2nEntries> table{};
  uint64_t p = kOne >> 1;  // x^1
  table[0] = p;
  for (size_t k = 1; k < kX2nEntries; ++k) {
    p = multmodp(p, p);
    table[k] = p;
  }
  return table;
}
constexpr std::array<uint64_t, kX2nEntries> kX2n = make_x2n_table();

// x^(8 * bytes) mod P: the operator that appends `bytes` zero bytes to a CRC register.
uint64_t x8nmodp(uint64_t bytes) {
  uint64_t p = kOne;
  size_t k = 3;  // 8 = 2^3
  while (bytes != 0) {
    if (bytes & 1) p = multmodp(kX2n[k], p);
    bytes >>= 1;
    ++k;
  }
  return p;
}

}  // namespace

uint64_t crc64_iso_update(uint64_t crc, const void* data, size_t len) {
  if (len == 0) return crc;
  // ISA-L's reflected variants invert on entry and exit, exactly like Go's crc64.Update.
  return ::crc64_iso_refl(crc, static_cast<const unsigned char*>(data), len);
}

uint64_t crc64_iso_extend_zeros(uint64_t crc, uint64_t zero_bytes) {
  if (zero_bytes == 0) return crc;
  // The register (crc with the final xor undone) times x^(8n); then the final xor again. The initial xor is
  // already part of the register, so it must not be applied twice.
  return ~multmodp(x8nmodp(zero_bytes), ~crc);
}

uint64_t crc64_iso_combine(uint64_t crc_a, uint64_t crc_b, uint64_t len_b) {
  // crc(a||b) = crc(a) * x^(8|b|) xor crc(b): the all-ones pre- and post-conditioning cancel (zlib's identity).
  if (len_b == 0) return crc_a;
  return multmodp(x8nmodp(len_b), crc_a) ^ crc_b;
}

std::string crc64_hex(uint64_t crc) { return wire::hex64(crc); }

bool SparseCrc64::skip_to(uint64_t offset) {
  if (offset < pos_ || offset > size_) return false;
  crc_ = crc64_iso_extend_zeros(crc_, offset - pos_);
  pos_ = offset;
  return true;
}

bool SparseCrc64::update(uint64_t offset, const void* data, size_t len) {
  if (offset < pos_ || offset > size_ || len > size_ - offset) return false;
  crc_ = crc64_iso_extend_zeros(crc_, offset - pos_);
  crc_ = crc64_iso_update(crc_, data, len);
  pos_ = offset + len;
  return true;
}

uint64_t SparseCrc64::value() const { return crc64_iso_extend_zeros(crc_, size_ - pos_); }

}  // namespace sentinel::scanner
