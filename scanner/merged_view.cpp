// The merged 4 KiB-block view of a replica's chain. See merged_view.h for the rule and the contract.
#include "scanner/merged_view.h"

#include <algorithm>
#include <cerrno>
#include <limits>
#include <map>

#include "scanner/chain.h"
#include "scanner/longhorn_metadata.h"
#include "scanner/replica_names.h"

namespace sentinel::scanner {
namespace {

// Plausible upper bound of a volume; the quick scan calls anything larger ABSURD_SIZE.
constexpr uint64_t kMaxVolumeBytes = uint64_t{1} << 50;

uint64_t saturating_end(uint64_t offset, uint64_t length) {
  return length > std::numeric_limits<uint64_t>::max() - offset ? std::numeric_limits<uint64_t>::max()
                                                                : offset + length;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// The run list.

bool MergedRunBuilder::add_layer(const std::vector<ReadExtent>& extents) {
  // The layer's extents as whole blocks inside the volume, sorted and merged.
  std::vector<ReadExtent> blocks;
  blocks.reserve(extents.size());
  uint64_t previous_offset = 0;
  for (const ReadExtent& e : extents) {
    if (e.offset < previous_offset) return false;
    previous_offset = e.offset;
    if (e.length == 0 || e.offset >= volume_bytes_) continue;
    const uint64_t start = e.offset / kVolumeBlockBytes * kVolumeBlockBytes;
    uint64_t end = std::min(saturating_end(e.offset, e.length), volume_bytes_);
    end = std::min(saturating_end(end, kVolumeBlockBytes - 1) / kVolumeBlockBytes * kVolumeBlockBytes, volume_bytes_);
    if (!blocks.empty() && start <= blocks.back().offset + blocks.back().length) {
      const uint64_t merged_end = std::max(blocks.back().offset + blocks.back().length, end);
      blocks.back().length = merged_end - blocks.back().offset;
    } else {
      blocks.push_back({start, end - start});
    }
  }

  // What the newer layers do not cover yet belongs to this layer.
  const uint32_t layer = layers_++;
  size_t c = 0;
  for (const ReadExtent& b : blocks) {
    uint64_t pos = b.offset;
    const uint64_t end = b.offset + b.length;
    while (c < covered_.size() && covered_[c].offset + covered_[c].length <= pos) ++c;
    size_t k = c;
    while (pos < end) {
      if (k == covered_.size() || covered_[k].offset >= end) {
        runs_.push_back({pos, end - pos, layer});
        break;
      }
      if (covered_[k].offset > pos) runs_.push_back({pos, covered_[k].offset - pos, layer});
      pos = std::max(pos, covered_[k].offset + covered_[k].length);
      ++k;
    }
  }

  // covered_ |= blocks.
  if (!blocks.empty()) {
    std::vector<ReadExtent> merged;
    merged.reserve(covered_.size() + blocks.size());
    size_t i = 0;
    size_t j = 0;
    while (i < covered_.size() || j < blocks.size()) {
      const ReadExtent& next =
          (j == blocks.size() || (i < covered_.size() && covered_[i].offset <= blocks[j].offset)) ? covered_[i++]
                                                                                                 : blocks[j++];
      if (!merged.empty() && next.offset <= merged.back().offset + merged.back().length) {
        const uint64_t merged_end = std::max(merged.back().offset + merged.back().length, next.offset + next.length);
        merged.back().length = merged_end - merged.back().offset;
      } else {
        merged.push_back(next);
      }
    }
    covered_ = std::move(merged);
  }
  return true;
}

std::vector<MergedRun> MergedRunBuilder::finish() {
  std::sort(runs_.begin(), runs_.end(), [](const MergedRun& a, const MergedRun& b) { return a.offset < b.offset; });
  std::vector<MergedRun> out;
  out.reserve(runs_.size());
  for (const MergedRun& r : runs_) {
    if (!out.empty() && out.back().layer == r.layer && out.back().offset + out.back().length == r.offset) {
      out.back().length += r.length;
    } else {
      out.push_back(r);
    }
  }
  runs_.clear();
  runs_.shrink_to_fit();
  covered_.clear();
  covered_.shrink_to_fit();
  layers_ = 0;
  out.shrink_to_fit();
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Identities.

FileIdentity identity_of(const FileStat& st) { return {st.inode, st.size, st.mtime_ns, st.ctime_ns}; }

FileIdentity identity_of(const v1::Image& image) {
  return {image.inode(), image.apparent_bytes(), image.mtime_ns(), image.ctime_ns()};
}

std::string describe_change(const FileIdentity& was, const FileIdentity& now) {
  std::string what;
  auto add = [&](const std::string& part) { what += (what.empty() ? "" : ", ") + part; };
  if (was.inode != now.inode) add("inode " + std::to_string(was.inode) + " -> " + std::to_string(now.inode));
  if (was.size != now.size) add("size " + std::to_string(was.size) + " -> " + std::to_string(now.size));
  if (was.mtime_ns != now.mtime_ns) {
    add("mtime " + go_time_string_utc(was.mtime_ns) + " -> " + go_time_string_utc(now.mtime_ns));
  }
  if (was.ctime_ns != now.ctime_ns) {
    add("ctime " + go_time_string_utc(was.ctime_ns) + " -> " + go_time_string_utc(now.ctime_ns));
  }
  return what;
}

// ---------------------------------------------------------------------------------------------------------
// Reading.

namespace {

struct OpenLayer {
  Fd fd;
  FileIdentity at_open;
};

// What one lane's delivery ended with.
struct LaneResult {
  int failed_layer = -1;  // the layer (chain index) whose read failed, or -1
  ReadReport failed_read;
  bool sink_stopped = false;
  uint64_t read_bytes = 0;
};

// Delivers [range.begin, range.end) of the merged volume to `sink`, in order: each layer's consecutive runs in
// one engine call, zeros in between.
LaneResult deliver_range(ReadEngine& engine, const std::vector<OpenLayer>& open, const std::vector<MergedRun>& runs,
                         const LaneRange& range, const MergedViewSink& sink) {
  LaneResult result;
  uint64_t pos = range.begin;
  auto zeros_to = [&](uint64_t to) {
    if (to <= pos) return true;
    if (!sink.zeros(pos, to - pos)) return false;
    pos = to;
    return true;
  };
  // The first run that ends past the range's start (runs are sorted and disjoint).
  auto it = std::upper_bound(runs.begin(), runs.end(), range.begin,
                             [](uint64_t at, const MergedRun& r) { return at < r.offset + r.length; });
  std::vector<ReadExtent> group;
  while (it != runs.end() && it->offset < range.end && result.failed_layer < 0 && !result.sink_stopped) {
    const uint32_t layer = it->layer;
    const uint64_t layer_size = open[layer].at_open.size;
    group.clear();
    for (; it != runs.end() && it->offset < range.end && it->layer == layer; ++it) {
      const uint64_t begin = std::max(it->offset, range.begin);
      const uint64_t end = std::min({it->offset + it->length, layer_size, range.end});  // past its size: zeros
      if (begin < end) group.push_back({begin, end - begin});
    }
    if (group.empty()) continue;
    bool out_of_order = false;
    ReadReport read = engine.read(open[layer].fd.get(), group, [&](uint64_t offset, const uint8_t* data, size_t n) {
      if (offset < pos) {
        out_of_order = true;
        return false;
      }
      if (!zeros_to(offset) || !sink.data(offset, data, n)) {
        result.sink_stopped = true;
        return false;
      }
      pos = offset + n;
      result.read_bytes += n;
      return true;
    });
    if (read.outcome != ReadReport::Outcome::kComplete && !result.sink_stopped) {
      result.failed_layer = static_cast<int>(layer);
      result.failed_read = std::move(read);
      if (out_of_order) {
        result.failed_read.outcome = ReadReport::Outcome::kFailed;
        result.failed_read.detail = "the engine delivered data out of order";
      }
    }
  }
  if (result.failed_layer < 0 && !result.sink_stopped && !zeros_to(range.end)) result.sink_stopped = true;
  return result;
}

}  // namespace

MergedViewReport stream_merged_view_in_lanes(FileSystem& fs, const MergedViewLanes& lanes, int dir_fd,
                                             const std::vector<MergedLayer>& layers, uint64_t volume_bytes,
                                             const std::function<MergedViewSink(size_t, const LaneRange&)>& sink_for) {
  MergedViewReport report;
  report.layers = static_cast<uint32_t>(layers.size());
  auto fail = [&](MergedViewReport::Outcome outcome, const MergedLayer* layer, std::string message, int err = 0) {
    report.outcome = outcome;
    report.path = layer != nullptr ? layer->path : "";
    report.message = std::move(message);
    report.err = err;
    return report;
  };
  if (lanes.engines.empty()) return fail(MergedViewReport::Outcome::kUnreadable, nullptr, "no read engine", EINVAL);

  std::vector<OpenLayer> open;
  open.reserve(layers.size());
  MergedRunBuilder builder(volume_bytes);
  std::vector<ReadExtent> extents;
  for (const MergedLayer& layer : layers) {
    auto fd = fs.open_file_at(dir_fd, layer.raw_name);
    if (!fd) {
      if (fd.error().err == ENOENT) {
        return fail(MergedViewReport::Outcome::kVanished, &layer, "layer disappeared before it could be read");
      }
      return fail(MergedViewReport::Outcome::kUnreadable, &layer, "cannot open: " + fd.error().message(),
                  fd.error().err);
    }
    auto st = fs.stat_fd(fd->get());
    if (!st) {
      return fail(MergedViewReport::Outcome::kUnreadable, &layer, "cannot stat: " + st.error().message(),
                  st.error().err);
    }
    const FileIdentity now = identity_of(*st);
    if (st->type != EntryType::kRegular || !(now == layer.expected)) {
      return fail(MergedViewReport::Outcome::kChanged, &layer,
                  "layer changed since the quick scan (" +
                      (st->type != EntryType::kRegular ? std::string("no longer a regular file")
                                                       : describe_change(layer.expected, now)) +
                      ")");
    }
    extents.clear();
    auto mapped = fs.map_extents(fd->get(), st->size, [&](uint64_t offset, uint64_t length) {
      if (!extents.empty() && extents.back().offset + extents.back().length == offset) {
        extents.back().length += length;
      } else {
        extents.push_back({offset, length});
      }
    });
    if (!mapped) {
      return fail(MergedViewReport::Outcome::kExtentMapFailed, &layer,
                  "cannot map allocated extents: " + mapped.error().message(), mapped.error().err);
    }
    if (!builder.add_layer(extents)) {
      return fail(MergedViewReport::Outcome::kExtentMapFailed, &layer, "the extent map is not in ascending order");
    }
    open.push_back({std::move(fd.value()), now});
  }
  extents.clear();
  extents.shrink_to_fit();
  const std::vector<MergedRun> runs = builder.finish();
  report.run_count = runs.size();
  for (const MergedRun& r : runs) report.mapped_bytes += r.length;

  // Each lane delivers its range of the volume; lane 0 on this thread (read_lanes.h).
  std::vector<ReadExtent> owned;
  owned.reserve(runs.size());
  for (const MergedRun& r : runs) owned.push_back({r.offset, r.length});
  const std::vector<LaneRange> ranges =
      lanes.engines.size() <= 1 ? std::vector<LaneRange>{{0, volume_bytes}}
                                : plan_lanes(owned, volume_bytes, static_cast<unsigned>(lanes.engines.size()),
                                             lanes.align, lanes.min_lane_bytes);
  owned.clear();
  owned.shrink_to_fit();
  report.lanes = static_cast<uint32_t>(ranges.size());
  std::vector<MergedViewSink> sinks;
  sinks.reserve(ranges.size());
  for (size_t lane = 0; lane < ranges.size(); ++lane) sinks.push_back(sink_for(lane, ranges[lane]));
  std::vector<LaneResult> results(ranges.size());
  run_lanes(ranges.size(), [&](size_t lane) {
    results[lane] = deliver_range(*lanes.engines[lane], open, runs, ranges[lane], sinks[lane]);
  });
  const LaneResult* failed = nullptr;
  bool sink_stopped = false;
  for (const LaneResult& result : results) {
    report.read_bytes += result.read_bytes;
    if (failed == nullptr && result.failed_layer >= 0) failed = &result;
    sink_stopped = sink_stopped || result.sink_stopped;
  }
  const MergedLayer* failed_layer = failed != nullptr ? &layers[static_cast<size_t>(failed->failed_layer)] : nullptr;
  const ReadReport failed_read = failed != nullptr ? failed->failed_read : ReadReport{};

  // A layer that changed while it was read says nothing about corruption: that comes first.
  for (size_t i = 0; i < open.size(); ++i) {
    auto after = fs.stat_fd(open[i].fd.get());
    if (!after) {
      return fail(MergedViewReport::Outcome::kUnreadable, &layers[i], "cannot stat: " + after.error().message(),
                  after.error().err);
    }
    if (!(identity_of(*after) == open[i].at_open)) {
      return fail(MergedViewReport::Outcome::kChanged, &layers[i],
                  "layer changed while the merged volume was read (" +
                      describe_change(open[i].at_open, identity_of(*after)) + ")");
    }
  }
  if (failed_layer != nullptr) {
    switch (failed_read.outcome) {
      case ReadReport::Outcome::kShortFile:
        return fail(MergedViewReport::Outcome::kChanged, failed_layer, failed_read.message());
      case ReadReport::Outcome::kIoError:
        return fail(MergedViewReport::Outcome::kUnreadable, failed_layer, failed_read.message(), failed_read.err);
      default:
        return fail(MergedViewReport::Outcome::kUnreadable, failed_layer,
                    failed_read.detail.empty() ? failed_read.message() : failed_read.detail, failed_read.err);
    }
  }
  if (sink_stopped) return fail(MergedViewReport::Outcome::kStopped, nullptr, "the consumer stopped the read");
  return report;
}

MergedViewReport stream_merged_view(FileSystem& fs, ReadEngine& engine, int dir_fd,
                                    const std::vector<MergedLayer>& layers, uint64_t volume_bytes,
                                    const MergedViewSink& sink) {
  MergedViewLanes one;
  one.engines = {&engine};
  return stream_merged_view_in_lanes(fs, one, dir_fd, layers, volume_bytes,
                                     [&sink](size_t, const LaneRange&) { return sink; });
}

// ---------------------------------------------------------------------------------------------------------
// Replicas as the quick scan reported them.

std::string merged_view_unavailable(const v1::Replica& replica) {
  if (replica.size_bytes() == 0) return "the volume Size is unknown (volume.meta missing or unreadable)";
  if (replica.size_bytes() > kMaxVolumeBytes) return "the volume Size is not plausible";
  if (!replica.backing_file_path().empty()) {
    return "the volume has a backing image (" + replica.backing_file_path() +
           ") outside the replica directory, which is not read";
  }
  if (replica.chain().empty()) return "there is no chain to read (no Head)";
  if (static_cast<size_t>(replica.chain_size()) > kMaxChainLength) return "the chain is longer than Longhorn allows";
  std::map<std::string, const v1::Image*> by_name;
  for (const auto& image : replica.images()) by_name.emplace(image.name(), &image);
  for (int i = 0; i < replica.chain_size(); ++i) {
    const std::string& name = replica.chain(i);
    auto it = by_name.find(name);
    if (it == by_name.end() || it->second->inode() == 0) {
      return "the chain is incomplete: " + name + " could not be read by the quick scan";
    }
    if (!it->second->has_meta()) return "the chain is incomplete: " + name + " has no usable .meta";
    const std::string& parent = it->second->parent();
    const std::string expected = i + 1 < replica.chain_size() ? replica.chain(i + 1) : "";
    if (parent != expected) {
      return "the chain is incomplete: " + name + " names parent \"" + parent + "\", which could not be followed";
    }
  }
  return "";
}

MergedViewReport stream_replica_merged_view(FileSystem& fs, ReadEngine& engine, const v1::Replica& replica,
                                            const MergedViewSink& sink, const std::string& disk_path) {
  MergedViewReport report;
  const std::string rel_dir = "replicas/" + replica.dir();
  if (std::string why = merged_view_unavailable(replica); !why.empty()) {
    report.outcome = MergedViewReport::Outcome::kNotApplicable;
    report.message = std::move(why);
    return report;
  }
  auto unreadable = [&](const SysError& error) {
    report.outcome = error.err == ENOENT ? MergedViewReport::Outcome::kVanished
                                         : MergedViewReport::Outcome::kUnreadable;
    report.path = rel_dir;
    report.message = error.message();
    report.err = error.err;
    return report;
  };
  auto disk_fd = fs.open_root(disk_path.empty() ? replica.disk() : disk_path);
  if (!disk_fd) return unreadable(disk_fd.error());
  auto replicas_fd = fs.open_dir_at(disk_fd->get(), "replicas");
  if (!replicas_fd) return unreadable(replicas_fd.error());
  auto replicas_entries = fs.list_dir(replicas_fd->get());
  if (!replicas_entries) return unreadable(replicas_entries.error());
  std::string raw_dir = replica.dir();
  for (const auto& e : *replicas_entries) {
    if (escape_name(e.name) == replica.dir()) raw_dir = e.name;
  }
  auto dir_fd = fs.open_dir_at(replicas_fd->get(), raw_dir);
  if (!dir_fd) return unreadable(dir_fd.error());
  auto entries = fs.list_dir(dir_fd->get());
  if (!entries) return unreadable(entries.error());
  std::map<std::string, std::string> raw_names;
  for (const auto& e : *entries) raw_names[escape_name(e.name)] = e.name;
  return stream_merged_view(fs, engine, dir_fd->get(), merged_layers_of(replica, raw_names), replica.size_bytes(),
                            sink);
}

std::vector<MergedLayer> merged_layers_of(const v1::Replica& replica,
                                          const std::map<std::string, std::string>& raw_names) {
  std::map<std::string, const v1::Image*> by_name;
  for (const auto& image : replica.images()) by_name.emplace(image.name(), &image);
  std::vector<MergedLayer> layers;
  layers.reserve(static_cast<size_t>(replica.chain_size()));
  for (const std::string& name : replica.chain()) {
    MergedLayer layer;
    auto raw = raw_names.find(name);
    layer.raw_name = raw != raw_names.end() ? raw->second : name;
    layer.path = "replicas/" + replica.dir() + "/" + name;
    auto image = by_name.find(name);
    if (image != by_name.end()) layer.expected = identity_of(*image->second);
    layers.push_back(std::move(layer));
  }
  return layers;
}

}  // namespace sentinel::scanner
