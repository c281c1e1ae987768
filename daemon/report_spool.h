// The agent's spool: every report waits here, on disk, until the collector has acked it.
//
// Contract:
// - Layout under <state_dir>: `sequence` (the last sequence number ever handed out, decimal) and
//   `spool/<sequence, 20 digits>.report` (one serialized sentinel.v1.Report each). Every write is atomic
//   (temporary file, fsync, rename, fsync of the directory), so a crash leaves either the old or the new file,
//   never a torn one; a torn or unparsable spool file found at open is moved aside to `spool/corrupt/` and
//   logged, not silently dropped.
// - Sequences start at 1, strictly increase and are never reused, even after the spool empties or the agent
//   restarts: `sequence` is written (durably) before the report that uses the number.
// - Bounded: at most max_reports reports and max_bytes bytes. When a new report would exceed a bound, the
//   oldest QUICK reports are dropped first and the newest report's `coalesced` counts them (a newer quick
//   scan supersedes an older one for the collector's "latest" view), together with the reports each dropped
//   one had itself replaced (so the collector's sum of `coalesced` covers every report it will never see; a
//   report dropped while it was in flight may reach the collector all the same, and is then counted too); DEEP
//   reports are kept. Each drop is logged (info: "dropping quick report N, superseded by report M") before
//   the file goes. A report that cannot fit even then is still written (the spool never refuses the newest
//   scan).
// - Only the reporter removes a report, after its ack (acknowledge()). Reports are handed out in sequence order.
// - Not thread-safe: one owner (the agent's event loop thread).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sentinel/v1/wire.pb.h"

namespace sentinel::daemon {

struct SpoolLimits {
  uint32_t max_reports = 1000;
  uint64_t max_bytes = 256ull << 20;
};

struct SpoolStats {
  uint32_t reports = 0;
  uint64_t bytes = 0;
  uint64_t next_sequence = 1;
  uint64_t coalesced_total = 0;  // quick reports dropped into newer ones since the agent started
};

class ReportSpool {
 public:
  // Opens (creating <state_dir>/spool when missing) and loads what a previous run left. On failure returns
  // nullopt and says why in *error (e.g. the state dir is not writable).
  static std::optional<ReportSpool> open(const std::string& state_dir, SpoolLimits limits, std::string* error,
                                         std::vector<std::string>* warnings);

  // Numbers `report` (sets its sequence), writes it durably and returns the sequence, or 0 with *error.
  uint64_t add(v1::Report report, std::string* error);

  // The sequences waiting for an ack, ascending.
  std::vector<uint64_t> pending() const;
  // Reads a pending report back from disk. nullopt (with *error) when it is gone or unreadable.
  std::optional<v1::Report> load(uint64_t sequence, std::string* error) const;
  // Removes a report after the collector's ack. Unknown sequences are ignored (an ack may repeat).
  void acknowledge(uint64_t sequence);

  SpoolStats stats() const;
  uint64_t last_acked() const { return last_acked_; }
  const std::string& directory() const { return spool_dir_; }

 private:
  struct Entry {
    uint64_t bytes = 0;
    v1::ScanKind kind = v1::QUICK;
    uint32_t coalesced = 0;  // the report's own `coalesced`
  };
  ReportSpool(std::string state_dir, SpoolLimits limits);
  std::string path_of(uint64_t sequence) const;
  bool persist_sequence(uint64_t sequence, std::string* error);
  // Drops the oldest quick reports until one more report of `incoming_bytes` fits, counting each dropped file in
  // coalesced_total_. Returns how many reports the incoming one (`incoming_sequence`) replaces: each dropped one
  // and those it had replaced.
  uint32_t make_room(uint64_t incoming_bytes, uint64_t incoming_sequence);

  std::string state_dir_;
  std::string spool_dir_;
  SpoolLimits limits_;
  std::map<uint64_t, Entry> entries_;
  uint64_t bytes_ = 0;
  uint64_t last_sequence_ = 0;
  uint64_t last_acked_ = 0;
  uint64_t coalesced_total_ = 0;
};

}  // namespace sentinel::daemon
