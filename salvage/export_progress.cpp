// Progress line of an export. See export_progress.h.
#include "salvage/export_progress.h"

#include <cstdio>

#include "salvage/text_units.h"

namespace sentinel::salvage {

namespace {

// "812.0 MiB": one decimal above bytes, always (text_units.h's bytes_text drops a zero decimal).
std::string progress_bytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 5) {
    bytes /= 1024.0;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buf;
}

}  // namespace

std::string format_progress(const ExportProgress& p) {
  std::string line = progress_bytes(static_cast<double>(p.data_done)) + " / " +
                     progress_bytes(static_cast<double>(p.data_total)) + " data";
  if (p.data_total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.0f%%)", 100.0 * static_cast<double>(p.data_done) / p.data_total);
    line += pct;
  }
  if (p.elapsed_seconds > 0) {
    const double rate = static_cast<double>(p.data_done) / p.elapsed_seconds;
    line += "  " + progress_bytes(rate) + "/s";
    if (rate > 0 && p.data_total >= p.data_done) {
      line += "  ETA " + clock_text(static_cast<double>(p.data_total - p.data_done) / rate);
    }
  }
  line += "  [volume offset " + progress_bytes(static_cast<double>(p.volume_offset)) + " / " +
          progress_bytes(static_cast<double>(p.volume_bytes)) + "]";
  return line;
}

bool ProgressThrottle::due(double* elapsed_seconds) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < interval_) return false;
  last_ = now;
  *elapsed_seconds = std::chrono::duration<double>(now - start_).count();
  return true;
}

double ProgressThrottle::elapsed() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

}  // namespace sentinel::salvage
