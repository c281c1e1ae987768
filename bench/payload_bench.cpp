// payload_bench: the incident issue's payload comparison (the seed's "compare JSON vs GPB payload sizes").
// For inventories of 1, 10, 100 and 1,000 replicas, quick and deep, prints the size of the protobuf frame the
// agent sends (varint length + Envelope{Report}) and of the same inventory as JSON (protobuf's JSON mapping,
// pretty and compact), and the encode and decode time of each. The replicas are real scan results of the
// incident sample (sentinel-gen incident), repeated under distinct directory names.
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "proto/wire/frame_codec.h"
#include "proto/wire/wire_form.h"
#include "scanner/deep_scan.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tools/treegen/incident_sample.h"

namespace {

using Clock = std::chrono::steady_clock;

// Mean microseconds per call of `fn`, run for at least 200 ms (and 3 calls).
template <typename Fn>
double time_us(Fn&& fn) {
  const auto start = Clock::now();
  int calls = 0;
  while (calls < 3 || Clock::now() - start < std::chrono::milliseconds(200)) {
    fn();
    ++calls;
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / calls;
}

sentinel::v1::Inventory grow(const sentinel::v1::Inventory& sample, int replicas) {
  sentinel::v1::Inventory inventory = sample;
  inventory.clear_replicas();
  for (int i = 0; i < replicas; ++i) {
    auto* replica = inventory.add_replicas();
    *replica = sample.replicas(i % sample.replicas_size());
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "-%08x", i);
    replica->set_dir(replica->volume() + suffix);
  }
  return inventory;
}

std::string to_json(const sentinel::v1::Inventory& inventory, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;  // as sentinelctl scan --json prints it
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(inventory, &out, options);
  return out;
}

}  // namespace

int main() {
  const std::string root = std::filesystem::temp_directory_path() / ("sentinel-payload-" + std::to_string(::getpid()));
  if (!sentinel::treegen::write_incident_sample(root)) {
    std::cerr << "payload_bench: cannot write the incident sample under " << root << "\n";
    return 1;
  }
  sentinel::scanner::PosixFileSystem fs;
  const auto quick = sentinel::scanner::scan_disks(fs, {root + "/worker-1", root + "/worker-2"}, "worker-1", {});
  auto deep = quick;
  sentinel::scanner::DeepScanOptions deep_options;
  deep_options.keep_chunks = true;  // as the agent's deep scans send them
  sentinel::scanner::deep_scan_inventory(fs, &deep, deep_options);
  std::filesystem::remove_all(root);

  std::printf("%-6s %9s | %12s %12s %12s %12s | %6s %6s | %9s %9s | %9s %9s\n", "kind", "replicas", "protobuf B",
              "pb plain B", "JSON B", "JSON-min B", "pb/JS", "pb/min", "pb enc us", "pb dec us", "JS enc us", "JS dec us");
  for (const bool is_deep : {false, true}) {
    for (int replicas : {1, 10, 100, 1000}) {
      sentinel::v1::Envelope envelope;
      auto* report = envelope.mutable_report();
      report->set_sequence(42);
      report->set_kind(is_deep ? sentinel::v1::DEEP : sentinel::v1::QUICK);
      const sentinel::v1::Inventory inventory = grow(is_deep ? deep : quick, replicas);
      *report->mutable_inventory() = inventory;
      const std::string plain_frame = sentinel::wire::encode_frame(envelope);
      sentinel::wire::compact_for_wire(report->mutable_inventory());  // as the agent sends it
      const std::string frame = sentinel::wire::encode_frame(envelope);
      const std::string json = to_json(inventory, true);
      const std::string compact = to_json(inventory, false);

      // Encoding includes the wire form (the agent's work), decoding its expansion (the collector's).
      const double pb_encode = time_us([&] {
        sentinel::v1::Envelope copy;
        *copy.mutable_report()->mutable_inventory() = inventory;
        sentinel::wire::compact_for_wire(copy.mutable_report()->mutable_inventory());
        (void)sentinel::wire::encode_frame(copy).size();
      });
      const double pb_decode = time_us([&] {
        sentinel::wire::FrameDecoder decoder;
        decoder.feed(frame);
        sentinel::v1::Envelope out;
        (void)decoder.next(&out);
        sentinel::wire::expand_from_wire(out.mutable_report()->mutable_inventory());
      });
      const double json_encode = time_us([&] { (void)to_json(report->inventory(), false).size(); });
      const double json_decode = time_us([&] {
        sentinel::v1::Inventory out;
        (void)google::protobuf::util::JsonStringToMessage(compact, &out);
      });
      std::printf("%-6s %9d | %12zu %12zu %12zu %12zu | %5.0f%% %5.0f%% | %9.1f %9.1f | %9.1f %9.1f\n",
                  is_deep ? "deep" : "quick", replicas, frame.size(), plain_frame.size(), json.size(), compact.size(),
                  100.0 * static_cast<double>(frame.size()) / static_cast<double>(json.size()),
                  100.0 * static_cast<double>(frame.size()) / static_cast<double>(compact.size()), pb_encode,
                  pb_decode, json_encode, json_decode);
    }
  }
  std::printf("\nprotobuf B = the whole frame on the wire (length prefix + Envelope{Report}), replicas in their wire\n"
              "form (proto/wire/wire_form.h) as the agent sends them; pb plain B = the same frame without the wire form.\n"
              "pb enc/dec include making and expanding the wire form. JSON = protobuf's JSON\n"
              "mapping of the same Inventory as `sentinelctl scan --json` prints it (pretty), JSON-min = compact.\n"
              "Deep replicas carry crc64, stored checksums, the content digest and the non-zero chunk list.\n");
  return 0;
}
