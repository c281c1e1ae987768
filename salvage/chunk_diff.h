// Which bytes of a volume differ between two replicas, from their deep scans' chunk lists: no data is read
// and nothing moves between nodes. Used by the salvage planner (divergence) and by `sentinelctl diff --inventory`.
//
// Contract:
// - Pure: looks only at the two v1::Replica messages (size_bytes, content_digest, content). No I/O, never
//   throws (except std::bad_alloc), thread-compatible.
// - Input: replicas from `sentinelctl scan --deep --chunks` (ContentSummary in inventory.proto: the chunks with
//   a non-zero byte, by index, with their XXH3-128 digests; a chunk not listed is all zeros).
// - A chunk list is "complete" when the replica has a content_digest and content.chunks holds exactly
//   content.nonzero_chunk_count entries (an all-zero volume has a complete, empty list). A quick scan, or a deep
//   scan without --chunks, has no complete list.
// - Verdict:
//     kEqual      the volumes hold the same bytes (from the chunk lists, or from equal content digests when a
//                 list is missing: the digest covers every chunk);
//     kDifferent  they do not (`differing` lists the byte ranges when `ranges_known`);
//     kUnknown    cannot be told: a digest is missing, the chunk constructions differ (chunk size, zero-chunk
//                 digest), or a chunk list is malformed. `note` says which and what to run.
//   Volumes of different Size are kDifferent without ranges: the chunks do not line up with the bytes the
//   other volume lacks (`note` gives both sizes).
// - `differing`: sorted, non-overlapping, adjacent differing chunks merged into one range, each clipped to the
//   volume Size (the last chunk may be short). Chunk i covers [i * chunk_bytes, min((i + 1) * chunk_bytes, Size)).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::salvage {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};

enum class ContentComparison { kEqual, kDifferent, kUnknown };

const char* to_string(ContentComparison comparison);

struct ChunkDiff {
  ContentComparison comparison = ContentComparison::kUnknown;
  bool ranges_known = false;         // true: `differing` is every differing byte range (empty when equal)
  std::vector<ByteRange> differing;  // see the contract above
  uint64_t differing_chunks = 0;     // chunks that differ (when ranges_known)
  uint64_t differing_bytes = 0;      // sum of the ranges' lengths (when ranges_known)
  uint64_t chunk_bytes = 0;          // the chunk size both lists use (0 when unknown)
  std::string note;                  // for a person: why unknown / why no ranges; "" when nothing to add
};

// True when `replica` carries a complete chunk list (see the contract).
bool has_complete_chunk_list(const v1::Replica& replica);

// Compares the merged volumes of `a` and `b` (see the contract).
ChunkDiff diff_chunk_lists(const v1::Replica& a, const v1::Replica& b);

}  // namespace sentinel::salvage
