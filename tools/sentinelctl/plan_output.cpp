// The text form of a salvage plan; see plan_output.h.
#include "tools/sentinelctl/plan_output.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <set>

#include "tools/sentinelctl/inventory_output.h"

namespace sentinel::tools {
namespace {

std::string utc_time(int64_t ns) {
  if (ns == 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ns / 1'000'000'000);
  std::tm tm{};
  if (::gmtime_r(&seconds, &tm) == nullptr) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>((ns / 1'000'000) % 1000));
  return buf;
}

// The 8-character suffix that tells a volume's replica directories apart (the whole name when it does not fit).
std::string dir_suffix(const std::string& volume, const std::string& dir) {
  if (dir.size() > volume.size() + 1 && dir.compare(0, volume.size(), volume) == 0 && dir[volume.size()] == '-') {
    return dir.substr(volume.size() + 1);
  }
  return dir;
}

std::string verdict_name(v1::LonghornVerdict verdict) {
  switch (verdict) {
    case v1::LONGHORN_KEEP:
      return "KEEP (RW)";
    case v1::LONGHORN_MAY_KEEP:
      return "MAY KEEP";
    case v1::LONGHORN_FAIL:
      return "FAIL (ERR)";
    case v1::LONGHORN_DROP:
      return "DROP";
    default:
      return "-";
  }
}

std::string mode_name(v1::LonghornPrediction::RevisionCounterMode mode) {
  return mode == v1::LonghornPrediction::DISABLED ? "disabled" : "enabled";
}

std::string replica_path(const std::string& disk, const std::string& dir) {
  return disk + (disk.empty() || disk.back() == '/' ? "" : "/") + "replicas/" + dir;
}

void print_table(const v1::SalvagePlan& plan, std::ostream& out) {
  struct Row {
    std::vector<std::string> cells;
  };
  const std::vector<std::string> header = {"RANK",       "NODE",   "DIR",   "USABLE",  "COUNTER", "HEAD MTIME (UTC)",
                                           "HEAD ALLOC", "DIGEST", "STATE", "LONGHORN"};
  std::vector<Row> rows;
  for (const auto& r : plan.replicas()) {
    rows.push_back(
        {{std::to_string(r.rank()) + (r.recommended() ? "*" : ""), r.node(), dir_suffix(plan.volume(), r.dir()),
          r.usable() ? "yes" : "NO", r.revision_counter_present() ? std::to_string(r.revision_counter()) : "-",
          utc_time(r.head_mtime_ns()), human_bytes(r.head_allocated_bytes()),
          r.content_digest().empty() ? "-" : r.content_digest().substr(0, 12), v1::Replica::State_Name(r.state()),
          verdict_name(r.longhorn())}});
  }
  std::vector<size_t> widths(header.size());
  for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.cells.size(); ++i) widths[i] = std::max(widths[i], row.cells[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& cells) {
    out << "  ";
    for (size_t i = 0; i < cells.size(); ++i) {
      out << cells[i];
      if (i + 1 < cells.size()) out << std::string(widths[i] - cells[i].size() + 2, ' ');
    }
    out << "\n";
  };
  print_row(header);
  for (size_t i = 0; i < rows.size(); ++i) {
    print_row(rows[i].cells);
    const auto& r = plan.replicas(static_cast<int>(i));
    for (const auto& reason : r.reasons()) out << "      - " << reason << "\n";
    out << "      - Longhorn: " << r.longhorn_reason() << "\n";
  }
  out << "  (* = recommended; DIR is the suffix after \"" << plan.volume() << "-\")\n";
}

}  // namespace

void print_plan_text(const v1::SalvagePlan& plan, std::ostream& out) {
  std::set<std::string> nodes;
  for (const auto& r : plan.replicas()) nodes.insert(r.node());
  out << "Salvage plan for " << plan.volume() << " (" << human_bytes(plan.volume_size_bytes()) << ", "
      << plan.replicas_size() << " replica" << (plan.replicas_size() == 1 ? "" : "s") << " on " << nodes.size()
      << " node" << (nodes.size() == 1 ? "" : "s") << ")\n";
  out << "Assuming Longhorn " << plan.longhorn_version() << ", revision counter "
      << mode_name(plan.revision_counter_mode())
      << (plan.longhorn().revision_counter_mode_inferred() ? " (inferred from the revision.counter files)" : "")
      << "\n\n";

  out << "REPLICAS, best first\n";
  print_table(plan, out);

  out << "\nRECOMMENDED" << (plan.last_resort() ? " (LAST RESORT)" : "")
      << ": select these in Longhorn's Salvage dialog\n";
  for (const auto& r : plan.recommended()) {
    out << "  " << r.node() << "  " << replica_path(r.disk(), r.dir()) << "\n";
  }
  out << "  Why: " << plan.recommendation_reason() << "\n";

  const auto& longhorn = plan.longhorn();
  out << "\nLONGHORN " << plan.longhorn_version() << " (revision counter " << mode_name(plan.revision_counter_mode())
      << ") would keep";
  if (longhorn.deterministic()) {
    out << ": ";
    if (plan.longhorn_would_keep().empty()) out << "nothing (the volume cannot start)";
    for (int i = 0; i < plan.longhorn_would_keep_size(); ++i) out << (i ? ", " : "") << plan.longhorn_would_keep(i);
    out << "\n";
  } else {
    out << " exactly one of (its choice cannot be predicted):\n";
    for (const auto& dir : plan.longhorn_would_keep()) out << "  " << dir << "\n";
  }
  out << "  Rule: " << longhorn.rule() << "\n";

  if (!plan.warnings().empty()) {
    out << "\n";
    for (const auto& warning : plan.warnings()) out << "WARNING: " << warning << "\n";
  }

  out << "\nDIVERGENCE: ";
  if (plan.divergent()) {
    out << plan.divergences_size() << " pair" << (plan.divergences_size() == 1 ? "" : "s")
        << " tied on Longhorn's criteria hold different data\n";
    for (const auto& d : plan.divergences()) {
      out << "  " << d.a().node() << "/" << d.a().dir() << " vs " << d.b().node() << "/" << d.b().dir() << "\n";
      if (d.ranges_known()) {
        for (const auto& range : d.differing_ranges()) {
          out << "    bytes " << range.offset() << "-" << range.offset() + range.length() - 1 << "  ("
              << human_bytes(range.length()) << " at offset " << human_bytes(range.offset()) << ")\n";
        }
      } else {
        out << "    which bytes: unknown (" << d.note() << ")\n";
      }
    }
  } else if (!plan.divergence_checked()) {
    out << "not checked (replicas tied on Longhorn's criteria have no content digests; scan with --deep)\n";
  } else {
    out << "none among the replicas tied on Longhorn's criteria\n";
  }

  out << "\nSTEPS (lines starting with # are instructions; the others are commands to run as written)\n";
  if (plan.steps().empty()) out << "  (none: see the warnings)\n";
  for (const auto& step : plan.steps()) out << "  " << step << "\n";

  std::vector<std::string> notes(plan.notes().begin(), plan.notes().end());
  notes.insert(notes.end(), longhorn.notes().begin(), longhorn.notes().end());
  if (!notes.empty()) {
    out << "\nNOTES\n";
    for (const auto& note : notes) out << "  - " << note << "\n";
  }
}

}  // namespace sentinel::tools
