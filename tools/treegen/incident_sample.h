// The demo incident: two nodes' Longhorn disks after a bad night, as Sentinel's operator would find them.
//
// - Volume pvc-7de9f38e-1f3a-4c2b-9d5e-2b8c1a4f6e01 (8 GiB) is degraded: its only replica left is on
//   worker-1 (two snapshots, the newer one Removed:true but still in the chain, and the leftover
//   `.img.checksum..tmp` of an interrupted checksum write). Closed cleanly.
// - Volume pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d (40 GiB) is detached with a replica on worker-1 AND on
//   worker-2, both Dirty:true (both crashed). worker-2 died first; worker-1 took more writes: higher revision
//   counter, head mtime 7.4 s newer, more head data. They share a byte-identical snapshot (same name, same
//   content, same checksum record value). Their head files have different numbers, as real replicas can.
//
// Everything is deterministic and sparse: ~13 MiB of real disk for ~184 GiB of apparent image size.
// write_incident_sample never throws; it fails with EEXIST rather than touch an existing tree.
#pragma once

#include <string>
#include <vector>

#include "tools/treegen/replica_writer.h"

namespace sentinel::treegen {

inline constexpr const char* kDegradedVolume = "pvc-7de9f38e-1f3a-4c2b-9d5e-2b8c1a4f6e01";
inline constexpr const char* kSplitVolume = "pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d";

struct IncidentDisk {
  std::string node;  // the disk is written at <root>/<node>
  std::string disk_name;
  std::string disk_uuid;
};

struct PlacedReplica {
  std::string node;
  ReplicaSpec spec;
};

struct IncidentSample {
  std::vector<IncidentDisk> disks;
  std::vector<PlacedReplica> replicas;
};

// The description (what write_incident_sample writes), for tests that check a scan against it.
IncidentSample incident_sample();

// Writes <root>/worker-1 and <root>/worker-2 as Longhorn disks holding the sample. `root` is created (with
// parents) if missing; the disk directories must not hold a longhorn-disk.cfg yet.
SysResult<Done> write_incident_sample(const std::string& root);

}  // namespace sentinel::treegen
