#include "collector/amqp_link.h"

#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

namespace sentinel::amqp {

namespace {

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string text_of(const amqp_bytes_t& bytes) { return std::string(static_cast<const char*>(bytes.bytes), bytes.len); }

}  // namespace

bool valid_url(const std::string& url, std::string* error) {
  std::string copy = url;
  amqp_connection_info info{};
  const int status = amqp_parse_url(copy.data(), &info);
  if (status != AMQP_STATUS_OK) {
    *error = "'" + redacted_url(url) + "' is not an AMQP URL (" + amqp_error_string2(status) +
             "); expected amqp://USER:PASSWORD@HOST:PORT/VHOST";
    return false;
  }
  return true;
}

std::string redacted_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

std::string reply_error(const amqp_rpc_reply_t& reply, const std::string& what) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_NONE:
      return what + ": no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return what + ": " + amqp_error_string2(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        return what + ": broker closed the connection: " +
               text_of(static_cast<amqp_connection_close_t*>(reply.reply.decoded)->reply_text);
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        return what + ": broker closed the channel: " +
               text_of(static_cast<amqp_channel_close_t*>(reply.reply.decoded)->reply_text);
      }
      return what + ": broker error";
  }
  return what + ": unknown error";
}

amqp_bytes_t bytes_of(const std::string& text) { return amqp_bytes_t{text.size(), const_cast<char*>(text.data())}; }

std::unique_ptr<Link> Link::open(const std::string& url, std::chrono::milliseconds connect_timeout,
                                 std::chrono::milliseconds rpc_timeout, std::string* error) {
  std::string copy = url;  // amqp_parse_url points into it
  amqp_connection_info info{};
  if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK) {
    *error = "'" + redacted_url(url) + "' is not an AMQP URL; expected amqp://USER:PASSWORD@HOST:PORT/VHOST";
    return nullptr;
  }
  std::unique_ptr<Link> link(new Link());
  link->where_ = std::string(info.host) + ":" + std::to_string(info.port);
  link->conn_ = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(link->conn_);
  if (socket == nullptr) {
    *error = "cannot create a socket";
    return nullptr;
  }
  timeval timeout = to_timeval(connect_timeout);
  const int status = amqp_socket_open_noblock(socket, info.host, info.port, &timeout);
  if (status != AMQP_STATUS_OK) {
    *error = "cannot connect to RabbitMQ at " + link->where_ + ": " + amqp_error_string2(status) +
             " (is the broker running, and is the URL right?)";
    return nullptr;
  }
  timeval rpc = to_timeval(rpc_timeout);
  amqp_set_rpc_timeout(link->conn_, &rpc);
  const amqp_rpc_reply_t login =
      amqp_login(link->conn_, info.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password);
  if (login.reply_type != AMQP_RESPONSE_NORMAL) {
    *error = "RabbitMQ at " + link->where_ + " refused the login as '" + info.user + "' (vhost '" + info.vhost +
             "'): " + reply_error(login, "login") + "; check the user, password and vhost in the URL";
    return nullptr;
  }
  link->open_ = true;
  amqp_channel_open(link->conn_, kChannel);
  if (!link->check("channel.open", error)) return nullptr;
  return link;
}

Link::~Link() {
  if (conn_ == nullptr) return;
  if (open_) {
    amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
  }
  amqp_destroy_connection(conn_);
}

bool Link::check(const std::string& what, std::string* error) {
  const amqp_rpc_reply_t reply = amqp_get_rpc_reply(conn_);
  if (reply.reply_type == AMQP_RESPONSE_NORMAL) return true;
  *error = reply_error(reply, what);
  if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) open_ = false;
  return false;
}

}  // namespace sentinel::amqp
