// Quick scan of one replica directory. See scanner.h for the contract and LONGHORN-FORMAT.md for the rules.
#include <algorithm>
#include <map>
#include <set>

#include "scanner/chain.h"
#include "scanner/findings.h"
#include "scanner/longhorn_metadata.h"
#include "scanner/replica_names.h"
#include "scanner/scanner.h"

namespace sentinel::scanner {
namespace {

using v1::Finding;
using v1::Image;
using v1::Replica;

// Largest volume we treat as plausible: Longhorn volumes are far below this; a bigger Size is corruption.
constexpr int64_t kMaxPlausibleVolumeBytes = int64_t{1} << 50;  // 1 PiB
constexpr int64_t kVolumeBlockBytes = 4096;

// Merges adjacent extents as they arrive, so counts do not depend on how the file system splits records.
class ExtentCollector {
 public:
  explicit ExtentCollector(Image* image, bool keep_list) : image_(image), keep_list_(keep_list) {}
  void add(uint64_t offset, uint64_t length) {
    if (have_pending_ && offset == pending_offset_ + pending_length_) {
      pending_length_ += length;
      return;
    }
    flush();
    pending_offset_ = offset;
    pending_length_ = length;
    have_pending_ = true;
  }
  void flush() {
    if (!have_pending_) return;
    image_->set_extent_count(image_->extent_count() + 1);
    if (keep_list_) {
      v1::Extent* e = image_->add_extents();
      e->set_offset(pending_offset_);
      e->set_length(pending_length_);
    }
    have_pending_ = false;
  }

 private:
  Image* image_;
  bool keep_list_;
  bool have_pending_ = false;
  uint64_t pending_offset_ = 0;
  uint64_t pending_length_ = 0;
};

Image::Kind image_kind(const std::string& name) {
  if (is_head_image(name)) return Image::HEAD;
  if (is_expansion_snapshot(name)) return Image::EXPANSION_SNAPSHOT;
  if (is_snapshot_image(name)) return Image::SNAPSHOT;
  if (is_delta_image(name)) return Image::DELTA;
  return Image::KIND_UNSPECIFIED;
}

// Everything learnt about one replica directory while scanning it.
class ReplicaScan {
 public:
  ReplicaScan(FileSystem& fs, const std::string& disk, const std::string& raw_dir, const ScanOptions& options)
      : fs_(fs), raw_dir_(raw_dir), options_(options) {
    replica_.set_disk(disk);
    replica_.set_dir(escape_name(raw_dir));
    rel_dir_ = "replicas/" + replica_.dir();
  }

  Replica run(int replicas_fd);

 private:
  std::string rel(const std::string& raw_name) const { return rel_dir_ + "/" + escape_name(raw_name); }
  void finding(Finding::Code code, Finding::Severity severity, std::string message, std::string path) {
    add_finding(replica_.mutable_findings(), code, severity, std::move(message), std::move(path));
  }

  void classify_entries(const std::vector<DirEntry>& entries);
  void read_volume_meta();
  void infer_head_without_meta();
  void read_revision_counter();
  void scan_image(const std::string& name);
  void read_image_meta(const std::string& image_name, Image* image);
  void read_checksum_record(const std::string& image_name, Image* image);
  void resolve_and_check_chain();
  void check_sizes();
  void finish();

  FileSystem& fs_;
  std::string raw_dir_;
  const ScanOptions& options_;
  std::string rel_dir_;
  Replica replica_;
  Fd dir_fd_;

