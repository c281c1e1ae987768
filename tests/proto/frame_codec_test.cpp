// The frame codec: round trips, frames split at every byte, several frames in one read, and the failures a
// hostile or broken peer can cause (oversized prefix, invalid varint, bytes that are not an Envelope).
#include "proto/wire/frame_codec.h"

#include <gtest/gtest.h>

namespace sentinel::wire {
namespace {

v1::Envelope sample_report(uint64_t sequence) {
  v1::Envelope envelope;
  auto* report = envelope.mutable_report();
  report->set_sequence(sequence);
  report->set_kind(v1::QUICK);
  report->mutable_inventory()->set_node("worker-1");
  report->mutable_inventory()->add_replicas()->set_dir("pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d-1a2b3c4d");
  return envelope;
}

TEST(FrameCodec, RoundTripsOneFrameFedByteByByte) {
  const std::string frame = encode_frame(sample_report(7));
  FrameDecoder decoder;
  v1::Envelope out;
  for (size_t i = 0; i + 1 < frame.size(); ++i) {
    decoder.feed(std::string_view(frame).substr(i, 1));
    ASSERT_EQ(decoder.next(&out), FrameDecoder::Status::kNeedMore) << "at byte " << i;
  }
  decoder.feed(std::string_view(frame).substr(frame.size() - 1));
  ASSERT_EQ(decoder.next(&out), FrameDecoder::Status::kFrame);
  EXPECT_EQ(out.report().sequence(), 7u);
  EXPECT_EQ(out.report().inventory().node(), "worker-1");
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameCodec, DecodesSeveralFramesFromOneRead) {
  std::string bytes;
  for (uint64_t s = 1; s <= 3; ++s) bytes += encode_frame(sample_report(s));
  v1::Envelope empty;  // an empty Envelope is a zero-length frame and must still decode
  bytes += encode_frame(empty);
  FrameDecoder decoder;
  decoder.feed(bytes);
  v1::Envelope out;
  for (uint64_t s = 1; s <= 3; ++s) {
    ASSERT_EQ(decoder.next(&out), FrameDecoder::Status::kFrame);
    EXPECT_EQ(out.report().sequence(), s);
  }
  ASSERT_EQ(decoder.next(&out), FrameDecoder::Status::kFrame);
  EXPECT_EQ(out.body_case(), v1::Envelope::BODY_NOT_SET);
  EXPECT_EQ(decoder.next(&out), FrameDecoder::Status::kNeedMore);
}

TEST(FrameCodec, RefusesAnOversizedPrefixBeforeThePayloadArrives) {
  FrameDecoder decoder(1024);
  const std::string frame = encode_frame(sample_report(1));
  ASSERT_LT(frame.size(), 1024u);
  // A prefix of 1 MiB: varint 0x80 0x80 0x40.
  decoder.feed(std::string("\x80\x80\x40", 3));
  v1::Envelope out;
  EXPECT_EQ(decoder.next(&out), FrameDecoder::Status::kTooLarge);
  EXPECT_EQ(decoder.declared_length(), 1u << 20);
  // Failed for good: a valid frame afterwards is not accepted.
  decoder.feed(frame);
  EXPECT_EQ(decoder.next(&out), FrameDecoder::Status::kTooLarge);
}

TEST(FrameCodec, RefusesAVarintLongerThanFiveBytes) {
  FrameDecoder decoder;
  decoder.feed(std::string(6, '\xff'));
  v1::Envelope out;
  EXPECT_EQ(decoder.next(&out), FrameDecoder::Status::kTooLarge);
}

TEST(FrameCodec, ReportsBytesThatAreNotAnEnvelopeAsMalformed) {
  FrameDecoder decoder;
  // Length 3, then field 1 (hello) as length-delimited with a length that runs past the frame.
  decoder.feed(std::string("\x03\x0a\x7f\x00", 4));
  v1::Envelope out;
  EXPECT_EQ(decoder.next(&out), FrameDecoder::Status::kMalformed);
  EXPECT_TRUE(decoder.failed());
}

TEST(FrameCodec, NamesBodiesForLogs) {
  EXPECT_STREQ(body_name(sample_report(1)), "report");
  EXPECT_STREQ(body_name(make_error(v1::Error::BAD_HELLO, "x")), "error");
  EXPECT_EQ(make_error(v1::Error::BAD_HELLO, "empty node").error().message(), "empty node");
}

}  // namespace
}  // namespace sentinel::wire
