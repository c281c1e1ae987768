// Framing of the wire protocol (sentinel/v1/wire.proto): a varint length, then one serialized Envelope,
// written and parsed with protobuf's delimited-message helpers.
//
// FrameDecoder is the receiving side for any transport (Asio sockets, blocking fds, fuzzers): bytes go in as
// they arrive, whole Envelopes come out. It never buffers more than one frame plus what the caller fed: a
// length prefix above the maximum is reported as kTooLarge as soon as the prefix is complete, before any
// payload is accepted. After kTooLarge or kMalformed the decoder stays failed; the connection must be closed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sentinel/v1/wire.pb.h"

namespace sentinel::wire {

// Big enough for a deep inventory with chunk lists of a few hundred replicas; small enough that a hostile
// peer cannot make a receiver allocate much. Receivers may configure their own.
constexpr size_t kDefaultMaxFrameBytes = 64u << 20;

// The varint length prefix followed by the envelope's bytes.
std::string encode_frame(const v1::Envelope& envelope);

class FrameDecoder {
 public:
  enum class Status {
    kFrame,     // *out holds the next envelope
    kNeedMore,  // feed more bytes
    kTooLarge,  // the length prefix exceeds max_frame_bytes (or is not a valid varint32)
    kMalformed, // the frame's bytes do not parse as an Envelope
  };

  explicit FrameDecoder(size_t max_frame_bytes = kDefaultMaxFrameBytes);

  void feed(std::string_view bytes);
  Status next(v1::Envelope* out) { return next(static_cast<google::protobuf::MessageLite*>(out)); }
  // The same into any message the frame's bytes parse as: e.g. a wire-compatible view of Envelope
  // (wire.proto's EnvelopeView, which keeps replicas as bytes for the collector).
  Status next(google::protobuf::MessageLite* out);

  size_t max_frame_bytes() const { return max_frame_bytes_; }
  // Bytes received but not yet returned as envelopes.
  size_t buffered() const { return buffer_.size() - consumed_; }
  // The declared length of the frame being received, once its prefix is complete (0 otherwise).
  size_t declared_length() const { return declared_length_; }
  bool failed() const { return failure_ != Status::kNeedMore; }

 private:
  size_t max_frame_bytes_;
  std::string buffer_;
  size_t consumed_ = 0;
  size_t declared_length_ = 0;
  Status failure_ = Status::kNeedMore;  // kNeedMore = not failed
};

// A human-readable name of an envelope's body ("report", "ack", ...), for logs and errors.
const char* body_name(const v1::Envelope& envelope);

// An Error envelope.
v1::Envelope make_error(v1::Error::Code code, std::string message);

}  // namespace sentinel::wire
