// The salvage planner: every known replica of one volume in, a SalvagePlan (proto/sentinel/v1/plan.proto) out.
//
// Contract:
// - Pure: no file, network or clock access; the same input gives the same plan. Never throws (except
//   std::bad_alloc); errors are values (PlanResult).
// - Usable replicas (usability.h) rank first. Among them: revision counter (only when the revision counter is
//   enabled: a disabled counter can be stale), then head mtime, then content evidence (how many other usable
//   replicas hold the same content digest, then head allocated bytes, then chain allocated bytes); a replica
//   tied with the one above it on every criterion is ordered by (node, disk, dir) and says so in its reasons.
//   Unusable replicas follow, fewest blocking reasons first, then the same order.
// - Recommended: the best usable replica and every other usable replica whose content digest equals it. Without
//   digests (a quick scan) only the best is recommended and the plan says a deep scan confirms which others hold
//   the same data. With no usable replica, the best-ranked one is recommended as a last resort (last_resort).
// - Longhorn's own choice: longhorn_prediction.h, for the version and revision-counter mode of PlanOptions
//   (auto: inferred from the revision.counter files). A warning whenever Longhorn may keep a replica outside the
//   recommended set, or may fail every recommended one.
// - Divergence: pairs of replicas tied on Longhorn's criteria (counter enabled: equal revision counters among
//   those the engine accepts; disabled: the possible salvage winners) whose content digests differ, with the
//   differing byte ranges from their chunk lists (chunk_diff.h) when both have one.
// - Steps: steps.h. Omitted, with a warning, when the volume name is not a valid Longhorn volume name.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "salvage/volume_replicas.h"
#include "sentinel/v1/plan.pb.h"

namespace sentinel::salvage {

enum class RevisionCounterChoice { kAuto, kEnabled, kDisabled };

// "auto", "enabled", "disabled"; nullopt otherwise.
std::optional<RevisionCounterChoice> parse_revision_counter_choice(std::string_view text);

struct PlanOptions {
  std::string longhorn_version;  // "v1.5.3" / "1.5.3"; "" = unknown
  RevisionCounterChoice revision_counter = RevisionCounterChoice::kAuto;
};

enum class PlanError {
  kNone,
  kBadOption,   // longhorn_version does not parse
  kNoReplicas,  // no replica of the volume in the input
};

struct PlanResult {
  PlanError error = PlanError::kNone;
  std::string message;  // for a person, when error != kNone
  v1::SalvagePlan plan;
  [[nodiscard]] bool ok() const { return error == PlanError::kNone; }
};

// The plan for `volume` from every replica of it in `inventories` (replicas_of_volume).
PlanResult make_salvage_plan(std::string_view volume, const std::vector<NodeInventory>& inventories,
                             const PlanOptions& options);

// The same from replicas already gathered (e.g. by the collector from its store).
PlanResult make_salvage_plan(std::string_view volume, const VolumeReplicas& replicas, const PlanOptions& options);

}  // namespace sentinel::salvage
