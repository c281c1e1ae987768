#include "collector/session.h"

#include <openssl/ssl.h>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include "proto/wire/duration.h"

namespace sentinel::collector {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// After an Error, how long input is read and thrown away (so the peer reads the Error, not a reset).
constexpr auto kDrainTime = std::chrono::seconds(1);
// How often a connection paused by the committer's backlog looks again.
constexpr auto kBacklogRetry = std::chrono::milliseconds(5);
// Host names are at most 253 bytes; a node name is one.
constexpr size_t kMaxNodeName = 253;

int64_t wall_clock_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool has_control_characters(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) return true;
  }
  return false;
}

// The name of a frame's body, as wire::body_name gives it for an Envelope.
const char* body_name(const v1::EnvelopeView& envelope) {
  v1::Envelope probe;
  switch (envelope.body_case()) {
    case v1::EnvelopeView::kHello: probe.mutable_hello(); break;
    case v1::EnvelopeView::kHelloAck: probe.mutable_hello_ack(); break;
    case v1::EnvelopeView::kReport: probe.mutable_report(); break;
    case v1::EnvelopeView::kAck: probe.mutable_ack(); break;
    case v1::EnvelopeView::kError: probe.mutable_error(); break;
    case v1::EnvelopeView::kStatusRequest: probe.mutable_status_request(); break;
    case v1::EnvelopeView::kScanRequest: probe.mutable_scan_request(); break;
    case v1::EnvelopeView::kProgress: probe.mutable_progress(); break;
    case v1::EnvelopeView::kScanResult: probe.mutable_scan_result(); break;
    case v1::EnvelopeView::kStatus: probe.mutable_status(); break;
    case v1::EnvelopeView::BODY_NOT_SET: break;
  }
  return wire::body_name(probe);
}

std::string certificate_common_name(SSL* ssl) {
  X509* certificate = SSL_get_peer_certificate(ssl);
  if (certificate == nullptr) return {};
  std::string cn;
  X509_NAME* subject = X509_get_subject_name(certificate);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
    unsigned char* utf8 = nullptr;
    const int length = ASN1_STRING_to_UTF8(&utf8, data);
    if (length >= 0) cn.assign(reinterpret_cast<const char*>(utf8), static_cast<size_t>(length));
    OPENSSL_free(utf8);
  }
  X509_free(certificate);
  return cn;
}

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::string peer, SessionContext& context, asio::ssl::context* tls)
    : socket_(std::move(socket)),
      peer_(std::move(peer)),
      context_(context),
      timer_(socket_.get_executor()),
      decoder_(context.config.max_frame_bytes) {
  if (tls != nullptr) {
    tls_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket&>>(socket_, *tls);
    tls_buffer_.resize(64 * 1024);
  }
}

Session::~Session() = default;

void Session::start() {
  error_code ignored;
  socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
  read_deadline_ = Clock::now() + context_.config.read_timeout;
  arm_timer();
  if (!tls_) {
    socket_.non_blocking(true, ignored);
    phase_ = Phase::kHello;
    wait_readable();
    return;
  }
  phase_ = Phase::kHandshake;
  tls_->async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const error_code& ec) {
    if (self->phase_ != Phase::kHandshake) return;
    if (ec) {
      spdlog::warn("refused agent connection from {}: TLS handshake failed: {}", self->peer_, ec.message());
      self->context_.metrics.refused(Refusal::kUnauthenticated);
      self->close_now();
      return;
    }
    self->certificate_cn_ = certificate_common_name(self->tls_->native_handle());
    self->phase_ = Phase::kHello;
    if (self->shutting_down_) {
      self->refuse(Refusal::kShuttingDown, v1::Error::UNAVAILABLE,
                   "the collector is shutting down; reconnect later", false);
      return;
    }
    self->wait_readable();
  });
}

