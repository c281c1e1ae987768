// Read lanes: one file's (or one merged volume's) data read and hashed on several cores at once.
//
// Why: on a warm page cache a deep scan is bound by the copy out of the page cache plus the hashing, both on
// one core. Handing the copies to other threads while one thread hashes in file order gains little (measured
// 1.0-1.2x on 2 cores). Cutting the data into contiguous ranges, each read AND hashed by its own lane into a
// partial result that is combined afterwards, uses every core for both: Longhorn's CRC-64 combines exactly
// (crc64.h crc64_iso_combine) and the content digest is per 4 MiB chunk (content_digest.h).
//
// Contract:
// - plan_lanes() cuts [0, total) into at most `max_lanes` contiguous ranges, boundaries on multiples of `align`,
//   each holding about the same number of data bytes (by the pieces given, in ascending order). A range gets at
//   least `min_lane_bytes` of data, so small files stay in one lane (starting a thread costs more than it saves).
//   The ranges cover [0, total) exactly, in order, and every one holds data unless there is only one.
// - clip_to_range() returns the pieces inside one range (a piece crossing a boundary is cut).
// - run_lanes() runs fn(0..count-1): lane 0 on the calling thread, the others on threads of their own, and
//   returns when all have (a lane whose thread cannot be started runs on the calling thread). fn must not
//   throw: an exception escaping a lane thread terminates the process.
// Pure planning, no I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "scanner/read_engine.h"

namespace sentinel::scanner {

// The data a lane must get before a file is cut at all (below it, a thread's start-up and a second engine cost
// more than they save).
inline constexpr uint64_t kDefaultMinLaneBytes = uint64_t{64} << 20;

struct LaneRange {
  uint64_t begin = 0;
  uint64_t end = 0;  // exclusive
  bool operator==(const LaneRange&) const = default;
};

std::vector<LaneRange> plan_lanes(const std::vector<ReadExtent>& pieces, uint64_t total, unsigned max_lanes,
                                  uint64_t align, uint64_t min_lane_bytes);

std::vector<ReadExtent> clip_to_range(const std::vector<ReadExtent>& pieces, const LaneRange& range);

void run_lanes(size_t count, const std::function<void(size_t lane)>& fn);

// Reads `extents` of the open file `fd` in `ranges` (from plan_lanes): lane i reads the extents inside
// ranges[i] with engines[i] (engines.size() >= ranges.size()) and hands them to sink(i, offset, data, length),
// in file order within the lane; sink calls of different lanes run at once. Returns each lane's ReadReport.
using LaneSink = std::function<bool(size_t lane, uint64_t offset, const uint8_t* data, size_t length)>;
std::vector<ReadReport> read_in_lanes(const std::vector<ReadEngine*>& engines, int fd,
                                      const std::vector<ReadExtent>& extents, const std::vector<LaneRange>& ranges,
                                      const LaneSink& sink);

// The default number of lanes: one per core, at most 4 (past that the page-cache copy is memory bound).
unsigned default_read_lanes();

}  // namespace sentinel::scanner
