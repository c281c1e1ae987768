// volume.meta (a replica's info, JSON as Go writes it): any bytes, up to the 64 KiB the scanner reads, through
// parse_volume_meta as the scanner calls it. Never a crash; a refusal always says why; a parsed value written
// back as Longhorn writes it parses to the same value.
#include <nlohmann/json.hpp>

#include "scanner/longhorn_metadata.h"
#include "tests/fuzz/fuzz_support.h"

using namespace sentinel::scanner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxMetaFileBytes) return 0;  // the scanner refuses it unread
  const auto result = parse_volume_meta(sentinel::fuzz::as_text(data, size));
  if (const auto* why = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(!why->empty());
    return 0;
  }
  const VolumeMeta& meta = std::get<VolumeMeta>(result);
  const nlohmann::json longhorn{{"Size", meta.size},
                                {"Head", meta.head},
                                {"Dirty", meta.dirty},
                                {"Rebuilding", meta.rebuilding},
                                {"Error", meta.error},
                                {"Parent", meta.parent},
                                {"SectorSize", meta.sector_size},
                                {"BackingFilePath", meta.backing_file_path}};
  const auto again = parse_volume_meta(longhorn.dump());
  const auto* same = std::get_if<VolumeMeta>(&again);
  FUZZ_CHECK(same != nullptr);
  FUZZ_CHECK(same->size == meta.size && same->head == meta.head && same->dirty == meta.dirty &&
             same->rebuilding == meta.rebuilding && same->error == meta.error && same->parent == meta.parent &&
             same->sector_size == meta.sector_size && same->backing_file_path == meta.backing_file_path);
  return 0;
}
