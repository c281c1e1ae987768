// The broken-tree cases; see broken_cases.h. Each case is the healthy template with exactly one thing wrong.
#include "tools/treegen/broken_cases.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <utility>

#include "tools/treegen/longhorn_json.h"
#include "tools/treegen/posix_io.h"

namespace sentinel::treegen {
namespace {

using Code = v1::Finding::Code;
using v1::Finding;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr const char* kSnap = "volume-snap-2f8c1d6e-9a4b-4c3d-8e7f-1a2b3c4d5e6f.img";
constexpr const char* kHead = "volume-head-001.img";

// FNV-1a, so a case's directory suffix depends only on its slug: stable names across runs and versions.
std::string suffix_for(const std::string& slug) {
  uint32_t h = 2166136261u;
  for (unsigned char c : slug) h = (h ^ c) * 16777619u;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", h);
  return buf;
}

std::string dir_for(const std::string& slug) { return "broken-" + slug + "-" + suffix_for(slug); }

VolumeMetaFields healthy_meta_fields() {
  VolumeMetaFields m;
  m.size = static_cast<int64_t>(1 * kMiB);
  m.head = kHead;
  m.parent = kSnap;
  return m;
}

std::string nul_padded(std::string text) {
  text.resize(4096, '\0');
  return text;
}

ExtraEntry file_entry(std::string name, std::string data) {
  return {ExtraEntry::Kind::kFile, std::move(name), std::move(data), {}};
}

class CaseList {
 public:
  using Damage = std::function<void(ReplicaSpec&)>;

  // A replica directory: the healthy template, then `damage`. The row's entry is the final spec.dir.
  void replica(const std::string& slug, Code code, std::string file, std::vector<Code> also, std::string what,
               const Damage& damage) {
    ReplicaSpec spec = healthy_small_replica(dir_for(slug));
    damage(spec);
    BrokenCase row;
    row.entry = spec.dir;
    row.code = code;
    row.place = FindingPlace::kReplica;
    row.file = std::move(file);
    row.also = std::move(also);
    row.what = std::move(what);
    cases_.push_back({std::move(row), std::move(spec), {}});
  }

  // An entry directly under replicas/ that is not a directory.
  void stray(Code code, ExtraEntry entry, std::string what) {
    BrokenCase row;
    row.entry = entry.name;
    row.code = code;
    row.place = FindingPlace::kDisk;
    row.what = std::move(what);
    cases_.push_back({std::move(row), std::nullopt, std::move(entry)});
  }

  SysResult<std::vector<BrokenCase>> write(const std::string& replicas_dir) {
    if (auto r = make_dirs(replicas_dir); !r) return r.error();
    std::vector<BrokenCase> table;
    for (auto& c : cases_) {
      if (c.spec) {
        if (auto r = write_replica(replicas_dir, *c.spec); !r) return r.error();
      } else {
        if (auto r = write_extra_entry(replicas_dir, *c.stray); !r) return r.error();
      }
      table.push_back(std::move(c.row));
    }
    return table;
  }

