// Test support: v1::Replica and inventories built in memory for the planner (which is pure: inventories in,
// plan out), so each test states only the facts it is about.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "salvage/volume_replicas.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::testing {

inline constexpr int64_t kSecond = 1'000'000'000;
inline constexpr int64_t kBaseMtime = int64_t{1709651000} * kSecond;  // 2024-03-05, any fixed instant will do
inline constexpr uint64_t kMiB = 1024 * 1024;

class ReplicaBuilder {
 public:
  ReplicaBuilder(const std::string& volume, const std::string& suffix) {
    r_.set_disk("/var/lib/longhorn");
    r_.set_dir(volume + "-" + suffix);
    r_.set_volume(volume);
    r_.set_size_bytes(1024 * kMiB);
    r_.set_sector_size(512);
    r_.set_head("volume-head-001.img");
    r_.add_chain("volume-head-001.img");
    r_.set_revision_counter(10);
    r_.set_revision_counter_present(true);
    r_.set_head_mtime_ns(kBaseMtime);
    r_.set_head_allocated_bytes(kMiB);
    r_.set_allocated_bytes(2 * kMiB);
    r_.set_state(v1::Replica::CLEAN);
  }
  ReplicaBuilder& disk(const std::string& path) { return r_.set_disk(path), *this; }
  ReplicaBuilder& counter(int64_t value) {
    r_.set_revision_counter(value);
    r_.set_revision_counter_present(true);
    return *this;
  }
  ReplicaBuilder& no_counter() {
    r_.set_revision_counter(0);
    r_.set_revision_counter_present(false);
    return finding(v1::Finding::COUNTER_ABSENT, v1::Finding::INFO, "no revision.counter");
  }
  // Head mtime as an offset from kBaseMtime.
  ReplicaBuilder& mtime_offset(int64_t ns) { return r_.set_head_mtime_ns(kBaseMtime + ns), *this; }
  ReplicaBuilder& head_allocated(uint64_t bytes) { return r_.set_head_allocated_bytes(bytes), *this; }
  ReplicaBuilder& allocated(uint64_t bytes) { return r_.set_allocated_bytes(bytes), *this; }
  ReplicaBuilder& size(uint64_t bytes) { return r_.set_size_bytes(bytes), *this; }
  ReplicaBuilder& sector_size(int64_t bytes) { return r_.set_sector_size(bytes), *this; }
  ReplicaBuilder& digest(const std::string& d) {
    r_.set_content_digest(d);
    r_.mutable_content()->set_chunk_bytes(4 * kMiB);
    r_.mutable_content()->set_zero_chunk_digest("34001ae2f947e773165f453a5f35c459");
    return *this;
  }
  // A complete chunk list (with digest()): the non-zero chunks by index.
  ReplicaBuilder& chunks(const std::vector<std::pair<uint64_t, std::string>>& list) {
    auto* content = r_.mutable_content();
    content->clear_chunks();
    for (const auto& [index, d] : list) {
      auto* c = content->add_chunks();
      c->set_index(index);
      c->set_digest(d);
    }
    content->set_nonzero_chunk_count(list.size());
    return *this;
  }
  ReplicaBuilder& dirty() {
    r_.set_dirty(true);
    r_.set_state(v1::Replica::DIRTY);
    return finding(v1::Finding::DIRTY, v1::Finding::WARNING, "Dirty");
  }
  ReplicaBuilder& rebuilding() {
    r_.set_rebuilding(true);
    r_.set_state(v1::Replica::REBUILDING);
    return finding(v1::Finding::REBUILDING, v1::Finding::ERROR, "Rebuilding");
  }
  ReplicaBuilder& error(const std::string& text) {
    r_.set_error(text);
    r_.set_state(v1::Replica::ERRORED);
    return finding(v1::Finding::ERROR_SET, v1::Finding::ERROR, "Error set");
  }
  ReplicaBuilder& broken(v1::Finding::Code code) {
    r_.set_state(v1::Replica::BROKEN);
    return finding(code, v1::Finding::ERROR, "broken", "replicas/" + r_.dir() + "/volume-head-001.img.meta");
  }
  ReplicaBuilder& finding(v1::Finding::Code code, v1::Finding::Severity severity, const std::string& message,
                          const std::string& path = "") {
    auto* f = r_.add_findings();
    f->set_code(code);
    f->set_severity(severity);
    f->set_message(message);
    f->set_path(path.empty() ? "replicas/" + r_.dir() : path);
    return *this;
  }
  [[nodiscard]] v1::Replica build() const { return r_; }
  operator v1::Replica() const { return r_; }  // NOLINT: implicit, for brace lists of replicas

 private:
  v1::Replica r_;
};

inline salvage::NodeInventory node_inventory(const std::string& node, const std::vector<v1::Replica>& replicas,
                                             int64_t scanned_at_ns = kBaseMtime + 3600 * kSecond) {
  salvage::NodeInventory out;
  out.inventory.set_node(node);
  out.inventory.set_scanned_at_ns(scanned_at_ns);
  for (const auto& r : replicas) *out.inventory.add_replicas() = r;
  return out;
}

}  // namespace sentinel::testing
