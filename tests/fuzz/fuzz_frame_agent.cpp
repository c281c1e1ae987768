// Frames received by the agent and by sentinelctl: any bytes, split into reads of any size, through the
// FrameDecoder (proto/wire/frame_codec.h) into sentinel.v1.Envelope, and every decoded envelope through what its
// receiver reads of it: the agent's reporter (the collector's HelloAck, Ack, Error), the agent's control socket
// (sentinelctl's StatusRequest, ScanRequest), sentinelctl (Progress, AgentStatus, ScanResult whose inventory it
// prints as a table and as JSON).
//
// Input: byte 0 = read size (0: all at once), byte 1 = the receiver's maximum frame size (one of four), then the
// bytes as they arrive. Invariants: the decoder never buffers more than it was fed; a decoder that failed stays
// failed with the same status; a decoded envelope re-encodes to a frame that decodes to the same envelope.
#include <google/protobuf/util/message_differencer.h>

#include <sstream>
#include <string>

#include "proto/wire/frame_codec.h"
#include "tests/fuzz/fuzz_protobuf.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/sentinelctl/inventory_output.h"

using sentinel::wire::FrameDecoder;
namespace v1 = sentinel::v1;

namespace {

volatile size_t sink;  // keeps the reads below from being optimized away

// Reporter::on_envelope: what the agent reads of the collector's replies.
void as_reporter(const v1::Envelope& envelope) {
  switch (envelope.body_case()) {
    case v1::Envelope::kHelloAck:
      sink = envelope.hello_ack().protocol_version() + envelope.hello_ack().collector_version().size() +
             envelope.hello_ack().highest_sequence();
      return;
    case v1::Envelope::kAck:
      sink = envelope.ack().sequence() + envelope.ack().duplicate();
      return;
    case v1::Envelope::kError:
      sink = ("collector refused: " + envelope.error().message() + " (" +
              v1::Error::Code_Name(envelope.error().code()) + ")")
                 .size();
      return;
    default:
      sink = (std::string("unexpected ") + sentinel::wire::body_name(envelope) + " from the collector").size();
      return;
  }
}

// ControlServer's dispatch: what the agent reads of sentinelctl's request.
void as_control_socket(const v1::Envelope& envelope) {
  if (envelope.has_scan_request()) {
    const auto& scan = envelope.scan_request();
    sink = (scan.kind() == v1::DEEP) + scan.volume().size() + v1::ScanKind_Name(scan.kind()).size();
  }
}

// sentinelctl status / scan --socket: what it reads and prints of the agent's replies.
void as_sentinelctl(const v1::Envelope& envelope) {
  if (envelope.has_progress()) {
    const auto& p = envelope.progress();
    sink = p.phase().size() + p.done_bytes() + p.total_bytes() + p.replicas_done() + p.current().size();
  } else if (envelope.has_status()) {
    sink = sentinel::tools::message_to_json(envelope.status(), true).size();
  } else if (envelope.has_scan_result()) {
    const auto& inventory = envelope.scan_result().inventory();
    std::ostringstream table;
    sentinel::tools::print_inventory_table(inventory, table);
    sink = table.str().size() + sentinel::tools::inventory_to_json(inventory, false).size();
  }
}

void check_round_trip(const v1::Envelope& envelope) {
  FrameDecoder decoder;
  decoder.feed(sentinel::wire::encode_frame(envelope));
  v1::Envelope again;
  FUZZ_CHECK(decoder.next(&again) == FrameDecoder::Status::kFrame);
  FUZZ_CHECK(decoder.buffered() == 0);
  FUZZ_CHECK(google::protobuf::util::MessageDifferencer::Equals(envelope, again));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  sentinel::fuzz::Input input(data, size);
  const size_t read_size = input.byte();
  static constexpr size_t kMaxFrames[] = {sentinel::wire::kDefaultMaxFrameBytes, 16, 300, 4096};
  FrameDecoder decoder(kMaxFrames[input.byte() % 4]);
  sentinel::fuzz::feed_in_reads(decoder, input.rest(), read_size, [&] {
    for (;;) {
      v1::Envelope envelope;
      const auto status = decoder.next(&envelope);
      if (status == FrameDecoder::Status::kNeedMore) {
        FUZZ_CHECK(!decoder.failed());
        return true;
      }
      if (status != FrameDecoder::Status::kFrame) {
        FUZZ_CHECK(decoder.failed());
        FUZZ_CHECK(decoder.next(&envelope) == status);
        decoder.feed("more");
        FUZZ_CHECK(decoder.next(&envelope) == status);
        if (status == FrameDecoder::Status::kTooLarge && decoder.declared_length() > 0) {
          FUZZ_CHECK(decoder.declared_length() > decoder.max_frame_bytes());
        }
        return false;
      }
      as_reporter(envelope);
      as_control_socket(envelope);
      as_sentinelctl(envelope);
      check_round_trip(envelope);
    }
  });
  return 0;
}
