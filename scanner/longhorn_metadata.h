// Parsers for the small metadata files of a Longhorn v1 replica directory, exactly as Longhorn reads them
// (LONGHORN-FORMAT.md). Pure functions over bytes: no I/O, no exceptions, safe from any thread.
//
// Go's encoding/json is the reference: keys match case-insensitively, unknown keys are ignored, a wrong type
// for a known key is an error, `null` leaves a field at its zero value. Each parser returns either the value
// or a one-line reason a person can act on.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sentinel::scanner {

template <typename T>
using ParseResult = std::variant<T, std::string>;  // the value, or why it could not be parsed

// Upper bounds on what Longhorn writes; anything larger is refused unread (a corrupt or hostile file).
inline constexpr size_t kMaxMetaFileBytes = 64 * 1024;
inline constexpr size_t kRevisionCounterFileBytes = 4096;

struct VolumeMeta {
  int64_t size = 0;
  std::string head;
  bool dirty = false;
  bool rebuilding = false;
  std::string error;
  std::string parent;
  int64_t sector_size = 0;
  std::string backing_file_path;
};

struct ImageMeta {
  std::string name;  // the stale Name field; callers use the file name instead
  std::string parent;
  bool removed = false;
  bool user_created = false;
  std::string created;
  std::map<std::string, std::string> labels;
};

struct ChecksumFile {
  std::string method;
  std::string checksum;
  std::string change_time;
  std::string last_hashed_at;
  bool silently_corrupted = false;
};

struct DiskConfig {
  std::string disk_uuid;
};

ParseResult<VolumeMeta> parse_volume_meta(std::string_view text);
ParseResult<ImageMeta> parse_image_meta(std::string_view text);
ParseResult<ChecksumFile> parse_checksum_file(std::string_view text);
ParseResult<DiskConfig> parse_disk_config(std::string_view text);
// revision.counter: ASCII decimal at offset 0, NUL-padded (to 4096 bytes). NULs stripped, int64 parsed.
ParseResult<int64_t> parse_revision_counter(std::string_view bytes);

// Go's time.String() for a ctime ("2024-03-05 08:12:33.123456789 +0000 UTC"), as written in
// .img.checksum change_time: trailing zeros of the fraction are dropped, no fraction when it is zero.
std::string go_time_string_utc(int64_t unix_ns);

}  // namespace sentinel::scanner
