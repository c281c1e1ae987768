// Writes the protobuf seeds of the fuzz corpora (tests/fuzz/corpus/) from inventories that `sentinelctl scan
// --deep --chunks --json` made of Longhorn's fixtures, plus generated frames. Not a fuzz target; built on demand:
//
//   cmake --build --preset fuzz --target fuzz_make_seeds
//   for c in case2-chain case3-salvage-pair case4-divergent case5c-removed-snapshot; do
//     mkdir -p /tmp/d/$c/replicas && tar -xf ../shared/fixtures/$c.tar -C /tmp/d/$c/replicas
//     sentinelctl scan --disk /tmp/d/$c --deep --chunks --json --compact --node node-$c > /tmp/d/$c.json
//   done
//   build-fuzz/tests/fuzz/fuzz_make_seeds tests/fuzz/corpus /tmp/d/case*.json
//
// The first inventory is the "chain" case, the second the "salvage pair" (two replicas of one volume, split
// here into two nodes' inventories), the others are used as they are.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "proto/wire/frame_codec.h"
#include "proto/wire/wire_form.h"

namespace v1 = sentinel::v1;

namespace {

std::string root;

void write(const std::string& target, const std::string& name, const std::string& bytes) {
  const std::string dir = root + "/" + target;
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  std::cout << dir << "/" << name << " (" << bytes.size() << " bytes)\n";
}

std::string delimited(const google::protobuf::MessageLite& message) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteVarint32(static_cast<uint32_t>(message.ByteSizeLong()));
  message.SerializeToCodedStream(&coded);
  return out;
}

