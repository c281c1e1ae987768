// The deep-scan cache. See deep_scan_cache.h for the contract.
#include "scanner/deep_scan_cache.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <random>

#include "scanner/content_digest.h"

namespace sentinel::scanner {
namespace {

namespace stdfs = std::filesystem;
using nlohmann::json;

constexpr const char* kMagic = "SENTINEL-DEEP-SCAN-CACHE";
constexpr const char* kSuffix = ".dsc";
constexpr const char* kCrcVariant = "crc64-iso-longhorn";   // CRC-64/ISO, reflected, as Go's hash/crc64
constexpr uint64_t kMaxFileBytes = uint64_t{256} << 20;     // a 1 PiB volume's chunk list would not fit; fine
constexpr int64_t kTempMaxAgeNs = int64_t{3600} * 1'000'000'000;

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string errno_text(int err) { return std::strerror(err); }

bool is_lower_hex(const std::string& s, size_t digits) {
  if (s.size() != digits) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string disk_prefix(uint64_t device, uint64_t inode) {
  const uint64_t words[2] = {device, inode};
  return hex64(XXH3_64bits(words, sizeof words)) + "-";
}

// --- JSON with strict types: a cache file is checked, never trusted blindly ---

struct Malformed {
  std::string why;
};

const json& member(const json& object, const char* name) {
  if (!object.is_object()) throw Malformed{"an object was expected"};
  auto it = object.find(name);
  if (it == object.end()) throw Malformed{std::string("\"") + name + "\" is missing"};
  return *it;
}

uint64_t get_u64(const json& object, const char* name) {
  const json& v = member(object, name);
  if (!v.is_number_unsigned()) throw Malformed{std::string("\"") + name + "\" is not an unsigned integer"};
  return v.get<uint64_t>();
}

int64_t get_i64(const json& object, const char* name) {
  const json& v = member(object, name);
  if (!v.is_number_integer()) throw Malformed{std::string("\"") + name + "\" is not an integer"};
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    throw Malformed{std::string("\"") + name + "\" is out of range"};
  }
  return v.get<int64_t>();
}

std::string get_string(const json& object, const char* name) {
  const json& v = member(object, name);
  if (!v.is_string()) throw Malformed{std::string("\"") + name + "\" is not a string"};
  return v.get<std::string>();
}

std::string get_hex(const json& object, const char* name, size_t digits) {
  std::string s = get_string(object, name);
  if (!is_lower_hex(s, digits)) {
    throw Malformed{std::string("\"") + name + "\" is not " + std::to_string(digits) + " lowercase hex digits"};
  }
  return s;
}

const json& get_array(const json& object, const char* name) {
  const json& v = member(object, name);
  if (!v.is_array()) throw Malformed{std::string("\"") + name + "\" is not an array"};
  return v;
}

json identity_json(const CacheIdentity& id) {
  return json{{"device", id.device}, {"inode", id.inode}, {"size", id.size}, {"mtimeNs", id.mtime_ns},
              {"ctimeNs", id.ctime_ns}};
}

CacheIdentity identity_from(const json& object) {
  CacheIdentity id;
  id.device = get_u64(object, "device");
  id.inode = get_u64(object, "inode");
  id.size = get_u64(object, "size");
  id.mtime_ns = get_i64(object, "mtimeNs");
  id.ctime_ns = get_i64(object, "ctimeNs");
  return id;
}

json parameters_json() {
  return json{{"chunkBytes", kContentChunkBytes}, {"zeroChunkDigest", kZeroChunkDigestHex}, {"crc", kCrcVariant}};
}

// Writes all of `data` to `fd`.
bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// mkdir -p with 0700 for what it creates.
bool make_directories(const stdfs::path& path, std::string* error) {
  stdfs::path so_far;
  for (const auto& part : path) {
    so_far /= part;
    if (so_far == so_far.root_path()) continue;
    if (::mkdir(so_far.c_str(), 0700) != 0 && errno != EEXIST) {
      *error = "cannot create " + so_far.string() + ": " + errno_text(errno);
      return false;
    }
  }
  return true;
}

}  // namespace

int64_t wall_clock_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

const CachedImage* CacheEntry::find_image(const std::string& name, const CacheIdentity& identity) const {
  for (const CachedImage& image : images) {
    if (image.name == name && image.identity == identity) return &image;
  }
  return nullptr;
}

std::string cache_dir_conflict(const std::string& dir, const std::vector<std::string>& disks) {
  std::error_code ec;
  const stdfs::path absolute = stdfs::absolute(dir, ec);
  if (ec) return "cannot resolve " + dir + ": " + ec.message();
  const stdfs::path real = stdfs::weakly_canonical(absolute, ec);
  if (ec) return "cannot resolve " + dir + ": " + ec.message();
  struct DiskId {
    std::string path;
    uint64_t device;
    uint64_t inode;
  };
  std::vector<DiskId> ids;
  for (const std::string& disk : disks) {
    struct stat st {};
    if (::stat(disk.c_str(), &st) != 0) continue;  // nothing can be inside a disk that is not there
    const stdfs::path disk_real = stdfs::canonical(disk, ec);
    if (ec) continue;
    ids.push_back({disk, static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)});
    const std::string d = disk_real.string();
    const std::string r = real.string();
    if (r == d || d == "/" || (r.size() > d.size() && r.compare(0, d.size(), d) == 0 && r[d.size()] == '/')) {
      return "the cache directory " + dir + (r == dir ? "" : " (" + r + ")") + " is inside the Longhorn disk " +
             disk + ": Sentinel never writes under a disk; choose a directory outside every --disk";
    }
  }
  // The same disk seen through a bind mount or another path: compare the existing ancestors by device/inode.
  for (stdfs::path p = real;; p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) {
      for (const DiskId& id : ids) {
        if (static_cast<uint64_t>(st.st_dev) == id.device && static_cast<uint64_t>(st.st_ino) == id.inode) {
          return "the cache directory " + dir + " is inside the Longhorn disk " + id.path + " (as " + p.string() +
                 "): Sentinel never writes under a disk; choose a directory outside every --disk";
        }
      }
    }
    if (p == p.parent_path() || p.empty()) break;
  }
  return "";
}

