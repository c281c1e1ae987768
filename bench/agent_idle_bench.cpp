// agent_idle_bench: the agent issue's footprint target. A real sentinel-agent over a disk of 200 replicas
// (the quick bench's generated tree), scanning every --interval: its resident memory and the CPU time it
// uses between two scans, read from /proc, printed with PASS/FAIL against the targets (RSS <= 20 MiB, CPU
// between scans ~0: under 10 ms in the idle window). No peer tool: the issue names absolute targets.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "bench/bench_support.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct ProcSample {
  double cpu_seconds = 0;  // utime + stime
  long rss_kib = 0;        // VmRSS
  long hwm_kib = 0;        // VmHWM (peak)
};

ProcSample sample(pid_t pid) {
  ProcSample s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), {});
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  unsigned long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14) utime = std::stoul(field);
    if (i == 15) stime = std::stoul(field);
  }
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stol(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stol(line.substr(6));
  }
  return s;
}

std::string status_field(const std::string& sentinelctl, const std::string& socket, const std::string& field) {
  const std::string command = sentinelctl + " status --json --socket " + socket + " 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return "";
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  auto json = nlohmann::json::parse(out, nullptr, false);
  if (json.is_discarded() || !json.contains(field)) return "";
  return json[field].is_string() ? json[field].get<std::string>() : json[field].dump();
}

int run(int argc, char** argv) {
  std::string dir, agent_path, sentinelctl;
  int interval_s = 10;
  po::options_description opts(
      "agent_idle_bench [--dir DIR] [--interval SECONDS]\n"
      "\n"
      "Runs sentinel-agent over DIR (a Longhorn disk; default the quick bench's 200-replica tree, which\n"
      "bench/run-quick-scan.sh generates), waits for its first scan, then measures its RSS and the CPU time it\n"
      "uses in the quiet window between two scans. Exit 0 when the report was printed, 1 when it could not run.\n"
      "\n"
      "Options");
  opts.add_options()("help,h", "show this help")(
      "dir", po::value(&dir)->default_value("/var/tmp/sentinel-bench-quick"), "the Longhorn disk to scan")(
      "interval", po::value(&interval_s)->default_value(10), "the agent's --quick-interval in seconds (>= 4)")(
      "agent", po::value(&agent_path)->default_value(SENTINEL_AGENT_PATH), "the sentinel-agent to measure")(
      "sentinelctl", po::value(&sentinelctl)->default_value(SENTINELCTL_PATH), "for status queries");
  po::variables_map vm;
  po::store(po::parse_command_line(argc, argv, opts), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return 0;
  }
  if (interval_s < 4) throw std::runtime_error("--interval must be at least 4 seconds");
  if (!fs::is_directory(fs::path(dir) / "replicas")) {
    throw std::runtime_error(dir + "/replicas does not exist; run bench/run-quick-scan.sh once to generate it");
  }
  char tmpl[] = "/tmp/sentinel-agent-bench-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) sentinel::bench::fail_errno("mkdtemp");
  const std::string work = tmpl;
  const std::string socket = work + "/agent.sock";
  const std::string interval = std::to_string(interval_s) + "s";

  const pid_t pid = ::fork();
  if (pid == 0) {
    const std::string log = work + "/agent.log";
    std::freopen(log.c_str(), "w", stderr);
    ::execl(agent_path.c_str(), agent_path.c_str(), "--disk", dir.c_str(), "--node", "bench", "--socket",
            socket.c_str(), "--state-dir", (work + "/state").c_str(), "--quick-interval", interval.c_str(),
            "--scan-threads", "2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  auto stop_agent = [&] {
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    fs::remove_all(work);
  };
  try {
    // The first scan is done when the agent reports a time for it.
    std::string first;
    for (int i = 0; i < 600 && (first.empty() || first == "\"0\"" || first == "0"); ++i) {
      std::this_thread::sleep_for(100ms);
      first = status_field(sentinelctl, socket, "lastQuickScanAtNs");
    }
    if (first.empty() || first == "0") throw std::runtime_error("the agent did not finish its first scan");
    const std::string replicas = status_field(sentinelctl, socket, "replicaCount");
    // Wait for the next scan to finish, so the window starts right after one, then measure a quiet window of
    // interval - 3 s (1 s after the scan ended to 2 s before the next one starts).
    for (int i = 0; i < interval_s * 20 && status_field(sentinelctl, socket, "lastQuickScanAtNs") == first; ++i) {
      std::this_thread::sleep_for(50ms);
    }
    std::this_thread::sleep_for(1s);
    const ProcSample start = sample(pid);
    const auto window = std::chrono::seconds(interval_s - 3);
    std::this_thread::sleep_for(window);
    const ProcSample end = sample(pid);
    // One more full interval, to see what a scan costs.
    std::this_thread::sleep_for(std::chrono::seconds(interval_s));
    const ProcSample after_scan = sample(pid);
    stop_agent();

    const double idle_cpu_ms = (end.cpu_seconds - start.cpu_seconds) * 1000;
    const double idle_rss_mib = static_cast<double>(end.rss_kib) / 1024;
    std::printf("agent over %s: %s replicas, quick scan every %ds\n", dir.c_str(), replicas.c_str(), interval_s);
    std::printf("  RSS between scans        %.1f MiB   (target <= 20 MiB)  %s\n", idle_rss_mib,
                idle_rss_mib <= 20 ? "PASS" : "FAIL");
    std::printf("  CPU in a %llds idle window %.1f ms    (target ~0: < 10 ms; /proc counts in %.0f ms ticks) %s\n",
                static_cast<long long>(window.count()), idle_cpu_ms, 1000.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)),
                idle_cpu_ms < 10 ? "PASS" : "FAIL");
    std::printf("  CPU of one interval with a scan: %.0f ms; peak RSS (during scans): %.1f MiB\n",
                (after_scan.cpu_seconds - end.cpu_seconds) * 1000, static_cast<double>(after_scan.hwm_kib) / 1024);
    return 0;
  } catch (...) {
    stop_agent();
    throw;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "agent_idle_bench: " << e.what() << "\n";
    return 1;
  }
}
