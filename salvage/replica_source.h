// The replica directory an export or a local diff reads from, opened by path.
//
// Contract:
// - Read-only: the directory is opened and quick-scanned (scanner.h, extents included) through the scanner's
//   FileSystem (file_system.h: O_RDONLY|O_NOFOLLOW|O_NOATIME, nothing created, no timestamp moved). The layers
//   are opened later, by whoever streams the merged view (merged_view.h), inside `dir_fd`.
// - The chain read is the head's (head first, Removed snapshots included: they still supply data), or, with a
//   snapshot name, the chain starting at that snapshot: the snapshot and its parents, which is the volume as it
//   was when Longhorn took the snapshot. The volume size is volume.meta's Size either way, as Longhorn's
//   read-only replica reads a snapshot (bytes past an older, smaller layer read as zeros).
// - The path is operator input and may go through symlinks (like a disk root); inside it nothing is followed.
// - Errors are values (`error`); nothing throws except std::bad_alloc. Dirty, Rebuilding, Error and similar
//   states are not errors: they become `warnings` that say what the data may lack.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scanner/file_system.h"
#include "scanner/merged_view.h"
#include "scanner/read_engine.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::salvage {

// A directory identity (st_dev, st_ino): what an output location is checked against, whatever path reaches it.
struct DirIdentity {
  uint64_t device = 0;
  uint64_t inode = 0;
  std::string description;  // "the replica directory /var/lib/longhorn/replicas/pvc-...-1a2b3c4d"
  bool operator==(const DirIdentity& other) const { return device == other.device && inode == other.inode; }
};

struct ReplicaSource {
  std::string path;                          // the replica directory, canonical
  v1::Replica replica;                       // its quick scan (extents included)
  scanner::Fd dir_fd;                        // the open replica directory
  std::string start_image;                   // the head, or the snapshot the chain starts at
  std::vector<scanner::MergedLayer> layers;  // the chain to read, newest first
  uint64_t volume_bytes = 0;                 // volume.meta Size
  uint64_t planned_read_bytes = 0;           // what reading the merged view will read (from the scan's extents)
  // Where no output may go: the replica directory and, when it sits in a Longhorn disk's `replicas/`, that tree.
  std::vector<DirIdentity> protected_dirs;
  std::vector<std::string> warnings;  // for a person: Dirty, Rebuilding, Error set, removed snapshot, ...

  [[nodiscard]] std::vector<std::string> chain() const;  // layer names, newest first
};

struct ReplicaSourceResult {
  std::optional<ReplicaSource> source;
  std::string error;  // why it cannot be read, when `source` is empty
};

// Opens `replica_dir` (a `<disk>/replicas/<volume>-<8>` directory) and selects the chain to read: the head's when
// `snapshot` is empty, else the chain starting at `snapshot` ("volume-snap-<name>.img" or just "<name>", as
// Longhorn names snapshots). Fails when the directory cannot be opened, the snapshot is not in the chain, or the
// merged view cannot be built (merged_view_unavailable: no Size, incomplete chain, backing image).
ReplicaSourceResult open_replica_source(scanner::FileSystem& fs, const std::string& replica_dir,
                                        const std::string& snapshot = "");

// Streams the selected chain's merged volume into `sink` (merged_view.h: holes as zeros, change-aware).
scanner::MergedViewReport stream_replica_source(scanner::FileSystem& fs, scanner::ReadEngine& engine,
                                                const ReplicaSource& source, const scanner::MergedViewSink& sink);

// Pure helpers, exposed for tests.
// The index in `replica.chain()` of the snapshot named `snapshot` (full image name or Longhorn's short name);
// nullopt when it is not in the chain. The head's own name selects index 0.
std::optional<size_t> find_chain_start(const v1::Replica& replica, const std::string& snapshot);
// Bytes the merged view of chain[start..] will read: the owned runs (MergedRunBuilder over the scan's extents)
// clipped to each owning layer's apparent size.
uint64_t planned_read_bytes(const v1::Replica& replica, size_t start);
// What a person must know before trusting data read from this replica (empty when nothing).
std::vector<std::string> replica_warnings(const v1::Replica& replica, size_t start);
// A short description of why a merged view failed, for a person ("... changed while it was read ...").
std::string describe_merged_view_failure(const scanner::MergedViewReport& report);

}  // namespace sentinel::salvage
