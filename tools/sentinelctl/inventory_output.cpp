#include "tools/sentinelctl/inventory_output.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>
#include <vector>

namespace sentinel::tools {

std::string message_to_json(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;  // "dirty": false must be there for scripts
  options.preserve_proto_field_names = false;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return "{\"error\":\"cannot render " + message.GetTypeName() + " as JSON\"}";
  return out;
}

std::string inventory_to_json(const v1::Inventory& inventory, bool pretty) { return message_to_json(inventory, pretty); }

std::string human_bytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 5) {
    value /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0 || value >= 100.0 || value == static_cast<double>(static_cast<uint64_t>(value))) {
    std::snprintf(buf, sizeof buf, "%.0f %s", value, kUnits[unit]);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

namespace {

std::string state_name(v1::Replica::State state) {
  std::string name = v1::Replica::State_Name(state);
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name;
}

std::string findings_summary(const v1::Replica& replica) {
  if (replica.findings().empty()) return "-";
  std::string out;
  for (const auto& f : replica.findings()) {
    if (!out.empty()) out += ",";
    out += v1::Finding::Code_Name(f.code());
  }
  return out;
}

void print_row(std::ostream& out, const std::vector<std::string>& cells, const std::vector<size_t>& widths) {
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i + 1 == cells.size()) {
      out << cells[i];  // no padding after the last column
    } else {
      out << std::left << std::setw(static_cast<int>(widths[i])) << cells[i] << "  ";
    }
  }
  out << "\n";
}

bool has_deep_scan(const v1::Replica& replica) {
  if (replica.has_content()) return true;
  for (const auto& image : replica.images()) {
    if (!image.crc64().empty() || image.has_stored_checksum()) return true;
  }
  return false;
}

// The deep scan's results: per replica its content digest, per snapshot its crc64 and the verdict on
// Longhorn's stored record, and with --chunks the chunks that hold data.
void print_deep_scan(const v1::Inventory& inventory, std::ostream& out) {
  bool header_printed = false;
  for (const auto& r : inventory.replicas()) {
    if (!has_deep_scan(r)) continue;
    if (!header_printed) {
      out << "\nDeep scan (content: XXH3-128 of the merged volume in 4 MiB chunks, equal on replicas holding the "
             "same bytes; crc64: Longhorn's snapshot checksum):\n";
      header_printed = true;
    }
    out << "  " << r.dir() << "\n    content  ";
    if (!r.content_digest().empty()) {
      const auto& c = r.content();
      out << r.content_digest() << "  " << c.chunk_count() << (c.chunk_count() == 1 ? " chunk, " : " chunks, ")
          << c.nonzero_chunk_count() << " with data, "
          << (c.from_cache() ? std::string("from the cache") : human_bytes(c.read_bytes()) + " read") << "\n";
    } else {
      out << "-  (" << (r.content().skipped().empty() ? "not computed" : r.content().skipped()) << ")\n";
    }
    for (const auto& image : r.images()) {
      if (image.crc64().empty() && !image.has_stored_checksum()) continue;
      std::string state = v1::StoredChecksum::State_Name(image.stored_checksum().state());
      out << "    crc64    " << (image.crc64().empty() ? std::string(16, '-') : image.crc64()) << "  stored "
          << state << "  " << image.name() << (image.crc64_from_cache() ? "  (from the cache)" : "") << "\n";
    }
    for (const auto& chunk : r.content().chunks()) {
      out << "    chunk " << std::left << std::setw(8) << chunk.index() << chunk.digest() << "\n";
    }
  }
}

}  // namespace

void print_inventory_table(const v1::Inventory& inventory, std::ostream& out) {
  size_t findings = 0;
  for (const auto& r : inventory.replicas()) findings += r.findings_size();
  for (const auto& d : inventory.disks()) findings += d.findings_size();
  auto count = [](size_t n, const char* one, const char* many) { return std::to_string(n) + " " + (n == 1 ? one : many); };
  out << "Node " << inventory.node() << ": "
      << count(inventory.replicas_size(), "replica directory", "replica directories") << " on "
      << count(inventory.disks_size(), "disk", "disks") << ", " << count(findings, "finding", "findings")
      << ", scanned in " << inventory.scan_duration_ns() / 1'000'000 << " ms\n";

  const std::vector<std::string> header = {"VOLUME", "DIR", "SIZE", "ALLOCATED", "CHAIN", "COUNTER", "STATE",
                                           "FINDINGS"};
  for (const auto& disk : inventory.disks()) {
    out << "\nDisk " << disk.path();
    if (!disk.disk_uuid().empty()) out << " (uuid " << disk.disk_uuid() << ")";
    out << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : inventory.replicas()) {
      if (r.disk() != disk.path()) continue;
      std::string suffix = r.dir().size() > r.volume().size() && !r.volume().empty()
                               ? r.dir().substr(r.volume().size() + 1)
                               : r.dir();
      rows.push_back({r.volume().empty() ? "?" : r.volume(), suffix, human_bytes(r.size_bytes()),
                      human_bytes(r.allocated_bytes()), std::to_string(r.chain_size()),
                      r.revision_counter_present() ? std::to_string(r.revision_counter()) : "-",
                      state_name(r.state()), findings_summary(r)});
    }
    if (rows.empty()) {
      out << "  (no replica directories)\n";
    } else {
      std::vector<size_t> widths(header.size());
      for (size_t i = 0; i < header.size(); ++i) widths[i] = header[i].size();
      for (const auto& row : rows) {
        for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
      }
      out << "  ";
      print_row(out, header, widths);
      for (const auto& row : rows) {
        out << "  ";
        print_row(out, row, widths);
      }
    }
    for (const auto& f : disk.findings()) {
      out << "  " << v1::Finding::Severity_Name(f.severity()) << " " << v1::Finding::Code_Name(f.code()) << " "
          << f.path() << ": " << f.message() << "\n";
    }
  }

  print_deep_scan(inventory, out);

  bool header_printed = false;
  for (const auto& r : inventory.replicas()) {
    for (const auto& f : r.findings()) {
      if (!header_printed) {
        out << "\nFindings (severity, code, path relative to its disk):\n";
        header_printed = true;
      }
      out << "  " << std::left << std::setw(8) << v1::Finding::Severity_Name(f.severity()) << std::setw(24)
          << v1::Finding::Code_Name(f.code()) << f.path() << "\n      " << f.message() << "\n";
    }
  }
}

}  // namespace sentinel::tools
