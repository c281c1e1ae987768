// Fault injection for the deep-scan tests: a read queue whose hook can answer a request itself (a synthetic
// -errno, 0 for end of file) or shorten it before it reaches the real queue, and inode look-ups to aim a fault
// at one file. Test-only.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scanner/read_engine.h"

namespace sentinel::testing {

class HookedQueue final : public scanner::ReadQueue {
 public:
  // Returns a synthetic completion result, or nullopt to pass the (possibly shortened) request on.
  using Hook = std::function<std::optional<int64_t>(int fd, uint64_t offset, uint32_t* length)>;
  HookedQueue(std::unique_ptr<scanner::ReadQueue> inner, Hook hook)
      : inner_(std::move(inner)), hook_(std::move(hook)) {}
  const char* name() const override { return inner_->name(); }
  void register_buffer(void* base, size_t length) override { inner_->register_buffer(base, length); }
  void prepare_read(int fd, void* buffer, uint32_t length, uint64_t offset, uint64_t tag) override {
    if (auto result = hook_(fd, offset, &length)) {
      synthetic_.push_back({tag, *result});
      return;
    }
    inner_->prepare_read(fd, buffer, length, offset, tag);
    ++inner_in_flight_;
  }
  int submit_and_wait(unsigned wait_for, std::vector<scanner::ReadCompletion>* out) override {
    const size_t before = out->size();
    const int rc = inner_->submit_and_wait(synthetic_.empty() && inner_in_flight_ > 0 ? wait_for : 0, out);
    inner_in_flight_ -= static_cast<int>(out->size() - before);
    out->insert(out->end(), synthetic_.begin(), synthetic_.end());
    synthetic_.clear();
    return rc;
  }

 private:
  std::unique_ptr<scanner::ReadQueue> inner_;
  Hook hook_;
  std::vector<scanner::ReadCompletion> synthetic_;
  int inner_in_flight_ = 0;
};

inline uint64_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

inline uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace sentinel::testing