void Session::wait_readable() {
  if (reading_ || phase_ == Phase::kClosed || phase_ == Phase::kHandshake) return;
  if (phase_ != Phase::kDraining) {
    if (shutting_down_) return;
    // Our own back-pressure: the time spent paused is not charged to the peer's frame deadline.
    if (in_flight_ >= kMaxReportsInFlight) {
      pause();  // resumed by on_committed
      return;
    }
    if (phase_ == Phase::kReports && context_.committer.queued_bytes() > kMaxQueuedBytes) {
      pause();
      if (!backlog_retry_pending_) {  // one look-again per connection, however many acks call in meanwhile
        backlog_retry_pending_ = true;
        auto retry = std::make_shared<asio::steady_timer>(socket_.get_executor(), kBacklogRetry);
        retry->async_wait([self = shared_from_this(), retry](const error_code&) {
          self->backlog_retry_pending_ = false;
          self->wait_readable();
        });
      }
      return;
    }
    if (paused_) {
      paused_ = false;
      update_read_deadline();
    }
  }
  reading_ = true;
  if (tls_) {
    tls_->async_read_some(asio::buffer(tls_buffer_),
                          [self = shared_from_this()](const error_code& ec, size_t bytes) {
                            self->on_tls_read(ec, bytes);
                          });
  } else {
    socket_.async_wait(asio::ip::tcp::socket::wait_read,
                       [self = shared_from_this()](const error_code& ec) { self->on_readable(ec); });
  }
}

void Session::pause() {
  if (paused_) return;
  paused_ = true;
  frame_started_ = false;  // the frame's deadline starts again when reading resumes
  read_deadline_ = Clock::time_point::max();
}

void Session::on_readable(const error_code& ec) {
  reading_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    close_now();
    return;
  }
  auto& buffer = context_.read_buffer;
  error_code read_error;
  const size_t bytes = socket_.read_some(asio::buffer(buffer), read_error);
  if (read_error == asio::error::would_block || read_error == asio::error::try_again) {
    wait_readable();
    return;
  }
  if (read_error) {
    if (phase_ != Phase::kDraining) {
      spdlog::debug("agent connection {} ({}) closed by the peer: {}", peer_, node_.empty() ? "no Hello" : node_,
                    read_error.message());
      if (frame_started_) {
        spdlog::info("agent connection {} ({}) closed in the middle of a frame ({} bytes received)", peer_,
                     node_.empty() ? "no Hello" : node_, decoder_.buffered());
      }
    }
    close_now();
    return;
  }
  consume(buffer.data(), bytes);
  wait_readable();
}

void Session::on_tls_read(const error_code& ec, size_t bytes) {
  reading_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    if (phase_ != Phase::kDraining) {
      spdlog::debug("agent connection {} ({}) closed: {}", peer_, node_.empty() ? "no Hello" : node_, ec.message());
    }
    close_now();
    return;
  }
  consume(tls_buffer_.data(), bytes);
  wait_readable();
}

void Session::consume(const char* data, size_t bytes) {
  if (phase_ == Phase::kDraining) return;  // thrown away: we are closing after an Error
  decoder_.feed(std::string_view(data, bytes));
  process_frames();
  update_read_deadline();
}

v1::EnvelopeView* Session::fresh_envelope() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 4096;
  options.max_block_size = 256 * 1024;
  arena_ = std::make_shared<google::protobuf::Arena>(options);
  return google::protobuf::Arena::CreateMessage<v1::EnvelopeView>(arena_.get());
}

void Session::process_frames() {
  while (phase_ == Phase::kHello || phase_ == Phase::kReports) {
    if (decoder_.buffered() == 0) return;
    if (envelope_ == nullptr) envelope_ = fresh_envelope();
    const size_t before = decoder_.buffered();
    switch (decoder_.next(envelope_)) {
      case wire::FrameDecoder::Status::kNeedMore:
        return;
      case wire::FrameDecoder::Status::kTooLarge:
        refuse(Refusal::kFrameTooLarge, v1::Error::FRAME_TOO_LARGE,
               decoder_.declared_length() > 0
                   ? "a frame of " + std::to_string(decoder_.declared_length()) +
                         " bytes is over this collector's maximum of " + std::to_string(decoder_.max_frame_bytes()) +
                         " bytes (--max-frame-bytes)"
                   : "the frame's length prefix is not a valid varint32");
        return;
      case wire::FrameDecoder::Status::kMalformed:
        refuse(Refusal::kMalformed, v1::Error::MALFORMED,
               "received bytes that are not a frame of the sentinel protocol (a varint length, then a "
               "sentinel.v1.Envelope)");
        return;
      case wire::FrameDecoder::Status::kFrame:
        handle_frame(envelope_, before - decoder_.buffered());
        break;
    }
  }
}

