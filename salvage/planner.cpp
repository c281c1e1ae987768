// Ranking, recommendation, divergence and warnings of a salvage plan; see planner.h for the contract.
#include "salvage/planner.h"

#include <algorithm>
#include <map>
#include <set>

#include "salvage/chunk_diff.h"
#include "salvage/longhorn_prediction.h"
#include "salvage/shell_words.h"
#include "salvage/steps.h"
#include "salvage/text_units.h"
#include "salvage/usability.h"

namespace sentinel::salvage {
namespace {

using Mode = v1::LonghornPrediction::RevisionCounterMode;

// One replica while the plan is built.
struct Candidate {
  const ReplicaOnNode* source = nullptr;
  size_t input_index = 0;  // into the VolumeReplicas (and the forecast's verdicts)
  std::vector<std::string> blocking;
  int agreement = 0;  // other usable replicas with the same content digest
  [[nodiscard]] const v1::Replica& replica() const { return source->replica; }
  [[nodiscard]] bool usable() const { return blocking.empty(); }
  [[nodiscard]] std::string label() const { return source->node + "/" + replica().dir(); }
};

// The first criterion on which `a` and `b` differ, for sorting and for the reasons.
struct Comparison {
  int order = 0;       // < 0: a ranks above b
  std::string phrase;  // how `a` compares: "higher revision counter (1843 vs 1790)"; "" when tied on everything
};

int64_t counter_of(const v1::Replica& r) { return r.revision_counter_present() ? r.revision_counter() : 0; }

// `more` / `less` describe `a` when its value is the larger / smaller one; `values` is "a vs b".
template <typename T>
Comparison larger_first(T a, T b, const char* more, const char* less, const std::string& values) {
  if (a == b) return {};
  return {a > b ? -1 : 1, std::string(a > b ? more : less) + " (" + values + ")"};
}

Comparison compare_evidence(const Candidate& a, const Candidate& b, bool counters_count) {
  const auto& ra = a.replica();
  const auto& rb = b.replica();
  if (counters_count) {
    auto c = larger_first(counter_of(ra), counter_of(rb), "higher revision counter", "lower revision counter",
                          std::to_string(counter_of(ra)) + " vs " + std::to_string(counter_of(rb)));
    if (c.order != 0) return c;
  }
  {
    auto c = larger_first(ra.head_mtime_ns(), rb.head_mtime_ns(), "newer head mtime", "older head mtime",
                          gap_text(ra.head_mtime_ns(), rb.head_mtime_ns()) + " apart");
    if (c.order != 0) return c;
  }
  {
    auto c = larger_first(a.agreement, b.agreement, "more replicas with the same content",
                          "fewer replicas with the same content",
                          std::to_string(a.agreement) + " vs " + std::to_string(b.agreement));
    if (c.order != 0) return c;
  }
  {
    auto c = larger_first(ra.head_allocated_bytes(), rb.head_allocated_bytes(), "more data in the head",
                          "less data in the head",
                          bytes_text(ra.head_allocated_bytes()) + " vs " + bytes_text(rb.head_allocated_bytes()));
    if (c.order != 0) return c;
  }
  return larger_first(ra.allocated_bytes(), rb.allocated_bytes(), "more data in the chain", "less data in the chain",
                      bytes_text(ra.allocated_bytes()) + " vs " + bytes_text(rb.allocated_bytes()));
}

bool ranks_before(const Candidate& a, const Candidate& b, bool counters_count) {
  if (a.usable() != b.usable()) return a.usable();
  if (a.blocking.size() != b.blocking.size()) return a.blocking.size() < b.blocking.size();
  const Comparison c = compare_evidence(a, b, counters_count);
  if (c.order != 0) return c.order < 0;
  const auto& ra = a.replica();
  const auto& rb = b.replica();
  return std::tie(a.source->node, ra.disk(), ra.dir()) < std::tie(b.source->node, rb.disk(), rb.dir());
}

std::string short_digest(const std::string& digest) { return digest.size() > 12 ? digest.substr(0, 12) : digest; }

v1::ReplicaLocation location_of(const Candidate& c) {
  v1::ReplicaLocation l;
  l.set_node(c.source->node);
  l.set_disk(c.replica().disk());
  l.set_dir(c.replica().dir());
  return l;
}

std::string ranges_text(const google::protobuf::RepeatedPtrField<v1::ByteRange>& ranges) {
  std::string text;
  size_t shown = 0;
  for (const auto& r : ranges) {
    if (shown == 4) {
      text += ", and " + std::to_string(ranges.size() - shown) + " more";
      break;
    }
    if (shown++ != 0) text += ", ";
    text += "bytes " + std::to_string(r.offset()) + "-" + std::to_string(r.offset() + r.length() - 1) + " (" +
            bytes_text(r.length()) + " at " + bytes_text(r.offset()) + ")";
  }
  return text;
}

class PlanBuilder {
 public:
  PlanBuilder(std::string_view volume, const VolumeReplicas& input, const PlanOptions& options,
              std::optional<LonghornVersion> version)
      : volume_(volume), input_(input), options_(options), version_(version) {}

