// The store on a real SQLite file: migrations from empty, idempotent (node, sequence), the latest replicas of a
// node, history only on change, deep results kept across quick reports while they hold, retention, the lock.
#include "collector/store.h"
#include "sentinel/v1/events.pb.h"

#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include "collector/fleet_view.h"
#include "collector/migrations.h"
#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using testing::make_replica;
using testing::make_report;
using testing::TempDir;

constexpr int64_t kReceived = 1700000100000000000;
constexpr int64_t kHour = 3600ll * 1000000000;

class CollectorStore : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    store_ = Store::open(path(), SyncMode::kNormal, &error);
    ASSERT_NE(store_, nullptr) << error;
  }
  std::string path() const { return dir_.file("sentinel.db"); }

  // The store takes reports as the collector decodes them: views with the replicas as bytes.
  static v1::ReportView view_of(const v1::Report& report) {
    v1::ReportView view;
    EXPECT_TRUE(view.ParseFromString(report.SerializeAsString()));
    return view;
  }

  StoredReport store(const v1::Report& report, int64_t received_ns = kReceived) {
    const v1::ReportView view = view_of(report);
    ReportToStore item{report.inventory().node(), "127.0.0.1:1", received_ns, 1000, &view};
    std::string error;
    auto outcomes = store_->store_reports(std::span(&item, 1), &error);
    EXPECT_TRUE(outcomes.has_value()) << error;
    return outcomes ? outcomes->front() : StoredReport{};
  }

  int64_t count(const std::string& sql) {
    SQLite::Database db(path(), SQLite::OPEN_READONLY);
    return db.execAndGet(sql).getInt64();
  }

  std::vector<ReplicaRow> replicas_of(const std::string& volume, int64_t now_ns = kReceived) {
    std::string error;
    auto view = FleetView::open(path(), 3 * 60 * 1000000000ll, &error);
    EXPECT_NE(view, nullptr) << error;
    auto rows = view->volume(volume, now_ns, true, &error);
    EXPECT_TRUE(rows.has_value()) << error;
    return rows.value_or(std::vector<ReplicaRow>{});
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(CollectorStore, MigratesAnEmptyFileAndReopensWithoutMigrating) {
  EXPECT_EQ(store_->schema_version_found(), 0);
  EXPECT_EQ(count("PRAGMA user_version"), kSchemaVersion);
  // v1: nodes, reports, replicas, replica_history, replica_keys; v2: store_meta, event_outbox (AUTOINCREMENT, so
  // sqlite_sequence too), stale_announced.
  EXPECT_EQ(count("SELECT count(*) FROM sqlite_master WHERE type = 'table'"), 10);
  {
    SQLite::Database db(path(), SQLite::OPEN_READONLY);
    EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  }
  store_.reset();
  std::string error;
  auto again = Store::open(path(), SyncMode::kFull, &error);
  ASSERT_NE(again, nullptr) << error;
  EXPECT_EQ(again->schema_version_found(), kSchemaVersion);
}

TEST_F(CollectorStore, RefusesASchemaNewerThanItself) {
  store_.reset();
  {
    SQLite::Database db(path(), SQLite::OPEN_READWRITE);
    db.exec("PRAGMA user_version = 99");
  }
  std::string error;
  EXPECT_EQ(Store::open(path(), SyncMode::kFull, &error), nullptr);
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
}

TEST_F(CollectorStore, OneStoreOneWriter) {
  std::string error;
  EXPECT_EQ(Store::open(path(), SyncMode::kFull, &error), nullptr);
  EXPECT_NE(error.find("another sentinel-collector"), std::string::npos) << error;
}

TEST_F(CollectorStore, StoresANodeSequenceOnceAndReportsTheDuplicate) {
  const auto report = make_report("worker-1", 1, {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000)});
  EXPECT_FALSE(store(report).duplicate);
  EXPECT_TRUE(store(report).duplicate);
  // The same sequence with other content is still the same report: not applied twice.
  auto changed = report;
  changed.mutable_inventory()->mutable_replicas(0)->set_revision_counter(99);
  EXPECT_TRUE(store(changed).duplicate);
  EXPECT_EQ(count("SELECT count(*) FROM reports"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 1);
  EXPECT_EQ(count("SELECT revision_counter FROM replicas"), 10);
  EXPECT_EQ(store_->highest_sequences().at("worker-1"), 1u);
}

TEST_F(CollectorStore, ABatchIsOneTransactionWithAnOutcomePerReport) {
  const auto r1 = view_of(make_report("worker-1", 1, {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000)}));
  const auto r2 = view_of(make_report("worker-2", 7, {make_replica("/d", "pvc-a", "0000bbbb", 10, 1000)}));
  std::vector<ReportToStore> items = {{"worker-1", "p", kReceived, 10, &r1},
                                      {"worker-2", "p", kReceived, 10, &r2},
                                      {"worker-1", "p", kReceived, 10, &r1}};
  std::string error;
  const auto outcomes = store_->store_reports(items, &error);
  ASSERT_TRUE(outcomes.has_value()) << error;
  ASSERT_EQ(outcomes->size(), 3u);
  EXPECT_FALSE((*outcomes)[0].duplicate);
  EXPECT_FALSE((*outcomes)[1].duplicate);
  EXPECT_TRUE((*outcomes)[2].duplicate);
  EXPECT_EQ(replicas_of("pvc-a").size(), 2u);
}

