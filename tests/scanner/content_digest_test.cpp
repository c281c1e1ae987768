// The content digest construction (content_digest.h) against an independent one-shot computation with
// libxxhash: chunk digests, the all-zero chunk constant (holes and written zeros alike), the short last chunk,
// and that neither how the volume is cut into pieces nor whether zeros arrive as holes or as data changes
// anything.
#include "scanner/content_digest.h"

#include <gtest/gtest.h>
#include <xxhash.h>

#include <iterator>
#include <random>
#include <vector>

namespace sentinel::scanner {
namespace {

std::string hex_of(XXH128_hash_t h) { return Digest128{h.high64, h.low64}.hex(); }

// The construction, written out plainly over a materialised volume.
struct Reference {
  std::vector<std::string> chunk_hex;  // every chunk
  std::string digest_hex;
};
Reference reference(const std::vector<uint8_t>& volume) {
  Reference out;
  std::vector<uint8_t> list;
  for (size_t start = 0; start < volume.size(); start += kContentChunkBytes) {
    const size_t n = std::min<size_t>(kContentChunkBytes, volume.size() - start);
    const XXH128_hash_t h = XXH3_128bits(volume.data() + start, n);
    out.chunk_hex.push_back(hex_of(h));
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, h);
    list.insert(list.end(), canonical.digest, canonical.digest + sizeof canonical.digest);
  }
  out.digest_hex = hex_of(XXH3_128bits(list.data(), list.size()));
  return out;
}

bool all_zero(const std::vector<uint8_t>& v, size_t start, size_t n) {
  for (size_t i = start; i < start + n; ++i) {
    if (v[i] != 0) return false;
  }
  return true;
}

TEST(ContentDigest, ZeroChunkDigestIsTheXxh3OfFourMebibytesOfZeros) {
  const std::vector<uint8_t> zeros(kContentChunkBytes, 0);
  EXPECT_EQ(hex_of(XXH3_128bits(zeros.data(), zeros.size())), kZeroChunkDigestHex);
  EXPECT_EQ(zero_chunk_digest().hex(), kZeroChunkDigestHex);
  EXPECT_EQ(xxh3_128(zeros.data(), zeros.size()), zero_chunk_digest());
}

TEST(ContentDigest, HexIsXxh128sumsCanonicalForm) {
  // `printf '' | xxh128sum` and `printf 'abc' | xxh128sum`.
  EXPECT_EQ(xxh3_128("", 0).hex(), "99aa06d3014798d86001c324468d497f");
  EXPECT_EQ(xxh3_128("abc", 3).hex(), "06b05ab6733a618578af5f94892f3950");
  const Digest128 d{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  EXPECT_EQ(d.hex(), "0123456789abcdeffedcba9876543210");
  uint8_t canonical[16];
  d.canonical(canonical);
  EXPECT_EQ(canonical[0], 0x01);
  EXPECT_EQ(canonical[7], 0xef);
  EXPECT_EQ(canonical[8], 0xfe);
  EXPECT_EQ(canonical[15], 0x10);
}

TEST(ContentDigest, HoleAndWrittenZerosGiveTheSameChunkDigest) {
  const uint64_t size = 3 * kContentChunkBytes;
  const std::vector<uint8_t> zeros(kContentChunkBytes, 0);

  ContentDigester holes(size, true);
  ASSERT_TRUE(holes.zeros(0, size));
  ASSERT_TRUE(holes.complete());

  ContentDigester written(size, true);
  for (uint64_t off = 0; off < size; off += kContentChunkBytes) {
    ASSERT_TRUE(written.data(off, zeros.data(), zeros.size()));
  }
  ContentDigester mixed(size, true);  // zeros as data in odd pieces, holes in between
  ASSERT_TRUE(mixed.data(4096, zeros.data(), 12345));
  ASSERT_TRUE(mixed.data(kContentChunkBytes + 100, zeros.data(), 7));
  ASSERT_TRUE(mixed.zeros(size - 1, 1));

  for (const ContentDigester* d : {&holes, &written, &mixed}) {
    EXPECT_EQ(d->chunk_count(), 3u);
    EXPECT_EQ(d->nonzero_chunk_count(), 0u);
    EXPECT_TRUE(d->chunks().empty());
  }
  EXPECT_EQ(holes.digest(), written.digest());
  EXPECT_EQ(holes.digest(), mixed.digest());
  EXPECT_EQ(holes.digest().hex(), reference(std::vector<uint8_t>(size, 0)).digest_hex);
}

TEST(ContentDigest, ShortLastChunkIsHashedOverItsRealLength) {
  for (uint64_t tail : {uint64_t{4096}, uint64_t{512}, uint64_t{100}, kContentChunkBytes - 4096}) {
    SCOPED_TRACE(tail);
    const uint64_t size = kContentChunkBytes + tail;
    std::vector<uint8_t> volume(size, 0);
    ContentDigester zeros(size, false);
    ASSERT_TRUE(zeros.zeros(0, size));
    EXPECT_EQ(zeros.digest().hex(), reference(volume).digest_hex);

    volume[size - 1] = 0x5a;
    ContentDigester data(size, true);
    ASSERT_TRUE(data.data(size - 1, &volume[size - 1], 1));
    ASSERT_TRUE(data.complete());
    const Reference ref = reference(volume);
    EXPECT_EQ(data.digest().hex(), ref.digest_hex);
    ASSERT_EQ(data.chunks().size(), 1u);
    EXPECT_EQ(data.chunks()[0].index, 1u);
    EXPECT_EQ(data.chunks()[0].digest.hex(), ref.chunk_hex[1]);
    EXPECT_EQ(ref.chunk_hex[1], hex_of(XXH3_128bits(volume.data() + kContentChunkBytes, tail)));
  }
}

TEST(ContentDigest, EmptyVolume) {
  ContentDigester d(0, true);
  EXPECT_TRUE(d.complete());
  EXPECT_EQ(d.chunk_count(), 0u);
  EXPECT_EQ(d.digest().hex(), "99aa06d3014798d86001c324468d497f");  // XXH3-128 of no bytes
}

TEST(ContentDigest, OutOfOrderOrOversizedPiecesAreRefused) {
  const uint8_t byte = 1;
  ContentDigester d(8192, false);
  ASSERT_TRUE(d.data(4096, &byte, 1));
  EXPECT_FALSE(d.data(0, &byte, 1));
  EXPECT_FALSE(d.zeros(4000, 10));
  EXPECT_FALSE(d.zeros(4097, 8192));
  EXPECT_FALSE(d.data(9000, &byte, 1));
  EXPECT_EQ(d.position(), 4097u);
  EXPECT_TRUE(d.zeros(4097, 8192 - 4097));
  EXPECT_TRUE(d.complete());
}

// Random sparse volumes fed in random pieces (data, zeros as data, holes) agree with the reference.
TEST(ContentDigest, AnyFeedingOfTheSameBytesGivesTheReferenceDigest) {
  std::mt19937_64 rng(20240305);
  for (int round = 0; round < 12; ++round) {
    SCOPED_TRACE(round);
    const uint64_t size = (rng() % 5) * kContentChunkBytes + (rng() % 3) * 4096 * (1 + rng() % 200);
    std::vector<uint8_t> volume(size, 0);
    // Data in a few random runs; some chunks stay all zero.
    const int runs = static_cast<int>(rng() % 12);
    for (int r = 0; r < runs && size > 0; ++r) {
      const uint64_t off = rng() % size;
      const uint64_t len = std::min<uint64_t>(size - off, 1 + rng() % (300 * 1024));
      for (uint64_t i = off; i < off + len; ++i) volume[i] = static_cast<uint8_t>(rng());
    }
    const Reference ref = reference(volume);

    ContentDigester d(size, true);
    uint64_t pos = 0;
    while (pos < size) {
      const uint64_t n = std::min<uint64_t>(size - pos, 1 + rng() % (3 * 1024 * 1024));
      const bool zero = all_zero(volume, pos, n);
      if (zero && rng() % 2 == 0) {
        ASSERT_TRUE(d.zeros(pos, n));
      } else if (rng() % 4 == 0 && n > 1) {
        // A gap before the piece is implicit zeros only when those bytes are zero.
        const uint64_t gap = 1 + rng() % (n - 1);
        if (all_zero(volume, pos, gap)) {
          ASSERT_TRUE(d.data(pos + gap, volume.data() + pos + gap, n - gap));
        } else {
          ASSERT_TRUE(d.data(pos, volume.data() + pos, n));
        }
      } else {
        ASSERT_TRUE(d.data(pos, volume.data() + pos, n));
      }
      pos += n;
    }
    ASSERT_TRUE(d.complete());
    EXPECT_EQ(d.digest().hex(), ref.digest_hex);
    EXPECT_EQ(d.chunk_count(), ref.chunk_hex.size());
    // Exactly the chunks with a non-zero byte are listed, with the reference digests.
    std::vector<std::pair<uint64_t, std::string>> expected;
    for (size_t i = 0; i < ref.chunk_hex.size(); ++i) {
      const size_t start = i * kContentChunkBytes;
      const size_t n = std::min<size_t>(kContentChunkBytes, size - start);
      if (!all_zero(volume, start, n)) expected.emplace_back(i, ref.chunk_hex[i]);
    }
    std::vector<std::pair<uint64_t, std::string>> got;
    for (const auto& c : d.chunks()) got.emplace_back(c.index, c.digest.hex());
    EXPECT_EQ(got, expected);
    EXPECT_EQ(d.nonzero_chunk_count(), expected.size());
  }
}

// Read lanes: the volume digested in parts (each from a chunk boundary) and put together from the parts'
// non-zero chunks gives the whole-volume digest, for every way of cutting it.
TEST(ContentDigest, PartsCutOnChunkBoundariesCombineToTheWholeDigest) {
  std::mt19937_64 rng(1207);
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE(round);
    const uint64_t size = (1 + rng() % 6) * kContentChunkBytes + (rng() % 2) * 4096 * (1 + rng() % 100);
    std::vector<uint8_t> volume(size, 0);
    for (int r = 0; r < 6; ++r) {
      const uint64_t off = rng() % size;
      const uint64_t len = std::min<uint64_t>(size - off, 1 + rng() % (200 * 1024));
      for (uint64_t i = off; i < off + len; ++i) volume[i] = static_cast<uint8_t>(rng() | 1);
    }
    const Reference ref = reference(volume);
    const uint64_t chunks = content_chunk_count(size);
    ASSERT_EQ(chunks, ref.chunk_hex.size());
    // Random cuts on chunk boundaries.
    std::vector<uint64_t> cuts = {0};
    for (uint64_t c = 1; c < chunks; ++c) {
      if (rng() % 2 == 0) cuts.push_back(c * kContentChunkBytes);
    }
    cuts.push_back(size);
    std::vector<ChunkDigest> nonzero;
    uint64_t nonzero_count = 0;
    for (size_t i = 0; i + 1 < cuts.size(); ++i) {
      ContentDigester part(size, true, cuts[i]);
      EXPECT_EQ(part.position(), cuts[i]);
      ASSERT_TRUE(part.data(cuts[i], volume.data() + cuts[i], cuts[i + 1] - cuts[i]));
      EXPECT_EQ(part.position(), cuts[i + 1]);
      nonzero.insert(nonzero.end(), part.chunks().begin(), part.chunks().end());
      nonzero_count += part.nonzero_chunk_count();
    }
    EXPECT_EQ(content_digest_from_chunks(size, nonzero).hex(), ref.digest_hex);
    EXPECT_EQ(nonzero.size(), nonzero_count);
    for (const ChunkDigest& c : nonzero) EXPECT_EQ(c.digest.hex(), ref.chunk_hex[c.index]) << c.index;
    // A part cannot be fed before where it starts.
    if (cuts.size() > 2) {
      ContentDigester late(size, true, cuts[1]);
      EXPECT_FALSE(late.data(0, volume.data(), 1));
    }
  }
  // No chunk with data at all: the digest of the zero chunks, short last chunk included.
  const uint64_t odd = 2 * kContentChunkBytes + 8192;
  EXPECT_EQ(content_digest_from_chunks(odd, {}).hex(), reference(std::vector<uint8_t>(odd, 0)).digest_hex);
  EXPECT_EQ(content_digest_from_chunks(0, {}).hex(), ContentDigester(0, false).digest().hex());
}

// Zero folding (Xxh3Stream::update_zeros) against libxxhash's own streaming and one-shot functions, for data and
// zero runs of every alignment to the 64-byte stripe, the 1 KiB block and the 256-byte internal buffer.
TEST(Xxh3Stream, ZeroFoldingIsOnAndExact) {
  EXPECT_TRUE(xxh3_zero_folding_enabled()) << "the self-test failed: zeros are hashed plainly (slow, still right)";
  std::mt19937_64 rng(8659);
  const uint64_t zero_runs[] = {0, 1, 63, 64, 65, 255, 256, 257, 320, 1023, 1024, 1025, 4095, 4096, 4097,
                                16 * 1024 + 64 * 3 + 5, 65536, 1 << 20, (5 << 20) + 17};
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    std::vector<uint8_t> bytes;
    Xxh3Stream stream;
    const int steps = 1 + static_cast<int>(rng() % 5);
    for (int step = 0; step < steps; ++step) {
      if (rng() % 2 == 0) {
        const size_t n = rng() % 3000;
        const size_t at = bytes.size();
        bytes.resize(at + n);
        for (size_t i = at; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(rng());
        stream.update(bytes.data() + at, n);
      } else {
        const uint64_t n = zero_runs[rng() % std::size(zero_runs)];
        bytes.resize(bytes.size() + n, 0);
        stream.update_zeros(n);
      }
      ASSERT_EQ(stream.digest().hex(), hex_of(XXH3_128bits(bytes.data(), bytes.size())))
          << "after " << step + 1 << " steps, " << bytes.size() << " bytes";
    }
  }
}

TEST(Xxh3Stream, GibibytesOfZerosAfterData) {
  const std::string data = "a block of data that is not a multiple of the stripe length";
  for (uint64_t zeros : {uint64_t{1} << 30, (uint64_t{1} << 30) + 4096 + 61}) {
    Xxh3Stream folded;
    folded.update(data.data(), data.size());
    folded.update_zeros(zeros);
    folded.update(data.data(), 7);
    // The reference: libxxhash's streaming state fed the same zeros from memory.
    XXH3_state_t* plain = XXH3_createState();
    XXH3_128bits_reset(plain);
    XXH3_128bits_update(plain, data.data(), data.size());
    const std::vector<uint8_t> zero_block(1 << 20, 0);
    for (uint64_t left = zeros; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, zero_block.size()));
      XXH3_128bits_update(plain, zero_block.data(), n);
      left -= n;
    }
    XXH3_128bits_update(plain, data.data(), 7);
    EXPECT_EQ(folded.digest().hex(), hex_of(XXH3_128bits_digest(plain))) << zeros;
    XXH3_freeState(plain);
  }
}

TEST(ContentDigest, IsAllZero) {
  std::vector<uint8_t> v(200000, 0);
  EXPECT_TRUE(is_all_zero(v.data(), v.size()));
  EXPECT_TRUE(is_all_zero(v.data(), 0));
  v[199999] = 1;
  EXPECT_FALSE(is_all_zero(v.data(), v.size()));
  EXPECT_TRUE(is_all_zero(v.data(), 199999));
  v[0] = 1;
  EXPECT_FALSE(is_all_zero(v.data(), 1));
}

}  // namespace
}  // namespace sentinel::scanner
