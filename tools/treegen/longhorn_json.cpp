// Longhorn's metadata texts; see longhorn_json.h. nlohmann::ordered_json keeps Go's field order.
#include "tools/treegen/longhorn_json.h"

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace sentinel::treegen {
namespace {

using Json = nlohmann::ordered_json;

// Compact, like Go; invalid UTF-8 becomes U+FFFD, as Go's encoder does (and so this never throws). Go also
// escapes <, > and & (SetEscapeHTML defaults to true); they can only occur inside strings here.
std::string dump(const Json& j) {
  std::string out;
  for (char c : j.dump(-1, ' ', false, Json::error_handler_t::replace)) {
    switch (c) {
      case '<': out += "\\u003c"; break;
      case '>': out += "\\u003e"; break;
      case '&': out += "\\u0026"; break;
      default: out += c;
    }
  }
  return out;
}

struct SplitTime {
  std::tm tm{};
  int64_t frac_ns = 0;
};

SplitTime split(int64_t unix_ns) {
  int64_t secs = unix_ns / 1'000'000'000;
  int64_t frac = unix_ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    secs -= 1;
  }
  SplitTime out;
  out.frac_ns = frac;
  const std::time_t t = static_cast<std::time_t>(secs);
  gmtime_r(&t, &out.tm);
  return out;
}

}  // namespace

std::string volume_meta_json(const VolumeMetaFields& f) {
  Json j;
  j["Size"] = f.size;
  j["Head"] = f.head;
  j["Dirty"] = f.dirty;
  j["Rebuilding"] = f.rebuilding;
  j["Error"] = f.error;
  j["Parent"] = f.parent;
  j["SectorSize"] = f.sector_size;
  j["BackingFilePath"] = f.backing_file_path;
  return dump(j) + "\n";
}

std::string image_meta_json(const ImageMetaFields& f) {
  Json j;
  j["Name"] = f.name;
  j["Parent"] = f.parent;
  j["Removed"] = f.removed;
  j["UserCreated"] = f.user_created;
  j["Created"] = f.created;
  if (f.labels.empty()) {
    j["Labels"] = nullptr;
  } else {
    Json labels = Json::object();
    for (const auto& [k, v] : f.labels) labels[k] = v;  // Go marshals map keys sorted; std::map is sorted
    j["Labels"] = labels;
  }
  return dump(j) + "\n";
}

std::string checksum_json(const ChecksumFields& f) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(f.checksum));
  Json j;
  j["method"] = "crc64";
  j["checksum"] = hex;
  j["change_time"] = go_time_string_utc(f.change_time_ns);
  j["last_hashed_at"] = rfc3339_utc(f.last_hashed_at_ns);
  j["silently_corrupted"] = f.silently_corrupted;
  return dump(j) + "\n";
}

std::string disk_config_json(const std::string& disk_name, const std::string& disk_uuid) {
  Json j;
  j["diskName"] = disk_name;
  j["diskUUID"] = disk_uuid;
  return dump(j);
}

std::string revision_counter_bytes(int64_t value) {
  std::string out = std::to_string(value);
  out.resize(4096, '\0');
  return out;
}

std::string rfc3339_utc(int64_t unix_ns) {
  const SplitTime t = split(unix_ns);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &t.tm);
  return buf;
}

std::string go_time_string_utc(int64_t unix_ns) {
  const SplitTime t = split(unix_ns);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &t.tm);
  std::string out = buf;
  if (t.frac_ns != 0) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%09lld", static_cast<long long>(t.frac_ns));
    std::string frac = digits;
    while (frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + " +0000 UTC";
}

}  // namespace sentinel::treegen
