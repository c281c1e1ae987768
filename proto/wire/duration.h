// Durations in configuration: a non-negative integer followed by a unit, as operators write them in flags and
// config files: "500ms", "2s", "60s", "5m", "1h", "30d". Shared by sentinel-agent and sentinel-collector so both
// accept exactly the same spellings.
//
// Contract: parse_duration never throws; a bad spelling yields std::nullopt and, when `error` is given, one
// sentence saying what was wrong and what is accepted. "0" (and "0s" etc.) is zero; a bare number other than 0
// is refused (a unit is required, so "60" cannot silently mean seconds to one reader and minutes to another).
// Overflow of the nanosecond range is refused. format_duration is the inverse for whole units (for logs).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sentinel::wire {

std::optional<std::chrono::nanoseconds> parse_duration(std::string_view text, std::string* error = nullptr);

// The largest whole unit that represents `duration` exactly: 90s -> "90s", 120s -> "2m", 1500ms -> "1500ms".
std::string format_duration(std::chrono::nanoseconds duration);

}  // namespace sentinel::wire
