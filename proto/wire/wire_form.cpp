#include "proto/wire/wire_form.h"

#include "proto/wire/civil_date.h"
#include "proto/wire/deterministic.h"
#include "proto/wire/hex.h"


#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sentinel::wire {
namespace {

using v1::WireForm;

// ---- civil time (UTC, proleptic Gregorian; civil_from_days is the inverse of civil_date.h) ---------------

struct Civil {
  int64_t year;
  unsigned month, day, hour, minute, second;
};

Civil civil_from_seconds(int64_t seconds) {
  int64_t days = seconds / 86400;
  int64_t rest = seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned day = doy - (153 * mp + 2) / 5 + 1;
  const unsigned month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2);
  return {year, month, day, static_cast<unsigned>(rest / 3600), static_cast<unsigned>(rest % 3600 / 60),
          static_cast<unsigned>(rest % 60)};
}

// Years whose nanosecond instants fit an int64 comfortably.
constexpr int64_t kFirstYear = 1800;
constexpr int64_t kLastYear = 2200;

// Writes `value` as exactly `digits` decimal digits (zero-padded) at `out`. The collector expands every changed
// replica's timestamps, so this stays off snprintf (which showed in its profile).
void put_digits(char* out, uint64_t value, int digits) {
  for (int i = digits - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

// "YYYY-MM-DD?HH:MM:SS" (years outside 0..9999 never reach here: parsing accepts kFirstYear..kLastYear only).
std::string format_date_time(int64_t seconds, char separator) {
  const Civil c = civil_from_seconds(seconds);
  std::string out(19, '\0');
  put_digits(&out[0], static_cast<uint64_t>(c.year < 0 ? 0 : c.year % 10000), 4);
  out[4] = '-';
  put_digits(&out[5], c.month, 2);
  out[7] = '-';
  put_digits(&out[8], c.day, 2);
  out[10] = separator;
  put_digits(&out[11], c.hour, 2);
  out[13] = ':';
  put_digits(&out[14], c.minute, 2);
  out[16] = ':';
  put_digits(&out[17], c.second, 2);
  return out;
}

// "YYYY-MM-DD?HH:MM:SS" at the start of `text` (any separator at 10) -> seconds since the epoch. Loose on
// purpose (no range checks beyond the digits): the caller keeps the value only if formatting it back gives
// the very same text.
bool parse_date_time(std::string_view text, int64_t* seconds) {
  if (text.size() < 19) return false;
  auto number = [&](size_t at, size_t digits, unsigned* out) {
    unsigned value = 0;
    for (size_t i = at; i < at + digits; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
    }
    *out = value;
    return true;
  };
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!number(0, 4, &year) || text[4] != '-' || !number(5, 2, &month) || text[7] != '-' || !number(8, 2, &day) ||
      !number(11, 2, &hour) || text[13] != ':' || !number(14, 2, &minute) || text[16] != ':' ||
      !number(17, 2, &second)) {
    return false;
  }
  if (year < kFirstYear || year > kLastYear || month < 1 || month > 12 || day < 1 || day > 31) return false;
  *seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return true;
}

// RFC 3339 in whole seconds, UTC, as Longhorn's util.Now() writes it: "2024-03-05T14:13:00Z".
std::string format_rfc3339(int64_t seconds) { return format_date_time(seconds, 'T') + "Z"; }

bool parse_rfc3339(std::string_view text, int64_t* seconds) {
  int64_t value = 0;
  if (text.size() != 20 || !parse_date_time(text, &value)) return false;
  if (format_rfc3339(value) != text) return false;
  *seconds = value;
  return true;
}

// Go's time.Time.String() of a UTC instant, as Longhorn records a file's ctime in .img.checksum:
// "2026-11-24 23:02:15.377721684 +0000 UTC" (fraction without trailing zeros; none when zero).
std::string format_go_utc(int64_t ns) {
  int64_t seconds = ns / 1000000000;
  int64_t fraction = ns % 1000000000;
  if (fraction < 0) {
    fraction += 1000000000;
    --seconds;
  }
  std::string out = format_date_time(seconds, ' ');
  if (fraction != 0) {
    char digits[10] = {'.'};
    put_digits(digits + 1, static_cast<uint64_t>(fraction), 9);
    std::string_view trimmed(digits, sizeof digits);
    while (trimmed.back() == '0') trimmed.remove_suffix(1);
    out.append(trimmed);
  }
  out.append(" +0000 UTC");
  return out;
}

bool parse_go_utc(std::string_view text, int64_t* ns) {
  int64_t seconds = 0;
  if (text.size() > 64 || !parse_date_time(text, &seconds)) return false;
  int64_t fraction = 0;
  size_t at = 19;
  if (at < text.size() && text[at] == '.') {
    size_t digits = 0;
    for (++at; at < text.size() && text[at] >= '0' && text[at] <= '9' && digits < 9; ++at, ++digits) {
      fraction = fraction * 10 + (text[at] - '0');
    }
    for (size_t pad = digits; pad < 9; ++pad) fraction *= 10;
  }
  const int64_t value = seconds * 1000000000 + fraction;
  if (format_go_utc(value) != text) return false;
  *ns = value;
  return true;
}

// ---- the replica ----------------------------------------------------------------------------------------

std::string volume_from_dir(const std::string& dir) {
  const size_t dash = dir.rfind('-');
  return dash == std::string::npos ? std::string() : dir.substr(0, dash);
}

std::string finding_prefix(const v1::Replica& replica) { return "replicas/" + replica.dir() + "/"; }

// The index of the first image named `name`, or -1.
int image_index(const v1::Replica& replica, const std::string& name) {
  for (int i = 0; i < replica.images_size(); ++i) {
    if (replica.images(i).name() == name) return i;
  }
  return -1;
}

constexpr std::string_view kImagePrefix = "volume-";
constexpr std::string_view kImageSuffix = ".img";

void compact_image(v1::Image* image) {
  const std::string& name = image->name();
  if (name.size() > kImagePrefix.size() + kImageSuffix.size() && name.starts_with(kImagePrefix) &&
      name.ends_with(kImageSuffix)) {
    image->set_name_stem(name.substr(kImagePrefix.size(), name.size() - kImagePrefix.size() - kImageSuffix.size()));
    image->clear_name();
  }
  int64_t seconds = 0;
  if (!image->created().empty() && parse_rfc3339(image->created(), &seconds)) {
    image->set_created_unix_s(seconds);
    image->clear_created();
  }
  uint64_t value = 0;
  if (parse_hex64(image->crc64(), &value)) {
    image->set_crc64_value(value);
    image->clear_crc64();
  }
  if (image->has_checksum_record()) {
    auto* record = image->mutable_checksum_record();
    int64_t ns = 0;
    if (!record->change_time().empty() && parse_go_utc(record->change_time(), &ns)) {
      record->set_change_time_utc_ns(ns);
      record->clear_change_time();
    }
    if (!record->last_hashed_at().empty() && parse_rfc3339(record->last_hashed_at(), &seconds)) {
      record->set_last_hashed_at_unix_s(seconds);
      record->clear_last_hashed_at();
    }
    if (parse_hex64(record->checksum(), &value)) {
      record->set_checksum_value(value);
      record->clear_checksum();
    }
  }
  if (image->has_stored_checksum()) {
    auto* stored = image->mutable_stored_checksum();
    if (parse_hex64(stored->stored(), &value)) {
      stored->set_stored_value(value);
      stored->clear_stored();
    }
    if (parse_hex64(stored->computed(), &value)) {
      stored->set_computed_value(value);
      stored->clear_computed();
    }
  }
}

void expand_image(v1::Image* image) {
  if (image->has_name_stem()) {
    image->set_name(std::string(kImagePrefix) + image->name_stem() + std::string(kImageSuffix));
    image->clear_name_stem();
  }
  if (image->has_created_unix_s()) {
    image->set_created(format_rfc3339(image->created_unix_s()));
    image->clear_created_unix_s();
  }
  if (image->has_crc64_value()) {
    image->set_crc64(hex64(image->crc64_value()));
    image->clear_crc64_value();
  }
  if (image->has_checksum_record()) {
    auto* record = image->mutable_checksum_record();
    if (record->has_change_time_utc_ns()) {
      record->set_change_time(format_go_utc(record->change_time_utc_ns()));
      record->clear_change_time_utc_ns();
    }
    if (record->has_last_hashed_at_unix_s()) {
      record->set_last_hashed_at(format_rfc3339(record->last_hashed_at_unix_s()));
      record->clear_last_hashed_at_unix_s();
    }
    if (record->has_checksum_value()) {
      record->set_checksum(hex64(record->checksum_value()));
      record->clear_checksum_value();
    }
  }
  if (image->has_stored_checksum()) {
    auto* stored = image->mutable_stored_checksum();
    if (stored->has_stored_value()) {
      stored->set_stored(hex64(stored->stored_value()));
      stored->clear_stored_value();
    }
    if (stored->has_computed_value()) {
      stored->set_computed(hex64(stored->computed_value()));
      stored->clear_computed_value();
    }
  }
}

void compact_rules(v1::Replica* replica) {
  WireForm form;
  uint32_t elided = 0;
  const auto& chain = replica->chain();

  // The chain as indices into images (every name must be an image's).
  std::vector<int> indices;
  indices.reserve(static_cast<size_t>(chain.size()));
  for (const auto& name : chain) {
    const int index = image_index(*replica, name);
    if (index < 0) break;
    indices.push_back(index);
  }
  const bool chain_as_indices = !chain.empty() && indices.size() == static_cast<size_t>(chain.size());

  if (!replica->volume().empty() && volume_from_dir(replica->dir()) == replica->volume()) elided |= WireForm::VOLUME;
  if (!replica->head().empty() && !chain.empty() && replica->head() == chain[0]) elided |= WireForm::HEAD;
  if (!replica->parent().empty() && chain.size() >= 2 && replica->parent() == chain[1]) elided |= WireForm::PARENT;
  bool image_parents = chain_as_indices;
  for (size_t k = 0; image_parents && k < indices.size(); ++k) {
    const std::string& expected = k + 1 < indices.size() ? chain[static_cast<int>(k + 1)] : std::string();
    image_parents = replica->images(indices[k]).parent() == expected;
  }
  std::string digest;
  if (parse_hex_bytes(replica->content_digest(), 16, &digest)) {
    elided |= WireForm::CONTENT_DIGEST;
    form.set_content_digest_raw(digest);
  }

  if (elided & WireForm::VOLUME) replica->clear_volume();
  if (elided & WireForm::HEAD) replica->clear_head();
  if (elided & WireForm::PARENT) replica->clear_parent();
  if (elided & WireForm::CONTENT_DIGEST) replica->clear_content_digest();
  if (image_parents) {
    elided |= WireForm::IMAGE_PARENTS;
    for (int index : indices) replica->mutable_images(index)->clear_parent();
  }
  if (chain_as_indices) {
    elided |= WireForm::CHAIN;
    for (int index : indices) form.add_chain_index(static_cast<uint32_t>(index));
    replica->clear_chain();
  }

  for (auto& image : *replica->mutable_images()) compact_image(&image);
  const std::string prefix = finding_prefix(*replica);
  for (auto& finding : *replica->mutable_findings()) {
    const std::string& path = finding.path();
    if (path.size() > prefix.size() && path.compare(0, prefix.size(), prefix) == 0) {
      finding.set_path_in_replica(path.substr(prefix.size()));
      finding.clear_path();
    }
  }
  if (replica->has_content()) {
    auto* content = replica->mutable_content();
    if (parse_hex_bytes(content->zero_chunk_digest(), 16, &digest)) {
      content->set_zero_chunk_digest_raw(digest);
      content->clear_zero_chunk_digest();
    }
    for (auto& chunk : *content->mutable_chunks()) {
      if (parse_hex_bytes(chunk.digest(), 16, &digest)) {
        chunk.set_digest_raw(digest);
        chunk.clear_digest();
      }
    }
  }

  if (elided != 0 || form.chain_index_size() != 0) {
    form.set_elided(elided);
    *replica->mutable_wire_form() = std::move(form);
  }
}

}  // namespace