std::string frame(const v1::Envelope& envelope) { return sentinel::wire::encode_frame(envelope); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: fuzz_make_seeds CORPUS_DIR CHAIN.json SALVAGE_PAIR.json [MORE.json...]\n";
    return 2;
  }
  root = argv[1];
  std::vector<v1::Inventory> inventories;
  for (int i = 2; i < argc; ++i) {
    std::ifstream file(argv[i]);
    std::stringstream text;
    text << file.rdbuf();
    v1::Inventory inventory;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(text.str(), &inventory, options).ok()) {
      std::cerr << argv[i] << ": not an inventory\n";
      return 1;
    }
    inventories.push_back(std::move(inventory));
  }
  const v1::Inventory& chain = inventories[0];
  const v1::Inventory& pair = inventories[1];

  // fuzz_planner: byte 0 = options (bits 0-1 revision-counter mode, 2-4 Longhorn version), then inventories.
  v1::Inventory node_a = pair, node_b = pair;
  node_a.set_node("worker-1");
  node_b.set_node("worker-2");
  node_a.mutable_replicas()->DeleteSubrange(1, node_a.replicas_size() - 1);
  node_b.mutable_replicas()->DeleteSubrange(0, 1);
  write("fuzz_planner", "fixture-salvage-pair-two-nodes",
        std::string(1, '\x08') + delimited(node_a) + delimited(node_b));
  write("fuzz_planner", "fixture-salvage-pair-disabled-v1.6.3", std::string(1, '\x16') + delimited(pair));
  for (size_t i = 2; i < inventories.size(); ++i) {
    write("fuzz_planner", "fixture-" + inventories[i].node(),
          std::string(1, static_cast<char>(i)) + delimited(inventories[i]));
  }
  write("fuzz_planner", "fixture-chain-unknown-version", std::string(1, '\0') + delimited(chain));
  {
    // The pair at the ends of every number's range (head mtimes, counters, sizes, chunk geometry), with the
    // revision counter disabled and Longhorn v1.4.0.
    v1::Inventory low = node_a, high = node_b;
    v1::Replica& a = *low.mutable_replicas(0);
    v1::Replica& b = *high.mutable_replicas(0);
    a.set_head_mtime_ns(INT64_MIN);
    b.set_head_mtime_ns(INT64_MAX);
    a.set_revision_counter(INT64_MAX);  // equal: the head mtimes decide
    b.set_revision_counter(INT64_MAX);
    for (v1::Replica* r : {&a, &b}) {
      r->set_size_bytes(UINT64_MAX);
      r->set_head_allocated_bytes(UINT64_MAX);
      r->mutable_content()->set_chunk_bytes(UINT64_MAX / 2);
      r->mutable_content()->set_chunk_count(3);
    }
    write("fuzz_planner", "gen-extreme-numbers", std::string(1, '\x06') + delimited(low) + delimited(high));
  }

  // fuzz_wire_form: single replicas, as scanned and in their wire form.
  for (const auto* inventory : {&chain, &pair}) {
    v1::Replica replica = inventory->replicas(0);
    write("fuzz_wire_form", "fixture-" + replica.dir().substr(replica.dir().size() - 8), replica.SerializeAsString());
    sentinel::wire::compact_for_wire(&replica);
    write("fuzz_wire_form", "fixture-compact-" + replica.dir().substr(replica.dir().size() - 8),
          replica.SerializeAsString());
  }

  // fuzz_frame_agent: byte 0 = read size, byte 1 = max frame size choice, then frames as the agent and
  // sentinelctl receive them.
  {
    v1::Envelope hello_ack, ack, error, status, progress, result, status_request, scan_request;
    hello_ack.mutable_hello_ack()->set_protocol_version(1);
    hello_ack.mutable_hello_ack()->set_collector_version("0.1.0");
    hello_ack.mutable_hello_ack()->set_highest_sequence(41);
    ack.mutable_ack()->set_sequence(42);
    ack.mutable_ack()->set_duplicate(true);
    error.mutable_error()->set_code(v1::Error::FRAME_TOO_LARGE);
    error.mutable_error()->set_message("a frame of 99999999 bytes is over this collector's maximum");
    write("fuzz_frame_agent", "gen-collector-replies",
          std::string("\0\0", 2) + frame(hello_ack) + frame(ack) + frame(error));
    write("fuzz_frame_agent", "gen-collector-replies-in-7-byte-reads",
          std::string("\x07\x00", 2) + frame(hello_ack) + frame(ack));
    status.mutable_status()->set_node("worker-1");
    status.mutable_status()->set_scanning(true);
    status.mutable_status()->set_scan_kind(v1::DEEP);
    status.mutable_status()->add_disks("/var/lib/longhorn");
    progress.mutable_progress()->set_phase("deep scan");
    progress.mutable_progress()->set_done_bytes(4096);
    progress.mutable_progress()->set_current(chain.replicas(0).dir());
    *result.mutable_scan_result()->mutable_inventory() = chain;
    result.mutable_scan_result()->set_sequence(7);
    write("fuzz_frame_agent", "fixture-agent-replies",
          std::string("\0\0", 2) + frame(status) + frame(progress) + frame(result));
    status_request.mutable_status_request();
    scan_request.mutable_scan_request()->set_kind(v1::DEEP);
    scan_request.mutable_scan_request()->set_volume(chain.replicas(0).volume());
    write("fuzz_frame_agent", "gen-requests", std::string("\x01\x03", 2) + frame(status_request) + frame(scan_request));
    write("fuzz_frame_agent", "gen-too-large-for-300", std::string("\x00\x02", 2) + frame(result));
  }

  // fuzz_frame_collector: an agent's Hello and reports (one plain, one in wire form), as the collector receives them.
  {
    v1::Envelope hello, quick, deep;
    hello.mutable_hello()->set_protocol_version(1);
    hello.mutable_hello()->set_node("worker-1");
    hello.mutable_hello()->set_agent_version("0.1.0");
    auto* report = quick.mutable_report();
    report->set_sequence(1);
    report->set_kind(v1::QUICK);
    *report->mutable_inventory() = node_a;
    for (auto& replica : *report->mutable_inventory()->mutable_replicas()) {
      replica.clear_content_digest();
      replica.clear_content();
    }
    report = deep.mutable_report();
    report->set_sequence(2);
    report->set_kind(v1::DEEP);
    *report->mutable_inventory() = node_a;
    *report->mutable_inventory()->add_replicas() = node_b.replicas(0);
    sentinel::wire::compact_for_wire(report->mutable_inventory());
    write("fuzz_frame_collector", "fixture-hello-quick-deep",
          std::string("\0\0", 2) + frame(hello) + frame(quick) + frame(deep));
    write("fuzz_frame_collector", "fixture-hello-deep-in-13-byte-reads",
          std::string("\x0d\x03", 2) + frame(hello) + frame(deep));
    v1::Envelope bad;
    bad.mutable_hello()->set_protocol_version(2);
    bad.mutable_hello()->set_node(std::string("worker\x01", 7));
    write("fuzz_frame_collector", "gen-bad-hello-then-garbage",
          std::string("\0\x01", 2) + frame(bad) + "\xff\xff\xff\xff\xff\x01");
  }
  return 0;
}
