// Local diff: two replica directories on this host compared through their merged volumes (the head's chain, as
// Longhorn presents the volume), byte for byte, reporting the differing 4 KiB blocks as byte ranges.
//
// Contract:
// - Read-only, like the export: both replicas are opened and read only through the scanner's FileSystem and
//   merged-view reader (replica_source.h); nothing is written anywhere.
// - One pass: the two merged volumes are streamed at the same time (one thread and one read engine per side),
//   each assembled into its current 4 MiB chunk; the caller's thread compares the two chunks block by block
//   (4 KiB, memcmp) and lets both sides go on. Every data byte of each side is read once, holes never; only
//   blocks holding data on either side are compared and cleared, so a chunk costs its data, never its 4 MiB.
//   Memory: two 4 MiB chunk buffers plus the engines' buffers.
//   The content digests (content_digest.h) of both sides are computed on the way, equal to `scan --deep`'s.
// - Verdict: EQUAL, DIFFERENT (ranges at 4 KiB granularity, merged, clipped to Size), or FAILED (a replica
//   cannot be opened or read, or changed during the read: never a wrong verdict). Volumes of different Size
//   are DIFFERENT without ranges and without reading any data (`note` gives both sizes), as the chunk-list
//   diff (chunk_diff.h) reports them.
// - Errors are values; nothing throws except std::bad_alloc. Uses two threads internally; `fs` must be
//   thread-safe (PosixFileSystem is).
#pragma once

#include <string>

#include "scanner/file_system.h"
#include "scanner/read_engine.h"
#include "sentinel/v1/diff.pb.h"

namespace sentinel::salvage {

struct ReplicaDiffRequest {
  std::string dir_a;
  std::string dir_b;
  scanner::ReadOptions read;                // per side
  scanner::ReadQueueFactory queue_factory;  // empty: io_uring with pread fallback
};

v1::DiffReport diff_replica_dirs(scanner::FileSystem& fs, const ReplicaDiffRequest& request);

}  // namespace sentinel::salvage
