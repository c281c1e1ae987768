#include "scanner/chain.h"

#include <gtest/gtest.h>

#include <map>

namespace sentinel::scanner {
namespace {

// name -> parent ("" = oldest; absent from the map = no such file; "<nometa>" = file without usable .meta)
ChainResult resolve(const std::map<std::string, std::string>& layers, const std::string& head) {
  return resolve_chain(head, [&](const std::string& name) {
    LayerLookup l;
    auto it = layers.find(name);
    l.exists = it != layers.end();
    if (l.exists && it->second != "<nometa>") l.parent = it->second;
    return l;
  });
}

TEST(Chain, FollowsParentsHeadFirst) {
  auto r = resolve({{"h", "s2"}, {"s2", "s1"}, {"s1", ""}}, "h");
  EXPECT_EQ(r.end, ChainResult::End::kComplete);
  EXPECT_EQ(r.chain, (std::vector<std::string>{"h", "s2", "s1"}));
}

TEST(Chain, MissingHead) {
  auto r = resolve({{"s1", ""}}, "h");
  EXPECT_EQ(r.end, ChainResult::End::kMissingHead);
  EXPECT_TRUE(r.chain.empty());
}

TEST(Chain, BrokenParent) {
  auto r = resolve({{"h", "s2"}, {"s2", "gone"}}, "h");
  EXPECT_EQ(r.end, ChainResult::End::kBrokenParent);
  EXPECT_EQ(r.broken_at, "s2");
  EXPECT_EQ(r.missing, "gone");
  EXPECT_EQ(r.chain, (std::vector<std::string>{"h", "s2"}));
}

TEST(Chain, MissingMetaStopsTheWalk) {
  auto r = resolve({{"h", "s1"}, {"s1", "<nometa>"}}, "h");
  EXPECT_EQ(r.end, ChainResult::End::kMissingMeta);
  EXPECT_EQ(r.broken_at, "s1");
}

TEST(Chain, DetectsCyclesIncludingSelfParent) {
  auto two = resolve({{"h", "a"}, {"a", "b"}, {"b", "a"}}, "h");
  EXPECT_EQ(two.end, ChainResult::End::kCycle);
  EXPECT_EQ(two.broken_at, "b");
  EXPECT_EQ(two.missing, "a");
  auto self = resolve({{"h", "h"}}, "h");
  EXPECT_EQ(self.end, ChainResult::End::kCycle);
}

TEST(Chain, LongestAllowedIsFineOneMoreIsTooLong) {
  auto build = [](size_t n) {
    std::map<std::string, std::string> layers;
    for (size_t i = 0; i < n; ++i) layers["l" + std::to_string(i)] = i + 1 < n ? "l" + std::to_string(i + 1) : "";
    return layers;
  };
  auto ok = resolve(build(kMaxChainLength), "l0");
  EXPECT_EQ(ok.end, ChainResult::End::kComplete);
  EXPECT_EQ(ok.chain.size(), kMaxChainLength);
  auto too_long = resolve(build(kMaxChainLength + 1), "l0");
  EXPECT_EQ(too_long.end, ChainResult::End::kTooLong);
  auto huge = resolve(build(100000), "l0");
  EXPECT_EQ(huge.end, ChainResult::End::kTooLong);
  EXPECT_EQ(huge.chain.size(), kMaxChainLength + 1) << "the walk must stop early on hostile input";
}

}  // namespace
}  // namespace sentinel::scanner
