// ingest_bench: the collector issue's ingest acceptance. A load generator speaking the real agent protocol
// (Hello, Report frames, Acks) on loopback to the real sentinel-collector binary, run as a child with its
// store on disk (--sync full unless told otherwise).
//
//   "1,000 simulated agents, reports of 100 replicas each: reports/s sustained and p50/p99 ack latency,
//    printed; target >= 5,000 reports/s with p99 < 50 ms on this 2-core machine, and the wire size of one
//    report in protobuf vs the same inventory as JSON (target: protobuf <= 30% of JSON)."
//
// What it does:
//  1. Replica templates come from a real quick scan (the scanner, in process) of the incident sample
//     (sentinel_treegen writes it to a temporary directory): every field a real agent fills is filled.
//     Each simulated agent gets --replicas replicas cloned from them with their own directory and volume names.
//  2. Starts sentinel-collector (--listen/--http 127.0.0.1:0, --port-file, --db in --dir, fresh store) and opens
//     --agents connections, each saying Hello as its own node.
//  3. Initial load (untimed by the targets, its time printed): every agent's first report, all replicas new.
//     Open loop (the target): reports are offered at --rate per second in total, round-robin over the agents,
//     for --warmup + --seconds. A report's latency runs from its scheduled send time to its Ack (so a
//     generator or collector that falls behind shows up in the latency rather than lowering the offered rate).
//     Each report changes --changed of the agent's replicas (revision counter, head mtime and head image mtime,
//     as a live volume's replica does between two scans); the others are byte-identical to the last report.
//     Sustained = Acks received per second during the measured window, all offered reports acked.
//  4. Closed loop (information): every agent keeps one report in flight for --saturate seconds: the most
//     reports/s this collector takes on this machine with everything else equal.
//  5. Wire size: one agent's Inventory as protobuf bytes vs as JSON (protobuf's JSON mapping, as
//     `sentinelctl scan --json --compact` prints it: defaults included) and vs JSON without defaults.
//  Prints the numbers, the collector's CPU time and RSS, and PASS/FAIL per target.
//
// Exit: 0 when the report was produced (PASS or FAIL), 1 when it could not run, 2 on a usage error. Not a test:
// ctest never runs it. Run it through bench/run-ingest.sh.

// Boost 1.74's asio/awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <google/protobuf/util/json_util.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <map>
#include <thread>
#include <vector>

#include "proto/wire/frame_codec.h"
#include "proto/wire/wire_form.h"
#include "scanner/file_system.h"
#include "scanner/scanner.h"
#include "tools/treegen/incident_sample.h"

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace po = boost::program_options;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string collector = SENTINEL_COLLECTOR_PATH;
  std::string dir = "/var/tmp/sentinel-bench-ingest";
  unsigned agents = 1000;
  unsigned replicas = 100;
  double rate = 5000;
  double seconds = 10;
  double warmup = 2;
  unsigned changed = 10;
  double saturate = 5;
  std::string sync = "full";
};

// --- protobuf wire encoding of the parts that change per report (the rest is serialized once) ---

void put_varint(std::string* out, uint64_t value) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}
void put_tag(std::string* out, int field, int wire_type) { put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type); }
void put_bytes(std::string* out, int field, std::string_view bytes) {
  put_tag(out, field, 2);
  put_varint(out, bytes.size());
  out->append(bytes);
}
void put_uint(std::string* out, int field, uint64_t value) {
  put_tag(out, field, 0);
  put_varint(out, value);
}

int64_t wall_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- the simulated agents ---

// One report on its way out: small headers written here, the replicas' bytes shared with the agent's state
// (a gather write: the ~100 KB of replicas are never copied per report).
struct OutgoingReport {
  std::string head;     // frame length, Envelope/Report tags, sequence, kind, inventory tag and length
  std::vector<std::shared_ptr<const std::string>> replicas;  // each: tag, length, serialized Replica
  std::string tail;     // created_at_ns
};

