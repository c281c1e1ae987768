// Opens a replica directory for reading its merged volume. See replica_source.h.
#include "salvage/replica_source.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "scanner/replica_names.h"
#include "scanner/scanner.h"

namespace sentinel::salvage {

namespace {

using scanner::FileSystem;
using scanner::MergedViewReport;

// The quick scan's view of a chain that starts at `start`: the same replica with the newer layers left out, so
// the scanner's own checks (merged_view_unavailable, merged_layers_of) apply to exactly the layers read.
v1::Replica chain_from(const v1::Replica& replica, size_t start) {
  v1::Replica sub = replica;
  sub.clear_chain();
  for (int i = static_cast<int>(start); i < replica.chain_size(); ++i) sub.add_chain(replica.chain(i));
  return sub;
}

const v1::Image* image_named(const v1::Replica& replica, const std::string& name) {
  for (const auto& image : replica.images()) {
    if (image.name() == name) return &image;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> ReplicaSource::chain() const {
  std::vector<std::string> names;
  names.reserve(layers.size());
  for (int i = static_cast<int>(replica.chain_size() - layers.size()); i < replica.chain_size(); ++i) {
    names.push_back(replica.chain(i));
  }
  return names;
}

std::optional<size_t> find_chain_start(const v1::Replica& replica, const std::string& snapshot) {
  if (snapshot.empty()) return replica.chain_size() > 0 ? std::optional<size_t>(0) : std::nullopt;
  for (int i = 0; i < replica.chain_size(); ++i) {
    const std::string& name = replica.chain(i);
    if (name == snapshot || name == "volume-snap-" + snapshot + ".img") return static_cast<size_t>(i);
  }
  return std::nullopt;
}

uint64_t planned_read_bytes(const v1::Replica& replica, size_t start) {
  scanner::MergedRunBuilder builder(replica.size_bytes());
  std::vector<uint64_t> layer_sizes;
  std::vector<scanner::ReadExtent> extents;
  for (int i = static_cast<int>(start); i < replica.chain_size(); ++i) {
    const v1::Image* image = image_named(replica, replica.chain(i));
    extents.clear();
    if (image != nullptr) {
      for (const auto& e : image->extents()) extents.push_back({e.offset(), e.length()});
    }
    layer_sizes.push_back(image != nullptr ? image->apparent_bytes() : 0);
    if (!builder.add_layer(extents)) return 0;
  }
  uint64_t total = 0;
  for (const scanner::MergedRun& run : builder.finish()) {
    const uint64_t end = std::min(run.offset + run.length, layer_sizes[run.layer]);
    if (end > run.offset) total += end - run.offset;
  }
  return total;
}

std::vector<std::string> replica_warnings(const v1::Replica& replica, size_t start) {
  std::vector<std::string> warnings;
  if (replica.rebuilding()) {
    warnings.push_back(
        "the replica is Rebuilding: a rebuild onto it started and never finished, so its data is INCOMPLETE "
        "(blocks not copied yet read as zeros or as older data). Longhorn refuses to start such a replica; use "
        "this export only when no complete replica exists.");
  }
  if (replica.dirty()) {
    warnings.push_back(
        "the replica is Dirty: its replica process stopped without a clean close (crash, kill, node loss). The "
        "export is exactly what the files hold now; writes in flight when it stopped may be missing, as they "
        "would be for Longhorn.");
  }
  if (!replica.error().empty()) {
    warnings.push_back("volume.meta records an error (\"" + replica.error() +
                       "\"): Longhorn will not use this replica until it is cleared; the data itself may be intact.");
  }
  for (const auto& f : replica.findings()) {
    if (f.code() == v1::Finding::COUNTER_ZERO_WITH_DATA) {
      warnings.push_back(
          "the revision counter is 0 next to data: probably a rebuild that never finished, so the "
          "data may be incomplete.");
    }
  }
  if (start < static_cast<size_t>(replica.chain_size())) {
    const v1::Image* image = image_named(replica, replica.chain(static_cast<int>(start)));
    if (start > 0 && image != nullptr && image->removed()) {
      warnings.push_back("snapshot " + image->name() +
                         " is marked Removed: Longhorn no longer lists it, but its data is still in the chain and "
                         "is what this export reads.");
    }
  }
  return warnings;
}

std::string describe_merged_view_failure(const MergedViewReport& report) {
  const std::string where = report.path.empty() ? "" : report.path + ": ";
  switch (report.outcome) {
    case MergedViewReport::Outcome::kComplete:
      return "";
    case MergedViewReport::Outcome::kNotApplicable:
      return "the merged volume cannot be read: " + report.message;
    case MergedViewReport::Outcome::kVanished:
      return where + "disappeared while it was read (" + report.message +
             "); is Longhorn still managing this replica (a rebuild, a snapshot purge)?";
    case MergedViewReport::Outcome::kChanged:
      return where + "changed while it was read (" + report.message +
             "). Something is still writing to this replica (a running engine or rebuild); detach the volume or "
             "stop the writer, then export again. The data read so far is not a consistent volume.";
    case MergedViewReport::Outcome::kUnreadable:
      return where + "cannot be read: " + report.message;
    case MergedViewReport::Outcome::kExtentMapFailed:
      return where + "its allocated extents cannot be mapped: " + report.message;
    case MergedViewReport::Outcome::kStopped:
      return "stopped: " + report.message;
  }
  return report.message;
}

ReplicaSourceResult open_replica_source(FileSystem& fs, const std::string& replica_dir, const std::string& snapshot) {
  ReplicaSourceResult result;
  std::error_code ec;
  const std::filesystem::path canonical = std::filesystem::canonical(replica_dir, ec);
  if (ec) {
    result.error = "cannot open the replica directory " + replica_dir + ": " + ec.message();
    return result;
  }
  const std::string parent = canonical.parent_path().string();
  const std::string name = canonical.filename().string();
  auto parent_fd = fs.open_root(parent);
  if (!parent_fd) {
    result.error = "cannot open " + parent + ": " + parent_fd.error().message();
    return result;
  }
  auto dir_fd = fs.open_dir_at(parent_fd->get(), name);
  if (!dir_fd) {
    result.error = "cannot open the replica directory " + canonical.string() + ": " + dir_fd.error().message();
    return result;
  }
  scanner::ScanOptions scan_options;
  scan_options.include_extents = true;  // the planned read size, for progress
  scan_options.threads = 1;
  ReplicaSource source;
  source.path = canonical.string();
  source.replica = scanner::scan_replica_dir(fs, parent_fd->get(), canonical.parent_path().parent_path().string(), name,
                                             scan_options);

  const std::optional<size_t> start = find_chain_start(source.replica, snapshot);
  if (!start) {
    if (source.replica.chain_size() == 0) {
      result.error = source.path + " has no readable chain: " + scanner::merged_view_unavailable(source.replica);
      return result;
    }
    std::string available;
    for (int i = 1; i < source.replica.chain_size(); ++i) available += " " + source.replica.chain(i);
    result.error = "snapshot \"" + snapshot + "\" is not in the chain of " + source.path +
                   (available.empty() ? " (it has no snapshots)" : "; its snapshots are:" + available);
    return result;
  }
  const v1::Replica sub = chain_from(source.replica, *start);
  if (std::string why = scanner::merged_view_unavailable(sub); !why.empty()) {
    result.error = "cannot read the volume of " + source.path + ": " + why;
    return result;
  }

  auto entries = fs.list_dir(dir_fd->get());
  if (!entries) {
    result.error = "cannot list " + source.path + ": " + entries.error().message();
    return result;
  }
  std::map<std::string, std::string> raw_names;
  for (const auto& e : *entries) raw_names[scanner::escape_name(e.name)] = e.name;
  source.layers = scanner::merged_layers_of(sub, raw_names);
  source.start_image = source.replica.chain(static_cast<int>(*start));
  source.volume_bytes = source.replica.size_bytes();
  source.planned_read_bytes = planned_read_bytes(source.replica, *start);
  source.warnings = replica_warnings(source.replica, *start);

  auto dir_stat = fs.stat_fd(dir_fd->get());
  auto parent_stat = fs.stat_fd(parent_fd->get());
  if (!dir_stat || !parent_stat) {
    result.error =
        "cannot stat " + source.path + ": " + (!dir_stat ? dir_stat.error().message() : parent_stat.error().message());
    return result;
  }
  source.protected_dirs.push_back({dir_stat->device, dir_stat->inode, "the replica directory " + source.path});
  if (canonical.parent_path().filename() == "replicas") {
    source.protected_dirs.push_back(
        {parent_stat->device, parent_stat->inode, "the Longhorn disk's replica tree " + parent});
  }
  source.dir_fd = std::move(*dir_fd);
  result.source = std::move(source);
  return result;
}

MergedViewReport stream_replica_source(FileSystem& fs, scanner::ReadEngine& engine, const ReplicaSource& source,
                                       const scanner::MergedViewSink& sink) {
  return scanner::stream_merged_view(fs, engine, source.dir_fd.get(), source.layers, source.volume_bytes, sink);
}

}  // namespace sentinel::salvage
