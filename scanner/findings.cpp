#include "scanner/findings.h"

#include <algorithm>

namespace sentinel::scanner {

void add_finding(FindingList* findings, v1::Finding::Code code, v1::Finding::Severity severity,
                 std::string message, std::string path) {
  v1::Finding* f = findings->Add();
  f->set_code(code);
  f->set_severity(severity);
  f->set_message(std::move(message));
  f->set_path(std::move(path));
}

bool has_finding(const FindingList& findings, v1::Finding::Code code) {
  return std::any_of(findings.begin(), findings.end(), [code](const v1::Finding& f) { return f.code() == code; });
}

v1::Finding::Severity worst_severity(const FindingList& findings) {
  auto worst = v1::Finding::SEVERITY_UNSPECIFIED;
  for (const auto& f : findings) worst = std::max(worst, f.severity());
  return worst;
}

v1::Replica::State replica_state(const v1::Replica& replica) {
  bool broken = false;
  for (const auto& finding : replica.findings()) {
    if (finding.severity() == v1::Finding::ERROR && finding.code() != v1::Finding::REBUILDING &&
        finding.code() != v1::Finding::ERROR_SET) {
      broken = true;
    }
  }
  if (has_finding(replica.findings(), v1::Finding::NOT_A_REPLICA)) return v1::Replica::FOREIGN;
  if (broken) return v1::Replica::BROKEN;
  if (replica.rebuilding()) return v1::Replica::REBUILDING;
  if (!replica.error().empty()) return v1::Replica::ERRORED;
  if (replica.dirty()) return v1::Replica::DIRTY;
  return v1::Replica::CLEAN;
}

}  // namespace sentinel::scanner
