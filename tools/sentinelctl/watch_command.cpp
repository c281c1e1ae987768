// sentinelctl watch --amqp-url URL: the collector's events as they happen, from RabbitMQ. Declares its own
// exclusive, auto-delete, server-named queue, binds it to the exchange with each --binding, consumes, decodes
// every sentinel.v1.Event and prints one line per event (or one JSON object per line with --json). Events are
// delivered at least once: a repeated event_id is not printed again.
//
// Exit codes: 0 --count events printed (or --timeout passed, or interrupted); 1 the broker could not be
// reached or the connection broke; 2 usage error.

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <google/protobuf/util/json_util.h>
#include <sys/time.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <csignal>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "proto/wire/duration.h"
#include "sentinel/v1/events.pb.h"
#include "tools/sentinelctl/commands.h"

namespace po = boost::program_options;

namespace sentinel::tools {

namespace {

constexpr const char* kUsage =
    "sentinelctl watch --amqp-url URL [--exchange sentinel] [--binding KEY]... [--json] [--count N]\n"
    "                  [--timeout DURATION]\n"
    "\n"
    "Prints sentinel-collector's events as they are published to RabbitMQ (the collector runs with --amqp-url).\n"
    "A private queue (exclusive, deleted when watch exits) is bound to the topic exchange: events published\n"
    "before watch started are not shown. One line per event: time, routing key, node, volume, what changed.\n"
    "\n"
    "Routing keys: replica.changed.<volume>, replica.missing.<volume>, checksum.mismatch.<volume>,\n"
    "plan.changed.<volume>, node.stale.<node>. Bindings use topic patterns: '*' one word, '#' any words.\n"
    "\n"
    "Examples:\n"
    "  sentinelctl watch --amqp-url amqp://guest:guest@127.0.0.1:5672\n"
    "  sentinelctl watch --amqp-url amqp://u:p@mq:5672 --binding 'replica.*.pvc-1234' --binding 'node.stale.#'\n"
    "  sentinelctl watch --amqp-url amqp://u:p@mq:5672 --json --count 1 --timeout 30s\n"
    "\n"
    "Exit codes: 0 done (--count reached, --timeout passed, or Ctrl-C); 1 cannot reach the broker or the\n"
    "connection broke; 2 usage error.\n"
    "\n"
    "Options";

volatile std::sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

amqp_bytes_t bytes_of(const std::string& text) { return amqp_bytes_t{text.size(), const_cast<char*>(text.data())}; }

std::string reply_error(amqp_connection_state_t conn, const char* what) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn);
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return std::string(what) + ": " + amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_channel_close_t*>(reply.reply.decoded);
        return std::string(what) + ": " +
               std::string(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len);
      }
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<amqp_connection_close_t*>(reply.reply.decoded);
        return std::string(what) + ": " +
               std::string(static_cast<const char*>(close->reply_text.bytes), close->reply_text.len);
      }
      return std::string(what) + ": broker error";
    default:
      return std::string(what) + ": no reply";
  }
}

