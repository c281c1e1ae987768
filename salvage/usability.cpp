// Usability of a replica for salvage; see usability.h for the contract.
#include "salvage/usability.h"

#include <map>
#include <string_view>

namespace sentinel::salvage {
namespace {

using v1::Finding;

bool is_volume_meta_path(std::string_view path) {
  constexpr std::string_view kName = "volume.meta";
  return path == kName ||
         (path.size() > kName.size() && path.ends_with(kName) && path[path.size() - kName.size() - 1] == '/');
}

// Findings that mean the chain or its metadata cannot be read as Longhorn reads it.
bool breaks_chain(const Finding& f) {
  switch (f.code()) {
    case Finding::MISSING_HEAD:
    case Finding::BROKEN_PARENT:
    case Finding::CHAIN_CYCLE:
    case Finding::CHAIN_TOO_LONG:
    case Finding::BAD_METADATA:
    case Finding::ABSURD_SIZE:
    case Finding::NOT_A_REPLICA:
    case Finding::EXTENT_MAP_FAILED:
    case Finding::MISSING_META:
      return true;
    case Finding::UNREADABLE:
      return f.severity() == Finding::ERROR;
    default:
      return false;
  }
}

template <typename T>
T most_common_nonzero(const std::vector<ReplicaOnNode>& replicas, T (*get)(const v1::Replica&), bool* disputed) {
  std::map<T, int> counts;
  for (const auto& r : replicas) {
    const T value = get(r.replica);
    if (value != 0) ++counts[value];
  }
  *disputed = counts.size() > 1;
  T best{};
  int best_count = 0;
  for (const auto& [value, count] : counts) {  // ascending, so ">=" lets the larger value win a tie
    if (count >= best_count) {
      best = value;
      best_count = count;
    }
  }
  return best;
}

std::string finding_sentence(const Finding& f) {
  std::string text = Finding::Code_Name(f.code()) + ": " + f.message();
  if (!f.path().empty()) text += " (" + f.path() + ")";
  return text;
}

}  // namespace

VolumeShape volume_shape(const std::vector<ReplicaOnNode>& replicas) {
  VolumeShape shape;
  bool sector_disputed = false;
  shape.size_bytes = most_common_nonzero<uint64_t>(
      replicas, [](const v1::Replica& r) { return r.size_bytes(); }, &shape.size_disputed);
  shape.sector_size = most_common_nonzero<int64_t>(
      replicas, [](const v1::Replica& r) { return r.sector_size(); }, &sector_disputed);
  return shape;
}

const v1::Finding* chain_breaking_finding(const v1::Replica& replica) {
  for (const auto& f : replica.findings()) {
    if (f.code() == Finding::MISSING_META && is_volume_meta_path(f.path())) continue;  // Longhorn rebuilds it
    if (breaks_chain(f)) return &f;
  }
  return nullptr;
}

std::vector<std::string> unusable_reasons(const v1::Replica& replica, const VolumeShape& shape, bool counter_enabled) {
  std::vector<std::string> reasons;
  if (replica.rebuilding()) {
    reasons.push_back("Rebuilding: an unfinished rebuild, its data may be incomplete");
  }
  if (!replica.error().empty()) {
    reasons.push_back("Error set in volume.meta (\"" + replica.error() + "\"): Longhorn refuses this replica");
  }
  if (replica.size_bytes() != 0 && shape.size_bytes != 0 && replica.size_bytes() != shape.size_bytes) {
    reasons.push_back("Size " + std::to_string(replica.size_bytes()) + " differs from the volume's " +
                      std::to_string(shape.size_bytes) + " (the most common among its replicas)");
  }
  if (replica.sector_size() != 0 && shape.sector_size != 0 && replica.sector_size() != shape.sector_size) {
    reasons.push_back("SectorSize " + std::to_string(replica.sector_size()) + " differs from the volume's " +
                      std::to_string(shape.sector_size));
  }
  if (replica.state() == v1::Replica::FOREIGN) {
    reasons.push_back("not a Longhorn replica directory");
  }
  for (const auto& f : replica.findings()) {
    const bool size_mismatch = f.code() == Finding::SIZE_MISMATCH && f.severity() == Finding::ERROR;
    if (breaks_chain(f)) {
      reasons.push_back("broken chain or metadata: " + finding_sentence(f));
    } else if (size_mismatch) {
      reasons.push_back("size mismatch: " + finding_sentence(f));
    } else if (f.code() == Finding::CHECKSUM_MISMATCH || f.code() == Finding::CHECKSUM_FLAGGED) {
      reasons.push_back("snapshot checksum: " + finding_sentence(f));
    } else if (f.code() == Finding::COUNTER_ZERO_WITH_DATA && counter_enabled) {
      reasons.push_back("revision counter 0 with data: a rebuild that never finished");
    }
  }
  return reasons;
}

std::vector<std::string> caveats(const v1::Replica& replica, bool counter_enabled) {
  std::vector<std::string> out;
  if (replica.dirty()) out.push_back("Dirty: its replica process died without a clean close (normal after a crash)");
  bool changed = false;
  for (const auto& f : replica.findings()) {
    switch (f.code()) {
      case Finding::CHANGED_DURING_SCAN:
        changed = true;
        break;
      case Finding::COUNTER_ABSENT:
        out.push_back("no revision.counter (the volume runs with the revision counter disabled, or it was lost)");
        break;
      case Finding::COUNTER_ZERO_WITH_DATA:
        if (!counter_enabled) {
          out.push_back("revision counter 0 next to data: ignored, the counter is disabled and its file may be stale");
        }
        break;
      case Finding::COUNTER_INVALID:
        out.push_back("revision.counter is unreadable: " + f.message());
        break;
      case Finding::ORPHAN_IMAGE:
        if (f.severity() != Finding::INFO) out.push_back("orphan image: " + f.message() + " (" + f.path() + ")");
        break;
      default:
        break;
    }
  }
  if (changed) {
    out.push_back("files changed while they were read: the replica is probably in use (is the volume attached?)");
  }
  return out;
}

}  // namespace sentinel::salvage
