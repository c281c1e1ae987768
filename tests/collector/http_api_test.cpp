// The HTTP API and the sentinelctl commands that read it, against the real binaries: two nodes report the
// incident's volumes; nodes, volumes, one volume (replicas as sentinel.v1.Replica JSON), history, health,
// metrics, errors; staleness.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "proto/wire/wire_form.h"
#include "sentinel/v1/plan.pb.h"
#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::make_replica;
using testing::make_report;
using testing::TestAgent;

constexpr const char* kSplit = "pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d";
constexpr const char* kDegraded = "pvc-7de9f38e-1f3a-4c2b-9d5e-2b8c1a4f6e01";
constexpr const char* kDigest = "34001ae2f947e773165f453a5f35c459";

void report_as(const std::string& address, const std::string& node, uint64_t sequence,
               const std::vector<v1::Replica>& replicas, v1::ScanKind kind = v1::QUICK) {
  TestAgent agent;
  std::string error;
  ASSERT_TRUE(agent.connect(address, &error)) << error;
  v1::Envelope reply;
  ASSERT_TRUE(agent.hello(node, &reply));
  ASSERT_TRUE(agent.report(make_report(node, sequence, replicas, kind)).has_ack());
}

// worker-1's replica of the split volume: Dirty, deep-scanned.
v1::Replica worker1_split() {
  auto replica = make_replica("/var/lib/longhorn", kSplit, "59dc1016", 1042, 1700000007400000000);
  replica.set_state(v1::Replica::DIRTY);
  replica.set_dirty(true);
  auto* dirty = replica.add_findings();
  dirty->set_code(v1::Finding::DIRTY);
  dirty->set_severity(v1::Finding::WARNING);
  dirty->set_message("the replica process died");
  replica.set_content_digest(kDigest);
  return replica;
}

class CollectorHttp : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    std::string error;
    collector_ = testing::CollectorProcess::start(dir_->path(), {}, &error).release();
    ASSERT_NE(collector_, nullptr) << error;
    const auto worker1 = worker1_split();
    auto worker2 = make_replica("/var/lib/longhorn", kSplit, "8e31a7d2", 1038, 1700000000000000000);
    worker2.set_state(v1::Replica::DIRTY);
    worker2.set_content_digest("00112233445566778899aabbccddeeff");
    report_as(collector_->listen(), "worker-1", 1,
              {worker1, make_replica("/var/lib/longhorn", kDegraded, "0c1f3a77", 7, 1700000000000000000)}, v1::DEEP);
    report_as(collector_->listen(), "worker-2", 1, {worker2}, v1::DEEP);
  }
  static void TearDownTestSuite() {
    delete collector_;
    delete dir_;
  }

  static json get_json(const std::string& path, int expected_status = 200) {
    const auto reply = testing::http_get(collector_->http(), path);
    EXPECT_EQ(reply.status, expected_status) << path << "\n" << reply.body;
    EXPECT_NE(reply.headers.find("application/json"), std::string::npos) << reply.headers;
    return json::parse(reply.body, nullptr, false);
  }

  static std::string ctl(const std::vector<std::string>& args, int expected_code = 0) {
    std::vector<std::string> argv = {SENTINELCTL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--collector");
    argv.push_back("http://" + collector_->http());
    std::string out;
    EXPECT_EQ(testing::run_command(argv, &out), expected_code) << out;
    return out;
  }

  static testing::TempDir* dir_;
  static testing::CollectorProcess* collector_;
};

testing::TempDir* CollectorHttp::dir_ = nullptr;
testing::CollectorProcess* CollectorHttp::collector_ = nullptr;

TEST_F(CollectorHttp, NodesShowTheirLastReport) {
  const json body = get_json("/v1/nodes");
  ASSERT_EQ(body["nodes"].size(), 2u) << body.dump(2);
  EXPECT_EQ(body["nodes"][0]["name"], "worker-1");
  EXPECT_EQ(body["nodes"][0]["agentVersion"], "test-agent");
  EXPECT_EQ(body["nodes"][0]["stale"], false);
  EXPECT_EQ(body["nodes"][0]["lastSequence"], "1");
  EXPECT_EQ(body["nodes"][0]["replicaCount"], 2);
  EXPECT_EQ(body["nodes"][0]["latestKind"], "DEEP");
  EXPECT_EQ(body["staleAfter"], "3m");
}

TEST_F(CollectorHttp, VolumesLineUpReplicasAcrossNodes) {
  const json body = get_json("/v1/volumes");
  ASSERT_EQ(body["volumes"].size(), 2u) << body.dump(2);
  const json& split = body["volumes"][0];
  EXPECT_EQ(split["name"], kSplit);
  EXPECT_EQ(split["replicaCount"], 2);
  EXPECT_EQ(split["nodes"], json::array({"worker-1", "worker-2"}));
  EXPECT_EQ(split["sizeBytes"], "42949672960");
  EXPECT_EQ(split["maxRevisionCounter"], "1042");
  EXPECT_EQ(split["digestsAgree"], false);
  EXPECT_EQ(split["replicasWithFindings"], 1);
  EXPECT_EQ(split["states"]["DIRTY"], 2);
  EXPECT_EQ(body["volumes"][1]["name"], kDegraded);
  EXPECT_EQ(body["volumes"][1]["digestsAgree"], nullptr);  // quick data only: unknown
}