struct Agent {
  explicit Agent(asio::io_context& io) : socket(io) {}
  tcp::socket socket;
  std::string node;
  std::vector<sentinel::v1::Replica> replicas;       // as a scan returns them
  std::vector<sentinel::v1::Replica> wire_replicas;  // the same in their wire form, as the agent sends them
  std::vector<std::shared_ptr<const std::string>> replica_fields;  // field 6 of Inventory, ready to send
  size_t replica_fields_bytes = 0;
  std::string inventory_header;            // Inventory fields but replicas and scanned_at_ns
  size_t change_cursor = 0;
  uint64_t next_sequence = 1;
  std::deque<std::pair<uint64_t, Clock::time_point>> in_flight;  // acks come in order
  std::string hello;                       // sent first
  std::vector<OutgoingReport> queued;
  std::vector<OutgoingReport> writing;
  bool write_pending = false;
  std::array<char, 16384> read_buffer{};
  sentinel::wire::FrameDecoder decoder{1 << 20};
  bool broken = false;
};

struct Stats {
  std::vector<double> latencies_ms;  // of reports scheduled inside the measured window
  uint64_t acked_in_window = 0;
  uint64_t acked_total = 0;
  uint64_t duplicates = 0;
  uint64_t errors = 0;
  uint64_t bytes_sent = 0;
  std::string first_error;
};

class Generator {
 public:
  Generator(asio::io_context& io, const Options& options) : io_(io), options_(options), timer_(io) {}

  std::vector<std::unique_ptr<Agent>>& agents() { return agents_; }
  Stats& stats() { return stats_; }

  // `replica` is already in its wire form (proto/wire/wire_form.h), as the agent sends it.
  static std::shared_ptr<const std::string> replica_field(const sentinel::v1::Replica& replica) {
    auto field = std::make_shared<std::string>();
    put_bytes(field.get(), 6, replica.SerializeAsString());
    return field;
  }

  static void set_replicas(Agent& agent) {
    agent.replica_fields.clear();
    agent.replica_fields_bytes = 0;
    agent.wire_replicas.clear();
    for (const auto& replica : agent.replicas) {
      agent.wire_replicas.push_back(replica);
      sentinel::wire::compact_for_wire(&agent.wire_replicas.back());
      agent.replica_fields.push_back(replica_field(agent.wire_replicas.back()));
      agent.replica_fields_bytes += agent.replica_fields.back()->size();
    }
  }

