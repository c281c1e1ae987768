// The collector's counters, gauges and latency histogram, and their Prometheus text rendering (/metrics).
//
// Contract: every member is updated lock-free (relaxed atomics) from any thread; render() may run
// concurrently with updates and shows a consistent-enough snapshot (each value is read once). Fleet-level
// numbers that live in the store (nodes, stale nodes, replicas with findings) are passed in by the caller.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace sentinel::collector {

// Why an agent connection was refused or cut off (a label of sentinel_collector_refusals_total).
enum class Refusal {
  kTooManyConnections,
  kProtocolVersion,
  kBadHello,
  kMalformed,
  kFrameTooLarge,
  kUnexpected,
  kBadRequest,
  kReadTimeout,
  kIdleTimeout,
  kUnauthenticated,
  kStoreFailure,
  kShuttingDown,
  kCount,
};
const char* refusal_name(Refusal refusal);

// A cumulative histogram with fixed buckets in seconds.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 14> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                     0.1,    0.25,  0.5,    1,     2.5,   5,     10};
  void observe(std::chrono::nanoseconds latency);
  void render(const std::string& name, const std::string& help, std::string* out) const;
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBounds.size()> buckets_{};  // non-cumulative; summed when rendered
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

struct FleetStats {
  uint64_t nodes = 0;
  uint64_t nodes_stale = 0;
  uint64_t replicas = 0;
  uint64_t replicas_with_findings = 0;  // a WARNING or ERROR finding
  uint64_t volumes = 0;
  bool available = false;  // false: the store could not be read; the fleet gauges are left out
};

struct Metrics {
  std::atomic<uint64_t> reports_received{0};    // Report frames accepted for storing
  std::atomic<uint64_t> reports_stored{0};      // committed as new
  std::atomic<uint64_t> reports_duplicate{0};   // acked with duplicate = true
  std::atomic<uint64_t> reports_superseded{0};  // stored, older than the node's latest
  std::atomic<uint64_t> report_bytes{0};        // wire bytes of received reports
  std::atomic<uint64_t> commit_batches{0};
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<int64_t> connections_open{0};
  std::atomic<uint64_t> http_requests{0};
  std::atomic<uint64_t> events_published{0};  // confirmed by RabbitMQ (--amqp-url)
  std::atomic<uint64_t> events_pending{0};    // in the store's outbox at the publisher's last look
  std::atomic<uint64_t> amqp_connected{0};    // 1 while the publisher holds a broker connection
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Refusal::kCount)> refusals{};
  LatencyHistogram ingest_latency;  // a report's last byte read -> its ack queued for sending (commit included)
  LatencyHistogram commit_latency;  // one batch's transaction

  void refused(Refusal refusal) { refusals[static_cast<size_t>(refusal)].fetch_add(1, std::memory_order_relaxed); }
  std::string render(const FleetStats& fleet) const;
};

}  // namespace sentinel::collector