std::unique_ptr<DeepScanCache> DeepScanCache::open(const DeepScanCacheOptions& options, std::string* error) {
  if (options.dir.empty()) {
    *error = "the cache directory is empty";
    return nullptr;
  }
  std::string conflict = cache_dir_conflict(options.dir, options.disks);
  if (!conflict.empty()) {
    *error = conflict;
    return nullptr;
  }
  std::error_code ec;
  const stdfs::path absolute = stdfs::absolute(options.dir, ec);
  if (ec || !make_directories(absolute, error)) {
    if (ec) *error = "cannot resolve " + options.dir + ": " + ec.message();
    return nullptr;
  }
  // Again, now that it exists: a symlink planted meanwhile must not lead under a disk either.
  conflict = cache_dir_conflict(options.dir, options.disks);
  if (!conflict.empty()) {
    *error = conflict;
    return nullptr;
  }
  const int fd = ::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot open the cache directory " + options.dir + ": " + errno_text(errno);
    return nullptr;
  }
  return std::unique_ptr<DeepScanCache>(new DeepScanCache(options, fd));
}

DeepScanCache::~DeepScanCache() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

void DeepScanCache::warn(const std::string& message) {
  if (options_.warn) options_.warn("deep-scan cache: " + message);
}

std::string DeepScanCache::file_name(const CacheKey& key) {
  return disk_prefix(key.disk_device, key.disk_inode) + hex64(XXH3_64bits(key.dir.data(), key.dir.size())) +
         kSuffix;
}

std::string DeepScanCache::serialize(const CacheKey& key, const CacheEntry& entry) {
  json body;
  body["parameters"] = parameters_json();
  body["disk"] = entry.disk;
  body["diskDevice"] = key.disk_device;
  body["diskInode"] = key.disk_inode;
  body["dir"] = key.dir;
  json images = json::array();
  for (const CachedImage& image : entry.images) {
    images.push_back({{"name", image.name}, {"identity", identity_json(image.identity)}, {"crc64", image.crc64}});
  }
  body["images"] = std::move(images);
  if (entry.content) {
    const CachedContent& c = *entry.content;
    json layers = json::array();
    for (const CachedLayer& layer : c.layers) {
      layers.push_back({{"name", layer.name}, {"identity", identity_json(layer.identity)}});
    }
    json chunks = json::array();
    for (const CachedChunk& chunk : c.chunks) chunks.push_back({{"index", chunk.index}, {"digest", chunk.digest}});
    body["content"] = {{"volumeBytes", c.volume_bytes},
                       {"layers", std::move(layers)},
                       {"digest", c.digest},
                       {"chunkCount", c.chunk_count},
                       {"nonzeroChunkCount", c.nonzero_chunk_count},
                       {"mappedBytes", c.mapped_bytes},
                       {"runCount", c.run_count},
                       {"chunks", std::move(chunks)}};
  }
  // Names in the inventory are escaped (valid UTF-8); a disk path the operator typed may not be: replaced, it is
  // only informational.
  const std::string text = body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return std::string(kMagic) + " " + std::to_string(kFormatVersion) + " " +
         hex64(XXH3_64bits(text.data(), text.size())) + " " + std::to_string(text.size()) + "\n" + text;
}