  // A live replica between two scans: the counter moves, the head is written. Numbers only, which the wire
  // form carries as they are, so the change is applied to the agent's replica and to its wire form alike (the
  // frame check below verifies that the two still agree).
  static void advance(sentinel::v1::Replica* replica) {
    replica->set_revision_counter(replica->revision_counter() + 1);
    replica->set_head_mtime_ns(replica->head_mtime_ns() + 60'000'000'000);
    for (auto& image : *replica->mutable_images()) {
      if (image.kind() == sentinel::v1::Image::HEAD) image.set_mtime_ns(replica->head_mtime_ns());
    }
  }

  OutgoingReport report_for(Agent& agent, uint64_t sequence) {
    for (unsigned i = 0; i < options_.changed && !agent.replicas.empty(); ++i) {
      const size_t index = agent.change_cursor++ % agent.replicas.size();
      advance(&agent.replicas[index]);
      advance(&agent.wire_replicas[index]);
      agent.replica_fields_bytes -= agent.replica_fields[index]->size();
      agent.replica_fields[index] = replica_field(agent.wire_replicas[index]);
      agent.replica_fields_bytes += agent.replica_fields[index]->size();
    }
    OutgoingReport out;
    std::string scanned;
    put_uint(&scanned, 3, static_cast<uint64_t>(wall_ns()));
    const size_t inventory_bytes = agent.inventory_header.size() + scanned.size() + agent.replica_fields_bytes;
    put_uint(&out.tail, 4, static_cast<uint64_t>(wall_ns()));
    std::string report_head;
    put_uint(&report_head, 1, sequence);
    put_uint(&report_head, 2, sentinel::v1::QUICK);
    put_tag(&report_head, 3, 2);
    put_varint(&report_head, inventory_bytes);
    const size_t report_bytes = report_head.size() + inventory_bytes + out.tail.size();
    std::string envelope_head;
    put_tag(&envelope_head, 3, 2);
    put_varint(&envelope_head, report_bytes);
    put_varint(&out.head, envelope_head.size() + report_bytes);
    out.head += envelope_head;
    out.head += report_head;
    out.head += agent.inventory_header;
    out.head += scanned;
    out.replicas = agent.replica_fields;
    return out;
  }

  // The same report as one string (for the self-check and the size report).
  static std::string flatten(const OutgoingReport& report) {
    std::string frame = report.head;
    for (const auto& replica : report.replicas) frame += *replica;
    return frame + report.tail;
  }

  void send(Agent& agent, Clock::time_point scheduled) {
    if (agent.broken) return;
    const uint64_t sequence = agent.next_sequence++;
    agent.in_flight.emplace_back(sequence, scheduled);
    agent.queued.push_back(report_for(agent, sequence));
    write(agent);
  }

  void write(Agent& agent) {
    if (agent.write_pending || (agent.queued.empty() && agent.hello.empty())) return;
    agent.writing.swap(agent.queued);
    agent.queued.clear();
    std::vector<asio::const_buffer> buffers;
    if (!agent.hello.empty()) buffers.push_back(asio::buffer(agent.hello));
    for (const auto& report : agent.writing) {
      buffers.push_back(asio::buffer(report.head));
      for (const auto& replica : report.replicas) buffers.push_back(asio::buffer(*replica));
      buffers.push_back(asio::buffer(report.tail));
    }
    agent.write_pending = true;
    asio::async_write(agent.socket, buffers, [this, &agent](auto ec, size_t bytes) {
      agent.write_pending = false;
      agent.hello.clear();
      agent.writing.clear();
      stats_.bytes_sent += bytes;
      if (ec) return fail(agent, "write: " + ec.message());
      write(agent);
    });
  }

  void read(Agent& agent) {
    agent.socket.async_read_some(asio::buffer(agent.read_buffer), [this, &agent](auto ec, size_t bytes) {
      if (ec) return fail(agent, "read: " + ec.message());
      agent.decoder.feed(std::string_view(agent.read_buffer.data(), bytes));
      sentinel::v1::Envelope envelope;
      for (;;) {
        const auto status = agent.decoder.next(&envelope);
        if (status == sentinel::wire::FrameDecoder::Status::kNeedMore) break;
        if (status != sentinel::wire::FrameDecoder::Status::kFrame) return fail(agent, "bad frame from the collector");
        on_envelope(agent, envelope);
      }
      read(agent);
    });
  }

  void on_envelope(Agent& agent, const sentinel::v1::Envelope& envelope) {
    const auto now = Clock::now();
    if (envelope.has_hello_ack()) {
      ++hellos_;
      return;
    }
    if (!envelope.has_ack()) {
      ++stats_.errors;
      return fail(agent, "collector: " + envelope.ShortDebugString());
    }
    if (agent.in_flight.empty() || agent.in_flight.front().first != envelope.ack().sequence()) {
      ++stats_.errors;
      return fail(agent, "ack out of order");
    }
    const auto scheduled = agent.in_flight.front().second;
    agent.in_flight.pop_front();
    ++stats_.acked_total;
    if (envelope.ack().duplicate()) ++stats_.duplicates;
    if (measuring_ && now >= window_start_ && now <= window_end_) ++stats_.acked_in_window;
    if (scheduled >= window_start_ && scheduled < window_end_) {
      stats_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - scheduled).count());
    }
    if (closed_loop_ && Clock::now() < loop_end_) send(agent, now);
  }

  void fail(Agent& agent, const std::string& why) {
    if (agent.broken) return;
    agent.broken = true;
    if (stats_.first_error.empty()) stats_.first_error = agent.node + ": " + why;
  }

  size_t hellos() const { return hellos_; }
  size_t outstanding() const {
    size_t n = 0;
    for (const auto& agent : agents_) n += agent->broken ? 0 : agent->in_flight.size();
    return n;
  }

  // Open loop: `rate` reports/s round-robin over the agents; latencies of reports scheduled in the window.
  void run_open_loop(double rate, double warmup, double seconds) {
    start_ = Clock::now();
    window_start_ = start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
    window_end_ = window_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    measuring_ = true;
    rate_ = rate;
    dispatched_ = 0;
    tick();
  }

  // Closed loop: one report in flight per agent until `seconds` pass.
  void run_closed_loop(double seconds) {
    closed_loop_ = true;
    window_start_ = Clock::now();
    loop_end_ = window_start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    window_end_ = loop_end_;
    measuring_ = true;
    for (auto& agent : agents_) send(*agent, Clock::now());
  }

  void reset_stats() { stats_ = Stats(); }

 private:
  void tick() {
    const auto now = Clock::now();
    if (now >= window_end_) return;  // the offered load stops; acks still arrive
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const auto due = static_cast<uint64_t>(elapsed * rate_);
    while (dispatched_ < due) {
      Agent& agent = *agents_[dispatched_ % agents_.size()];
      const auto scheduled =
          start_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(dispatched_ / rate_));
      send(agent, scheduled);
      ++dispatched_;
    }
    timer_.expires_after(std::chrono::microseconds(500));
    timer_.async_wait([this](auto ec) {
      if (!ec) tick();
    });
  }

  asio::io_context& io_;
  const Options& options_;
  asio::steady_timer timer_;
  std::vector<std::unique_ptr<Agent>> agents_;
  Stats stats_;
  size_t hellos_ = 0;
  bool measuring_ = false;
  bool closed_loop_ = false;
  double rate_ = 0;
  uint64_t dispatched_ = 0;
  Clock::time_point start_;
  Clock::time_point window_start_;
  Clock::time_point window_end_;
  Clock::time_point loop_end_;
};

