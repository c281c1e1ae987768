// Longhorn metadata parsing modelled on Go's encoding/json; see longhorn_metadata.h.
#include "scanner/longhorn_metadata.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace sentinel::scanner {
namespace {

using nlohmann::json;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Go matches JSON keys to struct fields exactly first, then case-insensitively; the last matching key wins.
const json* find_field(const json& object, std::string_view field) {
  const json* found = nullptr;
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (iequals(it.key(), field)) found = &it.value();
  }
  auto exact = object.find(std::string(field));
  if (exact != object.end()) found = &*exact;
  return found;
}

// Each reader leaves `out` alone on null/absent and returns an error message on a wrong type.
std::optional<std::string> read_string(const json& obj, std::string_view field, std::string& out) {
  const json* v = find_field(obj, field);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_string()) return std::string(field) + " is not a string";
  out = v->get<std::string>();
  return std::nullopt;
}

std::optional<std::string> read_bool(const json& obj, std::string_view field, bool& out) {
  const json* v = find_field(obj, field);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (!v->is_boolean()) return std::string(field) + " is not true/false";
  out = v->get<bool>();
  return std::nullopt;
}

std::optional<std::string> read_int64(const json& obj, std::string_view field, int64_t& out) {
  const json* v = find_field(obj, field);
  if (v == nullptr || v->is_null()) return std::nullopt;
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      return std::string(field) + " does not fit in int64";
    }
    out = v->get<int64_t>();
    return std::nullopt;
  }
  return std::string(field) + " is not an integer";
}

ParseResult<json> parse_object(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::string("empty file");
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return std::string("not valid JSON");
  if (!doc.is_object()) return std::string("JSON is not an object");
  return doc;
}

// Runs the readers in order and stops at the first type error.
template <typename... Checks>
std::optional<std::string> first_error(Checks&&... checks) {
  std::optional<std::string> err;
  ((err ? void() : void(err = checks)), ...);
  return err;
}

}  // namespace

ParseResult<VolumeMeta> parse_volume_meta(std::string_view text) {
  auto doc = parse_object(text);
  if (auto* why = std::get_if<std::string>(&doc)) return *why;
  const json& o = std::get<json>(doc);
  VolumeMeta m;
  if (auto err = first_error(read_int64(o, "Size", m.size), read_string(o, "Head", m.head),
                             read_bool(o, "Dirty", m.dirty), read_bool(o, "Rebuilding", m.rebuilding),
                             read_string(o, "Error", m.error), read_string(o, "Parent", m.parent),
                             read_int64(o, "SectorSize", m.sector_size),
                             read_string(o, "BackingFilePath", m.backing_file_path))) {
    return *err;
  }
  return m;
}

ParseResult<ImageMeta> parse_image_meta(std::string_view text) {
  auto doc = parse_object(text);
  if (auto* why = std::get_if<std::string>(&doc)) return *why;
  const json& o = std::get<json>(doc);
  ImageMeta m;
  if (auto err = first_error(read_string(o, "Name", m.name), read_string(o, "Parent", m.parent),
                             read_bool(o, "Removed", m.removed), read_bool(o, "UserCreated", m.user_created),
                             read_string(o, "Created", m.created))) {
    return *err;
  }
  if (const json* labels = find_field(o, "Labels"); labels != nullptr && !labels->is_null()) {
    if (!labels->is_object()) return std::string("Labels is not an object");
    for (auto it = labels->begin(); it != labels->end(); ++it) {
      if (!it.value().is_string()) return "label " + it.key() + " is not a string";
      m.labels[it.key()] = it.value().get<std::string>();
    }
  }
  return m;
}

ParseResult<ChecksumFile> parse_checksum_file(std::string_view text) {
  auto doc = parse_object(text);
  if (auto* why = std::get_if<std::string>(&doc)) return *why;
  const json& o = std::get<json>(doc);
  ChecksumFile c;
  if (auto err = first_error(read_string(o, "method", c.method), read_string(o, "checksum", c.checksum),
                             read_string(o, "change_time", c.change_time),
                             read_string(o, "last_hashed_at", c.last_hashed_at),
                             read_bool(o, "silently_corrupted", c.silently_corrupted))) {
    return *err;
  }
  return c;
}

ParseResult<DiskConfig> parse_disk_config(std::string_view text) {
  auto doc = parse_object(text);
  if (auto* why = std::get_if<std::string>(&doc)) return *why;
  DiskConfig c;
  if (auto err = read_string(std::get<json>(doc), "diskUUID", c.disk_uuid)) return *err;
  return c;
}

ParseResult<int64_t> parse_revision_counter(std::string_view bytes) {
  // Longhorn: strings.Trim(string(buf), "\x00") then strconv.ParseInt(s, 10, 64).
  size_t begin = bytes.find_first_not_of('\0');
  if (begin == std::string_view::npos) return std::string("file holds no digits (all NUL or empty)");
  size_t end = bytes.find_last_not_of('\0') + 1;
  std::string_view digits = bytes.substr(begin, end - begin);
  int64_t value = 0;
  const char* first = digits.data();
  const char* last = digits.data() + digits.size();
  // ParseInt takes one sign, '+' or '-', then digits only: "+-5" is not a number to Go (from_chars alone would
  // read -5 after the '+').
  if (!digits.empty() && digits.front() == '+') {
    ++first;
    if (first != last && *first == '-') return std::string("not a decimal number (a sign after the '+')");
  }
  auto [ptr, ec] = std::from_chars(first, last, value);
  if (ec == std::errc::result_out_of_range) return std::string("counter does not fit in int64");
  if (ec != std::errc() || ptr != last || first == last) {
    return "not a decimal number (" + std::to_string(digits.size()) + " bytes of text)";
  }
  return value;
}

std::string go_time_string_utc(int64_t unix_ns) {
  int64_t secs = unix_ns / 1'000'000'000;
  int64_t frac = unix_ns % 1'000'000'000;
  if (frac < 0) {
    frac += 1'000'000'000;
    secs -= 1;
  }
  std::time_t t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char base[64];
  std::strftime(base, sizeof base, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out = base;
  if (frac != 0) {
    char digits[16];
    std::snprintf(digits, sizeof digits, "%09lld", static_cast<long long>(frac));
    std::string f = digits;
    while (!f.empty() && f.back() == '0') f.pop_back();
    out += "." + f;
  }
  out += " +0000 UTC";
  return out;
}

}  // namespace sentinel::scanner
