#include "proto/wire/duration.h"

#include <array>
#include <cstdint>
#include <limits>

namespace sentinel::wire {

namespace {

struct Unit {
  std::string_view suffix;
  int64_t nanoseconds;
};

// Longest suffixes first where one is a suffix of another ("ms" before "s").
constexpr std::array<Unit, 7> kUnits{{
    {"ns", 1},
    {"us", 1'000},
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
    {"d", 86'400'000'000'000},
}};

constexpr std::string_view kAccepted = "a whole number with a unit: ns, us, ms, s, m, h or d (e.g. 2s, 60s, 5m, 1h, 30d)";

std::optional<std::chrono::nanoseconds> fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* error) {
  const std::string quoted = "'" + std::string(text) + "'";
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return fail(error, "invalid duration " + quoted + ": expected " + std::string(kAccepted));
  if (digits > 18) return fail(error, "duration " + quoted + " is too large");
  int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) value = value * 10 + (text[i] - '0');
  const std::string_view suffix = text.substr(digits);
  if (suffix.empty()) {
    if (value == 0) return std::chrono::nanoseconds(0);
    return fail(error, "duration " + quoted + " has no unit: expected " + std::string(kAccepted));
  }
  for (const Unit& unit : kUnits) {
    if (suffix != unit.suffix) continue;
    if (value > std::numeric_limits<int64_t>::max() / unit.nanoseconds) {
      return fail(error, "duration " + quoted + " is too large");
    }
    return std::chrono::nanoseconds(value * unit.nanoseconds);
  }
  return fail(error, "invalid duration " + quoted + ": unknown unit '" + std::string(suffix) + "', expected " +
                         std::string(kAccepted));
}

std::string format_duration(std::chrono::nanoseconds duration) {
  const int64_t ns = duration.count();
  if (ns == 0) return "0s";
  for (auto it = kUnits.rbegin(); it != kUnits.rend(); ++it) {
    if (ns % it->nanoseconds == 0) return std::to_string(ns / it->nanoseconds) + std::string(it->suffix);
  }
  return std::to_string(ns) + "ns";
}

}  // namespace sentinel::wire
