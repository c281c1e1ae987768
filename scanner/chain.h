// Chain resolution: volume.meta Head -> .img.meta Parent -> ... until Parent is empty (LONGHORN-FORMAT.md).
// Pure: works on what the caller already read; no I/O, no exceptions, safe from any thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sentinel::scanner {

inline constexpr size_t kMaxChainLength = 250;  // Longhorn's limit on layers

struct LayerLookup {
  bool exists = false;                 // the .img file is in the directory
  std::optional<std::string> parent;   // its .img.meta Parent; nullopt when the .meta is missing or unreadable
};

struct ChainResult {
  enum class End {
    kComplete,       // reached an image whose Parent is ""
    kMissingHead,    // the head image file does not exist
    kBrokenParent,   // `broken_at`'s Parent names `missing` which does not exist
    kMissingMeta,    // `broken_at` has no usable .meta, so its parent is unknown
    kCycle,          // `broken_at`'s Parent is already in the chain
    kTooLong,        // more than kMaxChainLength layers
  };
  std::vector<std::string> chain;  // head first; every layer reached, including the one at which it broke
  End end = End::kComplete;
  std::string broken_at;
  std::string missing;  // kBrokenParent: the parent name; kCycle: the repeated name
};

ChainResult resolve_chain(const std::string& head, const std::function<LayerLookup(const std::string&)>& lookup);

}  // namespace sentinel::scanner
