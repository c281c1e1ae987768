#include "collector/store.h"

#include <SQLiteCpp/Transaction.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>

#include "collector/migrations.h"
#include "collector/replica_facts.h"
#include "proto/wire/deterministic.h"
#include "proto/wire/wire_form.h"
#include "sentinel/v1/events.pb.h"

namespace sentinel::collector {

namespace {

using wire::serialize_deterministic;  // an unchanged replica keeps its fingerprint

int64_t as_i64(uint64_t value) { return static_cast<int64_t>(value); }

// Calls `fn` with each code of finding_codes()'s comma-separated list.
template <typename Fn>
void for_each_code(std::string_view findings, Fn&& fn) {
  size_t start = 0;
  while (start < findings.size()) {
    size_t end = findings.find(',', start);
    if (end == std::string_view::npos) end = findings.size();
    if (end > start) fn(findings.substr(start, end - start));
    start = end + 1;
  }
}

// Events: a replica's facts as an event carries them.
void fill_facts(const std::string& node, std::string_view disk, std::string_view dir, const std::string& volume,
                const HistoryFacts& facts, v1::ReplicaFacts* out) {
  out->set_node(node);
  out->set_disk(std::string(disk));
  out->set_dir(std::string(dir));
  out->set_volume(volume);
  out->set_state(static_cast<v1::Replica::State>(facts.state));
  out->set_revision_counter(facts.revision_counter);
  out->set_head_mtime_ns(facts.head_mtime_ns);
  out->set_allocated_bytes(facts.allocated_bytes);
  out->set_content_digest(facts.content_digest);
  for_each_code(facts.findings, [&](std::string_view code) { out->add_findings(std::string(code)); });
}

// True when the finding codes include a checksum finding (deep scan: silent corruption).
bool has_checksum_finding(std::string_view findings) {
  bool found = false;
  for_each_code(findings, [&](std::string_view code) {
    found = found || code == "CHECKSUM_MISMATCH" || code == "CHECKSUM_FLAGGED";
  });
  return found;
}

}  // namespace

bool Store::read_facts(int64_t rowid, HistoryFacts* out) {
  auto& select = *select_facts_;
  select.bind(1, rowid);
  const bool found = select.executeStep();
  if (found) {
    out->state = select.getColumn(0).getInt();
    out->revision_counter = select.getColumn(1).getInt64();
    out->head_mtime_ns = select.getColumn(2).getInt64();
    out->allocated_bytes = static_cast<uint64_t>(select.getColumn(3).getInt64());
    out->content_digest = select.getColumn(4).getString();
    out->findings = select.getColumn(5).getString();
  }
  select.reset();
  return found;
}

void Store::record_event(const std::string& routing_key, const v1::Event& event) {
  serialize_deterministic(event, &event_scratch_);
  auto& insert = *insert_event_;
  insert.bindNoCopy(1, routing_key);
  insert.bindNoCopy(2, event_scratch_.data(), static_cast<int>(event_scratch_.size()));
  insert.bind(3, event.created_ns());
  insert.exec();
  insert.reset();
  ++events_pending_;
}

std::unique_ptr<Store> Store::open(const std::string& path, SyncMode sync, std::string* error) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      *error = "cannot create the store's directory " + parent.string() + ": " + ec.message();
      return nullptr;
    }
  }
  const std::string lock_path = path + ".lock";
  const int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) {
    *error = "cannot open " + lock_path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(lock_fd);
    *error = err == EWOULDBLOCK ? "another sentinel-collector is using " + path + " (" + lock_path + " is locked)"
                                : "cannot lock " + lock_path + ": " + std::strerror(err);
    return nullptr;
  }
  try {
    auto db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    const std::string mode = db->execAndGet("PRAGMA journal_mode = WAL").getString();
    if (mode != "wal") throw std::runtime_error("cannot switch to WAL mode (journal_mode is " + mode + ")");
    // FULL: every commit fsyncs the WAL, so an acked report survives power loss (the agent deletes its spooled
    // copy on the ack). Batching makes that one fsync per batch, not per report.
    db->exec(sync == SyncMode::kFull ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    db->exec("PRAGMA busy_timeout = 5000");
    // A 64 MiB page cache keeps the B-trees' upper levels (and the hot rows of the latest view) in memory.
    // Most checkpoint work is done by the committer's checkpoint thread, off the commit path. The writer's own
    // automatic checkpoint, past 128 MiB of WAL, then finds little left to copy and completes, which lets the
    // next transaction restart the WAL: a WAL that only grows makes every page lookup slower (its index is
    // searched segment by segment). After a checkpoint the file is cut back to 64 MiB.
    db->exec("PRAGMA cache_size = -65536");
    db->exec("PRAGMA wal_autocheckpoint = 32768");
    db->exec("PRAGMA journal_size_limit = 67108864");
    std::unique_ptr<Store> store(new Store(path, lock_fd, std::move(db)));
    auto found = migrate(*store->db_, error);
    if (!found) return nullptr;
    store->schema_version_found_ = *found;
    store->prepare_statements();
    store->load_caches();
    return store;
  } catch (const std::exception& e) {
    ::close(lock_fd);
    *error = "cannot open the store " + path + ": " + e.what();
    return nullptr;
  }
}

