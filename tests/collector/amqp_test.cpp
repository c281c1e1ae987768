// sentinel-collector's events on a real RabbitMQ broker (Debian's rabbitmq-server, started and stopped here on
// loopback ports of its own): an agent's report that changes a replica arrives as a decoded sentinel.v1.Event,
// a broker restart in the middle of a burst loses nothing, and `sentinelctl watch` decodes events.
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "collector/amqp_link.h"
#include "sentinel/v1/events.pb.h"
#include "tests/collector/collector_test_support.h"
#include "tests/support/child_process.h"

namespace sentinel::collector::testing {
namespace {

using namespace std::chrono_literals;
using sentinel::testing::ChildProcess;
using sentinel::testing::free_tcp_port;
using sentinel::testing::wait_until;

constexpr const char* kRabbitServer = "/usr/lib/rabbitmq/bin/rabbitmq-server";

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// A private RabbitMQ node: its own ports, mnesia and logs under `dir`; the same node name and mnesia directory
// across restart() so durable queues and persistent messages survive.
class Broker {
 public:
  explicit Broker(std::string dir)
      : dir_(std::move(dir)), port_(free_tcp_port()), dist_port_(free_tcp_port()),
        node_("sentinel-test-" + std::to_string(::getpid()) + "@localhost") {
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ + "/enabled_plugins") << "[].\n";
    std::ofstream(dir_ + "/rabbitmq.conf") << "listeners.tcp.1 = 127.0.0.1:" << port_ << "\nloopback_users = none\n";
  }
  ~Broker() { stop(); }

  bool start() {
    process_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{kRabbitServer},
        std::vector<std::string>{"HOME=" + dir_, "RABBITMQ_NODENAME=" + node_,
                                 "RABBITMQ_NODE_PORT=" + std::to_string(port_),
                                 "RABBITMQ_DIST_PORT=" + std::to_string(dist_port_),
                                 "RABBITMQ_MNESIA_BASE=" + dir_ + "/mnesia", "RABBITMQ_LOG_BASE=" + dir_ + "/log",
                                 "RABBITMQ_ENABLED_PLUGINS_FILE=" + dir_ + "/enabled_plugins",
                                 "RABBITMQ_CONFIG_FILE=" + dir_ + "/rabbitmq", "RABBITMQ_PID_FILE=" + dir_ + "/pid"},
        dir_ + "/server.out");
    return wait_until([&] { return port_open(port_); }, 60s);
  }
  void stop() {
    if (!process_) return;
    process_->signal(SIGTERM);
    if (!process_->wait_for_exit(30s)) process_->signal(SIGKILL), process_->wait_for_exit(5s);
    process_.reset();
    wait_until([&] { return !port_open(port_); }, 10s);
  }
  std::string url() const { return "amqp://guest:guest@127.0.0.1:" + std::to_string(port_); }  // no path: vhost /
  int port() const { return port_; }

 private:
  std::string dir_;
  int port_;
  int dist_port_;
  std::string node_;
  std::unique_ptr<ChildProcess> process_;
};

struct Delivery {
  std::string routing_key;
  std::string content_type;
  std::string type;
  std::string message_id;
  std::string header_message_type;
  bool persistent = false;
  std::string body;
  v1::Event event;
};

