// `sentinelctl scan --socket PATH`: the node's agent runs the scan; progress on a terminal, the inventory at the end.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "salvage/export_progress.h"
#include "tools/sentinelctl/agent_client.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"

namespace sentinel::tools {

namespace {

// The agent reports after each replica; the rate and time left are measured here, from the first report.
void show_progress(const v1::Progress& progress, double elapsed_seconds, bool terminal) {
  ScanProgress p;
  p.phase = progress.phase();
  p.done_bytes = progress.done_bytes();
  p.total_bytes = progress.total_bytes();
  p.replicas_done = progress.replicas_done();
  p.replicas_total = progress.replicas_total();
  p.elapsed_seconds = elapsed_seconds;
  p.current = progress.current();
  const std::string line = format_scan_progress(p);
  std::fprintf(stderr, terminal ? "\r\033[K%s" : "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace

int run_agent_scan(const AgentScanOptions& options) {
  v1::Envelope request;
  request.mutable_scan_request()->set_kind(options.deep ? v1::DEEP : v1::QUICK);
  request.mutable_scan_request()->set_volume(options.volume);
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  const bool wanted = progress_wanted(options.progress, terminal);
  bool progress_shown = false;
  const salvage::ProgressThrottle clock;  // only its clock: the agent paces the reports
  AgentReply reply = ask_agent(options.socket_path, request, [&](const v1::Progress& progress) {
    if (!wanted) return;
    show_progress(progress, clock.elapsed(), terminal);
    progress_shown = true;
  });
  if (progress_shown && terminal) std::fputs("\n", stderr);
  if (!reply.final) {
    std::cerr << "sentinelctl scan: " << reply.error << "\n";
    return kExitCouldNotRun;
  }
  if (reply.final->has_error()) {
    std::cerr << "sentinelctl scan: the agent refused: " << reply.final->error().message() << " ("
              << v1::Error::Code_Name(reply.final->error().code()) << ")\n";
    return kExitCouldNotRun;
  }
  if (!reply.final->has_scan_result()) {
    std::cerr << "sentinelctl scan: unexpected reply from the agent\n";
    return kExitCouldNotRun;
  }
  const v1::ScanResult& result = reply.final->scan_result();
  if (options.json) {
    std::cout << inventory_to_json(result.inventory(), !options.compact) << "\n";
  } else {
    print_inventory_table(result.inventory(), std::cout);
    std::cout << "\n"
              << (result.joined() ? "Joined a scan the agent was already running; " : "")
              << (result.sequence() ? "reported to the collector as report #" + std::to_string(result.sequence())
                                    : std::string("not reported (the agent has no --collector)"))
              << "\n";
  }
  return kExitOk;
}

}  // namespace sentinel::tools
