// One agent connection: Hello, then Reports, each acked after its commit (wire.proto). Runs on the ingest
// io_context's single thread; owns its socket, frame decoder, write queue and deadline timer.
//
// Contract:
// - The first frame must be a Hello with protocol_version 1 and a non-empty node (with TLS: equal to the
//   client certificate's CN); anything else gets an Error (PROTOCOL_VERSION, BAD_HELLO, UNAUTHENTICATED) and a
//   close. The reply is a HelloAck carrying the highest sequence stored for that node.
// - Then only Reports: sequence > 0 and inventory.node equal to the Hello's node, else Error{BAD_REQUEST} and
//   a close. Each goes to the committer; its Ack{sequence, duplicate} is written only after the commit. Acks
//   leave in the order the reports arrived. A failed commit gets Error{UNAVAILABLE} and a close (the agent
//   keeps the report and retries).
// - Frames: the decoder's max size (--max-frame-bytes); an oversized prefix gets Error{FRAME_TOO_LARGE}, bytes
//   that are not an Envelope Error{MALFORMED}, both with a close.
// - Deadlines: the Hello within read_timeout of the connect; every later frame within read_timeout of its first
//   byte (a peer trickling a byte a second is cut off); no frame at all for idle_timeout: closed. A write that
//   does not complete within read_timeout (the peer stopped reading) closes the connection. Timeouts send
//   Error{TIMED_OUT} first.
// - Every refusal is logged once (peer address, node when known, reason) and counted in Metrics. After an Error
//   the write side is shut down and input is drained briefly before closing, so the peer reads the Error
//   instead of a reset.
// - Back-pressure: a connection stops reading while it has kMaxReportsInFlight reports uncommitted, or while
//   the committer's backlog is over kMaxQueuedBytes.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "collector/committer.h"
#include "collector/config.h"
#include "collector/metrics.h"
#include "proto/wire/frame_codec.h"

namespace sentinel::collector {

class SessionRegistry;

// What every session shares; owned by the listener, outlives every session.
struct SessionContext {
  const Config& config;
  Committer& committer;
  Metrics& metrics;
  SessionRegistry& registry;
  std::string collector_version;
  std::vector<char>& read_buffer;  // shared: sessions read on one thread, one at a time
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  static constexpr size_t kMaxReportsInFlight = 32;
  static constexpr uint64_t kMaxQueuedBytes = 64ull << 20;

  // `tls`: the TLS stream over `socket` when TLS is configured (the handshake is done by start()).
  Session(boost::asio::ip::tcp::socket socket, std::string peer, SessionContext& context,
          boost::asio::ssl::context* tls);
  ~Session();

  void start();
  // Stop reading; once the reports in flight are acked, send Error{UNAVAILABLE} and close.
  void shutdown();
  // Close now, whatever is in flight (the end of a shutdown's grace period).
  void close_now();

  const std::string& peer() const { return peer_; }

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase { kHandshake, kHello, kReports, kDraining, kClosed };

  void wait_readable();
  void pause();
  void on_readable(const boost::system::error_code& ec);
  void on_tls_read(const boost::system::error_code& ec, size_t bytes);
  void consume(const char* data, size_t bytes);
  void process_frames();
  void handle_frame(v1::EnvelopeView* envelope, size_t frame_bytes);
  void handle_hello(const v1::Hello& hello);
  void handle_report(v1::EnvelopeView* envelope, size_t frame_bytes);
  void on_committed(uint64_t sequence, Clock::time_point received, CommitOutcome outcome);
  void maybe_finish_shutdown();

  void send(const v1::Envelope& envelope);
  void write_next();
  // Logs, counts, sends Error{code, message} and closes once it is written (after a short drain).
  void refuse(Refusal reason, v1::Error::Code code, const std::string& message, bool warn = true);
  void begin_drain();

  void update_read_deadline();
  void arm_timer();
  void on_timer(const boost::system::error_code& ec);

  v1::EnvelopeView* fresh_envelope();

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;
  std::vector<char> tls_buffer_;  // TLS reads cannot use the shared buffer (the stream may hold decrypted bytes)
  std::string peer_;
  SessionContext& context_;
  boost::asio::steady_timer timer_;

  Phase phase_ = Phase::kHello;
  wire::FrameDecoder decoder_;
  std::shared_ptr<google::protobuf::Arena> arena_;  // holds the envelope being decoded
  v1::EnvelopeView* envelope_ = nullptr;  // frames are decoded as views: replicas stay bytes
  std::string node_;
  std::string agent_version_;
  std::string certificate_cn_;

  bool reading_ = false;         // a read or readiness wait is pending
  bool paused_ = false;          // not reading because of our own back-pressure (not the peer's fault)
  bool backlog_retry_pending_ = false;
  bool frame_started_ = false;   // bytes of an incomplete frame are buffered
  bool shutting_down_ = false;
  size_t in_flight_ = 0;
  Clock::time_point read_deadline_;
  Clock::time_point write_deadline_ = Clock::time_point::max();
  Clock::time_point timer_expiry_ = Clock::time_point::max();

  std::deque<std::string> outbox_;
  std::string writing_;  // the bytes of the write in progress
  bool write_pending_ = false;
  bool close_after_write_ = false;
};

// The open sessions, for the connection limit and for shutdown. Single-threaded (the io thread).
class SessionRegistry {
 public:
  void add(const std::shared_ptr<Session>& session);
  void remove(Session* session);
  size_t size() const { return sessions_.size(); }
  std::vector<std::shared_ptr<Session>> all() const;

 private:
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions_;
};

}  // namespace sentinel::collector
