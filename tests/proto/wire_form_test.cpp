// The replica's wire form (proto/wire/wire_form.h): exact round trips on real scans (Longhorn's fixtures, quick
// and deep; the incident sample) and on hand-made odd replicas, what each rule encodes, and that it pays.
#include "proto/wire/wire_form.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <random>

#include "scanner/deep_scan.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tests/scanner/fixture_support.h"
#include "tools/treegen/incident_sample.h"

namespace sentinel::wire {
namespace {

using google::protobuf::util::MessageDifferencer;

// Compacts a copy, checks that the rules themselves restore it exactly (compact_for_wire's last-resort check
// would otherwise hide a wrong rule by sending the replica unchanged) and that it expands back, returns the copy.
v1::Replica round_trip(const v1::Replica& original) {
  v1::Replica compact = original;
  EXPECT_TRUE(compact_for_wire(&compact)) << "a rule did not restore exactly: " << original.ShortDebugString();
  v1::Replica restored = compact;
  expand_from_wire(&restored);
  std::string difference;
  MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(original, restored)) << original.dir() << ": " << difference;
  return compact;
}

void expect_round_trips_and_shrinks(const v1::Inventory& inventory, const std::string& what) {
  ASSERT_GT(inventory.replicas_size(), 0) << what;
  size_t full = 0, compact = 0;
  for (const auto& replica : inventory.replicas()) {
    const v1::Replica small = round_trip(replica);
    full += replica.ByteSizeLong();
    compact += small.ByteSizeLong();
  }
  EXPECT_LT(compact, full) << what;
  std::cout << "[ wire form ] " << what << ": " << full << " B -> " << compact << " B ("
            << 100 * compact / full << "%)\n";
}

TEST(WireForm, RoundTripsEveryFixtureCaseQuickAndDeep) {
  scanner::PosixFileSystem fs;
  for (const auto& name : testing::fixture_cases()) {
    testing::TempDir dir;
    const std::string disk = testing::extract_case_as_disk(name, dir.path());
    v1::Inventory inventory = scanner::scan_disks(fs, {disk}, "node-1", {});
    expect_round_trips_and_shrinks(inventory, name + " quick");
    scanner::DeepScanOptions options;
    options.keep_chunks = true;
    scanner::deep_scan_inventory(fs, &inventory, options);
    expect_round_trips_and_shrinks(inventory, name + " deep");
  }
}

TEST(WireForm, RoundTripsTheIncidentSampleAndLeavesOutTheRepeats) {
  testing::TempDir dir;
  ASSERT_TRUE(treegen::write_incident_sample(dir.path()));
  scanner::PosixFileSystem fs;
  v1::Inventory inventory =
      scanner::scan_disks(fs, {dir.path() + "/worker-1", dir.path() + "/worker-2"}, "worker-1", {});
  scanner::DeepScanOptions options;
  options.keep_chunks = true;
  scanner::deep_scan_inventory(fs, &inventory, options);
  expect_round_trips_and_shrinks(inventory, "incident sample deep");

  for (const auto& replica : inventory.replicas()) {
    const v1::Replica compact = round_trip(replica);
    ASSERT_TRUE(compact.has_wire_form()) << replica.dir();
    const uint32_t elided = compact.wire_form().elided();
    EXPECT_TRUE(elided & v1::WireForm::VOLUME);
    EXPECT_TRUE(elided & v1::WireForm::HEAD);
    EXPECT_TRUE(elided & v1::WireForm::CHAIN);
    EXPECT_TRUE(elided & v1::WireForm::IMAGE_PARENTS);
    EXPECT_EQ(compact.chain_size(), 0);
    EXPECT_EQ(compact.wire_form().chain_index_size(), replica.chain_size());
    EXPECT_TRUE(compact.volume().empty());
    if (!replica.content_digest().empty()) {
      EXPECT_TRUE(elided & v1::WireForm::CONTENT_DIGEST);
      EXPECT_EQ(compact.wire_form().content_digest_raw().size(), 16u);
    }
    for (const auto& image : compact.images()) {
      EXPECT_TRUE(image.created().empty()) << image.name_stem() << " created stays text: " << image.created();
      EXPECT_TRUE(image.name().empty()) << image.name();
      if (image.in_chain()) {
        EXPECT_TRUE(image.parent().empty()) << image.name_stem();
      }
    }
    for (const auto& finding : compact.findings()) {
      if (finding.has_path_in_replica()) {
        EXPECT_TRUE(finding.path().empty());
      }
    }
  }
}

v1::Replica odd_replica() {
  v1::Replica r;
  r.set_disk("/var/lib/longhorn");
  r.set_dir("pvc-1-abcdef12");
  r.set_volume("pvc-1");
  r.set_head("volume-head-001.img");
  r.set_parent("volume-snap-a.img");
  r.add_chain("volume-head-001.img");
  r.add_chain("volume-snap-a.img");
  auto* head = r.add_images();
  head->set_name("volume-head-001.img");
  head->set_parent("volume-snap-a.img");
  head->set_created("2024-03-05T14:13:00Z");
  auto* snap = r.add_images();
  snap->set_name("volume-snap-a.img");
  snap->set_created("2024-03-05T07:00:00Z");
  snap->set_crc64("8889a8c4ac1d7511");
  auto* record = snap->mutable_checksum_record();
  record->set_checksum("8889a8c4ac1d7511");
  record->set_change_time("2026-11-24 23:02:15.377721684 +0000 UTC");
  record->set_last_hashed_at("2024-03-05T07:01:00Z");
  auto* finding = r.add_findings();
  finding->set_path("replicas/pvc-1-abcdef12/volume-snap-a.img.checksum..tmp");
  return r;
}

TEST(WireForm, EncodesTimestampsDigestsAndPathsAsTheirShortForms) {
  const v1::Replica compact = round_trip(odd_replica());
  EXPECT_EQ(compact.images(0).created_unix_s(), 1709647980);
  EXPECT_EQ(compact.images(1).crc64_value(), 0x8889a8c4ac1d7511ull);
  EXPECT_EQ(compact.images(1).checksum_record().change_time_utc_ns(), 1795561335377721684);
  EXPECT_EQ(compact.images(1).checksum_record().last_hashed_at_unix_s(), 1709622060);
  EXPECT_EQ(compact.findings(0).path_in_replica(), "volume-snap-a.img.checksum..tmp");
  EXPECT_EQ(compact.images(1).name_stem(), "snap-a");
  EXPECT_EQ(compact.images(1).checksum_record().checksum_value(), 0x8889a8c4ac1d7511ull);
  EXPECT_EQ(compact.wire_form().elided(), v1::WireForm::VOLUME | v1::WireForm::HEAD | v1::WireForm::PARENT |
                                              v1::WireForm::CHAIN | v1::WireForm::IMAGE_PARENTS);
}

TEST(WireForm, KeepsAsTextWhatNoRuleRestoresExactly) {
  v1::Replica r = odd_replica();
  r.set_volume("something-else");                                         // not dir's prefix
  r.set_parent("volume-snap-z.img");                                      // not chain[1]
  r.mutable_images(0)->set_parent("volume-snap-b.img");                   // not the next in chain
  r.mutable_images(0)->set_created("2024-03-05T14:13:00.5Z");             // a fraction Longhorn does not write
  r.mutable_images(1)->set_created("2024-02-30T07:00:00Z");               // no such day
  r.mutable_images(1)->set_crc64("8889A8C4AC1D7511");                     // upper case
  r.mutable_images(1)->mutable_checksum_record()->set_change_time(
      "2026-11-24 23:02:15.3777 +0100 CET");                              // not UTC
  r.mutable_findings(0)->set_path("replicas/pvc-1-abcdef12");             // the directory itself
  const v1::Replica compact = round_trip(r);
  EXPECT_EQ(compact.volume(), "something-else");
  EXPECT_EQ(compact.parent(), "volume-snap-z.img");
  EXPECT_EQ(compact.images(0).parent(), "volume-snap-b.img");
  EXPECT_EQ(compact.images(0).created(), "2024-03-05T14:13:00.5Z");
  EXPECT_EQ(compact.images(1).created(), "2024-02-30T07:00:00Z");
  EXPECT_EQ(compact.images(1).crc64(), "8889A8C4AC1D7511");
  EXPECT_FALSE(compact.images(1).has_crc64_value());
  EXPECT_EQ(compact.findings(0).path(), "replicas/pvc-1-abcdef12");
  EXPECT_FALSE(compact.wire_form().elided() & v1::WireForm::IMAGE_PARENTS);

  v1::Replica missing = odd_replica();
  missing.add_chain("volume-snap-gone.img");  // the chain names an image that is not in the directory
  const v1::Replica kept = round_trip(missing);
  EXPECT_EQ(kept.chain_size(), 3);
  EXPECT_FALSE(kept.wire_form().elided() & v1::WireForm::CHAIN);
}

TEST(WireForm, GoTimeFractionsAndWholeSeconds) {
  for (const std::string text : {"2026-11-24 23:02:15 +0000 UTC", "2026-11-24 23:02:15.5 +0000 UTC",
                                 "1999-12-31 23:59:59.000000001 +0000 UTC", "2026-11-24 23:02:15.50 +0000 UTC"}) {
    v1::Replica r = odd_replica();
    r.mutable_images(1)->mutable_checksum_record()->set_change_time(text);
    const v1::Replica compact = round_trip(r);
    // Go never writes trailing zeros in the fraction, so ".50" stays text; the others become numbers.
    EXPECT_EQ(compact.images(1).checksum_record().has_change_time_utc_ns(), text.find(".50") == std::string::npos)
        << text;
  }
}

TEST(WireForm, ExpandingAReplicaThatWasNeverCompactedChangesNothing) {
  const v1::Replica original = odd_replica();
  v1::Replica copy = original;
  expand_from_wire(&copy);
  EXPECT_TRUE(MessageDifferencer::Equals(original, copy));
}

// Random replicas built from a small alphabet of names, so that derived and non-derived values collide often.
TEST(WireForm, RandomReplicasRoundTrip) {
  std::mt19937 random(20261124);
  const std::vector<std::string> names = {"", "a", "volume-head-001.img", "volume-.img", "volume-x.img", "volume-snap-a.img", "volume-snap-b.img",
                                          "pvc-1", "pvc-1-x", "-", "2024-03-05T14:13:00Z", "8889a8c4ac1d7511",
                                          "0123456789abcdef0123456789abcdef", "replicas/pvc-1-x/a"};
  auto pick = [&] { return names[random() % names.size()]; };
  for (int round = 0; round < 5000; ++round) {
    v1::Replica r;
    r.set_dir(pick());
    r.set_volume(pick());
    r.set_head(pick());
    r.set_parent(pick());
    r.set_content_digest(pick());
    const int images = static_cast<int>(random() % 4);
    for (int i = 0; i < images; ++i) {
      auto* image = r.add_images();
      image->set_name(pick());
      image->set_parent(pick());
      image->set_created(pick());
      image->set_crc64(pick());
      if (random() % 2) image->mutable_stored_checksum()->set_computed(pick());
    }
    const int chain = static_cast<int>(random() % 4);
    for (int i = 0; i < chain; ++i) r.add_chain(pick());
    if (random() % 2) r.add_findings()->set_path(pick());
    if (random() % 2) r.mutable_content()->add_chunks()->set_digest(pick());
    round_trip(r);
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace sentinel::wire
