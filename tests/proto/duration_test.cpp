// parse_duration / format_duration: the spellings the agent and the collector accept in flags and config files.
#include "proto/wire/duration.h"

#include <gtest/gtest.h>

namespace sentinel::wire {
namespace {

using namespace std::chrono_literals;

TEST(Duration, AcceptsEveryUnit) {
  EXPECT_EQ(parse_duration("250ns"), 250ns);
  EXPECT_EQ(parse_duration("7us"), 7us);
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("2s"), 2s);
  EXPECT_EQ(parse_duration("60s"), 60s);
  EXPECT_EQ(parse_duration("5m"), 5min);
  EXPECT_EQ(parse_duration("1h"), 1h);
  EXPECT_EQ(parse_duration("30d"), std::chrono::hours(24 * 30));
  EXPECT_EQ(parse_duration("0"), 0ns);
  EXPECT_EQ(parse_duration("0s"), 0ns);
}

TEST(Duration, RefusesWithAReason) {
  for (const char* bad : {"", "s", "60", "-5s", "5 s", " 5s", "5s ", "1.5h", "5x", "5sec", "5S", "h1",
                          "9999999999999999999s", "300000d"}) {
    std::string error;
    EXPECT_EQ(parse_duration(bad, &error), std::nullopt) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string error;
  (void)parse_duration("60", &error);
  EXPECT_NE(error.find("no unit"), std::string::npos) << error;
}

TEST(Duration, FormatsWithTheLargestExactUnit) {
  EXPECT_EQ(format_duration(0s), "0s");
  EXPECT_EQ(format_duration(90s), "90s");
  EXPECT_EQ(format_duration(120s), "2m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(std::chrono::hours(48)), "2d");
  EXPECT_EQ(parse_duration(format_duration(3723s)), 3723s);
}

}  // namespace
}  // namespace sentinel::wire
