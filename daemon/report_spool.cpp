#include "daemon/report_spool.h"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/atomic_file.h"

namespace sentinel::daemon {

namespace {

constexpr const char* kSuffix = ".report";

std::optional<uint64_t> parse_decimal(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// "00000000000000000042.report" -> 42.
std::optional<uint64_t> sequence_of_file_name(const std::string& name) {
  const size_t suffix_len = std::strlen(kSuffix);
  if (name.size() != 20 + suffix_len || name.compare(20, suffix_len, kSuffix) != 0) return std::nullopt;
  return parse_decimal(std::string_view(name).substr(0, 20));
}

std::vector<std::string> list_directory(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* entry = ::readdir(d)) names.emplace_back(entry->d_name);
  ::closedir(d);
  return names;
}

}  // namespace

ReportSpool::ReportSpool(std::string state_dir, SpoolLimits limits)
    : state_dir_(std::move(state_dir)), spool_dir_(state_dir_ + "/spool"), limits_(limits) {}

std::string ReportSpool::path_of(uint64_t sequence) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu", static_cast<unsigned long long>(sequence));
  return spool_dir_ + "/" + name + kSuffix;
}

std::optional<ReportSpool> ReportSpool::open(const std::string& state_dir, SpoolLimits limits, std::string* error,
                                             std::vector<std::string>* warnings) {
  ReportSpool spool(state_dir, limits);
  if (!make_directories(spool.spool_dir_, error)) return std::nullopt;
  if (::access(spool.spool_dir_.c_str(), W_OK) != 0) {
    *error = "state directory is not writable: " + spool.spool_dir_ + ": " + std::strerror(errno);
    return std::nullopt;
  }

  std::string read_error;
  if (auto text = read_small_file(state_dir + "/sequence", &read_error)) {
    auto value = parse_decimal(*text);
    if (!value) {
      warnings->push_back("ignoring unparsable " + state_dir + "/sequence; continuing after the spool's highest");
    } else {
      spool.last_sequence_ = *value;
    }
  } else if (read_error.rfind("not found", 0) != 0) {
    *error = read_error;
    return std::nullopt;
  }
  if (auto text = read_small_file(state_dir + "/acked", &read_error)) {
    spool.last_acked_ = parse_decimal(*text).value_or(0);
  }

  for (const auto& name : list_directory(spool.spool_dir_)) {
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      // A write the previous run did not finish: its report was never handed out (the rename is the commit).
      ::unlink((spool.spool_dir_ + "/" + name).c_str());
      continue;
    }
    const auto sequence = sequence_of_file_name(name);
    if (!sequence) continue;
    const std::string path = spool.spool_dir_ + "/" + name;
    auto bytes = read_small_file(path, &read_error);
    v1::Report report;
    if (!bytes || !report.ParseFromString(*bytes) || report.sequence() != *sequence) {
      make_directories(spool.spool_dir_ + "/corrupt", &read_error);
      ::rename(path.c_str(), (spool.spool_dir_ + "/corrupt/" + name).c_str());
      warnings->push_back("moved unreadable spool file aside to " + spool.spool_dir_ + "/corrupt/" + name +
                          " (report " + std::to_string(*sequence) + " cannot be re-sent)");
      continue;
    }
    spool.entries_[*sequence] = Entry{bytes->size(), report.kind(), report.coalesced()};
    spool.bytes_ += bytes->size();
    if (*sequence > spool.last_sequence_) spool.last_sequence_ = *sequence;
  }
  return spool;
}

bool ReportSpool::persist_sequence(uint64_t sequence, std::string* error) {
  return write_file_atomically(state_dir_ + "/sequence", std::to_string(sequence) + "\n", error);
}

uint32_t ReportSpool::make_room(uint64_t incoming_bytes, uint64_t incoming_sequence) {
  uint32_t replaced = 0;
  auto over = [&] {
    return entries_.size() + 1 > limits_.max_reports || bytes_ + incoming_bytes > limits_.max_bytes;
  };
  for (auto it = entries_.begin(); over() && it != entries_.end();) {
    if (it->second.kind == v1::DEEP) {
      ++it;
      continue;
    }
    // Logged before the file goes, so a log that lacks the line means the report was not dropped.
    spdlog::info("spool full ({} reports, {} bytes): dropping quick report {}, superseded by report {}",
                 entries_.size(), bytes_, it->first, incoming_sequence);
    ::unlink(path_of(it->first).c_str());
    bytes_ -= it->second.bytes;
    replaced += 1 + it->second.coalesced;  // it stood for the reports it had replaced too
    it = entries_.erase(it);
    ++coalesced_total_;
  }
  return replaced;
}

uint64_t ReportSpool::add(v1::Report report, std::string* error) {
  const uint64_t sequence = last_sequence_ + 1;
  if (!persist_sequence(sequence, error)) return 0;
  last_sequence_ = sequence;
  report.set_sequence(sequence);
  report.set_coalesced(report.coalesced() + make_room(report.ByteSizeLong(), sequence));
  const std::string bytes = report.SerializeAsString();
  if (!write_file_atomically(path_of(sequence), bytes, error)) return 0;
  entries_[sequence] = Entry{bytes.size(), report.kind(), report.coalesced()};
  bytes_ += bytes.size();
  return sequence;
}

std::vector<uint64_t> ReportSpool::pending() const {
  std::vector<uint64_t> sequences;
  sequences.reserve(entries_.size());
  for (const auto& [sequence, entry] : entries_) sequences.push_back(sequence);
  return sequences;
}

std::optional<v1::Report> ReportSpool::load(uint64_t sequence, std::string* error) const {
  auto bytes = read_small_file(path_of(sequence), error);
  if (!bytes) return std::nullopt;
  v1::Report report;
  if (!report.ParseFromString(*bytes)) {
    *error = "spool file does not parse: " + path_of(sequence);
    return std::nullopt;
  }
  return report;
}

void ReportSpool::acknowledge(uint64_t sequence) {
  auto it = entries_.find(sequence);
  if (it == entries_.end()) return;
  ::unlink(path_of(sequence).c_str());
  bytes_ -= it->second.bytes;
  entries_.erase(it);
  if (sequence > last_acked_) {
    last_acked_ = sequence;
    std::string ignored;  // informational only (status); the spool itself is the truth
    write_file_atomically(state_dir_ + "/acked", std::to_string(sequence) + "\n", &ignored);
  }
}

SpoolStats ReportSpool::stats() const {
  return SpoolStats{static_cast<uint32_t>(entries_.size()), bytes_, last_sequence_ + 1, coalesced_total_};
}

}  // namespace sentinel::daemon
