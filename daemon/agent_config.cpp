#include "daemon/agent_config.h"

#include <grp.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <charconv>
#include <iterator>
#include <fstream>
#include <sstream>

#include "proto/wire/duration.h"
#include "proto/wire/option_error.h"

namespace po = boost::program_options;

namespace sentinel::daemon {

namespace {

constexpr const char* kUsage =
    "sentinel-agent: scans this node's Longhorn replicas (read-only) and reports them to sentinel-collector\n"
    "\n"
    "Usage: sentinel-agent [--config FILE] [options]\n"
    "\n"
    "Runs a quick scan (metadata, chains, sizes, extent maps; no data read) every --quick-interval, a deep scan\n"
    "(Longhorn's snapshot crc64 and the merged volume's content digest) every --deep-interval or on demand,\n"
    "keeps every report in a spool under --state-dir until the collector acks it, and answers\n"
    "'sentinelctl status' and 'sentinelctl scan --socket PATH' on the local socket.\n"
    "\n"
    "Examples:\n"
    "  sentinel-agent --collector collector.example:7460\n"
    "  sentinel-agent --disk /var/lib/longhorn --disk /mnt/ssd1 --node worker-1 --deep-interval 24h\n"
    "  sentinel-agent --config /etc/sentinel/agent.conf      # same keys as the flags: disk = /mnt/ssd1\n"
    "\n"
    "Durations take a unit: 500ms, 2s, 60s, 5m, 1h, 1d. Signals: SIGTERM/SIGINT stop (the running scan is\n"
    "cancelled, acked reports flushed), SIGHUP re-reads the config file.\n"
    "\n"
    "Options";

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "";
  return buf;
}

bool valid_host_port(const std::string& value) {
  const auto colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) return false;
  const std::string port = value.substr(colon + 1);
  if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return false;
  const int number = std::stoi(port);
  return number > 0 && number < 65536;
}

// Kubernetes node names: lowercase RFC 1123 subdomain. Anything else would not match Longhorn's node names.
bool valid_node_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return name.front() != '-' && name.front() != '.' && name.back() != '-' && name.back() != '.';
}

std::optional<gid_t> group_id(const std::string& name) {
  std::vector<char> buf(16384);
  group entry{};
  group* result = nullptr;
  if (::getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &result) != 0 || result == nullptr) {
    // A numeric gid: only one that fits gid_t and is not (gid_t)-1 ("no group" to chown). Parsed without stoul,
    // which threw out of this never-throwing parser for 20 digits and wrapped 4294967296 around to gid 0 (root).
    gid_t gid = 0;
    const char* end = name.data() + name.size();
    const auto [ptr, ec] = std::from_chars(name.data(), end, gid);
    if (!name.empty() && ec == std::errc() && ptr == end && gid != static_cast<gid_t>(-1)) return gid;
    return std::nullopt;
  }
  return result->gr_gid;
}

}  // namespace

