#include "collector/amqp_publisher.h"

#include <pthread.h>
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <spdlog/spdlog.h>
#include <sys/time.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "collector/amqp_link.h"
#include "collector/fleet_view.h"
#include "collector/volume_plan.h"
#include "proto/wire/duration.h"
#include "sentinel/v1/events.pb.h"

namespace sentinel::collector {

namespace {

using amqp::bytes_of;
using amqp::kChannel;
constexpr auto kMinBackoff = std::chrono::milliseconds(500);
constexpr auto kMaxBackoff = std::chrono::seconds(15);
constexpr int kConnectTimeoutMs = 2000;

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

struct OutboxRow {
  int64_t id = 0;
  std::string routing_key;
  std::string payload;
};

}  // namespace

// One broker connection: channel 1 in confirm mode, the exchange declared.
class AmqpPublisher::Connection {
 public:
  bool open(const std::string& url, const std::string& exchange, std::string* error) {
    link_ = amqp::Link::open(url, std::chrono::milliseconds(kConnectTimeoutMs), std::chrono::seconds(10), error);
    if (!link_) return false;
    conn_ = link_->connection();
    amqp_confirm_select(conn_, kChannel);
    if (!link_->check("confirm.select", error)) return false;
    amqp_exchange_declare(conn_, kChannel, bytes_of(exchange), amqp_cstring_bytes("topic"), 0, /*durable=*/1,
                          /*auto_delete=*/0, 0, amqp_empty_table);
    return link_->check("exchange.declare " + exchange, error);
  }

  bool publish(const std::string& exchange, const std::string& routing_key, const std::string& body,
               const std::string& message_id, std::string* error) {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
                   AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_TIMESTAMP_FLAG;
    props.content_type = amqp_cstring_bytes("application/x-protobuf");
    props.delivery_mode = 2;  // persistent
    props.message_id = bytes_of(message_id);
    props.type = amqp_cstring_bytes("sentinel.v1.Event");
    props.timestamp = static_cast<uint64_t>(wall_clock_ns() / 1'000'000'000);
    amqp_table_entry_t header{};
    header.key = amqp_cstring_bytes("message-type");
    header.value.kind = AMQP_FIELD_KIND_UTF8;
    header.value.value.bytes = amqp_cstring_bytes("sentinel.v1.Event");
    props.headers.num_entries = 1;
    props.headers.entries = &header;
    const int status = amqp_basic_publish(conn_, kChannel, bytes_of(exchange), bytes_of(routing_key), 0, 0,
                                          &props, bytes_of(body));
    if (status != AMQP_STATUS_OK) {
      *error = std::string("basic.publish: ") + amqp_error_string2(status);
      return false;
    }
    ++published_;
    return true;
  }

  // Waits until every message published so far is confirmed. False on a nack, a timeout or a broken link.
  bool wait_for_confirms(std::chrono::milliseconds timeout, std::string* error) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (confirmed_ < published_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        *error = "no publisher confirm within " + std::to_string(timeout.count()) + " ms";
        return false;
      }
      timeval tv = to_timeval(left);
      amqp_frame_t frame{};
      const int status = amqp_simple_wait_frame_noblock(conn_, &frame, &tv);
      if (status == AMQP_STATUS_TIMEOUT) continue;
      if (status != AMQP_STATUS_OK) {
        *error = std::string("waiting for confirms: ") + amqp_error_string2(status);
        return false;
      }
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      switch (frame.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
          // One channel: the broker confirms in publishing order, so an ack of tag N (multiple or not) means
          // every tag up to N is confirmed.
          const auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
          confirmed_ = std::max(confirmed_, ack->delivery_tag);
          break;
        }
        case AMQP_BASIC_NACK_METHOD:
          *error = "the broker refused (nack) an event";
          return false;
        case AMQP_CHANNEL_CLOSE_METHOD: {
          const auto* close = static_cast<amqp_channel_close_t*>(frame.payload.method.decoded);
          *error = "the broker closed the channel: " +
                   std::string(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len);
          return false;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
          const auto* close = static_cast<amqp_connection_close_t*>(frame.payload.method.decoded);
          *error = "the broker closed the connection: " +
                   std::string(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len);
          amqp_connection_close_ok_t close_ok{};
          amqp_send_method(conn_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
          link_->mark_broken();
          return false;
        }
        default:
          break;
      }
      amqp_maybe_release_buffers(conn_);
    }
    return true;
  }

