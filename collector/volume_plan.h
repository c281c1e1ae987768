// The salvage plan of one volume from the collector's store: each node's latest replica of it, through the
// planner (salvage/planner.h). Shared by GET /v1/volumes/{name}/plan and the plan.changed events.
//
// Contract: reads through the given FleetView (the caller's thread owns it); no writes. A stale node's replica is
// planned as it was last reported, with a note saying so.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "collector/fleet_view.h"
#include "salvage/planner.h"

namespace sentinel::collector {

struct VolumePlan {
  enum class Outcome { kPlanned, kUnknownVolume, kStoreError, kPlanError };
  Outcome outcome = Outcome::kStoreError;
  salvage::PlanResult result;  // kPlanned, kPlanError
  std::string error;           // kStoreError
};

VolumePlan plan_volume(FleetView& view, const std::string& volume, int64_t now_ns,
                       const salvage::PlanOptions& options);

// The replicas a plan recommends, "node:disk/dir", sorted.
std::vector<std::string> recommended_locations(const v1::SalvagePlan& plan);

// What a plan recommends, in one comparable line: the recommended replicas (node:dir, sorted), what Longhorn
// would keep, divergence and last resort. Two plans with the same key tell the operator the same thing.
std::string plan_recommendation_key(const v1::SalvagePlan& plan);

}  // namespace sentinel::collector
