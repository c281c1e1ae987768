// soak_driver: the whole pipeline under faults for a fixed time, then an audit of the collector's store.
//
//   soak_driver [--minutes M] [--agents N] [--seed S] [--work DIR] [--keep]
//
// Real processes on loopback: one sentinel-collector (SQLite store), N sentinel-agents (3 by default) on their
// own generated Longhorn disks, a sentinel-chaos-proxy between the agents and the collector, and one
// `sentinel-gen churn` writer standing in for Longhorn on every disk (writes into the heads, revision.counter
// bumps, snapshots with their checksum records, replica directories deleted and created).
// The agents quick-scan every 300 ms and deep-scan every 2 s, so many reports flow. Meanwhile:
//   - the collector is killed (SIGKILL) and restarted on the same port, during the first half of the run (so its
//     last instance lives long enough for a meaningful RSS comparison);
//   - the first agent is killed (SIGKILL) and restarted on the same state dir, all run long;
//   - the proxy resets, closes, stalls and cuts connections (mid-frame) at random, and refuses some.
// At the end: the writer stops, the proxy calms down, the agents are told (SIGHUP, config file) to stop scanning,
// their spools drain, every process is stopped with SIGTERM (exit 0 required), and the store is audited:
//   sent         every sequence an agent allocated (its state dir's `sequence`)
//   stored       rows of `reports` for the node
//   coalesced    sequences the agent's spool dropped by design (logged "dropping quick report N, superseded by
//                report M") and the collector never stored; the collector's sum of `coalesced` must be what
//                those log lines imply (each dropped report counted by every stored report of its chain of
//                replacements: the last one, and one that was dropped while in flight but stored all the same)
//   interrupted  the one sequence an agent SIGKILL may catch between reserving the number and writing the report
//                (that report never existed; recognized by the kill record: its spool file was absent)
//   lost         sent, not stored, not coalesced, not interrupted              -> must be 0
//   duplicates   (node, sequence) stored twice, or history rows of one replica from one report twice -> 0
//   false corruption  CHECKSUM_MISMATCH / CHECKSUM_FLAGGED in any replica's history: the writer never corrupts
//                -> must be 0 (CHANGED_DURING_SCAN is expected and only counted)
//   RSS          of each process's last instance, sampled every 2 s: the lowest sample of the 10 s after a
//                warm-up (15 s) vs the lowest of the last 10 s (a deep scan's buffers at one sampling moment are
//                not growth; a leak raises the floor). Bound (not enforced under sanitizers, whose shadow memory
//                and quarantine dwarf it): growth <= 16 MiB + 50% of the start value, plus for the collector the
//                store's size (database + WAL) up to 64 MiB: its SQLite page cache (cache_size 64 MiB, store.cpp)
//                fills as the store grows and holds at most the store's pages. Measured: collector ~14 MiB at
//                start, +1.2 MiB in 5 minutes (+3.6 MiB in 15, with a 6 MiB store); agents ~11.5 MiB, growth
//                under 0.2 MiB. The bound leaves room for that cache, allocator arenas and buffers; a leak of
//                ~10 KiB per report (the collector's last instance takes thousands of reports in a 5-minute run)
//                or of a few KiB per scan or connection crosses it.
//   final view   after one last deep scan of each quiet tree: the collector's latest replicas of each node are
//                exactly the directories on its disk, with their revision counters, and that scan found no
//                checksum MISMATCH/FLAGGED/STALE and nothing CHANGED_DURING_SCAN.
// Prints one summary line ("soak: PASS ..." or "soak: FAIL ...") and exits 0 on PASS, 1 on FAIL, 2 on usage.
// The work directory is removed on PASS unless --keep; on FAIL it is kept (logs, store, state dirs).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/scanner/fixture_support.h"
#include "tests/support/child_process.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sentinel::testing::ChildProcess;
using sentinel::testing::rss_kib;
using sentinel::testing::run_command;
using sentinel::testing::wait_until;

namespace {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

volatile sig_atomic_t g_interrupted = 0;
void on_signal(int) { g_interrupted = 1; }

const auto g_start = std::chrono::steady_clock::now();
double elapsed() { return std::chrono::duration<double>(std::chrono::steady_clock::now() - g_start).count(); }

void say(const std::string& text) {
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "[%7.1fs] ", elapsed());
  std::cout << stamp << text << std::endl;
}

// Unlike sentinel::testing::read_file, a file that is not there reads as "" (an agent's `sequence` before its first
// report, a log before its process wrote to it).
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  fs::rename(path + ".tmp", path);
}

std::string tail(const std::string& path, size_t lines) {
  const std::string text = read_file(path);
  size_t at = text.size();
  for (size_t n = 0; n <= lines && at > 0;) {
    at = text.rfind('\n', at - 1);
    if (at == std::string::npos) {
      at = 0;
      break;
    }
    ++n;
  }
  return text.substr(at);
}

// "key=value" lines (port files) or "key=value key=value" (stats lines).
std::map<std::string, std::string> key_values(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream words(text);
  std::string word;
  while (words >> word) {
    const auto eq = word.find('=');
    if (eq != std::string::npos) out[word.substr(0, eq)] = word.substr(eq + 1);
  }
  return out;
}