// Bytes of text (string fields, map keys and values) in a message, recursively: what no binary encoding of the
// same schema makes smaller.
uint64_t string_bytes(const google::protobuf::Message& message) {
  uint64_t total = 0;
  const auto* reflection = message.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const auto* field : fields) {
    using FD = google::protobuf::FieldDescriptor;
    if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      for (int i = 0; i < n; ++i) {
        if (field->cpp_type() == FD::CPPTYPE_STRING) total += reflection->GetRepeatedString(message, field, i).size();
        if (field->cpp_type() == FD::CPPTYPE_MESSAGE) total += string_bytes(reflection->GetRepeatedMessage(message, field, i));
      }
    } else if (field->cpp_type() == FD::CPPTYPE_STRING) {
      total += reflection->GetString(message, field).size();
    } else if (field->cpp_type() == FD::CPPTYPE_MESSAGE) {
      total += string_bytes(reflection->GetMessage(message, field));
    }
  }
  return total;
}

// --- the collector child ---

struct Collector {
  pid_t pid = -1;
  std::string listen;
  std::string log_path;
};

Collector start_collector(const Options& options) {
  Collector collector;
  fs::create_directories(options.dir);
  for (const char* name : {"ingest.db", "ingest.db-wal", "ingest.db-shm", "ingest.db.lock", "ports"}) {
    fs::remove(fs::path(options.dir) / name);
  }
  collector.log_path = options.dir + "/collector.log";
  const std::string port_file = options.dir + "/ports";
  std::vector<std::string> argv = {options.collector, "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0",
                                   "--port-file", port_file, "--db", options.dir + "/ingest.db", "--sync",
                                   options.sync, "--max-connections", std::to_string(options.agents + 100),
                                   "--log-level", "warn"};
  std::vector<char*> args;
  for (auto& arg : argv) args.push_back(arg.data());
  args.push_back(nullptr);
  collector.pid = ::fork();
  if (collector.pid == 0) {
    const int log = ::open(collector.log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log, 2);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  while (Clock::now() < deadline) {
    std::ifstream in(port_file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("listen=", 0) == 0) collector.listen = line.substr(7);
    }
    if (!collector.listen.empty()) return collector;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("sentinel-collector did not start; see " + collector.log_path);
}

// utime + stime in seconds from a /proc stat file (a process's or a thread's), and its name (comm); false when
// the file could not be read (a thread that just ended).
bool read_stat_cpu(const std::string& path, double* seconds, std::string* name) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open || close + 2 > text.size()) return false;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  uint64_t ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stoull(field);  // utime, stime
  }
  *seconds = static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  if (name != nullptr) *name = text.substr(open + 1, close - open - 1);
  return true;
}

