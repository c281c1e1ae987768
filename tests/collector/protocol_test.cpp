// The agent protocol against the real sentinel-collector on loopback: handshake, ack only after commit,
// duplicates acked again and stored once, pipelining, the node check, and a clean SIGTERM.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>

#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using testing::make_replica;
using testing::make_report;
using testing::TestAgent;

class CollectorProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    collector_ = testing::CollectorProcess::start(dir_.path(), {}, &error);
    ASSERT_NE(collector_, nullptr) << error;
  }

  // Connects and says Hello as `node`; returns the HelloAck.
  v1::HelloAck connect(TestAgent& agent, const std::string& node) {
    std::string error;
    EXPECT_TRUE(agent.connect(collector_->listen(), &error)) << error;
    v1::Envelope reply;
    EXPECT_TRUE(agent.hello(node, &reply)) << agent.last_error();
    EXPECT_TRUE(reply.has_hello_ack()) << reply.DebugString();
    return reply.hello_ack();
  }

  int64_t stored_count(const std::string& node, uint64_t sequence) {
    SQLite::Database db(collector_->db_path(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT count(*) FROM reports WHERE node = ? AND sequence = ?");
    q.bind(1, node);
    q.bind(2, static_cast<int64_t>(sequence));
    q.executeStep();
    return q.getColumn(0).getInt64();
  }

  testing::TempDir dir_;
  std::unique_ptr<testing::CollectorProcess> collector_;
};

TEST_F(CollectorProtocol, HelloAckCarriesTheHighestStoredSequence) {
  TestAgent agent;
  const auto first = connect(agent, "worker-1");
  EXPECT_EQ(first.protocol_version(), 1u);
  EXPECT_FALSE(first.collector_version().empty());
  EXPECT_EQ(first.highest_sequence(), 0u);
  for (uint64_t sequence : {1, 2, 5}) {
    const auto reply = agent.report(make_report("worker-1", sequence, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)}));
    ASSERT_TRUE(reply.has_ack()) << reply.DebugString();
  }
  agent.close();
  TestAgent again;
  EXPECT_EQ(connect(again, "worker-1").highest_sequence(), 5u);
  TestAgent other;
  EXPECT_EQ(connect(other, "worker-2").highest_sequence(), 0u);
}

TEST_F(CollectorProtocol, AnAckMeansTheReportIsCommitted) {
  TestAgent agent;
  connect(agent, "worker-1");
  for (uint64_t sequence = 1; sequence <= 20; ++sequence) {
    const auto reply = agent.report(
        make_report("worker-1", sequence, {make_replica("/d", "pvc-a", "0000aaaa", int64_t(sequence), 1)}));
    ASSERT_TRUE(reply.has_ack()) << reply.DebugString();
    EXPECT_EQ(reply.ack().sequence(), sequence);
    EXPECT_FALSE(reply.ack().duplicate());
    // Read by another connection right after the ack: already there.
    EXPECT_EQ(stored_count("worker-1", sequence), 1) << sequence;
  }
}

TEST_F(CollectorProtocol, ADuplicateIsAckedAgainAndStoredOnce) {
  const auto report = make_report("worker-1", 7, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)});
  TestAgent agent;
  connect(agent, "worker-1");
  EXPECT_FALSE(agent.report(report).ack().duplicate());
  const auto again = agent.report(report);
  ASSERT_TRUE(again.has_ack());
  EXPECT_EQ(again.ack().sequence(), 7u);
  EXPECT_TRUE(again.ack().duplicate());
  agent.close();
  // After a reconnect (the agent crashed between send and ack): still a duplicate.
  TestAgent restarted;
  connect(restarted, "worker-1");
  EXPECT_TRUE(restarted.report(report).ack().duplicate());
  EXPECT_EQ(stored_count("worker-1", 7), 1);
  SQLite::Database db(collector_->db_path(), SQLite::OPEN_READONLY);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM replica_history").getInt64(), 1);
}