  void drop() { link_->mark_broken(); }  // broken: do not try to close politely

 private:
  std::unique_ptr<amqp::Link> link_;
  amqp_connection_state_t conn_ = nullptr;
  uint64_t published_ = 0;  // delivery tags: 1, 2, ... on this channel
  uint64_t confirmed_ = 0;
};

AmqpPublisher::AmqpPublisher(AmqpPublisherOptions options, Metrics& metrics)
    : options_(std::move(options)), metrics_(metrics) {}

AmqpPublisher::~AmqpPublisher() { stop(); }

void AmqpPublisher::start() {
  thread_ = std::thread([this] {
    ::pthread_setname_np(::pthread_self(), "amqp");
    run();
  });
}

void AmqpPublisher::notify() {
  {
    std::lock_guard lock(mutex_);
    notified_ = true;
  }
  wake_.notify_one();
}

void AmqpPublisher::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

bool AmqpPublisher::pause(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, timeout, [this] { return stopping_ || notified_; });
  notified_ = false;
  return stopping_;
}

bool AmqpPublisher::stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void AmqpPublisher::run() {
  const std::string where = amqp::redacted_url(options_.url);
  std::unique_ptr<SQLite::Database> db;
  std::string store_id;
  try {
    db = std::make_unique<SQLite::Database>(options_.db_path, SQLite::OPEN_READWRITE);
    db->exec("PRAGMA busy_timeout = 5000");
    store_id = db->execAndGet("SELECT value FROM store_meta WHERE key = 'store_id'").getString();
  } catch (const std::exception& e) {
    spdlog::error("events: cannot open the store {} for publishing: {}; no events are published", options_.db_path,
                  e.what());
    return;
  }
  SQLite::Statement select_rows(*db, "SELECT id, routing_key, payload FROM event_outbox ORDER BY id LIMIT ?");
  SQLite::Statement count_rows(*db, "SELECT count(*) FROM event_outbox");
  SQLite::Statement delete_rows(*db, "DELETE FROM event_outbox WHERE id <= ?");
  SQLite::Statement stale_nodes(*db,
                                "SELECT n.name, n.last_report_ns FROM nodes n LEFT JOIN stale_announced a ON "
                                "a.node = n.name WHERE n.last_report_ns < ?1 AND (a.node IS NULL OR "
                                "a.last_report_ns < n.last_report_ns)");
  SQLite::Statement insert_event(*db, "INSERT INTO event_outbox (routing_key, payload, created_ns) VALUES (?,?,?)");
  SQLite::Statement announce(*db, "INSERT OR REPLACE INTO stale_announced (node, last_report_ns) VALUES (?,?)");
  SQLite::Statement select_plan(*db, "SELECT key, recommended FROM plan_announced WHERE volume = ?");
  SQLite::Statement announce_plan(*db,
                                  "INSERT OR REPLACE INTO plan_announced (volume, key, recommended) VALUES (?,?,?)");
  std::unique_ptr<FleetView> view;  // opened on first use: the plans read the store like the HTTP API does

  // plan.changed: after replica events of some volumes were published, their plans are computed again from the
  // store; a recommendation that differs from the last one announced becomes an event (published next round).
  // A volume's first plan is recorded without an event: there is no change to announce.
  auto check_plans = [&](const std::vector<std::string>& volumes) {
    if (volumes.empty()) return;
    std::string error;
    if (!view) view = FleetView::open(options_.db_path, options_.stale_after.count(), &error);
    if (!view) {
      spdlog::warn("events: cannot read plans from the store: {}; no plan.changed events for now", error);
      return;
    }
    for (const auto& volume : volumes) {
      try {
        const int64_t now = wall_clock_ns();
        const auto planned = plan_volume(*view, volume, now, salvage::PlanOptions{});
        if (planned.outcome != VolumePlan::Outcome::kPlanned) continue;  // gone, or nothing usable to plan
        const auto& plan = planned.result.plan;
        const std::string key = plan_recommendation_key(plan);
        const std::vector<std::string> recommended = recommended_locations(plan);
        std::string joined;
        for (const auto& r : recommended) joined += (joined.empty() ? "" : "\n") + r;
        select_plan.bind(1, volume);
        const bool known = select_plan.executeStep();
        const std::string previous_key = known ? select_plan.getColumn(0).getString() : std::string();
        const std::string previous = known ? select_plan.getColumn(1).getString() : std::string();
        select_plan.reset();
        if (known && previous_key == key) continue;
        SQLite::Transaction transaction(*db, SQLite::TransactionBehavior::IMMEDIATE);
        if (known) {
          v1::Event event;
          event.set_created_ns(now);
          event.set_volume(volume);
          auto* changed = event.mutable_plan_changed();
          changed->set_volume(volume);
          changed->set_summary(plan.recommendation_reason());
          for (const auto& r : recommended) changed->add_recommended(r);
          size_t start = 0;
          while (start < previous.size()) {
            const size_t end = std::min(previous.find('\n', start), previous.size());
            changed->add_previous_recommended(previous.substr(start, end - start));
            start = end + 1;
          }
          changed->set_divergent(plan.divergent());
          changed->set_last_resort(plan.last_resort());
          const std::string payload = event.SerializeAsString();
          insert_event.bind(1, "plan.changed." + volume);
          insert_event.bind(2, payload.data(), static_cast<int>(payload.size()));
          insert_event.bind(3, now);
          insert_event.exec();
          insert_event.reset();
          spdlog::info("events: the plan of {} changed: recommends {} (was {})", volume, joined.empty() ? "-" : joined,
                       previous.empty() ? "-" : previous);
        }
        announce_plan.bind(1, volume);
        announce_plan.bind(2, key);
        announce_plan.bind(3, joined);
        announce_plan.exec();
        announce_plan.reset();
        transaction.commit();
      } catch (const std::exception& e) {
        select_plan.tryReset();
        insert_event.tryReset();
        announce_plan.tryReset();
        spdlog::warn("events: plan check of {} failed: {}", volume, e.what());
      }
    }
  };

  auto pending = [&]() -> uint64_t {
    try {
      count_rows.executeStep();
      const auto n = static_cast<uint64_t>(count_rows.getColumn(0).getInt64());
      count_rows.reset();
      metrics_.events_pending.store(n, std::memory_order_relaxed);
      return n;
    } catch (const std::exception&) {
      count_rows.tryReset();
      return 0;
    }
  };

  auto check_stale = [&] {
    try {
      const int64_t now = wall_clock_ns();
      std::vector<std::pair<std::string, int64_t>> nodes;
      stale_nodes.bind(1, now - options_.stale_after.count());
      while (stale_nodes.executeStep()) {
        nodes.emplace_back(stale_nodes.getColumn(0).getString(), stale_nodes.getColumn(1).getInt64());
      }
      stale_nodes.reset();
      for (const auto& [node, last_report_ns] : nodes) {
        v1::Event event;
        event.set_created_ns(now);
        event.set_node(node);
        auto* stale = event.mutable_node_stale();
        stale->set_node(node);
        stale->set_last_report_ns(last_report_ns);
        stale->set_stale_after_ns(options_.stale_after.count());
        const std::string payload = event.SerializeAsString();
        const std::string routing_key = "node.stale." + node;
        SQLite::Transaction transaction(*db, SQLite::TransactionBehavior::IMMEDIATE);
        insert_event.bind(1, routing_key);
        insert_event.bind(2, payload.data(), static_cast<int>(payload.size()));
        insert_event.bind(3, now);
        insert_event.exec();
        insert_event.reset();
        announce.bind(1, node);
        announce.bind(2, last_report_ns);
        announce.exec();
        announce.reset();
        transaction.commit();
        spdlog::info("events: node {} is stale (no report for {}): node.stale event recorded", node,
                     wire::format_duration(std::chrono::nanoseconds(now - last_report_ns)));
      }
    } catch (const std::exception& e) {
      stale_nodes.tryReset();
      insert_event.tryReset();
      announce.tryReset();
      spdlog::warn("events: stale node check failed: {}", e.what());
    }
  };

  std::unique_ptr<Connection> connection;
  auto backoff = std::chrono::milliseconds(kMinBackoff);
  bool in_outage = false;
  auto next_stale_check = std::chrono::steady_clock::now();
  std::vector<OutboxRow> rows;
  uint64_t published_total = 0;

  auto outage = [&](const std::string& why) {
    connection.reset();
    metrics_.amqp_connected.store(0, std::memory_order_relaxed);
    if (!in_outage) {
      spdlog::warn("events: RabbitMQ at {} unavailable ({}): events wait in the store; {} pending. They are "
                   "published in order once the broker is reachable (check the broker and --amqp-url; retrying "
                   "with backoff up to {} s)",
                   where, why, pending(), kMaxBackoff.count());
      in_outage = true;
    } else {
      spdlog::debug("events: still unavailable: {}", why);
    }
  };

  while (!stopping()) {
    if (std::chrono::steady_clock::now() >= next_stale_check) {
      check_stale();
      next_stale_check = std::chrono::steady_clock::now() + options_.stale_check_interval;
    }
    if (!connection) {
      auto fresh = std::make_unique<Connection>();
      std::string error;
      if (!fresh->open(options_.url, options_.exchange, &error)) {
        outage(error);
        if (pause(backoff)) break;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
        continue;
      }
      connection = std::move(fresh);
      // The backoff is reset by a confirmed round, not by connecting: a broker that accepts connections but
      // refuses what is published (a nack, a closed channel) must not make this a tight reconnect loop.
      metrics_.amqp_connected.store(1, std::memory_order_relaxed);
      const uint64_t waiting = pending();
      if (in_outage) {
        spdlog::info("events: connected to RabbitMQ at {} again; publishing {} pending events", where, waiting);
      } else {
        spdlog::info("events: connected to RabbitMQ at {}, exchange '{}' (topic); {} events pending", where,
                     options_.exchange, waiting);
      }
      in_outage = false;
    }

    rows.clear();
    try {
      select_rows.bind(1, static_cast<int64_t>(options_.batch));
      while (select_rows.executeStep()) {
        OutboxRow row;
        row.id = select_rows.getColumn(0).getInt64();
        row.routing_key = select_rows.getColumn(1).getString();
        const auto payload = select_rows.getColumn(2);
        row.payload.assign(static_cast<const char*>(payload.getBlob()), static_cast<size_t>(payload.getBytes()));
        rows.push_back(std::move(row));
      }
      select_rows.reset();
    } catch (const std::exception& e) {
      select_rows.tryReset();
      spdlog::warn("events: cannot read the outbox: {}", e.what());
      if (pause(std::chrono::seconds(1))) break;
      continue;
    }
    if (rows.empty()) {
      metrics_.events_pending.store(0, std::memory_order_relaxed);
      if (pause(std::chrono::seconds(1))) break;
      continue;
    }

    std::string error;
    bool sent = true;
    for (auto& row : rows) {
      v1::Event event;
      if (!event.ParseFromString(row.payload)) {
        spdlog::error("events: outbox row {} does not parse as sentinel.v1.Event; publishing it as stored", row.id);
      }
      const std::string event_id = store_id + ":" + std::to_string(row.id);
      event.set_event_id(event_id);
      event.set_sequence(static_cast<uint64_t>(row.id));
      const std::string body = event.SerializeAsString();
      if (!connection->publish(options_.exchange, row.routing_key, body, event_id, &error)) {
        sent = false;
        break;
      }
    }
    if (sent && !connection->wait_for_confirms(options_.confirm_timeout, &error)) sent = false;
    if (!sent) {
      connection->drop();
      outage(error);
      if (pause(backoff)) break;  // then reconnect and republish from the first unconfirmed row
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, kMaxBackoff);
      continue;
    }
    backoff = kMinBackoff;
    try {
      delete_rows.bind(1, rows.back().id);
      delete_rows.exec();
      delete_rows.reset();
    } catch (const std::exception& e) {
      delete_rows.tryReset();
      spdlog::warn("events: published {} events but cannot delete them from the outbox ({}); they will be "
                   "published again (consumers dedupe by event_id)",
                   rows.size(), e.what());
    }
    {
      std::vector<std::string> volumes;
      for (const auto& row : rows) {
        for (const char* prefix : {"replica.changed.", "replica.missing.", "checksum.mismatch."}) {
          const std::string_view p(prefix);
          if (row.routing_key.compare(0, p.size(), p) == 0) volumes.push_back(row.routing_key.substr(p.size()));
        }
      }
      std::sort(volumes.begin(), volumes.end());
      volumes.erase(std::unique(volumes.begin(), volumes.end()), volumes.end());
      check_plans(volumes);
    }
    published_total += rows.size();
    metrics_.events_published.fetch_add(rows.size(), std::memory_order_relaxed);
    spdlog::debug("events: {} published and confirmed ({} in all)", rows.size(), published_total);
    if (rows.size() < options_.batch) pending();
  }
  connection.reset();
  metrics_.amqp_connected.store(0, std::memory_order_relaxed);
}

}  // namespace sentinel::collector
