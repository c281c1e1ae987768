// What Longhorn's engine would do if it started the volume now with salvage requested: which replicas it would
// keep RW and which it would mark ERR, version aware, as a set of possible outcomes (never a random pick).
//
// Model (LONGHORN-FORMAT.md "How Longhorn salvages"; fixtures README "Replica selection at engine start"):
// 1. Engine start drops (LONGHORN_DROP): replicas it cannot open (chain_breaking_finding; inferred from the
//    findings), Error set (state error), Rebuilding (state rebuilding) unless it is the only replica (then
//    ResetRebuild clears the flag and it stays), SectorSize or Size different from the volume's.
// 2. Revision counter enabled: the highest counter wins; every lower one is ERR; ties survive. A replica
//    without revision.counter counts as 0 (Longhorn creates the file with 0 when it opens it; inferred).
// 3. Revision counter disabled: candidates are the replicas whose head mtime t satisfies t + 5 s > newest; the
//    rest are ERR. Among the candidates, per longhorn_version.h: any may win (one outcome per candidate), or the
//    largest head allocated size, ties to the newer mtime, and a remaining tie goes to the first in the engine's
//    replica list, which Sentinel cannot see (one outcome per tied replica).
// Every replica given is assumed to be offered to the engine (as a manual Salvage of all of them would).
//
// Contract: pure, never throws (except std::bad_alloc). `verdicts` is index-aligned with the input.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "salvage/longhorn_version.h"
#include "salvage/usability.h"
#include "salvage/volume_replicas.h"
#include "sentinel/v1/plan.pb.h"

namespace sentinel::salvage {

struct PredictionOptions {
  std::optional<LonghornVersion> version;  // nullopt: unknown
  v1::LonghornPrediction::RevisionCounterMode revision_counter_mode = v1::LonghornPrediction::ENABLED;
  bool revision_counter_mode_inferred = false;
  VolumeShape volume;  // the Size / SectorSize the engine would compare against
};

struct ReplicaVerdict {
  v1::LonghornVerdict verdict = v1::LONGHORN_VERDICT_UNSPECIFIED;
  std::string reason;
};

struct LonghornForecast {
  v1::LonghornPrediction prediction;
  std::vector<ReplicaVerdict> verdicts;  // one per input replica, same order
};

LonghornForecast predict_longhorn(const std::vector<ReplicaOnNode>& replicas, const PredictionOptions& options);

// Which mode `--revision-counter auto` means for these replicas: ENABLED when every replica that has a volume.meta
// has a revision.counter file, else DISABLED (a replica opened with the counter enabled always has one). `why`
// receives the explanation.
v1::LonghornPrediction::RevisionCounterMode infer_revision_counter_mode(const std::vector<ReplicaOnNode>& replicas,
                                                                        std::string* why);

}  // namespace sentinel::salvage