void Session::handle_frame(v1::EnvelopeView* envelope, size_t frame_bytes) {
  if (phase_ == Phase::kHello) {
    if (!envelope->has_hello()) {
      refuse(Refusal::kBadHello, v1::Error::BAD_HELLO,
             std::string("the first frame must be a Hello, got ") + body_name(*envelope));
      return;
    }
    handle_hello(envelope->hello());
    return;
  }
  switch (envelope->body_case()) {
    case v1::EnvelopeView::kReport:
      handle_report(envelope, frame_bytes);
      return;
    case v1::EnvelopeView::kHello:
      refuse(Refusal::kUnexpected, v1::Error::UNEXPECTED, "a second Hello on one connection");
      return;
    default:
      refuse(Refusal::kUnexpected, v1::Error::UNEXPECTED,
             std::string(body_name(*envelope)) + " is not a message an agent sends to the collector");
      return;
  }
}

void Session::handle_hello(const v1::Hello& hello) {
  if (hello.protocol_version() != v1::PROTOCOL_VERSION_1) {
    refuse(Refusal::kProtocolVersion, v1::Error::PROTOCOL_VERSION,
           "protocol version " + std::to_string(hello.protocol_version()) +
               " is not supported: this collector speaks version 1 (upgrade the older side)");
    return;
  }
  if (hello.node().empty()) {
    refuse(Refusal::kBadHello, v1::Error::BAD_HELLO, "the Hello names no node (Hello.node is empty)");
    return;
  }
  if (hello.node().size() > kMaxNodeName || has_control_characters(hello.node())) {
    refuse(Refusal::kBadHello, v1::Error::BAD_HELLO,
           "the Hello's node name is not a host name (over 253 bytes, or control characters)");
    return;
  }
  if (tls_ && hello.node() != certificate_cn_) {
    refuse(Refusal::kUnauthenticated, v1::Error::UNAUTHENTICATED,
           "the client certificate is issued to '" + certificate_cn_ + "', not to node '" + hello.node() + "'");
    return;
  }
  node_ = hello.node();
  agent_version_ = hello.agent_version();
  phase_ = Phase::kReports;
  const uint64_t highest = context_.committer.highest_sequence(node_);
  v1::Envelope reply;
  auto* ack = reply.mutable_hello_ack();
  ack->set_protocol_version(v1::PROTOCOL_VERSION_1);
  ack->set_collector_version(context_.collector_version);
  ack->set_highest_sequence(highest);
  send(reply);
  spdlog::info("agent {} ({}) connected from {}; highest stored sequence {}", node_,
               agent_version_.empty() ? "version unknown" : agent_version_, peer_, highest);
}

void Session::handle_report(v1::EnvelopeView* envelope, size_t frame_bytes) {
  const v1::ReportView& report = envelope->report();
  if (report.sequence() == 0) {
    refuse(Refusal::kBadRequest, v1::Error::BAD_REQUEST, "a report with sequence 0 (sequences start at 1)");
    return;
  }
  if (report.inventory().node() != node_) {
    refuse(Refusal::kBadRequest, v1::Error::BAD_REQUEST,
           "a report of node '" + report.inventory().node() + "' on a connection that said Hello as '" + node_ +
               "'");
    return;
  }
  if (shutting_down_) return;  // not acked: the agent sends it again to the next collector run
  context_.metrics.reports_received.fetch_add(1, std::memory_order_relaxed);
  context_.metrics.report_bytes.fetch_add(frame_bytes, std::memory_order_relaxed);

  PendingReport pending;
  pending.item.node = node_;
  pending.item.peer = peer_;
  pending.item.received_ns = wall_clock_ns();
  pending.item.wire_bytes = frame_bytes;
  pending.item.report = &report;
  pending.owner = arena_;
  const uint64_t sequence = report.sequence();
  const auto received = Clock::now();
  // Runs on the committer's thread: hand the outcome to this connection's thread. The session reference is
  // moved into the posted handler so the committer never holds the last one (a session dies on its own thread).
  pending.done = [self = shared_from_this(), sequence, received](CommitOutcome outcome) mutable {
    auto executor = self->socket_.get_executor();
    asio::post(executor, [self = std::move(self), sequence, received, outcome = std::move(outcome)]() mutable {
      self->on_committed(sequence, received, std::move(outcome));
    });
  };
  arena_.reset();
  envelope_ = nullptr;
  if (!context_.committer.submit(std::move(pending))) {
    refuse(Refusal::kShuttingDown, v1::Error::UNAVAILABLE, "the collector is shutting down; reconnect later",
           false);
    return;
  }
  ++in_flight_;
}

