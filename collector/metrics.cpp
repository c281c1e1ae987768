#include "collector/metrics.h"

#include <algorithm>
#include <cstdio>

namespace sentinel::collector {

namespace {

void counter(std::string* out, const char* name, const char* help, uint64_t value, const char* type = "counter") {
  *out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
          std::to_string(value) + "\n";
}

std::string seconds_text(double seconds) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", seconds);
  return buf;
}

}  // namespace

const char* refusal_name(Refusal refusal) {
  switch (refusal) {
    case Refusal::kTooManyConnections: return "too_many_connections";
    case Refusal::kProtocolVersion: return "protocol_version";
    case Refusal::kBadHello: return "bad_hello";
    case Refusal::kMalformed: return "malformed";
    case Refusal::kFrameTooLarge: return "frame_too_large";
    case Refusal::kUnexpected: return "unexpected";
    case Refusal::kBadRequest: return "bad_request";
    case Refusal::kReadTimeout: return "read_timeout";
    case Refusal::kIdleTimeout: return "idle_timeout";
    case Refusal::kUnauthenticated: return "unauthenticated";
    case Refusal::kStoreFailure: return "store_failure";
    case Refusal::kShuttingDown: return "shutting_down";
    case Refusal::kCount: break;
  }
  return "unknown";
}

void LatencyHistogram::observe(std::chrono::nanoseconds latency) {
  const double seconds = std::chrono::duration<double>(latency).count();
  for (size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(latency.count() > 0 ? latency.count() : 0), std::memory_order_relaxed);
}

void LatencyHistogram::render(const std::string& name, const std::string& help, std::string* out) const {
  *out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    *out += name + "_bucket{le=\"" + seconds_text(kBounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  // Read count after the buckets: +Inf must never be below the last bucket.
  const uint64_t count = std::max(cumulative, count_.load(std::memory_order_relaxed));
  *out += name + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  *out += name + "_sum " + seconds_text(static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9) + "\n";
  *out += name + "_count " + std::to_string(count) + "\n";
}

std::string Metrics::render(const FleetStats& fleet) const {
  std::string out;
  auto load = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  counter(&out, "sentinel_collector_reports_received_total", "Report frames received from agents.",
          load(reports_received));
  counter(&out, "sentinel_collector_reports_stored_total", "Reports committed to the store as new.",
          load(reports_stored));
  counter(&out, "sentinel_collector_reports_duplicate_total",
          "Reports already stored (same node and sequence), acked again and not applied.", load(reports_duplicate));
  counter(&out, "sentinel_collector_reports_superseded_total",
          "Reports stored but older than the node's latest applied report.", load(reports_superseded));
  counter(&out, "sentinel_collector_report_bytes_total", "Wire bytes of the reports received.", load(report_bytes));
  counter(&out, "sentinel_collector_commit_batches_total", "Store transactions committed (reports are batched).",
          load(commit_batches));
  counter(&out, "sentinel_collector_commit_failures_total", "Store transactions that failed and were rolled back.",
          load(commit_failures));
  counter(&out, "sentinel_collector_connections_accepted_total", "Agent connections accepted.",
          load(connections_accepted));
  counter(&out, "sentinel_collector_connections_open", "Agent connections open now.",
          static_cast<uint64_t>(std::max<int64_t>(0, connections_open.load(std::memory_order_relaxed))), "gauge");
  counter(&out, "sentinel_collector_http_requests_total", "HTTP API requests served.", load(http_requests));
  counter(&out, "sentinel_collector_events_published_total",
          "Events published to RabbitMQ and confirmed by the broker (--amqp-url).", load(events_published));
  counter(&out, "sentinel_collector_events_pending",
          "Events in the store waiting to be published (at the publisher's last look).", load(events_pending),
          "gauge");
  counter(&out, "sentinel_collector_amqp_connected", "1 while connected to RabbitMQ.", load(amqp_connected),
          "gauge");
  out += "# HELP sentinel_collector_refusals_total Agent connections refused or cut off, by reason.\n"
         "# TYPE sentinel_collector_refusals_total counter\n";
  for (size_t i = 0; i < refusals.size(); ++i) {
    out += std::string("sentinel_collector_refusals_total{reason=\"") + refusal_name(static_cast<Refusal>(i)) +
           "\"} " + std::to_string(load(refusals[i])) + "\n";
  }
  ingest_latency.render("sentinel_collector_ingest_latency_seconds",
                        "From a report's last byte received to its ack queued (store commit included).", &out);
  commit_latency.render("sentinel_collector_commit_seconds", "Duration of one store transaction (a batch).", &out);
  if (fleet.available) {
    counter(&out, "sentinel_collector_nodes", "Nodes that ever reported.", fleet.nodes, "gauge");
    counter(&out, "sentinel_collector_nodes_stale", "Nodes with no report for longer than --stale-after.",
            fleet.nodes_stale, "gauge");
    counter(&out, "sentinel_collector_volumes", "Volumes with at least one known replica.", fleet.volumes, "gauge");
    counter(&out, "sentinel_collector_replicas", "Replicas in the nodes' latest inventories.", fleet.replicas,
            "gauge");
    counter(&out, "sentinel_collector_replicas_with_findings",
            "Replicas with at least one WARNING or ERROR finding.", fleet.replicas_with_findings, "gauge");
  }
  counter(&out, "sentinel_collector_store_up", "1 when the store could be read for this scrape.",
          fleet.available ? 1 : 0, "gauge");
  return out;
}

}  // namespace sentinel::collector