std::optional<CacheEntry> DeepScanCache::parse(const std::string& bytes, const CacheKey& key, std::string* why,
                                               bool* foreign) {
  *foreign = false;
  const size_t eol = bytes.find('\n');
  if (eol == std::string::npos || eol > 200) {
    *why = "not a Sentinel deep-scan cache file (no header line)";
    return std::nullopt;
  }
  char magic[32] = {};
  int version = 0;
  char hash[17] = {};
  unsigned long long length = 0;
  const std::string header = bytes.substr(0, eol);
  if (std::sscanf(header.c_str(), "%31s %d %16s %llu", magic, &version, hash, &length) < 2 ||
      std::string(magic) != kMagic) {
    *why = "not a Sentinel deep-scan cache file (bad header)";
    return std::nullopt;
  }
  if (version != kFormatVersion) {
    *foreign = true;
    *why = "written in cache format " + std::to_string(version) + ", this Sentinel uses format " +
           std::to_string(kFormatVersion);
    return std::nullopt;
  }
  const std::string body = bytes.substr(eol + 1);
  if (header != std::string(kMagic) + " " + std::to_string(kFormatVersion) + " " + hash + " " +
                    std::to_string(length) ||
      body.size() != length) {
    *why = "corrupt: the header does not match the body's length (truncated or appended to)";
    return std::nullopt;
  }
  if (hex64(XXH3_64bits(body.data(), body.size())) != hash) {
    *why = "corrupt: the body's XXH3-64 does not match the header";
    return std::nullopt;
  }
  try {
    const json doc = json::parse(body);
    if (member(doc, "parameters") != parameters_json()) {
      *foreign = true;
      *why = "computed with other parameters (chunk size, zero-chunk digest or CRC variant)";
      return std::nullopt;
    }
    if (get_u64(doc, "diskDevice") != key.disk_device || get_u64(doc, "diskInode") != key.disk_inode ||
        get_string(doc, "dir") != key.dir) {
      *why = "belongs to another replica directory (" + get_string(doc, "dir") + ")";
      return std::nullopt;
    }
    CacheEntry entry;
    entry.disk = get_string(doc, "disk");
    for (const json& image : get_array(doc, "images")) {
      CachedImage out;
      out.name = get_string(image, "name");
      out.identity = identity_from(member(image, "identity"));
      out.crc64 = get_hex(image, "crc64", 16);
      entry.images.push_back(std::move(out));
    }
    auto content = doc.find("content");
    if (content != doc.end()) {
      CachedContent c;
      c.volume_bytes = get_u64(*content, "volumeBytes");
      for (const json& layer : get_array(*content, "layers")) {
        c.layers.push_back({get_string(layer, "name"), identity_from(member(layer, "identity"))});
      }
      if (c.layers.empty()) throw Malformed{"the content has no layers"};
      c.digest = get_hex(*content, "digest", 32);
      c.chunk_count = get_u64(*content, "chunkCount");
      c.nonzero_chunk_count = get_u64(*content, "nonzeroChunkCount");
      c.mapped_bytes = get_u64(*content, "mappedBytes");
      c.run_count = get_u64(*content, "runCount");
      if (c.chunk_count != (c.volume_bytes + kContentChunkBytes - 1) / kContentChunkBytes) {
        throw Malformed{"chunkCount does not fit volumeBytes"};
      }
      for (const json& chunk : get_array(*content, "chunks")) {
        CachedChunk out{get_u64(chunk, "index"), get_hex(chunk, "digest", 32)};
        if (out.index >= c.chunk_count || (!c.chunks.empty() && out.index <= c.chunks.back().index)) {
          throw Malformed{"the chunk list is out of order or out of range"};
        }
        c.chunks.push_back(std::move(out));
      }
      if (c.chunks.size() != c.nonzero_chunk_count) throw Malformed{"nonzeroChunkCount does not fit the chunk list"};
      entry.content = std::move(c);
    }
    return entry;
  } catch (const Malformed& m) {
    *why = "corrupt: " + m.why;
  } catch (const json::exception& e) {
    *why = std::string("corrupt: ") + e.what();
  }
  return std::nullopt;
}

