// What the store derives from one reported sentinel.v1.Replica: the replica's identity for "is the last deep
// scan still true", its history facts, its findings in one column. Pure functions, any thread.
#pragma once

#include <cstdint>
#include <string>

#include "sentinel/v1/inventory.pb.h"

namespace sentinel::collector {

// A hash of what the content of the chain depends on: the volume size and, for every image in the chain (head
// first), its name, inode, apparent size, mtime and ctime. Equal identities mean a deep scan's digest and
// checksums still describe the replica (the deep scanner's own "unchanged image" rule); a written head changes it.
uint64_t image_identity(const v1::Replica& replica);

// The replica's finding codes, sorted, unique, comma separated ("DIRTY,ORPHAN_IMAGE"); "" when none.
std::string finding_codes(const v1::Replica& replica);
// The highest Finding::Severity among its findings (SEVERITY_UNSPECIFIED = 0 when none).
int worst_severity(const v1::Replica& replica);

// The facts replica_history records; a history row is written when their hash changes.
struct HistoryFacts {
  int state = 0;
  int64_t revision_counter = 0;
  int64_t head_mtime_ns = 0;
  uint64_t allocated_bytes = 0;
  std::string content_digest;  // the digest that holds now ("" = unknown)
  std::string findings;        // finding_codes()
};
uint64_t facts_hash(const HistoryFacts& facts);

// 64-bit XXH3 of bytes (fingerprints of stored blobs).
uint64_t bytes_hash(std::string_view bytes);

// Reads a serialized sentinel.v1.Replica's disk (field 1) and dir (field 2) without parsing the rest: the
// views point into `bytes`. False when the bytes are not a well-formed protobuf message (a field that runs past
// the end, a group, a bad varint); absent fields are empty.
bool replica_key_from_bytes(std::string_view bytes, std::string_view* disk, std::string_view* dir);

// Carries what only a deep scan computes from the last deep report of a replica (`deep`) into a newer quick
// report of it (`latest`), so a quick scan does not erase deep results that still hold:
// - per image, matched by name, when its inode, apparent size, mtime and ctime are unchanged: crc64,
//   stored_checksum, deep_read_bytes, and the deep scan's checksum findings about that image (codes 40+);
// - when `chain_unchanged` (image_identity equal): content_digest and content too.
// Nothing is overwritten that `latest` already has. Returns true when anything was copied.
bool merge_deep_results(const v1::Replica& deep, bool chain_unchanged, v1::Replica* latest);

}  // namespace sentinel::collector
