// sentinel-collector's configuration: flags and an optional config file (--config, `key = value` lines with the
// flags' names), parsed once at start into an immutable, validated Config. Nothing else reads argv or the file.
//
// Contract: parse_config never throws and never exits; it returns what main should do (run with a Config,
// print help/version, or fail with one clear message naming the bad option). Flags win over the config file.
// Validation is complete: a Config that comes back is usable as is (ports in range, durations positive where
// they must be, TLS files all given and readable or none at all).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sentinel::collector {

// HOST:PORT as the operator wrote it ("0.0.0.0:7460", "[::1]:7460", "127.0.0.1:0" = any free port).
struct Endpoint {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;  // brackets around IPv6 hosts
};
std::optional<Endpoint> parse_endpoint(std::string_view text, std::string* error);

// "67108864", "64MiB", "512KiB", "1GiB".
std::optional<uint64_t> parse_byte_size(std::string_view text, std::string* error);

enum class SyncMode {
  kFull,    // fsync the WAL at every commit: an acked report survives power loss (the default)
  kNormal,  // fsync only at checkpoints: an acked report survives a process crash (kill -9), not power loss
};

struct Config {
  Endpoint listen{"0.0.0.0", 7460};  // agents (protobuf frames)
  Endpoint http{"127.0.0.1", 7461};  // JSON API and /metrics
  std::string db_path = "/var/lib/sentinel-collector/sentinel.db";
  SyncMode sync = SyncMode::kFull;
  std::chrono::nanoseconds stale_after = std::chrono::minutes(3);
  std::chrono::nanoseconds retention = std::chrono::hours(24 * 30);  // 0 = keep history forever
  size_t max_frame_bytes = 64u << 20;
  // A frame (the Hello included) must arrive whole within read_timeout of its first byte (of the connection,
  // for the Hello): a peer trickling bytes is cut off. Between frames a connection may stay idle for
  // idle_timeout; agents reconnect when they have something to send.
  std::chrono::nanoseconds read_timeout = std::chrono::seconds(30);
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes(10);
  unsigned max_connections = 4096;
  std::string port_file;  // when set: "listen=HOST:PORT\nhttp=HOST:PORT\n" written once both are bound
  std::string tls_cert;   // all three or none: TLS on the agent listener, client certificates required
  std::string tls_key;
  std::string tls_ca;
  // RabbitMQ (collector/amqp_publisher.h): "" = no events. amqp://USER:PASSWORD@HOST:PORT/VHOST.
  std::string amqp_url;
  std::string amqp_exchange = "sentinel";  // a topic exchange, declared durable
  std::string log_level = "info";
  std::string config_file;  // where the file options came from ("" = none)

  bool tls_enabled() const { return !tls_cert.empty(); }
};

struct ConfigOutcome {
  enum class Action { kRun, kHelp, kVersion, kError };
  Action action = Action::kError;
  Config config;        // kRun
  std::string message;  // kHelp: the help text; kError: what is wrong
};

ConfigOutcome parse_config(const std::vector<std::string>& args);

// One line for the start-up log: every effective setting.
std::string describe(const Config& config);

}  // namespace sentinel::collector
