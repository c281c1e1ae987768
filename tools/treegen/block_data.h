// Deterministic content for generated image files, and Longhorn's snapshot checksum over a sparse layer.
//
// Contract:
// - Every generated 4 KiB block is a pure function of (seed, block index): the same spec always yields the
//   same bytes, on any machine, so tests and demos are reproducible and two replicas that "saw the same
//   writes" hold identical blocks.
// - A block starts with a printable tag line naming its seed and offset (so a hex dump of a recovered volume
//   says which generated layer a block came from), then pseudo-random bytes.
// - crc64_iso_* compute Go's hash/crc64 with the ISO table (what Longhorn stores in .img.checksum) without
//   touching the holes: runs of zeros are folded in with a GF(2) matrix power, so a 40 GiB sparse snapshot
//   costs as much as its few MiB of data.
// Pure functions, no I/O, no exceptions, safe from any thread.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string_view>

namespace sentinel::treegen {

inline constexpr uint64_t kBlockBytes = 4096;

// Fills `out` (exactly kBlockBytes) with the content of block `block_index` for `seed`.
void fill_block(uint64_t seed, uint64_t block_index, std::span<char> out);

// What a generated layer holds: block index -> seed of the write that last covered it. Blocks not in the map
// are holes.
using BlockMap = std::map<uint64_t, uint64_t>;

// CRC-64/ISO as Go's crc64.Checksum(data, crc64.MakeTable(crc64.ISO)) computes it.
uint64_t crc64_iso(std::string_view data);
// Continues a running CRC (the value a previous call returned) over more bytes / over `count` zero bytes.
uint64_t crc64_iso_update(uint64_t crc, std::string_view data);
uint64_t crc64_iso_zeros(uint64_t crc, uint64_t count);
// The checksum of a layer file of `apparent_bytes` holding `blocks` (holes read as zeros), as Longhorn's
// snapshot hash computes it over the whole file. Blocks at or past `apparent_bytes` are ignored.
uint64_t layer_crc64_iso(const BlockMap& blocks, uint64_t apparent_bytes);

}  // namespace sentinel::treegen
