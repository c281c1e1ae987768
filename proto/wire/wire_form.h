// The replica's wire form on the agent -> collector link (inventory.proto, message WireForm).
//
// Most of a report's bytes are text, and much of that text is said twice: the chain repeats the image names,
// head and parent repeat the chain, every image repeats its parent's name, finding paths repeat the replica
// directory, digests and checksums travel as hex, timestamps as formatted strings. The wire form sends each of
// those once, or as the number it stands for.
//
// Contract:
// - expand_from_wire(compact_for_wire(r)) == r, field for field, for EVERY replica: a field is left out only
//   when the rule that restores it gives back exactly the same value (checked while compacting, not assumed),
//   so odd input (a chain naming a missing image, a timestamp in a zone Longhorn does not use, upper-case hex)
//   simply stays as it was.
// - expand_from_wire() of a replica that was never compacted changes nothing: receivers always expand, and a
//   sender that does not compact (an older agent) still works.
// - Pure functions on the message; no I/O, no allocation beyond the strings they restore.
#pragma once

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::wire {

// Rewrites `replica` into its wire form (in place). Returns false when the rules did not restore exactly and
// the replica was left as it was (correct, only larger; tests assert it never happens).
bool compact_for_wire(v1::Replica* replica);
// Restores every field the wire form left out (in place). Idempotent.
void expand_from_wire(v1::Replica* replica);

// Both, over every replica of an inventory.
void compact_for_wire(v1::Inventory* inventory);
void expand_from_wire(v1::Inventory* inventory);

}  // namespace sentinel::wire
