// Export of a replica's merged volume. See volume_export.h.
#include "salvage/volume_export.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <optional>

#include "salvage/export_destination.h"
#include "salvage/image_verify.h"
#include "salvage/image_writer.h"
#include "salvage/replica_source.h"
#include "scanner/content_digest.h"
#include "scanner/merged_view.h"

namespace sentinel::salvage {

namespace {

int64_t ns_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

v1::ExportReport export_volume(scanner::FileSystem& fs, const ExportRequest& request) {
  const auto started = std::chrono::steady_clock::now();
  v1::ExportReport report;
  report.set_replica_dir(request.replica_dir);
  report.set_output(request.output);
  report.mutable_verify()->set_state(v1::ExportVerification::NOT_REQUESTED);
  auto finish = [&](v1::ExportReport::Outcome outcome, std::string error) {
    report.set_outcome(outcome);
    report.set_error(std::move(error));
    report.set_duration_ns(ns_since(started));
    return report;
  };
  const bool to_stream = request.output == "-";
  if (to_stream && request.verify) {
    return finish(v1::ExportReport::REFUSED, "--verify needs an output file: a stream cannot be read back");
  }

  ReplicaSourceResult opened = open_replica_source(fs, request.replica_dir, request.snapshot);
  if (!opened.source) return finish(v1::ExportReport::REFUSED, opened.error);
  const ReplicaSource& source = *opened.source;
  report.set_volume(source.replica.volume());
  report.set_start_image(source.start_image);
  for (const std::string& name : source.chain()) report.add_chain(name);
  report.set_volume_bytes(source.volume_bytes);
  for (const std::string& warning : source.warnings) {
    report.add_warnings(warning);
    if (request.on_warning) request.on_warning(warning);
  }

  std::unique_ptr<ExportDestination> destination;
  std::unique_ptr<ImageWriter> writer;
  if (to_stream) {
    writer = std::make_unique<StreamWriter>(request.stream_fd, "standard output");
  } else {
    ExportDestination::Result created =
        ExportDestination::create(request.output, source.protected_dirs, request.force, source.planned_read_bytes);
    if (!created.destination) return finish(v1::ExportReport::REFUSED, created.error);
    destination = std::move(created.destination);
    auto sized = SparseImageWriter::create(destination->fd(), source.volume_bytes, request.output);
    if (!sized) return finish(v1::ExportReport::FAILED, sized.error().message());
    writer = std::move(*sized);
  }

  auto engine = scanner::ReadEngine::create(request.read, request.queue_factory);
  if (!engine) return finish(v1::ExportReport::FAILED, "cannot set up reading: " + engine.error().message());
  report.set_read_backend((*engine)->backend());

  // The source's chunk digests are what --verify compares with; they cost ~10% of an export's CPU, so only then.
  std::optional<scanner::ContentDigester> digester;
  if (request.verify) digester.emplace(source.volume_bytes, /*keep_chunks=*/true);
  ProgressThrottle throttle;
  ExportProgress progress;
  progress.data_total = source.planned_read_bytes;
  progress.volume_bytes = source.volume_bytes;
  scanner::MergedViewSink sink;
  sink.data = [&](uint64_t offset, const uint8_t* data, size_t length) {
    if ((digester && !digester->data(offset, data, length)) || !writer->data(offset, data, length)) return false;
    progress.data_done += length;
    progress.volume_offset = offset + length;
    if (request.on_progress && throttle.due(&progress.elapsed_seconds)) request.on_progress(progress);
    return true;
  };
  sink.zeros = [&](uint64_t offset, uint64_t length) {
    if ((digester && !digester->zeros(offset, length)) || !writer->zeros(offset, length)) return false;
    progress.volume_offset = offset + length;
    return true;
  };
  const scanner::MergedViewReport read = stream_replica_source(fs, **engine, source, sink);
  const bool written = writer->finish();
  report.set_data_bytes_read(read.read_bytes);
  report.set_data_bytes_written(writer->bytes_written());
  report.set_zero_bytes_skipped(writer->zero_bytes_skipped());
  if (!written) return finish(v1::ExportReport::FAILED, writer->error());
  if (!read.ok()) return finish(v1::ExportReport::FAILED, describe_merged_view_failure(read));
  if (progress.volume_offset != source.volume_bytes) {
    return finish(v1::ExportReport::FAILED, "the merged view ended before the volume did");
  }
  if (request.on_progress) {
    progress.elapsed_seconds = throttle.elapsed();
    request.on_progress(progress);
  }
  if (digester) {
    report.set_content_digest(digester->digest().hex());
    report.set_nonzero_chunk_count(digester->nonzero_chunk_count());
  }
  if (to_stream) return finish(v1::ExportReport::EXPORTED, "");

  if (auto synced = destination->sync(); !synced) return finish(v1::ExportReport::FAILED, synced.error().message());
  // The pages are clean after fsync: dropping them leaves the node's page cache as it was, and makes a
  // verification read the image back from the storage.
  (void)::posix_fadvise(destination->fd(), 0, 0, POSIX_FADV_DONTNEED);
  if (request.verify) {
    SourceDigests expected{digester->digest(), digester->chunks()};
    *report.mutable_verify() =
        verify_image(fs, **engine, destination->dir_fd(), destination->temp_name(), source.volume_bytes, expected);
    if (report.verify().state() != v1::ExportVerification::PASSED) {
      return finish(v1::ExportReport::VERIFY_FAILED,
                    "verification failed: " + report.verify().detail() + "; the output was removed");
    }
  }
  struct stat st {};
  if (::fstat(destination->fd(), &st) == 0)
    report.set_output_allocated_bytes(static_cast<uint64_t>(st.st_blocks) * 512);
  if (auto committed = destination->commit(); !committed) {
    return finish(v1::ExportReport::FAILED, committed.error().message());
  }
  return finish(v1::ExportReport::EXPORTED, "");
}

}  // namespace sentinel::salvage
