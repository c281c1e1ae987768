// sentinelctl volumes | volume V | nodes --collector URL: the fleet as sentinel-collector sees it, read from its
// HTTP API (/v1/volumes, /v1/volumes/{name}, /v1/nodes). A table by default; --json prints the API's JSON as is.
//
// Exit codes: 0 shown; 1 the collector could not be reached or answered with an error (an unknown volume
// included); 2 usage error.

#include <boost/program_options.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "proto/wire/option_error.h"
#include "tools/sentinelctl/collector_client.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"

namespace po = boost::program_options;

namespace sentinel::tools {

namespace {

using nlohmann::json;

std::string text(const json& object, const char* key) {
  if (!object.is_object() || !object.contains(key)) return "";
  const json& value = object[key];
  if (value.is_string()) return value.get<std::string>();
  if (value.is_null()) return "";
  return value.dump();
}

uint64_t number(const json& object, const char* key) {
  const std::string value = text(object, key);
  return value.empty() ? 0 : std::strtoull(value.c_str(), nullptr, 10);
}

// Columns sized to their widest cell; the last column is not padded.
void print_table(const std::vector<std::vector<std::string>>& rows, std::ostream& out) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out << line << "\n";
  }
}

std::string short_digest(const std::string& digest) { return digest.empty() ? "-" : digest.substr(0, 12); }

struct CommonOptions {
  std::string collector;
  bool json = false;
  std::vector<std::string> positional;
};

// Parses --collector, --json and the positional arguments; nullopt after printing help or a usage error
// (*exit_code says which).
std::optional<CommonOptions> parse_common(const std::string& command, const std::string& usage,
                                          size_t positional_count, const CommandArgs& args, int* exit_code) {
  po::options_description opts(usage + "\n\nOptions");
  opts.add_options()("help,h", "show this help")(
      "collector", po::value<std::string>()->default_value(kDefaultCollector),
      "the collector's HTTP API (its --http address), http://HOST:PORT")(
      "json", po::bool_switch(), "print the API's JSON as it came (protobuf JSON conventions)");
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description positional;
  positional.add("positional", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl " << command << ": " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    *exit_code = kExitOk;
    return std::nullopt;
  }
  CommonOptions common;
  common.collector = vm["collector"].as<std::string>();
  common.json = vm["json"].as<bool>();
  if (vm.count("positional")) common.positional = vm["positional"].as<std::vector<std::string>>();
  if (common.positional.size() != positional_count) {
    std::cerr << "sentinelctl " << command << ": "
              << (positional_count == 0 ? "takes no arguments" : "expects exactly one volume name") << "\n\n"
              << opts << "\n";
    *exit_code = kExitUsage;
    return std::nullopt;
  }
  return common;
}

}  // namespace

int run_volumes_command(const CommandArgs& args) {
  int exit_code = kExitOk;
  const auto options = parse_common("volumes",
                                    "sentinelctl volumes [--collector URL] [--json]\n\n"
                                    "Every volume the collector knows a replica of: replicas, nodes, size, the highest\n"
                                    "revision counter, whether the content digests agree, findings, stale replicas.",
                                    0, args, &exit_code);
  if (!options) return exit_code;
  const auto body = fetch("volumes", options->collector, "/v1/volumes", options->json);
  if (!body) return kExitCouldNotRun;
  if (options->json) return kExitOk;
  std::vector<std::vector<std::string>> rows = {
      {"VOLUME", "REPLICAS", "NODES", "SIZE", "MAX COUNTER", "DIGESTS", "FINDINGS", "STALE"}};
  for (const auto& volume : (*body)["volumes"]) {
    std::string nodes;
    for (const auto& node : volume["nodes"]) nodes += (nodes.empty() ? "" : ",") + node.get<std::string>();
    const json& agree = volume["digestsAgree"];
    const std::string digests = agree.is_null() ? (volume["contentDigests"].empty() ? "unknown" : "partial")
                                : agree.get<bool>() ? "agree"
                                                    : "DIFFER";
    rows.push_back({text(volume, "name"), text(volume, "replicaCount"), nodes, human_bytes(number(volume, "sizeBytes")),
                    text(volume, "maxRevisionCounter"), digests, text(volume, "replicasWithFindings"),
                    text(volume, "staleReplicas")});
  }
  if (rows.size() == 1) {
    std::cout << "The collector knows no volume yet (no agent has reported a replica).\n";
    return kExitOk;
  }
  print_table(rows, std::cout);
  return kExitOk;
}

