// XXH3-128 chunk digests of a merged volume. See content_digest.h for the construction and its contract.
#include "scanner/content_digest.h"

#include "proto/wire/hex.h"

// libxxhash compiled into this file (its supported header-only mode): the streaming state's layout is then the
// one this code was compiled against, which the zero folding below relies on.
#define XXH_INLINE_ALL
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <random>
#include <vector>

namespace sentinel::scanner {
namespace {

// Zeros to feed holes from and to compare data against. 64 KiB: large enough that libxxhash runs at full speed.
constexpr size_t kZeroBufferBytes = 64 * 1024;
alignas(64) constexpr uint8_t kZeros[kZeroBufferBytes] = {};

Digest128 from_xxh(XXH128_hash_t h) { return {h.high64, h.low64}; }

void feed_zeros_plainly(XXH3_state_t* state, uint64_t count) {
  while (count > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(count, kZeroBufferBytes));
    XXH3_128bits_update(state, kZeros, n);
    count -= n;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Zero folding: appending N zero bytes to an XXH3 stream without hashing them byte by byte.
//
// XXH3 (long inputs) keeps 8 64-bit accumulators. Each 64-byte stripe n (0..15) of a 1 KiB block adds, per lane
// i, data[i ^ 1] to acc[i ^ 1] and lo32(k) * hi32(k) to acc[i], where k = data[i] ^ secret64[n + i]; after every
// 16 stripes the accumulators are scrambled: acc = (acc ^ (acc >> 47) ^ secret64[16 + i]) * PRIME32_1. For a
// zero stripe the data terms vanish: it adds a constant that depends only on n. So a run of zero stripes costs
// 8 additions each, a whole zero block 8 additions and one scramble, instead of hashing 1 KiB (10-30x faster).
//
// The streaming state (XXH3_state_t) holds: acc over the first P bytes (P a multiple of 64, nbStripesSoFar
// stripes into the current block, never a full block: the scramble happens as soon as a block is complete);
// the remaining totalLen - P bytes (1..256) in `buffer`; and, when fewer than 64 are buffered, the 64 bytes
// before P at the end of `buffer` (the digest's last stripe overlaps them). Folding keeps exactly that:
//   1. 320 zeros are fed normally, so that everything buffered (and the bytes before it) is zero;
//   2. all but the last 1..64 of the remaining zeros (plus the zeros already buffered) are folded stripe by
//      stripe, block by block;
//   3. the buffer is set to zeros holding the last 1..64 of them.
// A self-test against the plain path runs once; if it ever disagrees (another libxxhash layout), folding is off
// and zeros are hashed plainly: slower, never wrong. The unit tests compare it with the shared library.
constexpr uint64_t kFoldMinBytes = 4096;  // below this, plain hashing is as cheap
constexpr uint64_t kFlushBytes = 320;     // >= XXH3_INTERNALBUFFER_SIZE + XXH_STRIPE_LEN
static_assert(kFlushBytes >= XXH3_INTERNALBUFFER_SIZE + XXH_STRIPE_LEN && kFoldMinBytes > kFlushBytes);

uint64_t read_le64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// `count` whole zero blocks: the hot loop for long holes. On x86-64 it is compiled three times (AVX-512 has 64-bit
// lane multiplies, AVX2 wider lanes) and the best one the CPU has is picked once, with a plain function pointer
// (not an ifunc: ifunc resolvers run before the sanitizer runtimes are initialised).
using FoldBlocksFn = void (*)(uint64_t* acc, const uint64_t* block, const uint64_t* key, uint64_t count);

inline __attribute__((always_inline)) void fold_zero_blocks_body(uint64_t* acc_io, const uint64_t* block_in,
                                                                 const uint64_t* key_in, uint64_t count) {
  uint64_t acc[8];
  uint64_t block[8];
  uint64_t key[8];
  std::memcpy(acc, acc_io, sizeof acc);  // locals: no aliasing, the loop stays in registers
  std::memcpy(block, block_in, sizeof block);
  std::memcpy(key, key_in, sizeof key);
  for (; count > 0; --count) {
    for (size_t i = 0; i < 8; ++i) {
      uint64_t a = acc[i] + block[i];
      a ^= a >> 47;
      a ^= key[i];
      acc[i] = a * XXH_PRIME32_1;
    }
  }
  std::memcpy(acc_io, acc, sizeof acc);
}

void fold_zero_blocks_default(uint64_t* acc, const uint64_t* block, const uint64_t* key, uint64_t count) {
  fold_zero_blocks_body(acc, block, key, count);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) void fold_zero_blocks_avx2(uint64_t* acc, const uint64_t* block,
                                                           const uint64_t* key, uint64_t count) {
  fold_zero_blocks_body(acc, block, key, count);
}
__attribute__((target("avx512f,avx512dq"))) void fold_zero_blocks_avx512(uint64_t* acc, const uint64_t* block,
                                                                         const uint64_t* key, uint64_t count) {
  fold_zero_blocks_body(acc, block, key, count);
}
#endif

FoldBlocksFn pick_fold_zero_blocks() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) return fold_zero_blocks_avx512;
  if (__builtin_cpu_supports("avx2")) return fold_zero_blocks_avx2;
#endif
  return fold_zero_blocks_default;
}

struct ZeroFolding {
  bool enabled = false;
  FoldBlocksFn fold_blocks = fold_zero_blocks_default;
  size_t stripes_per_block = 0;
  std::vector<std::array<uint64_t, 8>> stripe;  // acc increment of a zero stripe at position n of a block
  std::array<uint64_t, 8> block{};              // sum over a whole block
  std::array<uint64_t, 8> scramble_key{};
};

void scramble(uint64_t acc[8], const std::array<uint64_t, 8>& key) {
  for (size_t i = 0; i < 8; ++i) {
    uint64_t a = acc[i];
    a ^= a >> 47;
    a ^= key[i];
    a *= XXH_PRIME32_1;
    acc[i] = a;
  }
}

void fold_zeros(const ZeroFolding& f, XXH3_state_t* state, uint64_t count) {
  feed_zeros_plainly(state, kFlushBytes);
  count -= kFlushBytes;
  const uint64_t buffered = state->bufferedSize;
  const uint64_t zeros = buffered + count;               // zero bytes after the last processed stripe
  const uint64_t keep = (zeros - 1) % XXH_STRIPE_LEN + 1;  // left buffered: 1..64
  uint64_t stripes = (zeros - keep) / XXH_STRIPE_LEN;
  size_t n = state->nbStripesSoFar;
  uint64_t acc[8];  // local copies: no aliasing, the loop stays in registers
  std::memcpy(acc, state->acc, sizeof acc);
  const std::array<uint64_t, 8> block = f.block;
  const std::array<uint64_t, 8> key = f.scramble_key;
  auto add = [&](const std::array<uint64_t, 8>& v) {
    for (size_t i = 0; i < 8; ++i) acc[i] += v[i];
  };
  while (stripes > 0 && n != 0) {
    add(f.stripe[n]);
    --stripes;
    if (++n == f.stripes_per_block) {
      scramble(acc, key);
      n = 0;
    }
  }
  f.fold_blocks(acc, block.data(), key.data(), stripes / f.stripes_per_block);
  stripes %= f.stripes_per_block;
  for (; stripes > 0; --stripes) add(f.stripe[n++]);
  std::memcpy(state->acc, acc, sizeof acc);
  state->nbStripesSoFar = n;
  state->totalLen += count;
  state->bufferedSize = static_cast<XXH32_hash_t>(keep);
  std::memset(state->buffer, 0, sizeof state->buffer);  // the kept zeros, and the zero stripe before them
}

bool self_test(const ZeroFolding& f) {
  std::mt19937_64 rng(3);
  std::vector<uint8_t> bytes;
  XXH3_state_t* state = XXH3_createState();
  if (state == nullptr) return false;
  bool ok = true;
  for (uint64_t prefix : {0, 1, 63, 64, 65, 255, 256, 257, 1023, 1024, 1025, 5000}) {
    for (uint64_t zeros : {4096, 4097, 5119, 70000}) {
      for (uint64_t suffix : {0, 1, 64, 300}) {
        bytes.assign(prefix + zeros + suffix, 0);
        for (uint64_t i = 0; i < prefix; ++i) bytes[i] = static_cast<uint8_t>(rng() | 1);
        for (uint64_t i = prefix + zeros; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(rng() | 1);
        XXH3_128bits_reset(state);
        XXH3_128bits_update(state, bytes.data(), prefix);
        fold_zeros(f, state, zeros);
        XXH3_128bits_update(state, bytes.data() + prefix + zeros, suffix);
        ok = ok && XXH128_isEqual(XXH3_128bits_digest(state), XXH3_128bits(bytes.data(), bytes.size()));
      }
    }
  }
  XXH3_freeState(state);
  return ok;
}

const ZeroFolding& zero_folding() {
  static const ZeroFolding folding = [] {
    ZeroFolding f;
    XXH3_state_t* state = XXH3_createState();
    if (state == nullptr) return f;
    XXH3_128bits_reset(state);
    const unsigned char* secret = state->extSecret != nullptr ? state->extSecret : state->customSecret;
    f.stripes_per_block = state->nbStripesPerBlock;
    const size_t limit = state->secretLimit;
    XXH3_freeState(state);
    if (f.stripes_per_block == 0 || limit < f.stripes_per_block * XXH_SECRET_CONSUME_RATE) return f;
    f.stripe.resize(f.stripes_per_block);
    for (size_t n = 0; n < f.stripes_per_block; ++n) {
      for (size_t i = 0; i < 8; ++i) {
        const uint64_t key = read_le64(secret + n * XXH_SECRET_CONSUME_RATE + 8 * i);
        f.stripe[n][i] = (key & 0xffffffffu) * (key >> 32);
        f.block[i] += f.stripe[n][i];
      }
    }
    for (size_t i = 0; i < 8; ++i) f.scramble_key[i] = read_le64(secret + limit + 8 * i);
    f.fold_blocks = pick_fold_zero_blocks();
    f.enabled = self_test(f);
    return f;
  }();
  return folding;
}

}  // namespace

bool xxh3_zero_folding_enabled() { return zero_folding().enabled; }

std::string Digest128::hex() const { return wire::hex64(high) + wire::hex64(low); }

void Digest128::canonical(uint8_t out[16]) const {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<uint8_t>(high >> (56 - 8 * i));
    out[8 + i] = static_cast<uint8_t>(low >> (56 - 8 * i));
  }
}