// The port of the `listen=HOST:PORT` line of a --port-file (the collector's, the proxy's).
int listen_port(const std::string& port_file) {
  const std::string listen = key_values(read_file(port_file))["listen"];
  return std::stoi(listen.substr(listen.rfind(':') + 1));
}

// The last line of a log that starts with `prefix`.
std::string last_line_with(const std::string& path, const std::string& prefix) {
  std::istringstream lines(read_file(path));
  std::string line, found;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) == 0) found = line;
  }
  return found;
}

uint64_t json_u64(const nlohmann::json& object, const char* key) {
  if (!object.contains(key)) return 0;
  const auto& value = object[key];
  if (value.is_string()) return std::stoull(value.get<std::string>());
  if (value.is_number()) return value.get<uint64_t>();
  return 0;
}

std::string kib(uint64_t value) { return std::to_string(value); }

struct Options {
  double minutes = 2;
  unsigned agents = 3;
  uint64_t seed = 0;
  std::string work;
  bool keep = false;
};

// One role (collector, proxy, an agent, the writer) and its current process.
struct Role {
  std::string name;
  std::string log;
  std::unique_ptr<ChildProcess> process;
  double started_at = 0;
  bool expected_down = false;  // killed on purpose, waiting for its restart
  double restart_at = 0;
  unsigned kills = 0;
  // RSS of the current instance, sampled every 2 s (every 0.5 s while draining): (seconds, KiB).
  std::vector<std::pair<double, uint64_t>> rss_samples;
  uint64_t rss_start = 0, rss_end = 0;  // set by the audit (see rss_window)
};

struct KillRecord {
  uint64_t sequence = 0;      // the agent's `sequence` file after the kill
  bool spool_file = false;    // its report was in the spool then
};

struct Agent {
  Role role;
  std::string node, dir, disk, socket, state, config;
  std::vector<KillRecord> kills;
};

class Soak {
 public:
  explicit Soak(Options options) : options_(std::move(options)), random_(options_.seed) {}
  int run();

 private:
  bool setup();
  void start_collector();
  void start_proxy();
  void start_agent(Agent& agent);
  void write_agent_config(const Agent& agent, bool scanning);
  bool chaos_loop();
  bool drain();
  bool wait_drained(double seconds);
  void check_final_view(SQLite::Database& db);
  bool stop_all();
  void sample_rss(Role& role);
  void sample_rss_of_all();  // the collector, the proxy and the agents (not the writer)
  void rss_window(Role& role);
  std::optional<nlohmann::json> agent_status(const Agent& agent);
  bool check_alive(Role& role);
  int audit();
  void fail(const std::string& why) {
    failures_.push_back(why);
    say("FAILURE: " + why);
  }
  double uniform(double low, double high) { return std::uniform_real_distribution<double>(low, high)(random_); }

  Options options_;
  std::mt19937_64 random_;
  double duration_ = 0;
  double warmup_ = 15;
  std::string work_;
  int collector_port_ = 0;
  int proxy_port_ = 0;
  Role collector_, proxy_, writer_;
  std::vector<std::unique_ptr<Agent>> agents_;
  std::vector<std::string> failures_;
  std::string writer_stats_, proxy_stats_;
  unsigned final_checksums_current_ = 0;
};

bool Soak::setup() {
  if (options_.work.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/sentinel-soak-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::cerr << "soak: cannot create a work directory: " << std::strerror(errno) << "\n";
      return false;
    }
    work_ = pattern;
  } else {
    work_ = options_.work;
    fs::create_directories(work_);
  }
  fs::create_directories(work_ + "/collector");
  say("work directory " + work_ + " (seed " + std::to_string(options_.seed) + ")");

  std::vector<std::string> writer_args = {SENTINEL_GEN_PATH, "churn", "--replicas", "4", "--interval-ms", "20",
                                          "--seed", std::to_string(options_.seed), "--volume-mib", "1024",
                                          "--data-mib", "16", "--max-layers", "10", "--ready-file",
                                          work_ + "/writer.ready"};
  for (unsigned i = 0; i < options_.agents; ++i) {
    auto agent = std::make_unique<Agent>();
    agent->node = "soak-" + std::to_string(i + 1);
    agent->dir = work_ + "/" + agent->node;
    agent->disk = work_ + "/disks/" + agent->node;
    agent->socket = agent->dir + "/agent.sock";
    agent->state = agent->dir + "/state";
    agent->config = agent->dir + "/agent.conf";
    agent->role.name = "agent " + agent->node;
    agent->role.log = agent->dir + "/agent.log";
    fs::create_directories(agent->dir);
    writer_args.push_back("--disk");
    writer_args.push_back(agent->disk);
    agents_.push_back(std::move(agent));
  }
  writer_.name = "writer";
  writer_.log = work_ + "/writer.log";
  writer_.process = std::make_unique<ChildProcess>(writer_args, std::vector<std::string>{}, writer_.log);
  if (!wait_until([&] { return fs::exists(work_ + "/writer.ready") || !writer_.process->running(); }, 60s) ||
      !fs::exists(work_ + "/writer.ready")) {
    fail("the writer did not set up its disks: " + tail(writer_.log, 10));
    return false;
  }
  say("writer: churning " + std::to_string(options_.agents) + " disks, 4 replicas each");

  collector_.name = "collector";
  collector_.log = work_ + "/collector/collector.log";
  start_collector();
  if (collector_port_ == 0) return false;
  proxy_.name = "proxy";
  proxy_.log = work_ + "/proxy.log";
  start_proxy();
  if (proxy_port_ == 0) return false;
  for (auto& agent : agents_) {
    write_agent_config(*agent, true);
    start_agent(*agent);
  }
  return failures_.empty();
}