  std::set<std::string> regular_files_;          // raw names of regular files
  std::vector<std::string> image_files_;         // raw names of *.img files
  std::map<std::string, Image> images_;          // by raw name
  std::map<std::string, std::optional<std::string>> parents_;  // .meta Parent per image, nullopt if unusable
  std::string head_raw_;                         // Head from volume.meta (or inferred), raw bytes
  std::vector<std::string> chain_raw_;           // resolved chain, raw names, head first
  bool volume_meta_ok_ = false;
  bool volume_meta_present_ = false;
};

Replica ReplicaScan::run(int replicas_fd) {
  if (name_needs_escaping(raw_dir_)) {
    finding(Finding::ODD_NAME, Finding::WARNING,
            "directory name holds control characters or invalid UTF-8; shown escaped", rel_dir_);
  }
  if (auto volume = volume_from_replica_dir(raw_dir_)) {
    replica_.set_volume(escape_name(*volume));
  } else {
    finding(Finding::NOT_A_REPLICA, Finding::WARNING,
            "name does not end in -<8 letters/digits>: Longhorn will not recognise it as a replica of any volume",
            rel_dir_);
  }

  auto dir = fs_.open_dir_at(replicas_fd, raw_dir_);
  if (!dir) {
    const int err = dir.error().err;
    if (err == ENOENT) {
      finding(Finding::VANISHED, Finding::WARNING, "directory disappeared while the disk was being scanned",
              rel_dir_);
    } else {
      finding(Finding::UNREADABLE, Finding::ERROR, "cannot open directory: " + dir.error().message(), rel_dir_);
    }
    replica_.set_state(Replica::BROKEN);
    return std::move(replica_);
  }
  dir_fd_ = std::move(*dir);

  auto entries = fs_.list_dir(dir_fd_.get());
  if (!entries) {
    const int err = entries.error().err;
    finding(err == ENOENT ? Finding::VANISHED : Finding::UNREADABLE, Finding::ERROR,
            "cannot list directory: " + entries.error().message(), rel_dir_);
    replica_.set_state(Replica::BROKEN);
    return std::move(replica_);
  }
  classify_entries(*entries);
  read_volume_meta();
  read_revision_counter();
  for (const auto& name : image_files_) scan_image(name);
  resolve_and_check_chain();
  check_sizes();
  finish();
  return std::move(replica_);
}

void ReplicaScan::classify_entries(const std::vector<DirEntry>& entries) {
  for (const auto& entry : entries) {
    const std::string path = rel(entry.name);
    if (name_needs_escaping(entry.name)) {
      finding(Finding::ODD_NAME, Finding::WARNING, "file name holds control characters or invalid UTF-8", path);
    }
    switch (entry.type) {
      case EntryType::kRegular:
        break;
      case EntryType::kSymlink:
        finding(Finding::SYMLINK, Finding::WARNING,
                "symbolic link inside a replica directory; not followed (Longhorn never creates one)", path);
        continue;
      case EntryType::kDirectory:
        finding(Finding::UNEXPECTED_ENTRY, Finding::INFO, "subdirectory inside a replica directory; not scanned",
                path);
        continue;
      default:
        finding(Finding::UNEXPECTED_ENTRY, Finding::WARNING,
                std::string(entry_type_name(entry.type)) + " inside a replica directory; not opened", path);
        continue;
    }
    regular_files_.insert(entry.name);
    switch (classify_replica_file(entry.name)) {
      case ReplicaFileKind::kImage:
        image_files_.push_back(entry.name);
        break;
      case ReplicaFileKind::kTempLeftover:
        finding(Finding::TEMP_LEFTOVER, Finding::INFO,
                "leftover of an interrupted write; Longhorn ignores it, safe to leave", path);
        break;
      case ReplicaFileKind::kSnapTmp:
        finding(Finding::TEMP_LEFTOVER, Finding::INFO, "leftover of a backup restore (.snap_tmp)", path);
        break;
      case ReplicaFileKind::kOther:
        finding(Finding::UNEXPECTED_ENTRY, Finding::INFO, "file Longhorn does not write; ignored", path);
        break;
      default:
        break;
    }
  }
}

void ReplicaScan::read_volume_meta() {
  const std::string path = rel("volume.meta");
  if (regular_files_.count("volume.meta") == 0) {
    finding(Finding::MISSING_META, Finding::ERROR,
            "volume.meta is missing: Longhorn rebuilds it from the first volume-head file; Size, Dirty and "
            "Rebuilding are unknown",
            path);
    infer_head_without_meta();
    return;
  }
  volume_meta_present_ = true;
  auto text = read_small_file(fs_, dir_fd_.get(), "volume.meta", kMaxMetaFileBytes);
  if (!text) {
    const auto& e = text.error();
    if (e.err == EFBIG) {
      finding(Finding::BAD_METADATA, Finding::ERROR, "volume.meta is absurdly large (" + e.what + "); not read",
              path);
    } else if (e.err == ENOENT) {
      finding(Finding::VANISHED, Finding::WARNING, "volume.meta disappeared during the scan", path);
    } else {
      finding(Finding::UNREADABLE, Finding::ERROR, "cannot read volume.meta: " + e.message(), path);
    }
    infer_head_without_meta();
    return;
  }
  auto parsed = parse_volume_meta(*text);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    if (*why == "empty file") {
      finding(Finding::MISSING_META, Finding::ERROR,
              "volume.meta is empty: Longhorn rebuilds it from the first volume-head file", path);
    } else {
      finding(Finding::BAD_METADATA, Finding::ERROR,
              "volume.meta is not what Longhorn writes (" + *why + "); Longhorn will fail to open this replica",
              path);
    }
    infer_head_without_meta();
    return;
  }
  const VolumeMeta& meta = std::get<VolumeMeta>(parsed);
  volume_meta_ok_ = true;
  replica_.set_size_bytes(meta.size > 0 ? static_cast<uint64_t>(meta.size) : 0);
  replica_.set_sector_size(meta.sector_size);
  head_raw_ = meta.head;
  replica_.set_head(escape_name(meta.head));
  replica_.set_parent(escape_name(meta.parent));
  replica_.set_dirty(meta.dirty);
  replica_.set_rebuilding(meta.rebuilding);
  replica_.set_error(meta.error);
  replica_.set_backing_file_path(meta.backing_file_path);
  if (meta.dirty) {
    finding(Finding::DIRTY, Finding::WARNING,
            "Dirty:true: the replica process did not close cleanly (crashed or killed); the head may hold the "
            "last writes",
            path);
  }
  if (meta.rebuilding) {
    finding(Finding::REBUILDING, Finding::ERROR,
            "Rebuilding:true: a rebuild never finished, data is incomplete; Longhorn refuses to start it next to "
            "other replicas",
            path);
  }
  if (!meta.error.empty()) {
    finding(Finding::ERROR_SET, Finding::ERROR, "Error is set (\"" + meta.error + "\"): blocks recovery in Longhorn",
            path);
  }
  if (meta.size <= 0 || meta.size > kMaxPlausibleVolumeBytes || meta.size % kVolumeBlockBytes != 0) {
    finding(Finding::ABSURD_SIZE, Finding::ERROR,
            "Size " + std::to_string(meta.size) + " cannot be a Longhorn volume (must be a positive multiple of "
            "4096 below 1 PiB)",
            path);
  }
  if (meta.sector_size != 512 && meta.sector_size != 4096) {
    finding(Finding::ABSURD_SIZE, Finding::ERROR,
            "SectorSize " + std::to_string(meta.sector_size) + " is not 512 or 4096", path);
  }
  if (meta.head.empty()) {
    finding(Finding::MISSING_HEAD, Finding::ERROR, "volume.meta names no Head", path);
  }
}

void ReplicaScan::infer_head_without_meta() {
  // Longhorn's own fallback: the first entry (by name) that is a volume-head image.
  for (const auto& name : image_files_) {
    if (is_head_image(name)) {
      head_raw_ = name;
      replica_.set_head(escape_name(name));
      return;
    }
  }
}

void ReplicaScan::read_revision_counter() {
  const std::string path = rel("revision.counter");
  if (regular_files_.count("revision.counter") == 0) {
    finding(Finding::COUNTER_ABSENT, Finding::INFO,
            "no revision.counter: the revision counter is disabled for this volume, or the file was lost; "
            "Longhorn then salvages by head mtime and size",
            path);
    return;
  }
  auto fd = fs_.open_file_at(dir_fd_.get(), "revision.counter");
  if (!fd) {
    finding(fd.error().err == ENOENT ? Finding::VANISHED : Finding::UNREADABLE, Finding::ERROR,
            "cannot open revision.counter: " + fd.error().message(), path);
    return;
  }
  // Longhorn reads one 4096-byte block at offset 0, whatever the file's size.
  std::string bytes(kRevisionCounterFileBytes, '\0');
  auto n = fs_.read_at(fd->get(), bytes.data(), bytes.size(), 0);
  if (!n) {
    finding(Finding::UNREADABLE, Finding::ERROR, "cannot read revision.counter: " + n.error().message(), path);
    return;
  }
  bytes.resize(*n);
  auto parsed = parse_revision_counter(bytes);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    finding(Finding::COUNTER_INVALID, Finding::ERROR,
            "revision.counter is unreadable as Longhorn reads it (" + *why + "); Longhorn will fail this replica",
            path);
    return;
  }
  replica_.set_revision_counter(std::get<int64_t>(parsed));
  replica_.set_revision_counter_present(true);
}