  v1::SalvagePlan build() {
    plan_.set_volume(volume_);
    for (const auto& note : input_.notes) plan_.add_notes(note);
    shape_ = volume_shape(input_.replicas);
    plan_.set_volume_size_bytes(shape_.size_bytes);
    plan_.set_volume_sector_size(shape_.sector_size);
    choose_mode();
    assess();
    rank();
    predict();
    recommend();
    find_divergence();
    fill_replicas();
    warn_about_longhorn();
    if (const std::string problem = volume_name_problem(volume_); !problem.empty()) {
      plan_.add_warnings("no commands are given: \"" + volume_ + "\" is not a valid Longhorn volume name (" + problem +
                         ")");
    }
    for (auto& step : salvage_steps(plan_)) plan_.add_steps(std::move(step));
    return std::move(plan_);
  }

 private:
  void choose_mode() {
    std::string why;
    switch (options_.revision_counter) {
      case RevisionCounterChoice::kEnabled:
        mode_ = v1::LonghornPrediction::ENABLED;
        break;
      case RevisionCounterChoice::kDisabled:
        mode_ = v1::LonghornPrediction::DISABLED;
        break;
      case RevisionCounterChoice::kAuto:
        mode_ = infer_revision_counter_mode(input_.replicas, &why);
        mode_inferred_ = true;
        plan_.add_notes("revision counter assumed " +
                        std::string(mode_ == v1::LonghornPrediction::ENABLED ? "enabled" : "disabled") + ": " + why +
                        " (kubectl -n longhorn-system get volumes.longhorn.io " + volume_ +
                        " -o jsonpath='{.spec.revisionCounterDisabled}' tells; override with --revision-counter)");
        break;
    }
    plan_.set_revision_counter_mode(mode_);
    plan_.set_longhorn_version(version_ ? version_->to_string() : "unknown");
  }

  void assess() {
    for (size_t i = 0; i < input_.replicas.size(); ++i) {
      Candidate c;
      c.source = &input_.replicas[i];
      c.input_index = i;
      c.blocking = unusable_reasons(c.replica(), shape_, counters_count());
      candidates_.push_back(std::move(c));
    }
    std::map<std::string, int> digest_count;
    for (const auto& c : candidates_) {
      if (c.usable() && !c.replica().content_digest().empty()) ++digest_count[c.replica().content_digest()];
    }
    for (auto& c : candidates_) {
      if (c.usable() && !c.replica().content_digest().empty())
        c.agreement = digest_count[c.replica().content_digest()] - 1;
    }
  }

  void rank() {
    const bool counters = mode_ == v1::LonghornPrediction::ENABLED;
    std::stable_sort(candidates_.begin(), candidates_.end(),
                     [&](const Candidate& a, const Candidate& b) { return ranks_before(a, b, counters); });
  }

  void predict() {
    PredictionOptions options;
    options.version = version_;
    options.revision_counter_mode = mode_;
    options.revision_counter_mode_inferred = mode_inferred_;
    options.volume = shape_;
    forecast_ = predict_longhorn(input_.replicas, options);
    *plan_.mutable_longhorn() = forecast_.prediction;
    std::set<std::string> seen;
    for (const auto& outcome : forecast_.prediction.possible_outcomes()) {
      for (const auto& dir : outcome.keep()) {
        if (seen.insert(dir).second) plan_.add_longhorn_would_keep(dir);
      }
    }
  }

  [[nodiscard]] bool counters_count() const { return mode_ == v1::LonghornPrediction::ENABLED; }

