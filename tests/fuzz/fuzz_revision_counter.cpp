// revision.counter (ASCII decimal, NUL-padded to 4096 bytes): any bytes up to the 4096 the scanner reads,
// through parse_revision_counter, checked against a transcription of what Longhorn does with the same bytes
// (Go: strings.Trim(s, "\x00") then strconv.ParseInt(s, 10, 64)): the same bytes are accepted, with the same value,
// or refused with a reason.
#include <cstdint>
#include <optional>
#include <string_view>

#include "scanner/longhorn_metadata.h"
#include "tests/fuzz/fuzz_support.h"

using namespace sentinel::scanner;

namespace {

std::optional<int64_t> go_parse(std::string_view s) {
  while (!s.empty() && s.front() == '\0') s.remove_prefix(1);
  while (!s.empty() && s.back() == '\0') s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  bool negative = false;
  if (s.front() == '+' || s.front() == '-') {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;  // ParseUint("") is an error
  uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;  // ParseUint range error
    value = value * 10 + digit;
  }
  constexpr uint64_t kCutoff = uint64_t{1} << 63;
  if (!negative && value >= kCutoff) return std::nullopt;
  if (negative && value > kCutoff) return std::nullopt;
  return negative ? static_cast<int64_t>(0 - value) : static_cast<int64_t>(value);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kRevisionCounterFileBytes) return 0;  // the scanner reads the first 4096 bytes only
  const std::string_view bytes = sentinel::fuzz::as_text(data, size);
  const auto result = parse_revision_counter(bytes);
  const auto longhorn = go_parse(bytes);
  if (const auto* why = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(!why->empty());
    FUZZ_CHECK(!longhorn.has_value());  // Longhorn reads a counter from these bytes: so must Sentinel
    return 0;
  }
  FUZZ_CHECK(longhorn.has_value());  // Longhorn refuses these bytes: so must Sentinel
  FUZZ_CHECK(std::get<int64_t>(result) == *longhorn);
  return 0;
}