int run_volume_command(const CommandArgs& args) {
  int exit_code = kExitOk;
  const auto options = parse_common("volume",
                                    "sentinelctl volume VOLUME [--collector URL] [--json]\n\n"
                                    "Every replica of one volume across the fleet: node, directory, state, size, "
                                    "allocated\nbytes, revision counter, head mtime, content digest, findings, when "
                                    "last seen.\n--json gives each replica as sentinel.v1.Replica JSON (what "
                                    "`sentinelctl plan` reads).",
                                    1, args, &exit_code);
  if (!options) return exit_code;
  const std::string& name = options->positional[0];
  const auto body = fetch("volume", options->collector, "/v1/volumes/" + percent_encode(name), options->json);
  if (!body) return kExitCouldNotRun;
  if (options->json) return kExitOk;
  std::vector<std::vector<std::string>> rows = {{"NODE", "DIR", "STATE", "SIZE", "ALLOCATED", "COUNTER", "HEAD MTIME",
                                                 "DIGEST", "FINDINGS", "LAST SEEN"}};
  for (const auto& entry : (*body)["replicas"]) {
    const json& replica = entry["replica"];
    std::string findings;
    if (replica.is_object() && replica.contains("findings")) {
      for (const auto& finding : replica["findings"]) findings += (findings.empty() ? "" : ",") + text(finding, "code");
    }
    std::string digest = short_digest(text(entry, "contentDigest"));
    if (digest == "-" && entry.contains("lastDeepScan")) {
      digest = short_digest(text(entry["lastDeepScan"], "contentDigest")) + " (before changes)";
    }
    const int64_t mtime_ns = static_cast<int64_t>(number(replica, "headMtimeNs"));
    char mtime[64] = "-";
    if (mtime_ns > 0) {
      const time_t seconds = static_cast<time_t>(mtime_ns / 1000000000);
      std::tm utc{};
      gmtime_r(&seconds, &utc);
      std::strftime(mtime, sizeof mtime, "%Y-%m-%d %H:%M:%S", &utc);
    }
    rows.push_back({text(entry, "node") + (entry["nodeStale"].get<bool>() ? " (stale)" : ""), text(entry, "dir"),
                    text(replica, "state"), human_bytes(number(replica, "sizeBytes")),
                    human_bytes(number(replica, "allocatedBytes")),
                    text(replica, "revisionCounterPresent") == "true" ? text(replica, "revisionCounter") : "-",
                    mtime, digest, findings.empty() ? "-" : findings, text(entry, "lastSeen")});
  }
  std::cout << "Volume " << name << ": " << rows.size() - 1 << " replica(s)\n";
  print_table(rows, std::cout);
  return kExitOk;
}

int run_nodes_command(const CommandArgs& args) {
  int exit_code = kExitOk;
  const auto options = parse_common("nodes",
                                    "sentinelctl nodes [--collector URL] [--json]\n\n"
                                    "Every node that reported to the collector: agent version, last report, its "
                                    "sequence,\nreplicas, and whether it is stale (no report for --stale-after).",
                                    0, args, &exit_code);
  if (!options) return exit_code;
  const auto body = fetch("nodes", options->collector, "/v1/nodes", options->json);
  if (!body) return kExitCouldNotRun;
  if (options->json) return kExitOk;
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "AGENT", "LAST REPORT", "SEQUENCE", "LAST SCAN", "REPLICAS", "STATE"}};
  for (const auto& node : (*body)["nodes"]) {
    rows.push_back({text(node, "name"), text(node, "agentVersion"), text(node, "lastReport"),
                    text(node, "lastSequence"), text(node, "latestKind"), text(node, "replicaCount"),
                    node["stale"].get<bool>() ? "STALE (no report for " + text(*body, "staleAfter") + ")" : "ok"});
  }
  if (rows.size() == 1) {
    std::cout << "No node has reported to the collector yet.\n";
    return kExitOk;
  }
  print_table(rows, std::cout);
  return kExitOk;
}

}  // namespace sentinel::tools
