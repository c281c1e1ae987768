// The replica's wire form (proto/wire/wire_form.h), which the collector undoes on every replica an agent sends:
// any bytes that parse as a sentinel.v1.Replica through expand_from_wire. Never a crash; expanding is idempotent;
// and for a replica as a scan makes it (no wire-only field, numbers 60+, set anywhere in it),
// expand_from_wire(compact_for_wire(r)) == r.

#include <string>
#include <vector>

#include "proto/wire/deterministic.h"
#include "proto/wire/wire_form.h"
#include "tests/fuzz/fuzz_protobuf.h"
#include "tests/fuzz/fuzz_support.h"

namespace v1 = sentinel::v1;

namespace {

// Drops every wire-only field: by inventory.proto's convention those are the fields numbered 60 and up, in the
// Replica and in every message inside it. What is left is a replica a scan could have returned.
void clear_wire_only(google::protobuf::Message* message) {
  const auto* reflection = message->GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(*message, &fields);
  for (const auto* field : fields) {
    if (field->number() >= 60) {
      reflection->ClearField(message, field);
    } else if (field->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      if (!field->is_repeated()) {
        clear_wire_only(reflection->MutableMessage(message, field));
      } else if (!field->is_map()) {
        for (int i = 0; i < reflection->FieldSize(*message, field); ++i) {
          clear_wire_only(reflection->MutableRepeatedMessage(message, field, i));
        }
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  v1::Replica received;
  if (!received.ParseFromArray(data, static_cast<int>(size))) return 0;

  v1::Replica expanded = received;
  sentinel::wire::expand_from_wire(&expanded);
  FUZZ_CHECK(!expanded.has_wire_form());
  v1::Replica twice = expanded;
  sentinel::wire::expand_from_wire(&twice);
  FUZZ_CHECK(sentinel::wire::deterministic_bytes(twice) == sentinel::wire::deterministic_bytes(expanded));

  v1::Replica scanned = received;
  clear_wire_only(&scanned);
  v1::Replica round_trip = scanned;
  sentinel::wire::compact_for_wire(&round_trip);
  sentinel::wire::expand_from_wire(&round_trip);
  FUZZ_CHECK(sentinel::wire::deterministic_bytes(round_trip) == sentinel::wire::deterministic_bytes(scanned));
  return 0;
}
