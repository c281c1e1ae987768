// Frames received by the collector from agents: any bytes, split into reads of any size, through the
// FrameDecoder into the collector's view types (EnvelopeView, ReportView, InventoryView: replicas kept as bytes),
// on an arena as collector/session.cpp decodes them, and then what the session and the store do with a report
// short of SQLite: the Hello checks, each replica's key read straight from its bytes (replica_key_from_bytes),
// its fingerprint, the parse of a changed replica, its expansion from the wire form, its identity, history facts
// and finding codes, and the merge of a previous deep scan's results into it.
//
// Input: byte 0 = read size (0: all at once), byte 1 = the collector's maximum frame size (one of four), then the
// bytes as they arrive. Invariants: the decoder never buffers more than it was fed and stays failed once failed;
// a replica whose bytes parse has the disk and dir that replica_key_from_bytes read from them.
#include <google/protobuf/arena.h>

#include <memory>
#include <string>

#include "collector/replica_facts.h"
#include "proto/wire/frame_codec.h"
#include "proto/wire/wire_form.h"
#include "tests/fuzz/fuzz_protobuf.h"
#include "tests/fuzz/fuzz_support.h"

using sentinel::wire::FrameDecoder;
namespace collector = sentinel::collector;
namespace v1 = sentinel::v1;

namespace {

volatile size_t sink;  // keeps the reads below from being optimized away

// Session::handle_hello's checks (the node becomes a key of the store and a log field).
void as_hello(const v1::Hello& hello) {
  size_t control = 0;
  for (unsigned char c : hello.node()) control += c < 0x20 || c == 0x7f;
  sink = hello.protocol_version() + hello.node().size() + control + hello.agent_version().size();
}

// Store::prepare and Store::apply_to_latest, without the SQL.
void as_store(const v1::ReportView& report) {
  const v1::InventoryView& inventory = report.inventory();
  sink = report.sequence() + report.kind() + inventory.node().size() + inventory.agent_version().size() +
         report.volume().size() + static_cast<size_t>(inventory.scanned_at_ns());
  for (const std::string& bytes : inventory.disks()) {
    v1::Disk disk;
    if (disk.ParseFromString(bytes)) sink = disk.path().size() + disk.findings_size();
  }
  v1::Replica previous;  // stands for the last deep scan the store holds of a replica
  bool have_previous = false;
  for (const std::string& bytes : inventory.replicas()) {
    std::string_view disk;
    std::string_view dir;
    const bool keyed = collector::replica_key_from_bytes(bytes, &disk, &dir);
    sink = collector::bytes_hash(bytes);
    v1::Replica replica;
    if (!replica.ParseFromString(bytes)) continue;  // the store refuses the report (malformed)
    if (keyed) FUZZ_CHECK(disk == replica.disk() && dir == replica.dir());
    sentinel::wire::expand_from_wire(&replica);
    const uint64_t identity = collector::image_identity(replica);
    collector::HistoryFacts facts;
    facts.state = replica.state();
    facts.revision_counter = replica.revision_counter();
    facts.head_mtime_ns = replica.head_mtime_ns();
    facts.allocated_bytes = replica.allocated_bytes();
    facts.content_digest = replica.content_digest();
    facts.findings = collector::finding_codes(replica);
    sink = identity + collector::facts_hash(facts) + static_cast<size_t>(collector::worst_severity(replica));
    if (have_previous) {
      v1::Replica merged = replica;
      const bool chain_unchanged = collector::image_identity(previous) == identity;
      collector::merge_deep_results(previous, chain_unchanged, &merged);
      sink = collector::finding_codes(merged).size();
    }
    previous = std::move(replica);
    have_previous = true;
  }
}

void handle(const v1::EnvelopeView& envelope) {
  switch (envelope.body_case()) {
    case v1::EnvelopeView::kHello:
      as_hello(envelope.hello());
      return;
    case v1::EnvelopeView::kReport:
      as_store(envelope.report());
      return;
    default:
      return;  // refused by the session (UNEXPECTED)
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sentinel::fuzz::Input input(data, size);
  const size_t read_size = input.byte();
  static constexpr size_t kMaxFrames[] = {sentinel::wire::kDefaultMaxFrameBytes, 16, 300, 4096};
  FrameDecoder decoder(kMaxFrames[input.byte() % 4]);
  const std::string_view bytes = input.rest();

  google::protobuf::ArenaOptions options;  // as Session::fresh_envelope
  options.start_block_size = 4096;
  options.max_block_size = 256 * 1024;
  auto arena = std::make_unique<google::protobuf::Arena>(options);
  v1::EnvelopeView* envelope = nullptr;

  sentinel::fuzz::feed_in_reads(decoder, bytes, read_size, [&] {
    for (;;) {
      if (envelope == nullptr) envelope = google::protobuf::Arena::CreateMessage<v1::EnvelopeView>(arena.get());
      const auto status = decoder.next(envelope);
      if (status == FrameDecoder::Status::kNeedMore) return true;
      if (status != FrameDecoder::Status::kFrame) {
        FUZZ_CHECK(decoder.failed());
        FUZZ_CHECK(decoder.next(envelope) == status);
        return false;
      }
      handle(*envelope);
      if (envelope->has_report()) {  // a report's arena goes with it to the committer; the next frame gets a new one
        arena = std::make_unique<google::protobuf::Arena>(options);
        envelope = nullptr;
      }
    }
  });
  return 0;
}
