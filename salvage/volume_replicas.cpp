// Replicas of one volume across inventories; see volume_replicas.h for the contract.
#include "salvage/volume_replicas.h"

#include <map>
#include <set>
#include <tuple>

namespace sentinel::salvage {

VolumeReplicas replicas_of_volume(const std::vector<NodeInventory>& inventories, std::string_view volume) {
  VolumeReplicas out;
  // (node, disk, dir) -> index in out.replicas, so a later, newer scan replaces an older one in place.
  std::map<std::tuple<std::string, std::string, std::string>, size_t> seen;
  for (const auto& input : inventories) {
    const std::string node = input.inventory.node().empty() ? input.node_if_unnamed : input.inventory.node();
    for (const auto& replica : input.inventory.replicas()) {
      if (replica.volume().empty() || replica.volume() != volume) continue;
      ReplicaOnNode candidate{node, input.inventory.scanned_at_ns(), replica};
      auto key = std::make_tuple(node, replica.disk(), replica.dir());
      auto [it, inserted] = seen.emplace(key, out.replicas.size());
      if (inserted) {
        out.replicas.push_back(std::move(candidate));
        continue;
      }
      ReplicaOnNode& kept = out.replicas[it->second];
      const bool newer = candidate.scanned_at_ns > kept.scanned_at_ns;
      out.notes.push_back("replica " + replica.dir() + " on " + node + " (disk " + replica.disk() +
                          ") is in more than one inventory; using " +
                          (newer ? "the most recent scan" : "the inventory given first (the other is not newer)"));
      if (newer) kept = std::move(candidate);
    }
  }
  return out;
}

std::vector<std::string> volumes_in(const std::vector<NodeInventory>& inventories) {
  std::set<std::string> names;
  for (const auto& input : inventories) {
    for (const auto& replica : input.inventory.replicas()) {
      if (!replica.volume().empty()) names.insert(replica.volume());
    }
  }
  return {names.begin(), names.end()};
}

}  // namespace sentinel::salvage
