// The collector's durable store (SQLite, WAL): every report's record, each node's latest replicas, and the
// history of every replica's key facts. This is the write side; fleet_view.h reads the same file.
//
// Contract:
// - One owner thread (the committer's): Store is not thread-safe. Readers use their own connections (WAL lets
//   them read while a batch commits).
// - store_reports() applies a batch of reports in ONE transaction: all of them are durable when it returns an
//   outcome list, none of them when it returns an error (the transaction was rolled back and the in-memory
//   caches restored). With SyncMode::kFull the commit fsyncs the WAL: an acked report survives power loss;
//   with kNormal it survives a crash of this process (kill -9), not of the machine.
// - Idempotent by (node, sequence): a report already stored is reported `duplicate` and changes nothing.
// - Replicas arrive as the agent serialized them (ReportView): a replica whose bytes equal what the store holds
//   for that (node, disk, dir) is not even parsed. A report with a replica that does not parse is `malformed`
//   and not stored at all (the other reports of the batch are).
// - A report whose sequence is below the node's latest applied one is recorded but does not replace the latest
//   replicas (`superseded`): an old report re-sent on a second connection cannot roll the view back.
// - Latest replicas: a report replaces the node's replica rows (only the rows of `report.volume` when the
//   report is limited to one volume). An unchanged replica (same serialized bytes) is not rewritten. The last
//   deep scan's results survive later quick reports while they still hold (see replica_facts.h).
// - History: a row per replica when its facts (state, revision counter, head mtime, allocated bytes, the
//   digest that holds, findings) change, and one when it disappears. prune() removes history and report
//   records received before a cutoff, a bounded number of rows per call.
// - open() takes an exclusive lock (<db>.lock, flock) so two collectors never write one store.
// - Events (only after set_record_events(true), i.e. the collector publishes to RabbitMQ): in the same
//   transaction as the report, a row in event_outbox per replica.changed.<volume> (a history row for a present
//   replica), replica.missing.<volume> (a replica disappeared) and checksum.mismatch.<volume> (CHECKSUM_MISMATCH
//   or CHECKSUM_FLAGGED newly among the findings); payload: sentinel.v1.Event without event_id and sequence.
//   amqp_publisher.h publishes and deletes them. Off: not one statement or allocation more per report.
#pragma once

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "collector/config.h"
#include "collector/replica_facts.h"
#include "sentinel/v1/wire.pb.h"

namespace sentinel::v1 {
class Event;
}

namespace sentinel::collector {

struct ReportToStore {
  std::string node;   // the node the connection said Hello as (== report->inventory().node())
  std::string peer;   // address of the connection, for the record
  int64_t received_ns = 0;
  uint64_t wire_bytes = 0;
  const v1::ReportView* report = nullptr;  // not owned; valid for the duration of store_reports()
};

struct StoredReport {
  bool duplicate = false;   // (node, sequence) was already stored; nothing changed
  bool superseded = false;  // stored, but a higher sequence of the node was already applied
  bool malformed = false;   // a replica's bytes are not a sentinel.v1.Replica: NOT stored (problem says which)
  std::string problem;
};

struct PruneResult {
  uint64_t history_rows = 0;
  uint64_t report_rows = 0;
  bool more = false;  // the row limit was reached: call again
};

class Store {
 public:
  // Opens (creating the file and its directory when missing), locks, sets WAL and the sync mode, migrates.
  static std::unique_ptr<Store> open(const std::string& path, SyncMode sync, std::string* error);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // See the contract above. Outcomes are in the order of `reports`.
  std::optional<std::vector<StoredReport>> store_reports(std::span<const ReportToStore> reports, std::string* error);

  // Deletes history rows and report records received before cutoff_ns (the collector's clock): at most max_rows
  // of each.
  std::optional<PruneResult> prune(int64_t cutoff_ns, uint64_t max_rows, std::string* error);

  // The highest sequence stored per node (HelloAck.highest_sequence), as committed.
  std::unordered_map<std::string, uint64_t> highest_sequences() const;
  int schema_version_found() const { return schema_version_found_; }
  // Record events in event_outbox (see the contract). Also makes transactions BEGIN IMMEDIATE: the publisher
  // writes the store from its own connection, and a deferred transaction could not upgrade past its write.
  void set_record_events(bool on) { record_events_ = on; }
  // Events recorded by the last successful store_reports().
  uint64_t events_in_last_commit() const { return events_in_last_commit_; }
  const std::string& path() const { return path_; }

