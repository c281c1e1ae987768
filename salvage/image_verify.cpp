// Read-back verification of an exported image. See image_verify.h.
#include "salvage/image_verify.h"

#include "salvage/replica_source.h"
#include "scanner/merged_view.h"

namespace sentinel::salvage {

std::vector<uint64_t> mismatched_chunks(const std::vector<scanner::ChunkDigest>& expected,
                                        const std::vector<scanner::ChunkDigest>& actual) {
  std::vector<uint64_t> out;
  size_t i = 0;
  size_t j = 0;
  while (i < expected.size() || j < actual.size()) {
    if (j == actual.size() || (i < expected.size() && expected[i].index < actual[j].index)) {
      out.push_back(expected[i++].index);  // data in the source, zeros in the image
    } else if (i == expected.size() || actual[j].index < expected[i].index) {
      out.push_back(actual[j++].index);  // zeros in the source, data in the image
    } else {
      if (!(expected[i].digest == actual[j].digest)) out.push_back(expected[i].index);
      ++i;
      ++j;
    }
  }
  return out;
}

v1::ExportVerification verify_image(scanner::FileSystem& fs, scanner::ReadEngine& engine, int dir_fd,
                                    const std::string& name, uint64_t volume_bytes, const SourceDigests& expected) {
  v1::ExportVerification result;
  result.set_state(v1::ExportVerification::FAILED);
  auto st = fs.stat_at(dir_fd, name);
  if (!st) {
    result.set_detail("cannot stat the output: " + st.error().message());
    return result;
  }
  if (st->size != volume_bytes) {
    result.set_detail("the output is " + std::to_string(st->size) + " bytes, the volume " +
                      std::to_string(volume_bytes));
    return result;
  }
  scanner::MergedLayer layer;
  layer.raw_name = name;
  layer.path = name;
  layer.expected = scanner::identity_of(*st);
  scanner::ContentDigester digester(volume_bytes, /*keep_chunks=*/true);
  scanner::MergedViewSink sink;
  sink.data = [&](uint64_t offset, const uint8_t* data, size_t length) { return digester.data(offset, data, length); };
  sink.zeros = [&](uint64_t offset, uint64_t length) { return digester.zeros(offset, length); };
  const scanner::MergedViewReport read = scanner::stream_merged_view(fs, engine, dir_fd, {layer}, volume_bytes, sink);
  result.set_read_bytes(read.read_bytes);
  if (!read.ok() || !digester.complete()) {
    result.set_detail("cannot re-read the output: " + describe_merged_view_failure(read));
    return result;
  }
  result.set_output_content_digest(digester.digest().hex());
  for (uint64_t index : mismatched_chunks(expected.nonzero_chunks, digester.chunks())) {
    result.add_mismatched_chunks(index);
  }
  if (result.mismatched_chunks_size() > 0) {
    result.set_detail(std::to_string(result.mismatched_chunks_size()) +
                      " chunk(s) of 4 MiB read back differently from what was exported (first: chunk " +
                      std::to_string(result.mismatched_chunks(0)) + ", bytes from " +
                      std::to_string(result.mismatched_chunks(0) * scanner::kContentChunkBytes) + ")");
    return result;
  }
  if (!(digester.digest() == expected.content)) {
    result.set_detail("the output's content digest differs from the source's");
    return result;
  }
  result.set_state(v1::ExportVerification::PASSED);
  return result;
}

}  // namespace sentinel::salvage
