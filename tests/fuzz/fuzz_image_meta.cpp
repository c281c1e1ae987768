// <image>.img.meta (one layer's metadata, JSON as Go writes it): any bytes, up to the 64 KiB the scanner reads,
// through parse_image_meta. Never a crash; a refusal always says why; a parsed value written back as Longhorn
// writes it (Labels a string map or null) parses to the same value.
#include <nlohmann/json.hpp>

#include "scanner/longhorn_metadata.h"
#include "tests/fuzz/fuzz_support.h"

using namespace sentinel::scanner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxMetaFileBytes) return 0;  // the scanner refuses it unread
  const auto result = parse_image_meta(sentinel::fuzz::as_text(data, size));
  if (const auto* why = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(!why->empty());
    return 0;
  }
  const ImageMeta& meta = std::get<ImageMeta>(result);
  nlohmann::json labels = nullptr;
  if (!meta.labels.empty()) labels = meta.labels;
  const nlohmann::json longhorn{{"Name", meta.name},       {"Parent", meta.parent},
                                {"Removed", meta.removed}, {"UserCreated", meta.user_created},
                                {"Created", meta.created}, {"Labels", labels}};
  const auto again = parse_image_meta(longhorn.dump());
  const auto* same = std::get_if<ImageMeta>(&again);
  FUZZ_CHECK(same != nullptr);
  FUZZ_CHECK(same->name == meta.name && same->parent == meta.parent && same->removed == meta.removed &&
             same->user_created == meta.user_created && same->created == meta.created && same->labels == meta.labels);
  return 0;
}
