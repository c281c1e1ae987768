// The content digest of a merged volume (issue 3, item 4): XXH3-128 over fixed 4 MiB chunks, and one XXH3-128
// over the list of chunk digests. Two replicas hold the same volume bytes exactly when their digests agree,
// whatever their snapshot layering, holes or written zeros.
//
// The construction (inventory.proto, ContentSummary, says the same for other implementations):
//   1. The volume is the merged view of the replica's chain (merged_view.h): `Size` bytes, holes as zeros.
//   2. It is cut into chunks of kContentChunkBytes = 4 MiB: chunk i covers [i * 4 MiB, min((i + 1) * 4 MiB, Size)).
//      The last chunk is shorter when Size is not a multiple of 4 MiB; it is hashed over its real length, never
//      padded. n = ceil(Size / 4 MiB) chunks (0 for an empty volume).
//   3. d_i = XXH3-128 with seed 0 and the default secret (libxxhash's XXH3_128bits) of chunk i's bytes.
//      A full chunk of zeros, whether holes or written zeros, therefore has the one digest kZeroChunkDigestHex
//      (34001ae2f947e773165f453a5f35c459); nothing special-cases zeros in the definition, only in the cost.
//   4. contentDigest = XXH3-128 (seed 0) of canonical(d_0) || canonical(d_1) || ... || canonical(d_{n-1}),
//      where canonical(d) is the 16-byte big-endian form (XXH128_canonicalFromHash: the high 64 bits first).
//   5. Digests are written as 32 lowercase hex digits of the canonical form (high 64 bits first), exactly what
//      `xxh128sum` prints. Check: `split -b 4M volume.raw c.; xxh128sum c.*` lists the d_i, and
//      `xxh128sum` of their 16-byte binary forms concatenated in order is contentDigest.
//
// Cost: a chunk that is all zeros costs nothing to hash (holes are never materialised; written zeros are
// recognised by an early-exit scan and never hashed). A chunk holding any non-zero byte is hashed over its full
// length, its data by libxxhash and its zeros folded into the XXH3 accumulators (Xxh3Stream::update_zeros:
// exact, ~8 additions per 64 zero bytes and a scramble per KiB, several times cheaper than hashing them).
// Memory: one XXH3 state per digester plus, only when asked, the list of non-zero chunks.
//
// Pure computation, no I/O, no exceptions (except std::bad_alloc). A ContentDigester is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace sentinel::scanner {

inline constexpr uint64_t kContentChunkBytes = uint64_t{4} << 20;

// XXH3-128 of kContentChunkBytes zero bytes: the digest of every full all-zero chunk.
inline constexpr const char* kZeroChunkDigestHex = "34001ae2f947e773165f453a5f35c459";

// A 128-bit XXH3 value.
struct Digest128 {
  uint64_t high = 0;
  uint64_t low = 0;
  bool operator==(const Digest128&) const = default;
  // 32 lowercase hex digits, high 64 bits first (xxh128sum's output).
  [[nodiscard]] std::string hex() const;
  // The 16-byte big-endian form that is hashed into contentDigest.
  void canonical(uint8_t out[16]) const;
};

// XXH3-128 (seed 0) of `length` bytes at `data`.
Digest128 xxh3_128(const void* data, size_t length);

// XXH3-128 of kContentChunkBytes zeros, computed once (thread-safe static).
const Digest128& zero_chunk_digest();

// True when `length` bytes at `data` are all zero. Stops at the first non-zero byte.
bool is_all_zero(const void* data, size_t length);

// Whether Xxh3Stream::update_zeros folds zeros (its once-per-process self-test against plain hashing passed);
// when false it hashes them from a static zero buffer. Either way the result is the same.
bool xxh3_zero_folding_enabled();

// A streaming XXH3-128 (seed 0) with a cheap way to append zeros.
class Xxh3Stream {
 public:
  Xxh3Stream();
  ~Xxh3Stream();
  Xxh3Stream(const Xxh3Stream&) = delete;
  Xxh3Stream& operator=(const Xxh3Stream&) = delete;

  void reset();
  void update(const void* data, size_t length);
  // The same as update() with `count` zero bytes, folded arithmetically (see xxh3_zero_folding_enabled).
  void update_zeros(uint64_t count);
  // The digest of everything fed since reset(); the stream may go on.
  [[nodiscard]] Digest128 digest() const;

 private:
  void* state_;  // libxxhash's XXH3_state_t, compiled into content_digest.cpp (kept out of this header)
};

// One chunk that holds a non-zero byte.
struct ChunkDigest {
  uint64_t index = 0;
  Digest128 digest;
};

// Computes the construction above from the merged view, fed in volume order: data() for bytes some layer
// supplies, zeros() for holes. Every byte in [0, volume_bytes) must be fed exactly once, in order; a piece that
// starts before the current position or ends past volume_bytes is refused (false, nothing changes).
//
// Part of a volume (read lanes, read_lanes.h): a digester made with `begin` (a multiple of kContentChunkBytes)
// starts there; fed up to a chunk boundary (or the volume's end) its chunks() are that part's non-zero chunks.
// content_digest_from_chunks() of all parts' chunks, in order, is the volume's contentDigest. digest() and
// complete() of such a digester mean nothing.
class ContentDigester {
 public:
  // `keep_chunks`: remember the non-zero chunks (index and digest) for chunks().
  ContentDigester(uint64_t volume_bytes, bool keep_chunks, uint64_t begin = 0);

  [[nodiscard]] bool data(uint64_t offset, const void* bytes, size_t length);
  [[nodiscard]] bool zeros(uint64_t offset, uint64_t length);

  // Bytes fed so far (data and zeros).
  [[nodiscard]] uint64_t position() const { return pos_; }
  [[nodiscard]] bool complete() const { return pos_ == volume_bytes_; }
  // contentDigest. Only meaningful once complete(); before that it covers the chunks finished so far.
  [[nodiscard]] Digest128 digest() const { return list_.digest(); }

  [[nodiscard]] uint64_t chunk_count() const { return chunks_done_; }   // chunks finished so far
  [[nodiscard]] uint64_t nonzero_chunk_count() const { return nonzero_chunks_; }
  [[nodiscard]] const std::vector<ChunkDigest>& chunks() const { return kept_; }  // ascending index

 private:
  void feed_data(const uint8_t* bytes, size_t length);
  void finish_chunk();
  uint64_t chunk_end() const;

  uint64_t volume_bytes_;
  bool keep_chunks_;
  uint64_t pos_ = 0;
  uint64_t chunk_start_ = 0;
  bool chunk_nonzero_ = false;  // the current chunk has a non-zero byte; its bytes so far are in chunk_
  Xxh3Stream chunk_;            // the current chunk, once it is known to be non-zero
  Xxh3Stream list_;             // canonical(d_0) || canonical(d_1) || ...
  uint64_t chunks_done_ = 0;
  uint64_t nonzero_chunks_ = 0;
  std::vector<ChunkDigest> kept_;
};

// contentDigest of a volume of `volume_bytes` whose non-zero chunks are `nonzero` (ascending index, each
// index < the chunk count); every other chunk is all zeros. Equals ContentDigester::digest() of the whole
// volume. Cost: a 16-byte hash update per chunk of the volume.
Digest128 content_digest_from_chunks(uint64_t volume_bytes, const std::vector<ChunkDigest>& nonzero);

// ceil(volume_bytes / kContentChunkBytes).
uint64_t content_chunk_count(uint64_t volume_bytes);

}  // namespace sentinel::scanner