std::optional<CacheEntry> DeepScanCache::load(const CacheKey& key, std::string* raw, bool* existed) {
  if (raw != nullptr) raw->clear();
  if (existed != nullptr) *existed = false;
  const std::string name = file_name(key);
  const std::string shown = options_.dir + "/" + name;
  const int fd = ::openat(dir_fd_, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    if (existed != nullptr) *existed = true;
    files_ignored_.fetch_add(1, std::memory_order_relaxed);
    warn(shown + ": cannot open: " + errno_text(errno) + "; ignored, it will be rewritten");
    return std::nullopt;
  }
  if (existed != nullptr) *existed = true;
  std::string bytes;
  struct stat st {};
  bool readable = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= kMaxFileBytes;
  if (readable) {
    bytes.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::read(fd, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    bytes.resize(done);
  }
  ::close(fd);
  if (!readable) {
    files_ignored_.fetch_add(1, std::memory_order_relaxed);
    warn(shown + ": not a regular file of at most 256 MiB; ignored and rewritten");
    return std::nullopt;
  }
  std::string why;
  bool foreign = false;
  auto entry = parse(bytes, key, &why, &foreign);
  if (!entry) {
    files_ignored_.fetch_add(1, std::memory_order_relaxed);
    warn(shown + ": " + why + "; ignored, it will be rebuilt");
    return std::nullopt;
  }
  if (raw != nullptr) *raw = std::move(bytes);
  return entry;
}

bool DeepScanCache::store(const CacheKey& key, const CacheEntry& entry, const std::string& previous_raw) {
  const std::string bytes = serialize(key, entry);
  if (!previous_raw.empty() && bytes == previous_raw) return true;
  const std::string name = file_name(key);
  std::random_device random;
  const std::string temp = "." + name + ".tmp-" + hex64((uint64_t{random()} << 32) ^ random());
  auto fail = [&](const std::string& what, int err) {
    ::unlinkat(dir_fd_, temp.c_str(), 0);
    warn(options_.dir + "/" + name + ": cannot " + what + ": " + errno_text(err) + "; not cached");
    return false;
  };
  const int fd = ::openat(dir_fd_, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    warn(options_.dir + "/" + name + ": cannot create a temporary file: " + errno_text(errno) + "; not cached");
    return false;
  }
  if (!write_all(fd, bytes)) {
    const int err = errno;
    ::close(fd);
    return fail("write", err);
  }
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    return fail("fsync", err);
  }
  ::close(fd);
  if (::renameat(dir_fd_, temp.c_str(), dir_fd_, name.c_str()) != 0) return fail("rename", errno);
  if (::fsync(dir_fd_) != 0) {
    warn(options_.dir + ": cannot fsync the directory: " + errno_text(errno));
    return false;
  }
  files_written_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

size_t DeepScanCache::prune(uint64_t disk_device, uint64_t disk_inode, const std::set<std::string>& dirs) {
  const std::string prefix = disk_prefix(disk_device, disk_inode);
  std::set<std::string> keep;
  for (const std::string& dir : dirs) keep.insert(file_name({disk_device, disk_inode, dir}));
  const int fd = ::dup(dir_fd_);
  if (fd < 0) return 0;
  DIR* listing = ::fdopendir(fd);
  if (listing == nullptr) {
    ::close(fd);
    return 0;
  }
  ::rewinddir(listing);
  std::vector<std::string> doomed;
  const int64_t now = wall_clock_ns();
  while (const dirent* e = ::readdir(listing)) {
    const std::string name = e->d_name;
    const bool entry = name.size() > prefix.size() + 4 && name.compare(0, prefix.size(), prefix) == 0 &&
                       name.compare(name.size() - 4, 4, kSuffix) == 0;
    if (entry && keep.count(name) == 0) {
      doomed.push_back(name);
    } else if (name.size() > 1 && name[0] == '.' && name.compare(1, prefix.size(), prefix) == 0 &&
               name.find(".tmp-") != std::string::npos) {
      struct stat st {};
      if (::fstatat(dir_fd_, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
          now - (static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec) > kTempMaxAgeNs) {
        doomed.push_back(name);
      }
    }
  }
  ::closedir(listing);
  size_t removed = 0;
  for (const std::string& name : doomed) {
    if (::unlinkat(dir_fd_, name.c_str(), 0) == 0) ++removed;
  }
  return removed;
}

bool DeepScanCache::racy(const CacheIdentity& identity, int64_t read_started_ns) const {
  return std::max(identity.mtime_ns, identity.ctime_ns) >= read_started_ns - options_.racy_window_ns;
}

void DeepScanCache::count_image(bool hit) {
  (hit ? image_hits_ : image_misses_).fetch_add(1, std::memory_order_relaxed);
}

void DeepScanCache::count_content(bool hit) {
  (hit ? content_hits_ : content_misses_).fetch_add(1, std::memory_order_relaxed);
}

void DeepScanCache::count_racy() { racy_skipped_.fetch_add(1, std::memory_order_relaxed); }

DeepScanCacheStats DeepScanCache::stats() const {
  DeepScanCacheStats s;
  s.image_hits = image_hits_.load(std::memory_order_relaxed);
  s.image_misses = image_misses_.load(std::memory_order_relaxed);
  s.content_hits = content_hits_.load(std::memory_order_relaxed);
  s.content_misses = content_misses_.load(std::memory_order_relaxed);
  s.files_ignored = files_ignored_.load(std::memory_order_relaxed);
  s.files_written = files_written_.load(std::memory_order_relaxed);
  s.racy_skipped = racy_skipped_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sentinel::scanner