TEST_F(CollectorStore, AReportWithAnUnparsableReplicaIsNotStoredButTheBatchIs) {
  const auto good = view_of(make_report("worker-1", 1, {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000)}));
  auto bad = view_of(make_report("worker-2", 1, {make_replica("/d", "pvc-a", "0000bbbb", 10, 1000)}));
  bad.mutable_inventory()->mutable_replicas(0)->append("\xff\xff", 2);  // a field that runs past the end
  auto garbled = view_of(make_report("worker-3", 1, {make_replica("/d", "pvc-a", "0000cccc", 10, 1000)}));
  // Well-formed protobuf framing, but field 3 (volume, a string) holds invalid UTF-8: Replica does not parse.
  garbled.mutable_inventory()->mutable_replicas(0)->append("\x1a\x02\xc3\x28", 4);
  std::vector<ReportToStore> items = {{"worker-2", "p", kReceived, 10, &bad},
                                      {"worker-1", "p", kReceived, 10, &good},
                                      {"worker-3", "p", kReceived, 10, &garbled}};
  std::string error;
  const auto outcomes = store_->store_reports(items, &error);
  ASSERT_TRUE(outcomes.has_value()) << error;
  EXPECT_TRUE((*outcomes)[0].malformed);
  EXPECT_FALSE((*outcomes)[0].problem.empty());
  EXPECT_FALSE((*outcomes)[1].malformed);
  EXPECT_TRUE((*outcomes)[2].malformed) << (*outcomes)[2].problem;
  EXPECT_EQ(count("SELECT count(*) FROM reports"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM nodes"), 1);
  EXPECT_EQ(store_->highest_sequences().count("worker-2"), 0u);
}

TEST_F(CollectorStore, AnUnchangedReplicaIsNotRewritten) {
  const auto replica = make_replica("/d", "pvc-a", "0000aaaa", 10, 1000);
  store(make_report("worker-1", 1, {replica, make_replica("/d", "pvc-b", "0000bbbb", 1, 1)}), kReceived);
  store(make_report("worker-1", 2, {replica, make_replica("/d", "pvc-b", "0000bbbb", 2, 2)}), kReceived + kHour);
  EXPECT_EQ(count("SELECT changed_ns FROM replicas WHERE volume = 'pvc-a'"), kReceived);
  EXPECT_EQ(count("SELECT changed_ns FROM replicas WHERE volume = 'pvc-b'"), kReceived + kHour);
  EXPECT_EQ(replicas_of("pvc-a").at(0).last_seen_ns, kReceived + kHour);  // seen in report 2 all the same
}

TEST_F(CollectorStore, ANewerReportReplacesTheNodesReplicas) {
  store(make_report("worker-1", 1,
                    {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000), make_replica("/d", "pvc-b", "0000bbbb", 5, 1000)}));
  store(make_report("worker-2", 1, {make_replica("/d", "pvc-b", "0000cccc", 5, 1000)}));
  store(make_report("worker-1", 2, {make_replica("/d", "pvc-a", "0000aaaa", 11, 2000)}));
  const auto b = replicas_of("pvc-b");
  ASSERT_EQ(b.size(), 1u);  // worker-1's pvc-b replica left with report 2; worker-2's stays
  EXPECT_EQ(b[0].node, "worker-2");
  const auto a = replicas_of("pvc-a");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].revision_counter, 11);
  ASSERT_TRUE(a[0].replica.has_value());
  EXPECT_EQ(a[0].replica->revision_counter(), 11);
  EXPECT_EQ(count("SELECT count(*) FROM replica_history WHERE dir = 'pvc-b-0000bbbb' AND gone = 1"), 1);
}

