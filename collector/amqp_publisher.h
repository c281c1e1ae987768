// Publishes the store's events (event_outbox, see store.h) to RabbitMQ with rabbitmq-c: a topic exchange
// (durable, --amqp-exchange), one persistent protobuf message per event, publisher confirms.
//
// Contract:
// - Its own thread and its own SQLite connection to the store file; never blocks the committer or the agents'
//   acks: the store does not depend on the broker.
// - At least once, in outbox order: rows are read in id order, published, and deleted only after the broker
//   confirmed them (basic.ack, `multiple` honored). A nack, a confirm timeout or a broken connection closes the
//   connection; the next one republishes from the first unconfirmed row, with the same event_id
//   ("<store id>:<outbox id>"), so consumers dedupe.
// - Broker unreachable: one warning per outage (with the number of events waiting), retries with capped
//   exponential backoff (0.5 s .. 15 s); nothing is lost, events wait in the store.
// - notify() (thread-safe) wakes it after a commit that recorded events; it also polls once a second.
// - node.stale.<node>: every few seconds, nodes whose last report is older than stale_after and not yet
//   announced get one event (stale_announced; a newer report re-arms the node).
// - stop() returns within about two seconds; unconfirmed events stay in the store for the next start.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "collector/metrics.h"

namespace sentinel::collector {

struct AmqpPublisherOptions {
  std::string url;       // amqp://user:pass@host:port/vhost
  std::string exchange = "sentinel";
  std::string db_path;   // the store
  std::chrono::nanoseconds stale_after{std::chrono::minutes(3)};
  std::chrono::milliseconds stale_check_interval{std::chrono::seconds(5)};
  size_t batch = 256;    // rows published per confirm round
  std::chrono::milliseconds confirm_timeout{std::chrono::seconds(10)};
};

class AmqpPublisher {
 public:
  AmqpPublisher(AmqpPublisherOptions options, Metrics& metrics);
  ~AmqpPublisher();
  AmqpPublisher(const AmqpPublisher&) = delete;
  AmqpPublisher& operator=(const AmqpPublisher&) = delete;

  void start();
  void notify();
  void stop();

 private:
  class Connection;
  void run();
  // Waits for notify(), stop() or the timeout; true when stopping.
  bool pause(std::chrono::milliseconds timeout);
  bool stopping();

  const AmqpPublisherOptions options_;
  Metrics& metrics_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool notified_ = false;
  std::thread thread_;
};

}  // namespace sentinel::collector
