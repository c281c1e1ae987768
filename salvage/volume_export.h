// Export of a replica's volume, read-only: the merged volume exactly as Longhorn presents it (the head, or the
// volume as it was at a snapshot), into a sparse raw image file or as a byte stream (stdout).
//
// Contract:
// - Never writes under the replica: the replica is opened and read only through the scanner's FileSystem
//   (O_RDONLY|O_NOFOLLOW|O_NOATIME) and its merged-view reader (merged_view.h, io_uring ReadEngine); the output
//   is refused when it lies inside the replica directory or the disk's replicas/ tree (export_destination.h).
// - Dirty, Rebuilding or Error-set replicas are exported like any other (nothing is changed to read them);
//   `warnings` says what their data may lack, and `on_warning` hears it before any data is read.
// - File output: a sparse image of exactly volume.meta Size bytes; only 4 KiB blocks holding a non-zero byte
//   are written (image_writer.h). The file appears at the output path only when complete, fsync'ed and, with
//   `verify`, read back from storage with every 4 MiB chunk digest equal to the source's; on any failure no
//   file is left there. An existing output is replaced only with `force`.
// - Stream output ("-"): every byte in order, zeros included; no verify (a stream cannot be read back).
// - A layer that changes while it is read (a running engine, a rebuild) fails the export (FAILED, with the
//   file and what changed): never a silently inconsistent image.
// - With `verify`, content_digest is computed from the exported bytes with the deep scan's construction
//   (content_digest.h), so it equals `scan --deep`'s Replica.content_digest for the head; without, it is "" (it
//   costs about a tenth of an export's CPU).
// - Cost: the chain's owned data bytes read once (holes never read), the non-zero ones written once; with
//   verify, the written bytes read once more. Reading and writing run on the caller's thread, buffered; the
//   writeback to the storage is started on a second thread as the file grows (writeback_streamer.h). (Measured
//   on a busy two-core node: a writing thread that copies every byte, or synchronous O_DIRECT writes, were both
//   slower.) Memory: the read engine's buffers and the merged run list.
// - Errors are values (ExportReport.outcome/error); nothing throws except std::bad_alloc. Concurrent exports
//   are independent.
#pragma once

#include <unistd.h>

#include <functional>
#include <string>

#include "salvage/export_progress.h"
#include "scanner/file_system.h"
#include "scanner/read_engine.h"
#include "sentinel/v1/export.pb.h"

namespace sentinel::salvage {

struct ExportRequest {
  std::string replica_dir;                  // <disk>/replicas/<volume>-<8>
  std::string snapshot;                     // "" = the head; else "volume-snap-<name>.img" or "<name>"
  std::string output;                       // a file path, or "-" to write to stream_fd
  int stream_fd = STDOUT_FILENO;            // where "-" goes
  bool verify = false;                      // read the file back and compare chunk digests
  bool force = false;                       // replace an existing output file
  scanner::ReadOptions read;                // the read engine's options (defaults: the deep scan's)
  scanner::ReadQueueFactory queue_factory;  // empty: io_uring with pread fallback; tests inject faults here
  std::function<void(const ExportProgress&)> on_progress;  // about every 0.5 s while data is read; may be empty
  std::function<void(const std::string&)> on_warning;      // each warning, before any data is read; may be empty
};

v1::ExportReport export_volume(scanner::FileSystem& fs, const ExportRequest& request);

}  // namespace sentinel::salvage
