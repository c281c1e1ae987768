// The merged view of a replica: the volume as Longhorn's replica reads it through the chain of layers
// (LONGHORN-FORMAT.md, "How a volume is read through the chain"; fixtures/README.md, merge rule `diffDisk`).
//
// The rule, exactly: the volume is `Size` bytes addressed in 4 KiB blocks. For each block, the newest layer
// (head first, then its parents, Removed snapshots included) that has an allocated extent intersecting the block
// owns it. Extent flags are ignored (unwritten/preallocated extents count as data). A block no layer owns reads as
// zeros (Longhorn reads it from the oldest layer, where it is a hole). Bytes of an owned block at or past the
// owning layer's apparent size read as zeros (an older, smaller layer after an expansion), even when an older
// layer has data there. A layer's extents past the volume Size are ignored. Backing files are not modelled.
//
// Contract:
// - The ownership map is a sorted list of runs (MergedRun), built by overlaying each layer's extent intervals
//   on the union of the newer layers' intervals: never a per-block table. Its size is bounded by the layers'
//   extent counts (runs <= sum of the layers' coalesced extents + number of newer-layer intervals each older
//   extent is split around), not by the volume size: a 40 GiB sparse volume with 20,000 extents needs about
//   20,000 runs (24 bytes each). Building it holds one layer's extent list at a time.
// - Reading is read-only and goes through `fs` (opening, stat, extent maps) and a ReadEngine (read_engine.h):
//   only the owned runs are read, each layer's consecutive runs in one engine call; holes are never read.
//   The consumer sees the whole volume [0, Size) exactly once, in order, as data pieces and zero ranges.
// - Change awareness: every layer's (inode, size, mtime, ctime) must equal what the quick scan recorded, when it
//   is opened and again after the whole view was read; a file that changed or ends early (kChanged) gives no
//   result, never a wrong one. Errors are values (MergedViewReport); nothing throws (except std::bad_alloc).
// - Cost: the owned data bytes, once; memory: the run list, one layer's extent list while mapping, the engine's
//   buffers, and one open file per layer (Longhorn allows at most 250).
// - Thread-compatible: calls on different engines run in parallel; `fs` must be thread-safe (file_system.h).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "scanner/file_system.h"
#include "scanner/read_engine.h"
#include "scanner/read_lanes.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::scanner {

inline constexpr uint64_t kVolumeBlockBytes = 4096;

// One run of consecutive blocks owned by one layer. `layer` is the index in the chain, 0 = head.
struct MergedRun {
  uint64_t offset = 0;  // multiple of 4096
  uint64_t length = 0;  // multiple of 4096, except a run that ends at a Size that is not
  uint32_t layer = 0;
  bool operator==(const MergedRun&) const = default;
};

// Builds the run list one layer at a time, newest first. Pure.
class MergedRunBuilder {
 public:
  explicit MergedRunBuilder(uint64_t volume_bytes) : volume_bytes_(volume_bytes) {}

  // Adds the next older layer. `extents` are its allocated extents in ascending order (adjacent or
  // overlapping ones are fine); each is widened to whole 4 KiB blocks and clipped to the volume Size.
  // Returns false (and adds nothing) when the extents are not in ascending order.
  [[nodiscard]] bool add_layer(const std::vector<ReadExtent>& extents);

  [[nodiscard]] uint32_t layers() const { return layers_; }
  // Runs so far (unsorted until finish()).
  [[nodiscard]] size_t run_count() const { return runs_.size(); }

  // The runs in volume order, adjacent runs of the same layer merged. The builder is left empty.
  std::vector<MergedRun> finish();

 private:
  uint64_t volume_bytes_;
  uint32_t layers_ = 0;
  std::vector<ReadExtent> covered_;  // union of the newer layers' block intervals, sorted, disjoint, merged
  std::vector<MergedRun> runs_;
};

