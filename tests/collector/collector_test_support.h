// What the collector's tests share: a real sentinel-collector process on loopback (free ports, its own store
// and log), a blocking test agent speaking the frame protocol, inventories to report, a tiny HTTP GET.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "proto/wire/blocking_socket.h"
#include "sentinel/v1/wire.pb.h"

namespace sentinel::collector::testing {

// A directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// sentinel-collector as a child process: --listen 127.0.0.1:0 --http 127.0.0.1:0 --port-file, --db in `dir`, plus
// `args`. start() returns once the port file is written (or fails with the log in *error).
class CollectorProcess {
 public:
  static std::unique_ptr<CollectorProcess> start(const std::string& dir, const std::vector<std::string>& args,
                                                 std::string* error);
  ~CollectorProcess();  // SIGKILL when still running

  const std::string& listen() const { return listen_; }  // 127.0.0.1:PORT
  const std::string& http() const { return http_; }
  const std::string& db_path() const { return db_path_; }
  pid_t pid() const { return pid_; }

  void kill9();                                          // SIGKILL and reap
  int terminate(std::chrono::milliseconds timeout);      // SIGTERM; exit code, -1 on timeout (then SIGKILL)
  bool running();
  std::string log() const;                               // everything it wrote to stderr so far
  bool wait_for_log(const std::string& text, std::chrono::milliseconds timeout, size_t count = 1) const;
  long rss_kib() const;                                  // VmRSS from /proc

 private:
  pid_t pid_ = -1;
  std::string listen_;
  std::string http_;
  std::string db_path_;
  std::string log_path_;
};

size_t count_occurrences(const std::string& text, const std::string& needle);

// A blocking agent for tests.
class TestAgent {
 public:
  bool connect(const std::string& host_port, std::string* error);
  // Sends Hello and returns the reply (HelloAck or Error); false when no reply came.
  bool hello(const std::string& node, v1::Envelope* reply, uint32_t protocol_version = 1);
  bool send(const v1::Envelope& envelope);
  bool send_bytes(const std::string& bytes);
  wire::ReceiveStatus receive(v1::Envelope* out, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Sends the report and waits for its Ack (or an Error): the reply, or an empty Envelope on failure.
  v1::Envelope report(const v1::Report& report);
  int fd() const { return fd_.get(); }
  void close() { fd_ = wire::UniqueFd(); }
  const std::string& last_error() const { return error_; }

 private:
  wire::UniqueFd fd_;
  wire::FrameDecoder decoder_{64u << 20};
  std::string error_;
};

// A replica as a quick scan reports it: <volume>-<suffix> on `disk`, one snapshot and a head.
v1::Replica make_replica(const std::string& disk, const std::string& volume, const std::string& suffix,
                         int64_t revision_counter, int64_t head_mtime_ns);
v1::Report make_report(const std::string& node, uint64_t sequence, const std::vector<v1::Replica>& replicas,
                       v1::ScanKind kind = v1::QUICK);
v1::Envelope as_envelope(const v1::Report& report);

struct HttpReply {
  int status = 0;  // 0: no reply
  std::string body;
  std::string headers;
};
HttpReply http_get(const std::string& host_port, const std::string& path, const std::string& method = "GET");

// Runs a command, returns its exit code and stdout.
int run_command(const std::vector<std::string>& argv, std::string* out);

}  // namespace sentinel::collector::testing