TEST_F(CollectorHttp, AVolumesReplicasAreSentinelV1ReplicaJson) {
  const json body = get_json(std::string("/v1/volumes/") + kSplit);
  ASSERT_EQ(body["replicas"].size(), 2u) << body.dump(2);
  const json& first = body["replicas"][0];
  EXPECT_EQ(first["node"], "worker-1");
  EXPECT_EQ(first["nodeStale"], false);
  EXPECT_EQ(first["contentDigest"], kDigest);
  EXPECT_EQ(first["lastDeepScan"]["current"], true);
  EXPECT_FALSE(first["lastSeen"].get<std::string>().empty());
  v1::Replica replica;
  const auto status = google::protobuf::util::JsonStringToMessage(first["replica"].dump(), &replica);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_EQ(replica.dir(), std::string(kSplit) + "-59dc1016");
  EXPECT_EQ(replica.revision_counter(), 1042);
  EXPECT_EQ(replica.content_digest(), kDigest);
  EXPECT_EQ(replica.findings(0).code(), v1::Finding::DIRTY);
  EXPECT_EQ(first["replica"]["sizeBytes"], "42949672960");  // protobuf JSON: 64-bit integers as strings
  EXPECT_EQ(body["replicas"][1]["node"], "worker-2");
}

// Agents send replicas in their wire form (proto/wire/wire_form.h); what the API serves is the whole replica.
TEST_F(CollectorHttp, AReplicaSentInItsWireFormIsServedWhole) {
  const std::string volume = "pvc-0a1b2c3d-wire-form";
  v1::Replica original = make_replica("/var/lib/longhorn", volume, "4d5e6f70", 3, 1700000000000000000);
  original.mutable_images(0)->set_parent("volume-snap-a.img");
  original.mutable_images(0)->set_created("2024-03-05T14:13:00Z");
  original.mutable_images(1)->set_crc64("8889a8c4ac1d7511");
  auto* leftover = original.add_findings();
  leftover->set_code(v1::Finding::TEMP_LEFTOVER);
  leftover->set_severity(v1::Finding::INFO);
  leftover->set_path("replicas/" + original.dir() + "/volume-snap-a.img.checksum..tmp");
  original.set_content_digest(kDigest);
  v1::Replica sent = original;
  wire::compact_for_wire(&sent);
  ASSERT_TRUE(sent.volume().empty() && sent.chain().empty()) << "the test must send the wire form";
  report_as(collector_->listen(), "worker-3", 1, {sent}, v1::DEEP);

  const json body = get_json("/v1/volumes/" + volume);
  ASSERT_EQ(body["replicas"].size(), 1u) << body.dump(2);
  v1::Replica served;
  const auto status = google::protobuf::util::JsonStringToMessage(body["replicas"][0]["replica"].dump(), &served);
  ASSERT_TRUE(status.ok()) << status.ToString();
  std::string difference;
  google::protobuf::util::MessageDifferencer differencer;
  differencer.ReportDifferencesToString(&difference);
  EXPECT_TRUE(differencer.Compare(original, served)) << difference;
  EXPECT_EQ(body["replicas"][0]["contentDigest"], kDigest);
}

TEST_F(CollectorHttp, HistoryListsWhatChanged) {
  // worker-1 reports again: the degraded volume's replica took writes, the split one is unchanged.
  report_as(collector_->listen(), "worker-1", 2,
            {worker1_split(), make_replica("/var/lib/longhorn", kDegraded, "0c1f3a77", 8, 1700000009000000000)});
  const json body = get_json(std::string("/v1/volumes/") + kDegraded + "/history");
  ASSERT_EQ(body["history"].size(), 2u) << body.dump(2);
  EXPECT_EQ(body["history"][0]["revisionCounter"], "8");  // newest first
  EXPECT_EQ(body["history"][0]["sequence"], "2");
  EXPECT_EQ(body["history"][1]["revisionCounter"], "7");
  const json limited = get_json(std::string("/v1/volumes/") + kDegraded + "/history?limit=1");
  EXPECT_EQ(limited["history"].size(), 1u);
  EXPECT_EQ(get_json(std::string("/v1/volumes/") + kSplit + "/history")["history"].size(), 2u);  // one per replica
}

TEST_F(CollectorHttp, APlanComesFromTheLatestReportsOfEveryNode) {
  const auto reply = testing::http_get(collector_->http(), std::string("/v1/volumes/") + kSplit +
                                                               "/plan?longhorn_version=v1.5.3&revision_counter=enabled");
  ASSERT_EQ(reply.status, 200) << reply.body;
  v1::SalvagePlan plan;
  const auto status = google::protobuf::util::JsonStringToMessage(reply.body, &plan);
  ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << reply.body;
  EXPECT_EQ(plan.volume(), kSplit);
  EXPECT_EQ(plan.replicas_size(), 2);
  ASSERT_FALSE(plan.recommended().empty());
  EXPECT_EQ(plan.recommended(0).node(), "worker-1");  // the higher revision counter
  EXPECT_EQ(get_json(std::string("/v1/volumes/") + kSplit + "/plan?longhorn_version=latest", 400)["status"], 400);
  EXPECT_EQ(get_json("/v1/volumes/pvc-unknown/plan", 404)["status"], 404);
}