  void recommend() {
    const Candidate& best = candidates_.front();
    recommended_.insert(&best);
    if (!best.usable()) {
      plan_.set_last_resort(true);
      plan_.set_recommendation_reason("no replica is usable; " + best.label() +
                                      " is the least damaged and is recommended as a last resort (" +
                                      best.blocking.front() + ")");
      plan_.add_warnings("NO USABLE REPLICA: " + best.label() +
                         " is recommended only as a last resort: " + join(best.blocking) +
                         ". Keep the read-only copy (export) before Longhorn opens it: it may clear flags and write.");
    } else {
      std::string reason = best.label() + " is the best usable replica";
      if (const Candidate* next = next_usable(best)) {
        Comparison c = compare_evidence(best, *next, counters_count());
        reason += c.order != 0
                      ? ": " + c.phrase + " than " + next->label()
                      : ", tied with " + next->label() +
                            " on every ranking criterion (revision counter, head mtime, replicas agreeing on its "
                            "content, head and chain size); placed first by node and directory name only";
      } else {
        reason += " (the only usable one)";
      }
      const std::string& digest = best.replica().content_digest();
      std::vector<std::string> same, unknown;
      for (const auto& c : candidates_) {
        if (&c == &best || !c.usable()) continue;
        if (digest.empty() || c.replica().content_digest().empty()) {
          unknown.push_back(c.label());
        } else if (c.replica().content_digest() == digest) {
          recommended_.insert(&c);
          same.push_back(c.label());
        }
      }
      if (!same.empty())
        reason += "; " + join(same) + " hold" + (same.size() == 1 ? "s" : "") + " the same data (equal content digest)";
      if (!unknown.empty()) {
        reason += "; whether " + join(unknown) + " hold" + (unknown.size() == 1 ? "s" : "") +
                  " the same data is unknown without content digests: `sentinelctl scan --deep --json` on every node "
                  "confirms it";
      }
      plan_.set_recommendation_reason(reason);
    }
    bool all_digests = true;
    for (const auto& c : candidates_) {
      if (c.usable() && c.replica().content_digest().empty()) all_digests = false;
    }
    plan_.set_content_compared(all_digests);
    if (!all_digests) {
      plan_.add_notes(
          "some usable replicas have no content digest (quick scan): equal data and divergence cannot be "
          "confirmed; run `sentinelctl scan --deep --chunks --json` on every node for them");
    }
    for (const auto& c : candidates_) {
      if (recommended_.count(&c) != 0) *plan_.add_recommended() = location_of(c);
    }
  }

  const Candidate* next_usable(const Candidate& after) const {
    bool passed = false;
    for (const auto& c : candidates_) {
      if (passed && c.usable()) return &c;
      if (&c == &after) passed = true;
    }
    return nullptr;
  }

  // Groups of replicas Longhorn's rule cannot tell apart.
  std::vector<std::vector<const Candidate*>> tied_groups() const {
    std::vector<std::vector<const Candidate*>> groups;
    if (counters_count()) {
      std::map<int64_t, std::vector<const Candidate*>> by_counter;
      for (const auto& c : candidates_) {
        if (verdict_of(c).verdict != v1::LONGHORN_DROP) by_counter[counter_of(c.replica())].push_back(&c);
      }
      for (auto& [counter, group] : by_counter) {
        if (group.size() > 1) groups.push_back(std::move(group));
      }
    } else {
      std::vector<const Candidate*> winners;
      for (const auto& c : candidates_) {
        if (verdict_of(c).verdict == v1::LONGHORN_MAY_KEEP) winners.push_back(&c);
      }
      if (winners.size() > 1) groups.push_back(std::move(winners));
    }
    return groups;
  }

  void find_divergence() {
    bool checked = true;
    for (const auto& group : tied_groups()) {
      for (size_t i = 0; i < group.size(); ++i) {
        for (size_t j = i + 1; j < group.size(); ++j) {
          const Candidate& a = *group[i];
          const Candidate& b = *group[j];
          if (a.replica().content_digest().empty() || b.replica().content_digest().empty()) {
            checked = false;
            continue;
          }
          if (a.replica().content_digest() == b.replica().content_digest()) continue;
          add_divergence(a, b);
        }
      }
    }
    plan_.set_divergent(plan_.divergences_size() > 0);
    plan_.set_divergence_checked(checked);
    if (!checked) {
      plan_.add_notes(
          "replicas tied on Longhorn's criteria lack content digests: whether they diverge is unknown "
          "(deep scan)");
    }
  }

