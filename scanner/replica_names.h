// Names in a Longhorn disk: replica directory names and the files inside a replica directory.
// Pure functions, no I/O, safe from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sentinel::scanner {

// `<volume>-<8 [a-zA-Z0-9]>`, Longhorn's orphan-scan rule: the volume is everything before the last '-'.
// Returns nullopt when the name does not fit (Longhorn would not treat the directory as a replica).
std::optional<std::string> volume_from_replica_dir(std::string_view dir_name);

enum class ReplicaFileKind {
  kVolumeMeta,        // volume.meta
  kRevisionCounter,   // revision.counter
  kImage,             // *.img (head, snapshot, delta)
  kImageMeta,         // *.img.meta
  kImageChecksum,     // *.img.checksum
  kSnapTmp,           // *.img.snap_tmp (restore leftover), its .meta too
  kTempLeftover,      // *.tmp, *.img.checksum..tmp (interrupted atomic write)
  kOther,             // anything else
};

ReplicaFileKind classify_replica_file(std::string_view name);

// For an .img name: "volume-head-NNN.img" -> true.
bool is_head_image(std::string_view image_name);
bool is_snapshot_image(std::string_view image_name);
bool is_expansion_snapshot(std::string_view image_name);
bool is_delta_image(std::string_view image_name);

// Printable, valid UTF-8 form of a raw file name: control characters and invalid UTF-8 bytes become
// C-style escapes (\n, \t, \xNN) and a backslash becomes "\\". Names that need no escaping come back as is.
std::string escape_name(std::string_view raw);
bool name_needs_escaping(std::string_view raw);

}  // namespace sentinel::scanner