void Session::on_committed(uint64_t sequence, Clock::time_point received, CommitOutcome outcome) {
  --in_flight_;
  if (phase_ == Phase::kClosed) return;
  if (!outcome.ok) {
    refuse(Refusal::kStoreFailure, v1::Error::UNAVAILABLE,
           "the collector could not store report " + std::to_string(sequence) + " (" + outcome.error +
               "); it is not acked: send it again later");
    return;
  }
  if (phase_ != Phase::kReports) return;  // refusing: the Error is the last frame
  if (outcome.stored.malformed) {
    refuse(Refusal::kMalformed, v1::Error::MALFORMED,
           "report " + std::to_string(sequence) + " was not stored: " + outcome.stored.problem);
    return;
  }
  v1::Envelope reply;
  reply.mutable_ack()->set_sequence(sequence);
  reply.mutable_ack()->set_duplicate(outcome.stored.duplicate);
  send(reply);
  context_.metrics.ingest_latency.observe(Clock::now() - received);
  if (outcome.stored.duplicate) spdlog::debug("agent {}: report {} was already stored (acked again)", node_, sequence);
  wait_readable();
  maybe_finish_shutdown();
}

void Session::shutdown() {
  if (shutting_down_) return;
  shutting_down_ = true;
  if (phase_ == Phase::kHandshake) {
    close_now();
    return;
  }
  if (phase_ == Phase::kHello) {
    refuse(Refusal::kShuttingDown, v1::Error::UNAVAILABLE, "the collector is shutting down; reconnect later",
           false);
    return;
  }
  maybe_finish_shutdown();
}

void Session::maybe_finish_shutdown() {
  if (shutting_down_ && in_flight_ == 0 && phase_ == Phase::kReports) {
    refuse(Refusal::kShuttingDown, v1::Error::UNAVAILABLE, "the collector is shutting down; reconnect later",
           false);
  }
}

void Session::send(const v1::Envelope& envelope) {
  outbox_.push_back(wire::encode_frame(envelope));
  write_next();
}

void Session::write_next() {
  if (write_pending_ || phase_ == Phase::kClosed) return;
  if (outbox_.empty()) {
    if (close_after_write_) begin_drain();
    return;
  }
  writing_.clear();
  for (const auto& frame : outbox_) writing_ += frame;
  outbox_.clear();
  write_pending_ = true;
  write_deadline_ = Clock::now() + context_.config.read_timeout;
  arm_timer();
  auto handler = [self = shared_from_this()](const error_code& ec, size_t) {
    self->write_pending_ = false;
    self->write_deadline_ = Clock::time_point::max();
    if (self->phase_ == Phase::kClosed) return;
    if (ec) {
      spdlog::debug("agent connection {}: write failed: {}", self->peer_, ec.message());
      self->close_now();
      return;
    }
    self->write_next();
  };
  if (tls_) asio::async_write(*tls_, asio::buffer(writing_), std::move(handler));
  else asio::async_write(socket_, asio::buffer(writing_), std::move(handler));
}