 private:
  struct Staged {
    BrokenCase row;
    std::optional<ReplicaSpec> spec;
    std::optional<ExtraEntry> stray;
  };
  std::vector<Staged> cases_;
};

// Whether this process can read a file whose mode is 000. Root (CAP_DAC_OVERRIDE) can, and then a chmod-000
// case proves nothing about the scanner.
bool can_read_mode_000_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

void add_metadata_cases(CaseList& cases) {
  const Code BAD = Finding::BAD_METADATA;
  const std::string good = volume_meta_json(healthy_meta_fields());
  auto meta_text = [](std::string text) { return [text](ReplicaSpec& s) { s.volume_meta_text = text; }; };

  cases.replica("truncated-json", BAD, "volume.meta", {}, "volume.meta cut off mid-object (a torn write)",
                meta_text(good.substr(0, 60)));
  std::string garbage(512, '\0');
  fill_block(0xBAD, 0, std::span<char>(garbage.data(), garbage.size()));
  cases.replica("garbage-meta", BAD, "volume.meta", {}, "volume.meta is 512 random bytes",
                meta_text(garbage.substr(64) + garbage.substr(0, 64)));  // the tag line would start like text
  cases.replica("empty-meta", Finding::MISSING_META, "volume.meta", {}, "volume.meta is 0 bytes (crash on ext4)",
                meta_text(""));
  std::string huge = good.substr(0, good.size() - 2) + std::string(70 * 1024, ' ') + "}\n";
  cases.replica("huge-meta", BAD, "volume.meta", {}, "volume.meta is valid JSON but 70 KiB (> 64 KiB limit)",
                meta_text(huge));
  cases.replica("json-array", BAD, "volume.meta", {}, "volume.meta holds a JSON array, not an object",
                meta_text("[" + good.substr(0, good.size() - 1) + "]\n"));
  cases.replica("deeply-nested", BAD, "volume.meta", {}, "volume.meta is 60000 unclosed '[' (parser stack abuse)",
                meta_text(std::string(60000, '[')));
  cases.replica("size-as-string", BAD, "volume.meta", {}, "Size is a JSON string",
                meta_text(R"({"Size":"1048576","Head":"volume-head-001.img","Dirty":false,"Rebuilding":false,)"
                          R"("Error":"","Parent":"","SectorSize":512,"BackingFilePath":""})" "\n"));
  cases.replica("dirty-as-string", BAD, "volume.meta", {}, "Dirty is the string \"true\"",
                meta_text(R"({"Size":1048576,"Head":"volume-head-001.img","Dirty":"true","Rebuilding":false,)"
                          R"("Error":"","Parent":"","SectorSize":512,"BackingFilePath":""})" "\n"));
  cases.replica("size-float", BAD, "volume.meta", {}, "Size is a fraction (Go refuses it for int64)",
                meta_text(R"({"Size":1048576.5,"Head":"volume-head-001.img","Dirty":false,"Rebuilding":false,)"
                          R"("Error":"","Parent":"","SectorSize":512,"BackingFilePath":""})" "\n"));
  cases.replica("size-overflow", BAD, "volume.meta", {}, "Size does not fit in int64",
                meta_text(R"({"Size":18446744073709551615,"Head":"volume-head-001.img","Dirty":false,)"
                          R"("Rebuilding":false,"Error":"","Parent":"","SectorSize":512,"BackingFilePath":""})" "\n"));

  // A snapshot's .meta: it is the oldest layer, so only the .meta itself is reported.
  cases.replica("snap-meta-garbage", BAD, std::string(kSnap) + ".meta", {}, "snapshot .meta is not JSON",
                [](ReplicaSpec& s) { s.layers[0].meta_text = "Name=volume-head-000.img\n"; });
  cases.replica("snap-meta-empty", Finding::MISSING_META, std::string(kSnap) + ".meta", {},
                "snapshot .meta is 0 bytes", [](ReplicaSpec& s) { s.layers[0].meta_text = ""; });
  cases.replica("labels-wrong-type", BAD, std::string(kSnap) + ".meta", {}, "snapshot Labels is an array",
                [](ReplicaSpec& s) {
                  s.layers[0].meta_text = R"({"Name":"volume-head-000.img","Parent":"","Removed":false,)"
                                          R"("UserCreated":true,"Created":"2024-02-25T23:11:17Z","Labels":["a"]})"
                                          "\n";
                });
  cases.replica("checksum-garbage", BAD, std::string(kSnap) + ".checksum", {},
                "snapshot .checksum record is not JSON", [](ReplicaSpec& s) {
                  s.extras.push_back(file_entry(std::string(kSnap) + ".checksum", "crc64 9c1e0000\n"));
                });
}

void add_size_cases(CaseList& cases) {
  const Code ABSURD = Finding::ABSURD_SIZE;
  // With an absurd Size the images keep a sane apparent size of their own.
  auto absurd_size = [](int64_t size, uint64_t image_bytes) {
    return [size, image_bytes](ReplicaSpec& s) {
      s.size = size;
      for (auto& layer : s.layers) layer.apparent_bytes = image_bytes;
    };
  };
  cases.replica("size-negative", ABSURD, "volume.meta", {}, "Size is -1048576", absurd_size(-int64_t{kMiB}, kMiB));
  cases.replica("size-zero", ABSURD, "volume.meta", {}, "Size is 0", absurd_size(0, kMiB));
  cases.replica("size-unaligned", ABSURD, "volume.meta", {}, "Size 1048577 is not a multiple of 4096",
                absurd_size(int64_t{kMiB} + 1, kMiB + 1));
  // No file system here can hold a 2 PiB file, so the head is 1 MiB and also disagrees with Size.
  cases.replica("size-over-1pib", ABSURD, "volume.meta", {Finding::SIZE_MISMATCH}, "Size is 2 PiB",
                absurd_size(int64_t{1} << 51, kMiB));
  cases.replica("sector-size-absurd", ABSURD, "volume.meta", {}, "SectorSize is 3",
                [](ReplicaSpec& s) { s.sector_size = 3; });
  cases.replica("head-size-mismatch", Finding::SIZE_MISMATCH, kHead, {},
                "head is 512 KiB but Size is 1 MiB (an expansion that failed half way)", [](ReplicaSpec& s) {
                  s.layers[1].apparent_bytes = 512 * kKiB;
                  s.layers[1].writes = {{0, 4 * kKiB}};
                });
  cases.replica("snapshot-larger", Finding::SIZE_MISMATCH, kSnap, {}, "snapshot is 2 MiB, larger than Size",
                [](ReplicaSpec& s) { s.layers[0].apparent_bytes = 2 * kMiB; });
}

void add_chain_cases(CaseList& cases) {
  cases.replica("missing-volume-meta", Finding::MISSING_META, "volume.meta", {}, "no volume.meta at all",
                [](ReplicaSpec& s) { s.write_volume_meta = false; });
  cases.replica("missing-head-file", Finding::MISSING_HEAD, kHead, {},
                "volume.meta names volume-head-001.img, which is gone (no images left)", [](ReplicaSpec& s) {
                  s.layers.clear();
                  s.head = kHead;
                });
  cases.replica("head-empty", Finding::MISSING_HEAD, "volume.meta", {Finding::ORPHAN_IMAGE},
                "volume.meta Head is \"\" (both images are then unreachable)", [](ReplicaSpec& s) { s.head = ""; });
  cases.replica("head-meta-missing", Finding::MISSING_META, std::string(kHead) + ".meta", {},
                "the head has no .meta (head-only replica)", [](ReplicaSpec& s) {
                  s.layers.erase(s.layers.begin());
                  s.layers[0].write_meta = false;
                });
  cases.replica("dangling-parent", Finding::BROKEN_PARENT, std::string(kHead) + ".meta", {},
                "the head's Parent names a snapshot that does not exist", [](ReplicaSpec& s) {
                  s.layers.erase(s.layers.begin());
                  s.layers[0].parent = "volume-snap-5e1f0000-dead-4bad-8bad-000000000000.img";
                });
  const std::string a = "volume-snap-aaaaaaaa-0000-4000-8000-000000000001.img";
  const std::string b = "volume-snap-bbbbbbbb-0000-4000-8000-000000000002.img";
  cases.replica("cycle-2", Finding::CHAIN_CYCLE, a + ".meta", {}, "head -> B -> A -> B: a 2-cycle",
                [a, b](ReplicaSpec& s) {
                  LayerSpec head = s.layers[1];
                  LayerSpec la = s.layers[0];
                  la.file = a;
                  la.parent = b;
                  LayerSpec lb = s.layers[0];
                  lb.file = b;
                  lb.seed = 99;
                  s.layers = {la, lb, head};
                });
  cases.replica("cycle-self", Finding::CHAIN_CYCLE, std::string(kSnap) + ".meta", {},
                "the snapshot is its own Parent", [](ReplicaSpec& s) { s.layers[0].parent = kSnap; });
  cases.replica("head-self-parent", Finding::CHAIN_CYCLE, std::string(kHead) + ".meta", {},
                "the head is its own Parent (head-only replica)", [](ReplicaSpec& s) {
                  s.layers.erase(s.layers.begin());
                  s.layers[0].parent = kHead;
                });
  cases.replica("chain-too-long", Finding::CHAIN_TOO_LONG, "", {}, "251 layers (Longhorn's limit is 250)",
                [](ReplicaSpec& s) {
                  s.size = 4096;  // tiny, hole-only images: 251 of them cost only their inodes
                  LayerSpec head = s.layers[1];
                  head.writes.clear();
                  s.layers.clear();
                  for (int i = 0; i < 250; ++i) {
                    char name[64];
                    std::snprintf(name, sizeof name, "volume-snap-chain-%03d.img", i);
                    LayerSpec snap;
                    snap.file = name;
                    snap.mtime_ns = s.base_time_ns + (i + 1) * kSecondNs;
                    s.layers.push_back(snap);
                  }
                  s.layers.push_back(head);
                });
  cases.replica("orphan-image", Finding::ORPHAN_IMAGE, "volume-snap-0rphan00-0000-4000-8000-000000000000.img", {},
                "a snapshot file no Parent link reaches", [](ReplicaSpec& s) {
                  LayerSpec orphan = s.layers[0];
                  orphan.file = "volume-snap-0rphan00-0000-4000-8000-000000000000.img";
                  orphan.seed = 77;
                  s.layers[0].parent = "";
                  s.layers.insert(s.layers.begin(), orphan);
                });
  cases.replica("orphan-meta", Finding::ORPHAN_IMAGE, "volume-snap-lost.img.meta", {},
                "a .meta whose image file is gone", [](ReplicaSpec& s) {
                  s.extras.push_back(file_entry("volume-snap-lost.img.meta",
                                                R"({"Name":"volume-head-000.img","Parent":"","Removed":false,)"
                                                R"("UserCreated":false,"Created":"2024-02-25T23:11:17Z","Labels":null})"
                                                "\n"));
                });
}

void add_leftover_and_state_cases(CaseList& cases) {
  const Code TEMP = Finding::TEMP_LEFTOVER;
  auto extra_file = [](std::string name, std::string data) {
    return [name, data](ReplicaSpec& s) { s.extras.push_back(file_entry(name, data)); };
  };
  cases.replica("tmp-leftover", TEMP, "volume.meta.tmp", {}, "volume.meta.tmp from an interrupted atomic write",
                extra_file("volume.meta.tmp", "{\"Size\":1048576,\"He"));
  cases.replica("checksum-tmp-leftover", TEMP, std::string(kSnap) + ".checksum..tmp", {},
                "an interrupted checksum write (the double dot is real)",
                extra_file(std::string(kSnap) + ".checksum..tmp", "{\"method\":\"crc64\""));
  cases.replica("snap-tmp-leftover", TEMP, "volume-snap-restore-1.img.snap_tmp", {},
                "a .snap_tmp left by an interrupted backup restore",
                extra_file("volume-snap-restore-1.img.snap_tmp", ""));
  cases.replica("delta-leftover", TEMP, "volume-delta-backup-5f3a9c.img", {},
                "a volume-delta image left by an interrupted backup restore", [](ReplicaSpec& s) {
                  LayerSpec delta;
                  delta.file = "volume-delta-backup-5f3a9c.img";
                  delta.writes = {{64 * kKiB, 64 * kKiB}};
                  delta.seed = 55;
                  delta.write_meta = false;
                  s.layers[0].parent = "";
                  s.layers.insert(s.layers.begin(), delta);
                });
  cases.replica("dirty", Finding::DIRTY, "volume.meta", {}, "Dirty:true (the replica process crashed)",
                [](ReplicaSpec& s) { s.dirty = true; });
  cases.replica("rebuilding", Finding::REBUILDING, "volume.meta", {}, "Rebuilding:true (an unfinished rebuild)",
                [](ReplicaSpec& s) { s.rebuilding = true; });
  cases.replica("error-set", Finding::ERROR_SET, "volume.meta", {}, "Error is set",
                [](ReplicaSpec& s) { s.error = "tgt: failed to write to replica: input/output error"; });
  cases.replica("counter-zero-with-data", Finding::COUNTER_ZERO_WITH_DATA, "revision.counter", {},
                "revision counter 0 next to 32 KiB of data", [](ReplicaSpec& s) { s.revision_counter = 0; });
  cases.replica("counter-garbage", Finding::COUNTER_INVALID, "revision.counter", {}, "revision.counter is \"12ab\"",
                [](ReplicaSpec& s) { s.revision_counter_text = nul_padded("12ab"); });
  cases.replica("counter-all-nul", Finding::COUNTER_INVALID, "revision.counter", {},
                "revision.counter is 4096 NUL bytes", [](ReplicaSpec& s) { s.revision_counter_text = nul_padded(""); });
  cases.replica("counter-overflow", Finding::COUNTER_INVALID, "revision.counter", {},
                "revision.counter exceeds int64", [](ReplicaSpec& s) {
                  s.revision_counter_text = nul_padded("99999999999999999999");
                });
  cases.replica("counter-absent", Finding::COUNTER_ABSENT, "revision.counter", {},
                "no revision.counter (revision counter disabled)", [](ReplicaSpec& s) { s.revision_counter.reset(); });
}

void add_entry_cases(CaseList& cases) {
  cases.replica("symlink-passwd", Finding::SYMLINK, "volume-snap-passwd.img", {},
                "a symlink named like a snapshot, pointing at /etc/passwd", [](ReplicaSpec& s) {
                  s.extras.push_back({ExtraEntry::Kind::kSymlink, "volume-snap-passwd.img", "/etc/passwd", {}});
                });
  cases.replica("symlink-dev-zero", Finding::SYMLINK, "volume.meta", {Finding::MISSING_META},
                "volume.meta is a symlink to /dev/zero (an endless read for a naive reader)", [](ReplicaSpec& s) {
                  s.write_volume_meta = false;
                  s.extras.push_back({ExtraEntry::Kind::kSymlink, "volume.meta", "/dev/zero", {}});
                });
  cases.replica("fifo-counter", Finding::UNEXPECTED_ENTRY, "revision.counter", {Finding::COUNTER_ABSENT},
                "revision.counter is a FIFO (opening it for reading would block forever)", [](ReplicaSpec& s) {
                  s.revision_counter.reset();
                  s.extras.push_back({ExtraEntry::Kind::kFifo, "revision.counter", "", {}});
                });
  cases.replica("subdirectory", Finding::UNEXPECTED_ENTRY, "backup", {}, "a subdirectory inside the replica",
                [](ReplicaSpec& s) { s.extras.push_back({ExtraEntry::Kind::kDirectory, "backup", "", {}}); });
  cases.replica("unknown-file", Finding::UNEXPECTED_ENTRY, "core.12345", {}, "a file Longhorn never writes",
                [](ReplicaSpec& s) { s.extras.push_back(file_entry("core.12345", "ELF")); });
  cases.replica("newline-file", Finding::ODD_NAME, "volume-head-001.img\n", {Finding::UNEXPECTED_ENTRY},
                "a file whose name ends in a newline", [](ReplicaSpec& s) {
                  s.extras.push_back(file_entry("volume-head-001.img\n", ""));
                });
  cases.replica("name-no-suffix", Finding::NOT_A_REPLICA, "", {},
                "a good replica in a directory whose name lacks the -<8 alnum> suffix",
                [](ReplicaSpec& s) { s.dir = "pvc-restore-copy"; });
  cases.replica("name-bad-suffix", Finding::NOT_A_REPLICA, "", {}, "suffix has 8 characters but one is '_'",
                [](ReplicaSpec& s) { s.dir = "pvc-0f3e2d1c-ab_12345"; });
  cases.replica("name-newline", Finding::ODD_NAME, "", {}, "a good replica whose directory name holds a newline",
                [](ReplicaSpec& s) { s.dir = "broken-new\nline-9a8b7c6d"; });
  cases.replica("name-invalid-utf8", Finding::ODD_NAME, "", {},
                "a good replica whose directory name holds invalid UTF-8",
                [](ReplicaSpec& s) { s.dir = "broken-\xff\xfe-utf8-5e4d3c2b"; });
  cases.replica("empty-dir", Finding::NOT_A_REPLICA, "", {Finding::MISSING_META, Finding::COUNTER_ABSENT},
                "an empty directory", [](ReplicaSpec& s) {
                  s.layers.clear();
                  s.write_volume_meta = false;
                  s.revision_counter.reset();
                });
  cases.replica("unreadable-meta", Finding::UNREADABLE, "volume.meta", {}, "volume.meta has mode 000",
                [](ReplicaSpec& s) {
                  s.write_volume_meta = false;
                  ExtraEntry meta = file_entry("volume.meta", volume_meta_json(healthy_meta_fields()));
                  meta.mode = 0;
                  s.extras.push_back(meta);
                });

  cases.stray(Finding::UNEXPECTED_ENTRY, file_entry("notes.txt", "replica moved here from worker-3\n"),
              "a plain file under replicas/");
  cases.stray(Finding::UNEXPECTED_ENTRY, {ExtraEntry::Kind::kFifo, "broken-fifo-" + suffix_for("fifo"), "", {}},
              "a FIFO under replicas/, named like a replica");
  cases.stray(Finding::SYMLINK, {ExtraEntry::Kind::kSymlink, "broken-link-" + suffix_for("link"), dir_for("dirty"), {}},
              "a symlink under replicas/ to a sibling replica directory");
  cases.stray(Finding::SYMLINK, {ExtraEntry::Kind::kSymlink, "broken-etc-" + suffix_for("etc"), "/etc", {}},
              "a symlink under replicas/ to /etc");
}

}  // namespace

ReplicaSpec healthy_small_replica(const std::string& dir) {
  ReplicaSpec r;
  r.dir = dir;
  r.size = static_cast<int64_t>(1 * kMiB);
  r.revision_counter = 7;
  LayerSpec snap;
  snap.file = kSnap;
  snap.meta_name = "volume-head-000.img";
  snap.seed = 11;
  snap.writes = {{0, 16 * kKiB}, {512 * kKiB, 8 * kKiB}};
  snap.user_created = true;
  LayerSpec head;
  head.file = kHead;
  head.seed = 12;
  head.writes = {{0, 4 * kKiB}, {1 * kMiB - 4 * kKiB, 4 * kKiB}};
  r.layers = {snap, head};
  return r;
}

SysResult<std::vector<BrokenCase>> write_broken_cases(const std::string& replicas_dir) {
  CaseList cases;
  add_metadata_cases(cases);
  add_size_cases(cases);
  add_chain_cases(cases);
  add_leftover_and_state_cases(cases);
  add_entry_cases(cases);
  auto table = cases.write(replicas_dir);
  if (!table) return table;
  for (auto& row : *table) {
    if (row.code == Finding::UNREADABLE && can_read_mode_000_file(join(join(replicas_dir, row.entry), row.file))) {
      row.skip_reason = "this process reads mode-000 files anyway (root / CAP_DAC_OVERRIDE), so the scanner will too";
    }
  }
  return table;
}

}  // namespace sentinel::treegen
