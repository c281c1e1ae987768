#include "collector/replica_facts.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace sentinel::collector {

namespace {

// Feeds fixed-width integers and length-prefixed strings, so ("ab","c") and ("a","bc") hash differently.
class Hasher {
 public:
  Hasher() { XXH3_64bits_reset(&state_); }
  Hasher& add(int64_t value) {
    XXH3_64bits_update(&state_, &value, sizeof value);
    return *this;
  }
  Hasher& add(std::string_view text) {
    add(static_cast<int64_t>(text.size()));
    XXH3_64bits_update(&state_, text.data(), text.size());
    return *this;
  }
  uint64_t digest() const { return XXH3_64bits_digest(&state_); }

 private:
  XXH3_state_t state_;
};

}  // namespace

uint64_t image_identity(const v1::Replica& replica) {
  std::unordered_map<std::string_view, const v1::Image*> by_name;
  for (const auto& image : replica.images()) by_name.emplace(image.name(), &image);
  Hasher hasher;
  hasher.add(static_cast<int64_t>(replica.size_bytes()));
  for (const auto& name : replica.chain()) {
    hasher.add(name);
    const auto it = by_name.find(name);
    if (it == by_name.end()) {
      hasher.add(int64_t{-1});
      continue;
    }
    const v1::Image& image = *it->second;
    hasher.add(static_cast<int64_t>(image.inode()))
        .add(static_cast<int64_t>(image.apparent_bytes()))
        .add(image.mtime_ns())
        .add(image.ctime_ns());
  }
  return hasher.digest();
}

std::string finding_codes(const v1::Replica& replica) {
  std::vector<int> codes;
  codes.reserve(static_cast<size_t>(replica.findings_size()));
  for (const auto& finding : replica.findings()) codes.push_back(finding.code());
  std::sort(codes.begin(), codes.end());
  codes.erase(std::unique(codes.begin(), codes.end()), codes.end());
  std::string out;
  for (int code : codes) {
    if (!out.empty()) out += ',';
    const std::string& name = v1::Finding::Code_Name(static_cast<v1::Finding::Code>(code));
    out += name.empty() ? std::to_string(code) : name;
  }
  return out;
}

int worst_severity(const v1::Replica& replica) {
  int worst = 0;
  for (const auto& finding : replica.findings()) worst = std::max(worst, static_cast<int>(finding.severity()));
  return worst;
}

uint64_t facts_hash(const HistoryFacts& facts) {
  return Hasher()
      .add(facts.state)
      .add(facts.revision_counter)
      .add(facts.head_mtime_ns)
      .add(static_cast<int64_t>(facts.allocated_bytes))
      .add(facts.content_digest)
      .add(facts.findings)
      .digest();
}

uint64_t bytes_hash(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

namespace {

bool read_varint(std::string_view bytes, size_t* at, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*at >= bytes.size()) return false;
    const auto byte = static_cast<uint8_t>(bytes[(*at)++]);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

}  // namespace

bool replica_key_from_bytes(std::string_view bytes, std::string_view* disk, std::string_view* dir) {
  *disk = {};
  *dir = {};
  size_t at = 0;
  while (at < bytes.size()) {
    uint64_t tag = 0;
    if (!read_varint(bytes, &at, &tag)) return false;
    const uint64_t field = tag >> 3;
    uint64_t value = 0;
    switch (tag & 7) {
      case 0:
        if (!read_varint(bytes, &at, &value)) return false;
        break;
      case 1:
        if (bytes.size() - at < 8) return false;
        at += 8;
        break;
      case 2: {
        if (!read_varint(bytes, &at, &value) || value > bytes.size() - at) return false;
        const std::string_view content = bytes.substr(at, value);
        if (field == 1) *disk = content;
        if (field == 2) *dir = content;
        at += value;
        break;
      }
      case 5:
        if (bytes.size() - at < 4) return false;
        at += 4;
        break;
      default:
        return false;  // groups (3, 4) and invalid wire types: not something Sentinel writes
    }
    if (field == 0) return false;
  }
  return true;
}

bool merge_deep_results(const v1::Replica& deep, bool chain_unchanged, v1::Replica* latest) {
  bool merged = false;
  if (chain_unchanged && latest->content_digest().empty() && !deep.content_digest().empty()) {
    latest->set_content_digest(deep.content_digest());
    if (deep.has_content()) *latest->mutable_content() = deep.content();
    merged = true;
  }
  std::unordered_map<std::string_view, const v1::Image*> deep_images;
  for (const auto& image : deep.images()) deep_images.emplace(image.name(), &image);
  std::vector<std::string> unchanged_paths;  // suffix "/<image name>" of findings that still hold
  for (auto& image : *latest->mutable_images()) {
    const auto it = deep_images.find(image.name());
    if (it == deep_images.end()) continue;
    const v1::Image& before = *it->second;
    if (before.inode() != image.inode() || before.apparent_bytes() != image.apparent_bytes() ||
        before.mtime_ns() != image.mtime_ns() || before.ctime_ns() != image.ctime_ns()) {
      continue;
    }
    unchanged_paths.push_back("/" + image.name());
    if (!image.crc64().empty() || before.crc64().empty()) continue;
    image.set_crc64(before.crc64());
    if (before.has_stored_checksum()) *image.mutable_stored_checksum() = before.stored_checksum();
    image.set_deep_read_bytes(before.deep_read_bytes());
    merged = true;
  }
  // Checksum findings (CHECKSUM_MISMATCH, CHECKSUM_FLAGGED) are about one snapshot file: they hold as long as
  // that file is unchanged. A quick report never carries them itself.
  for (const auto& finding : deep.findings()) {
    if (finding.code() < v1::Finding::CHECKSUM_MISMATCH) continue;
    const std::string& path = finding.path();
    const bool still_holds = std::any_of(unchanged_paths.begin(), unchanged_paths.end(), [&](const std::string& s) {
      return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
    });
    const bool already = std::any_of(latest->findings().begin(), latest->findings().end(), [&](const auto& f) {
      return f.code() == finding.code() && f.path() == finding.path();
    });
    if (still_holds && !already) {
      *latest->add_findings() = finding;
      merged = true;
    }
  }
  return merged;
}

}  // namespace sentinel::collector