void Soak::start_collector() {
  const std::string port_file = work_ + "/collector/ports";
  fs::remove(port_file);
  std::ofstream(collector_.log, std::ios::app) << "=== soak: collector start at " << elapsed() << "s ===\n";
  collector_.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{SENTINEL_COLLECTOR_PATH, "--listen", "127.0.0.1:" + std::to_string(collector_port_),
                               "--http", "127.0.0.1:0", "--db", work_ + "/collector/sentinel.db", "--port-file",
                               port_file},
      std::vector<std::string>{}, collector_.log);
  collector_.started_at = elapsed();
  collector_.expected_down = false;
  collector_.rss_samples.clear();
  if (!wait_until([&] { return fs::exists(port_file) || !collector_.process->running(); }, 60s) ||
      !fs::exists(port_file)) {
    fail("the collector did not start: " + tail(collector_.log, 10));
    collector_port_ = 0;
    return;
  }
  collector_port_ = listen_port(port_file);
}

void Soak::start_proxy() {
  const std::string port_file = work_ + "/proxy.ports";
  proxy_.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{SENTINEL_PROXY_PATH, "--listen", "127.0.0.1:0", "--upstream",
                               "127.0.0.1:" + std::to_string(collector_port_), "--port-file", port_file, "--seed",
                               std::to_string(options_.seed), "--mean-life-ms", "4000", "--mean-bytes", "100000",
                               "--mean-down-bytes", "200",
                               "--stall-percent", "20", "--stall-ms-max", "6000", "--refuse-percent", "10"},
      std::vector<std::string>{}, proxy_.log);
  proxy_.started_at = elapsed();
  if (!wait_until([&] { return fs::exists(port_file) || !proxy_.process->running(); }, 30s) ||
      !fs::exists(port_file)) {
    fail("the proxy did not start: " + tail(proxy_.log, 10));
    return;
  }
  proxy_port_ = listen_port(port_file);
  say("collector on 127.0.0.1:" + std::to_string(collector_port_) + ", chaos proxy on 127.0.0.1:" +
      std::to_string(proxy_port_));
}

// Intervals live in the config file, not in flags, so that SIGHUP with a rewritten file stops the scans.
void Soak::write_agent_config(const Agent& agent, bool scanning) {
  write_file(agent.config, scanning ? "quick-interval = 300ms\ndeep-interval = 2s\n"
                                    : "quick-interval = 1h\ndeep-interval = off\n");
}

void Soak::start_agent(Agent& agent) {
  fs::remove(agent.socket);
  std::ofstream(agent.role.log, std::ios::app) << "=== soak: agent start at " << elapsed() << "s ===\n";
  agent.role.process = std::make_unique<ChildProcess>(
      std::vector<std::string>{SENTINEL_AGENT_PATH, "--config", agent.config, "--disk", agent.disk, "--node",
                               agent.node, "--collector", "127.0.0.1:" + std::to_string(proxy_port_), "--socket",
                               agent.socket, "--state-dir", agent.state, "--reconnect-max", "1s", "--ack-timeout",
                               "4s", "--spool-max-reports", "8", "--scan-threads", "1", "--log-level", "debug"},
      std::vector<std::string>{}, agent.role.log);
  agent.role.started_at = elapsed();
  agent.role.expected_down = false;
  agent.role.rss_samples.clear();
  if (!wait_until([&] { return fs::exists(agent.socket) || !agent.role.process->running(); }, 60s) ||
      !fs::exists(agent.socket)) {
    fail(agent.role.name + " did not start: " + tail(agent.role.log, 10));
  }
}

std::optional<nlohmann::json> Soak::agent_status(const Agent& agent) {
  int status = -1;
  const std::string out =
      run_command(std::string(SENTINELCTL_PATH) + " status --json --socket " + agent.socket + " 2>/dev/null", &status);
  if (status != 0) return std::nullopt;
  auto json = nlohmann::json::parse(out, nullptr, false);
  if (!json.is_object()) return std::nullopt;
  return json;
}

void Soak::sample_rss(Role& role) {
  if (!role.process || role.expected_down || !role.process->running()) return;
  const uint64_t rss = rss_kib(role.process->pid());
  if (rss != 0) role.rss_samples.emplace_back(elapsed(), rss);
}

void Soak::sample_rss_of_all() {
  for (Role* role : {&collector_, &proxy_}) sample_rss(*role);
  for (auto& agent : agents_) sample_rss(agent->role);
}