TEST_F(CollectorProtocol, PipelinedReportsAreAckedInOrder) {
  TestAgent agent;
  connect(agent, "worker-1");
  std::string frames;
  for (uint64_t sequence = 1; sequence <= 100; ++sequence) {
    frames += wire::encode_frame(testing::as_envelope(
        make_report("worker-1", sequence, {make_replica("/d", "pvc-a", "0000aaaa", int64_t(sequence), 1)})));
  }
  frames += wire::encode_frame(testing::as_envelope(
      make_report("worker-1", 50, {make_replica("/d", "pvc-a", "0000aaaa", 50, 1)})));  // a duplicate, pipelined
  ASSERT_TRUE(agent.send_bytes(frames)) << agent.last_error();
  for (uint64_t sequence = 1; sequence <= 100; ++sequence) {
    v1::Envelope reply;
    ASSERT_EQ(agent.receive(&reply), wire::ReceiveStatus::kFrame) << agent.last_error();
    ASSERT_TRUE(reply.has_ack()) << reply.DebugString();
    EXPECT_EQ(reply.ack().sequence(), sequence);
    EXPECT_FALSE(reply.ack().duplicate());
  }
  v1::Envelope duplicate;
  ASSERT_EQ(agent.receive(&duplicate), wire::ReceiveStatus::kFrame);
  EXPECT_EQ(duplicate.ack().sequence(), 50u);
  EXPECT_TRUE(duplicate.ack().duplicate());
}

TEST_F(CollectorProtocol, AReportOfAnotherNodeIsRefused) {
  TestAgent agent;
  connect(agent, "worker-1");
  const auto reply = agent.report(make_report("worker-2", 1, {}));
  ASSERT_TRUE(reply.has_error()) << reply.DebugString();
  EXPECT_EQ(reply.error().code(), v1::Error::BAD_REQUEST);
  EXPECT_NE(reply.error().message().find("worker-2"), std::string::npos);
  v1::Envelope after;
  EXPECT_EQ(agent.receive(&after), wire::ReceiveStatus::kClosed);
  EXPECT_EQ(stored_count("worker-2", 1), 0);
  EXPECT_TRUE(collector_->wait_for_log("refused agent connection", std::chrono::seconds(5)));

  TestAgent zero;
  connect(zero, "worker-1");
  const auto refused = zero.report(make_report("worker-1", 0, {}));
  EXPECT_EQ(refused.error().code(), v1::Error::BAD_REQUEST);
}

TEST_F(CollectorProtocol, AReportWithAnUnparsableReplicaIsRefusedAndNotStored) {
  TestAgent agent;
  connect(agent, "worker-1");
  // A well-framed Envelope whose one replica is not a sentinel.v1.Replica (a field running past its end): the
  // collector only finds out when it parses that replica, in the store.
  v1::EnvelopeView envelope;
  envelope.mutable_report()->set_sequence(1);
  envelope.mutable_report()->mutable_inventory()->set_node("worker-1");
  envelope.mutable_report()->mutable_inventory()->add_replicas("\x0a\x40/var/lib/longhorn");
  const std::string body = envelope.SerializeAsString();
  ASSERT_LT(body.size(), 128u);
  const std::string frame = std::string(1, static_cast<char>(body.size())) + body;  // a one-byte varint length
  ASSERT_TRUE(agent.send_bytes(frame));
  v1::Envelope reply;
  ASSERT_EQ(agent.receive(&reply), wire::ReceiveStatus::kFrame) << agent.last_error();
  EXPECT_EQ(reply.error().code(), v1::Error::MALFORMED) << reply.DebugString();
  EXPECT_EQ(stored_count("worker-1", 1), 0);
  // The node's next connection is not affected.
  TestAgent again;
  EXPECT_EQ(connect(again, "worker-1").highest_sequence(), 0u);
  EXPECT_TRUE(again.report(make_report("worker-1", 1, {make_replica("/d", "pvc-a", "0000aaaa", 1, 1)})).has_ack());
}

TEST_F(CollectorProtocol, SigtermAnswersWhatWasReceivedAndExitsZero) {
  TestAgent agent;
  connect(agent, "worker-1");
  ASSERT_TRUE(agent.report(make_report("worker-1", 1, {})).has_ack());
  const int code = collector_->terminate(std::chrono::seconds(20));
  EXPECT_EQ(code, 0) << collector_->log();
  v1::Envelope goodbye;
  const auto status = agent.receive(&goodbye, std::chrono::seconds(5));
  // The open connection was told why it closes.
  ASSERT_EQ(status, wire::ReceiveStatus::kFrame) << agent.last_error();
  EXPECT_EQ(goodbye.error().code(), v1::Error::UNAVAILABLE);
  EXPECT_NE(collector_->log().find("stopped: 1 reports stored"), std::string::npos) << collector_->log();
}

}  // namespace
}  // namespace sentinel::collector
