// Renders a SalvagePlan for a person at 3 a.m.: the ranked replicas with their evidence, the recommendation and
// why, Longhorn's own choice and a WARNING where it differs, divergence, the steps, and the notes.
// (`sentinelctl plan --json` prints the plan with message_to_json instead.)
#pragma once

#include <ostream>

#include "sentinel/v1/plan.pb.h"

namespace sentinel::tools {

void print_plan_text(const v1::SalvagePlan& plan, std::ostream& out);

}  // namespace sentinel::tools