Store::Store(std::string path, int lock_fd, std::unique_ptr<SQLite::Database> db)
    : path_(std::move(path)), lock_fd_(lock_fd), db_(std::move(db)) {}

Store::~Store() {
  // Statements before the connection, the connection before the lock.
  report_exists_.reset();
  insert_report_.reset();
  upsert_node_.reset();
  insert_replica_.reset();
  update_replica_.reset();
  set_deep_.reset();
  select_deep_pb_.reset();
  delete_replica_.reset();
  insert_history_.reset();
  insert_key_.reset();
  select_facts_.reset();
  insert_event_.reset();
  db_.reset();
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void Store::prepare_statements() {
  auto& db = *db_;
  report_exists_ =
      std::make_unique<SQLite::Statement>(db, "SELECT 1 FROM reports WHERE node = ? AND sequence = ?");
  insert_report_ = std::make_unique<SQLite::Statement>(
      db,
      "INSERT INTO reports (node, sequence, kind, received_ns, created_ns, size_bytes, replica_count, volume, "
      "coalesced, superseded) VALUES (?,?,?,?,?,?,?,?,?,?)");
  upsert_node_ = std::make_unique<SQLite::Statement>(
      db,
      "INSERT INTO nodes (name, agent_version, first_seen_ns, last_report_ns, last_sequence, latest_sequence, "
      "latest_received_ns, latest_scanned_ns, latest_kind, last_peer) VALUES (?1,?2,?3,?3,?4,?5,?6,?7,?8,?9) "
      "ON CONFLICT (name) DO UPDATE SET agent_version = CASE WHEN ?2 = '' THEN agent_version ELSE ?2 END, "
      "last_report_ns = max(last_report_ns, ?3), last_sequence = max(last_sequence, ?4), "
      "latest_sequence = max(latest_sequence, ?5), "
      "latest_received_ns = CASE WHEN ?5 > latest_sequence THEN ?6 ELSE latest_received_ns END, "
      "latest_scanned_ns = CASE WHEN ?5 > latest_sequence THEN ?7 ELSE latest_scanned_ns END, "
      "latest_kind = CASE WHEN ?5 > latest_sequence THEN ?8 ELSE latest_kind END, last_peer = ?9");
  // The in-memory cache knows whether a replica has a row and which: new rows are inserted, changed ones updated
  // by rowid (no lookup through the key index, and no index entry rewritten: the key never changes).
  insert_replica_ = std::make_unique<SQLite::Statement>(
      db,
      "INSERT INTO replicas (node, disk, dir, volume, state, size_bytes, revision_counter, head_mtime_ns, "
      "allocated_bytes, content_digest, findings, worst_severity, identity, fingerprint, facts, replica_pb, "
      "first_seen_ns, changed_ns) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?17)");
  update_replica_ = std::make_unique<SQLite::Statement>(
      db,
      "UPDATE replicas SET state = ?5, size_bytes = ?6, revision_counter = ?7, head_mtime_ns = ?8, "
      "allocated_bytes = ?9, content_digest = ?10, findings = ?11, worst_severity = ?12, identity = ?13, "
      "fingerprint = ?14, facts = ?15, replica_pb = ?16, changed_ns = ?17 WHERE rowid = ?18");
  set_deep_ = std::make_unique<SQLite::Statement>(
      db, "UPDATE replicas SET deep_digest = ?, deep_identity = ?, deep_scanned_ns = ?, deep_pb = ? WHERE rowid = ?");
  select_deep_pb_ = std::make_unique<SQLite::Statement>(
      db, "SELECT deep_pb FROM replicas WHERE rowid = ? AND deep_pb IS NOT NULL");
  delete_replica_ = std::make_unique<SQLite::Statement>(db, "DELETE FROM replicas WHERE rowid = ?");
  insert_key_ = std::make_unique<SQLite::Statement>(
      db, "INSERT OR IGNORE INTO replica_keys (volume, node, disk, dir) VALUES (?,?,?,?)");
  insert_history_ = std::make_unique<SQLite::Statement>(
      db,
      "INSERT INTO replica_history (node, disk, dir, volume, observed_ns, sequence, kind, state, "
      "revision_counter, head_mtime_ns, allocated_bytes, content_digest, findings, gone, received_ns) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
  select_facts_ = std::make_unique<SQLite::Statement>(
      db,
      "SELECT state, revision_counter, head_mtime_ns, allocated_bytes, content_digest, findings FROM replicas "
      "WHERE rowid = ?");
  insert_event_ = std::make_unique<SQLite::Statement>(
      db, "INSERT INTO event_outbox (routing_key, payload, created_ns) VALUES (?,?,?)");
}

void Store::load_caches() {
  SQLite::Statement nodes(*db_, "SELECT name, last_sequence, latest_sequence FROM nodes");
  while (nodes.executeStep()) {
    nodes_[nodes.getColumn(0).getString()] =
        NodeState{static_cast<uint64_t>(nodes.getColumn(1).getInt64()),
                  static_cast<uint64_t>(nodes.getColumn(2).getInt64())};
  }
  SQLite::Statement replicas(*db_,
                             "SELECT node, disk, dir, volume, fingerprint, facts, identity, deep_identity, "
                             "deep_digest, first_seen_ns, rowid FROM replicas");
  while (replicas.executeStep()) {
    CachedReplica cached;
    cached.volume = replicas.getColumn(3).getString();
    cached.fingerprint = static_cast<uint64_t>(replicas.getColumn(4).getInt64());
    cached.facts = static_cast<uint64_t>(replicas.getColumn(5).getInt64());
    cached.identity = static_cast<uint64_t>(replicas.getColumn(6).getInt64());
    cached.deep_identity = static_cast<uint64_t>(replicas.getColumn(7).getInt64());
    cached.has_deep = !replicas.getColumn(8).getString().empty();
    cached.first_seen_ns = replicas.getColumn(9).getInt64();
    cached.rowid = replicas.getColumn(10).getInt64();
    replicas_[replicas.getColumn(0).getString()]
             [replicas.getColumn(1).getString() + '\0' + replicas.getColumn(2).getString()] = cached;
  }
}

std::unordered_map<std::string, uint64_t> Store::highest_sequences() const {
  std::unordered_map<std::string, uint64_t> out;
  for (const auto& [node, state] : nodes_) out[node] = state.last_sequence;
  return out;
}

std::optional<std::vector<StoredReport>> Store::store_reports(std::span<const ReportToStore> reports,
                                                             std::string* error) {
  std::vector<StoredReport> outcomes;
  outcomes.reserve(reports.size());
  events_pending_ = 0;
  events_in_last_commit_ = 0;
  try {
    SQLite::Transaction transaction(*db_, record_events_ ? SQLite::TransactionBehavior::IMMEDIATE
                                                         : SQLite::TransactionBehavior::DEFERRED);
    for (const auto& item : reports) outcomes.push_back(store_one(item));
    transaction.commit();
    forget_undo();
    events_in_last_commit_ = events_pending_;
    return outcomes;
  } catch (const std::exception& e) {
    // The transaction's destructor rolled the database back; put the caches back the same way.
    undo();
    for (auto* statement : {report_exists_.get(), insert_report_.get(), upsert_node_.get(), insert_replica_.get(), update_replica_.get(), set_deep_.get(),
                            select_deep_pb_.get(), delete_replica_.get(), insert_history_.get(), insert_key_.get(),
                            select_facts_.get(), insert_event_.get()}) {
      statement->tryReset();
    }
    *error = std::string("store commit failed: ") + e.what();
    return std::nullopt;
  }
}

StoredReport Store::store_one(const ReportToStore& item) {
  const v1::ReportView& report = *item.report;
  const v1::InventoryView& inventory = report.inventory();
  StoredReport outcome;
  auto& exists = *report_exists_;
  exists.bindNoCopy(1, item.node);
  exists.bind(2, as_i64(report.sequence()));
  outcome.duplicate = exists.executeStep();
  exists.reset();
  if (outcome.duplicate) return outcome;

  const auto node_it = nodes_.find(item.node);
  outcome.superseded = node_it != nodes_.end() && report.sequence() <= node_it->second.latest_sequence;
  if (!outcome.superseded && !prepare(item, &incoming_, &outcome.problem)) {
    outcome.malformed = true;
    return outcome;
  }

  auto& insert = *insert_report_;
  insert.bindNoCopy(1, item.node);
  insert.bind(2, as_i64(report.sequence()));
  insert.bind(3, static_cast<int32_t>(report.kind()));
  insert.bind(4, item.received_ns);
  insert.bind(5, static_cast<int64_t>(report.created_at_ns()));
  insert.bind(6, as_i64(item.wire_bytes));
  insert.bind(7, static_cast<int32_t>(inventory.replicas_size()));
  insert.bindNoCopy(8, report.volume());
  insert.bind(9, static_cast<int64_t>(report.coalesced()));
  insert.bind(10, static_cast<int32_t>(outcome.superseded));
  insert.exec();
  insert.reset();

  node_undo_.push_back({item.node, node_it == nodes_.end() ? std::nullopt : std::optional(node_it->second)});
  NodeState& state = nodes_[item.node];
  state.last_sequence = std::max(state.last_sequence, report.sequence());
  const uint64_t latest = outcome.superseded ? 0 : report.sequence();
  if (!outcome.superseded) state.latest_sequence = report.sequence();

  auto& node = *upsert_node_;
  node.bindNoCopy(1, item.node);
  node.bindNoCopy(2, inventory.agent_version());
  node.bind(3, item.received_ns);
  node.bind(4, as_i64(report.sequence()));
  node.bind(5, as_i64(latest));
  node.bind(6, item.received_ns);
  node.bind(7, static_cast<int64_t>(inventory.scanned_at_ns()));
  node.bind(8, static_cast<int32_t>(report.kind()));
  node.bindNoCopy(9, item.peer);
  node.exec();
  node.reset();

  if (!outcome.superseded) apply_to_latest(item, incoming_);
  return outcome;
}

bool Store::prepare(const ReportToStore& item, std::vector<Incoming>* incoming, std::string* problem) {
  const auto& replicas = item.report->inventory().replicas();
  incoming->resize(static_cast<size_t>(replicas.size()));
  const auto cache_it = replicas_.find(item.node);
  ReplicaCache* cache = cache_it == replicas_.end() ? nullptr : &cache_it->second;
  const auto layout_it = layouts_.find(item.node);
  const std::vector<LayoutEntry>* layout = layout_it == layouts_.end() ? nullptr : &layout_it->second;
  for (int i = 0; i < replicas.size(); ++i) {
    Incoming& in = (*incoming)[static_cast<size_t>(i)];
    in.bytes = replicas.Get(i);
    in.fingerprint = bytes_hash(in.bytes);
    in.entry = nullptr;
    const auto position = static_cast<size_t>(i);
    if (layout != nullptr && position < layout->size() && (*layout)[position].fingerprint == in.fingerprint &&
        (*layout)[position].size == in.bytes.size()) {
      in.changed = false;  // the same bytes at the same place as in the node's last report
      in.entry = (*layout)[position].entry;
      continue;
    }
    if (!replica_key_from_bytes(in.bytes, &in.disk, &in.dir)) {
      *problem = "replica #" + std::to_string(i + 1) + " of the inventory is not a serialized sentinel.v1.Replica";
      return false;
    }
    in.key.assign(in.disk);
    in.key.push_back('\0');
    in.key.append(in.dir);
    CachedReplica* cached = nullptr;
    if (cache != nullptr) {
      const auto it = cache->find(in.key);
      if (it != cache->end()) cached = &it->second;
    }
    in.changed = cached == nullptr || cached->fingerprint != in.fingerprint;
    if (!in.changed) in.entry = cached;
    if (in.changed && !in.parsed.ParseFromArray(in.bytes.data(), static_cast<int>(in.bytes.size()))) {
      *problem = "replica " + std::string(in.dir) + " of the inventory does not parse as a sentinel.v1.Replica";
      return false;
    }
    if (in.changed) wire::expand_from_wire(&in.parsed);  // the agent sends the wire form; facts need it all
  }
  return true;
}

void Store::apply_to_latest(const ReportToStore& item, std::vector<Incoming>& incoming) {
  const v1::ReportView& report = *item.report;
  const v1::InventoryView& inventory = report.inventory();
  const int64_t observed_ns = inventory.scanned_at_ns() != 0 ? inventory.scanned_at_ns() : item.received_ns;
  ReplicaCache& cache = replicas_[item.node];
  const uint64_t this_report = ++report_counter_;

  auto add_history = [&](std::string_view disk, std::string_view dir, const std::string& volume,
                         const HistoryFacts& facts, bool gone) {
    auto& history = *insert_history_;
    history.bind(1, item.node);
    history.bind(2, std::string(disk));
    history.bind(3, std::string(dir));
    history.bindNoCopy(4, volume);
    history.bind(5, observed_ns);
    history.bind(6, as_i64(report.sequence()));
    history.bind(7, static_cast<int32_t>(report.kind()));
    history.bind(8, facts.state);
    history.bind(9, facts.revision_counter);
    history.bind(10, facts.head_mtime_ns);
    history.bind(11, as_i64(facts.allocated_bytes));
    history.bindNoCopy(12, facts.content_digest);
    history.bindNoCopy(13, facts.findings);
    history.bind(14, static_cast<int32_t>(gone));
    history.bind(15, item.received_ns);
    history.exec();
    history.reset();
  };

  std::vector<LayoutEntry> layout;
  layout.reserve(incoming.size());
  for (Incoming& in : incoming) {
    if (!in.changed) {
      in.entry->seen_in = this_report;  // byte for byte what we hold: nothing to write
      layout.push_back({in.fingerprint, in.bytes.size(), in.entry});
      continue;
    }
    auto cached_it = cache.find(in.key);
    if (cached_it != cache.end() && cached_it->second.seen_in == this_report) {  // listed twice: the first counts
      layout.push_back({0, 0, &cached_it->second});
      continue;
    }
    const CachedReplica* cached = cached_it == cache.end() ? nullptr : &cached_it->second;
    const v1::Replica& reported = in.parsed;
    const uint64_t identity = image_identity(reported);
    const bool deep = !reported.content_digest().empty();
    // What gets stored: the replica as the agent sent it, plus what its last deep scan found that still holds.
    const v1::Replica* stored = &reported;
    std::string_view stored_bytes = in.bytes;
    v1::Replica merged;
    if (!deep && cached != nullptr && cached->has_deep) {
      auto& select = *select_deep_pb_;
      select.bind(1, cached->rowid);
      v1::Replica deep_scan;
      bool have_deep = false;
      if (select.executeStep()) {
        const auto column = select.getColumn(0);
        have_deep = deep_scan.ParseFromArray(column.getBlob(), column.getBytes());
        if (have_deep) wire::expand_from_wire(&deep_scan);
      }
      select.reset();
      if (have_deep) {
        merged = reported;
        if (merge_deep_results(deep_scan, identity == cached->deep_identity, &merged)) {
          stored = &merged;
          serialize_deterministic(merged, &scratch_);
          stored_bytes = scratch_;
        }
      }
    }

    HistoryFacts facts;
    facts.state = stored->state();
    facts.revision_counter = stored->revision_counter();
    facts.head_mtime_ns = stored->head_mtime_ns();
    facts.allocated_bytes = stored->allocated_bytes();
    facts.content_digest = stored->content_digest();
    facts.findings = finding_codes(*stored);
    const uint64_t facts_id = facts_hash(facts);
    const bool history_row = cached == nullptr || cached->facts != facts_id;
    // Events: the facts the row holds now, read before the update overwrites them.
    HistoryFacts previous;
    const bool have_previous = record_events_ && history_row && cached != nullptr && read_facts(cached->rowid, &previous);

    auto& write = cached == nullptr ? *insert_replica_ : *update_replica_;
    if (cached == nullptr) {
      write.bindNoCopy(1, item.node);
      write.bindNoCopy(2, reported.disk());
      write.bindNoCopy(3, reported.dir());
      write.bindNoCopy(4, reported.volume());
    } else {
      write.bind(18, cached->rowid);
    }
    write.bind(5, static_cast<int32_t>(stored->state()));
    write.bind(6, as_i64(stored->size_bytes()));
    write.bind(7, static_cast<int64_t>(stored->revision_counter()));
    write.bind(8, static_cast<int64_t>(stored->head_mtime_ns()));
    write.bind(9, as_i64(stored->allocated_bytes()));
    write.bindNoCopy(10, stored->content_digest());
    write.bindNoCopy(11, facts.findings);
    write.bind(12, worst_severity(*stored));
    write.bind(13, as_i64(identity));
    write.bind(14, as_i64(in.fingerprint));
    write.bind(15, as_i64(facts_id));
    write.bindNoCopy(16, stored_bytes.data(), static_cast<int>(stored_bytes.size()));
    write.bind(17, item.received_ns);
    write.exec();
    write.reset();

    CachedReplica next = cached != nullptr ? *cached : CachedReplica{};
    if (cached == nullptr) {
      next.first_seen_ns = item.received_ns;
      next.rowid = db_->getLastInsertRowid();
      auto& key = *insert_key_;
      key.bindNoCopy(1, reported.volume());
      key.bindNoCopy(2, item.node);
      key.bindNoCopy(3, reported.disk());
      key.bindNoCopy(4, reported.dir());
      key.exec();
      key.reset();
    }
    next.volume = reported.volume();
    next.fingerprint = in.fingerprint;
    next.identity = identity;
    next.facts = facts_id;
    next.seen_in = this_report;
    if (deep) {
      auto& set_deep = *set_deep_;
      set_deep.bindNoCopy(1, reported.content_digest());
      set_deep.bind(2, as_i64(identity));
      set_deep.bind(3, observed_ns);
      set_deep.bindNoCopy(4, in.bytes.data(), static_cast<int>(in.bytes.size()));
      set_deep.bind(5, next.rowid);
      set_deep.exec();
      set_deep.reset();
      next.has_deep = true;
      next.deep_identity = identity;
    }
    if (history_row) {
      add_history(in.disk, in.dir, reported.volume(), facts, false);
      if (record_events_) {
        v1::Event event;
        event.set_created_ns(item.received_ns);
        event.set_node(item.node);
        event.set_volume(reported.volume());
        auto* changed = event.mutable_replica_changed();
        if (have_previous) {
          fill_facts(item.node, in.disk, in.dir, reported.volume(), previous, changed->mutable_previous());
        }
        fill_facts(item.node, in.disk, in.dir, reported.volume(), facts, changed->mutable_current());
        changed->set_report_sequence(report.sequence());
        changed->set_kind(report.kind());
        record_event("replica.changed." + reported.volume(), event);
        if (has_checksum_finding(facts.findings) && !(have_previous && has_checksum_finding(previous.findings))) {
          v1::Event mismatch;
          mismatch.set_created_ns(item.received_ns);
          mismatch.set_node(item.node);
          mismatch.set_volume(reported.volume());
          auto* body = mismatch.mutable_checksum_mismatch();
          *body->mutable_replica() = changed->current();
          for (const auto& finding : stored->findings()) {
            if (finding.code() == v1::Finding::CHECKSUM_MISMATCH || finding.code() == v1::Finding::CHECKSUM_FLAGGED) {
              *body->add_findings() = finding;
            }
          }
          record_event("checksum.mismatch." + reported.volume(), mismatch);
        }
      }
    }
    replica_undo_.push_back({item.node, in.key, cached == nullptr ? std::nullopt : std::optional(*cached)});
    CachedReplica& entry = cache[in.key];
    entry = std::move(next);
    layout.push_back({in.fingerprint, in.bytes.size(), &entry});
  }

  // Replicas the node no longer reports (within the report's scope) leave the latest view, with a history row.
  std::vector<std::string> gone;
  for (const auto& [key, cached] : cache) {
    if (cached.seen_in == this_report) continue;
    if (!report.volume().empty() && cached.volume != report.volume()) continue;
    gone.push_back(key);
  }
  for (const std::string& key : gone) {
    const auto it = cache.find(key);
    const auto split = key.find('\0');
    const std::string disk = key.substr(0, split);
    const std::string dir = key.substr(split + 1);
    if (record_events_) {
      HistoryFacts last;
      if (read_facts(it->second.rowid, &last)) {
        v1::Event event;
        event.set_created_ns(item.received_ns);
        event.set_node(item.node);
        event.set_volume(it->second.volume);
        auto* missing = event.mutable_replica_missing();
        fill_facts(item.node, disk, dir, it->second.volume, last, missing->mutable_last());
        missing->set_report_sequence(report.sequence());
        record_event("replica.missing." + it->second.volume, event);
      }
    }
    auto& remove = *delete_replica_;
    remove.bind(1, it->second.rowid);
    remove.exec();
    remove.reset();
    add_history(disk, dir, it->second.volume, HistoryFacts{}, true);
    replica_undo_.push_back({item.node, key, it->second});
    cache.erase(it);
  }
  layouts_[item.node] = std::move(layout);  // every entry in it was seen in this report: none was erased
}

void Store::forget_undo() {
  node_undo_.clear();
  replica_undo_.clear();
}

void Store::undo() {
  layouts_.clear();  // they may point at entries the undo erases or replaces
  for (auto it = replica_undo_.rbegin(); it != replica_undo_.rend(); ++it) {
    auto& cache = replicas_[it->node];
    if (it->before) cache[it->key] = *it->before;
    else cache.erase(it->key);
  }
  for (auto it = node_undo_.rbegin(); it != node_undo_.rend(); ++it) {
    if (it->before) nodes_[it->node] = *it->before;
    else nodes_.erase(it->node);
  }
  forget_undo();
}

std::optional<PruneResult> Store::prune(int64_t cutoff_ns, uint64_t max_rows, std::string* error) {
  PruneResult result;
  try {
    SQLite::Transaction transaction(*db_);
    // History rows are appended in the order they were received: delete the oldest prefix older than the cutoff.
    SQLite::Statement oldest(*db_, "SELECT id, received_ns FROM replica_history ORDER BY id LIMIT ?");
    oldest.bind(1, as_i64(max_rows));
    int64_t last_expired = -1;
    while (oldest.executeStep() && oldest.getColumn(1).getInt64() < cutoff_ns) {
      last_expired = oldest.getColumn(0).getInt64();
      ++result.history_rows;
    }
    oldest.reset();
    if (last_expired >= 0) {
      SQLite::Statement history(*db_, "DELETE FROM replica_history WHERE id <= ?");
      history.bind(1, last_expired);
      history.exec();
    }
    SQLite::Statement reports(*db_,
                              "DELETE FROM reports WHERE (node, sequence) IN (SELECT node, sequence FROM reports "
                              "WHERE received_ns < ? LIMIT ?)");
    reports.bind(1, cutoff_ns);
    reports.bind(2, as_i64(max_rows));
    result.report_rows = static_cast<uint64_t>(reports.exec());
    transaction.commit();
    result.more = result.history_rows == max_rows || result.report_rows == max_rows;
    return result;
  } catch (const std::exception& e) {
    *error = std::string("pruning failed: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace sentinel::collector