// The start is the lowest sample of the 10 s after the warm-up, the end the lowest of the last 10 s: a deep scan's
// buffers or a burst of reports in flight at one sampling moment should not count as growth (nor hide it: a leak
// raises the floor too).
void Soak::rss_window(Role& role) {
  role.rss_start = role.rss_end = 0;
  if (role.rss_samples.empty()) return;
  const double from = role.started_at + warmup_;
  const double last = role.rss_samples.back().first;
  for (const auto& [t, kib] : role.rss_samples) {
    if (t >= from && t <= from + 10 && (role.rss_start == 0 || kib < role.rss_start)) role.rss_start = kib;
    if (t >= last - 10 && t >= from && (role.rss_end == 0 || kib < role.rss_end)) role.rss_end = kib;
  }
}

bool Soak::check_alive(Role& role) {
  if (!role.process || role.expected_down || role.process->running()) return true;
  fail(role.name + " exited on its own (status " + std::to_string(role.process->wait_for_exit(0ms).value_or(-1)) +
       "); last lines of " + role.log + ":\n" + tail(role.log, 15));
  return false;
}

bool Soak::chaos_loop() {
  double next_collector_kill = uniform(18, 28);
  double next_agent_kill = uniform(12, 22);
  double next_rss = 0;
  const double collector_kills_until = duration_ * 0.5;
  // The victim's last instance must outlive the RSS warm-up.
  const double agent_kills_until = duration_ - warmup_ - 8;
  Agent& victim = *agents_.front();
  while (elapsed() < duration_) {
    if (g_interrupted) {
      fail("interrupted");
      return false;
    }
    std::this_thread::sleep_for(200ms);
    for (Role* role : {&collector_, &proxy_, &writer_}) {
      if (!check_alive(*role)) return false;
    }
    for (auto& agent : agents_) {
      if (!check_alive(agent->role)) return false;
    }
    const double now = elapsed();
    if (now >= next_rss) {
      next_rss = now + 2;
      sample_rss_of_all();
    }
    // The collector: killed, down a few seconds (agents spool, reconnect with backoff), restarted on its port.
    if (collector_.expected_down && now >= collector_.restart_at) {
      start_collector();
      if (collector_port_ == 0) return false;
      say("collector restarted (pid " + std::to_string(collector_.process->pid()) + ")");
    } else if (!collector_.expected_down && now >= next_collector_kill && now < collector_kills_until) {
      collector_.process->signal(SIGKILL);
      collector_.process->wait_for_exit(10s);
      collector_.expected_down = true;
      ++collector_.kills;
      const double down = uniform(1, 6);
      collector_.restart_at = now + down;
      next_collector_kill = now + down + uniform(12, 30);
      say("collector killed (SIGKILL), down for " + std::to_string(down).substr(0, 4) + "s");
    }
    // The first agent: killed mid-work, restarted on the same state dir.
    if (victim.role.expected_down && now >= victim.role.restart_at) {
      start_agent(victim);
      if (!failures_.empty()) return false;
      say(victim.role.name + " restarted (pid " + std::to_string(victim.role.process->pid()) + ")");
    } else if (!victim.role.expected_down && now >= next_agent_kill && now < agent_kills_until) {
      victim.role.process->signal(SIGKILL);
      victim.role.process->wait_for_exit(10s);
      victim.role.expected_down = true;
      ++victim.role.kills;
      KillRecord record;
      record.sequence = std::stoull("0" + read_file(victim.state + "/sequence"));
      char name[40];
      std::snprintf(name, sizeof name, "%020llu.report", static_cast<unsigned long long>(record.sequence));
      record.spool_file = fs::exists(victim.state + "/spool/" + name);
      victim.kills.push_back(record);
      const double down = uniform(0.3, 3);
      victim.role.restart_at = now + down;
      next_agent_kill = now + down + uniform(10, 25);
      say(victim.role.name + " killed (SIGKILL) at sequence " + std::to_string(record.sequence) +
          (record.spool_file ? " (spooled)" : " (not in the spool)"));
    }
  }
  return true;
}

// Stop the faults and the scans, bring every process back, and wait for every spool to empty.
bool Soak::drain() {
  writer_.process->signal(SIGTERM);
  const auto writer_exit = writer_.process->wait_for_exit(60s);
  writer_stats_ = last_line_with(writer_.log, "churn: ");
  if (writer_exit != 0) {
    fail("the writer did not stop cleanly (status " + std::to_string(writer_exit.value_or(-1)) + ")");
    return false;
  }
  say("writer stopped: " + writer_stats_.substr(std::min<size_t>(7, writer_stats_.size())));
  proxy_.process->signal(SIGUSR1);
  if (collector_.expected_down) {
    start_collector();
    if (collector_port_ == 0) return false;
  }
  for (auto& agent : agents_) {
    if (agent->role.expected_down) {
      start_agent(*agent);
      if (!failures_.empty()) return false;
    }
  }
  say("proxy calm; agents told to stop scanning (SIGHUP with quick-interval 1h, deep off); draining spools");
  for (auto& agent : agents_) {
    write_agent_config(*agent, false);
    agent->role.process->signal(SIGHUP);
  }
  if (!wait_drained(120)) return false;
  // One last deep scan of each quiet tree, on demand through the agent's socket (spooled and reported like any
  // other): the collector's latest view must then match the disks, and the scan must find nothing changing.
  for (auto& agent : agents_) {
    int status = -1;
    const std::string out = run_command(std::string(SENTINELCTL_PATH) + " scan --deep --json --socket " +
                                            agent->socket + " 2>" + agent->dir + "/final-scan.err",
                                        &status);
    write_file(agent->dir + "/final-scan.json", out);
    if (status != 0) {
      fail(agent->role.name + ": the final deep scan failed (status " + std::to_string(status) + "): " +
           out.substr(0, 500));
      return false;
    }
  }
  say("final deep scans done");
  return wait_drained(90);
}

