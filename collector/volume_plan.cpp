#include "collector/volume_plan.h"

#include <algorithm>
#include <vector>

#include "collector/http_api.h"  // rfc3339

namespace sentinel::collector {

VolumePlan plan_volume(FleetView& view, const std::string& volume, int64_t now_ns,
                       const salvage::PlanOptions& options) {
  VolumePlan out;
  const auto rows = view.volume(volume, now_ns, true, &out.error);
  if (!rows) return out;  // kStoreError
  if (rows->empty()) {
    out.outcome = VolumePlan::Outcome::kUnknownVolume;
    return out;
  }
  salvage::VolumeReplicas replicas;
  std::vector<std::string> stale_notes;
  for (const auto& row : *rows) {
    if (!row.replica) continue;
    replicas.replicas.push_back(salvage::ReplicaOnNode{row.node, row.scanned_ns, *row.replica});
    if (row.node_stale) {
      stale_notes.push_back("node " + row.node + " has not reported since " + rfc3339(row.last_seen_ns) +
                            " (stale): its replica " + row.dir + " is as it was then");
    }
  }
  out.result = salvage::make_salvage_plan(volume, replicas, options);
  if (!out.result.ok()) {
    out.outcome = VolumePlan::Outcome::kPlanError;
    return out;
  }
  for (auto& note : stale_notes) out.result.plan.add_notes(std::move(note));
  out.result.plan.add_notes("planned by sentinel-collector from each node's latest report");
  out.outcome = VolumePlan::Outcome::kPlanned;
  return out;
}

std::vector<std::string> recommended_locations(const v1::SalvagePlan& plan) {
  std::vector<std::string> recommended;
  for (const auto& location : plan.recommended()) {
    recommended.push_back(location.node() + ":" + location.disk() + "/" + location.dir());
  }
  std::sort(recommended.begin(), recommended.end());
  return recommended;
}

std::string plan_recommendation_key(const v1::SalvagePlan& plan) {
  const std::vector<std::string> recommended = recommended_locations(plan);
  std::vector<std::string> kept(plan.longhorn_would_keep().begin(), plan.longhorn_would_keep().end());
  std::sort(kept.begin(), kept.end());
  std::string key = "recommended=";
  for (const auto& r : recommended) key += r + ",";
  key += " longhorn_keeps=";
  for (const auto& k : kept) key += k + ",";
  key += plan.divergent() ? " divergent" : "";
  key += plan.last_resort() ? " last_resort" : "";
  return key;
}

}  // namespace sentinel::collector