TEST_F(CollectorStore, AVolumeLimitedReportReplacesOnlyThatVolume) {
  store(make_report("worker-1", 1,
                    {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000), make_replica("/d", "pvc-b", "0000bbbb", 5, 1000)}));
  auto deep = make_report("worker-1", 2, {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000)}, v1::DEEP);
  deep.set_volume("pvc-a");
  store(deep);
  EXPECT_EQ(replicas_of("pvc-b").size(), 1u);
}

TEST_F(CollectorStore, HistoryGetsARowOnlyWhenTheFactsChange) {
  const auto replica = make_replica("/d", "pvc-a", "0000aaaa", 10, 1000);
  for (uint64_t sequence = 1; sequence <= 3; ++sequence) store(make_report("worker-1", sequence, {replica}));
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 1);
  auto written = make_replica("/d", "pvc-a", "0000aaaa", 11, 2000);
  store(make_report("worker-1", 4, {written}));
  store(make_report("worker-1", 5, {written}));
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 2);
  // A change outside the history facts (an extent count) updates the latest row, not the history.
  auto extents = written;
  extents.mutable_images(1)->set_extent_count(13);
  store(make_report("worker-1", 6, {extents}));
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 2);
  EXPECT_EQ(count("SELECT changed_ns FROM replicas"), kReceived);
  auto dirty = written;
  auto* finding = dirty.add_findings();
  finding->set_code(v1::Finding::DIRTY);
  finding->set_severity(v1::Finding::WARNING);
  store(make_report("worker-1", 7, {dirty}));
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM replica_history WHERE findings = 'DIRTY'"), 1);
}

TEST_F(CollectorStore, AnOlderSequenceArrivingLateDoesNotRollTheViewBack) {
  store(make_report("worker-1", 5, {make_replica("/d", "pvc-a", "0000aaaa", 50, 5000)}));
  const auto late = store(make_report("worker-1", 3, {make_replica("/d", "pvc-a", "0000aaaa", 30, 3000)}));
  EXPECT_FALSE(late.duplicate);
  EXPECT_TRUE(late.superseded);
  EXPECT_EQ(replicas_of("pvc-a").at(0).revision_counter, 50);
  EXPECT_EQ(count("SELECT count(*) FROM reports WHERE superseded = 1"), 1);
  EXPECT_EQ(store_->highest_sequences().at("worker-1"), 5u);
}

TEST_F(CollectorStore, ADeepDigestSurvivesQuickReportsWhileTheChainIsUnchanged) {
  auto deep_replica = make_replica("/d", "pvc-a", "0000aaaa", 10, 1000);
  deep_replica.set_content_digest("0123456789abcdef0123456789abcdef");
  deep_replica.mutable_content()->set_chunk_count(10240);
  deep_replica.mutable_images(1)->set_crc64("00000000deadbeef");
  store(make_report("worker-1", 1, {deep_replica}, v1::DEEP));

  // A quick scan of the unchanged replica: no digest of its own, the deep one still holds.
  store(make_report("worker-1", 2, {make_replica("/d", "pvc-a", "0000aaaa", 10, 1000)}));
  auto rows = replicas_of("pvc-a");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].content_digest, "0123456789abcdef0123456789abcdef");
  EXPECT_TRUE(rows[0].deep_current);
  EXPECT_EQ(rows[0].replica->content_digest(), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(rows[0].replica->content().chunk_count(), 10240u);
  EXPECT_EQ(rows[0].replica->images(1).crc64(), "00000000deadbeef");
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 1);  // nothing changed

  // The head was written: the digest no longer holds (kept as the last deep scan's), the unchanged snapshot's
  // crc64 still does.
  store(make_report("worker-1", 3, {make_replica("/d", "pvc-a", "0000aaaa", 11, 2000)}));
  rows = replicas_of("pvc-a");
  EXPECT_EQ(rows[0].content_digest, "");
  EXPECT_FALSE(rows[0].deep_current);
  EXPECT_EQ(rows[0].deep_digest, "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(rows[0].replica->images(1).crc64(), "00000000deadbeef");
  EXPECT_EQ(count("SELECT count(*) FROM replica_history WHERE content_digest = ''"), 1);
}