void ReplicaScan::scan_image(const std::string& name) {
  const std::string path = rel(name);
  Image& image = images_[name];
  image.set_name(escape_name(name));
  image.set_kind(image_kind(name));
  read_image_meta(name, &image);
  read_checksum_record(name, &image);

  auto fd = fs_.open_file_at(dir_fd_.get(), name);
  if (!fd) {
    const int err = fd.error().err;
    finding(err == ENOENT ? Finding::VANISHED : Finding::UNREADABLE, err == ENOENT ? Finding::WARNING : Finding::ERROR,
            err == ENOENT ? "image disappeared during the scan" : "cannot open image: " + fd.error().message(), path);
    return;
  }
  auto st = fs_.stat_fd(fd->get());
  if (!st) {
    finding(Finding::UNREADABLE, Finding::ERROR, "cannot stat image: " + st.error().message(), path);
    return;
  }
  if (st->type != EntryType::kRegular) {
    finding(Finding::UNEXPECTED_ENTRY, Finding::WARNING,
            std::string("became a ") + entry_type_name(st->type) + " during the scan; not read", path);
    return;
  }
  image.set_apparent_bytes(st->size);
  image.set_allocated_bytes(st->allocated_bytes);
  image.set_mtime_ns(st->mtime_ns);
  image.set_ctime_ns(st->ctime_ns);
  image.set_inode(st->inode);
  ExtentCollector extents(&image, options_.include_extents);
  auto mapped = fs_.map_extents(fd->get(), st->size, [&](uint64_t off, uint64_t len) { extents.add(off, len); });
  extents.flush();
  if (!mapped) {
    finding(Finding::EXTENT_MAP_FAILED, Finding::ERROR,
            "cannot map allocated extents: " + mapped.error().message() + "; extent facts are incomplete", path);
  }
}