// A minimal rabbitmq-c consumer of one durable queue (manual acks).
class Consumer {
 public:
  bool connect(int port, const std::string& queue, const std::vector<std::string>& bindings) {
    std::string error;
    link_ = amqp::Link::open("amqp://guest:guest@127.0.0.1:" + std::to_string(port), std::chrono::seconds(5),
                             std::chrono::seconds(10), &error);
    if (!link_) return false;
    conn_ = link_->connection();
    amqp_exchange_declare(conn_, 1, amqp_cstring_bytes("sentinel"), amqp_cstring_bytes("topic"), 0, 1, 0, 0,
                          amqp_empty_table);
    if (!ok()) return false;
    amqp_queue_declare(conn_, 1, amqp_cstring_bytes(queue.c_str()), 0, /*durable=*/1, 0, 0, amqp_empty_table);
    if (!ok()) return false;
    for (const auto& binding : bindings) {
      amqp_queue_bind(conn_, 1, amqp_cstring_bytes(queue.c_str()), amqp_cstring_bytes("sentinel"),
                      amqp_cstring_bytes(binding.c_str()), amqp_empty_table);
      if (!ok()) return false;
    }
    amqp_basic_consume(conn_, 1, amqp_cstring_bytes(queue.c_str()), amqp_empty_bytes, 0, /*no_ack=*/0, 0,
                       amqp_empty_table);
    return ok();
  }
  // The next message (acked), nullopt after the timeout or when the connection broke (*broken).
  std::optional<Delivery> next(std::chrono::milliseconds timeout, bool* broken = nullptr) {
    amqp_maybe_release_buffers(conn_);
    timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    amqp_envelope_t envelope;
    const amqp_rpc_reply_t reply = amqp_consume_message(conn_, &envelope, &tv, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      if (broken != nullptr) {
        *broken = !(reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT);
      }
      return std::nullopt;
    }
    Delivery d;
    auto text = [](const amqp_bytes_t& b) { return std::string(static_cast<const char*>(b.bytes), b.len); };
    d.routing_key = text(envelope.routing_key);
    const auto& props = envelope.message.properties;
    if (props._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) d.content_type = text(props.content_type);
    if (props._flags & AMQP_BASIC_TYPE_FLAG) d.type = text(props.type);
    if (props._flags & AMQP_BASIC_MESSAGE_ID_FLAG) d.message_id = text(props.message_id);
    d.persistent = (props._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) && props.delivery_mode == 2;
    if (props._flags & AMQP_BASIC_HEADERS_FLAG) {
      for (int i = 0; i < props.headers.num_entries; ++i) {
        const auto& entry = props.headers.entries[i];
        if (text(entry.key) == "message-type" && entry.value.kind == AMQP_FIELD_KIND_UTF8) {
          d.header_message_type = text(entry.value.value.bytes);
        }
      }
    }
    d.body = text(envelope.message.body);
    d.event.ParseFromString(d.body);
    amqp_basic_ack(conn_, 1, envelope.delivery_tag, 0);
    amqp_destroy_envelope(&envelope);
    return d;
  }
  // Payload bytes this connection's socket received so far (TCP_INFO).
  uint64_t bytes_received() const {
    tcp_info info{};
    socklen_t len = sizeof info;
    ::getsockopt(amqp_get_sockfd(conn_), IPPROTO_TCP, TCP_INFO, &info, &len);
    return info.tcpi_bytes_received;
  }
  void mark_broken() { link_->mark_broken(); }

 private:
  bool ok() { return amqp_get_rpc_reply(conn_).reply_type == AMQP_RESPONSE_NORMAL; }
  std::unique_ptr<amqp::Link> link_;
  amqp_connection_state_t conn_ = nullptr;
};

class CollectorAmqp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (::access(kRabbitServer, X_OK) != 0) return;
    broker_dir_ = new TempDir();
    broker_ = new Broker(broker_dir_->file("rabbitmq"));
    broker_started_ = broker_->start();
  }
  static void TearDownTestSuite() {
    delete broker_;
    broker_ = nullptr;
    delete broker_dir_;
    broker_dir_ = nullptr;
  }
  void SetUp() override {
    if (::access(kRabbitServer, X_OK) != 0) {
      GTEST_SKIP() << kRabbitServer << " is missing: install Debian's rabbitmq-server (scripts/deps.sh does)";
    }
    ASSERT_TRUE(broker_started_) << "the RabbitMQ broker did not start; see " << broker_dir_->path();
    std::string error;
    collector_ = CollectorProcess::start(dir_.path(), {"--amqp-url", broker_->url(), "--sync", "normal"}, &error);
    ASSERT_TRUE(collector_) << error;
  }
  void connect_agent(TestAgent* agent, const std::string& node) {
    std::string error;
    ASSERT_TRUE(agent->connect(collector_->listen(), &error)) << error;
    v1::Envelope reply;
    ASSERT_TRUE(agent->hello(node, &reply));
    ASSERT_TRUE(reply.has_hello_ack()) << reply.DebugString();
  }

  static TempDir* broker_dir_;
  static Broker* broker_;
  static bool broker_started_;
  TempDir dir_;
  std::unique_ptr<CollectorProcess> collector_;
};
TempDir* CollectorAmqp::broker_dir_ = nullptr;
Broker* CollectorAmqp::broker_ = nullptr;
bool CollectorAmqp::broker_started_ = false;