double cpu_seconds_of(pid_t pid) {
  double seconds = 0;
  read_stat_cpu("/proc/" + std::to_string(pid) + "/stat", &seconds, nullptr);
  return seconds;
}

// CPU seconds per thread name of a process (/proc/PID/task/*/stat), threads of one name summed. The collector
// names its threads (committer, checkpoint, http, amqp; the agent I/O loop is the main thread).
std::map<std::string, double> thread_cpu_of(pid_t pid) {
  std::map<std::string, double> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    double seconds = 0;
    std::string name;
    if (read_stat_cpu(entry.path() / "stat", &seconds, &name)) out[name] += seconds;
  }
  return out;
}

long rss_kib_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())));
  return values[index];
}

// Replicas as a real quick scan reports them: the incident sample, scanned.
std::vector<sentinel::v1::Replica> replica_templates() {
  const fs::path root = fs::temp_directory_path() / ("sentinel-ingest-sample-" + std::to_string(::getpid()));
  fs::remove_all(root);
  auto written = sentinel::treegen::write_incident_sample(root.string());
  if (!written.ok()) throw std::runtime_error("cannot write the incident sample: " + written.error().message());
  sentinel::scanner::PosixFileSystem file_system;
  const auto inventory = sentinel::scanner::scan_disks(
      file_system, {(root / "worker-1").string(), (root / "worker-2").string()}, "template", {});
  fs::remove_all(root);
  std::vector<sentinel::v1::Replica> out(inventory.replicas().begin(), inventory.replicas().end());
  if (out.empty()) throw std::runtime_error("the incident sample scanned to no replicas");
  return out;
}

void prepare_agent(Agent& agent, unsigned index, const Options& options,
                   const std::vector<sentinel::v1::Replica>& templates, sentinel::v1::Inventory* example) {
  char node[32];
  std::snprintf(node, sizeof node, "bench-node-%04u", index);
  agent.node = node;
  sentinel::v1::Inventory header;
  header.set_node(agent.node);
  header.set_agent_version("0.1.0");
  header.set_scan_duration_ns(41'000'000);
  auto* disk = header.add_disks();
  disk->set_path("/var/lib/longhorn");
  disk->set_disk_uuid("2f0c5d9a-7a41-4c8e-9b3e-5d1f0e6c7a21");
  disk->set_replica_count(options.replicas);
  agent.inventory_header = header.SerializeAsString();
  for (unsigned r = 0; r < options.replicas; ++r) {
    sentinel::v1::Replica replica = templates[r % templates.size()];
    char volume[64];
    std::snprintf(volume, sizeof volume, "pvc-%08x-%04x-4c2b-9d5e-%012x", index * 7919u + r, r, index);
    char dir_suffix[16];
    std::snprintf(dir_suffix, sizeof dir_suffix, "%08x", index * 100003u + r);
    replica.set_volume(volume);
    replica.set_dir(std::string(volume) + "-" + dir_suffix);
    agent.replicas.push_back(std::move(replica));
  }
  Generator::set_replicas(agent);
  if (example != nullptr) {
    *example = header;
    example->set_scanned_at_ns(wall_ns());
    for (const auto& replica : agent.replicas) *example->add_replicas() = replica;
  }
}

