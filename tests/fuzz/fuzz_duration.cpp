// Durations in configuration ("500ms", "60s", "30d"), shared by the agent and the collector: any bytes through
// parse_duration. Never a crash or overflow; a refusal always says why; an accepted duration is not negative and
// its format_duration spelling parses back to it.
#include <chrono>
#include <string>

#include "proto/wire/duration.h"
#include "tests/fuzz/fuzz_support.h"

using sentinel::wire::format_duration;
using sentinel::wire::parse_duration;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 256) return 0;  // a flag or config value, not a document
  std::string error;
  const auto value = parse_duration(sentinel::fuzz::as_text(data, size), &error);
  if (!value) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(value->count() >= 0);
  const std::string spelled = format_duration(*value);
  const auto again = parse_duration(spelled);
  FUZZ_CHECK(again.has_value() && *again == *value);
  return 0;
}