TEST_F(CollectorAmqp, ReplicaChangeArrivesDecodedFieldByField) {
  Consumer consumer;
  ASSERT_TRUE(consumer.connect(broker_->port(), "sentinel-test-changed", {"replica.changed.#"}));
  TestAgent agent;
  connect_agent(&agent, "worker-1");
  ASSERT_TRUE(agent.report(make_report("worker-1", 1, {make_replica("/d1", "pvc-a", "0000aaaa", 1042, 100)})).has_ack());
  ASSERT_TRUE(agent.report(make_report("worker-1", 2, {make_replica("/d1", "pvc-a", "0000aaaa", 1043, 200)})).has_ack());

  auto first = consumer.next(15s);
  ASSERT_TRUE(first) << collector_->log();
  auto second = consumer.next(15s);
  ASSERT_TRUE(second) << collector_->log();

  EXPECT_EQ(first->routing_key, "replica.changed.pvc-a");
  EXPECT_FALSE(first->event.replica_changed().has_previous());  // first seen
  EXPECT_EQ(first->event.replica_changed().current().revision_counter(), 1042);

  const Delivery& d = *second;
  EXPECT_EQ(d.routing_key, "replica.changed.pvc-a");
  EXPECT_EQ(d.content_type, "application/x-protobuf");
  EXPECT_EQ(d.type, "sentinel.v1.Event");
  EXPECT_EQ(d.header_message_type, "sentinel.v1.Event");
  EXPECT_TRUE(d.persistent);
  const v1::Event& e = d.event;
  EXPECT_EQ(d.message_id, e.event_id());
  EXPECT_EQ(e.event_id().size(), 16u + 1 + std::to_string(e.sequence()).size()) << e.event_id();
  EXPECT_EQ(e.event_id().substr(17), std::to_string(e.sequence()));
  EXPECT_EQ(e.event_id().substr(0, 17), first->event.event_id().substr(0, 17));  // the same store
  EXPECT_GT(e.sequence(), first->event.sequence());
  EXPECT_GT(e.created_ns(), 0);
  EXPECT_EQ(e.node(), "worker-1");
  EXPECT_EQ(e.volume(), "pvc-a");
  ASSERT_TRUE(e.has_replica_changed());
  const auto& changed = e.replica_changed();
  ASSERT_TRUE(changed.has_previous());
  EXPECT_EQ(changed.previous().revision_counter(), 1042);
  EXPECT_EQ(changed.current().revision_counter(), 1043);
  EXPECT_EQ(changed.previous().head_mtime_ns(), 100);
  EXPECT_EQ(changed.current().head_mtime_ns(), 200);
  EXPECT_EQ(changed.current().node(), "worker-1");
  EXPECT_EQ(changed.current().disk(), "/d1");
  EXPECT_EQ(changed.current().dir(), "pvc-a-0000aaaa");
  EXPECT_EQ(changed.current().volume(), "pvc-a");
  EXPECT_EQ(changed.report_sequence(), 2u);
  EXPECT_EQ(changed.kind(), v1::QUICK);

  // Bytes on the wire per event (broker -> consumer: basic.deliver + content header + body frames, TCP payload).
  constexpr int kMeasured = 20;
  const uint64_t before = consumer.bytes_received();
  uint64_t body_bytes = 0;
  for (int i = 0; i < kMeasured; ++i) {
    ASSERT_TRUE(agent
                    .report(make_report("worker-1", 3 + static_cast<uint64_t>(i),
                                        {make_replica("/d1", "pvc-a", "0000aaaa", 1044 + i, 300 + i)}))
                    .has_ack());
  }
  for (int i = 0; i < kMeasured; ++i) {
    auto next = consumer.next(15s);
    ASSERT_TRUE(next) << "event " << i;
    EXPECT_EQ(next->event.replica_changed().current().revision_counter(), 1044 + i);
    body_bytes += next->body.size();
  }
  const uint64_t wire = consumer.bytes_received() - before;
  std::printf("AMQP message per replica.changed event: %.0f bytes on the wire (TCP payload, broker -> consumer, "
              "avg of %d), protobuf body %.0f bytes\n",
              static_cast<double>(wire) / kMeasured, kMeasured, static_cast<double>(body_bytes) / kMeasured);
  ::testing::Test::RecordProperty("amqp_wire_bytes_per_event", static_cast<int>(wire / kMeasured));

  // /metrics counts them.
  EXPECT_TRUE(wait_until([&] {
    return http_get(collector_->http(), "/metrics").body.find("sentinel_collector_events_published_total 22") !=
           std::string::npos;
  }, 5s)) << http_get(collector_->http(), "/metrics").body;
}

