// Longhorn versions and their salvage behaviour; see longhorn_version.h for the table.
#include "salvage/longhorn_version.h"

#include <charconv>

namespace sentinel::salvage {
namespace {

// Parses one decimal component (no sign, no leading '+', at most 4 digits) off the front of `text`.
std::optional<int> take_number(std::string_view* text) {
  int value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr == begin || ptr - begin > 4 || value < 0) return std::nullopt;
  text->remove_prefix(static_cast<size_t>(ptr - begin));
  return value;
}

}  // namespace

std::string LonghornVersion::to_string() const {
  return "v" + std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}

std::optional<LonghornVersion> parse_longhorn_version(std::string_view text) {
  if (!text.empty() && (text.front() == 'v' || text.front() == 'V')) text.remove_prefix(1);
  LonghornVersion version;
  int* parts[] = {&version.major, &version.minor, &version.patch};
  for (size_t i = 0; i < 3; ++i) {
    if (text.empty() || text.front() < '0' || text.front() > '9') return std::nullopt;
    auto number = take_number(&text);
    if (!number) return std::nullopt;
    *parts[i] = *number;
    if (i < 2) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
  }
  if (!text.empty()) return std::nullopt;
  return version;
}

SalvageBehaviour salvage_behaviour(const std::optional<LonghornVersion>& version) {
  SalvageBehaviour b;
  if (!version) {
    b.rule = DisabledCounterRule::kAnyCandidate;
    b.description =
        "Longhorn version unknown: any candidate may win (true of v1.4.0-v1.5.5 and v1.6.0-v1.6.2; later versions "
        "pick one of the same candidates)";
    return b;
  }
  const LonghornVersion v = *version;
  const LonghornVersion v140{1, 4, 0}, v153{1, 5, 3}, v155{1, 5, 5}, v160{1, 6, 0}, v162{1, 6, 2};
  if (v < v140) {
    b.before_modelled_range = true;
    b.inferred = true;
  }
  if (v <= v155 || (v >= v160 && v <= v162)) {
    b.rule = DisabledCounterRule::kAnyCandidate;
    b.arbitrary_winner_bug = true;
    b.compares_mtime_as_size = v <= v153;
    if (b.compares_mtime_as_size) {
      b.description = v.to_string() +
                      " compares the head mtime where it means the head size (issue 7714) and never updates the "
                      "largest size (issue 8659): any candidate may win, at random";
    } else {
      b.description =
          v.to_string() + " never updates the largest head size (issue 8659): any candidate may win, at random";
    }
    if (b.before_modelled_range) {
      b.description += " (versions before v1.4.0 are not modelled; assumed to behave like v1.4.0)";
    }
    return b;
  }
  b.rule = DisabledCounterRule::kLargestHeadSize;
  b.inferred = v < v160;  // the 1.5.x fix of issue 8659 is inferred from "up to v1.5.5"
  b.description = v.to_string() +
                  " keeps the candidate with the largest head allocated size, ties to the newer head mtime, then the "
                  "first in the engine's replica list";
  if (b.inferred) b.description += " (inferred: the fix of issue 8659 is assumed in v1.5.6 and later 1.5 releases)";
  return b;
}

}  // namespace sentinel::salvage