int run(const Options& options) {
  std::cout << "ingest_bench: " << options.agents << " agents, " << options.replicas << " replicas per report, "
            << options.changed << " changed per report, offered " << options.rate << " reports/s for "
            << options.seconds << " s (after " << options.warmup << " s warm-up), store --sync " << options.sync
            << " in " << options.dir << " (" << std::thread::hardware_concurrency() << " cores)\n";
  const auto templates = replica_templates();

  asio::io_context io(1);
  Generator generator(io, options);
  sentinel::v1::Inventory example;
  for (unsigned i = 0; i < options.agents; ++i) {
    generator.agents().push_back(std::make_unique<Agent>(io));
    prepare_agent(*generator.agents().back(), i, options, templates, i == 0 ? &example : nullptr);
  }

  // Wire size: one report's inventory as the agent sends it (protobuf, replicas in their wire form) vs
  // protobuf's JSON mapping of the same inventory (as a scan returns it), and the plain protobuf encoding of it.
  const std::string full_proto_bytes = example.SerializeAsString();
  sentinel::v1::Inventory example_wire = example;
  sentinel::wire::compact_for_wire(&example_wire);
  const std::string proto_bytes = example_wire.SerializeAsString();
  std::string json_defaults;
  std::string json_compact;
  google::protobuf::util::JsonPrintOptions print;
  print.always_print_primitive_fields = true;  // what `sentinelctl scan --json --compact` prints
  (void)google::protobuf::util::MessageToJsonString(example, &json_defaults, print);
  print.always_print_primitive_fields = false;
  (void)google::protobuf::util::MessageToJsonString(example, &json_compact, print);
  const std::string frame = Generator::flatten(generator.report_for(*generator.agents()[0], 1));
  {
    sentinel::wire::FrameDecoder check;
    check.feed(frame);
    sentinel::v1::Envelope decoded;
    if (check.next(&decoded) != sentinel::wire::FrameDecoder::Status::kFrame ||
        decoded.report().inventory().replicas_size() != static_cast<int>(options.replicas) ||
        decoded.report().inventory().node() != generator.agents()[0]->node) {
      throw std::runtime_error("the generator's hand-built frame does not decode as the intended report");
    }
    // What the collector reads back is the agent's state exactly (10 replicas changed since `example`).
    sentinel::v1::Inventory expanded = decoded.report().inventory();
    sentinel::wire::expand_from_wire(&expanded);
    for (unsigned r = 0; r < options.replicas; ++r) {
      if (expanded.replicas(static_cast<int>(r)).SerializeAsString() !=
          generator.agents()[0]->replicas[r].SerializeAsString()) {
        throw std::runtime_error("replica " + std::to_string(r) + " does not expand back to what the agent holds");
      }
    }
  }

  Collector collector = start_collector(options);
  std::cout << "collector: pid " << collector.pid << ", agents connect to " << collector.listen << "\n";
  int exit_code = 0;
  try {
    tcp::resolver resolver(io);
    const auto colon = collector.listen.rfind(':');
    const auto endpoints = resolver.resolve(collector.listen.substr(0, colon), collector.listen.substr(colon + 1));
    for (auto& agent : generator.agents()) {
      asio::connect(agent->socket, endpoints);
      agent->socket.set_option(tcp::no_delay(true));
      sentinel::v1::Envelope hello;
      hello.mutable_hello()->set_protocol_version(1);
      hello.mutable_hello()->set_node(agent->node);
      hello.mutable_hello()->set_agent_version("0.1.0");
      agent->hello = sentinel::wire::encode_frame(hello);
      generator.write(*agent);
      generator.read(*agent);
    }
    const auto hello_deadline = Clock::now() + std::chrono::seconds(30);
    while (generator.hellos() < options.agents && Clock::now() < hello_deadline) io.run_one_for(std::chrono::milliseconds(100));
    if (generator.hellos() < options.agents) {
      throw std::runtime_error("only " + std::to_string(generator.hellos()) + " agents got a HelloAck: " +
                               generator.stats().first_error);
    }
    // The first report of every agent stores all its replicas (100,000 new rows): done once, untimed by the
    // open loop, so the measured window is steady-state ingest (reports that change some replicas).
    const auto load_started = Clock::now();
    for (auto& agent : generator.agents()) generator.send(*agent, Clock::now());
    const auto load_deadline = Clock::now() + std::chrono::seconds(120);
    while (generator.outstanding() > 0 && Clock::now() < load_deadline) io.run_one_for(std::chrono::milliseconds(50));
    if (generator.outstanding() > 0 || !generator.stats().first_error.empty()) {
      throw std::runtime_error("the initial reports were not all acked: " + generator.stats().first_error);
    }
    const double load_seconds = std::chrono::duration<double>(Clock::now() - load_started).count();
    generator.reset_stats();

    const double cpu_before = cpu_seconds_of(collector.pid);
    const auto threads_before = thread_cpu_of(collector.pid);
    rusage self_before{};
    ::getrusage(RUSAGE_SELF, &self_before);

    // Open loop at the target rate.
    generator.run_open_loop(options.rate, options.warmup, options.seconds);
    const auto open_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(options.warmup + options.seconds));
    while (Clock::now() < open_end) io.run_one_for(std::chrono::milliseconds(50));
    const auto drain_deadline = Clock::now() + std::chrono::seconds(60);
    while (generator.outstanding() > 0 && Clock::now() < drain_deadline) io.run_one_for(std::chrono::milliseconds(50));
    Stats open = generator.stats();
    const double cpu_open = cpu_seconds_of(collector.pid) - cpu_before;
    auto threads_open = thread_cpu_of(collector.pid);
    for (auto& [name, seconds] : threads_open) {
      const auto before = threads_before.find(name);
      if (before != threads_before.end()) seconds -= before->second;
    }
    rusage self_after{};
    ::getrusage(RUSAGE_SELF, &self_after);
    const double bench_cpu = (self_after.ru_utime.tv_sec - self_before.ru_utime.tv_sec) +
                             (self_after.ru_stime.tv_sec - self_before.ru_stime.tv_sec) +
                             (self_after.ru_utime.tv_usec - self_before.ru_utime.tv_usec) / 1e6 +
                             (self_after.ru_stime.tv_usec - self_before.ru_stime.tv_usec) / 1e6;
    const long rss_open = rss_kib_of(collector.pid);

    // Closed loop: how much this collector takes.
    Stats closed;
    if (options.saturate > 0) {
      generator.reset_stats();
      generator.run_closed_loop(options.saturate);
      const auto closed_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(options.saturate));
      while (Clock::now() < closed_end) io.run_one_for(std::chrono::milliseconds(50));
      const auto closed_drain = Clock::now() + std::chrono::seconds(60);
      while (generator.outstanding() > 0 && Clock::now() < closed_drain) io.run_one_for(std::chrono::milliseconds(50));
      closed = generator.stats();
    }
    const long rss_end = rss_kib_of(collector.pid);

    const double sustained = static_cast<double>(open.acked_in_window) / options.seconds;
    const double p50 = percentile(open.latencies_ms, 0.50);
    const double p99 = percentile(open.latencies_ms, 0.99);
    const double max = percentile(open.latencies_ms, 1.0);
    const bool all_acked = open.first_error.empty() && open.errors == 0;
    const double ratio = static_cast<double>(proto_bytes.size()) / static_cast<double>(json_defaults.size());
    std::printf("\nwire size of one report (%u replicas): protobuf %zu B as sent (frame %zu B; %zu B before the wire "
                "form), JSON %zu B (defaults printed, as sentinelctl --json --compact), %zu B (defaults omitted)\n",
                options.replicas, proto_bytes.size(), frame.size(), full_proto_bytes.size(), json_defaults.size(),
                json_compact.size());
    std::printf("  protobuf / JSON = %.1f%% (vs JSON without defaults: %.1f%%)\n", 100 * ratio,
                100.0 * static_cast<double>(proto_bytes.size()) / static_cast<double>(json_compact.size()));
    const uint64_t text = string_bytes(example_wire);
    std::printf("  text and bytes fields (names, paths, labels, messages) are %llu B = %.1f%% of the protobuf bytes as "
                "sent; tags, lengths and numbers the other %zu B\n",
                static_cast<unsigned long long>(text), 100.0 * static_cast<double>(text) / static_cast<double>(proto_bytes.size()),
                proto_bytes.size() - text);
    std::printf("\ninitial load: the first report of each of the %u agents (%u new replicas each) stored and acked in "
                "%.2f s\n",
                options.agents, options.replicas, load_seconds);
    std::printf("\nopen loop, offered %.0f reports/s:\n", options.rate);
    std::printf("  sustained %.0f reports/s (%llu acks in the %.0f s window; %llu acked in all, %llu duplicates, %s)\n",
                sustained, static_cast<unsigned long long>(open.acked_in_window), options.seconds,
                static_cast<unsigned long long>(open.acked_total), static_cast<unsigned long long>(open.duplicates),
                all_acked ? "no errors" : ("ERROR: " + open.first_error).c_str());
    std::printf("  ack latency over %zu reports: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", open.latencies_ms.size(),
                p50, p99, max);
    std::printf("  ingest %.1f MB/s of frames; collector CPU %.2f s (%.0f%% of a core), RSS %.1f MiB; generator CPU "
                "%.2f s\n",
                static_cast<double>(open.bytes_sent) / 1e6 / (options.warmup + options.seconds), cpu_open,
                100 * cpu_open / (options.warmup + options.seconds), rss_open / 1024.0, bench_cpu);
    const double acked = static_cast<double>(std::max<uint64_t>(open.acked_total, 1));
    std::printf("  CPU per acked report: collector %.0f us, generator %.0f us; collector threads (%% of a core, us per "
                "report):",
                1e6 * cpu_open / acked, 1e6 * bench_cpu / acked);
    for (const auto& [name, seconds] : threads_open) {
      if (seconds <= 0) continue;
      std::printf(" %s %.0f%% %.0f us;", name == "sentinel-collec" ? "agent-io(main)" : name.c_str(),
                  100 * seconds / (options.warmup + options.seconds), 1e6 * seconds / acked);
    }
    std::printf("\n");
    if (options.saturate > 0) {
      std::printf("\nclosed loop (one report in flight per agent, %.0f s): %.0f reports/s, p50 %.1f ms, p99 %.1f ms%s\n",
                  options.saturate, static_cast<double>(closed.acked_in_window) / options.saturate,
                  percentile(closed.latencies_ms, 0.5), percentile(closed.latencies_ms, 0.99),
                  closed.first_error.empty() ? "" : (" ERROR: " + closed.first_error).c_str());
      std::printf("  collector RSS at the end: %.1f MiB\n", rss_end / 1024.0);
    }
    const bool rate_ok = all_acked && sustained >= 5000 * 0.99 && sustained >= options.rate * 0.99;
    std::printf("\n%s  sustained >= 5000 reports/s (%.0f)\n", rate_ok ? "PASS" : "FAIL", sustained);
    std::printf("%s  p99 ack latency < 50 ms (%.2f ms)\n", all_acked && p99 < 50 ? "PASS" : "FAIL", p99);
    std::printf("%s  protobuf <= 30%% of JSON (%.1f%%)\n", ratio <= 0.30 ? "PASS" : "FAIL", 100 * ratio);
  } catch (const std::exception& e) {
    std::cerr << "ingest_bench: " << e.what() << "\n";
    exit_code = 1;
  }
  ::kill(collector.pid, SIGTERM);
  int status = 0;
  ::waitpid(collector.pid, &status, 0);
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  po::options_description opts("ingest_bench [options]: the collector's ingest acceptance (see bench/run-ingest.sh)");
  opts.add_options()("help,h", "show this help")(
      "collector", po::value(&options.collector)->default_value(options.collector), "the sentinel-collector binary")(
      "dir", po::value(&options.dir)->default_value(options.dir), "where the collector's store goes (recreated)")(
      "agents", po::value(&options.agents)->default_value(options.agents), "simulated agents (connections)")(
      "replicas", po::value(&options.replicas)->default_value(options.replicas), "replicas per report")(
      "changed", po::value(&options.changed)->default_value(options.changed),
      "replicas that change between two reports of an agent")(
      "rate", po::value(&options.rate)->default_value(options.rate), "offered reports/s in total (open loop)")(
      "seconds", po::value(&options.seconds)->default_value(options.seconds), "measured window (open loop)")(
      "warmup", po::value(&options.warmup)->default_value(options.warmup), "unmeasured start of the open loop")(
      "saturate", po::value(&options.saturate)->default_value(options.saturate),
      "seconds of closed loop afterwards (0 = skip)")(
      "sync", po::value(&options.sync)->default_value(options.sync), "the collector's --sync (full or normal)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "ingest_bench: " << e.what() << "\n\n" << opts << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (options.agents == 0 || options.rate <= 0 || options.seconds <= 0) {
    std::cerr << "ingest_bench: --agents, --rate and --seconds must be positive\n";
    return 2;
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  try {
    return run(options);
  } catch (const std::exception& e) {
    std::cerr << "ingest_bench: " << e.what() << "\n";
    return 1;
  }
}
