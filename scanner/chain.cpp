#include "scanner/chain.h"

#include <unordered_set>

namespace sentinel::scanner {

ChainResult resolve_chain(const std::string& head, const std::function<LayerLookup(const std::string&)>& lookup) {
  ChainResult result;
  std::unordered_set<std::string> seen;
  std::string current = head;
  if (!lookup(head).exists) {
    result.end = ChainResult::End::kMissingHead;
    result.broken_at = head;
    return result;
  }
  while (true) {
    result.chain.push_back(current);
    seen.insert(current);
    // Bounded even for hostile input: every step adds a distinct name, and we stop one past the limit.
    if (result.chain.size() > kMaxChainLength) {
      result.end = ChainResult::End::kTooLong;
      result.broken_at = current;
      return result;
    }
    LayerLookup layer = lookup(current);
    if (!layer.parent) {
      result.end = ChainResult::End::kMissingMeta;
      result.broken_at = current;
      return result;
    }
    const std::string& parent = *layer.parent;
    if (parent.empty()) return result;
    if (seen.count(parent) != 0) {
      result.end = ChainResult::End::kCycle;
      result.broken_at = current;
      result.missing = parent;
      return result;
    }
    if (!lookup(parent).exists) {
      result.end = ChainResult::End::kBrokenParent;
      result.broken_at = current;
      result.missing = parent;
      return result;
    }
    current = parent;
  }
}

}  // namespace sentinel::scanner