ConfigOutcome parse_agent_config(const std::vector<std::string>& args) {
  ConfigOutcome outcome;
  po::options_description opts(kUsage);
  // clang-format off
  opts.add_options()
    ("help,h", "show this help")
    ("version", "print the version")
    ("config", po::value<std::string>(), "a config file (INI: key = value; the same names as the flags)")
    ("disk", po::value<std::vector<std::string>>()->composing(),
     "a Longhorn disk path (the directory holding replicas/); repeatable; default /var/lib/longhorn")
    ("node", po::value<std::string>(), "this node's name as Kubernetes knows it; default the host name")
    ("collector", po::value<std::string>(), "HOST:PORT of sentinel-collector; none = local only")
    ("socket", po::value<std::string>()->default_value("/run/sentinel/agent.sock"),
     "the local control socket (mode 0660; a stale file is removed at start)")
    ("socket-group", po::value<std::string>(),
     "a group (name or gid) whose members may use the socket besides root")
    ("state-dir", po::value<std::string>()->default_value("/var/lib/sentinel"),
     "where reports are spooled until the collector acks them")
    ("quick-interval", po::value<std::string>()->default_value("60s"), "time between quick scans")
    ("deep-interval", po::value<std::string>()->default_value("off"),
     "time between deep scans (they read every allocated byte); off = on demand only")
    ("max-read-mbps", po::value<uint64_t>()->default_value(0), "deep-scan read cap in MB/s; 0 = none")
    ("scan-threads", po::value<unsigned>()->default_value(2),
     "replica directories a quick scan reads at once, and the read lanes (threads) a deep scan reads one big "
     "file with; 1 keeps the load lowest")
    ("spool-max-reports", po::value<uint32_t>()->default_value(1000),
     "reports kept while the collector is away; beyond it the oldest quick scans are dropped (deep kept)")
    ("spool-max-mib", po::value<uint64_t>()->default_value(256), "the spool's size bound in MiB")
    ("max-frame-bytes", po::value<uint64_t>()->default_value(64ull << 20),
     "largest frame accepted on the local socket and from the collector")
    ("ack-timeout", po::value<std::string>()->default_value("30s"),
     "reconnect when the collector has not acked a report for this long")
    ("reconnect-max", po::value<std::string>()->default_value("30s"),
     "the longest wait between reconnect attempts (exponential backoff with jitter up to it)")
    ("tls-ca", po::value<std::string>(), "TLS: the CA that signed the collector's certificate (PEM)")
    ("tls-cert", po::value<std::string>(), "TLS: this agent's certificate (PEM), CN = the node name")
    ("tls-key", po::value<std::string>(), "TLS: the key of --tls-cert (PEM)")
    ("tls-server-name", po::value<std::string>(),
     "TLS: the name the collector's certificate must carry; default the --collector host")
    ("log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error");
  // clang-format on

  po::variables_map vm;
  bool input_has_percent = wire::has_percent(args);
  try {
    po::store(po::command_line_parser(args).options(opts).run(), vm);
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) {
        outcome.error = "cannot read config file " + path;
        return outcome;
      }
      const std::string text{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
      input_has_percent = input_has_percent || text.find('%') != std::string::npos;
      std::istringstream lines(text);
      po::store(po::parse_config_file(lines, opts), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    outcome.error = wire::option_error_text(e, input_has_percent);
    return outcome;
  }
  if (vm.count("help")) {
    std::ostringstream text;
    text << opts << "\n";
    outcome.print = text.str();
    return outcome;
  }
  if (vm.count("version")) {
    outcome.print = std::string("sentinel-agent ") + SENTINEL_VERSION_STRING + "\n";
    return outcome;
  }

  AgentConfig config;
  config.config_file = vm.count("config") ? vm["config"].as<std::string>() : "";
  config.disks = vm.count("disk") ? vm["disk"].as<std::vector<std::string>>()
                                  : std::vector<std::string>{"/var/lib/longhorn"};
  config.node = vm.count("node") ? vm["node"].as<std::string>() : host_name();
  if (!valid_node_name(config.node)) {
    outcome.error = "--node '" + config.node +
                    "' is not a Kubernetes node name (lowercase letters, digits, '-' and '.'); give --node";
    return outcome;
  }
  config.collector = vm.count("collector") ? vm["collector"].as<std::string>() : "";
  if (!config.collector.empty() && !valid_host_port(config.collector)) {
    outcome.error = "--collector '" + config.collector + "' is not HOST:PORT (e.g. collector.example:7460)";
    return outcome;
  }
  config.socket_path = vm["socket"].as<std::string>();
  if (config.socket_path.empty() || config.socket_path.size() > 107) {
    outcome.error = "--socket must be a path of 1 to 107 bytes";
    return outcome;
  }
  if (vm.count("socket-group")) {
    config.socket_group_name = vm["socket-group"].as<std::string>();
    config.socket_group = group_id(config.socket_group_name);
    if (!config.socket_group) {
      outcome.error = "--socket-group '" + config.socket_group_name + "' is not a group on this host";
      return outcome;
    }
  }
  config.state_dir = vm["state-dir"].as<std::string>();

  auto duration_option = [&](const char* name, bool allow_off, std::chrono::nanoseconds* out) {
    const std::string text = vm[name].as<std::string>();
    if (allow_off && text == "off") {
      *out = std::chrono::nanoseconds(0);
      return true;
    }
    std::string why;
    auto value = wire::parse_duration(text, &why);
    if (!value || *value <= std::chrono::nanoseconds(0)) {
      outcome.error = std::string("--") + name + " '" + text + "': " +
                      (value ? std::string("must be more than 0") : why) + (allow_off ? " (or off)" : "");
      return false;
    }
    *out = *value;
    return true;
  };
  if (!duration_option("quick-interval", false, &config.quick_interval) ||
      !duration_option("deep-interval", true, &config.deep_interval) ||
      !duration_option("ack-timeout", false, &config.ack_timeout) ||
      !duration_option("reconnect-max", false, &config.reconnect_max)) {
    return outcome;
  }
  config.max_read_mbps = vm["max-read-mbps"].as<uint64_t>();
  config.scan_threads = vm["scan-threads"].as<unsigned>();
  if (config.scan_threads == 0 || config.scan_threads > 64) {
    outcome.error = "--scan-threads must be 1 to 64";
    return outcome;
  }
  config.spool_max_reports = vm["spool-max-reports"].as<uint32_t>();
  config.spool_max_bytes = vm["spool-max-mib"].as<uint64_t>() << 20;
  if (config.spool_max_reports < 2 || config.spool_max_bytes == 0) {
    outcome.error = "--spool-max-reports must be at least 2 and --spool-max-mib at least 1";
    return outcome;
  }
  config.max_frame_bytes = vm["max-frame-bytes"].as<uint64_t>();
  if (config.max_frame_bytes < 4096) {
    outcome.error = "--max-frame-bytes must be at least 4096";
    return outcome;
  }
  auto text = [&](const char* name) { return vm.count(name) ? vm[name].as<std::string>() : std::string(); };
  config.tls_ca = text("tls-ca");
  config.tls_cert = text("tls-cert");
  config.tls_key = text("tls-key");
  config.tls_server_name = text("tls-server-name");
  const int tls_given = !config.tls_ca.empty() + !config.tls_cert.empty() + !config.tls_key.empty();
  if (tls_given != 0 && tls_given != 3) {
    outcome.error = "TLS needs all of --tls-ca, --tls-cert and --tls-key (or none of them)";
    return outcome;
  }
  if (tls_given == 3 && config.collector.empty()) {
    outcome.error = "--tls-* options need --collector";
    return outcome;
  }
  if (tls_given == 3 && config.tls_server_name.empty()) {
    config.tls_server_name = config.collector.substr(0, config.collector.rfind(':'));
    if (config.tls_server_name.size() > 2 && config.tls_server_name.front() == '[') {
      config.tls_server_name = config.tls_server_name.substr(1, config.tls_server_name.size() - 2);
    }
  }
  config.log_level = vm["log-level"].as<std::string>();
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  if (std::find(std::begin(kLevels), std::end(kLevels), config.log_level) == std::end(kLevels)) {
    outcome.error = "--log-level '" + config.log_level + "': use trace, debug, info, warn or error";
    return outcome;
  }
  outcome.config = std::move(config);
  return outcome;
}

std::string describe(const AgentConfig& config) {
  std::ostringstream out;
  out << "node=" << config.node << " disks=";
  for (size_t i = 0; i < config.disks.size(); ++i) out << (i ? "," : "") << config.disks[i];
  out << " collector=" << (config.collector.empty() ? "none (local only)" : config.collector)
      << " socket=" << config.socket_path << " state-dir=" << config.state_dir
      << " quick-interval=" << wire::format_duration(config.quick_interval) << " deep-interval="
      << (config.deep_interval.count() ? wire::format_duration(config.deep_interval) : std::string("off"))
      << " max-read-mbps=" << config.max_read_mbps << " tls=" << (config.tls_ca.empty() ? "off" : "on");
  if (!config.config_file.empty()) out << " config=" << config.config_file;
  return out.str();
}

}  // namespace sentinel::daemon