  void add_divergence(const Candidate& a, const Candidate& b) {
    auto* d = plan_.add_divergences();
    *d->mutable_a() = location_of(a);
    *d->mutable_b() = location_of(b);
    d->set_a_digest(a.replica().content_digest());
    d->set_b_digest(b.replica().content_digest());
    const ChunkDiff diff = diff_chunk_lists(a.replica(), b.replica());
    d->set_ranges_known(diff.ranges_known && diff.comparison == ContentComparison::kDifferent);
    for (const auto& range : diff.differing) {
      auto* r = d->add_differing_ranges();
      r->set_offset(range.offset);
      r->set_length(range.length);
    }
    d->set_differing_chunks(diff.differing_chunks);
    d->set_differing_bytes(diff.differing_bytes);
    d->set_note(diff.note);

    const std::string tie = counters_count()
                                ? "equal revision counters (" + std::to_string(counter_of(a.replica())) + ")"
                                : "both possible salvage winners";
    const std::string longhorn = counters_count() ? "Longhorn keeps both RW if they have the highest counter, and "
                                                    "reads may come from either"
                                                  : "Longhorn keeps one of them, which one Sentinel cannot predict";
    const std::string where = d->ranges_known() ? "in " + ranges_text(d->differing_ranges()) + " (" +
                                                      bytes_text(diff.chunk_bytes) + " chunks)"
                                                : "(which bytes is unknown: " + diff.note + ")";
    plan_.add_warnings("DIVERGENT: " + a.label() + " and " + b.label() + " have " + tie + " but hold different data " +
                       where + ". " + longhorn +
                       ". Sentinel cannot tell which is right: copy both (steps) and check the application's data "
                       "before deleting either.");
  }

  const ReplicaVerdict& verdict_of(const Candidate& c) const { return forecast_.verdicts[c.input_index]; }

  void fill_replicas() {
    uint32_t rank = 0;
    for (size_t i = 0; i < candidates_.size(); ++i) {
      const Candidate& c = candidates_[i];
      const v1::Replica& r = c.replica();
      auto* out = plan_.add_replicas();
      out->set_rank(++rank);
      out->set_node(c.source->node);
      out->set_disk(r.disk());
      out->set_dir(r.dir());
      out->set_usable(c.usable());
      out->set_recommended(recommended_.count(&c) != 0);
      for (const auto& reason : c.blocking) out->add_reasons("unusable: " + reason);
      add_rank_reason(i, out);
      for (const auto& caveat : caveats(r, counters_count())) out->add_reasons(caveat);
      out->set_revision_counter(r.revision_counter());
      out->set_revision_counter_present(r.revision_counter_present());
      out->set_head_mtime_ns(r.head_mtime_ns());
      out->set_head_allocated_bytes(r.head_allocated_bytes());
      out->set_allocated_bytes(r.allocated_bytes());
      out->set_size_bytes(r.size_bytes());
      out->set_sector_size(r.sector_size());
      out->set_content_digest(r.content_digest());
      out->set_state(r.state());
      std::set<int> codes;
      for (const auto& f : r.findings()) {
        if (codes.insert(f.code()).second) out->add_findings(f.code());
      }
      out->set_dirty(r.dirty());
      out->set_rebuilding(r.rebuilding());
      out->set_error(r.error());
      out->set_longhorn(verdict_of(c).verdict);
      out->set_longhorn_reason(verdict_of(c).reason);
      out->set_scanned_at_ns(c.source->scanned_at_ns);
    }
  }

  // Where the replica stands against its neighbour: the one above, or for the first, the one below.
  void add_rank_reason(size_t i, v1::RankedReplica* out) const {
    const Candidate& c = candidates_[i];
    if (!c.usable() && i > 0 && candidates_[i - 1].usable()) return;  // its blocking reasons say it all
    const bool first = i == 0;
    if (first && candidates_.size() == 1) {
      out->add_reasons("the only replica of the volume found");
      return;
    }
    const Candidate& other = first ? candidates_[1] : candidates_[i - 1];
    if (first && !other.usable() && c.usable()) {
      out->add_reasons("the only usable replica");
      return;
    }
    const Comparison cmp = compare_evidence(c, other, counters_count());
    if (cmp.order == 0) {
      out->add_reasons(std::string("tied with ") + other.label() +
                       " on every ranking criterion (revision counter, head mtime, replicas agreeing on its content, "
                       "head and chain size): ordered by name only");
    } else if (first) {
      out->add_reasons("ranked above " + other.label() + ": " + cmp.phrase);
    } else {
      out->add_reasons("ranked below " + other.label() + ": " + cmp.phrase);
    }
    if (c.usable() && !c.replica().content_digest().empty() &&
        !candidates_.front().replica().content_digest().empty() && &c != &candidates_.front()) {
      out->add_reasons(c.replica().content_digest() == candidates_.front().replica().content_digest()
                           ? "same content as the best (digest " + short_digest(c.replica().content_digest()) + ")"
                           : "different content from the best (digest " + short_digest(c.replica().content_digest()) +
                                 " vs " + short_digest(candidates_.front().replica().content_digest()) + ")");
    }
  }

