// Verification of an exported image: the file is read back (its data extents only, holes as zeros, through the
// scanner's merged-view reader as a one-layer chain) and cut into the content digest's 4 MiB chunks
// (content_digest.h); every chunk's XXH3-128 must equal the one computed from the source's merged view while it
// was exported.
//
// Contract: read-only on the image; errors are values (ExportVerification.state FAILED with `detail`); nothing
// throws except std::bad_alloc. A chunk missing from a list is all zeros (ContentDigester lists non-zero chunks
// only), so holes and written zeros compare equal, exactly as the content digest defines it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "scanner/content_digest.h"
#include "scanner/file_system.h"
#include "scanner/read_engine.h"
#include "sentinel/v1/export.pb.h"

namespace sentinel::salvage {

// What the source's merged view hashed to.
struct SourceDigests {
  scanner::Digest128 content;
  std::vector<scanner::ChunkDigest> nonzero_chunks;  // ascending index
};

// Reads the image `name` in the open directory `dir_fd` (its size must be `volume_bytes`) and compares.
v1::ExportVerification verify_image(scanner::FileSystem& fs, scanner::ReadEngine& engine, int dir_fd,
                                    const std::string& name, uint64_t volume_bytes, const SourceDigests& expected);

// Chunk indices whose digests differ between two ascending non-zero chunk lists. Pure.
std::vector<uint64_t> mismatched_chunks(const std::vector<scanner::ChunkDigest>& expected,
                                        const std::vector<scanner::ChunkDigest>& actual);

}  // namespace sentinel::salvage
