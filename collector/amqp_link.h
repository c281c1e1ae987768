// One logged-in AMQP connection (rabbitmq-c) with channel 1 open: what the collector's publisher and
// `sentinelctl watch` both start from. Library sentinel_amqp (only rabbitmq-c), so sentinelctl links it without
// the collector.
//
// Contract:
// - open() parses the URL (amqp://USER:PASSWORD@HOST:PORT[/VHOST]; no path = vhost "/"), connects within the
//   connect timeout, logs in, sets the RPC timeout and opens channel 1; nullptr with a message for a person
//   (where, and what to check) otherwise.
// - The destructor closes channel and connection politely unless the link was marked broken.
// - Not thread-safe: one owner thread.
#pragma once

#include <amqp.h>

#include <chrono>
#include <memory>
#include <string>

namespace sentinel::amqp {

constexpr int kChannel = 1;

// False with *error when rabbitmq-c rejects the URL.
bool valid_url(const std::string& url, std::string* error);
// The URL without its password, for logs.
std::string redacted_url(const std::string& url);
// What went wrong in an RPC reply, prefixed with `what` ("" when the reply is normal).
std::string reply_error(const amqp_rpc_reply_t& reply, const std::string& what);
// A std::string as rabbitmq-c bytes (not copied: the string must outlive the call).
amqp_bytes_t bytes_of(const std::string& text);

class Link {
 public:
  static std::unique_ptr<Link> open(const std::string& url, std::chrono::milliseconds connect_timeout,
                                    std::chrono::milliseconds rpc_timeout, std::string* error);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  amqp_connection_state_t connection() const { return conn_; }
  const std::string& where() const { return where_; }  // HOST:PORT
  // Checks the last RPC's reply; false with *error ("what: why") when it failed. A server exception closes
  // the channel or connection, so the link is marked broken.
  bool check(const std::string& what, std::string* error);
  void mark_broken() { open_ = false; }

 private:
  Link() = default;
  amqp_connection_state_t conn_ = nullptr;
  bool open_ = false;
  std::string where_;
};

}  // namespace sentinel::amqp
