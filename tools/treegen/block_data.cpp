// Generated block content and CRC-64/ISO with hole skipping; see block_data.h.
#include "tools/treegen/block_data.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

namespace sentinel::treegen {
namespace {

// splitmix64: tiny, well mixed, and fully specified, so the bytes never depend on a library's PRNG.
uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

constexpr uint64_t kIsoPolyReflected = 0xD800000000000000ULL;

constexpr std::array<uint64_t, 256> make_table() {
  std::array<uint64_t, 256> table{};
  for (uint64_t i = 0; i < 256; ++i) {
    uint64_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc & 1) ? (crc >> 1) ^ kIsoPolyReflected : crc >> 1;
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint64_t, 256> kTable = make_table();

// The register update for one zero byte is linear over GF(2): a 64x64 bit matrix, stored as the image of each
// basis bit. kZeroPowers[k] is the matrix for 2^k zero bytes.
using Matrix = std::array<uint64_t, 64>;

uint64_t times(const Matrix& m, uint64_t v) {
  uint64_t out = 0;
  for (int i = 0; v != 0; ++i, v >>= 1) {
    if (v & 1) out ^= m[i];
  }
  return out;
}

std::array<Matrix, 64> make_zero_powers() {
  std::array<Matrix, 64> powers{};
  for (int i = 0; i < 64; ++i) {
    const uint64_t bit = uint64_t{1} << i;
    powers[0][i] = kTable[bit & 0xFF] ^ (bit >> 8);
  }
  for (int k = 1; k < 64; ++k) {
    for (int i = 0; i < 64; ++i) powers[k][i] = times(powers[k - 1], powers[k - 1][i]);
  }
  return powers;
}

const std::array<Matrix, 64>& zero_powers() {
  static const std::array<Matrix, 64> powers = make_zero_powers();
  return powers;
}

}  // namespace

void fill_block(uint64_t seed, uint64_t block_index, std::span<char> out) {
  uint64_t state = seed ^ (block_index * 0xD1B54A32D192ED03ULL);
  for (size_t i = 0; i + 8 <= out.size(); i += 8) {
    uint64_t word = splitmix64(state);
    std::memcpy(out.data() + i, &word, 8);
  }
  char tag[64];
  int n = std::snprintf(tag, sizeof tag, "sentinel-gen seed=%016llx offset=%016llx\n",
                        static_cast<unsigned long long>(seed),
                        static_cast<unsigned long long>(block_index * kBlockBytes));
  std::memcpy(out.data(), tag, std::min<size_t>({static_cast<size_t>(n), sizeof tag, out.size()}));
}

uint64_t crc64_iso_update(uint64_t crc, std::string_view data) {
  uint64_t reg = ~crc;
  for (unsigned char c : data) reg = kTable[(reg ^ c) & 0xFF] ^ (reg >> 8);
  return ~reg;
}

uint64_t crc64_iso(std::string_view data) { return crc64_iso_update(0, data); }

uint64_t crc64_iso_zeros(uint64_t crc, uint64_t count) {
  uint64_t reg = ~crc;
  const auto& powers = zero_powers();
  for (int k = 0; count != 0; ++k, count >>= 1) {
    if (count & 1) reg = times(powers[k], reg);
  }
  return ~reg;
}

uint64_t layer_crc64_iso(const BlockMap& blocks, uint64_t apparent_bytes) {
  uint64_t crc = 0;
  uint64_t pos = 0;
  std::array<char, kBlockBytes> block{};
  for (const auto& [index, seed] : blocks) {
    const uint64_t offset = index * kBlockBytes;
    if (offset >= apparent_bytes) break;
    crc = crc64_iso_zeros(crc, offset - pos);
    fill_block(seed, index, block);
    const size_t len = static_cast<size_t>(std::min<uint64_t>(kBlockBytes, apparent_bytes - offset));
    crc = crc64_iso_update(crc, std::string_view(block.data(), len));
    pos = offset + len;
  }
  return crc64_iso_zeros(crc, apparent_bytes - pos);
}

}  // namespace sentinel::treegen
