// Longhorn versions, and which salvage behaviour of the engine each one has (LONGHORN-FORMAT.md "How Longhorn
// salvages"; fixtures README "Replica selection at engine start / salvage").
//
// Contract: pure, never throws. Only the revision-counter-DISABLED salvage rule depends on the version; engine
// start checks and the revision-counter-enabled rule are the same in every version modelled.
//
// Behaviour by version (salvage requested, revision counter disabled, candidates = head mtime within 5 s of the
// newest):
//   < v1.4.0          not modelled; assumed the same as v1.4.0 (`before_modelled_range`).
//   v1.4.0 - v1.5.3   any candidate may win: the size compared is the head mtime (issue 7714) and the largest
//                     size is never updated (issue 8659), so the last candidate in Go map order wins.
//   v1.5.4 - v1.5.5   any candidate may win (issue 8659 only).
//   v1.5.6 - v1.5.x   largest head allocated size (the 8659 fix; inferred from "up to v1.5.5").
//   v1.6.0 - v1.6.2   any candidate may win (v1.6.0 fixed 7714 only).
//   v1.6.3 and later  largest head allocated size, ties to the newer head mtime, then the first candidate in the
//                     engine's replica list (the v1.7.0 rule).
#pragma once

#include <compare>
#include <optional>
#include <string>
#include <string_view>

namespace sentinel::salvage {

struct LonghornVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  auto operator<=>(const LonghornVersion&) const = default;
  [[nodiscard]] std::string to_string() const;  // "v1.5.3"
};

// "v1.5.3" or "1.5.3" (three decimal numbers); nullopt for anything else.
std::optional<LonghornVersion> parse_longhorn_version(std::string_view text);

enum class DisabledCounterRule {
  kAnyCandidate,     // the winner among the candidates is arbitrary
  kLargestHeadSize,  // largest head allocated size, ties to newer mtime, then replica-list order
};

struct SalvageBehaviour {
  DisabledCounterRule rule = DisabledCounterRule::kAnyCandidate;
  bool compares_mtime_as_size = false;  // issue 7714 (v1.4.0 - v1.5.3)
  bool arbitrary_winner_bug = false;    // issue 8659
  bool before_modelled_range = false;   // < v1.4.0
  bool inferred = false;                // the version's behaviour is inferred rather than read from the sources
  std::string description;              // one sentence for a person
};

// The behaviour of `version`; nullopt (unknown version) gives kAnyCandidate, which contains every version's
// possible outcome.
SalvageBehaviour salvage_behaviour(const std::optional<LonghornVersion>& version);

}  // namespace sentinel::salvage