Digest128 xxh3_128(const void* data, size_t length) { return from_xxh(XXH3_128bits(data, length)); }

const Digest128& zero_chunk_digest() {
  static const Digest128 digest = [] {
    Xxh3Stream stream;
    stream.update_zeros(kContentChunkBytes);
    return stream.digest();
  }();
  return digest;
}

bool is_all_zero(const void* data, size_t length) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (length > 0) {
    const size_t n = std::min(length, kZeroBufferBytes);
    if (std::memcmp(p, kZeros, n) != 0) return false;
    p += n;
    length -= n;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------

namespace {
XXH3_state_t* xxh(void* state) { return static_cast<XXH3_state_t*>(state); }
}  // namespace

Xxh3Stream::Xxh3Stream() : state_(XXH3_createState()) {
  if (state_ == nullptr) throw std::bad_alloc();
  reset();
}

Xxh3Stream::~Xxh3Stream() { XXH3_freeState(xxh(state_)); }

void Xxh3Stream::reset() { XXH3_128bits_reset(xxh(state_)); }

void Xxh3Stream::update(const void* data, size_t length) {
  if (length > 0) XXH3_128bits_update(xxh(state_), data, length);
}

void Xxh3Stream::update_zeros(uint64_t count) {
  const ZeroFolding& folding = zero_folding();
  if (folding.enabled && count >= kFoldMinBytes) {
    fold_zeros(folding, xxh(state_), count);
  } else {
    feed_zeros_plainly(xxh(state_), count);
  }
}

Digest128 Xxh3Stream::digest() const { return from_xxh(XXH3_128bits_digest(xxh(state_))); }

// ---------------------------------------------------------------------------------------------------------

ContentDigester::ContentDigester(uint64_t volume_bytes, bool keep_chunks, uint64_t begin)
    : volume_bytes_(volume_bytes),
      keep_chunks_(keep_chunks),
      pos_(std::min(begin / kContentChunkBytes * kContentChunkBytes, volume_bytes)),
      chunk_start_(pos_),
      chunks_done_(pos_ / kContentChunkBytes) {}

uint64_t ContentDigester::chunk_end() const { return std::min(chunk_start_ + kContentChunkBytes, volume_bytes_); }

void ContentDigester::feed_data(const uint8_t* bytes, size_t length) {
  if (!chunk_nonzero_) {
    // Until the chunk's first non-zero byte, nothing is hashed: a chunk that stays all zero has a known digest.
    if (is_all_zero(bytes, length)) return;
    chunk_nonzero_ = true;
    chunk_.reset();
    chunk_.update_zeros(pos_ - chunk_start_);
  }
  chunk_.update(bytes, length);
}

void ContentDigester::finish_chunk() {
  const uint64_t length = chunk_end() - chunk_start_;
  Digest128 d;
  if (chunk_nonzero_) {
    d = chunk_.digest();
    ++nonzero_chunks_;
    if (keep_chunks_) kept_.push_back({chunks_done_, d});
  } else if (length == kContentChunkBytes) {
    d = zero_chunk_digest();
  } else {
    // A short last chunk of zeros: hashed over its real length like any other chunk.
    chunk_.reset();
    chunk_.update_zeros(length);
    d = chunk_.digest();
  }
  uint8_t canonical[16];
  d.canonical(canonical);
  list_.update(canonical, sizeof canonical);
  ++chunks_done_;
  chunk_start_ += length;
  chunk_nonzero_ = false;
}

uint64_t content_chunk_count(uint64_t volume_bytes) {
  return volume_bytes / kContentChunkBytes + (volume_bytes % kContentChunkBytes != 0 ? 1 : 0);
}

Digest128 content_digest_from_chunks(uint64_t volume_bytes, const std::vector<ChunkDigest>& nonzero) {
  const uint64_t count = content_chunk_count(volume_bytes);
  uint8_t zero_canonical[16];
  zero_chunk_digest().canonical(zero_canonical);
  Xxh3Stream list;
  auto next = nonzero.begin();
  for (uint64_t index = 0; index < count; ++index) {
    uint8_t canonical[16];
    if (next != nonzero.end() && next->index == index) {
      next->digest.canonical(canonical);
      ++next;
    } else if (index + 1 < count || volume_bytes % kContentChunkBytes == 0) {
      std::memcpy(canonical, zero_canonical, sizeof canonical);
    } else {
      Xxh3Stream tail;  // a short last chunk of zeros, hashed over its real length
      tail.update_zeros(volume_bytes % kContentChunkBytes);
      tail.digest().canonical(canonical);
    }
    list.update(canonical, sizeof canonical);
  }
  return list.digest();
}

bool ContentDigester::data(uint64_t offset, const void* bytes, size_t length) {
  if (offset < pos_ || offset > volume_bytes_ || length > volume_bytes_ - offset) return false;
  if (offset > pos_ && !zeros(pos_, offset - pos_)) return false;
  const auto* p = static_cast<const uint8_t*>(bytes);
  while (length > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(length, chunk_end() - pos_));
    feed_data(p, n);
    p += n;
    length -= n;
    pos_ += n;
    if (pos_ == chunk_end()) finish_chunk();
  }
  return true;
}

bool ContentDigester::zeros(uint64_t offset, uint64_t length) {
  if (offset < pos_ || offset > volume_bytes_ || length > volume_bytes_ - offset) return false;
  if (offset > pos_ && !zeros(pos_, offset - pos_)) return false;
  while (length > 0) {
    const uint64_t n = std::min(length, chunk_end() - pos_);
    if (chunk_nonzero_) chunk_.update_zeros(n);  // else: still all zero, nothing to hash yet
    length -= n;
    pos_ += n;
    if (pos_ == chunk_end()) finish_chunk();
  }
  return true;
}

}  // namespace sentinel::scanner
