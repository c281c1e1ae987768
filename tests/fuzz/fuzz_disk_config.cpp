// longhorn-disk.cfg (a disk's UUID, JSON): any bytes, up to the 64 KiB the scanner reads, through
// parse_disk_config. Never a crash; a refusal always says why; a parsed UUID written back parses the same.
#include <nlohmann/json.hpp>

#include "scanner/longhorn_metadata.h"
#include "tests/fuzz/fuzz_support.h"

using namespace sentinel::scanner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxMetaFileBytes) return 0;  // the scanner refuses it unread
  const auto result = parse_disk_config(sentinel::fuzz::as_text(data, size));
  if (const auto* why = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(!why->empty());
    return 0;
  }
  const DiskConfig& config = std::get<DiskConfig>(result);
  const auto again = parse_disk_config(nlohmann::json{{"diskName", "disk-1"}, {"diskUUID", config.disk_uuid}}.dump());
  const auto* same = std::get_if<DiskConfig>(&again);
  FUZZ_CHECK(same != nullptr && same->disk_uuid == config.disk_uuid);
  return 0;
}
