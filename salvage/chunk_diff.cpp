// Chunk-list diff; see chunk_diff.h for the contract.
#include "salvage/chunk_diff.h"

#include <algorithm>
#include <map>
#include <optional>

namespace sentinel::salvage {
namespace {

std::string name_of(const v1::Replica& replica) { return replica.dir().empty() ? "(unnamed replica)" : replica.dir(); }

// The chunk list as index -> digest, or why it cannot be used.
struct ChunkMap {
  std::map<uint64_t, std::string> digests;
  std::string problem;  // "" when usable
};

ChunkMap read_chunk_map(const v1::Replica& replica) {
  ChunkMap out;
  const auto& content = replica.content();
  const uint64_t chunk_bytes = content.chunk_bytes();
  const uint64_t chunk_count = (replica.size_bytes() + chunk_bytes - 1) / chunk_bytes;
  for (const auto& chunk : content.chunks()) {
    if (chunk.index() >= chunk_count) {
      out.problem = name_of(replica) + "'s chunk list names chunk " + std::to_string(chunk.index()) +
                    " beyond the volume's " + std::to_string(chunk_count) + " chunks";
      return out;
    }
    if (chunk.digest().empty()) {
      out.problem = name_of(replica) + "'s chunk list has an empty digest for chunk " + std::to_string(chunk.index());
      return out;
    }
    if (!out.digests.emplace(chunk.index(), chunk.digest()).second) {
      out.problem = name_of(replica) + "'s chunk list names chunk " + std::to_string(chunk.index()) + " twice";
      return out;
    }
  }
  return out;
}

// Appends chunk `index` to `ranges`, merging it with the previous range when adjacent.
void add_chunk_range(std::vector<ByteRange>* ranges, uint64_t index, uint64_t chunk_bytes, uint64_t size) {
  const uint64_t begin = index * chunk_bytes;
  const uint64_t end = std::min(begin + chunk_bytes, size);
  if (!ranges->empty() && ranges->back().offset + ranges->back().length == begin) {
    ranges->back().length += end - begin;
  } else {
    ranges->push_back({begin, end - begin});
  }
}

// Differing chunks of two well-formed maps (an index missing from one side is an all-zero chunk there).
ChunkDiff diff_maps(const ChunkMap& a, const ChunkMap& b, uint64_t chunk_bytes, uint64_t size) {
  ChunkDiff diff;
  diff.chunk_bytes = chunk_bytes;
  diff.ranges_known = true;
  auto ia = a.digests.begin();
  auto ib = b.digests.begin();
  while (ia != a.digests.end() || ib != b.digests.end()) {
    std::optional<uint64_t> differing_index;
    if (ib == b.digests.end() || (ia != a.digests.end() && ia->first < ib->first)) {
      differing_index = ia->first;  // data on a, zeros on b
      ++ia;
    } else if (ia == a.digests.end() || ib->first < ia->first) {
      differing_index = ib->first;  // zeros on a, data on b
      ++ib;
    } else {
      if (ia->second != ib->second) differing_index = ia->first;
      ++ia;
      ++ib;
    }
    if (differing_index) {
      add_chunk_range(&diff.differing, *differing_index, chunk_bytes, size);
      ++diff.differing_chunks;
    }
  }
  for (const auto& range : diff.differing) diff.differing_bytes += range.length;
  diff.comparison = diff.differing.empty() ? ContentComparison::kEqual : ContentComparison::kDifferent;
  return diff;
}

constexpr const char* kRescanHint = "run `sentinelctl scan --deep --chunks --json` on both nodes";

}  // namespace

const char* to_string(ContentComparison comparison) {
  switch (comparison) {
    case ContentComparison::kEqual:
      return "equal";
    case ContentComparison::kDifferent:
      return "different";
    case ContentComparison::kUnknown:
      return "unknown";
  }
  return "unknown";
}

bool has_complete_chunk_list(const v1::Replica& replica) {
  return !replica.content_digest().empty() && replica.content().chunk_bytes() > 0 &&
         static_cast<uint64_t>(replica.content().chunks_size()) == replica.content().nonzero_chunk_count();
}

ChunkDiff diff_chunk_lists(const v1::Replica& a, const v1::Replica& b) {
  ChunkDiff diff;
  if (a.size_bytes() == 0 || b.size_bytes() == 0) {
    diff.note = "the volume Size of " + name_of(a.size_bytes() == 0 ? a : b) +
                " is unknown (volume.meta missing or unreadable): its content cannot be compared";
    return diff;
  }
  if (a.size_bytes() != b.size_bytes()) {
    diff.comparison = ContentComparison::kDifferent;
    diff.note = "the volumes have different sizes (" + std::to_string(a.size_bytes()) + " bytes on " + name_of(a) +
                ", " + std::to_string(b.size_bytes()) + " bytes on " + name_of(b) +
                "); chunks are not compared across sizes";
    return diff;
  }
  for (const v1::Replica* replica : {&a, &b}) {
    if (replica->content_digest().empty()) {
      const std::string& skipped = replica->content().skipped();
      diff.note = name_of(*replica) + " has no content digest (" +
                  (skipped.empty() ? std::string("quick scan, or a deep scan without a digest") : skipped) + "); " +
                  kRescanHint;
      return diff;
    }
  }
  const auto& ca = a.content();
  const auto& cb = b.content();
  if (ca.chunk_bytes() == 0 || ca.chunk_bytes() != cb.chunk_bytes() ||
      ca.zero_chunk_digest() != cb.zero_chunk_digest()) {
    diff.note = "the two content digests were computed differently (chunk size " + std::to_string(ca.chunk_bytes()) +
                " vs " + std::to_string(cb.chunk_bytes()) + ", or another zero-chunk digest): not comparable; " +
                kRescanHint;
    return diff;
  }
  const uint64_t chunk_bytes = ca.chunk_bytes();
  const bool digests_equal = a.content_digest() == b.content_digest();

  if (has_complete_chunk_list(a) && has_complete_chunk_list(b)) {
    const ChunkMap map_a = read_chunk_map(a);
    const ChunkMap map_b = read_chunk_map(b);
    const std::string& problem = map_a.problem.empty() ? map_b.problem : map_a.problem;
    if (problem.empty()) {
      ChunkDiff from_lists = diff_maps(map_a, map_b, chunk_bytes, a.size_bytes());
      if ((from_lists.comparison == ContentComparison::kEqual) == digests_equal) return from_lists;
      diff.chunk_bytes = chunk_bytes;
      diff.note =
          "the chunk lists and the content digests disagree (inventories from different scans, or "
          "damaged); " +
          std::string(kRescanHint);
      return diff;
    }
    diff.note = problem + "; ";  // fall back to the digests below, and say why
  }

  diff.chunk_bytes = chunk_bytes;
  if (digests_equal) {
    // The digest covers every chunk's digest in order: equal digests mean equal bytes everywhere.
    diff.comparison = ContentComparison::kEqual;
    diff.ranges_known = true;
    return diff;
  }
  diff.comparison = ContentComparison::kDifferent;
  const v1::Replica& without_list = has_complete_chunk_list(a) ? b : a;
  if (diff.note.empty()) {
    diff.note = name_of(without_list) + " has no chunk list, so which bytes differ is unknown; " + kRescanHint;
  } else {
    diff.note += "which bytes differ is unknown; " + std::string(kRescanHint);
  }
  return diff;
}

}  // namespace sentinel::salvage