// A file of the chain as the quick scan saw it.
struct FileIdentity {
  uint64_t inode = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
FileIdentity identity_of(const FileStat& st);
FileIdentity identity_of(const v1::Image& image);
// "size 1 -> 2, ctime ... -> ...": what differs, for a person.
std::string describe_change(const FileIdentity& was, const FileIdentity& now);

// One layer to open: its raw file name in the replica directory, a display name (escaped, relative to the
// disk) for messages, and its identity at the quick scan.
struct MergedLayer {
  std::string raw_name;
  std::string path;
  FileIdentity expected;
};

// The chain of a quick-scanned replica as MergedLayers, head first. `raw_names` maps the inventory's escaped
// names to the raw names in the directory (a name missing from it is used as is).
std::vector<MergedLayer> merged_layers_of(const v1::Replica& replica,
                                          const std::map<std::string, std::string>& raw_names);

// Receives the merged volume in order. data(): bytes a layer supplies, valid only during the call; zeros():
// `length` zero bytes (holes). Return false to stop (kStopped).
struct MergedViewSink {
  std::function<bool(uint64_t offset, const uint8_t* data, size_t length)> data;
  std::function<bool(uint64_t offset, uint64_t length)> zeros;
};

struct MergedViewReport {
  enum class Outcome {
    kComplete,         // the whole volume was delivered
    kNotApplicable,    // the replica has no usable chain or Size (`message` says why); nothing was opened
    kVanished,         // a layer disappeared (`path`)
    kChanged,          // a layer changed since the quick scan or while it was read, or ended early (`path`)
    kUnreadable,       // a layer could not be opened, stat'ed or read (`path`, `err`)
    kExtentMapFailed,  // a layer's extents could not be mapped, or are not in order (`path`)
    kStopped,          // the sink asked to stop
  };
  Outcome outcome = Outcome::kComplete;
  std::string path;     // the layer concerned, relative to the disk ("replicas/<dir>/<image>")
  std::string message;  // one line for a person
  int err = 0;
  uint32_t layers = 0;
  uint64_t run_count = 0;
  uint64_t mapped_bytes = 0;  // bytes of the volume some layer owns (before clipping to its apparent size)
  uint64_t read_bytes = 0;    // bytes read from the layers and delivered
  uint32_t lanes = 0;         // read lanes the volume was cut into (0 when nothing was read)
  [[nodiscard]] bool ok() const { return outcome == Outcome::kComplete; }
};

// Streams the merged view of the chain `layers` (head first) found in the open directory `dir_fd`.
MergedViewReport stream_merged_view(FileSystem& fs, ReadEngine& engine, int dir_fd,
                                    const std::vector<MergedLayer>& layers, uint64_t volume_bytes,
                                    const MergedViewSink& sink);

// Read lanes for stream_merged_view_in_lanes: at most one lane per engine (engines[0] reads on the calling
// thread), cut on `align` boundaries with at least `min_lane_bytes` of owned data per lane (read_lanes.h).
struct MergedViewLanes {
  std::vector<ReadEngine*> engines;
  uint64_t align = uint64_t{4} << 20;
  uint64_t min_lane_bytes = kDefaultMinLaneBytes;
};

// The same, the volume cut into contiguous ranges read at once, each on its own engine and thread:
// sink_for(lane, range) is asked for lane's sink (on the calling thread, before any read) and that sink sees
// [range.begin, range.end) exactly once, in order, called on the lane's thread. The ranges cover the volume in
// order; report.lanes says how many there were. Opening, mapping and the change checks are as above and done
// once; when several lanes fail, the report describes the failure at the lowest offset.
MergedViewReport stream_merged_view_in_lanes(FileSystem& fs, const MergedViewLanes& lanes, int dir_fd,
                                             const std::vector<MergedLayer>& layers, uint64_t volume_bytes,
                                             const std::function<MergedViewSink(size_t, const LaneRange&)>& sink_for);

// Why the merged view of a quick-scanned replica cannot be built, or "" when it can: no Size, an incomplete
// chain (a missing, unreadable or meta-less layer, a Parent that is not the next layer, a broken or cyclic
// chain), a backing file (outside the replica directory; not modelled).
std::string merged_view_unavailable(const v1::Replica& replica);

// The same for a replica as the quick scan (scanner.h) reported it: opens <disk>/replicas/<dir> (`disk_path`,
// or the replica's own `disk` when empty), resolves the escaped names the inventory holds, and streams.
MergedViewReport stream_replica_merged_view(FileSystem& fs, ReadEngine& engine, const v1::Replica& replica,
                                            const MergedViewSink& sink, const std::string& disk_path = "");

}  // namespace sentinel::scanner
