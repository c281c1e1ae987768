// Progress of a long deep scan for a person watching a terminal (`sentinelctl scan --deep`, locally or through
// the agent's socket): bytes read of the bytes planned, the rate, the time left, and which replica.
//
// Contract: pure formatting (the rate limiter is the export's, salvage::ProgressThrottle); the caller decides
// where lines go. By default progress is shown only when stderr is a terminal (redrawn in place), never in a pipe
// or a log; --progress forces it (one line per update when stderr is not a terminal), --no-progress silences it.
// No I/O, no exceptions, one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sentinel::tools {

enum class ProgressMode { kAuto, kOn, kOff };

// Whether to show progress: kAuto shows it on a terminal only.
bool progress_wanted(ProgressMode mode, bool stderr_is_terminal);

struct ScanProgress {
  std::string phase = "deep scan";
  uint64_t done_bytes = 0;   // read so far
  uint64_t total_bytes = 0;  // planned (an estimate that is corrected as replicas finish)
  uint32_t replicas_done = 0;
  uint32_t replicas_total = 0;
  double elapsed_seconds = 0;
  std::string current;  // the replica being read
};

// "deep scan: 812 MiB / 1.6 GiB (49%)  1.1 GiB/s  ETA 0:00:01  2/5 replicas  pvc-...-59dc1016"
// The percentage is capped at 100 and the ETA left out while nothing is known (no bytes yet, no total).
std::string format_scan_progress(const ScanProgress& progress);

// "deep scan: 5 replicas, 1.6 GiB read in 1.4 s (1.1 GiB/s)" and, when a cache was used,
// "; cache: 12 of 12 snapshots and 5 of 5 content digests reused".
struct ScanSummary {
  uint32_t replicas = 0;
  uint64_t read_bytes = 0;
  double elapsed_seconds = 0;
  bool cache_used = false;
  uint64_t images_reused = 0;
  uint64_t images_total = 0;
  uint64_t digests_reused = 0;
  uint64_t digests_total = 0;
};
std::string format_scan_summary(const ScanSummary& summary);

// Updates are let through by salvage::ProgressThrottle (export_progress.h), the export's rate limiter, at this
// interval: the first one only after it, so a short scan shows none.
inline constexpr std::chrono::milliseconds kScanProgressInterval{250};

}  // namespace sentinel::tools