std::string format_time(int64_t ns) {
  const time_t seconds = static_cast<time_t>(ns / 1'000'000'000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>((ns / 1'000'000) % 1000));
  return std::string(buf) + millis;
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out.empty() ? "none" : out;
}

// What changed between two facts, e.g. "revision counter 1042 -> 1043".
std::string describe_change(const v1::ReplicaChanged& changed) {
  const auto& now = changed.current();
  if (!changed.has_previous()) {
    return "new replica " + now.dir() + " on " + now.disk() + ": " + v1::Replica::State_Name(now.state()) +
           ", revision counter " + std::to_string(now.revision_counter());
  }
  const auto& before = changed.previous();
  std::vector<std::string> parts;
  if (before.state() != now.state()) {
    parts.push_back("state " + v1::Replica::State_Name(before.state()) + " -> " + v1::Replica::State_Name(now.state()));
  }
  if (before.revision_counter() != now.revision_counter()) {
    parts.push_back("revision counter " + std::to_string(before.revision_counter()) + " -> " +
                    std::to_string(now.revision_counter()));
  }
  if (before.head_mtime_ns() != now.head_mtime_ns()) {
    parts.push_back("head written at " + format_time(now.head_mtime_ns()));
  }
  if (before.allocated_bytes() != now.allocated_bytes()) {
    parts.push_back("allocated " + std::to_string(before.allocated_bytes()) + " -> " +
                    std::to_string(now.allocated_bytes()) + " bytes");
  }
  if (before.content_digest() != now.content_digest()) {
    parts.push_back("digest " + (before.content_digest().empty() ? "-" : before.content_digest().substr(0, 12)) +
                    " -> " + (now.content_digest().empty() ? "-" : now.content_digest().substr(0, 12)));
  }
  if (join(before.findings()) != join(now.findings())) {
    parts.push_back("findings " + join(before.findings()) + " -> " + join(now.findings()));
  }
  std::string out = now.dir() + ":";
  for (size_t i = 0; i < parts.size(); ++i) out += (i == 0 ? " " : ", ") + parts[i];
  return out;
}

std::string describe_event(const v1::Event& event) {
  switch (event.body_case()) {
    case v1::Event::kReplicaChanged:
      return describe_change(event.replica_changed());
    case v1::Event::kReplicaMissing:
      return event.replica_missing().last().dir() + " on " + event.replica_missing().last().disk() +
             " is no longer reported (last revision counter " +
             std::to_string(event.replica_missing().last().revision_counter()) + ")";
    case v1::Event::kChecksumMismatch: {
      std::string out = event.checksum_mismatch().replica().dir() + ": ";
      for (const auto& finding : event.checksum_mismatch().findings()) {
        out += v1::Finding::Code_Name(finding.code()) + " " + finding.path() + "; ";
      }
      return out;
    }
    case v1::Event::kPlanChanged:
      return "plan changed: " + event.plan_changed().summary();
    case v1::Event::kNodeStale:
      return "no report since " + format_time(event.node_stale().last_report_ns()) + " (stale after " +
             wire::format_duration(std::chrono::nanoseconds(event.node_stale().stale_after_ns())) + ")";
    default:
      return "(unknown event body)";
  }
}

}  // namespace