void ReplicaScan::read_image_meta(const std::string& image_name, Image* image) {
  const std::string meta_name = image_name + ".meta";
  const std::string path = rel(meta_name);
  parents_[image_name] = std::nullopt;
  if (regular_files_.count(meta_name) == 0) {
    if (image->kind() == Image::HEAD || image->kind() == Image::SNAPSHOT ||
        image->kind() == Image::EXPANSION_SNAPSHOT) {
      finding(Finding::MISSING_META, Finding::ERROR,
              escape_name(image_name) + " has no .meta: its parent (and so the rest of the chain) is unknown", path);
    }
    return;
  }
  auto text = read_small_file(fs_, dir_fd_.get(), meta_name, kMaxMetaFileBytes);
  if (!text) {
    const auto& e = text.error();
    finding(e.err == EFBIG ? Finding::BAD_METADATA : Finding::UNREADABLE, Finding::ERROR,
            "cannot read " + escape_name(meta_name) + ": " + e.message(), path);
    return;
  }
  auto parsed = parse_image_meta(*text);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    finding(*why == "empty file" ? Finding::MISSING_META : Finding::BAD_METADATA, Finding::ERROR,
            escape_name(meta_name) + " is not what Longhorn writes (" + *why + ")", path);
    return;
  }
  const ImageMeta& meta = std::get<ImageMeta>(parsed);
  image->set_has_meta(true);
  image->set_parent(escape_name(meta.parent));
  image->set_removed(meta.removed);
  image->set_user_created(meta.user_created);
  image->set_created(escape_name(meta.created));
  for (const auto& [k, v] : meta.labels) (*image->mutable_labels())[escape_name(k)] = escape_name(v);
  parents_[image_name] = meta.parent;
}

