// Gathers the replicas of one volume from the inventories of several nodes: the planner's input.
//
// Contract:
// - Pure: inventories in, replicas out; no I/O, never throws (except std::bad_alloc).
// - A replica belongs to the volume when its `volume` field (everything before the last '-' of its directory
//   name, as the scanner sets it) equals `volume` exactly. FOREIGN directories have no volume and never match.
// - Each replica is tagged with its inventory's node (`node_if_unnamed` when the inventory has none) and the
//   inventory's scan time. The same (node, disk, dir) found in several inventories is kept once, from the most
//   recent scan; `notes` says which were dropped, so passing two scans of one node is harmless.
// - Order: as the inventories were given, then as each inventory lists its replicas. This is the "replica list
//   order" the Longhorn prediction falls back to, so it must be stable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::salvage {

struct ReplicaOnNode {
  std::string node;
  int64_t scanned_at_ns = 0;  // Inventory.scanned_at_ns of the inventory it came from
  v1::Replica replica;
};

struct NodeInventory {
  std::string node_if_unnamed;  // used when inventory.node() is empty (e.g. the file it was read from)
  v1::Inventory inventory;
};

struct VolumeReplicas {
  std::vector<ReplicaOnNode> replicas;
  std::vector<std::string> notes;  // duplicates dropped, and why
};

VolumeReplicas replicas_of_volume(const std::vector<NodeInventory>& inventories, std::string_view volume);

// Every volume name found in the inventories, sorted, each once (for "volume not found; these exist" messages).
std::vector<std::string> volumes_in(const std::vector<NodeInventory>& inventories);

}  // namespace sentinel::salvage
