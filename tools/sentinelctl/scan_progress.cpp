// Progress lines of a deep scan. See scan_progress.h.
#include "tools/sentinelctl/scan_progress.h"

#include <algorithm>
#include <cstdio>

#include "salvage/text_units.h"
#include "tools/sentinelctl/inventory_output.h"

namespace sentinel::tools {

namespace {

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, seconds < 10 ? "%.2f s" : "%.0f s", seconds);
  return buf;
}

}  // namespace

bool progress_wanted(ProgressMode mode, bool stderr_is_terminal) {
  return mode == ProgressMode::kOn || (mode == ProgressMode::kAuto && stderr_is_terminal);
}

std::string format_scan_progress(const ScanProgress& p) {
  std::string line = p.phase + ": " + human_bytes(p.done_bytes) + " / " + human_bytes(p.total_bytes);
  if (p.total_bytes > 0) {
    const double percent = std::min(100.0, 100.0 * static_cast<double>(p.done_bytes) / p.total_bytes);
    char buf[16];
    std::snprintf(buf, sizeof buf, " (%.0f%%)", percent);
    line += buf;
  }
  if (p.elapsed_seconds > 0 && p.done_bytes > 0) {
    const double rate = static_cast<double>(p.done_bytes) / p.elapsed_seconds;
    line += "  " + human_bytes(static_cast<uint64_t>(rate)) + "/s";
    if (p.total_bytes >= p.done_bytes) {
      line += "  ETA " + salvage::clock_text(static_cast<double>(p.total_bytes - p.done_bytes) / rate);
    }
  }
  if (p.replicas_total > 0) {
    line += "  " + std::to_string(p.replicas_done) + "/" + std::to_string(p.replicas_total) + " replicas";
  }
  if (!p.current.empty()) line += "  " + p.current;
  return line;
}

std::string format_scan_summary(const ScanSummary& s) {
  std::string line = "deep scan: " + std::to_string(s.replicas) + (s.replicas == 1 ? " replica, " : " replicas, ") +
                     human_bytes(s.read_bytes) + " read in " + seconds_text(s.elapsed_seconds);
  if (s.elapsed_seconds > 0 && s.read_bytes > 0) {
    line += " (" + human_bytes(static_cast<uint64_t>(static_cast<double>(s.read_bytes) / s.elapsed_seconds)) + "/s)";
  }
  if (s.cache_used) {
    line += "; cache: " + std::to_string(s.images_reused) + " of " + std::to_string(s.images_total) +
            (s.images_total == 1 ? " snapshot" : " snapshots") + " and " + std::to_string(s.digests_reused) + " of " +
            std::to_string(s.digests_total) + (s.digests_total == 1 ? " content digest" : " content digests") +
            " reused";
  }
  return line;
}

}  // namespace sentinel::tools
