// Progress of a long export, for a person watching a terminal: data bytes done of the data the merged view will
// read (holes cost nothing, so the volume offset would make a useless ETA), the rate and the time left.
//
// Contract: pure formatting plus a rate limiter; the caller decides where the line goes (stderr, only when it
// is a terminal or --progress was given). No I/O, no exceptions, one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sentinel::salvage {

struct ExportProgress {
  uint64_t data_done = 0;      // data bytes read and written so far
  uint64_t data_total = 0;     // data bytes the export will read (ReplicaSource::planned_read_bytes)
  uint64_t volume_offset = 0;  // how far through the volume
  uint64_t volume_bytes = 0;
  double elapsed_seconds = 0;
};

// "812.0 MiB / 1.6 GiB data (49%)  1.1 GiB/s  ETA 0:00:01  [volume offset 19.6 GiB / 40.0 GiB]"
std::string format_progress(const ExportProgress& progress);

// Lets a progress line through at most every `interval` (the first one after `interval`, too: a short export
// prints nothing).
class ProgressThrottle {
 public:
  explicit ProgressThrottle(std::chrono::milliseconds interval = std::chrono::milliseconds(500))
      : interval_(interval), start_(std::chrono::steady_clock::now()), last_(start_) {}
  // True when a line is due; `elapsed_seconds` receives the time since construction.
  bool due(double* elapsed_seconds);
  [[nodiscard]] double elapsed() const;

 private:
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace sentinel::salvage
