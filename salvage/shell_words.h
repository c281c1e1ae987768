// Names that go into the commands of a salvage plan: Longhorn's volume-name rule, and shell quoting for the
// rest (disk paths), so every emitted command is exact and copy-pasteable.
//
// Contract: pure, never throws (except std::bad_alloc).
#pragma once

#include <string>
#include <string_view>

namespace sentinel::salvage {

// "" when `name` can be a Longhorn volume name used in commands, else why not (one sentence naming the first
// offending character, e.g. a trailing '~'). The rule is the intersection of Longhorn's own
// (^[a-z0-9][a-z0-9_.-]+$), a Kubernetes object name (no '_') and a label value (at most 63 characters, which
// `-l longhornvolume=<name>` needs): ^[a-z0-9][a-z0-9.-]*[a-z0-9]$, 2 to 63 characters.
std::string volume_name_problem(std::string_view name);

// `word` as one shell word: unchanged when it holds only [A-Za-z0-9/._+:=,@%-] (and is not empty), otherwise in
// single quotes with any ' written as '\''.
std::string shell_word(std::string_view word);

}  // namespace sentinel::salvage