void expand_from_wire(v1::Replica* replica) {
  for (auto& image : *replica->mutable_images()) expand_image(&image);  // first: the chain names images
  if (replica->has_wire_form()) {
    const WireForm& form = replica->wire_form();
    const uint32_t elided = form.elided();
    if (elided & WireForm::CHAIN) {
      replica->clear_chain();
      for (uint32_t index : form.chain_index()) {
        replica->add_chain(index < static_cast<uint32_t>(replica->images_size())
                               ? replica->images(static_cast<int>(index)).name()
                               : std::string());
      }
      if (elided & WireForm::IMAGE_PARENTS) {
        const int n = form.chain_index_size();
        for (int k = 0; k < n; ++k) {
          const uint32_t index = form.chain_index(k);
          if (index >= static_cast<uint32_t>(replica->images_size())) continue;
          replica->mutable_images(static_cast<int>(index))->set_parent(k + 1 < n ? replica->chain(k + 1) : "");
        }
      }
    }
    if (elided & WireForm::VOLUME) replica->set_volume(volume_from_dir(replica->dir()));
    if ((elided & WireForm::HEAD) && replica->chain_size() >= 1) replica->set_head(replica->chain(0));
    if ((elided & WireForm::PARENT) && replica->chain_size() >= 2) replica->set_parent(replica->chain(1));
    if (elided & WireForm::CONTENT_DIGEST) replica->set_content_digest(hex_bytes(form.content_digest_raw()));
    replica->clear_wire_form();
  }
  std::string prefix;
  for (auto& finding : *replica->mutable_findings()) {
    if (!finding.has_path_in_replica()) continue;
    if (prefix.empty()) prefix = finding_prefix(*replica);
    finding.set_path(prefix + finding.path_in_replica());
    finding.clear_path_in_replica();
  }
  if (replica->has_content()) {
    auto* content = replica->mutable_content();
    if (content->has_zero_chunk_digest_raw()) {
      content->set_zero_chunk_digest(hex_bytes(content->zero_chunk_digest_raw()));
      content->clear_zero_chunk_digest_raw();
    }
    for (auto& chunk : *content->mutable_chunks()) {
      if (chunk.has_digest_raw()) {
        chunk.set_digest(hex_bytes(chunk.digest_raw()));
        chunk.clear_digest_raw();
      }
    }
  }
}

bool compact_for_wire(v1::Replica* replica) {
  // The rules above are each checked against the value they would restore; this last check holds the
  // contract even against a rule's own mistake: when the round trip is not exact, the replica goes as it is.
  v1::Replica original = *replica;
  compact_rules(replica);
  v1::Replica restored = *replica;
  expand_from_wire(&restored);
  if (deterministic_bytes(original) == deterministic_bytes(restored)) return true;
  *replica = std::move(original);
  return false;
}

void compact_for_wire(v1::Inventory* inventory) {
  for (auto& replica : *inventory->mutable_replicas()) compact_for_wire(&replica);
}

void expand_from_wire(v1::Inventory* inventory) {
  for (auto& replica : *inventory->mutable_replicas()) expand_from_wire(&replica);
}

}  // namespace sentinel::wire