int run_watch_command(const CommandArgs& args) {
  po::options_description opts(kUsage, 110, 60);
  opts.add_options()("help,h", "show this help")(
      "amqp-url", po::value<std::string>(), "the broker: amqp://USER:PASSWORD@HOST:PORT/VHOST (required)")(
      "exchange", po::value<std::string>()->default_value("sentinel"), "the collector's --amqp-exchange")(
      "binding", po::value<std::vector<std::string>>(), "a routing-key pattern to bind (repeatable; default '#')")(
      "json", po::bool_switch(), "one JSON object per event and line (protobuf JSON mapping of sentinel.v1.Event)")(
      "count", po::value<uint64_t>()->default_value(0), "exit 0 after this many events (0 = never)")(
      "timeout", po::value<std::string>(), "exit 0 after this long (e.g. 30s, 5m), whatever arrived");
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl watch: " << e.what() << "\n(see sentinelctl watch --help)\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts;
    return kExitOk;
  }
  if (!vm.count("amqp-url")) {
    std::cerr << "sentinelctl watch: --amqp-url is required (e.g. amqp://guest:guest@127.0.0.1:5672; no path = vhost /)\n";
    return kExitUsage;
  }
  std::string url = vm["amqp-url"].as<std::string>();
  amqp_connection_info info{};
  if (amqp_parse_url(url.data(), &info) != AMQP_STATUS_OK) {
    std::cerr << "sentinelctl watch: --amqp-url: not an AMQP URL; expected amqp://USER:PASSWORD@HOST:PORT/VHOST\n";
    return kExitUsage;
  }
  const std::string exchange = vm["exchange"].as<std::string>();
  std::vector<std::string> bindings = vm.count("binding") ? vm["binding"].as<std::vector<std::string>>()
                                                          : std::vector<std::string>{"#"};
  const bool json = vm["json"].as<bool>();
  const uint64_t count = vm["count"].as<uint64_t>();
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (vm.count("timeout")) {
    std::string error;
    const auto timeout = wire::parse_duration(vm["timeout"].as<std::string>(), &error);
    if (!timeout || timeout->count() <= 0) {
      std::cerr << "sentinelctl watch: --timeout: " << (timeout ? "must be more than 0" : error) << "\n";
      return kExitUsage;
    }
    deadline = std::chrono::steady_clock::now() + *timeout;
  }

  const std::string where = std::string(info.host) + ":" + std::to_string(info.port);
  amqp_connection_state_t conn = amqp_new_connection();
  struct Closer {
    amqp_connection_state_t conn;
    bool open = false;
    ~Closer() {
      if (open) {
        amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
      }
      amqp_destroy_connection(conn);
    }
  } closer{conn};
  amqp_socket_t* socket = amqp_tcp_socket_new(conn);
  timeval connect_timeout{5, 0};
  const int status = socket == nullptr ? AMQP_STATUS_NO_MEMORY
                                       : amqp_socket_open_noblock(socket, info.host, info.port, &connect_timeout);
  if (status != AMQP_STATUS_OK) {
    std::cerr << "sentinelctl watch: cannot connect to RabbitMQ at " << where << ": " << amqp_error_string2(status)
              << " (is the broker running, and is --amqp-url right?)\n";
    return kExitCouldNotRun;
  }
  timeval rpc_timeout{10, 0};
  amqp_set_rpc_timeout(conn, &rpc_timeout);
  const amqp_rpc_reply_t login =
      amqp_login(conn, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password);
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    std::cerr << "sentinelctl watch: RabbitMQ at " << where << " refused the login as '" << info.user
              << "' (vhost '" << info.vhost << "'): check the user, password and vhost in --amqp-url\n";
    return kExitCouldNotRun;
  }
  closer.open = true;
  auto failed = [&](const char* what) {
    const std::string error = reply_error(conn, what);
    if (error.empty()) return false;
    std::cerr << "sentinelctl watch: " << error << "\n";
    closer.open = false;
    return true;
  };
  amqp_channel_open(conn, 1);
  if (failed("channel.open")) return kExitCouldNotRun;
  // The collector declares the exchange too; declaring it here (same arguments) lets watch start first.
  amqp_exchange_declare(conn, 1, bytes_of(exchange), amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
  if (failed("exchange.declare")) return kExitCouldNotRun;
  amqp_queue_declare_ok_t* declared =
      amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, /*durable=*/0, /*exclusive=*/1, /*auto_delete=*/1,
                         amqp_empty_table);
  if (failed("queue.declare")) return kExitCouldNotRun;
  const std::string queue(static_cast<const char*>(declared->queue.bytes), declared->queue.len);
  for (const auto& binding : bindings) {
    amqp_queue_bind(conn, 1, bytes_of(queue), bytes_of(exchange), bytes_of(binding), amqp_empty_table);
    if (failed("queue.bind")) return kExitCouldNotRun;
  }
  amqp_basic_consume(conn, 1, bytes_of(queue), amqp_empty_bytes, 0, /*no_ack=*/1, 1, amqp_empty_table);
  if (failed("basic.consume")) return kExitCouldNotRun;
  std::cerr << "watching exchange '" << exchange << "' on " << where << " (bindings:";
  for (const auto& binding : bindings) std::cerr << " " << binding;
  std::cerr << ")\n";

  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::unordered_set<std::string> seen;
  uint64_t printed = 0;
  google::protobuf::util::JsonPrintOptions json_options;
  json_options.preserve_proto_field_names = false;
  while (!g_interrupted && (count == 0 || printed < count)) {
    if (deadline && std::chrono::steady_clock::now() >= *deadline) break;
    amqp_maybe_release_buffers(conn);
    timeval poll{0, 250'000};
    amqp_envelope_t envelope;
    const amqp_rpc_reply_t reply = amqp_consume_message(conn, &envelope, &poll, 0);
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) continue;
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      if (g_interrupted) break;
      std::cerr << "sentinelctl watch: the connection to RabbitMQ at " << where << " broke"
                << (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                        ? std::string(": ") + amqp_error_string2(reply.library_error)
                        : std::string())
                << "\n";
      closer.open = false;
      return kExitCouldNotRun;
    }
    const std::string routing_key(static_cast<const char*>(envelope.routing_key.bytes), envelope.routing_key.len);
    v1::Event event;
    const bool parsed = event.ParseFromArray(envelope.message.body.bytes, static_cast<int>(envelope.message.body.len));
    amqp_destroy_envelope(&envelope);
    if (!parsed) {
      std::cerr << "sentinelctl watch: a message on " << routing_key << " is not a sentinel.v1.Event; skipped\n";
      continue;
    }
    if (!event.event_id().empty() && !seen.insert(event.event_id()).second) continue;  // redelivered
    if (json) {
      std::string line;
      if (!google::protobuf::util::MessageToJsonString(event, &line, json_options).ok()) continue;
      const nlohmann::json object = {{"routing_key", routing_key}, {"event", nlohmann::json::parse(line)}};
      std::cout << object.dump() << "\n";
    } else {
      std::cout << format_time(event.created_ns()) << "  " << routing_key << "  node=" << event.node()
                << (event.volume().empty() ? "" : "  volume=" + event.volume()) << "  " << describe_event(event)
                << "\n";
    }
    std::cout.flush();
    ++printed;
  }
  return kExitOk;
}

}  // namespace sentinel::tools
