// Quantities written for a person: plan texts, export and deep-scan progress lines. Pure, header-only.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace sentinel::salvage {

// A length of time in ns, as plan texts give durations between head mtimes: "7.43 s", "120 ms", "0 s", "3600 s".
inline std::string magnitude_text(uint64_t magnitude) {
  char buf[48];
  if (magnitude == 0) {
    return "0 s";
  } else if (magnitude < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%llu ns", static_cast<unsigned long long>(magnitude));
  } else if (magnitude < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.0f ms", static_cast<double>(magnitude) / 1e6);
  } else if (magnitude < 100'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f s", static_cast<double>(magnitude) / 1e9);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f s", static_cast<double>(magnitude) / 1e9);
  }
  return buf;
}

// |a - b| for two instants in ns, exact for any int64s (head mtimes come from inventories: a subtraction of two
// of them can overflow, found by tests/fuzz/fuzz_planner).
inline uint64_t distance_ns(int64_t a, int64_t b) {
  return a > b ? static_cast<uint64_t>(a) - static_cast<uint64_t>(b)
               : static_cast<uint64_t>(b) - static_cast<uint64_t>(a);
}

// The time between two instants: "7.43 s".
inline std::string gap_text(int64_t a, int64_t b) { return magnitude_text(distance_ns(a, b)); }

// A time left, as progress lines give an ETA: "0:00:07", "2:46:39" (rounded to the second).
inline std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  return buf;
}

// Sizes in binary units as Longhorn's UI prints them: "40 GiB", "6.1 MiB", "0 B".
inline std::string bytes_text(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0 || value >= 100.0 || value == static_cast<double>(static_cast<uint64_t>(value))) {
    std::snprintf(buf, sizeof buf, "%.0f %s", value, kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

}  // namespace sentinel::salvage