TEST_F(CollectorHttp, HealthMetricsAndErrors) {
  EXPECT_EQ(get_json("/healthz")["status"], "ok");
  const auto metrics = testing::http_get(collector_->http(), "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.headers.find("text/plain"), std::string::npos);
  for (const char* line : {"sentinel_collector_reports_received_total ", "sentinel_collector_report_bytes_total ",
                           "sentinel_collector_ingest_latency_seconds_bucket{le=\"+Inf\"} ",
                           "sentinel_collector_nodes_stale 0", "sentinel_collector_replicas_with_findings 1",
                           "sentinel_collector_nodes 2"}) {
    EXPECT_NE(metrics.body.find(line), std::string::npos) << line << "\n" << metrics.body;
  }
  EXPECT_EQ(get_json("/v1/volumes/pvc-unknown", 404)["status"], 404);
  EXPECT_NE(get_json("/v1/nope", 404)["error"].get<std::string>().find("/v1/volumes"), std::string::npos);
  EXPECT_EQ(get_json("/v1/volumes/a%zz", 400)["status"], 400);
  const auto post = testing::http_get(collector_->http(), "/v1/nodes", "POST");
  EXPECT_EQ(post.status, 405);
  EXPECT_NE(post.headers.find("Allow: GET, HEAD"), std::string::npos) << post.headers;
  const auto head = testing::http_get(collector_->http(), "/v1/nodes", "HEAD");
  EXPECT_EQ(head.status, 200);
  EXPECT_TRUE(head.body.empty());
}

TEST_F(CollectorHttp, SentinelctlShowsVolumesVolumeAndNodes) {
  const std::string volumes = ctl({"volumes"});
  EXPECT_NE(volumes.find(kSplit), std::string::npos) << volumes;
  EXPECT_NE(volumes.find("worker-1,worker-2"), std::string::npos) << volumes;
  EXPECT_NE(volumes.find("40 GiB"), std::string::npos) << volumes;
  EXPECT_NE(volumes.find("DIFFER"), std::string::npos) << volumes;

  const std::string volume = ctl({"volume", kSplit});
  EXPECT_NE(volume.find("worker-1"), std::string::npos) << volume;
  EXPECT_NE(volume.find("worker-2"), std::string::npos) << volume;
  EXPECT_NE(volume.find("1042"), std::string::npos) << volume;
  EXPECT_NE(volume.find("34001ae2f947"), std::string::npos) << volume;
  EXPECT_NE(volume.find("DIRTY"), std::string::npos) << volume;

  const std::string nodes = ctl({"nodes"});
  EXPECT_NE(nodes.find("worker-2"), std::string::npos) << nodes;
  EXPECT_NE(nodes.find("test-agent"), std::string::npos) << nodes;

  const json raw = json::parse(ctl({"volume", kSplit, "--json"}), nullptr, false);
  ASSERT_FALSE(raw.is_discarded());
  EXPECT_EQ(raw["volume"], kSplit);
  const std::string missing = ctl({"volume", "pvc-unknown"}, 1);
  std::string out;
  EXPECT_EQ(testing::run_command({SENTINELCTL_PATH, "volumes", "--collector", "http://127.0.0.1:1"}, &out), 1);
  EXPECT_EQ(testing::run_command({SENTINELCTL_PATH, "volume", "--collector", "http://127.0.0.1:1"}, &out), 2);
}

TEST(CollectorStaleness, AStaleNodeIsFlaggedAndKeepsItsReplicas) {
  testing::TempDir dir;
  std::string error;
  auto collector = testing::CollectorProcess::start(dir.path(), {"--stale-after", "1s"}, &error);
  ASSERT_NE(collector, nullptr) << error;
  report_as(collector->listen(), "worker-1", 1, {make_replica("/var/lib/longhorn", kSplit, "59dc1016", 1, 1)});
  std::this_thread::sleep_for(1500ms);
  const auto nodes = json::parse(testing::http_get(collector->http(), "/v1/nodes").body);
  EXPECT_EQ(nodes["nodes"][0]["stale"], true) << nodes.dump(2);
  const auto volume = json::parse(testing::http_get(collector->http(), std::string("/v1/volumes/") + kSplit).body);
  ASSERT_EQ(volume["replicas"].size(), 1u);
  EXPECT_EQ(volume["replicas"][0]["nodeStale"], true);
  const auto metrics = testing::http_get(collector->http(), "/metrics").body;
  EXPECT_NE(metrics.find("sentinel_collector_nodes_stale 1"), std::string::npos) << metrics;
}

}  // namespace
}  // namespace sentinel::collector
