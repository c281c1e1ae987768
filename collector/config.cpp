#include "collector/config.h"

#include <unistd.h>

#include <boost/program_options.hpp>
#include <fstream>
#include <iterator>
#include <sstream>

#include "collector/amqp_link.h"
#include "proto/wire/duration.h"
#include "proto/wire/option_error.h"
#include "proto/wire/frame_codec.h"

namespace po = boost::program_options;

namespace sentinel::collector {

namespace {

constexpr const char* kUsage =
    "sentinel-collector [options]\n"
    "\n"
    "Receives every sentinel-agent's replica inventories (protobuf frames over TCP), stores them in SQLite and\n"
    "serves the fleet's view of every volume's replicas as JSON over HTTP.\n"
    "\n"
    "Durations take a unit: 500ms, 2s, 60s, 5m, 1h, 30d. Sizes: bytes, or with KiB/MiB/GiB.\n"
    "A config file (--config) holds the same options as `name = value` lines; flags win over it.\n"
    "\n"
    "Options";

bool fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

bool readable_file(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

}  // namespace

std::string Endpoint::to_string() const {
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    fail(error, "expected HOST:PORT (e.g. 0.0.0.0:7460), got '" + std::string(text) + "'");
    return std::nullopt;
  }
  std::string host(text.substr(0, colon));
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') {
      fail(error, "bad IPv6 host in '" + std::string(text) + "' (write [::1]:7460)");
      return std::nullopt;
    }
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = text.substr(colon + 1);
  uint32_t port = 0;
  for (char c : port_text) {
    if (c < '0' || c > '9' || port > 65535) {
      fail(error, "bad port in '" + std::string(text) + "': expected 0..65535");
      return std::nullopt;
    }
    port = port * 10 + static_cast<uint32_t>(c - '0');
  }
  if (port > 65535) {
    fail(error, "bad port in '" + std::string(text) + "': expected 0..65535");
    return std::nullopt;
  }
  return Endpoint{host, static_cast<uint16_t>(port)};
}

std::optional<uint64_t> parse_byte_size(std::string_view text, std::string* error) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  const std::string_view unit = text.substr(digits);
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "B") multiplier = 1;
  else if (unit == "KiB") multiplier = 1ull << 10;
  else if (unit == "MiB") multiplier = 1ull << 20;
  else if (unit == "GiB") multiplier = 1ull << 30;
  if (digits == 0 || digits > 12 || multiplier == 0) {
    fail(error, "invalid size '" + std::string(text) + "': expected bytes, or a number with KiB, MiB or GiB");
    return std::nullopt;
  }
  uint64_t value = 0;
  for (size_t i = 0; i < digits; ++i) value = value * 10 + static_cast<uint64_t>(text[i] - '0');
  return value * multiplier;
}