void ReplicaScan::read_checksum_record(const std::string& image_name, Image* image) {
  const std::string name = image_name + ".checksum";
  if (regular_files_.count(name) == 0) return;
  auto text = read_small_file(fs_, dir_fd_.get(), name, kMaxMetaFileBytes);
  if (!text) {
    finding(Finding::UNREADABLE, Finding::WARNING, "cannot read checksum record: " + text.error().message(),
            rel(name));
    return;
  }
  auto parsed = parse_checksum_file(*text);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    finding(Finding::BAD_METADATA, Finding::WARNING, "checksum record is not what Longhorn writes (" + *why + ")",
            rel(name));
    return;
  }
  const ChecksumFile& c = std::get<ChecksumFile>(parsed);
  v1::ChecksumRecord* r = image->mutable_checksum_record();
  r->set_method(escape_name(c.method));
  r->set_checksum(escape_name(c.checksum));
  r->set_change_time(escape_name(c.change_time));
  r->set_last_hashed_at(escape_name(c.last_hashed_at));
  r->set_silently_corrupted(c.silently_corrupted);
}

void ReplicaScan::resolve_and_check_chain() {
  if (head_raw_.empty()) {
    if (!volume_meta_ok_ && image_files_.empty() && !volume_meta_present_) {
      finding(Finding::NOT_A_REPLICA, Finding::WARNING, "no volume.meta and no image files: nothing to salvage here",
              rel_dir_);
    } else if (!volume_meta_ok_) {
      finding(Finding::MISSING_HEAD, Finding::ERROR, "no volume-head image found to start the chain from",
              rel_dir_);
    }
    return;
  }
  auto lookup = [&](const std::string& name) {
    LayerLookup layer;
    layer.exists = images_.count(name) != 0 && images_[name].inode() != 0;
    auto it = parents_.find(name);
    if (it != parents_.end()) layer.parent = it->second;
    return layer;
  };
  ChainResult chain = resolve_chain(head_raw_, lookup);
  chain_raw_ = chain.chain;
  for (const auto& name : chain.chain) {
    replica_.add_chain(escape_name(name));
    images_[name].set_in_chain(true);
  }
  const std::string at = escape_name(chain.broken_at);
  switch (chain.end) {
    case ChainResult::End::kComplete:
      break;
    case ChainResult::End::kMissingHead:
      finding(Finding::MISSING_HEAD, Finding::ERROR,
              "Head " + at + " named in volume.meta is not in the directory (or unreadable)", rel(chain.broken_at));
      break;
    case ChainResult::End::kBrokenParent:
      finding(Finding::BROKEN_PARENT, Finding::ERROR,
              at + " names parent " + escape_name(chain.missing) + ", which is not in the directory: the chain is "
                   "cut there and older data is unreachable to Longhorn",
              rel(chain.broken_at + ".meta"));
      break;
    case ChainResult::End::kMissingMeta:
      // Already reported as MISSING_META/BAD_METADATA/UNREADABLE on the .meta file itself.
      break;
    case ChainResult::End::kCycle:
      finding(Finding::CHAIN_CYCLE, Finding::ERROR,
              "Parent links loop: " + at + " points back to " + escape_name(chain.missing) +
                  "; Longhorn cannot open this replica",
              rel(chain.broken_at + ".meta"));
      break;
    case ChainResult::End::kTooLong:
      finding(Finding::CHAIN_TOO_LONG, Finding::ERROR,
              "chain is longer than Longhorn's limit of " + std::to_string(kMaxChainLength) + " layers", rel_dir_);
      break;
  }
}