TEST_F(CollectorStore, PrunesHistoryAndReportsOlderThanTheCutoff) {
  for (uint64_t sequence = 1; sequence <= 10; ++sequence) {
    auto report = make_report("worker-1", sequence, {make_replica("/d", "pvc-a", "0000aaaa", int64_t(sequence), 1)});
    report.mutable_inventory()->set_scanned_at_ns(kReceived + int64_t(sequence) * kHour);
    store(report, kReceived + int64_t(sequence) * kHour);
  }
  ASSERT_EQ(count("SELECT count(*) FROM replica_history"), 10);
  std::string error;
  const int64_t cutoff = kReceived + 6 * kHour;  // rows 1..5 are older
  auto first = store_->prune(cutoff, 3, &error);
  ASSERT_TRUE(first.has_value()) << error;
  EXPECT_EQ(first->history_rows, 3u);
  EXPECT_TRUE(first->more);
  auto second = store_->prune(cutoff, 3, &error);
  ASSERT_TRUE(second.has_value()) << error;
  EXPECT_EQ(second->history_rows, 2u);
  EXPECT_FALSE(second->more);
  EXPECT_EQ(count("SELECT count(*) FROM replica_history"), 5);
  EXPECT_EQ(count("SELECT count(*) FROM reports"), 5);
  EXPECT_EQ(replicas_of("pvc-a").size(), 1u);  // the latest view is never pruned
}

TEST_F(CollectorStore, StaleNodesKeepTheirReplicas) {
  store(make_report("worker-1", 1, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)}));
  std::string error;
  auto view = FleetView::open(path(), kHour, &error);
  ASSERT_NE(view, nullptr) << error;
  auto fresh = view->nodes(kReceived + kHour / 2, &error);
  ASSERT_TRUE(fresh.has_value()) << error;
  EXPECT_FALSE(fresh->at(0).stale);
  auto later = view->nodes(kReceived + 2 * kHour, &error);
  EXPECT_TRUE(later->at(0).stale);
  auto rows = view->volume("pvc-a", kReceived + 2 * kHour, false, &error);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_TRUE(rows->at(0).node_stale);
  auto stats = view->stats(kReceived + 2 * kHour, &error);
  EXPECT_EQ(stats->nodes_stale, 1u);
  EXPECT_EQ(stats->replicas, 1u);
}

TEST_F(CollectorStore, EventsGoToTheOutboxOnlyWhenRecording) {
  // Off (no --amqp-url): history rows, no events.
  store(make_report("n1", 1, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)}));
  store(make_report("n1", 2, {make_replica("/d", "pvc-a", "0000aaaa", 2, 2)}));
  EXPECT_EQ(count("SELECT count(*) FROM event_outbox"), 0);
  EXPECT_EQ(store_->events_in_last_commit(), 0u);
  EXPECT_EQ(count("SELECT length(value) FROM store_meta WHERE key = 'store_id'"), 16);

  store_->set_record_events(true);
  store(make_report("n1", 3, {make_replica("/d", "pvc-a", "0000aaaa", 3, 3),
                              make_replica("/d", "pvc-b", "0000bbbb", 9, 9)}));
  EXPECT_EQ(store_->events_in_last_commit(), 2u);
  store(make_report("n1", 4, {make_replica("/d", "pvc-a", "0000aaaa", 3, 3)}));  // pvc-b disappears
  EXPECT_EQ(store_->events_in_last_commit(), 1u);
  store(make_report("n1", 5, {make_replica("/d", "pvc-a", "0000aaaa", 3, 3)}));  // unchanged: no event
  EXPECT_EQ(store_->events_in_last_commit(), 0u);

  SQLite::Database db(path(), SQLite::OPEN_READONLY);
  SQLite::Statement rows(db, "SELECT routing_key, payload FROM event_outbox ORDER BY id");
  std::vector<std::pair<std::string, v1::Event>> events;
  while (rows.executeStep()) {
    v1::Event event;
    const auto blob = rows.getColumn(1);
    ASSERT_TRUE(event.ParseFromArray(blob.getBlob(), blob.getBytes()));
    events.emplace_back(rows.getColumn(0).getString(), event);
  }
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].first, "replica.changed.pvc-a");
  EXPECT_EQ(events[0].second.replica_changed().previous().revision_counter(), 2);  // read before the update
  EXPECT_EQ(events[0].second.replica_changed().current().revision_counter(), 3);
  EXPECT_EQ(events[0].second.replica_changed().report_sequence(), 3u);
  EXPECT_EQ(events[1].first, "replica.changed.pvc-b");
  EXPECT_FALSE(events[1].second.replica_changed().has_previous());
  EXPECT_EQ(events[2].first, "replica.missing.pvc-b");
  EXPECT_EQ(events[2].second.replica_missing().last().revision_counter(), 9);
  EXPECT_EQ(events[2].second.node(), "n1");
  EXPECT_TRUE(events[2].second.event_id().empty());  // filled in by the publisher
}

}  // namespace
}  // namespace sentinel::collector
