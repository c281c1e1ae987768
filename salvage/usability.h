// Whether a replica can be salvaged from, and why not: the evidence the planner ranks on.
//
// Contract: pure, never throws (except std::bad_alloc). Reasons are sentences for a person at 3 a.m.
// Unusable (blocking) reasons, in this order:
//   Rebuilding; Error set; Size or SectorSize different from the volume's; broken chain or metadata (findings
//   MISSING_HEAD, BROKEN_PARENT, CHAIN_CYCLE, CHAIN_TOO_LONG, MISSING_META, BAD_METADATA, ABSURD_SIZE,
//   NOT_A_REPLICA, EXTENT_MAP_FAILED, an ERROR-severity UNREADABLE, an ERROR-severity SIZE_MISMATCH, or state
//   FOREIGN); a snapshot checksum MISMATCH or FLAGGED; revision counter 0 next to data (only while the revision
//   counter is enabled: a disabled counter's file can be stale).
// Caveats (non-blocking, shown with the evidence): Dirty, changed during the scan, revision.counter absent or
// invalid, a stale counter of 0 next to data (counter disabled), orphan images.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "salvage/volume_replicas.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::salvage {

// The volume's Size and SectorSize as the replicas tell it: the engine knows them from the volume CR, which the
// inventories do not hold, so the most common non-zero value stands in (ties: the larger, since a failed
// expansion leaves some replicas at the old, smaller size).
struct VolumeShape {
  uint64_t size_bytes = 0;
  int64_t sector_size = 0;
  bool size_disputed = false;  // replicas disagree on Size
};

VolumeShape volume_shape(const std::vector<ReplicaOnNode>& replicas);

// The first finding that means Longhorn cannot open the replica's chain (see the list above; SIZE_MISMATCH and
// checksum findings excluded, Longhorn opens those), or nullptr. A missing or empty volume.meta is excluded too:
// Longhorn rebuilds it from the head file.
const v1::Finding* chain_breaking_finding(const v1::Replica& replica);

// Blocking reasons (empty: usable). `counter_enabled`: the volume runs with the revision counter enabled.
std::vector<std::string> unusable_reasons(const v1::Replica& replica, const VolumeShape& shape, bool counter_enabled);

// Non-blocking caveats.
std::vector<std::string> caveats(const v1::Replica& replica, bool counter_enabled);

}  // namespace sentinel::salvage
