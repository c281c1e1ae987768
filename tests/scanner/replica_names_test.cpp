#include "scanner/replica_names.h"

#include <gtest/gtest.h>

namespace sentinel::scanner {
namespace {

TEST(ReplicaDirName, VolumeIsEverythingBeforeTheLastDash) {
  EXPECT_EQ(volume_from_replica_dir("pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d-59dc1016"),
            "pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d");
  EXPECT_EQ(volume_from_replica_dir("data-AbCd1234"), "data");
}

TEST(ReplicaDirName, RejectsWhatLonghornsOrphanScanRejects) {
  EXPECT_FALSE(volume_from_replica_dir("pvc-1-abcdefg"));      // 7
  EXPECT_FALSE(volume_from_replica_dir("pvc-1-abcdefghi"));    // 9
  EXPECT_FALSE(volume_from_replica_dir("pvc-1-abcd_fgh"));     // not alnum
  EXPECT_FALSE(volume_from_replica_dir("-abcdefgh"));          // no volume
  EXPECT_FALSE(volume_from_replica_dir("abcdefgh"));           // no dash
  EXPECT_FALSE(volume_from_replica_dir("pvc-1-abcdefgh~"));    // the incident's trailing-tilde typo
}

TEST(ReplicaFiles, Classifies) {
  EXPECT_EQ(classify_replica_file("volume.meta"), ReplicaFileKind::kVolumeMeta);
  EXPECT_EQ(classify_replica_file("revision.counter"), ReplicaFileKind::kRevisionCounter);
  EXPECT_EQ(classify_replica_file("volume-head-002.img"), ReplicaFileKind::kImage);
  EXPECT_EQ(classify_replica_file("volume-head-002.img.meta"), ReplicaFileKind::kImageMeta);
  EXPECT_EQ(classify_replica_file("volume-snap-x.img.checksum"), ReplicaFileKind::kImageChecksum);
  EXPECT_EQ(classify_replica_file("volume-snap-x.img.checksum..tmp"), ReplicaFileKind::kTempLeftover);
  EXPECT_EQ(classify_replica_file("volume.meta.tmp"), ReplicaFileKind::kTempLeftover);
  EXPECT_EQ(classify_replica_file("volume-snap-x.img.snap_tmp"), ReplicaFileKind::kSnapTmp);
  EXPECT_EQ(classify_replica_file("notes.txt"), ReplicaFileKind::kOther);
  EXPECT_TRUE(is_expansion_snapshot("volume-snap-expand-21474836480.img"));
  EXPECT_TRUE(is_snapshot_image("volume-snap-expand-21474836480.img"));
  EXPECT_TRUE(is_delta_image("volume-delta-backup1.img"));
  EXPECT_TRUE(is_head_image("volume-head-000.img"));
}

TEST(EscapeName, ControlCharsAndInvalidUtf8BecomeEscapes) {
  EXPECT_FALSE(name_needs_escaping("pvc-ümlaut-abcdefgh"));
  EXPECT_EQ(escape_name("pvc-ümlaut"), "pvc-ümlaut");
  EXPECT_EQ(escape_name("a\nb"), "a\\nb");
  EXPECT_EQ(escape_name("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_name(std::string("x\xff\xc0\x80y")), "x\\xff\\xc0\\x80y");  // invalid and overlong
  EXPECT_EQ(escape_name(std::string("\x01")), "\\x01");
  EXPECT_TRUE(name_needs_escaping(std::string("\xed\xa0\x80")));  // a UTF-16 surrogate
}

}  // namespace
}  // namespace sentinel::scanner