ConfigOutcome parse_config(const std::vector<std::string>& args) {
  ConfigOutcome outcome;
  const Config defaults;
  po::options_description opts(kUsage, 110, 60);
  // Every option that is not a pure switch is a string here and converted below, so one message format (the
  // option's name, the bad value, what is accepted) covers all of them.
  opts.add_options()("help,h", "show this help")("version", "print the version and exit")(
      "config", po::value<std::string>(), "read options from this file too (flags win)")(
      "listen", po::value<std::string>()->default_value(defaults.listen.to_string()),
      "HOST:PORT for agents (protobuf frames); port 0 = any free port (see --port-file)")(
      "http", po::value<std::string>()->default_value(defaults.http.to_string()),
      "HOST:PORT of the JSON API and /metrics; port 0 = any free port")(
      "db", po::value<std::string>()->default_value(defaults.db_path), "the SQLite store (created when missing)")(
      "sync", po::value<std::string>()->default_value("full"),
      "full: an acked report survives power loss (fsync per commit batch); normal: it survives a crash of the "
      "collector, not of the machine")(
      "stale-after", po::value<std::string>()->default_value("3m"),
      "a node with no report for this long is shown as stale (its replicas are kept)")(
      "retention", po::value<std::string>()->default_value("30d"),
      "how long replica history and report records are kept; 0 = forever")(
      "max-frame-bytes", po::value<std::string>()->default_value(std::to_string(wire::kDefaultMaxFrameBytes)),
      "largest frame accepted from an agent; a larger length prefix is refused and the connection closed")(
      "read-timeout", po::value<std::string>()->default_value("30s"),
      "a frame (and the Hello after connecting) must arrive whole within this time of its first byte")(
      "idle-timeout", po::value<std::string>()->default_value("10m"),
      "an agent connection with no frame for this long is closed (agents reconnect)")(
      "max-connections", po::value<unsigned>()->default_value(defaults.max_connections),
      "agent connections open at once; more are refused with an error frame")(
      "port-file", po::value<std::string>(),
      "write the bound addresses here once listening (listen=HOST:PORT and http=HOST:PORT lines)")(
      "tls-cert", po::value<std::string>(), "PEM certificate of the agent listener (enables TLS)")(
      "tls-key", po::value<std::string>(), "PEM private key of --tls-cert")(
      "tls-ca", po::value<std::string>(),
      "PEM CA bundle; agents must present a certificate it signed whose CN equals their node name")(
      "amqp-url", po::value<std::string>(),
      "publish events to RabbitMQ (amqp://USER:PASSWORD@HOST:PORT/VHOST): replica.changed.<volume>, "
      "replica.missing.<volume>, checksum.mismatch.<volume>, plan.changed.<volume>, node.stale.<node>, one "
      "sentinel.v1.Event (protobuf) "
      "per message, after the report is committed; while the broker is down events wait in the store")(
      "amqp-exchange", po::value<std::string>()->default_value(defaults.amqp_exchange),
      "the topic exchange events are published to (declared durable)")(
      "log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error");

  po::variables_map vm;
  bool input_has_percent = wire::has_percent(args);
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    if (vm.count("config")) {
      outcome.config.config_file = vm["config"].as<std::string>();
      std::ifstream file(outcome.config.config_file);
      if (!file) {
        outcome.message = "cannot read config file '" + outcome.config.config_file + "'";
        return outcome;
      }
      const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
      input_has_percent = input_has_percent || text.find('%') != std::string::npos;
      std::istringstream lines(text);
      po::store(po::parse_config_file(lines, opts), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    outcome.message = wire::option_error_text(e, input_has_percent);
    return outcome;
  }
  if (vm.count("help")) {
    std::ostringstream help;
    help << opts;
    outcome.action = ConfigOutcome::Action::kHelp;
    outcome.message = help.str();
    return outcome;
  }
  if (vm.count("version")) {
    outcome.action = ConfigOutcome::Action::kVersion;
    return outcome;
  }

  Config& config = outcome.config;
  std::string error;
  auto bad = [&](const std::string& option, const std::string& why) {
    outcome.action = ConfigOutcome::Action::kError;
    outcome.message = "--" + option + ": " + why;
    return outcome;
  };
  auto duration = [&](const char* option, std::chrono::nanoseconds* out) {
    auto value = wire::parse_duration(vm[option].as<std::string>(), &error);
    if (!value) return false;
    *out = *value;
    return true;
  };

  if (auto e = parse_endpoint(vm["listen"].as<std::string>(), &error)) config.listen = *e;
  else return bad("listen", error);
  if (auto e = parse_endpoint(vm["http"].as<std::string>(), &error)) config.http = *e;
  else return bad("http", error);
  config.db_path = vm["db"].as<std::string>();
  if (config.db_path.empty()) return bad("db", "must not be empty");
  const std::string sync = vm["sync"].as<std::string>();
  if (sync == "full") config.sync = SyncMode::kFull;
  else if (sync == "normal") config.sync = SyncMode::kNormal;
  else return bad("sync", "expected full or normal, got '" + sync + "'");
  if (!duration("stale-after", &config.stale_after)) return bad("stale-after", error);
  if (config.stale_after.count() <= 0) return bad("stale-after", "must be more than 0");
  if (!duration("retention", &config.retention)) return bad("retention", error);
  if (!duration("read-timeout", &config.read_timeout)) return bad("read-timeout", error);
  if (config.read_timeout < std::chrono::milliseconds(10)) return bad("read-timeout", "must be at least 10ms");
  if (!duration("idle-timeout", &config.idle_timeout)) return bad("idle-timeout", error);
  if (config.idle_timeout < std::chrono::milliseconds(10)) return bad("idle-timeout", "must be at least 10ms");
  if (auto size = parse_byte_size(vm["max-frame-bytes"].as<std::string>(), &error)) {
    if (*size < 1024 || *size > (1ull << 30)) return bad("max-frame-bytes", "must be between 1KiB and 1GiB");
    config.max_frame_bytes = static_cast<size_t>(*size);
  } else {
    return bad("max-frame-bytes", error);
  }
  config.max_connections = vm["max-connections"].as<unsigned>();
  if (config.max_connections == 0 || config.max_connections > 1'000'000) {
    return bad("max-connections", "must be between 1 and 1000000");
  }
  if (vm.count("port-file")) config.port_file = vm["port-file"].as<std::string>();
  if (vm.count("tls-cert")) config.tls_cert = vm["tls-cert"].as<std::string>();
  if (vm.count("tls-key")) config.tls_key = vm["tls-key"].as<std::string>();
  if (vm.count("tls-ca")) config.tls_ca = vm["tls-ca"].as<std::string>();
  const int tls_given = !config.tls_cert.empty() + !config.tls_key.empty() + !config.tls_ca.empty();
  if (tls_given != 0 && tls_given != 3) {
    return bad("tls-cert", "TLS needs all of --tls-cert, --tls-key and --tls-ca (or none of them)");
  }
  for (const auto& [option, path] : {std::pair<const char*, const std::string&>{"tls-cert", config.tls_cert},
                                     {"tls-key", config.tls_key},
                                     {"tls-ca", config.tls_ca}}) {
    if (!path.empty() && !readable_file(path)) return bad(option, "cannot read '" + path + "'");
  }
  if (vm.count("amqp-url")) {
    config.amqp_url = vm["amqp-url"].as<std::string>();
    if (!config.amqp_url.empty() && !amqp::valid_url(config.amqp_url, &error)) return bad("amqp-url", error);
  }
  config.amqp_exchange = vm["amqp-exchange"].as<std::string>();
  if (config.amqp_exchange.empty() || config.amqp_exchange.size() > 255) {
    return bad("amqp-exchange", "must be 1 to 255 characters");
  }
  config.log_level = vm["log-level"].as<std::string>();
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    if (config.log_level == level) {
      outcome.action = ConfigOutcome::Action::kRun;
      return outcome;
    }
  }
  return bad("log-level", "expected trace, debug, info, warn or error, got '" + config.log_level + "'");
}

std::string describe(const Config& c) {
  std::ostringstream out;
  out << "listen=" << c.listen.to_string() << (c.tls_enabled() ? " (TLS, client certificates)" : " (plain TCP)")
      << " http=" << c.http.to_string() << " db=" << c.db_path
      << " sync=" << (c.sync == SyncMode::kFull ? "full" : "normal")
      << " stale-after=" << wire::format_duration(c.stale_after)
      << " retention=" << (c.retention.count() == 0 ? "forever" : wire::format_duration(c.retention))
      << " max-frame-bytes=" << c.max_frame_bytes << " read-timeout=" << wire::format_duration(c.read_timeout)
      << " idle-timeout=" << wire::format_duration(c.idle_timeout) << " max-connections=" << c.max_connections;
  if (!c.amqp_url.empty()) {
    out << " amqp-url=" << amqp::redacted_url(c.amqp_url) << " amqp-exchange=" << c.amqp_exchange;
  }
  if (!c.config_file.empty()) out << " config=" << c.config_file;
  return out.str();
}

}  // namespace sentinel::collector