TEST_F(CollectorAmqp, BrokerRestartMidBurstLosesNothing) {
  auto consumer = std::make_unique<Consumer>();
  ASSERT_TRUE(consumer->connect(broker_->port(), "sentinel-test-burst", {"replica.changed.#"}));
  TestAgent agent;
  connect_agent(&agent, "worker-2");
  const std::vector<std::string> volumes = {"pvc-x", "pvc-y", "pvc-z"};
  std::map<std::string, int64_t> counters = {{"pvc-x", 10}, {"pvc-y", 20}, {"pvc-z", 30}};
  auto replicas = [&] {
    std::vector<v1::Replica> out;
    for (const auto& v : volumes) out.push_back(make_replica("/d", v, "0000bbbb", counters[v], counters[v]));
    return out;
  };
  std::map<std::string, std::vector<int64_t>> expected;  // per volume, the revision counters events announce
  for (const auto& v : volumes) expected[v].push_back(counters[v]);
  uint64_t sequence = 1;
  ASSERT_TRUE(agent.report(make_report("worker-2", sequence++, replicas())).has_ack());
  auto report_change = [&](int i) {
    const std::string& v = volumes[static_cast<size_t>(i) % volumes.size()];
    ++counters[v];
    expected[v].push_back(counters[v]);
    const auto reply = agent.report(make_report("worker-2", sequence++, replicas()));
    ASSERT_TRUE(reply.has_ack()) << reply.DebugString();
  };

  std::map<std::string, Delivery> received;  // by event_id
  std::vector<Delivery> in_order;
  int duplicates = 0;
  auto take = [&](const Delivery& d) {
    if (!received.emplace(d.event.event_id(), d).second) {
      ++duplicates;
      std::printf("duplicate: %s %s rev %lld\n", d.event.event_id().c_str(), d.routing_key.c_str(),
                  static_cast<long long>(d.event.replica_changed().current().revision_counter()));
      return;
    }
    in_order.push_back(d);
  };

  for (int i = 0; i < 11; ++i) report_change(i);
  // Some events arrived before the broker goes away.
  while (received.size() < 6) {
    auto d = consumer->next(15s);
    ASSERT_TRUE(d) << collector_->log();
    take(*d);
  }
  broker_->stop();
  consumer->mark_broken();
  consumer.reset();
  // The store does not depend on the broker: reports are acked while it is down.
  for (int i = 11; i < 33; ++i) report_change(i);
  EXPECT_TRUE(collector_->wait_for_log("events wait in the store", 10s)) << collector_->log();
  ASSERT_TRUE(broker_->start());
  consumer = std::make_unique<Consumer>();
  ASSERT_TRUE(wait_until([&] {
    consumer = std::make_unique<Consumer>();
    return consumer->connect(broker_->port(), "sentinel-test-burst", {"replica.changed.#"});
  }, 20s));

  size_t total_expected = 0;
  for (const auto& [v, counts] : expected) total_expected += counts.size();
  const auto deadline = std::chrono::steady_clock::now() + 40s;
  while (received.size() < total_expected && std::chrono::steady_clock::now() < deadline) {
    bool broken = false;
    auto d = consumer->next(1s, &broken);
    ASSERT_FALSE(broken);
    if (d) take(*d);
  }
  std::printf("broker restart: %zu events expected, %zu distinct received, %d duplicates\n", total_expected,
              received.size(), duplicates);
  ASSERT_EQ(received.size(), total_expected) << collector_->log();
  // In order per volume (by sequence, as delivered) and none missing.
  std::map<std::string, std::vector<int64_t>> got;
  std::map<std::string, uint64_t> last_sequence;
  for (const auto& d : in_order) {
    const std::string& v = d.event.volume();
    EXPECT_GT(d.event.sequence(), last_sequence[v]) << "out of order in " << v;
    last_sequence[v] = d.event.sequence();
    got[v].push_back(d.event.replica_changed().current().revision_counter());
  }
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(collector_->running());
}

