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

#include "proto/wire/option_error.h"
#include "collector/amqp_link.h"
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

using amqp::bytes_of;

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
    std::cerr << "sentinelctl watch: " << sentinel::wire::option_error_text(e, args) << "\n(see sentinelctl watch --help)\n";
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
  const std::string url = vm["amqp-url"].as<std::string>();
  std::string url_error;
  if (!amqp::valid_url(url, &url_error)) {
    std::cerr << "sentinelctl watch: --amqp-url: " << url_error << "\n";
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

  std::string error;
  auto link = amqp::Link::open(url, std::chrono::seconds(5), std::chrono::seconds(10), &error);
  if (!link) {
    std::cerr << "sentinelctl watch: " << error << "\n";
    return kExitCouldNotRun;
  }
  const amqp_connection_state_t conn = link->connection();
  const std::string& where = link->where();
  auto failed = [&](const char* what) {
    if (link->check(what, &error)) return false;
    std::cerr << "sentinelctl watch: " << error << "\n";
    return true;
  };
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
      link->mark_broken();
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
      // The event is already JSON: wrapped as it is, not parsed again.
      std::cout << "{\"routing_key\":" << nlohmann::json(routing_key).dump() << ",\"event\":" << line << "}\n";
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