bool Soak::wait_drained(double seconds) {
  std::map<std::string, uint64_t> last_next;
  int stable_rounds = 0;
  const double give_up = elapsed() + seconds;
  std::string states;  // node:spooled[+scan] of the last round, for the failure message
  while (elapsed() < give_up) {
    if (g_interrupted) {
      fail("interrupted");
      return false;
    }
    for (Role* role : {&collector_, &proxy_}) {
      if (!check_alive(*role)) return false;
    }
    bool all_idle = true;
    states.clear();
    for (auto& agent : agents_) {
      if (!check_alive(agent->role)) return false;
      auto status = agent_status(*agent);
      if (!status) {
        all_idle = false;
        states += " " + agent->node + ":no-status";
        continue;
      }
      const uint64_t spooled = json_u64(*status, "spoolReports");
      const uint64_t next = json_u64(*status, "nextSequence");
      const bool scanning = status->value("scanning", false);
      if (spooled != 0 || scanning || last_next[agent->node] != next) all_idle = false;
      last_next[agent->node] = next;
      states += " " + agent->node + ":" + std::to_string(spooled) + (scanning ? "+scan" : "");
    }
    sample_rss_of_all();
    stable_rounds = all_idle ? stable_rounds + 1 : 0;
    if (stable_rounds >= 3) {
      say("spools drained");
      return true;
    }
    std::this_thread::sleep_for(500ms);
  }
  fail("the agents' spools did not drain within " + std::to_string(int(seconds)) + " s (reports spooled:" + states +
       ")");
  return false;
}

bool Soak::stop_all() {
  sample_rss_of_all();
  bool ok = true;
  for (auto& agent : agents_) agent->role.process->signal(SIGTERM);
  for (auto& agent : agents_) {
    const auto status = agent->role.process->wait_for_exit(30s);
    if (status != 0) {
      fail(agent->role.name + " did not exit cleanly on SIGTERM (status " + std::to_string(status.value_or(-1)) +
           ")");
      ok = false;
    }
  }
  proxy_.process->signal(SIGTERM);
  proxy_.process->wait_for_exit(10s);
  proxy_stats_ = last_line_with(proxy_.log, "proxy: accepted=");
  collector_.process->signal(SIGTERM);
  const auto status = collector_.process->wait_for_exit(60s);
  if (status != 0) {
    fail("the collector did not exit cleanly on SIGTERM (status " + std::to_string(status.value_or(-1)) + ")");
    ok = false;
  }
  return ok;
}

// After the last deep scans: the collector's latest replicas of each node are the directories on its disk, with
// their revision counters; the scans of the quiet trees found every snapshot checksum CURRENT or ABSENT (the
// writer had not hashed it yet) and nothing changing.
void Soak::check_final_view(SQLite::Database& db) {
  for (auto& agent : agents_) {
    std::map<std::string, int64_t> on_disk;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(agent->disk + "/replicas", ec)) {
      std::string counter = read_file(entry.path().string() + "/revision.counter");
      counter = counter.substr(0, counter.find('\0'));
      on_disk[entry.path().filename().string()] = std::stoll("0" + counter);
    }
    std::map<std::string, int64_t> in_store;
    SQLite::Statement query(db, "SELECT dir, revision_counter FROM replicas WHERE node = ?");
    query.bind(1, agent->node);
    while (query.executeStep()) in_store[query.getColumn(0).getString()] = query.getColumn(1).getInt64();
    if (on_disk != in_store) {
      std::string diff;
      for (const auto& [dir, counter] : on_disk) {
        auto it = in_store.find(dir);
        if (it == in_store.end()) diff += " missing " + dir;
        else if (it->second != counter)
          diff += " " + dir + " counter " + std::to_string(it->second) + " (disk " + std::to_string(counter) + ")";
      }
      for (const auto& [dir, counter] : in_store) {
        if (!on_disk.count(dir)) diff += " stale " + dir;
      }
      fail(agent->node + ": the collector's latest view differs from the disk after the final scan:" + diff);
    }
    const auto inventory = nlohmann::json::parse(read_file(agent->dir + "/final-scan.json"), nullptr, false);
    if (!inventory.is_object()) {
      fail(agent->node + ": the final deep scan's JSON does not parse");
      continue;
    }
    std::map<std::string, unsigned> states;
    std::string problems;
    const auto& replicas = inventory.contains("inventory") ? inventory["inventory"]["replicas"] : inventory["replicas"];
    for (const auto& replica : replicas) {
      for (const auto& image : replica.value("images", nlohmann::json::array())) {
        if (image.contains("storedChecksum")) ++states[image["storedChecksum"].value("state", "?")];
      }
      for (const auto& finding : replica.value("findings", nlohmann::json::array())) {
        const std::string code = finding.value("code", "");
        if (code == "CHECKSUM_MISMATCH" || code == "CHECKSUM_FLAGGED" || code == "CHANGED_DURING_SCAN") {
          problems += " " + code + " " + finding.value("path", "");
        }
      }
    }
    for (const auto& [state, n] : states) {
      if (state != "CURRENT" && state != "ABSENT" && state != "STATE_UNSPECIFIED") {
        problems += " " + std::to_string(n) + " checksum(s) " + state;
      }
    }
    if (!problems.empty()) fail(agent->node + ": the final deep scan of the quiet tree found:" + problems);
    final_checksums_current_ += states["CURRENT"];
  }
}