void Session::refuse(Refusal reason, v1::Error::Code code, const std::string& message, bool warn) {
  if (phase_ == Phase::kDraining || phase_ == Phase::kClosed || close_after_write_) return;
  const std::string who = node_.empty() ? peer_ : peer_ + " (node " + node_ + ")";
  if (warn) spdlog::warn("refused agent connection {}: {}", who, message);
  else spdlog::info("closing agent connection {}: {}", who, message);
  context_.metrics.refused(reason);
  phase_ = Phase::kDraining;
  outbox_.clear();  // acks not yet written stay unwritten: the Error is the last frame
  send(wire::make_error(code, message));
  close_after_write_ = true;
  read_deadline_ = Clock::now() + kDrainTime;
  arm_timer();
  write_next();
}

void Session::begin_drain() {
  error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  wait_readable();  // reads and discards until the peer closes or the drain deadline passes
}

void Session::update_read_deadline() {
  if (phase_ != Phase::kReports) return;
  if (decoder_.buffered() > 0) {
    if (!frame_started_) {
      frame_started_ = true;
      read_deadline_ = Clock::now() + context_.config.read_timeout;
    }
  } else {
    frame_started_ = false;
    read_deadline_ = Clock::now() + context_.config.idle_timeout;
  }
  arm_timer();
}

void Session::arm_timer() {
  const auto next = std::min(read_deadline_, write_deadline_);
  if (next >= timer_expiry_) return;  // the pending wait fires earlier and re-arms
  timer_expiry_ = next;
  timer_.expires_at(next);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) { self->on_timer(ec); });
}

void Session::on_timer(const error_code& ec) {
  if (ec == asio::error::operation_aborted || phase_ == Phase::kClosed) return;
  timer_expiry_ = Clock::time_point::max();
  const auto now = Clock::now();
  if (now >= write_deadline_) {
    spdlog::warn("agent connection {}: the peer has not read our frames for {}; closing", peer_,
                 wire::format_duration(context_.config.read_timeout));
    context_.metrics.refused(Refusal::kReadTimeout);
    close_now();
    return;
  }
  if (now < read_deadline_) {
    arm_timer();
    return;
  }
  const std::string timeout = wire::format_duration(context_.config.read_timeout);
  switch (phase_) {
    case Phase::kDraining:
      close_now();
      return;
    case Phase::kHandshake:
      spdlog::warn("refused agent connection from {}: no TLS handshake within {} (--read-timeout)", peer_, timeout);
      context_.metrics.refused(Refusal::kReadTimeout);
      close_now();
      return;
    case Phase::kHello:
      refuse(Refusal::kReadTimeout, v1::Error::TIMED_OUT,
             "no complete Hello within " + timeout + " of connecting (--read-timeout)");
      return;
    case Phase::kReports:
      if (frame_started_) {
        refuse(Refusal::kReadTimeout, v1::Error::TIMED_OUT,
               "a frame was not complete " + timeout + " after its first byte (--read-timeout; " +
                   std::to_string(decoder_.buffered()) + " bytes received" +
                   (decoder_.declared_length() > 0 ? " of " + std::to_string(decoder_.declared_length()) : "") +
                   ")");
      } else {
        refuse(Refusal::kIdleTimeout, v1::Error::TIMED_OUT,
               "no frame for " + wire::format_duration(context_.config.idle_timeout) +
                   " (--idle-timeout); reconnect when there is something to send",
               false);
      }
      return;
    case Phase::kClosed:
      return;
  }
}

void Session::close_now() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  error_code ignored;
  timer_.cancel();
  socket_.close(ignored);
  context_.registry.remove(this);
  context_.metrics.connections_open.fetch_sub(1, std::memory_order_relaxed);
  arena_.reset();
  envelope_ = nullptr;
}

void SessionRegistry::add(const std::shared_ptr<Session>& session) { sessions_[session.get()] = session; }

void SessionRegistry::remove(Session* session) { sessions_.erase(session); }

std::vector<std::shared_ptr<Session>> SessionRegistry::all() const {
  std::vector<std::shared_ptr<Session>> out;
  out.reserve(sessions_.size());
  for (const auto& [raw, weak] : sessions_) {
    if (auto session = weak.lock()) out.push_back(std::move(session));
  }
  return out;
}

}  // namespace sentinel::collector
