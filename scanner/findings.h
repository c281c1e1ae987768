// Helpers to record findings: typed, with a severity, a message for a person, and the path they are about.
#pragma once

#include <string>

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::scanner {

using FindingList = google::protobuf::RepeatedPtrField<v1::Finding>;

void add_finding(FindingList* findings, v1::Finding::Code code, v1::Finding::Severity severity,
                 std::string message, std::string path);

bool has_finding(const FindingList& findings, v1::Finding::Code code);

// The worst severity in a list (SEVERITY_UNSPECIFIED when empty).
v1::Finding::Severity worst_severity(const FindingList& findings);

// The replica's state summed up from its own fields and findings, for the table and the planner: FOREIGN (not a
// replica name), BROKEN (an ERROR finding other than Rebuilding and Error, which have their own states), then
// REBUILDING, ERRORED, DIRTY, CLEAN. The quick scan sets it; the deep scan recomputes it after adding findings
// (a checksum MISMATCH makes a clean replica BROKEN).
v1::Replica::State replica_state(const v1::Replica& replica);

}  // namespace sentinel::scanner
