#include "scanner/longhorn_metadata.h"

#include <gtest/gtest.h>

namespace sentinel::scanner {
namespace {

template <typename T>
T value_of(const ParseResult<T>& r) {
  if (auto* why = std::get_if<std::string>(&r)) ADD_FAILURE() << "parse failed: " << *why;
  return std::get<T>(r);
}

template <typename T>
std::string error_of(const ParseResult<T>& r) {
  auto* why = std::get_if<std::string>(&r);
  return why != nullptr ? *why : "<parsed>";
}

TEST(VolumeMeta, ParsesWhatLonghornWrites) {
  auto r = parse_volume_meta(
      R"({"Size":67108864,"Head":"volume-head-003.img","Dirty":true,"Rebuilding":false,"Error":"",)"
      R"("Parent":"volume-snap-6ba3.img","SectorSize":512,"BackingFilePath":""})"
      "\n");
  const auto m = value_of(r);
  EXPECT_EQ(m.size, 67108864);
  EXPECT_EQ(m.head, "volume-head-003.img");
  EXPECT_TRUE(m.dirty);
  EXPECT_FALSE(m.rebuilding);
  EXPECT_EQ(m.parent, "volume-snap-6ba3.img");
  EXPECT_EQ(m.sector_size, 512);
}

TEST(VolumeMeta, KeysMatchCaseInsensitivelyLikeGo) {
  const auto m = value_of(parse_volume_meta(R"({"size":4096,"HEAD":"volume-head-000.img","dirty":true})"));
  EXPECT_EQ(m.size, 4096);
  EXPECT_EQ(m.head, "volume-head-000.img");
  EXPECT_TRUE(m.dirty);
}

TEST(VolumeMeta, NullAndUnknownKeysAreIgnored) {
  const auto m = value_of(parse_volume_meta(R"({"Size":4096,"Error":null,"Extra":[1,2]})"));
  EXPECT_EQ(m.error, "");
}

TEST(VolumeMeta, RejectsBadInputWithAReason) {
  EXPECT_EQ(error_of(parse_volume_meta("")), "empty file");
  EXPECT_EQ(error_of(parse_volume_meta("  \n")), "empty file");
  EXPECT_EQ(error_of(parse_volume_meta(R"({"Size":4096,"Head":"volume-he)")), "not valid JSON");
  EXPECT_EQ(error_of(parse_volume_meta("[1,2,3]")), "JSON is not an object");
  EXPECT_EQ(error_of(parse_volume_meta(R"({"Size":"big"})")), "Size is not an integer");
  EXPECT_EQ(error_of(parse_volume_meta(R"({"Size":1.5})")), "Size is not an integer");
  EXPECT_EQ(error_of(parse_volume_meta(R"({"Dirty":"yes"})")), "Dirty is not true/false");
  EXPECT_EQ(error_of(parse_volume_meta(R"({"Size":18446744073709551615})")), "Size does not fit in int64");
  EXPECT_EQ(error_of(parse_volume_meta(std::string("\xff\xfe garbage"))), "not valid JSON");
}

TEST(ImageMeta, ParsesLabelsAndIgnoresTheStaleName) {
  const auto m = value_of(parse_image_meta(
      R"({"Name":"volume-head-001.img","Parent":"volume-snap-c2.img","Removed":true,"UserCreated":true,)"
      R"("Created":"2026-11-24T15:56:45Z","Labels":{"app":"fixture","tier":"gold"}})"));
  EXPECT_EQ(m.parent, "volume-snap-c2.img");
  EXPECT_TRUE(m.removed);
  EXPECT_TRUE(m.user_created);
  EXPECT_EQ(m.labels.at("tier"), "gold");
  EXPECT_EQ(error_of(parse_image_meta(R"({"Labels":["a"]})")), "Labels is not an object");
  EXPECT_EQ(error_of(parse_image_meta(R"({"Labels":{"a":1}})")), "label a is not a string");
  EXPECT_TRUE(value_of(parse_image_meta(R"({"Labels":null})")).labels.empty());
}

TEST(ChecksumFile, Parses) {
  const auto c = value_of(parse_checksum_file(
      R"({"method":"crc64","checksum":"a2f0173de7c604ee","change_time":"2026-11-24 15:56:45.65809588 +0000 UTC",)"
      R"("last_hashed_at":"2026-11-24T15:56:46Z","silently_corrupted":true})"));
  EXPECT_EQ(c.checksum, "a2f0173de7c604ee");
  EXPECT_TRUE(c.silently_corrupted);
}

TEST(RevisionCounter, StripsNulPaddingAndParses) {
  std::string block(4096, '\0');
  block.replace(0, 2, "14");
  EXPECT_EQ(value_of(parse_revision_counter(block)), 14);
  EXPECT_EQ(value_of(parse_revision_counter("0")), 0);
  EXPECT_EQ(value_of(parse_revision_counter("9223372036854775807")), INT64_MAX);
}

TEST(RevisionCounter, RejectsWhatGoRejects) {
  EXPECT_NE(error_of(parse_revision_counter(std::string(4096, '\0'))), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("")), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("12abc")), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("14\n")), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("99999999999999999999")), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("+")), "<parsed>");
}

// Found by fuzz_revision_counter: Go's ParseInt takes one sign, so "+-33682" is not a counter to Longhorn; it
// was read as -33682. A plain sign of either kind still parses.
TEST(RevisionCounter, RejectsASecondSignAsGoDoes) {
  EXPECT_NE(error_of(parse_revision_counter(std::string("\0+-33682\0", 9))), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("+-1")), "<parsed>");
  EXPECT_NE(error_of(parse_revision_counter("-+1")), "<parsed>");
  EXPECT_EQ(value_of(parse_revision_counter("+1042")), 1042);
  EXPECT_EQ(value_of(parse_revision_counter("-1")), -1);
}

TEST(GoTimeString, MatchesLonghornChangeTime) {
  // From case2-chain: a .img with ctime 1795535805658095880 ns has change_time "... 15:56:45.65809588 +0000 UTC".
  EXPECT_EQ(go_time_string_utc(1795535805658095880), "2026-11-24 15:56:45.65809588 +0000 UTC");
  EXPECT_EQ(go_time_string_utc(1795535805000000000), "2026-11-24 15:56:45 +0000 UTC");
  EXPECT_EQ(go_time_string_utc(1795535805000000001), "2026-11-24 15:56:45.000000001 +0000 UTC");
}

}  // namespace
}  // namespace sentinel::scanner