void ReplicaScan::check_sizes() {
  const uint64_t size = replica_.size_bytes();
  for (auto& [name, image] : images_) {
    if (!image.in_chain()) {
      if (image.kind() == Image::DELTA) {
        finding(Finding::TEMP_LEFTOVER, Finding::INFO, "leftover of a backup restore (volume-delta image)", rel(name));
      } else if (image.inode() != 0) {
        finding(Finding::ORPHAN_IMAGE, Finding::WARNING,
                "image is not reachable from Head: Longhorn ignores its " + std::to_string(image.allocated_bytes()) +
                    " allocated bytes",
                rel(name));
      }
      continue;
    }
    if (!volume_meta_ok_ || size == 0 || image.inode() == 0) continue;
    if (image.kind() == Image::HEAD && image.apparent_bytes() != size) {
      finding(Finding::SIZE_MISMATCH, Finding::ERROR,
              "head is " + std::to_string(image.apparent_bytes()) + " bytes but volume.meta Size is " +
                  std::to_string(size) + " (a failed expansion?)",
              rel(name));
    } else if (image.apparent_bytes() > size) {
      finding(Finding::SIZE_MISMATCH, Finding::WARNING,
              "snapshot is " + std::to_string(image.apparent_bytes()) + " bytes, larger than the volume Size " +
                  std::to_string(size),
              rel(name));
    }
  }
  // .meta or .checksum files whose image is gone.
  for (const auto& name : regular_files_) {
    auto kind = classify_replica_file(name);
    if (kind != ReplicaFileKind::kImageMeta && kind != ReplicaFileKind::kImageChecksum) continue;
    std::string image = name.substr(0, name.rfind('.'));
    if (images_.count(image) == 0) {
      finding(Finding::ORPHAN_IMAGE, Finding::INFO, "metadata for an image that is not in the directory", rel(name));
    }
  }
}

void ReplicaScan::finish() {
  uint64_t chain_allocated = 0;
  // Images: chain order first, then the rest by name.
  std::set<std::string> placed;
  std::vector<std::string> order;
  for (const auto& raw : chain_raw_) {
    if (placed.insert(raw).second) order.push_back(raw);
  }
  for (const auto& [raw, image] : images_) {
    if (placed.insert(raw).second) order.push_back(raw);
  }
  for (const auto& raw : order) {
    Image& image = images_[raw];
    if (image.in_chain()) chain_allocated += image.allocated_bytes();
    if (!chain_raw_.empty() && raw == chain_raw_.front()) {
      replica_.set_head_mtime_ns(image.mtime_ns());
      replica_.set_head_allocated_bytes(image.allocated_bytes());
    }
    *replica_.add_images() = std::move(image);
  }
  replica_.set_allocated_bytes(chain_allocated);

  // Images were stat'ed when they were mapped; only the small files still need a stat.
  uint64_t dir_allocated = 0;
  for (const auto& image : replica_.images()) dir_allocated += image.allocated_bytes();
  for (const auto& name : regular_files_) {
    if (classify_replica_file(name) == ReplicaFileKind::kImage) continue;
    auto st = fs_.stat_at(dir_fd_.get(), name);
    if (st) dir_allocated += st->allocated_bytes;
  }
  replica_.set_dir_allocated_bytes(dir_allocated);

  if (replica_.revision_counter_present() && replica_.revision_counter() == 0 && chain_allocated > 0) {
    finding(Finding::COUNTER_ZERO_WITH_DATA, Finding::WARNING,
            "revision counter is 0 but the chain holds " + std::to_string(chain_allocated) +
                " bytes: a rebuild that never finished",
            rel("revision.counter"));
  }

  replica_.set_state(replica_state(replica_));
}

}  // namespace

v1::Replica scan_replica_dir(FileSystem& fs, int replicas_fd, const std::string& disk, const std::string& dir_name,
                             const ScanOptions& options) {
  return ReplicaScan(fs, disk, dir_name, options).run(replicas_fd);
}

}  // namespace sentinel::scanner
