#include "scanner/replica_names.h"

#include <cstdio>

namespace sentinel::scanner {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

bool is_ascii_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid (overlongs and surrogates too).
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) { len = 2; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { len = 3; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { len = 4; cp = c & 0x07; }
  else return 0;
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  static constexpr uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

std::optional<std::string> volume_from_replica_dir(std::string_view dir_name) {
  size_t dash = dir_name.rfind('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  std::string_view suffix = dir_name.substr(dash + 1);
  if (suffix.size() != 8) return std::nullopt;
  for (char c : suffix) {
    if (!is_ascii_alnum(c)) return std::nullopt;
  }
  return std::string(dir_name.substr(0, dash));
}

ReplicaFileKind classify_replica_file(std::string_view name) {
  if (name == "volume.meta") return ReplicaFileKind::kVolumeMeta;
  if (name == "revision.counter") return ReplicaFileKind::kRevisionCounter;
  if (ends_with(name, ".tmp")) return ReplicaFileKind::kTempLeftover;  // includes ".img.checksum..tmp"
  if (ends_with(name, ".img.snap_tmp") || ends_with(name, ".img.snap_tmp.meta")) return ReplicaFileKind::kSnapTmp;
  if (ends_with(name, ".img.meta")) return ReplicaFileKind::kImageMeta;
  if (ends_with(name, ".img.checksum")) return ReplicaFileKind::kImageChecksum;
  if (ends_with(name, ".img")) return ReplicaFileKind::kImage;
  return ReplicaFileKind::kOther;
}

bool is_head_image(std::string_view n) { return starts_with(n, "volume-head-") && ends_with(n, ".img"); }
bool is_snapshot_image(std::string_view n) { return starts_with(n, "volume-snap-") && ends_with(n, ".img"); }
bool is_expansion_snapshot(std::string_view n) { return starts_with(n, "volume-snap-expand-") && ends_with(n, ".img"); }
bool is_delta_image(std::string_view n) { return starts_with(n, "volume-delta-") && ends_with(n, ".img"); }

bool name_needs_escaping(std::string_view raw) {
  for (size_t i = 0; i < raw.size();) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7F || c == '\\') return true;
    size_t len = utf8_sequence_length(raw, i);
    if (len == 0) return true;
    i += len;
  }
  return false;
}

std::string escape_name(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size();) {
    unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '\\') { out += "\\\\"; ++i; continue; }
    if (c == '\n') { out += "\\n"; ++i; continue; }
    if (c == '\t') { out += "\\t"; ++i; continue; }
    if (c == '\r') { out += "\\r"; ++i; continue; }
    size_t len = (c < 0x20 || c == 0x7F) ? 0 : utf8_sequence_length(raw, i);
    if (len == 0) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
      ++i;
      continue;
    }
    out.append(raw.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace sentinel::scanner
