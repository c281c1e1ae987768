#include "tests/collector/collector_test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace sentinel::collector::testing {

namespace {

using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

pid_t spawn(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/sentinel-collector-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::unique_ptr<CollectorProcess> CollectorProcess::start(const std::string& dir, const std::vector<std::string>& args,
                                                          std::string* error) {
  auto process = std::unique_ptr<CollectorProcess>(new CollectorProcess());
  const std::string port_file = dir + "/ports";
  ::unlink(port_file.c_str());
  process->db_path_ = dir + "/sentinel.db";
  process->log_path_ = dir + "/collector.log";
  std::vector<std::string> argv = {SENTINEL_COLLECTOR_PATH, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                   "--port-file", port_file, "--db", process->db_path_};
  bool has_db = false;
  for (const auto& arg : args) has_db = has_db || arg == "--db";
  if (has_db) argv.resize(argv.size() - 2);
  argv.insert(argv.end(), args.begin(), args.end());
  const int log_fd = ::open(process->log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  process->pid_ = spawn(argv, -1, log_fd);
  ::close(log_fd);
  if (process->pid_ < 0) {
    *error = "cannot start " + argv[0];
    return nullptr;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    const std::string ports = read_file(port_file);
    const auto listen = ports.find("listen=");
    const auto http = ports.find("http=");
    if (listen != std::string::npos && http != std::string::npos) {
      process->listen_ = ports.substr(listen + 7, ports.find('\n', listen) - listen - 7);
      process->http_ = ports.substr(http + 5, ports.find('\n', http) - http - 5);
      return process;
    }
    if (!process->running()) {
      *error = "sentinel-collector exited before listening:\n" + process->log();
      return nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  *error = "sentinel-collector did not write its port file within 30 s:\n" + process->log();
  return nullptr;
}

CollectorProcess::~CollectorProcess() {
  if (pid_ > 0) kill9();
}

bool CollectorProcess::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  const pid_t rc = ::waitpid(pid_, &status, WNOHANG);
  if (rc == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void CollectorProcess::kill9() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

int CollectorProcess::terminate(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    int status = 0;
    const pid_t rc = ::waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill9();
  return -1;
}

std::string CollectorProcess::log() const { return read_file(log_path_); }

size_t count_occurrences(const std::string& text, const std::string& needle) {
  if (needle.empty()) return 0;
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

bool CollectorProcess::wait_for_log(const std::string& text, std::chrono::milliseconds timeout, size_t count) const {
  const auto deadline = Clock::now() + timeout;
  do {
    if (count_occurrences(log(), text) >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (Clock::now() < deadline);
  return false;
}

long CollectorProcess::rss_kib() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

bool TestAgent::connect(const std::string& host_port, std::string* error) {
  fd_ = wire::connect_tcp(host_port, error);
  decoder_ = wire::FrameDecoder(64u << 20);
  return static_cast<bool>(fd_);
}

bool TestAgent::hello(const std::string& node, v1::Envelope* reply, uint32_t protocol_version) {
  v1::Envelope envelope;
  envelope.mutable_hello()->set_protocol_version(protocol_version);
  envelope.mutable_hello()->set_node(node);
  envelope.mutable_hello()->set_agent_version("test-agent");
  return send(envelope) && receive(reply) == wire::ReceiveStatus::kFrame;
}

bool TestAgent::send(const v1::Envelope& envelope) {
  return wire::send_frame(fd_.get(), envelope, std::chrono::seconds(10), &error_);
}

bool TestAgent::send_bytes(const std::string& bytes) {
  return wire::send_bytes(fd_.get(), bytes, std::chrono::seconds(10), &error_);
}

wire::ReceiveStatus TestAgent::receive(v1::Envelope* out, std::chrono::milliseconds timeout) {
  return wire::receive_frame(fd_.get(), decoder_, out, timeout, &error_);
}

v1::Envelope TestAgent::report(const v1::Report& report) {
  v1::Envelope reply;
  if (!send(as_envelope(report)) || receive(&reply) != wire::ReceiveStatus::kFrame) return v1::Envelope();
  return reply;
}

v1::Replica make_replica(const std::string& disk, const std::string& volume, const std::string& suffix,
                         int64_t revision_counter, int64_t head_mtime_ns) {
  v1::Replica replica;
  replica.set_disk(disk);
  replica.set_dir(volume + "-" + suffix);
  replica.set_volume(volume);
  replica.set_size_bytes(40ull << 30);
  replica.set_sector_size(512);
  replica.set_head("volume-head-002.img");
  replica.set_parent("volume-snap-a.img");
  replica.add_chain("volume-head-002.img");
  replica.add_chain("volume-snap-a.img");
  replica.set_revision_counter(revision_counter);
  replica.set_revision_counter_present(true);
  replica.set_allocated_bytes(6u << 20);
  replica.set_dir_allocated_bytes(7u << 20);
  replica.set_state(v1::Replica::CLEAN);
  replica.set_head_mtime_ns(head_mtime_ns);
  replica.set_head_allocated_bytes(2u << 20);
  for (const char* name : {"volume-head-002.img", "volume-snap-a.img"}) {
    auto* image = replica.add_images();
    image->set_name(name);
    image->set_kind(std::string(name).find("head") != std::string::npos ? v1::Image::HEAD : v1::Image::SNAPSHOT);
    image->set_in_chain(true);
    image->set_has_meta(true);
    image->set_apparent_bytes(40ull << 30);
    image->set_allocated_bytes(3u << 20);
    image->set_extent_count(12);
    image->set_inode(std::hash<std::string>()(replica.dir() + name) % 1000000);
    image->set_mtime_ns(image->kind() == v1::Image::HEAD ? head_mtime_ns : 1700000000000000000);
    image->set_ctime_ns(image->mtime_ns());
  }
  return replica;
}

v1::Report make_report(const std::string& node, uint64_t sequence, const std::vector<v1::Replica>& replicas,
                       v1::ScanKind kind) {
  v1::Report report;
  report.set_sequence(sequence);
  report.set_kind(kind);
  report.set_created_at_ns(1700000000000000000 + static_cast<int64_t>(sequence) * 1000000000);
  auto* inventory = report.mutable_inventory();
  inventory->set_node(node);
  inventory->set_agent_version("test-agent");
  inventory->set_scanned_at_ns(report.created_at_ns() - 5000000);
  inventory->set_scan_duration_ns(5000000);
  auto* disk = inventory->add_disks();
  disk->set_path("/var/lib/longhorn");
  disk->set_replica_count(static_cast<uint32_t>(replicas.size()));
  for (const auto& replica : replicas) *inventory->add_replicas() = replica;
  return report;
}

v1::Envelope as_envelope(const v1::Report& report) {
  v1::Envelope envelope;
  *envelope.mutable_report() = report;
  return envelope;
}

HttpReply http_get(const std::string& host_port, const std::string& path, const std::string& method) {
  HttpReply reply;
  std::string error;
  auto fd = wire::connect_tcp(host_port, &error);
  if (!fd) return reply;
  const std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: " + host_port + "\r\nConnection: close\r\n\r\n";
  if (!wire::send_bytes(fd.get(), request, std::chrono::seconds(10), &error)) return reply;
  std::string response;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  const auto header_end = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.1 ", 0) != 0 || header_end == std::string::npos) return reply;
  reply.status = std::atoi(response.c_str() + 9);
  reply.headers = response.substr(0, header_end);
  reply.body = response.substr(header_end + 4);
  return reply;
}

int run_command(const std::vector<std::string>& argv, std::string* out) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return -1;
  const pid_t pid = spawn(argv, pipe_fds[1], -1);
  ::close(pipe_fds[1]);
  out->clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(pipe_fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (pid < 0) return -1;
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace sentinel::collector::testing