 private:
  struct CachedReplica {
    std::string volume;
    uint64_t fingerprint = 0;
    uint64_t facts = 0;
    uint64_t identity = 0;
    uint64_t deep_identity = 0;
    bool has_deep = false;
    int64_t first_seen_ns = 0;
    uint64_t seen_in = 0;  // the last report (store-local counter) that listed it
    int64_t rowid = 0;     // its row in `replicas`: updates go straight to it, not through the key index
  };
  struct NodeState {
    uint64_t last_sequence = 0;
    uint64_t latest_sequence = 0;
  };
  using ReplicaCache = std::unordered_map<std::string, CachedReplica>;  // key: disk '\0' dir

  Store(std::string path, int lock_fd, std::unique_ptr<SQLite::Database> db);
  void prepare_statements();
  void load_caches();
  // A reported replica, checked and keyed before anything is written.
  struct Incoming {
    std::string key;
    std::string_view disk;
    std::string_view dir;
    std::string_view bytes;
    uint64_t fingerprint = 0;
    bool changed = false;
    CachedReplica* entry = nullptr;  // the cached replica it matched, when unchanged
    v1::Replica parsed;  // when changed
  };
  // A node's last applied report, replica by replica in its order: agents list replicas in a stable order, so
  // an unchanged replica is recognized by position and fingerprint alone (no key parsing, no map lookup).
  // Only an optimization: cleared on rollback, rebuilt by the next report.
  struct LayoutEntry {
    uint64_t fingerprint = 0;
    size_t size = 0;
    CachedReplica* entry = nullptr;  // stable: map nodes do not move; entries erased are never in a layout
  };
  StoredReport store_one(const ReportToStore& item);
  bool prepare(const ReportToStore& item, std::vector<Incoming>* incoming, std::string* problem);
  void apply_to_latest(const ReportToStore& item, std::vector<Incoming>& incoming);
  void forget_undo();
  void undo();
  // The facts of a stored replica row (what an event reports as "previous"), by rowid.
  bool read_facts(int64_t rowid, HistoryFacts* out);
  void record_event(const std::string& routing_key, const v1::Event& event);

  std::string path_;
  int lock_fd_ = -1;
  std::unique_ptr<SQLite::Database> db_;
  int schema_version_found_ = 0;

  std::unordered_map<std::string, NodeState> nodes_;
  std::unordered_map<std::string, ReplicaCache> replicas_;  // by node
  std::unordered_map<std::string, std::vector<LayoutEntry>> layouts_;  // by node
  // Undo log of the cache changes made by the open transaction, replayed backwards on rollback.
  struct NodeUndo {
    std::string node;
    std::optional<NodeState> before;
  };
  struct ReplicaUndo {
    std::string node;
    std::string key;
    std::optional<CachedReplica> before;
  };
  std::vector<NodeUndo> node_undo_;
  std::vector<ReplicaUndo> replica_undo_;

  std::unique_ptr<SQLite::Statement> report_exists_;
  std::unique_ptr<SQLite::Statement> insert_report_;
  std::unique_ptr<SQLite::Statement> upsert_node_;
  std::unique_ptr<SQLite::Statement> insert_replica_;
  std::unique_ptr<SQLite::Statement> update_replica_;
  std::unique_ptr<SQLite::Statement> set_deep_;
  std::unique_ptr<SQLite::Statement> select_deep_pb_;
  std::unique_ptr<SQLite::Statement> delete_replica_;
  std::unique_ptr<SQLite::Statement> insert_history_;
  std::unique_ptr<SQLite::Statement> insert_key_;
  std::unique_ptr<SQLite::Statement> select_facts_;  // events only
  std::unique_ptr<SQLite::Statement> insert_event_;  // events only
  bool record_events_ = false;
  uint64_t events_pending_ = 0;  // recorded by the open transaction
  uint64_t events_in_last_commit_ = 0;
  std::string event_scratch_;
  std::string scratch_;  // serialization buffer, reused
  std::vector<Incoming> incoming_;  // reused per report
  uint64_t report_counter_ = 0;
};

}  // namespace sentinel::collector
