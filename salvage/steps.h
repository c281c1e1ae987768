// The steps that carry a salvage plan out: exact, copy-pasteable commands and the instructions around them.
//
// Contract:
// - Pure: reads the plan (volume, recommended, replicas, divergences, last_resort), returns lines; never throws
//   (except std::bad_alloc).
// - A line starting with "# " is an instruction for a person; every other line is one command to run as written
//   (kubectl anywhere with access to the cluster; sentinelctl on the node the preceding instruction names).
// - Every command names the volume exactly: kubectl commands as `-l longhornvolume=<volume>` or the volume CR name;
//   sentinelctl commands through the replica directory `<disk>/replicas/<volume>-<suffix>`. Disk paths outside
//   [A-Za-z0-9/._+:=,@%-] are single-quoted (shell_words.h); nothing else is ever appended.
// - When the volume name is not a valid Longhorn volume name (shell_words.h) no step is returned at all: a
//   command with a wrong name is worse than none. The planner warns.
// - Order: stop the workload; keep a read-only copy (export of the best replica, and of every replica that
//   diverges from it); list the replica CRs with their dataDirectoryName; delete a stalled engine; pick the
//   recommended replicas in the Salvage dialog; keep (never delete) the ones not picked until the volume is
//   healthy; check the volume.
#pragma once

#include <string>
#include <vector>

#include "sentinel/v1/plan.pb.h"

namespace sentinel::salvage {

std::vector<std::string> salvage_steps(const v1::SalvagePlan& plan);

}  // namespace sentinel::salvage
