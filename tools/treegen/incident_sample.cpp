// The incident sample's specs; see incident_sample.h for the story.
#include "tools/treegen/incident_sample.h"

#include "tools/treegen/longhorn_json.h"
#include "tools/treegen/posix_io.h"

namespace sentinel::treegen {
namespace {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;
constexpr int64_t kMinuteNs = 60 * kSecondNs;
constexpr int64_t kHourNs = 60 * kMinuteNs;
// 2024-03-05T06:00:00Z: the evening the incident started.
constexpr int64_t kIncidentStartNs = int64_t{1709618400} * kSecondNs;

ReplicaSpec degraded_replica() {
  ReplicaSpec r;
  r.dir = std::string(kDegradedVolume) + "-3c9e1a7f";
  r.size = static_cast<int64_t>(8 * kGiB);
  r.base_time_ns = kIncidentStartNs;
  r.revision_counter = 48213;

  LayerSpec base;  // a user snapshot taken after the file system was created and filled a little
  base.file = "volume-snap-0d6b3a8e-5c21-4f7a-9e4b-1a2c3d4e5f60.img";
  base.meta_name = "volume-head-000.img";  // Longhorn leaves the old head's name in a snapshot's meta
  base.seed = 0x7de90001;
  base.writes = {{0, 2 * kMiB}, {1 * kGiB, 1 * kMiB}};
  base.user_created = true;
  base.labels = {{"purpose", "before-upgrade"}};
  base.mtime_ns = kIncidentStartNs + 1 * kHourNs;
  base.write_checksum = true;

  LayerSpec removed;  // a system snapshot deleted in the UI: Removed:true, stays in the chain until purged
  removed.file = "volume-snap-6f2e9c4d-8b17-4a3e-b5d0-9c8e7f6a5b43.img";
  removed.meta_name = "volume-head-001.img";
  removed.seed = 0x7de90002;
  removed.writes = {{0, 64 * kKiB}, {3 * kGiB, 512 * kKiB}};
  removed.removed = true;
  removed.mtime_ns = kIncidentStartNs + 5 * kHourNs;

  LayerSpec head;
  head.file = "volume-head-002.img";
  head.seed = 0x7de90003;
  head.writes = {{0, 128 * kKiB}, {7 * kGiB, 1 * kMiB}, {8 * kGiB - 4 * kKiB, 4 * kKiB}};
  head.mtime_ns = kIncidentStartNs + 8 * kHourNs + 13 * kMinuteNs;
  r.layers = {base, removed, head};

  // The checksum job was killed mid-write: Go's atomic write leaves "<file>..tmp" (the double dot is real).
  r.extras.push_back({ExtraEntry::Kind::kFile, removed.file + ".checksum..tmp", "{\"method\":\"crc64\",\"chec", {}});
  return r;
}

// Both replicas of the split volume share one user snapshot (worker-2 got it from a rebuild: same bytes,
// same .meta) and then took the same writes into their heads until worker-2 died.
ReplicaSpec split_replica(bool survivor) {
  LayerSpec snap;
  snap.file = "volume-snap-9b1f7c2e-3d4a-4e5f-8a6b-7c8d9e0f1a2b.img";
  snap.meta_name = "volume-head-000.img";
  snap.seed = 0x5adef001;
  snap.writes = {{0, 1 * kMiB}, {4 * kGiB, 256 * kKiB}, {20 * kGiB, 512 * kKiB}, {40 * kGiB - 64 * kKiB, 64 * kKiB}};
  snap.user_created = true;
  snap.mtime_ns = kIncidentStartNs + 2 * kHourNs;
  snap.write_checksum = true;

  // worker-2's replica process died at 15:41:12.118; worker-1's kept writing for 7.43 s more.
  const int64_t worker2_died_ns = kIncidentStartNs + 9 * kHourNs + 41 * kMinuteNs + 12'118'000'000;
  LayerSpec head;
  head.seed = 0x5adef002;
  head.writes = {{0, 64 * kKiB}, {1 * kGiB, 1 * kMiB}, {20 * kGiB, 128 * kKiB}};
  if (survivor) {
    head.file = "volume-head-001.img";
    head.writes.push_back({2 * kGiB, 1 * kMiB});
    head.writes.push_back({30 * kGiB, 512 * kKiB});
    head.mtime_ns = worker2_died_ns + 7'430'000'000;
  } else {
    head.file = "volume-head-002.img";  // head numbers differ between replicas: never compare them
    head.mtime_ns = worker2_died_ns;
  }
  head.created = rfc3339_utc(snap.mtime_ns);

  ReplicaSpec r;
  r.dir = std::string(kSplitVolume) + (survivor ? "-8b2d4f61" : "-e07a95c3");
  r.size = static_cast<int64_t>(40 * kGiB);
  r.base_time_ns = kIncidentStartNs + 2 * kHourNs;  // last attach: volume.meta rewritten with Dirty:true
  r.dirty = true;
  r.revision_counter = survivor ? 1843 : 1790;
  r.layers = {snap, head};
  return r;
}

}  // namespace

IncidentSample incident_sample() {
  IncidentSample sample;
  sample.disks = {{"worker-1", "default-disk-1f6a0c3e9b2d4a57", "4b1e8f0a-2c3d-4e5f-9a8b-7c6d5e4f3a21"},
                  {"worker-2", "default-disk-8e2b7d1c5a4f3e60", "d93c2a1b-5e6f-4a7b-8c9d-0e1f2a3b4c5d"}};
  sample.replicas = {{"worker-1", degraded_replica()},
                     {"worker-1", split_replica(/*survivor=*/true)},
                     {"worker-2", split_replica(/*survivor=*/false)}};
  return sample;
}

SysResult<Done> write_incident_sample(const std::string& root) {
  if (auto r = make_dirs(root); !r) return r;
  const IncidentSample sample = incident_sample();
  for (const auto& disk : sample.disks) {
    if (auto r = write_disk(join(root, disk.node), disk.disk_name, disk.disk_uuid); !r) return r;
  }
  for (const auto& placed : sample.replicas) {
    if (auto r = write_replica(join(join(root, placed.node), "replicas"), placed.spec); !r) return r;
  }
  return Done{};
}

}  // namespace sentinel::treegen
