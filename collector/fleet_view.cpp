#include "collector/fleet_view.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <algorithm>

#include "proto/wire/wire_form.h"

namespace sentinel::collector {

namespace {

constexpr const char* kReplicaColumns =
    "r.node, r.disk, r.dir, r.volume, r.state, r.size_bytes, r.revision_counter, r.head_mtime_ns, "
    "r.allocated_bytes, r.content_digest, r.findings, r.worst_severity, r.deep_digest, r.deep_scanned_ns, "
    "r.identity = r.deep_identity, r.first_seen_ns, r.changed_ns, n.latest_received_ns, n.latest_scanned_ns, "
    "n.last_report_ns";

ReplicaRow read_replica_row(SQLite::Statement& q, int64_t stale_before_ns) {
  ReplicaRow row;
  row.node = q.getColumn(0).getString();
  row.disk = q.getColumn(1).getString();
  row.dir = q.getColumn(2).getString();
  row.volume = q.getColumn(3).getString();
  row.state = q.getColumn(4).getInt();
  row.size_bytes = static_cast<uint64_t>(q.getColumn(5).getInt64());
  row.revision_counter = q.getColumn(6).getInt64();
  row.head_mtime_ns = q.getColumn(7).getInt64();
  row.allocated_bytes = static_cast<uint64_t>(q.getColumn(8).getInt64());
  row.content_digest = q.getColumn(9).getString();
  row.findings = q.getColumn(10).getString();
  row.worst_severity = q.getColumn(11).getInt();
  row.deep_digest = q.getColumn(12).getString();
  row.deep_scanned_ns = q.getColumn(13).getInt64();
  row.deep_current = !row.deep_digest.empty() && q.getColumn(14).getInt() != 0;
  row.first_seen_ns = q.getColumn(15).getInt64();
  row.changed_ns = q.getColumn(16).getInt64();
  row.last_seen_ns = q.getColumn(17).getInt64();
  row.scanned_ns = q.getColumn(18).getInt64();
  row.node_stale = q.getColumn(19).getInt64() < stale_before_ns;
  return row;
}

template <typename Fn>
auto guarded(std::string* error, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    *error = std::string("cannot read the store: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace

std::string replica_state_name(int state) {
  const std::string& name = v1::Replica::State_Name(static_cast<v1::Replica::State>(state));
  return name.empty() ? std::to_string(state) : name;
}

std::unique_ptr<FleetView> FleetView::open(const std::string& db_path, int64_t stale_after_ns, std::string* error) {
  try {
    auto db = std::make_unique<SQLite::Database>(db_path, SQLite::OPEN_READONLY);
    db->exec("PRAGMA busy_timeout = 5000");
    return std::unique_ptr<FleetView>(new FleetView(std::move(db), stale_after_ns));
  } catch (const std::exception& e) {
    *error = "cannot open the store " + db_path + " for reading: " + e.what();
    return nullptr;
  }
}

std::optional<std::vector<NodeRow>> FleetView::nodes(int64_t now_ns, std::string* error) {
  return guarded(error, [&]() -> std::optional<std::vector<NodeRow>> {
    SQLite::Statement q(*db_,
                        "SELECT n.name, n.agent_version, n.first_seen_ns, n.last_report_ns, n.last_sequence, "
                        "n.latest_sequence, n.latest_received_ns, n.latest_scanned_ns, n.latest_kind, n.last_peer, "
                        "(SELECT count(*) FROM replicas r WHERE r.node = n.name) FROM nodes n ORDER BY n.name");
    std::vector<NodeRow> rows;
    while (q.executeStep()) {
      NodeRow row;
      row.name = q.getColumn(0).getString();
      row.agent_version = q.getColumn(1).getString();
      row.first_seen_ns = q.getColumn(2).getInt64();
      row.last_report_ns = q.getColumn(3).getInt64();
      row.last_sequence = static_cast<uint64_t>(q.getColumn(4).getInt64());
      row.latest_sequence = static_cast<uint64_t>(q.getColumn(5).getInt64());
      row.latest_received_ns = q.getColumn(6).getInt64();
      row.latest_scanned_ns = q.getColumn(7).getInt64();
      row.latest_kind = q.getColumn(8).getInt();
      row.last_peer = q.getColumn(9).getString();
      row.replica_count = static_cast<uint64_t>(q.getColumn(10).getInt64());
      row.stale = row.last_report_ns < now_ns - stale_after_ns_;
      rows.push_back(std::move(row));
    }
    return rows;
  });
}

std::optional<std::vector<VolumeSummary>> FleetView::volumes(int64_t now_ns, std::string* error) {
  return guarded(error, [&]() -> std::optional<std::vector<VolumeSummary>> {
    SQLite::Statement q(*db_, std::string("SELECT ") + kReplicaColumns +
                                  " FROM replicas r JOIN nodes n ON n.name = r.node WHERE r.volume != '' "
                                  "ORDER BY r.volume, r.node, r.disk, r.dir");
    std::vector<VolumeSummary> out;
    while (q.executeStep()) {
      const ReplicaRow row = read_replica_row(q, now_ns - stale_after_ns_);
      if (out.empty() || out.back().name != row.volume) {
        out.emplace_back();
        out.back().name = row.volume;
      }
      VolumeSummary& volume = out.back();
      ++volume.replicas;
      volume.nodes.insert(row.node);
      volume.size_bytes = std::max(volume.size_bytes, row.size_bytes);
      ++volume.states[replica_state_name(row.state)];
      if (row.worst_severity >= v1::Finding::WARNING) ++volume.replicas_with_findings;
      if (row.node_stale) ++volume.stale_replicas;
      volume.max_revision_counter = std::max(volume.max_revision_counter, row.revision_counter);
      if (row.content_digest.empty()) ++volume.replicas_without_digest;
      else volume.digests.insert(row.content_digest);
      volume.last_seen_ns = std::max(volume.last_seen_ns, row.last_seen_ns);
    }
    return out;
  });
}

std::optional<std::vector<ReplicaRow>> FleetView::volume(const std::string& volume, int64_t now_ns,
                                                         bool with_replica, std::string* error) {
  return guarded(error, [&]() -> std::optional<std::vector<ReplicaRow>> {
    SQLite::Statement q(*db_, std::string("SELECT ") + kReplicaColumns +
                                  ", r.replica_pb FROM replicas r JOIN nodes n ON n.name = r.node "
                                  "WHERE r.volume = ? ORDER BY r.node, r.disk, r.dir");
    q.bind(1, volume);
    std::vector<ReplicaRow> rows;
    while (q.executeStep()) {
      ReplicaRow row = read_replica_row(q, now_ns - stale_after_ns_);
      if (with_replica) {
        const auto blob = q.getColumn(20);
        v1::Replica replica;
        if (!replica.ParseFromArray(blob.getBlob(), blob.getBytes())) {
          throw std::runtime_error("the stored replica " + row.node + ":" + row.dir + " does not parse");
        }
        wire::expand_from_wire(&replica);  // stored as the agent sent it: in its wire form
        row.replica = std::move(replica);
      }
      rows.push_back(std::move(row));
    }
    return rows;
  });
}

std::optional<std::vector<HistoryRow>> FleetView::history(const std::string& volume, uint64_t limit,
                                                          std::string* error) {
  return guarded(error, [&]() -> std::optional<std::vector<HistoryRow>> {
    // Node by node (the history index is by node, so ingest writes one index page per report), newest first,
    // then merged.
    SQLite::Statement nodes(*db_, "SELECT DISTINCT node FROM replica_keys WHERE volume = ?");
    nodes.bind(1, volume);
    std::vector<std::string> node_names;
    while (nodes.executeStep()) node_names.push_back(nodes.getColumn(0).getString());
    SQLite::Statement q(*db_,
                        "SELECT node, disk, dir, observed_ns, sequence, kind, state, revision_counter, "
                        "head_mtime_ns, allocated_bytes, content_digest, findings, gone, id FROM replica_history "
                        "WHERE node = ? AND volume = ? ORDER BY id DESC LIMIT ?");
    std::vector<std::pair<int64_t, HistoryRow>> rows;  // (id, row)
    for (const auto& node : node_names) {
      q.bind(1, node);
      q.bind(2, volume);
      q.bind(3, static_cast<int64_t>(limit));
      while (q.executeStep()) {
        HistoryRow row;
        row.node = q.getColumn(0).getString();
        row.disk = q.getColumn(1).getString();
        row.dir = q.getColumn(2).getString();
        row.observed_ns = q.getColumn(3).getInt64();
        row.sequence = static_cast<uint64_t>(q.getColumn(4).getInt64());
        row.kind = q.getColumn(5).getInt();
        row.state = q.getColumn(6).getInt();
        row.revision_counter = q.getColumn(7).getInt64();
        row.head_mtime_ns = q.getColumn(8).getInt64();
        row.allocated_bytes = static_cast<uint64_t>(q.getColumn(9).getInt64());
        row.content_digest = q.getColumn(10).getString();
        row.findings = q.getColumn(11).getString();
        row.gone = q.getColumn(12).getInt() != 0;
        rows.emplace_back(q.getColumn(13).getInt64(), std::move(row));
      }
      q.reset();
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
      return a.second.observed_ns != b.second.observed_ns ? a.second.observed_ns > b.second.observed_ns
                                                          : a.first > b.first;
    });
    if (rows.size() > limit) rows.resize(limit);
    std::vector<HistoryRow> out;
    out.reserve(rows.size());
    for (auto& [id, row] : rows) out.push_back(std::move(row));
    return out;
  });
}

std::optional<FleetStats> FleetView::stats(int64_t now_ns, std::string* error) {
  return guarded(error, [&]() -> std::optional<FleetStats> {
    // One read transaction: the numbers come from one snapshot.
    SQLite::Transaction snapshot(*db_);
    FleetStats stats;
    SQLite::Statement nodes(*db_, "SELECT count(*), coalesce(sum(last_report_ns < ?), 0) FROM nodes");
    nodes.bind(1, now_ns - stale_after_ns_);
    if (nodes.executeStep()) {
      stats.nodes = static_cast<uint64_t>(nodes.getColumn(0).getInt64());
      stats.nodes_stale = static_cast<uint64_t>(nodes.getColumn(1).getInt64());
    }
    SQLite::Statement replicas(*db_,
                               "SELECT count(*), coalesce(sum(worst_severity >= ?), 0), "
                               "count(DISTINCT nullif(volume, '')) FROM replicas");
    replicas.bind(1, static_cast<int32_t>(v1::Finding::WARNING));
    if (replicas.executeStep()) {
      stats.replicas = static_cast<uint64_t>(replicas.getColumn(0).getInt64());
      stats.replicas_with_findings = static_cast<uint64_t>(replicas.getColumn(1).getInt64());
      stats.volumes = static_cast<uint64_t>(replicas.getColumn(2).getInt64());
    }
    stats.available = true;
    return stats;
  });
}

bool FleetView::healthy(std::string* error) {
  try {
    return db_->execAndGet("SELECT count(*) FROM nodes").getInt64() >= 0;
  } catch (const std::exception& e) {
    *error = std::string("cannot read the store: ") + e.what();
    return false;
  }
}

}  // namespace sentinel::collector