int Soak::audit() {
  SQLite::Database db(work_ + "/collector/sentinel.db", SQLite::OPEN_READONLY);
  const std::regex dropped_line("dropping quick report ([0-9]+), superseded by report ([0-9]+)");
  uint64_t sent = 0, stored = 0, coalesced = 0, interrupted = 0, lost = 0, pending = 0, phantom = 0;
  uint64_t superseded = 0;
  std::string per_node;
  for (auto& agent : agents_) {
    const uint64_t allocated = std::stoull("0" + read_file(agent->state + "/sequence"));
    // Sequences the spool dropped (by design), and which report took each one's place.
    std::map<uint64_t, uint64_t> dropped;
    {
      std::istringstream lines(read_file(agent->role.log));
      std::string line;
      std::smatch match;
      while (std::getline(lines, line)) {
        if (std::regex_search(line, match, dropped_line)) {
          dropped[std::stoull(match[1].str())] = std::stoull(match[2].str());
        }
      }
    }
    std::map<uint64_t, uint64_t> rows;  // sequence -> coalesced
    SQLite::Statement query(db, "SELECT sequence, coalesced, superseded FROM reports WHERE node = ?");
    query.bind(1, agent->node);
    while (query.executeStep()) {
      rows[static_cast<uint64_t>(query.getColumn(0).getInt64())] = static_cast<uint64_t>(query.getColumn(1).getInt64());
      superseded += query.getColumn(2).getInt64() != 0;
    }
    std::set<uint64_t> left_in_spool;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(agent->state + "/spool", ec)) {
      const std::string name = entry.path().filename().string();
      if (name.size() == 27 && name.ends_with(".report")) left_in_spool.insert(std::stoull(name.substr(0, 20)));
    }
    std::set<uint64_t> never_written;
    for (const auto& kill : agent->kills) {
      if (!kill.spool_file) never_written.insert(kill.sequence);
    }
    uint64_t node_lost = 0, node_coalesced = 0, node_interrupted = 0;
    std::string lost_list;
    for (uint64_t s = 1; s <= allocated; ++s) {
      if (rows.count(s)) continue;
      if (dropped.count(s)) {
        ++node_coalesced;
      } else if (left_in_spool.count(s)) {
        ++pending;
      } else if (never_written.count(s)) {
        ++node_interrupted;
      } else {
        ++node_lost;
        if (node_lost <= 20) lost_list += " " + std::to_string(s);
      }
    }
    for (const auto& [s, c] : rows) {
      if (s > allocated) ++phantom;
    }
    // The collector's sum of `coalesced`: a dropped report is counted by its replacement, and by the replacement's
    // replacement when that one was dropped in turn, and so on (report_spool.h). Each stored report of that chain
    // counts it once: normally only the last one, but a report dropped while in flight may have been stored too.
    uint64_t expected_coalesced_sum = 0, stored_coalesced_sum = 0;
    for (const auto& [s, by] : dropped) {
      uint64_t carrier = by;
      for (int hops = 0; hops < 100000; ++hops) {
        if (rows.count(carrier)) ++expected_coalesced_sum;
        auto next = dropped.find(carrier);
        if (next == dropped.end()) break;
        carrier = next->second;
      }
    }
    for (const auto& [s, c] : rows) stored_coalesced_sum += c;
    if (stored_coalesced_sum != expected_coalesced_sum) {
      fail(agent->node + ": the collector's sum of `coalesced` is " + std::to_string(stored_coalesced_sum) +
           " but the agent's log of dropped reports says " + std::to_string(expected_coalesced_sum));
    }
    if (node_lost > 0) fail(agent->node + ": " + std::to_string(node_lost) + " report(s) lost:" + lost_list);
    sent += allocated;
    stored += rows.size();
    coalesced += node_coalesced;
    interrupted += node_interrupted;
    lost += node_lost;
    per_node += " " + agent->node + " " + std::to_string(rows.size()) + "/" + std::to_string(allocated);
  }
  if (pending > 0) fail(std::to_string(pending) + " report(s) still in a spool after the drain");
  if (phantom > 0) fail(std::to_string(phantom) + " stored report(s) with a sequence no agent allocated");

  auto count = [&](const std::string& sql) { return static_cast<uint64_t>(db.execAndGet(sql).getInt64()); };
  const uint64_t duplicate_reports =
      count("SELECT count(*) FROM (SELECT 1 FROM reports GROUP BY node, sequence HAVING count(*) > 1)");
  const uint64_t duplicate_history = count(
      "SELECT count(*) FROM (SELECT 1 FROM replica_history GROUP BY node, disk, dir, sequence HAVING count(*) > 1)");
  const uint64_t duplicates = duplicate_reports + duplicate_history;
  if (duplicates > 0) {
    fail(std::to_string(duplicate_reports) + " (node, sequence) stored more than once, " +
         std::to_string(duplicate_history) + " replica history entries recorded twice from one report");
  }
  const std::string corrupt = "(findings LIKE '%CHECKSUM_MISMATCH%' OR findings LIKE '%CHECKSUM_FLAGGED%')";
  const uint64_t false_corruption = count("SELECT count(*) FROM replica_history WHERE " + corrupt) +
                                    count("SELECT count(*) FROM replicas WHERE " + corrupt + " AND NOT EXISTS "
                                          "(SELECT 1 FROM replica_history h WHERE h.node = replicas.node AND "
                                          "h.dir = replicas.dir AND h.findings = replicas.findings)");
  if (false_corruption > 0) {
    std::string examples;
    SQLite::Statement rows_query(db, "SELECT node, dir, sequence, findings FROM replica_history WHERE " + corrupt +
                                         " LIMIT 5");
    while (rows_query.executeStep()) {
      examples += "\n    " + rows_query.getColumn(0).getString() + " " + rows_query.getColumn(1).getString() +
                  " report " + rows_query.getColumn(2).getString() + ": " + rows_query.getColumn(3).getString();
    }
    fail(std::to_string(false_corruption) + " false corruption finding(s) on images the writer only wrote:" +
         examples);
  }
  const uint64_t changed_during_scan =
      count("SELECT count(*) FROM replica_history WHERE findings LIKE '%CHANGED_DURING_SCAN%'");
  check_final_view(db);
  // A sanitized build's report in a process the soak killed anyway would not show in an exit status.
  std::vector<const Role*> roles = {&collector_, &proxy_, &writer_};
  for (const auto& agent : agents_) roles.push_back(&agent->role);
  for (const Role* role : roles) {
    const std::string log = read_file(role->log);
    for (const char* marker : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "WARNING: ThreadSanitizer",
                               "runtime error:"}) {
      if (log.find(marker) != std::string::npos) fail(role->name + ": \"" + marker + "\" in " + role->log);
    }
  }
  const uint64_t history_rows = count("SELECT count(*) FROM replica_history");

  // RSS of each process's last instance.
  std::string rss_text;
  bool rss_ok = true;
  // The collector's SQLite page cache (64 MiB, store.cpp) fills as the store grows: it can hold at most the
  // store's pages, so its bound adds the store's size (database and WAL), up to 64 MiB.
  std::error_code size_error;
  const uint64_t wal_bytes = fs::exists(work_ + "/collector/sentinel.db-wal")
                                 ? fs::file_size(work_ + "/collector/sentinel.db-wal", size_error)
                                 : 0;
  const uint64_t db_kib = (fs::file_size(work_ + "/collector/sentinel.db", size_error) + wal_bytes) / 1024;
  auto rss_of = [&](Role& role, const std::string& label, uint64_t cache_kib) {
    rss_window(role);
    const int64_t growth = static_cast<int64_t>(role.rss_end) - static_cast<int64_t>(role.rss_start);
    const int64_t bound = 16 * 1024 + static_cast<int64_t>(role.rss_start) / 2 + static_cast<int64_t>(cache_kib);
    rss_text += (rss_text.empty() ? "" : ", ") + label + " " + kib(role.rss_start) + "->" + kib(role.rss_end) +
                " (" + (growth >= 0 ? "+" : "") + std::to_string(growth) + ")";
    if (role.rss_start == 0 || role.rss_end == 0) {
      fail(label + ": RSS not sampled (the last instance ran less than the " + std::to_string(int(warmup_)) +
           " s warm-up)");
      rss_ok = false;
    } else if (growth > bound && !kSanitized) {
      fail(label + ": RSS grew by " + std::to_string(growth) + " KiB, over the bound of " + std::to_string(bound) +
           " KiB (16 MiB + 50% of its start" + (cache_kib ? " + the store's " + kib(cache_kib) + " KiB" : "") +
           ")");
      rss_ok = false;
    }
  };
  rss_of(collector_, "collector", std::min<uint64_t>(db_kib, 64 * 1024));
  for (auto& agent : agents_) rss_of(agent->role, agent->node, 0);
  {
    // How the collector's RSS went over its last instance (a leak climbs steadily; a cache levels off).
    std::string trend;
    const auto& samples = collector_.rss_samples;
    for (size_t i = 0; i < samples.size(); i += std::max<size_t>(1, samples.size() / 8)) {
      trend += " " + std::to_string(int(samples[i].first)) + "s:" + kib(samples[i].second);
    }
    if (!samples.empty()) trend += " " + std::to_string(int(samples.back().first)) + "s:" + kib(samples.back().second);
    say("collector RSS KiB over its last instance:" + trend + "; store " + kib(db_kib) + " KiB");
  }
  rss_window(proxy_);  // test equipment: shown, not judged

  // Details, then the one summary line.
  say("stored/sent per node:" + per_node + "; superseded " + std::to_string(superseded) + ", history rows " +
      std::to_string(history_rows) + "; final deep scans: " + std::to_string(final_checksums_current_) +
      " snapshot checksums CURRENT");
  say("writer " + writer_stats_.substr(std::min<size_t>(7, writer_stats_.size())));
  say(proxy_stats_ + " rss_kib=" + kib(proxy_.rss_start) + "->" + kib(proxy_.rss_end));
  const auto proxy_counts = key_values(proxy_stats_);
  auto pc = [&](const char* key) {
    auto it = proxy_counts.find(key);
    return it == proxy_counts.end() ? std::string("?") : it->second;
  };
  unsigned agent_kills = 0;
  for (auto& agent : agents_) agent_kills += agent->role.kills;
  const bool pass = failures_.empty();
  char minutes[16];
  std::snprintf(minutes, sizeof minutes, "%.1f", options_.minutes);
  std::cout << "soak: " << (pass ? "PASS" : "FAIL") << " " << minutes << " min, " << agents_.size()
            << " agents: sent " << sent << " (coalesced " << coalesced << ", interrupted by SIGKILL " << interrupted
            << "), stored " << stored << ", duplicates " << duplicates << ", lost " << lost
            << ", false corruption " << false_corruption << " (changed-during-scan " << changed_during_scan
            << "); RSS KiB start->end: " << rss_text << (kSanitized ? " [sanitized build: bound not enforced]" : "")
            << (rss_ok ? "" : " OVER BOUND") << "; faults: collector SIGKILL " << collector_.kills
            << ", agent SIGKILL " << agent_kills << ", proxy resets " << pc("resets") << " closes " << pc("closes")
            << " stalls " << pc("stalls") << " cuts " << pc("cuts") << " refused " << pc("refused") << std::endl;
  return pass ? 0 : 1;
}

