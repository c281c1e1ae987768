// The fleet, read from the store: nodes with their last report and staleness, volumes with their replicas
// across nodes, and replica history. The HTTP API's only data source.
//
// Contract:
// - Its own read-only SQLite connection (WAL: reads never wait for the committer's transactions, and see only
//   committed reports). One owner thread (the HTTP thread); not thread-safe.
// - Errors are values: every query returns nullopt with *error when the store cannot be read.
// - A node is stale when its last report was received more than stale_after before `now_ns`; its replicas are
//   kept and flagged (node_stale), never dropped.
// - A replica's content digest is the one that holds now: its own (deep report) or its last deep scan's while
//   its chain's images are unchanged (the store merges that in). deep_digest/deep_scanned_ns name the last deep
//   scan even when it no longer holds (deep_current false).
#pragma once

#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "collector/metrics.h"
#include "sentinel/v1/inventory.pb.h"

namespace sentinel::collector {

struct NodeRow {
  std::string name;
  std::string agent_version;
  int64_t first_seen_ns = 0;
  int64_t last_report_ns = 0;
  uint64_t last_sequence = 0;
  uint64_t latest_sequence = 0;
  int64_t latest_received_ns = 0;
  int64_t latest_scanned_ns = 0;
  int latest_kind = 0;
  std::string last_peer;
  uint64_t replica_count = 0;
  bool stale = false;
};

struct ReplicaRow {
  std::string node;
  std::string disk;
  std::string dir;
  std::string volume;
  int state = 0;
  uint64_t size_bytes = 0;
  int64_t revision_counter = 0;
  int64_t head_mtime_ns = 0;
  uint64_t allocated_bytes = 0;
  std::string content_digest;  // holds now ("" = unknown)
  std::string findings;        // codes, comma separated
  int worst_severity = 0;
  std::string deep_digest;     // the last deep scan's ("" = never deep scanned)
  int64_t deep_scanned_ns = 0;
  bool deep_current = false;   // the last deep scan still describes the replica
  int64_t first_seen_ns = 0;
  int64_t changed_ns = 0;
  int64_t last_seen_ns = 0;    // received time of the node's report these rows come from
  int64_t scanned_ns = 0;      // that report's scan time
  bool node_stale = false;
  std::optional<v1::Replica> replica;  // the stored replica, when asked for
};

struct VolumeSummary {
  std::string name;
  uint64_t replicas = 0;
  std::set<std::string> nodes;
  uint64_t size_bytes = 0;               // the largest reported (replicas should agree)
  std::map<std::string, uint64_t> states;  // state name -> replicas
  uint64_t replicas_with_findings = 0;   // WARNING or ERROR
  uint64_t stale_replicas = 0;           // on stale nodes
  int64_t max_revision_counter = 0;
  std::set<std::string> digests;         // distinct digests that hold now
  uint64_t replicas_without_digest = 0;
  int64_t last_seen_ns = 0;
};

struct HistoryRow {
  std::string node;
  std::string disk;
  std::string dir;
  int64_t observed_ns = 0;
  uint64_t sequence = 0;
  int kind = 0;
  int state = 0;
  int64_t revision_counter = 0;
  int64_t head_mtime_ns = 0;
  uint64_t allocated_bytes = 0;
  std::string content_digest;
  std::string findings;
  bool gone = false;
};

class FleetView {
 public:
  static std::unique_ptr<FleetView> open(const std::string& db_path, int64_t stale_after_ns, std::string* error);

  std::optional<std::vector<NodeRow>> nodes(int64_t now_ns, std::string* error);
  std::optional<std::vector<VolumeSummary>> volumes(int64_t now_ns, std::string* error);
  // Every replica of `volume`, by (node, disk, dir); with_replica: parse and attach the stored v1::Replica.
  std::optional<std::vector<ReplicaRow>> volume(const std::string& volume, int64_t now_ns, bool with_replica,
                                                std::string* error);
  // Newest first, at most `limit` rows.
  std::optional<std::vector<HistoryRow>> history(const std::string& volume, uint64_t limit, std::string* error);
  std::optional<FleetStats> stats(int64_t now_ns, std::string* error);
  bool healthy(std::string* error);

 private:
  FleetView(std::unique_ptr<SQLite::Database> db, int64_t stale_after_ns)
      : db_(std::move(db)), stale_after_ns_(stale_after_ns) {}
  std::unique_ptr<SQLite::Database> db_;
  int64_t stale_after_ns_;
};

// "DIRTY" etc. for Replica::State values.
std::string replica_state_name(int state);

}  // namespace sentinel::collector
