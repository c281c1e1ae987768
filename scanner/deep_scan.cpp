// Deep scan of snapshot images: Longhorn's crc64 from allocated extents, checked against .img.checksum.
// See deep_scan.h for the contract and LONGHORN-FORMAT.md ("Longhorn's snapshot checksum") for the rules.
#include "scanner/deep_scan.h"

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "proto/wire/civil_date.h"
#include "scanner/content_digest.h"
#include "scanner/crc64.h"
#include "scanner/findings.h"
#include "scanner/longhorn_metadata.h"
#include "scanner/merged_view.h"
#include "scanner/read_lanes.h"
#include "scanner/replica_names.h"

namespace sentinel::scanner {
namespace {

using v1::Finding;
using v1::Image;
using v1::StoredChecksum;

bool is_lower_hex16(const std::string& s) {
  if (s.size() != 16) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// Reads exactly `n` decimal digits at `pos`.
bool digits(std::string_view text, size_t& pos, size_t n, int64_t* out) {
  if (pos + n > text.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  *out = v;
  return true;
}

bool expect(std::string_view text, size_t& pos, char c) {
  if (pos >= text.size() || text[pos] != c) return false;
  ++pos;
  return true;
}

bool is_snapshot(const Image& image) {
  return image.kind() == Image::SNAPSHOT || image.kind() == Image::EXPANSION_SNAPSHOT;
}

}  // namespace

std::optional<int64_t> parse_go_time_string(std::string_view text) {
  // "2006-01-02 15:04:05[.fraction] -0700 MST[ m=+0.000000001]"
  size_t pos = 0;
  int64_t year, month, day, hour, minute, second;
  if (!digits(text, pos, 4, &year) || !expect(text, pos, '-') || !digits(text, pos, 2, &month) ||
      !expect(text, pos, '-') || !digits(text, pos, 2, &day) || !expect(text, pos, ' ') ||
      !digits(text, pos, 2, &hour) || !expect(text, pos, ':') || !digits(text, pos, 2, &minute) ||
      !expect(text, pos, ':') || !digits(text, pos, 2, &second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return std::nullopt;
  int64_t fraction_ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int n = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (n == 9) return std::nullopt;
      fraction_ns = fraction_ns * 10 + (text[pos] - '0');
      ++pos;
      ++n;
    }
    if (n == 0) return std::nullopt;
    for (; n < 9; ++n) fraction_ns *= 10;
  }
  if (!expect(text, pos, ' ') || pos >= text.size() || (text[pos] != '+' && text[pos] != '-')) return std::nullopt;
  const int64_t sign = text[pos] == '-' ? -1 : 1;
  ++pos;
  int64_t off_h, off_m;
  if (!digits(text, pos, 2, &off_h) || !digits(text, pos, 2, &off_m)) return std::nullopt;
  // A zone name follows (" UTC", " CET", " +03"); Go always prints one.
  if (!expect(text, pos, ' ') || pos >= text.size()) return std::nullopt;
  const int64_t days = wire::days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - sign * (off_h * 3600 + off_m * 60);
  return seconds * 1'000'000'000 + fraction_ns;
}

v1::StoredChecksum verify_stored_checksum(const v1::ChecksumRecord* record, bool record_file_present,
                                          int64_t ctime_ns, const std::string& computed) {
  StoredChecksum out;
  out.set_computed(computed);
  if (record == nullptr) {
    if (record_file_present) {
      out.set_state(StoredChecksum::UNREADABLE);
      out.set_detail(".img.checksum exists but could not be read or is not what Longhorn writes");
    } else {
      out.set_state(StoredChecksum::ABSENT);
    }
    return out;
  }
  out.set_stored(record->checksum());
  if (record->method() != "crc64") {
    out.set_state(StoredChecksum::UNREADABLE);
    out.set_detail("method is \"" + record->method() + "\", not crc64");
    return out;
  }
  const std::string stored = lowercase(record->checksum());
  if (!is_lower_hex16(stored)) {
    out.set_state(StoredChecksum::UNREADABLE);
    out.set_detail("checksum is not 16 hex digits");
    return out;
  }
  if (record->silently_corrupted()) {
    out.set_state(StoredChecksum::FLAGGED);
    out.set_detail("Longhorn re-hashed this unchanged snapshot, got a different sum and marked it silently corrupted");
    return out;
  }
  const std::string ctime_text = go_time_string_utc(ctime_ns);
  bool current = record->change_time() == ctime_text;
  if (!current) {
    auto parsed = parse_go_time_string(record->change_time());
    current = parsed.has_value() && *parsed == ctime_ns;
  }
  if (!current) {
    out.set_state(StoredChecksum::STALE);
    out.set_detail("recorded for change_time " + record->change_time() + " but the file's ctime is " + ctime_text +
                   ": the inode changed since (copy, chmod, new link); Longhorn would re-hash it");
    return out;
  }
  if (computed.empty()) {
    out.set_state(StoredChecksum::UNVERIFIED);
    out.set_detail("the record is current but the snapshot could not be read to compare");
    return out;
  }
  if (lowercase(computed) == stored) {
    out.set_state(StoredChecksum::CURRENT);
  } else {
    out.set_state(StoredChecksum::MISMATCH);
    out.set_detail("Longhorn recorded " + stored + " for this unchanged file; its bytes now give " + computed);
  }
  return out;
}

SysResult<std::unique_ptr<DeepScanner>> DeepScanner::create(FileSystem& fs, const DeepScanOptions& options) {
  const unsigned lanes = std::clamp(options.read_lanes == 0 ? default_read_lanes() : options.read_lanes, 1u, 64u);
  ReadOptions per_lane = options.read;
  if (per_lane.max_read_bytes_per_sec > 0) {  // the cap is for the scan, not for each lane
    per_lane.max_read_bytes_per_sec = std::max<uint64_t>(1, per_lane.max_read_bytes_per_sec / lanes);
  }
  std::vector<std::unique_ptr<ReadEngine>> engines;
  for (unsigned lane = 0; lane < lanes; ++lane) {
    auto engine = ReadEngine::create(lanes == 1 ? options.read : per_lane, options.queue_factory);
    if (!engine) return engine.error();
    engines.push_back(std::move(engine.value()));
  }
  return std::unique_ptr<DeepScanner>(new DeepScanner(fs, std::move(engines), options));
}

namespace {

// One replica's deep scan.
class ReplicaDeepScan {
 public:
  ReplicaDeepScan(FileSystem& fs, std::vector<ReadEngine*> engines, const DeepScanOptions& options,
                  v1::Replica* replica)
      : fs_(fs),
        engines_(std::move(engines)),
        options_(options),
        replica_(replica),
        rel_dir_("replicas/" + replica->dir()) {}

  void run(const std::string& disk) {
    bool any = false;
    for (const Image& image : replica_->images()) any = any || is_snapshot(image);
    std::string no_merged_view;
    if (options_.content_digest) {
      v1::ContentSummary* content = replica_->mutable_content();
      content->set_chunk_bytes(kContentChunkBytes);
      content->set_zero_chunk_digest(zero_chunk_digest().hex());
      no_merged_view = merged_view_unavailable(*replica_);
      if (!no_merged_view.empty()) content->set_skipped(no_merged_view);
    }
    const bool digest = options_.content_digest && no_merged_view.empty();
    if (!any && !digest) return;
    if (!open_dir(disk)) {
      if (digest) replica_->mutable_content()->set_skipped("the replica directory could not be opened");
      return;
    }
    if (options_.cache != nullptr && disk_identity_known_) {
      key_ = CacheKey{disk_device_, disk_inode_, replica_->dir()};
      cached_ = options_.cache->load(key_, &cached_raw_, &cache_file_existed_);
      fresh_.disk = disk;
      cache_ready_ = true;
    }
    for (Image& image : *replica_->mutable_images()) {
      if (is_snapshot(image)) scan_image(&image);
    }
    if (digest) digest_merged_view();
    // What this scan knows replaces the entry (images that are gone, or changed and could not be read, drop out).
    if (cache_ready_ && (!fresh_.empty() || cache_file_existed_)) options_.cache->store(key_, fresh_, cached_raw_);
  }

 private:
  void progress(uint64_t bytes) {
    if (!options_.on_read) return;
    std::lock_guard<std::mutex> lock(progress_mutex_);
    options_.on_read(bytes);
  }

  void finding(Finding::Code code, Finding::Severity severity, std::string message, std::string path) {
    add_finding(replica_->mutable_findings(), code, severity, "deep scan: " + std::move(message), std::move(path));
  }

  // The chain's layers as the cache keys them (with the device), when every one is a regular file still equal
  // to what the quick scan saw; nullopt otherwise (the read below then reports what changed).
  std::optional<std::vector<CachedLayer>> layer_identities(const std::vector<MergedLayer>& layers) {
    std::vector<CachedLayer> out;
    out.reserve(layers.size());
    for (size_t i = 0; i < layers.size(); ++i) {
      auto st = fs_.stat_at(dir_fd_.get(), layers[i].raw_name);
      if (!st || st->type != EntryType::kRegular || !(identity_of(*st) == layers[i].expected)) return std::nullopt;
      out.push_back({replica_->chain(static_cast<int>(i)), cache_identity(*st)});
    }
    return out;
  }

  // The digest from the cache entry, when the volume Size and every layer are what they were.
  bool digest_from_cache(const std::optional<std::vector<CachedLayer>>& layers) {
    if (!layers || !cached_ || !cached_->content) return false;
    const CachedContent& c = *cached_->content;
    if (c.volume_bytes != replica_->size_bytes() || c.layers != *layers) return false;
    v1::ContentSummary* content = replica_->mutable_content();
    replica_->set_content_digest(c.digest);
    content->set_chunk_count(c.chunk_count);
    content->set_nonzero_chunk_count(c.nonzero_chunk_count);
    content->set_mapped_bytes(c.mapped_bytes);
    content->set_run_count(c.run_count);
    content->set_read_bytes(0);
    content->set_from_cache(true);
    if (options_.keep_chunks) {
      for (const CachedChunk& chunk : c.chunks) {
        v1::ContentChunk* out = content->add_chunks();
        out->set_index(chunk.index);
        out->set_digest(chunk.digest);
      }
    }
    fresh_.content = c;
    return true;
  }

  // The content digest over the merged view (content_digest.h, merged_view.h).
  void digest_merged_view() {
    v1::ContentSummary* content = replica_->mutable_content();
    const std::vector<MergedLayer> layers = merged_layers_of(*replica_, raw_names_);
    const int64_t started = wall_clock_ns();
    std::optional<std::vector<CachedLayer>> identities;
    if (cache_ready_) {
      identities = layer_identities(layers);
      const bool hit = digest_from_cache(identities);
      options_.cache->count_content(hit);
      if (hit) return;
    }
    // With a cache the chunk list is kept for it, whether or not it is printed; with lanes it is how their
    // parts are put together.
    const bool keep = options_.keep_chunks || cache_ready_;
    std::vector<std::unique_ptr<ContentDigester>> parts;
    MergedViewLanes lanes;
    lanes.engines = engines_;
    lanes.align = kContentChunkBytes;
    lanes.min_lane_bytes = options_.min_lane_bytes;
    const MergedViewReport report = stream_merged_view_in_lanes(
        fs_, lanes, dir_fd_.get(), layers, replica_->size_bytes(), [&](size_t, const LaneRange& range) {
          parts.push_back(std::make_unique<ContentDigester>(replica_->size_bytes(), keep || engines_.size() > 1,
                                                            range.begin));
          ContentDigester* part = parts.back().get();
          MergedViewSink sink;
          sink.data = [this, part](uint64_t offset, const uint8_t* data, size_t length) {
            progress(length);
            return part->data(offset, data, length);
          };
          sink.zeros = [part](uint64_t offset, uint64_t length) { return part->zeros(offset, length); };
          return sink;
        });
    content->set_run_count(report.run_count);
    content->set_mapped_bytes(report.mapped_bytes);
    content->set_read_bytes(report.read_bytes);
    const bool complete =
        report.ok() && !parts.empty() && parts.back()->position() == replica_->size_bytes();
    if (complete) {
      ContentResult result;
      if (parts.size() == 1) {
        result.digest = parts[0]->digest();
        result.chunk_count = parts[0]->chunk_count();
        result.chunks = parts[0]->chunks();
      } else {
        for (const auto& part : parts) {
          result.chunks.insert(result.chunks.end(), part->chunks().begin(), part->chunks().end());
        }
        result.digest = content_digest_from_chunks(replica_->size_bytes(), result.chunks);
        result.chunk_count = content_chunk_count(replica_->size_bytes());
      }
      result.nonzero_chunk_count = 0;
      for (const auto& part : parts) result.nonzero_chunk_count += part->nonzero_chunk_count();
      replica_->set_content_digest(result.digest.hex());
      content->set_chunk_count(result.chunk_count);
      content->set_nonzero_chunk_count(result.nonzero_chunk_count);
      if (options_.keep_chunks) {
        for (const ChunkDigest& chunk : result.chunks) {
          v1::ContentChunk* out = content->add_chunks();
          out->set_index(chunk.index);
          out->set_digest(chunk.digest.hex());
        }
      }
      if (cache_ready_ && identities) remember_content(*identities, started, result, report);
      return;
    }
    using Outcome = MergedViewReport::Outcome;
    Finding::Code code = Finding::UNREADABLE;
    Finding::Severity severity = Finding::ERROR;
    switch (report.outcome) {
      case Outcome::kVanished:
        code = Finding::VANISHED;
        severity = Finding::WARNING;
        break;
      case Outcome::kChanged:
        code = Finding::CHANGED_DURING_SCAN;
        severity = Finding::WARNING;
        break;
      case Outcome::kExtentMapFailed:
        code = Finding::EXTENT_MAP_FAILED;
        break;
      case Outcome::kUnreadable:
        break;
      default:  // kStopped (the digester refused a piece: a bug, not a disk problem), kNotApplicable
        content->set_skipped("internal error: the merged view did not fit the volume Size (" + report.message + ")");
        return;
    }
    content->set_skipped(report.path + ": " + report.message);
    // One problem, one finding: the crc64 pass may have reported this file for the same reason already.
    for (Finding& f : *replica_->mutable_findings()) {
      if (f.code() == code && f.path() == report.path && f.message().rfind("deep scan:", 0) == 0) {
        f.set_message(f.message() + "; content digest not computed either");
        return;
      }
    }
    finding(code, severity, report.message + "; content digest not computed", report.path);
  }

  // The content digest of a whole volume, however many lanes computed it.
  struct ContentResult {
    Digest128 digest;
    uint64_t chunk_count = 0;
    uint64_t nonzero_chunk_count = 0;
    std::vector<ChunkDigest> chunks;  // the non-zero chunks, when kept
  };

  void remember_content(const std::vector<CachedLayer>& identities, int64_t started, const ContentResult& digester,
                        const MergedViewReport& report) {
    for (const CachedLayer& layer : identities) {
      if (options_.cache->racy(layer.identity, started)) {
        options_.cache->count_racy();
        return;
      }
    }
    CachedContent c;
    c.volume_bytes = replica_->size_bytes();
    c.layers = identities;
    c.digest = digester.digest.hex();
    c.chunk_count = digester.chunk_count;
    c.nonzero_chunk_count = digester.nonzero_chunk_count;
    c.mapped_bytes = report.mapped_bytes;
    c.run_count = report.run_count;
    c.chunks.reserve(digester.chunks.size());
    for (const ChunkDigest& chunk : digester.chunks) c.chunks.push_back({chunk.index, chunk.digest.hex()});
    fresh_.content = std::move(c);
  }

  static CacheIdentity cache_identity(const FileStat& st) {
    return {st.device, st.inode, st.size, st.mtime_ns, st.ctime_ns};
  }

  // Opens <disk>/replicas/<dir> and learns the raw names of its entries (the inventory holds escaped names).
  bool open_dir(const std::string& disk) {
    auto disk_fd = fs_.open_root(disk);
    if (!disk_fd) {
      finding(Finding::UNREADABLE, Finding::ERROR, "cannot open disk: " + disk_fd.error().message(), rel_dir_);
      return false;
    }
    if (auto st = fs_.stat_fd(disk_fd->get())) {
      disk_device_ = st->device;
      disk_inode_ = st->inode;
      disk_identity_known_ = true;
    }
    auto replicas_fd = fs_.open_dir_at(disk_fd->get(), "replicas");
    if (!replicas_fd) {
      finding(Finding::UNREADABLE, Finding::ERROR, "cannot open replicas/: " + replicas_fd.error().message(),
              rel_dir_);
      return false;
    }
    std::string raw_dir = replica_->dir();
    if (raw_dir.find('\\') != std::string::npos) {  // escaped: find the raw name it came from
      auto entries = fs_.list_dir(replicas_fd->get());
      if (entries) {
        for (const auto& e : *entries) {
          if (escape_name(e.name) == replica_->dir()) raw_dir = e.name;
        }
      }
    }
    auto dir_fd = fs_.open_dir_at(replicas_fd->get(), raw_dir);
    if (!dir_fd) {
      const int err = dir_fd.error().err;
      finding(err == ENOENT ? Finding::VANISHED : Finding::UNREADABLE, Finding::ERROR,
              "cannot open the replica directory: " + dir_fd.error().message(), rel_dir_);
      return false;
    }
    dir_fd_ = std::move(dir_fd.value());
    auto entries = fs_.list_dir(dir_fd_.get());
    if (!entries) {
      finding(Finding::UNREADABLE, Finding::ERROR, "cannot list the replica directory: " + entries.error().message(),
              rel_dir_);
      return false;
    }
    for (const auto& e : *entries) {
      raw_names_[escape_name(e.name)] = e.name;
      present_.insert(e.name);
    }
    return true;
  }

  void scan_image(Image* image) {
    const std::string path = rel_dir_ + "/" + image->name();
    auto it = raw_names_.find(image->name());
    const std::string raw = it != raw_names_.end() ? it->second : image->name();
    const bool record_file_present = present_.count(raw + ".checksum") != 0;
    const v1::ChecksumRecord* record = image->has_checksum_record() ? &image->checksum_record() : nullptr;
    auto verdict = [&](const std::string& computed, int64_t ctime_ns) {
      *image->mutable_stored_checksum() = verify_stored_checksum(record, record_file_present, ctime_ns, computed);
      const auto state = image->stored_checksum().state();
      if (state == StoredChecksum::MISMATCH) {
        finding(Finding::CHECKSUM_MISMATCH, Finding::ERROR,
                "crc64 " + computed + " differs from Longhorn's current record " + record->checksum() +
                    " for this unchanged snapshot: silent corruption Longhorn has not noticed yet",
                path);
      } else if (state == StoredChecksum::FLAGGED) {
        finding(Finding::CHECKSUM_FLAGGED, Finding::ERROR,
                "Longhorn's checksum record marks this snapshot silently corrupted", path);
      }
    };

    if (image->inode() == 0) {  // the quick scan could not open it; it already said why
      verdict("", image->ctime_ns());
      return;
    }
    const int64_t started = wall_clock_ns();  // before the identity is taken: see DeepScanCache::racy
    auto fd = fs_.open_file_at(dir_fd_.get(), raw);
    if (!fd) {
      const int err = fd.error().err;
      finding(err == ENOENT ? Finding::VANISHED : Finding::UNREADABLE, err == ENOENT ? Finding::WARNING : Finding::ERROR,
              err == ENOENT ? "snapshot disappeared before it could be read" : "cannot open: " + fd.error().message(),
              path);
      verdict("", image->ctime_ns());
      return;
    }
    auto before = fs_.stat_fd(fd->get());
    if (!before) {
      finding(Finding::UNREADABLE, Finding::ERROR, "cannot stat: " + before.error().message(), path);
      verdict("", image->ctime_ns());
      return;
    }
    const FileIdentity at_quick_scan = identity_of(*image);
    const FileIdentity at_open = identity_of(*before);
    if (before->type != EntryType::kRegular || !(at_open == at_quick_scan)) {
      finding(Finding::CHANGED_DURING_SCAN, Finding::WARNING,
              "snapshot changed since the quick scan (" +
                  (before->type != EntryType::kRegular ? std::string("no longer a regular file")
                                                       : describe_change(at_quick_scan, at_open)) +
                  "); crc64 not computed",
              path);
      verdict("", before->ctime_ns);
      return;
    }
    const CacheIdentity id = cache_identity(*before);
    if (cache_ready_) {
      const CachedImage* hit = cached_ ? cached_->find_image(image->name(), id) : nullptr;
      options_.cache->count_image(hit != nullptr);
      if (hit != nullptr) {
        image->set_crc64(hit->crc64);
        image->set_deep_read_bytes(0);
        image->set_crc64_from_cache(true);
        fresh_.images.push_back(*hit);
        verdict(hit->crc64, before->ctime_ns);
        return;
      }
    }

    std::vector<ReadExtent> extents;
    auto mapped = fs_.map_extents(fd->get(), before->size, [&](uint64_t offset, uint64_t length) {
      if (!extents.empty() && extents.back().offset + extents.back().length == offset) {
        extents.back().length += length;
      } else {
        extents.push_back({offset, length});
      }
    });
    if (!mapped) {
      finding(Finding::EXTENT_MAP_FAILED, Finding::ERROR,
              "cannot map allocated extents: " + mapped.error().message() + "; crc64 not computed", path);
      verdict("", before->ctime_ns);
      return;
    }

    // Each lane computes the crc64 of its range as if it were a file of its own; the results combine exactly.
    const std::vector<LaneRange> ranges =
        engines_.size() <= 1 ? std::vector<LaneRange>{{0, before->size}}
                             : plan_lanes(extents, before->size, static_cast<unsigned>(engines_.size()),
                                          kContentChunkBytes, options_.min_lane_bytes);
    std::vector<SparseCrc64> parts;
    for (const LaneRange& range : ranges) parts.emplace_back(range.end - range.begin);
    std::vector<uint8_t> fits(ranges.size(), 1);  // not vector<bool>: lanes write their own element at once
    const std::vector<ReadReport> reads =
        read_in_lanes(engines_, fd->get(), extents, ranges,
                      [&](size_t lane, uint64_t offset, const uint8_t* data, size_t length) {
                        progress(length);
                        fits[lane] = parts[lane].update(offset - ranges[lane].begin, data, length) ? 1 : 0;
                        return fits[lane] != 0;
                      });
    bool consistent = true;
    uint64_t crc_value = 0;
    ReadReport report;
    bool failed = false;
    for (size_t lane = 0; lane < ranges.size(); ++lane) {
      consistent = consistent && fits[lane] != 0;
      crc_value = lane == 0 ? parts[0].value()
                            : crc64_iso_combine(crc_value, parts[lane].value(), ranges[lane].end - ranges[lane].begin);
      if (!failed && !reads[lane].ok()) {  // the problem at the lowest offset is the one reported
        const uint64_t delivered = report.bytes_delivered;
        report = reads[lane];
        report.bytes_delivered += delivered;
        failed = true;
      } else {
        report.bytes_delivered += reads[lane].bytes_delivered;
      }
    }
    auto after = fs_.stat_fd(fd->get());
    const bool changed = !after || !(identity_of(*after) == at_open);

    std::string computed;
    if (changed) {
      finding(Finding::CHANGED_DURING_SCAN, Finding::WARNING,
              "snapshot changed while it was read (" +
                  (after ? describe_change(at_open, identity_of(*after)) : "cannot stat: " + after.error().message()) +
                  "); crc64 not computed",
              path);
    } else if (report.outcome == ReadReport::Outcome::kShortFile) {
      finding(Finding::CHANGED_DURING_SCAN, Finding::WARNING, report.message() + "; crc64 not computed", path);
    } else if (report.outcome == ReadReport::Outcome::kIoError || report.outcome == ReadReport::Outcome::kFailed) {
      finding(Finding::UNREADABLE, Finding::ERROR, report.message() + "; crc64 not computed", path);
    } else if (!consistent || report.outcome != ReadReport::Outcome::kComplete) {
      finding(Finding::EXTENT_MAP_FAILED, Finding::ERROR,
              "the extent map does not fit the file (data past its size or out of order); crc64 not computed", path);
    } else {
      computed = crc64_hex(crc_value);
      image->set_crc64(computed);
      image->set_deep_read_bytes(report.bytes_delivered);
      if (cache_ready_) {
        if (options_.cache->racy(id, started)) {
          options_.cache->count_racy();
        } else {
          fresh_.images.push_back({image->name(), id, computed});
        }
      }
    }
    verdict(computed, before->ctime_ns);
  }

  FileSystem& fs_;
  std::vector<ReadEngine*> engines_;  // one per read lane; [0] on this thread
  const DeepScanOptions& options_;
  std::mutex progress_mutex_;  // lanes report progress one at a time
  v1::Replica* replica_;
  std::string rel_dir_;
  Fd dir_fd_;
  std::map<std::string, std::string> raw_names_;  // escaped name -> raw name
  std::set<std::string> present_;                 // raw names in the directory
  // The cache (options_.cache): the disk root's identity, the entry as loaded, and what this scan computed.
  uint64_t disk_device_ = 0;
  uint64_t disk_inode_ = 0;
  bool disk_identity_known_ = false;
  bool cache_ready_ = false;
  bool cache_file_existed_ = false;
  CacheKey key_;
  std::optional<CacheEntry> cached_;
  std::string cached_raw_;
  CacheEntry fresh_;
};

}  // namespace

void DeepScanner::scan_replica(v1::Replica* replica, const std::string& disk_path) {
  std::vector<ReadEngine*> engines;
  for (const auto& engine : engines_) engines.push_back(engine.get());
  ReplicaDeepScan(fs_, std::move(engines), options_, replica).run(disk_path.empty() ? replica->disk() : disk_path);
  replica->set_state(replica_state(*replica));
}

void DeepScanner::scan_inventory(v1::Inventory* inventory) {
  for (v1::Replica& replica : *inventory->mutable_replicas()) scan_replica(&replica);
  if (options_.cache != nullptr) prune_deep_scan_cache(fs_, *options_.cache, *inventory);
}

uint64_t deep_scan_planned_bytes(const v1::Replica& replica, const DeepScanOptions& options) {
  uint64_t bytes = 0;
  for (const Image& image : replica.images()) {
    if (is_snapshot(image)) bytes += image.allocated_bytes();
  }
  if (options.content_digest && merged_view_unavailable(replica).empty()) {
    std::set<std::string> chain(replica.chain().begin(), replica.chain().end());
    for (const Image& image : replica.images()) {
      if (chain.count(image.name()) != 0) bytes += image.allocated_bytes();
    }
  }
  return bytes;
}

size_t prune_deep_scan_cache(FileSystem& fs, DeepScanCache& cache, const v1::Inventory& inventory) {
  size_t removed = 0;
  for (const v1::Disk& disk : inventory.disks()) {
    // A disk whose replicas/ could not be listed says nothing about which replicas are gone.
    bool listed = true;
    for (const Finding& f : disk.findings()) {
      if (f.code() == Finding::UNREADABLE || f.code() == Finding::NO_REPLICAS_DIR) listed = false;
    }
    if (!listed) continue;
    auto fd = fs.open_root(disk.path());
    if (!fd) continue;
    auto st = fs.stat_fd(fd->get());
    if (!st) continue;
    std::set<std::string> dirs;
    for (const v1::Replica& replica : inventory.replicas()) {
      if (replica.disk() == disk.path()) dirs.insert(replica.dir());
    }
    removed += cache.prune(st->device, st->inode, dirs);
  }
  return removed;
}

namespace {

void report_no_engine(v1::Replica* replica, const SysError& error, const DeepScanOptions& options) {
  bool any = false;
  for (const Image& image : replica->images()) any = any || is_snapshot(image);
  if (options.content_digest) {
    v1::ContentSummary* content = replica->mutable_content();
    content->set_chunk_bytes(kContentChunkBytes);
    content->set_zero_chunk_digest(zero_chunk_digest().hex());
    std::string why = merged_view_unavailable(*replica);
    any = any || why.empty();
    content->set_skipped(why.empty() ? "deep scan impossible: " + error.message() : why);
  }
  if (!any) return;
  add_finding(replica->mutable_findings(), Finding::UNREADABLE, Finding::ERROR,
              "deep scan impossible: " + error.message(), "replicas/" + replica->dir());
}

}  // namespace

void deep_scan_replica(FileSystem& fs, const std::string& disk_path, v1::Replica* replica,
                       const DeepScanOptions& options) {
  auto scanner = DeepScanner::create(fs, options);
  if (!scanner) {
    report_no_engine(replica, scanner.error(), options);
    return;
  }
  (*scanner)->scan_replica(replica, disk_path);
}

void deep_scan_inventory(FileSystem& fs, v1::Inventory* inventory, const DeepScanOptions& options) {
  auto scanner = DeepScanner::create(fs, options);
  if (!scanner) {
    for (v1::Replica& replica : *inventory->mutable_replicas()) report_no_engine(&replica, scanner.error(), options);
    return;
  }
  (*scanner)->scan_inventory(inventory);
}

}  // namespace sentinel::scanner
