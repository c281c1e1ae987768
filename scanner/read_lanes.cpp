#include "scanner/read_lanes.h"

#include <algorithm>
#include <system_error>
#include <thread>

namespace sentinel::scanner {

namespace {

uint64_t data_in(const std::vector<ReadExtent>& pieces, const LaneRange& range) {
  uint64_t bytes = 0;
  for (const ReadExtent& piece : pieces) {
    const uint64_t begin = std::max(piece.offset, range.begin);
    const uint64_t end = std::min(piece.offset + piece.length, range.end);
    if (begin < end) bytes += end - begin;
  }
  return bytes;
}

}  // namespace

std::vector<LaneRange> plan_lanes(const std::vector<ReadExtent>& pieces, uint64_t total, unsigned max_lanes,
                                  uint64_t align, uint64_t min_lane_bytes) {
  const LaneRange whole{0, total};
  const uint64_t data = data_in(pieces, whole);
  uint64_t lanes = std::max<uint64_t>(max_lanes, 1);
  if (min_lane_bytes > 0) lanes = std::min(lanes, data / min_lane_bytes);
  if (lanes <= 1 || align == 0) return {whole};

  // Boundary k goes where the k-th share of the data ends, rounded up to `align`.
  std::vector<uint64_t> cuts;
  const uint64_t share = data / lanes;
  uint64_t seen = 0;
  uint64_t next_threshold = share;
  for (const ReadExtent& piece : pieces) {
    const uint64_t begin = std::min(piece.offset, total);
    const uint64_t end = std::min(piece.offset + piece.length, total);
    if (begin >= end) continue;
    while (cuts.size() + 1 < lanes && seen + (end - begin) >= next_threshold) {
      const uint64_t at = begin + (next_threshold - seen);
      const uint64_t cut = std::min(total, (at + align - 1) / align * align);
      if (cut < total && (cuts.empty() || cut > cuts.back())) cuts.push_back(cut);
      next_threshold += share;
    }
    seen += end - begin;
  }

  std::vector<LaneRange> ranges;
  uint64_t start = 0;
  for (uint64_t cut : cuts) {
    ranges.push_back({start, cut});
    start = cut;
  }
  ranges.push_back({start, total});
  // A range left without data (rounding put two cuts around a hole) is merged into the one before it.
  std::vector<LaneRange> kept;
  for (const LaneRange& range : ranges) {
    if (!kept.empty() && data_in(pieces, range) == 0) {
      kept.back().end = range.end;
    } else {
      kept.push_back(range);
    }
  }
  if (kept.size() > 1 && data_in(pieces, kept.front()) == 0) {
    kept[1].begin = 0;
    kept.erase(kept.begin());
  }
  return kept;
}

std::vector<ReadExtent> clip_to_range(const std::vector<ReadExtent>& pieces, const LaneRange& range) {
  std::vector<ReadExtent> out;
  for (const ReadExtent& piece : pieces) {
    const uint64_t begin = std::max(piece.offset, range.begin);
    const uint64_t end = std::min(piece.offset + piece.length, range.end);
    if (begin < end) out.push_back({begin, end - begin});
  }
  return out;
}

void run_lanes(size_t count, const std::function<void(size_t lane)>& fn) {
  std::vector<std::thread> threads;
  threads.reserve(count > 0 ? count - 1 : 0);
  size_t on_threads_until = 1;
  try {
    for (; on_threads_until < count; ++on_threads_until) threads.emplace_back(fn, on_threads_until);
  } catch (const std::system_error&) {
    // No thread to be had (a process at its limit): the lanes left run here, one after the other.
  }
  if (count > 0) fn(0);
  for (size_t lane = on_threads_until; lane < count; ++lane) fn(lane);
  for (std::thread& thread : threads) thread.join();
}

std::vector<ReadReport> read_in_lanes(const std::vector<ReadEngine*>& engines, int fd,
                                      const std::vector<ReadExtent>& extents, const std::vector<LaneRange>& ranges,
                                      const LaneSink& sink) {
  std::vector<ReadReport> reports(ranges.size());
  run_lanes(ranges.size(), [&](size_t lane) {
    const auto deliver = [&](uint64_t offset, const uint8_t* data, size_t length) {
      return sink(lane, offset, data, length);
    };
    reports[lane] = ranges.size() == 1 ? engines[0]->read(fd, extents, deliver)
                                       : engines[lane]->read(fd, clip_to_range(extents, ranges[lane]), deliver);
  });
  return reports;
}

unsigned default_read_lanes() { return std::clamp(std::thread::hardware_concurrency(), 1u, 4u); }

}  // namespace sentinel::scanner
