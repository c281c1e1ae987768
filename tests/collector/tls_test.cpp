// TLS on the agent listener, against the real sentinel-collector: only a client certificate from the
// configured CA gets in, and its CN must be the node the Hello names.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include "tests/collector/collector_test_support.h"

namespace sentinel::collector {
namespace {

using namespace std::chrono_literals;

// Makes a CA, the collector's certificate and agent certificates with the openssl command line.
class Certificates {
 public:
  explicit Certificates(const std::string& dir) : dir_(dir) {}
  bool make(std::string* out) {
    const std::string script =
        "set -e; cd '" + dir_ + "'\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=TestCA -keyout ca.key -out ca.crt\n"
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=OtherCA -keyout other.key -out other.crt\n"
        "printf 'subjectAltName=DNS:collector.test\\n' > server.ext\n"
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=collector.test -keyout server.key -out server.csr\n"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext "
        "-out server.crt\n"
        "for who in worker-1:ca worker-9:other; do n=${who%%:*}; c=${who##*:}; "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=$n -keyout $n.key -out $n.csr; "
        "openssl x509 -req -in $n.csr -CA $c.crt -CAkey $c.key -CAcreateserial -days 2 -out $n.crt; done\n";
    return testing::run_command({"/bin/sh", "-c", "(" + script + ") 2>&1"}, out) == 0;
  }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

// A blocking TLS client speaking frames.
class TlsAgent {
 public:
  ~TlsAgent() {
    if (ssl_ != nullptr) SSL_free(ssl_);
    if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  }
  // Returns false when the TCP connection or the handshake fails (reason in error()).
  bool connect(const std::string& address, const Certificates& certs, const std::string& identity) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, certs.file("ca.crt").c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (!identity.empty()) {
      SSL_CTX_use_certificate_file(ctx_, certs.file(identity + ".crt").c_str(), SSL_FILETYPE_PEM);
      SSL_CTX_use_PrivateKey_file(ctx_, certs.file(identity + ".key").c_str(), SSL_FILETYPE_PEM);
    }
    fd_ = wire::connect_tcp(address, &error_);
    if (!fd_) return false;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_.get());
    SSL_set_tlsext_host_name(ssl_, "collector.test");
    SSL_set1_host(ssl_, "collector.test");
    if (SSL_connect(ssl_) != 1) {
      error_ = "handshake failed";
      return false;
    }
    return true;
  }
  bool send(const v1::Envelope& envelope) {
    const std::string frame = wire::encode_frame(envelope);
    return SSL_write(ssl_, frame.data(), static_cast<int>(frame.size())) == static_cast<int>(frame.size());
  }
  // The next envelope; false when the connection ends first (TLS 1.3 may report a refused client certificate
  // only here, on the first read).
  bool receive(v1::Envelope* out) {
    char buf[16384];
    for (;;) {
      if (decoder_.next(out) == wire::FrameDecoder::Status::kFrame) return true;
      const int n = SSL_read(ssl_, buf, sizeof buf);
      if (n <= 0) return false;
      decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }
  const std::string& error() const { return error_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  wire::UniqueFd fd_;
  wire::FrameDecoder decoder_;
  std::string error_;
};

v1::Envelope hello(const std::string& node) {
  v1::Envelope envelope;
  envelope.mutable_hello()->set_protocol_version(1);
  envelope.mutable_hello()->set_node(node);
  return envelope;
}

class CollectorTls : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string out;
    ASSERT_TRUE(certs_.make(&out)) << out;
    std::string error;
    collector_ = testing::CollectorProcess::start(
        dir_.path(),
        {"--tls-cert", certs_.file("server.crt"), "--tls-key", certs_.file("server.key"), "--tls-ca",
         certs_.file("ca.crt"), "--read-timeout", "3s"},
        &error);
    ASSERT_NE(collector_, nullptr) << error;
  }
  testing::TempDir dir_;
  Certificates certs_{dir_.path()};
  std::unique_ptr<testing::CollectorProcess> collector_;
};

TEST_F(CollectorTls, AnAgentWithItsOwnCertificateIsServed) {
  TlsAgent agent;
  ASSERT_TRUE(agent.connect(collector_->listen(), certs_, "worker-1")) << agent.error();
  ASSERT_TRUE(agent.send(hello("worker-1")));
  v1::Envelope reply;
  ASSERT_TRUE(agent.receive(&reply));
  ASSERT_TRUE(reply.has_hello_ack()) << reply.DebugString();
  ASSERT_TRUE(agent.send(testing::as_envelope(testing::make_report(
      "worker-1", 1, {testing::make_replica("/d", "pvc-a", "0000aaaa", 1, 1)}))));
  ASSERT_TRUE(agent.receive(&reply));
  EXPECT_TRUE(reply.has_ack()) << reply.DebugString();
  EXPECT_NE(collector_->log().find("(TLS)"), std::string::npos);
}

TEST_F(CollectorTls, ACertificateForAnotherNodeIsRefused) {
  TlsAgent impostor;
  ASSERT_TRUE(impostor.connect(collector_->listen(), certs_, "worker-1")) << impostor.error();
  ASSERT_TRUE(impostor.send(hello("worker-2")));
  v1::Envelope reply;
  ASSERT_TRUE(impostor.receive(&reply));
  EXPECT_EQ(reply.error().code(), v1::Error::UNAUTHENTICATED) << reply.DebugString();
  EXPECT_NE(reply.error().message().find("issued to 'worker-1'"), std::string::npos);
  EXPECT_TRUE(collector_->wait_for_log("not to node 'worker-2'", 5s)) << collector_->log();
}

TEST_F(CollectorTls, NoCertificateOrAnotherCaIsRefusedAtTheHandshake) {
  for (const char* identity : {"", "worker-9"}) {
    TlsAgent agent;
    // With TLS 1.3 the client may finish its side of the handshake before the server rejects its
    // certificate; then the refusal shows as a closed connection instead of a Hello reply.
    if (agent.connect(collector_->listen(), certs_, identity)) {
      agent.send(hello(identity[0] != '\0' ? identity : "worker-1"));
      v1::Envelope reply;
      EXPECT_FALSE(agent.receive(&reply) && reply.has_hello_ack()) << identity;
    }
  }
  EXPECT_TRUE(collector_->wait_for_log("TLS handshake failed", 5s, 2)) << collector_->log();
  // A plain-TCP agent at a TLS listener gets nowhere either.
  testing::TestAgent plain;
  std::string error;
  ASSERT_TRUE(plain.connect(collector_->listen(), &error)) << error;
  v1::Envelope reply;
  EXPECT_FALSE(plain.hello("worker-1", &reply) && reply.has_hello_ack());
}

}  // namespace
}  // namespace sentinel::collector
