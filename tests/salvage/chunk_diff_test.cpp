// diff_chunk_lists: replicas built in the test (the function is pure), every verdict of its contract.
#include "salvage/chunk_diff.h"

#include <gtest/gtest.h>

namespace sentinel::salvage {
namespace {

constexpr uint64_t kChunk = 4 * 1024 * 1024;
constexpr const char* kZeroDigest = "34001ae2f947e773165f453a5f35c459";

// A deep-scanned replica of `size` bytes whose non-zero chunks are `chunks` (index, digest); `with_list` false
// drops the list as a deep scan without --chunks does.
v1::Replica replica(const std::string& dir, uint64_t size, std::vector<std::pair<uint64_t, std::string>> chunks,
                    bool with_list = true) {
  v1::Replica r;
  r.set_dir(dir);
  r.set_size_bytes(size);
  std::string digest = "d";
  for (const auto& [index, d] : chunks) digest += std::to_string(index) + d;
  r.set_content_digest(digest);  // any string that changes with the chunks will do for these tests
  auto* content = r.mutable_content();
  content->set_chunk_bytes(kChunk);
  content->set_chunk_count((size + kChunk - 1) / kChunk);
  content->set_nonzero_chunk_count(chunks.size());
  content->set_zero_chunk_digest(kZeroDigest);
  if (with_list) {
    for (const auto& [index, d] : chunks) {
      auto* chunk = content->add_chunks();
      chunk->set_index(index);
      chunk->set_digest(d);
    }
  }
  return r;
}

TEST(ChunkDiff, EqualListsAreEqualWithNoRanges) {
  auto a = replica("a", 64 * kChunk, {{0, "x"}, {5, "y"}});
  auto b = replica("b", 64 * kChunk, {{0, "x"}, {5, "y"}});
  auto diff = diff_chunk_lists(a, b);
  EXPECT_EQ(diff.comparison, ContentComparison::kEqual);
  EXPECT_TRUE(diff.ranges_known);
  EXPECT_TRUE(diff.differing.empty());
  EXPECT_EQ(diff.chunk_bytes, kChunk);
}

TEST(ChunkDiff, DifferingDigestsAndOneSidedChunksBecomeMergedRanges) {
  // Chunk 2 differs, 3 has data only on a, 4 only on b: one range [2, 5). Chunk 9 differs on its own.
  auto a = replica("a", 16 * kChunk, {{0, "x"}, {2, "p"}, {3, "q"}, {9, "m"}});
  auto b = replica("b", 16 * kChunk, {{0, "x"}, {2, "P"}, {4, "r"}, {9, "n"}});
  auto diff = diff_chunk_lists(a, b);
  ASSERT_EQ(diff.comparison, ContentComparison::kDifferent);
  ASSERT_TRUE(diff.ranges_known);
  ASSERT_EQ(diff.differing.size(), 2u);
  EXPECT_EQ(diff.differing[0], (ByteRange{2 * kChunk, 3 * kChunk}));
  EXPECT_EQ(diff.differing[1], (ByteRange{9 * kChunk, kChunk}));
  EXPECT_EQ(diff.differing_chunks, 4u);
  EXPECT_EQ(diff.differing_bytes, 4 * kChunk);
  // Symmetric.
  auto reverse = diff_chunk_lists(b, a);
  EXPECT_EQ(reverse.differing, diff.differing);
}

TEST(ChunkDiff, LastShortChunkIsClippedToTheVolumeSize) {
  const uint64_t size = 3 * kChunk + 8192;  // chunk 3 is 8 KiB long
  auto a = replica("a", size, {{3, "x"}});
  auto b = replica("b", size, {});
  auto diff = diff_chunk_lists(a, b);
  ASSERT_EQ(diff.differing.size(), 1u);
  EXPECT_EQ(diff.differing[0], (ByteRange{3 * kChunk, 8192}));
}

TEST(ChunkDiff, AllZeroVolumesHaveCompleteEmptyLists) {
  auto a = replica("a", kChunk, {});
  EXPECT_TRUE(has_complete_chunk_list(a));
  EXPECT_EQ(diff_chunk_lists(a, replica("b", kChunk, {})).comparison, ContentComparison::kEqual);
}

TEST(ChunkDiff, MissingListWithDifferentDigestsIsDifferentWithoutRanges) {
  auto a = replica("a", 8 * kChunk, {{1, "x"}}, /*with_list=*/false);
  auto b = replica("b", 8 * kChunk, {{1, "y"}});
  EXPECT_FALSE(has_complete_chunk_list(a));
  auto diff = diff_chunk_lists(a, b);
  EXPECT_EQ(diff.comparison, ContentComparison::kDifferent);
  EXPECT_FALSE(diff.ranges_known);
  EXPECT_TRUE(diff.differing.empty());
  EXPECT_NE(diff.note.find("a has no chunk list"), std::string::npos) << diff.note;
  EXPECT_NE(diff.note.find("--chunks"), std::string::npos) << diff.note;
}

TEST(ChunkDiff, MissingListsWithEqualDigestsAreEqual) {
  auto a = replica("a", 8 * kChunk, {{1, "x"}}, false);
  auto b = replica("b", 8 * kChunk, {{1, "x"}}, false);
  auto diff = diff_chunk_lists(a, b);
  EXPECT_EQ(diff.comparison, ContentComparison::kEqual);
  EXPECT_TRUE(diff.ranges_known);
}

TEST(ChunkDiff, QuickScanHasNoDigestAndIsUnknown) {
  auto a = replica("a", 8 * kChunk, {{1, "x"}});
  v1::Replica quick;
  quick.set_dir("quick");
  quick.set_size_bytes(8 * kChunk);
  auto diff = diff_chunk_lists(a, quick);
  EXPECT_EQ(diff.comparison, ContentComparison::kUnknown);
  EXPECT_NE(diff.note.find("quick has no content digest"), std::string::npos) << diff.note;
}

TEST(ChunkDiff, DifferentSizesAreDifferentWithoutRanges) {
  auto diff = diff_chunk_lists(replica("a", 8 * kChunk, {}), replica("b", 16 * kChunk, {}));
  EXPECT_EQ(diff.comparison, ContentComparison::kDifferent);
  EXPECT_FALSE(diff.ranges_known);
  EXPECT_NE(diff.note.find("different sizes"), std::string::npos);
}

TEST(ChunkDiff, DifferentChunkConstructionsAreUnknown) {
  auto a = replica("a", 8 * kChunk, {{1, "x"}});
  auto b = replica("b", 8 * kChunk, {{1, "x"}});
  b.mutable_content()->set_chunk_bytes(kChunk / 2);
  EXPECT_EQ(diff_chunk_lists(a, b).comparison, ContentComparison::kUnknown);
}

TEST(ChunkDiff, MalformedListFallsBackToTheDigests) {
  auto a = replica("a", 8 * kChunk, {{1, "x"}, {1, "x"}});  // index 1 twice
  a.mutable_content()->set_nonzero_chunk_count(2);
  auto b = replica("b", 8 * kChunk, {{1, "y"}, {2, "z"}});
  auto diff = diff_chunk_lists(a, b);
  EXPECT_EQ(diff.comparison, ContentComparison::kDifferent);
  EXPECT_FALSE(diff.ranges_known);
  EXPECT_NE(diff.note.find("twice"), std::string::npos) << diff.note;
}

TEST(ChunkDiff, ListsThatContradictTheDigestsAreUnknown) {
  auto a = replica("a", 8 * kChunk, {{1, "x"}});
  auto b = replica("b", 8 * kChunk, {{1, "x"}});
  b.set_content_digest("something else");
  auto diff = diff_chunk_lists(a, b);
  EXPECT_EQ(diff.comparison, ContentComparison::kUnknown);
  EXPECT_NE(diff.note.find("disagree"), std::string::npos);
}

}  // namespace
}  // namespace sentinel::salvage
