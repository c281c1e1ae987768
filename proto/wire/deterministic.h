// Protobuf bytes that are the same for equal messages. Protobuf's default serialization may order map entries
// (Image.labels) differently from one call to the next; where bytes are compared or hashed (the collector's
// replica fingerprints, the wire form's round-trip check), they come from here.
#pragma once

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message_lite.h>

#include <string>

namespace sentinel::wire {

// Replaces *out with the deterministic serialization of `message`.
inline void serialize_deterministic(const google::protobuf::MessageLite& message, std::string* out) {
  out->clear();
  google::protobuf::io::StringOutputStream stream(out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  message.SerializeToCodedStream(&coded);
}

inline std::string deterministic_bytes(const google::protobuf::MessageLite& message) {
  std::string out;
  serialize_deterministic(message, &out);
  return out;
}

}  // namespace sentinel::wire
