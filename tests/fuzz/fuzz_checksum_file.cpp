// <snapshot>.img.checksum (Longhorn's stored snapshot checksum record, JSON): any bytes, up to the 64 KiB the
// scanner reads, through parse_checksum_file. Never a crash; a refusal always says why; a parsed record written
// back as Longhorn writes it parses to the same record.
#include <nlohmann/json.hpp>

#include "scanner/longhorn_metadata.h"
#include "tests/fuzz/fuzz_support.h"

using namespace sentinel::scanner;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > kMaxMetaFileBytes) return 0;  // the scanner refuses it unread
  const auto result = parse_checksum_file(sentinel::fuzz::as_text(data, size));
  if (const auto* why = std::get_if<std::string>(&result)) {
    FUZZ_CHECK(!why->empty());
    return 0;
  }
  const ChecksumFile& record = std::get<ChecksumFile>(result);
  const nlohmann::json longhorn{{"method", record.method},
                                {"checksum", record.checksum},
                                {"change_time", record.change_time},
                                {"last_hashed_at", record.last_hashed_at},
                                {"silently_corrupted", record.silently_corrupted}};
  const auto again = parse_checksum_file(longhorn.dump());
  const auto* same = std::get_if<ChecksumFile>(&again);
  FUZZ_CHECK(same != nullptr);
  FUZZ_CHECK(same->method == record.method && same->checksum == record.checksum &&
             same->change_time == record.change_time && same->last_hashed_at == record.last_hashed_at &&
             same->silently_corrupted == record.silently_corrupted);
  return 0;
}
