#include "proto/wire/frame_codec.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/util/delimited_message_util.h>

namespace sentinel::wire {

namespace {

// Reads the varint32 length prefix at data[0..size). Returns the prefix's byte count, 0 when more bytes are
// needed, -1 when it is not a valid varint32 (more than 5 bytes, or a value above 32 bits).
int peek_length_prefix(const char* data, size_t size, uint64_t* length) {
  uint64_t value = 0;
  for (size_t i = 0; i < 5; ++i) {
    if (i >= size) return 0;
    const auto byte = static_cast<uint8_t>(data[i]);
    value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
    if ((byte & 0x80) == 0) {
      if (value > UINT32_MAX) return -1;
      *length = value;
      return static_cast<int>(i + 1);
    }
  }
  return -1;
}

}  // namespace

std::string encode_frame(const v1::Envelope& envelope) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::util::SerializeDelimitedToZeroCopyStream(envelope, &stream);
  }
  return out;
}

FrameDecoder::FrameDecoder(size_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

void FrameDecoder::feed(std::string_view bytes) {
  if (failed()) return;
  // Compact before growing so a long-lived connection's buffer holds at most about one frame.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

FrameDecoder::Status FrameDecoder::next(google::protobuf::MessageLite* out) {
  if (failed()) return failure_;
  const char* data = buffer_.data() + consumed_;
  const size_t available = buffer_.size() - consumed_;
  uint64_t length = 0;
  const int prefix = peek_length_prefix(data, available, &length);
  if (prefix < 0) return failure_ = Status::kTooLarge;
  if (prefix == 0) return Status::kNeedMore;
  if (length > max_frame_bytes_) {
    declared_length_ = length;
    return failure_ = Status::kTooLarge;
  }
  declared_length_ = length;
  if (available < prefix + length) return Status::kNeedMore;

  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(data),
                                               static_cast<int>(prefix + length));
  bool clean_eof = false;
  out->Clear();
  if (!google::protobuf::util::ParseDelimitedFromCodedStream(out, &input, &clean_eof)) {
    return failure_ = Status::kMalformed;
  }
  consumed_ += prefix + length;
  declared_length_ = 0;
  if (consumed_ == buffer_.size()) {
    buffer_.clear();
    consumed_ = 0;
  }
  return Status::kFrame;
}

const char* body_name(const v1::Envelope& envelope) {
  switch (envelope.body_case()) {
    case v1::Envelope::kHello: return "hello";
    case v1::Envelope::kHelloAck: return "hello_ack";
    case v1::Envelope::kReport: return "report";
    case v1::Envelope::kAck: return "ack";
    case v1::Envelope::kError: return "error";
    case v1::Envelope::kStatusRequest: return "status_request";
    case v1::Envelope::kScanRequest: return "scan_request";
    case v1::Envelope::kProgress: return "progress";
    case v1::Envelope::kScanResult: return "scan_result";
    case v1::Envelope::kStatus: return "status";
    case v1::Envelope::BODY_NOT_SET: return "empty envelope";
  }
  return "unknown";
}

v1::Envelope make_error(v1::Error::Code code, std::string message) {
  v1::Envelope envelope;
  envelope.mutable_error()->set_code(code);
  envelope.mutable_error()->set_message(std::move(message));
  return envelope;
}

}  // namespace sentinel::wire
