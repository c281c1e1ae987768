// Longhorn's own choice at engine start with salvage; see longhorn_prediction.h for the model.
#include "salvage/longhorn_prediction.h"

#include <algorithm>

#include "salvage/text_units.h"

namespace sentinel::salvage {
namespace {

using Mode = v1::LonghornPrediction::RevisionCounterMode;

constexpr int64_t kSalvageWindowNs = 5'000'000'000;  // longhorn-engine: lastModifyTime + 5s > newest

// Step 1: why the engine refuses the replica before any rule, or "" when it does not.
std::string drop_reason(const ReplicaOnNode& r, size_t replica_count, const VolumeShape& volume,
                        std::vector<std::string>* notes) {
  const v1::Replica& replica = r.replica;
  if (const v1::Finding* f = chain_breaking_finding(replica)) {
    return "cannot be opened (inferred from " + v1::Finding::Code_Name(f->code()) + ": " + f->message() + ")";
  }
  if (!replica.error().empty()) return "Error is set (\"" + replica.error() + "\"): state error, not open/dirty";
  if (replica.rebuilding()) {
    if (replica_count > 1) return "Rebuilding: state rebuilding, not open/dirty";
    notes->push_back(replica.dir() +
                     " is Rebuilding but the only replica: the engine clears the flag (ResetRebuild) and uses it");
  }
  if (replica.sector_size() != 0 && volume.sector_size != 0 && replica.sector_size() != volume.sector_size) {
    return "SectorSize " + std::to_string(replica.sector_size()) + " differs from the volume's " +
           std::to_string(volume.sector_size);
  }
  if (replica.size_bytes() != 0 && volume.size_bytes != 0 && replica.size_bytes() != volume.size_bytes) {
    return "Size " + std::to_string(replica.size_bytes()) + " differs from the volume's " +
           std::to_string(volume.size_bytes);
  }
  return "";
}

void add_outcome(v1::LonghornPrediction* prediction, const std::vector<const ReplicaOnNode*>& keep) {
  auto* outcome = prediction->add_possible_outcomes();
  for (const auto* r : keep) outcome->add_keep(r->replica.dir());
}

// Step 2: revision counter enabled.
void apply_counter_rule(const std::vector<ReplicaOnNode>& replicas, const std::vector<size_t>& survivors,
                        LonghornForecast* out) {
  auto counter = [&](size_t i) {
    const auto& r = replicas[i].replica;
    return r.revision_counter_present() ? r.revision_counter() : 0;
  };
  int64_t highest = 0;
  for (size_t i : survivors) highest = std::max(highest, counter(i));
  std::vector<const ReplicaOnNode*> kept;
  size_t tied = 0;
  for (size_t i : survivors) tied += counter(i) == highest ? 1 : 0;
  for (size_t i : survivors) {
    auto& verdict = out->verdicts[i];
    const std::string absent = replicas[i].replica.revision_counter_present() ? "" : " (no revision.counter: 0)";
    if (counter(i) == highest) {
      verdict.verdict = v1::LONGHORN_KEEP;
      verdict.reason = "revision counter " + std::to_string(highest) + absent + " is the highest" +
                       (tied > 1 ? " (tied with " + std::to_string(tied - 1) + " other; ties all stay RW)" : "");
      kept.push_back(&replicas[i]);
    } else {
      verdict.verdict = v1::LONGHORN_FAIL;
      verdict.reason = "revision counter " + std::to_string(counter(i)) + absent + " is below the highest, " +
                       std::to_string(highest);
    }
  }
  add_outcome(&out->prediction, kept);
  out->prediction.set_rule(
      "revision counter enabled: the replicas with the highest revision counter stay RW (ties all stay), every "
      "other one is marked ERR; content, mtime and Dirty are not compared");
}

// Step 3: revision counter disabled, salvage requested.
void apply_salvage_rule(const std::vector<ReplicaOnNode>& replicas, const std::vector<size_t>& survivors,
                        const SalvageBehaviour& behaviour, LonghornForecast* out) {
  int64_t newest = replicas[survivors.front()].replica.head_mtime_ns();
  for (size_t i : survivors) newest = std::max(newest, replicas[i].replica.head_mtime_ns());
  std::vector<size_t> candidates;
  for (size_t i : survivors) {
    const int64_t mtime = replicas[i].replica.head_mtime_ns();
    if (distance_ns(newest, mtime) < static_cast<uint64_t>(kSalvageWindowNs)) {  // mtime + 5 s > newest
      candidates.push_back(i);
    } else {
      out->verdicts[i] = {v1::LONGHORN_FAIL, "head mtime " + gap_text(newest, mtime) +
                                                 " older than the newest: outside Longhorn's 5 s salvage window"};
    }
  }
  const std::string window = "candidates are the replicas whose head mtime is within 5 s of the newest";

  // The replicas that may win, before any order Sentinel cannot see decides.
  std::vector<size_t> possible = candidates;
  std::string why_possible;
  if (behaviour.rule == DisabledCounterRule::kLargestHeadSize && candidates.size() > 1) {
    uint64_t largest = 0;
    for (size_t i : candidates) largest = std::max(largest, replicas[i].replica.head_allocated_bytes());
    int64_t newest_of_largest = 0;
    bool first = true;
    for (size_t i : candidates) {
      const auto& r = replicas[i].replica;
      if (r.head_allocated_bytes() != largest) continue;
      newest_of_largest = first ? r.head_mtime_ns() : std::max(newest_of_largest, r.head_mtime_ns());
      first = false;
    }
    possible.clear();
    for (size_t i : candidates) {
      const auto& r = replicas[i].replica;
      if (r.head_allocated_bytes() != largest) {
        out->verdicts[i] = {v1::LONGHORN_FAIL, "head allocated " + std::to_string(r.head_allocated_bytes()) +
                                                   " bytes, smaller than the largest candidate's " +
                                                   std::to_string(largest)};
      } else if (r.head_mtime_ns() != newest_of_largest) {
        out->verdicts[i] = {v1::LONGHORN_FAIL, "head as large as the largest but its mtime is " +
                                                   gap_text(newest_of_largest, r.head_mtime_ns()) + " older"};
      } else {
        possible.push_back(i);
      }
    }
    why_possible =
        "tied on head allocated size and mtime: the first of them in the engine's replica list wins, "
        "an order Sentinel cannot see";
  } else {
    why_possible = behaviour.description;
  }

  for (size_t i : possible) {
    if (possible.size() == 1) {
      out->verdicts[i] = {v1::LONGHORN_KEEP, candidates.size() == 1
                                                 ? "the only salvage candidate (newest head mtime)"
                                                 : "largest head allocated size among the salvage candidates"};
    } else {
      out->verdicts[i] = {v1::LONGHORN_MAY_KEEP,
                          "one of " + std::to_string(possible.size()) + " possible winners: " + why_possible};
    }
    add_outcome(&out->prediction, {&replicas[i]});
  }
  std::string rule = "revision counter disabled, salvage requested: " + window + "; " + behaviour.description +
                     "; exactly one replica stays RW";
  out->prediction.set_rule(rule);
}

}  // namespace

LonghornForecast predict_longhorn(const std::vector<ReplicaOnNode>& replicas, const PredictionOptions& options) {
  LonghornForecast out;
  out.verdicts.resize(replicas.size());
  auto& prediction = out.prediction;
  prediction.set_version(options.version ? options.version->to_string() : "unknown");
  prediction.set_revision_counter_mode(options.revision_counter_mode);
  prediction.set_revision_counter_mode_inferred(options.revision_counter_mode_inferred);

  std::vector<std::string> notes;
  std::vector<size_t> survivors;
  for (size_t i = 0; i < replicas.size(); ++i) {
    std::string why = drop_reason(replicas[i], replicas.size(), options.volume, &notes);
    if (why.empty()) {
      survivors.push_back(i);
    } else {
      out.verdicts[i] = {v1::LONGHORN_DROP, "refused at engine start: " + why};
    }
  }

  const bool enabled = options.revision_counter_mode != v1::LonghornPrediction::DISABLED;
  const SalvageBehaviour behaviour = salvage_behaviour(options.version);
  if (survivors.empty()) {
    prediction.set_rule("no replica passes the engine's start checks: the volume cannot start");
    add_outcome(&prediction, {});
  } else if (enabled) {
    apply_counter_rule(replicas, survivors, &out);
  } else {
    apply_salvage_rule(replicas, survivors, behaviour, &out);
  }
  prediction.set_deterministic(prediction.possible_outcomes_size() == 1);

  if (enabled) {
    for (size_t i : survivors) {
      if (!replicas[i].replica.revision_counter_present()) {
        notes.push_back(replicas[i].replica.dir() +
                        " has no revision.counter: with the counter enabled Longhorn creates one holding 0 when it "
                        "opens the replica (inferred)");
      }
    }
  } else if (!options.version) {
    notes.push_back(
        "Longhorn version unknown: every candidate is a possible winner; give --longhorn-version for a "
        "sharper prediction");
  } else if (behaviour.before_modelled_range || behaviour.inferred) {
    notes.push_back(behaviour.description);
  }
  if (options.volume.size_disputed) {
    notes.push_back(
        "the replicas disagree on the volume Size; the engine compares each with the volume CR's size, "
        "assumed here to be " +
        std::to_string(options.volume.size_bytes) + " (the most common)");
  }
  notes.push_back(
      "assumes every replica listed is offered to the engine (a manual Salvage of all of them); "
      "auto-salvage offers only the replicas that failed within 1 minute of the last failure");
  for (auto& note : notes) prediction.add_notes(std::move(note));
  return out;
}

Mode infer_revision_counter_mode(const std::vector<ReplicaOnNode>& replicas, std::string* why) {
  size_t with_file = 0;
  size_t considered = 0;
  for (const auto& r : replicas) {
    if (r.replica.state() == v1::Replica::FOREIGN) continue;
    ++considered;
    if (r.replica.revision_counter_present()) ++with_file;
  }
  if (considered == 0 || with_file == considered) {
    *why =
        "every replica has a revision.counter file; a volume whose counter was disabled later may keep a stale "
        "one: check spec.revisionCounterDisabled of the volume CR";
    return v1::LonghornPrediction::ENABLED;
  }
  *why = std::to_string(considered - with_file) + " of " + std::to_string(considered) +
         " replicas have no revision.counter file, which a replica opened with the counter enabled always has";
  return v1::LonghornPrediction::DISABLED;
}

}  // namespace sentinel::salvage