// Two nodes hold pvc-p; when worker-2's replica overtakes worker-1's (higher revision counter, newer head), the
// plan recommends it instead: one plan.changed event saying what it recommends now and before.
TEST_F(CollectorAmqp, APlanThatRecommendsAnotherReplicaIsAnnounced) {
  Consumer consumer;
  ASSERT_TRUE(consumer.connect(broker_->port(), "sentinel-test-plan", {"plan.changed.#"}));
  TestAgent worker1, worker2;
  connect_agent(&worker1, "worker-1");
  connect_agent(&worker2, "worker-2");
  ASSERT_TRUE(worker1.report(make_report("worker-1", 1, {make_replica("/d", "pvc-p", "00001111", 10, 1000)})).has_ack());
  ASSERT_TRUE(worker2.report(make_report("worker-2", 1, {make_replica("/d", "pvc-p", "00002222", 5, 500)})).has_ack());
  // Let the first plans be computed and recorded before the change.
  ASSERT_TRUE(wait_until([&] {
    return http_get(collector_->http(), "/metrics").body.find("sentinel_collector_events_pending 0") !=
           std::string::npos;
  }, 15s));
  std::this_thread::sleep_for(1s);
  ASSERT_TRUE(worker2.report(make_report("worker-2", 2, {make_replica("/d", "pvc-p", "00002222", 20, 2000)})).has_ack());

  std::optional<Delivery> found;
  for (int i = 0; i < 5 && !found; ++i) {
    auto next = consumer.next(15s);
    ASSERT_TRUE(next) << "no plan.changed event\n" << collector_->log();
    const auto& changed = next->event.plan_changed();
    if (changed.recommended_size() == 1 && changed.recommended(0) == "worker-2:/d/pvc-p-00002222") found = next;
  }
  ASSERT_TRUE(found) << collector_->log();
  EXPECT_EQ(found->routing_key, "plan.changed.pvc-p");
  EXPECT_EQ(found->event.volume(), "pvc-p");
  const auto& changed = found->event.plan_changed();
  EXPECT_EQ(changed.volume(), "pvc-p");
  ASSERT_EQ(changed.previous_recommended_size(), 1) << found->event.DebugString();
  EXPECT_EQ(changed.previous_recommended(0), "worker-1:/d/pvc-p-00001111");
  EXPECT_FALSE(changed.summary().empty());
}

