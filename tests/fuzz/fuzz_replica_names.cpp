// Names in a Longhorn disk: any bytes as a replica directory name (up to NAME_MAX) through
// volume_from_replica_dir, classify_replica_file, the image-name predicates and escape_name. Never a crash; a
// volume comes back only for `<volume>-<8 [a-zA-Z0-9]>`; an escaped name is printable valid UTF-8 and equals
// the raw name exactly when it needed no escaping.
#include <string>

#include "scanner/replica_names.h"
#include "tests/fuzz/fuzz_support.h"

using namespace sentinel::scanner;

namespace {

bool is_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 255) return 0;  // NAME_MAX: no directory entry is longer
  const std::string_view name = sentinel::fuzz::as_text(data, size);

  if (const auto volume = volume_from_replica_dir(name)) {
    FUZZ_CHECK(!volume->empty());
    FUZZ_CHECK(name.size() == volume->size() + 9);
    FUZZ_CHECK(name.substr(0, volume->size()) == *volume && name[volume->size()] == '-');
    for (char c : name.substr(volume->size() + 1)) FUZZ_CHECK(is_alnum(c));
  } else if (name.size() >= 10 && name[name.size() - 9] == '-') {
    // The last '-' starts 8 letters or digits and something precedes it: that is a replica directory.
    bool suffix_ok = true;
    for (char c : name.substr(name.size() - 8)) suffix_ok = suffix_ok && is_alnum(c);
    FUZZ_CHECK(!suffix_ok);
  }

  (void)classify_replica_file(name);
  if (is_expansion_snapshot(name)) FUZZ_CHECK(is_snapshot_image(name));
  if (is_head_image(name) || is_snapshot_image(name) || is_delta_image(name)) {
    FUZZ_CHECK(classify_replica_file(name) == ReplicaFileKind::kImage);
  }

  const std::string escaped = escape_name(name);
  FUZZ_CHECK((escaped == name) == !name_needs_escaping(name));
  for (unsigned char c : escaped) FUZZ_CHECK(c >= 0x20 && c != 0x7f);
  // Valid UTF-8 apart from the escapes' own backslashes: with those taken out, nothing needs escaping.
  std::string without_backslashes = escaped;
  for (char& c : without_backslashes) {
    if (c == '\\') c = '/';
  }
  FUZZ_CHECK(!name_needs_escaping(without_backslashes));
  return 0;
}