  // A warning for every replica Longhorn may keep that Sentinel does not recommend, and when Longhorn would keep
  // none of the recommended ones.
  void warn_about_longhorn() {
    const std::string who = "Longhorn " + plan_.longhorn_version() + " (revision counter " +
                            (counters_count() ? "enabled" : "disabled") + ")";
    bool keeps_a_recommended = false;
    for (const auto& c : candidates_) {
      const auto verdict = verdict_of(c).verdict;
      const bool may_keep = verdict == v1::LONGHORN_KEEP || verdict == v1::LONGHORN_MAY_KEEP;
      if (!may_keep) continue;
      if (recommended_.count(&c) != 0) {
        keeps_a_recommended = true;
        continue;
      }
      std::string why;
      if (!c.usable()) {
        why = "it is unusable: " + c.blocking.front();
      } else if (!c.replica().content_digest().empty() && !candidates_.front().replica().content_digest().empty()) {
        why = "it holds different data from " + candidates_.front().label();
      } else {
        Comparison cmp = compare_evidence(c, candidates_.front(), counters_count());
        why = cmp.order == 0
                  ? "it is tied with " + candidates_.front().label() + " but its data is not known to be the same"
                  : "it ranks below " + candidates_.front().label() + ": " + cmp.phrase;
      }
      plan_.add_warnings("LONGHORN DIFFERS: " + who + (verdict == v1::LONGHORN_KEEP ? " would keep " : " may keep ") +
                         c.label() + " RW, which Sentinel does not recommend: " + why +
                         ". Select only the recommended replicas in the Salvage dialog: the engine then chooses "
                         "among them only.");
    }
    if (!keeps_a_recommended) {
      const Candidate& best = candidates_.front();
      plan_.add_warnings("LONGHORN DIFFERS: " + who + " would not keep " + best.label() + " (" +
                         verdict_of(best).reason +
                         "). Offer the engine only the recommended replicas (Salvage dialog), or export the data with "
                         "`sentinelctl export`.");
    }
  }

  static std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
    return out;
  }

  std::string volume_;
  const VolumeReplicas& input_;
  const PlanOptions& options_;
  std::optional<LonghornVersion> version_;
  v1::SalvagePlan plan_;
  VolumeShape shape_;
  Mode mode_ = v1::LonghornPrediction::ENABLED;
  bool mode_inferred_ = false;
  std::vector<Candidate> candidates_;  // rank order after rank()
  std::set<const Candidate*> recommended_;
  LonghornForecast forecast_;
};

}  // namespace

std::optional<RevisionCounterChoice> parse_revision_counter_choice(std::string_view text) {
  if (text == "auto") return RevisionCounterChoice::kAuto;
  if (text == "enabled") return RevisionCounterChoice::kEnabled;
  if (text == "disabled") return RevisionCounterChoice::kDisabled;
  return std::nullopt;
}

PlanResult make_salvage_plan(std::string_view volume, const VolumeReplicas& replicas, const PlanOptions& options) {
  PlanResult result;
  std::optional<LonghornVersion> version;
  if (!options.longhorn_version.empty()) {
    version = parse_longhorn_version(options.longhorn_version);
    if (!version) {
      result.error = PlanError::kBadOption;
      result.message = "\"" + options.longhorn_version +
                       "\" is not a Longhorn version (expected vMAJOR.MINOR.PATCH, "
                       "e.g. v1.5.3)";
      return result;
    }
  }
  if (replicas.replicas.empty()) {
    result.error = PlanError::kNoReplicas;
    result.message = "no replica of volume \"" + std::string(volume) + "\" in the inventories";
    return result;
  }
  result.plan = PlanBuilder(volume, replicas, options, version).build();
  return result;
}

PlanResult make_salvage_plan(std::string_view volume, const std::vector<NodeInventory>& inventories,
                             const PlanOptions& options) {
  return make_salvage_plan(volume, replicas_of_volume(inventories, volume), options);
}

}  // namespace sentinel::salvage
