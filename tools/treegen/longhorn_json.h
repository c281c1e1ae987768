// The small text files of a Longhorn v1 replica, byte for byte as longhorn-engine v1.5.3 writes them
// (shared/fixtures/README.md): Go's json.Encoder output, fields in Go struct order, one line, trailing "\n";
// longhorn-disk.cfg is json.Marshal output (no newline); revision.counter is NUL-padded to 4096 bytes.
// Pure functions, no I/O, no exceptions (invalid UTF-8 in a name is replaced, as Go's encoder does).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace sentinel::treegen {

struct VolumeMetaFields {
  int64_t size = 0;
  std::string head;
  bool dirty = false;
  bool rebuilding = false;
  std::string error;
  std::string parent;
  int64_t sector_size = 512;
  std::string backing_file_path;
};

struct ImageMetaFields {
  std::string name;    // Longhorn's (often stale) Name field
  std::string parent;  // "" for the oldest layer
  bool removed = false;
  bool user_created = false;
  std::string created;                        // RFC 3339 UTC, seconds
  std::map<std::string, std::string> labels;  // empty -> null
};

struct ChecksumFields {
  uint64_t checksum = 0;
  int64_t change_time_ns = 0;     // the image file's ctime when it was hashed
  int64_t last_hashed_at_ns = 0;  // wall clock of the hashing
  bool silently_corrupted = false;
};

std::string volume_meta_json(const VolumeMetaFields& fields);
std::string image_meta_json(const ImageMetaFields& fields);
std::string checksum_json(const ChecksumFields& fields);
std::string disk_config_json(const std::string& disk_name, const std::string& disk_uuid);
// `value` as ASCII decimal at offset 0 followed by NULs up to exactly 4096 bytes.
std::string revision_counter_bytes(int64_t value);

// "2024-02-25T23:10:17Z" (Go time.Time marshalled at second precision, as Longhorn's Created is).
std::string rfc3339_utc(int64_t unix_ns);
// Go's time.String() in UTC: "2024-03-05 08:12:33.123456789 +0000 UTC", fraction's trailing zeros dropped.
std::string go_time_string_utc(int64_t unix_ns);

}  // namespace sentinel::treegen