// A deep scan that finds a checksum mismatch the replica did not have is announced; so is a node that stops
// reporting for longer than --stale-after (once).
TEST_F(CollectorAmqp, ChecksumMismatchAndStaleNodeAreAnnounced) {
  collector_.reset();
  std::string error;
  collector_ = CollectorProcess::start(dir_.path(),
                                       {"--amqp-url", broker_->url(), "--sync", "normal", "--stale-after", "2s"},
                                       &error);
  ASSERT_TRUE(collector_) << error;
  Consumer consumer;
  ASSERT_TRUE(consumer.connect(broker_->port(), "sentinel-test-mismatch", {"checksum.mismatch.#", "node.stale.#"}));
  TestAgent agent;
  connect_agent(&agent, "worker-4");
  ASSERT_TRUE(agent.report(make_report("worker-4", 1, {make_replica("/d", "pvc-m", "0000dddd", 3, 3)})).has_ack());
  auto corrupt = make_replica("/d", "pvc-m", "0000dddd", 3, 3);
  auto* finding = corrupt.add_findings();
  finding->set_code(v1::Finding::CHECKSUM_MISMATCH);
  finding->set_severity(v1::Finding::ERROR);
  finding->set_message("crc64 differs from Longhorn's current checksum record");
  finding->set_path("replicas/pvc-m-0000dddd/volume-snap-a.img");
  corrupt.set_state(v1::Replica::BROKEN);
  ASSERT_TRUE(agent.report(make_report("worker-4", 2, {corrupt}, v1::DEEP)).has_ack());

  std::optional<Delivery> mismatch, stale;
  for (int i = 0; i < 4 && !(mismatch && stale); ++i) {
    auto next = consumer.next(20s);
    ASSERT_TRUE(next) << "missing events\n" << collector_->log();
    if (next->event.has_checksum_mismatch()) mismatch = next;
    if (next->event.has_node_stale()) stale = next;
  }
  ASSERT_TRUE(mismatch && stale) << collector_->log();
  EXPECT_EQ(mismatch->routing_key, "checksum.mismatch.pvc-m");
  EXPECT_EQ(mismatch->event.checksum_mismatch().replica().dir(), "pvc-m-0000dddd");
  ASSERT_EQ(mismatch->event.checksum_mismatch().findings_size(), 1);
  EXPECT_EQ(mismatch->event.checksum_mismatch().findings(0).code(), v1::Finding::CHECKSUM_MISMATCH);
  EXPECT_EQ(stale->routing_key, "node.stale.worker-4");
  EXPECT_EQ(stale->event.node_stale().node(), "worker-4");
  EXPECT_EQ(stale->event.node_stale().stale_after_ns(), 2'000'000'000);
  // Once: no second node.stale for the same silence.
  EXPECT_FALSE(consumer.next(7s)) << "a second event arrived";
}

TEST_F(CollectorAmqp, SentinelctlWatchPrintsDecodedEvent) {
  const std::string log = dir_.file("watch.out");
  ChildProcess watch({SENTINELCTL_PATH, "watch", "--amqp-url", broker_->url(), "--binding", "replica.*.pvc-w",
                      "--json", "--count", "1", "--timeout", "30s"},
                     {}, log);
  auto contents = [&] {
    std::ifstream in(log);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  ASSERT_TRUE(wait_until([&] { return contents().find("watching exchange") != std::string::npos; }, 15s))
      << contents();
  TestAgent agent;
  connect_agent(&agent, "worker-3");
  ASSERT_TRUE(agent.report(make_report("worker-3", 1, {make_replica("/d", "pvc-w", "0000cccc", 7, 7)})).has_ack());
  const auto status = watch.wait_for_exit(20s);
  ASSERT_TRUE(status) << contents();
  EXPECT_EQ(*status, 0) << contents();
  const std::string out = contents();
  std::printf("%s", out.c_str());
  EXPECT_NE(out.find("\"routing_key\":\"replica.changed.pvc-w\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"node\":\"worker-3\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"revisionCounter\":\"7\""), std::string::npos) << out;

  // Usage errors exit 2, an unreachable broker 1.
  std::string ignored;
  EXPECT_EQ(run_command({SENTINELCTL_PATH, "watch"}, &ignored), 2);
  EXPECT_EQ(run_command({SENTINELCTL_PATH, "watch", "--amqp-url", "http://x"}, &ignored), 2);
  EXPECT_EQ(run_command({SENTINELCTL_PATH, "watch", "--amqp-url",
                         "amqp://guest:guest@127.0.0.1:" + std::to_string(free_tcp_port()) + "/"},
                        &ignored),
            1);
}

}  // namespace
}  // namespace sentinel::collector::testing
