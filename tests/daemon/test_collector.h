// A minimal collector for the agent's integration tests: a real TCP listener on loopback speaking the wire
// protocol (Hello -> HelloAck, Report -> Ack), storing each (node, sequence) once and acking repeats as
// duplicates, like sentinel-collector. Unlike the real one it can hold acks back, to put an agent between
// "sent" and "acked" on purpose.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sentinel/v1/wire.pb.h"

namespace sentinel::testing {

class TestCollector {
 public:
  explicit TestCollector(int port);
  ~TestCollector();

  // Sequences stored for `node`, in the order they were stored (each at most once).
  std::vector<uint64_t> stored(const std::string& node) const;
  v1::Report last_report(const std::string& node) const;
  // Every report frame received, duplicates included.
  std::vector<uint64_t> received(const std::string& node) const;
  size_t duplicates() const;
  size_t hellos() const;
  // While held, reports are received (and counted) but neither stored nor acked.
  void hold_acks(bool hold);

 private:
  void serve();
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hold_{false};
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<uint64_t>> stored_;
  std::map<std::string, std::set<uint64_t>> stored_set_;
  std::map<std::string, std::vector<uint64_t>> received_;
  std::map<std::string, v1::Report> last_;
  size_t duplicates_ = 0;
  size_t hellos_ = 0;
  std::thread thread_;
};

}  // namespace sentinel::testing
