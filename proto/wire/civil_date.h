// Proleptic Gregorian dates <-> days since 1970-01-01, without the C library's time zone machinery (Howard
// Hinnant's days_from_civil / civil_from_days, exact for every int64 day count that fits). Header-only: used by
// the wire form's timestamps (proto/wire/wire_form.cpp) and the scanner's parsing of Longhorn's Go time strings
// (scanner/deep_scan.cpp).
#pragma once

#include <cstdint>

namespace sentinel::wire {

constexpr int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

static_assert(days_from_civil(1970, 1, 1) == 0);
static_assert(days_from_civil(2000, 3, 1) == 11017);

}  // namespace sentinel::wire
