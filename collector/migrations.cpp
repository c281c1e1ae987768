#include "collector/migrations.h"

#include <SQLiteCpp/Transaction.h>

#include <array>

namespace sentinel::collector {

namespace {

// Times are nanoseconds since the Unix epoch (what the inventory carries). Keys are the natural ones: a node
// by name, a replica by (node, disk, dir), a report by (node, sequence).
constexpr const char* kVersion1 = R"sql(
CREATE TABLE nodes (
  name               TEXT PRIMARY KEY,
  agent_version      TEXT NOT NULL DEFAULT '',
  first_seen_ns      INTEGER NOT NULL,
  last_report_ns     INTEGER NOT NULL,  -- received time of the newest stored report
  last_sequence      INTEGER NOT NULL,  -- highest sequence stored (HelloAck.highest_sequence)
  latest_sequence    INTEGER NOT NULL DEFAULT 0,  -- the report the latest replica rows come from
  latest_received_ns INTEGER NOT NULL DEFAULT 0,
  latest_scanned_ns  INTEGER NOT NULL DEFAULT 0,
  latest_kind        INTEGER NOT NULL DEFAULT 0,
  last_peer          TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- Every report stored, for idempotency ((node, sequence) is applied once) and for the record. Pruned with
-- --retention.
CREATE TABLE reports (
  node          TEXT NOT NULL,
  sequence      INTEGER NOT NULL,
  kind          INTEGER NOT NULL,
  received_ns   INTEGER NOT NULL,
  created_ns    INTEGER NOT NULL,
  size_bytes    INTEGER NOT NULL,
  replica_count INTEGER NOT NULL,
  volume        TEXT NOT NULL DEFAULT '',
  coalesced     INTEGER NOT NULL DEFAULT 0,
  superseded    INTEGER NOT NULL DEFAULT 0,  -- arrived after a higher sequence: recorded, not applied to latest
  PRIMARY KEY (node, sequence)
) WITHOUT ROWID;
CREATE INDEX reports_by_time ON reports (received_ns);

-- The latest replicas of each node: the newest report's inventory. The deep_* columns keep the last deep
-- scan's result across later quick reports; it still holds while identity == deep_identity (the chain's images
-- have the same names, inodes, sizes, mtimes and ctimes as when the deep scan read them).
CREATE TABLE replicas (
  node               TEXT NOT NULL,
  disk               TEXT NOT NULL,
  dir                TEXT NOT NULL,
  volume             TEXT NOT NULL,
  state              INTEGER NOT NULL,
  size_bytes         INTEGER NOT NULL,
  revision_counter   INTEGER NOT NULL,
  head_mtime_ns      INTEGER NOT NULL,
  allocated_bytes    INTEGER NOT NULL,
  content_digest     TEXT NOT NULL,     -- this report's own digest ('' unless it was a deep scan)
  findings           TEXT NOT NULL,     -- finding codes, comma separated, sorted
  worst_severity     INTEGER NOT NULL,
  identity           INTEGER NOT NULL,  -- hash of the chain images' (name, inode, size, mtime, ctime)
  fingerprint        INTEGER NOT NULL,  -- hash of replica_pb: an unchanged replica is not rewritten
  facts              INTEGER NOT NULL,  -- hash of the history facts: history gets a row when it changes
  replica_pb         BLOB NOT NULL,     -- sentinel.v1.Replica from the newest report
  first_seen_ns      INTEGER NOT NULL,
  changed_ns         INTEGER NOT NULL,  -- received time of the report that last changed replica_pb
  deep_digest        TEXT NOT NULL DEFAULT '',
  deep_identity      INTEGER NOT NULL DEFAULT 0,
  deep_scanned_ns    INTEGER NOT NULL DEFAULT 0,
  deep_pb            BLOB               -- sentinel.v1.Replica of the last deep scan that produced a digest
);
-- A rowid table (rows hold a ~1 KiB blob: WITHOUT ROWID suits small rows only), unique by its natural key.
CREATE UNIQUE INDEX replicas_by_key ON replicas (node, disk, dir);
CREATE INDEX replicas_by_volume ON replicas (volume);

-- Key facts of every replica over time, a row only when they change (and one when the replica disappears).
CREATE TABLE replica_history (
  id               INTEGER PRIMARY KEY,
  node             TEXT NOT NULL,
  disk             TEXT NOT NULL,
  dir              TEXT NOT NULL,
  volume           TEXT NOT NULL,
  observed_ns      INTEGER NOT NULL,  -- the scan's time (received time when the agent sent none)
  sequence         INTEGER NOT NULL,
  kind             INTEGER NOT NULL,
  state            INTEGER NOT NULL,
  revision_counter INTEGER NOT NULL,
  head_mtime_ns    INTEGER NOT NULL,
  allocated_bytes  INTEGER NOT NULL,
  content_digest   TEXT NOT NULL,     -- the digest that holds at that time ('' = unknown)
  findings         TEXT NOT NULL,
  gone             INTEGER NOT NULL DEFAULT 0, -- the replica was no longer in the node's inventory
  received_ns      INTEGER NOT NULL            -- when the collector received it: rows are appended in this order
);
-- By node (and so by id within a node): a report's history rows land at the end of one node's range, one index
-- page per report instead of one per row. A volume's history is read node by node (replica_keys says which).
CREATE INDEX history_by_node ON replica_history (node);
-- Every replica ever seen, by volume: which nodes to read a volume's history from (rows added on first sight).
CREATE TABLE replica_keys (
  volume TEXT NOT NULL,
  node   TEXT NOT NULL,
  disk   TEXT NOT NULL,
  dir    TEXT NOT NULL,
  PRIMARY KEY (volume, node, disk, dir)
) WITHOUT ROWID;
-- No time index: retention deletes the oldest rows by id (they were received first), which costs nothing on
-- insert; a time index would be one more B-tree write per history row at ingest.
)sql";

// Events for RabbitMQ (collector/amqp_publisher.h). store_meta.store_id makes event ids unique across stores.
// event_outbox: events committed with the report that caused them, deleted once the broker confirmed them
// (written only when the collector runs with --amqp-url). stale_announced: the nodes whose node.stale event
// was recorded, with the last_report_ns it was about (a newer report re-arms it).
constexpr const char* kVersion2 = R"sql(
CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
INSERT INTO store_meta VALUES ('store_id', lower(hex(randomblob(8))));
CREATE TABLE event_outbox (
  -- the event's sequence, increasing in commit order. AUTOINCREMENT: published rows are deleted, and a plain
  -- rowid would be reused once the outbox is empty (a reused event id would be dropped by deduping consumers).
  id          INTEGER PRIMARY KEY AUTOINCREMENT,
  routing_key TEXT NOT NULL,
  payload     BLOB NOT NULL,        -- sentinel.v1.Event without event_id and sequence (filled in when published)
  created_ns  INTEGER NOT NULL
);
CREATE TABLE stale_announced (
  node           TEXT PRIMARY KEY,
  last_report_ns INTEGER NOT NULL
) WITHOUT ROWID;
-- The last plan recommendation announced per volume (plan.changed events fire when it changes).
CREATE TABLE plan_announced (
  volume      TEXT PRIMARY KEY,
  key         TEXT NOT NULL,   -- plan_recommendation_key()
  recommended TEXT NOT NULL    -- the recommended replicas, "node:disk/dir" joined by '\n'
) WITHOUT ROWID;
)sql";

constexpr std::array<const char*, kSchemaVersion> kMigrations = {kVersion1, kVersion2};

}  // namespace

std::optional<int> migrate(SQLite::Database& db, std::string* error) {
  try {
    const int found = db.execAndGet("PRAGMA user_version").getInt();
    if (found > kSchemaVersion) {
      *error = "the store's schema is version " + std::to_string(found) + ", newer than this collector's " +
               std::to_string(kSchemaVersion) + " (a newer sentinel-collector wrote it; refusing to touch it)";
      return std::nullopt;
    }
    for (int version = found + 1; version <= kSchemaVersion; ++version) {
      SQLite::Transaction transaction(db);
      db.exec(kMigrations[static_cast<size_t>(version - 1)]);
      db.exec("PRAGMA user_version = " + std::to_string(version));
      transaction.commit();
    }
    return found;
  } catch (const std::exception& e) {
    *error = std::string("schema migration failed: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace sentinel::collector
