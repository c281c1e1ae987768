// sentinelctl plan: the salvage plan of one volume, offline, from inventory files (`sentinelctl scan --json`).
#include <google/protobuf/util/json_util.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "proto/wire/option_error.h"
#include "salvage/longhorn_version.h"
#include "salvage/planner.h"
#include "salvage/shell_words.h"
#include "salvage/volume_replicas.h"
#include "tools/sentinelctl/collector_client.h"
#include "tools/sentinelctl/commands.h"
#include "tools/sentinelctl/inventory_output.h"
#include "tools/sentinelctl/plan_output.h"

namespace po = boost::program_options;

namespace sentinel::tools {
namespace {

// One inventory file, or why it cannot be used.
bool read_inventory_file(const std::string& path, salvage::NodeInventory* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read " + path;
    return false;
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;  // an inventory written by a newer sentinelctl still reads
  auto status = google::protobuf::util::JsonStringToMessage(text.str(), &out->inventory, options);
  if (!status.ok()) {
    *error = path + " is not an inventory (the output of `sentinelctl scan --json`): " + std::string(status.message());
    return false;
  }
  out->node_if_unnamed = path;
  return true;
}

// Every replica the collector knows for `volume`, grouped into one inventory per node (its /v1/volumes/{name}:
// each entry carries the node and the replica as the agent reported it). False after printing why.
bool read_from_collector(const std::string& url, const std::string& volume,
                         std::vector<salvage::NodeInventory>* out) {
  const auto body = fetch("plan", url, "/v1/volumes/" + percent_encode(volume), false);
  if (!body) return false;
  std::map<std::string, salvage::NodeInventory> by_node;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  for (const auto& entry : (*body)["replicas"]) {
    if (!entry.contains("replica") || entry["replica"].is_null()) continue;
    const std::string node = entry.value("node", std::string());
    salvage::NodeInventory& inventory = by_node[node];
    inventory.inventory.set_node(node);
    v1::Replica replica;
    if (!google::protobuf::util::JsonStringToMessage(entry["replica"].dump(), &replica, options).ok()) {
      std::cerr << "sentinelctl plan: the collector sent a replica of " << node << " that does not parse\n";
      return false;
    }
    *inventory.inventory.add_replicas() = std::move(replica);
  }
  for (auto& [node, inventory] : by_node) out->push_back(std::move(inventory));
  return true;
}

constexpr const char* kUsage =
    "sentinelctl plan VOLUME --inventory FILE [--inventory FILE]... [--longhorn-version vX.Y.Z]\n"
    "sentinelctl plan VOLUME --collector URL [--longhorn-version vX.Y.Z]\n"
    "                 [--revision-counter enabled|disabled|auto] [--json [--compact]]\n"
    "\n"
    "Works out which replicas of VOLUME to salvage, from the inventories of every node that holds one (each\n"
    "written by `sentinelctl scan --json` on that node; `--deep --chunks` adds content digests, so the plan can\n"
    "tell which replicas hold the same data and where divergent ones differ). Nothing is changed anywhere.\n"
    "\n"
    "It prints: every replica ranked with its evidence (usable or not and why, revision counter, head mtime and\n"
    "allocated size, content digest); the replicas to select in Longhorn's Salvage dialog and why; what\n"
    "Longhorn's own engine would keep for the given version and revision-counter mode, with a WARNING where\n"
    "that differs; divergent replicas and the byte ranges that differ; and the exact commands to carry it out.\n"
    "\n"
    "Examples:\n"
    "  # on each node that holds a replica:\n"
    "  sentinelctl scan --deep --chunks --json > /tmp/$(hostname).json\n"
    "  # anywhere, with the files copied together:\n"
    "  sentinelctl plan pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d \\\n"
    "      --inventory worker-1.json --inventory worker-2.json --longhorn-version v1.5.3\n"
    "  # or from the collector, which holds every node's latest report:\n"
    "  sentinelctl plan pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d --collector http://127.0.0.1:7461\n"
    "  sentinelctl plan pvc-5adeffdc-ee9d-495e-84ed-fa01318b767d --inventory worker-1.json \\\n"
    "      --inventory worker-2.json --json | jq '{recommended, longhornWouldKeep, divergent}'\n"
    "\n"
    "Longhorn's version matters only with the revision counter disabled (its salvage rule changed, with bugs\n"
    "in v1.4.0-v1.6.2). Find it with\n"
    "  kubectl -n longhorn-system get daemonset longhorn-manager \\\n"
    "      -o jsonpath='{.spec.template.spec.containers[0].image}'\n"
    "\n"
    "Exit codes: 0 the plan was made (read its warnings); 1 it could not be made (an inventory file cannot be\n"
    "read or parsed, no inventory holds a replica of VOLUME, or the collector cannot be reached or knows no\n"
    "replica of it); 2 usage error (bad option, neither --inventory nor --collector, or\n"
    "a VOLUME that matches no replica and is not a valid Longhorn volume name, e.g. with a stray '~').\n"
    "\n"
    "Options";

}  // namespace

int run_plan_command(const CommandArgs& args) {
  po::options_description opts(kUsage);
  opts.add_options()("help,h", "show this help")(
      "inventory,i", po::value<std::vector<std::string>>()->composing(),
      "an inventory file (`sentinelctl scan --json` output) of one node; repeatable, one per node")(
      "collector", po::value<std::string>(),
      "read the volume's replicas from sentinel-collector's HTTP API (http://HOST:PORT) instead of files")(
      "longhorn-version", po::value<std::string>()->default_value(""),
      "the Longhorn version to predict (vX.Y.Z); default unknown: every outcome any version may reach")(
      "revision-counter", po::value<std::string>()->default_value("auto"),
      "enabled, disabled, or auto (inferred: disabled when a replica has no revision.counter file)")(
      "json", po::bool_switch(), "print the plan as JSON (protobuf JSON mapping of sentinel.v1.SalvagePlan)")(
      "compact", po::bool_switch(), "with --json: one line, no indentation");
  po::options_description hidden;
  hidden.add_options()("volume", po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description positional;
  positional.add("volume", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "sentinelctl plan: " << sentinel::wire::option_error_text(e, args) << "\n\n" << opts << "\n";
    return kExitUsage;
  }
  if (vm.count("help")) {
    std::cout << opts << "\n";
    return kExitOk;
  }
  auto usage_error = [&](const std::string& message) {
    std::cerr << "sentinelctl plan: " << message << "\n\nRun 'sentinelctl plan --help' for the options.\n";
    return kExitUsage;
  };
  const auto volumes = vm.count("volume") ? vm["volume"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (volumes.size() != 1) return usage_error("give exactly one VOLUME");
  const std::string& volume = volumes.front();
  const bool from_collector = vm.count("collector") > 0;
  if (from_collector == (vm.count("inventory") > 0)) {
    return usage_error("give --inventory FILE (one or more) or --collector URL");
  }

  salvage::PlanOptions options;
  options.longhorn_version = vm["longhorn-version"].as<std::string>();
  if (!options.longhorn_version.empty() && !salvage::parse_longhorn_version(options.longhorn_version)) {
    return usage_error("--longhorn-version \"" + options.longhorn_version + "\" is not vX.Y.Z (e.g. v1.5.3)");
  }
  const auto choice = salvage::parse_revision_counter_choice(vm["revision-counter"].as<std::string>());
  if (!choice) return usage_error("--revision-counter takes enabled, disabled or auto");
  options.revision_counter = *choice;

  std::vector<salvage::NodeInventory> inventories;
  if (from_collector) {
    if (const std::string problem = salvage::volume_name_problem(volume); !problem.empty()) {
      return usage_error("\"" + volume + "\" is not a Longhorn volume name: " + problem);
    }
    if (!read_from_collector(vm["collector"].as<std::string>(), volume, &inventories)) return kExitCouldNotRun;
  }
  for (const auto& path : from_collector ? std::vector<std::string>{} : vm["inventory"].as<std::vector<std::string>>()) {
    salvage::NodeInventory loaded;
    std::string error;
    if (!read_inventory_file(path, &loaded, &error)) {
      std::cerr << "sentinelctl plan: " << error << "\n";
      return kExitCouldNotRun;
    }
    inventories.push_back(std::move(loaded));
  }

  const std::string name_problem = salvage::volume_name_problem(volume);
  const salvage::VolumeReplicas replicas = salvage::replicas_of_volume(inventories, volume);
  if (replicas.replicas.empty()) {
    const auto present = salvage::volumes_in(inventories);
    std::string known;
    for (const auto& name : present) known += "\n  " + name;
    const std::string listing =
        present.empty() ? "\nThe inventories hold no replica at all." : "\nVolumes in the inventories:" + known;
    if (!name_problem.empty()) {
      std::cerr << "sentinelctl plan: \"" << volume << "\" is not a Longhorn volume name: " << name_problem << listing
                << "\n";
      return kExitUsage;
    }
    std::cerr << "sentinelctl plan: no inventory holds a replica of " << volume << listing << "\n";
    return kExitCouldNotRun;
  }

  const salvage::PlanResult result = salvage::make_salvage_plan(volume, replicas, options);
  if (!result.ok()) {
    std::cerr << "sentinelctl plan: " << result.message << "\n";
    return result.error == salvage::PlanError::kBadOption ? kExitUsage : kExitCouldNotRun;
  }
  if (vm["json"].as<bool>()) {
    std::cout << message_to_json(result.plan, !vm["compact"].as<bool>()) << "\n";
  } else {
    print_plan_text(result.plan, std::cout);
  }
  return kExitOk;
}

}  // namespace sentinel::tools