int Soak::run() {
  duration_ = options_.minutes * 60;
  warmup_ = std::min(15.0, std::max(5.0, duration_ / 8));
  int result = 1;
  bool audited = false;
  if (setup() && chaos_loop() && drain() && stop_all() && failures_.empty()) {
    result = audit();
    audited = true;
  } else if (failures_.empty()) {
    fail("the soak stopped early");
  }
  if (!audited) {
    try {
      if (fs::exists(work_ + "/collector/sentinel.db")) {
        // Stop whatever is still running before reading the store.
        for (auto& agent : agents_) {
          if (agent->role.process) agent->role.process->signal(SIGKILL);
        }
        if (collector_.process) {
          collector_.process->signal(SIGKILL);
          collector_.process->wait_for_exit(10s);
        }
      }
    } catch (const std::exception&) {
    }
    std::cout << "soak: FAIL " << failures_.size() << " problem(s), the first: " << failures_.front() << std::endl;
  }
  if (result != 0) {
    for (const auto& why : failures_) std::cout << "  - " << why << "\n";
    std::cout << "soak: logs, store and state dirs kept in " << work_ << std::endl;
  } else if (!options_.keep) {
    agents_.clear();  // the processes are gone; remove what they left
    std::error_code ec;
    fs::remove_all(work_, ec);
  } else {
    std::cout << "soak: work directory kept: " << work_ << std::endl;
  }
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  options.seed = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "soak_driver: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (arg == "--minutes") {
        options.minutes = std::stod(value());
      } else if (arg == "--agents") {
        options.agents = static_cast<unsigned>(std::stoul(value()));
      } else if (arg == "--seed") {
        options.seed = std::stoull(value());
      } else if (arg == "--work") {
        options.work = value();
      } else if (arg == "--keep") {
        options.keep = true;
      } else if (arg == "--help" || arg == "-h") {
        std::cout << "soak_driver [--minutes M (2)] [--agents N (3)] [--seed S] [--work DIR] [--keep]\n"
                     "Runs the collector, N agents, a chaos proxy and a writer for M minutes with faults, then\n"
                     "audits the store and prints one summary line. Exit 0 PASS, 1 FAIL, 2 usage.\n";
        return 0;
      } else {
        std::cerr << "soak_driver: unknown argument " << arg << " (try --help)\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "soak_driver: bad value for " << arg << "\n";
      return 2;
    }
  }
  if (options.minutes <= 0 || options.minutes > 24 * 60 || options.agents == 0 || options.agents > 16) {
    std::cerr << "soak_driver: --minutes must be in (0, 1440] and --agents in 1..16\n";
    return 2;
  }
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  try {
    Soak soak(options);  // destroyed (its processes killed) before the catch runs
    return soak.run();
  } catch (const std::exception& e) {
    std::cout << "soak: FAIL internal error: " << e.what() << std::endl;
    return 1;
  }
}
