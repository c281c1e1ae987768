// The steps of a salvage plan; see steps.h for the contract.
#include "salvage/steps.h"

#include <set>
#include <tuple>

#include "salvage/shell_words.h"
#include "salvage/text_units.h"

namespace sentinel::salvage {
namespace {

constexpr const char* kNamespace = "kubectl -n longhorn-system ";

using Key = std::tuple<std::string, std::string, std::string>;  // node, disk, dir

Key key_of(const v1::ReplicaLocation& l) { return {l.node(), l.disk(), l.dir()}; }
Key key_of(const v1::RankedReplica& r) { return {r.node(), r.disk(), r.dir()}; }

std::string replica_path(const std::string& disk, const std::string& dir) {
  std::string path = disk;
  if (path.empty() || path.back() != '/') path += '/';
  return path + "replicas/" + dir;
}

class StepWriter {
 public:
  explicit StepWriter(std::vector<std::string>* lines) : lines_(lines) {}
  // A numbered instruction.
  void step(const std::string& text) { lines_->push_back("# " + std::to_string(++number_) + ". " + text); }
  // An indented instruction line under the current step.
  void detail(const std::string& text) { lines_->push_back("#    " + text); }
  void command(const std::string& text) { lines_->push_back(text); }

 private:
  std::vector<std::string>* lines_;
  int number_ = 0;
};

const v1::RankedReplica* find_ranked(const v1::SalvagePlan& plan, const Key& key) {
  for (const auto& r : plan.replicas()) {
    if (key_of(r) == key) return &r;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> salvage_steps(const v1::SalvagePlan& plan) {
  std::vector<std::string> lines;
  const std::string& volume = plan.volume();
  if (!volume_name_problem(volume).empty() || plan.recommended().empty()) return lines;
  const std::string selector = "-l longhornvolume=" + volume;
  StepWriter out(&lines);

  out.step("Stop whatever uses " + volume + " (scale its workload to 0) so nothing attaches it while you work.");

  // A read-only copy first: the best replica, and every replica whose data differs from it in a divergence, so
  // the one not salvaged can still be compared at the application level.
  std::vector<Key> to_export = {key_of(plan.recommended(0))};
  std::set<Key> exported = {to_export.front()};
  for (const auto& d : plan.divergences()) {
    for (const auto* side : {&d.a(), &d.b()}) {
      if (exported.insert(key_of(*side)).second) to_export.push_back(key_of(*side));
    }
  }
  for (const auto& key : to_export) {
    const auto& [node, disk, dir] = key;
    const v1::RankedReplica* ranked = find_ranked(plan, key);
    std::string space =
        ranked ? " (needs about " + bytes_text(ranked->allocated_bytes()) + " free; the image is sparse)" : "";
    out.step("Keep a read-only copy of " + dir + " before Longhorn writes to it" + space + ". On node " + node + ":");
    out.command("sentinelctl export --replica " + shell_word(replica_path(disk, dir)) + " --output " +
                shell_word("/var/tmp/" + dir + ".img"));
  }

  out.step("Match Longhorn's replica objects to the directories (DATA_DIR is the directory name on the node):");
  out.command(std::string(kNamespace) + "get replicas.longhorn.io " + selector +
              " -o custom-columns=NAME:.metadata.name,NODE:.spec.nodeID,DATA_DIR:.spec.dataDirectoryName,"
              "DISK_PATH:.spec.diskPath,FAILED_AT:.spec.failedAt");

  out.step(
      "Only if the volume is stuck (attaching, or faulted with a stalled engine): delete its engine object. "
      "Longhorn creates a new one; replica data is not touched.");
  out.command(std::string(kNamespace) + "delete engines.longhorn.io " + selector);

  out.step("Longhorn UI > Volume > " + volume + " > Salvage: select only the replica" +
           (plan.recommended_size() > 1 ? "s" : "") + " whose DATA_DIR is:");
  for (const auto& r : plan.recommended()) out.detail(r.dir() + " (node " + r.node() + ")");
  if (plan.recommended_size() > 1) {
    out.detail("They hold the same data (equal content digests), so whichever Longhorn keeps is right.");
  }

  std::vector<const v1::RankedReplica*> not_picked;
  std::set<Key> picked;
  for (const auto& r : plan.recommended()) picked.insert(key_of(r));
  for (const auto& r : plan.replicas()) {
    if (picked.count(key_of(r)) == 0) not_picked.push_back(&r);
  }
  if (!not_picked.empty()) {
    out.step("Do not delete the replicas you did not select; keep them until " + volume +
             " is healthy and its data checked (they are the fallback):");
    for (const auto* r : not_picked) out.detail(r->dir() + " (node " + r->node() + ")");
  }

  out.step("Check that the volume comes back (ROBUSTNESS healthy, or degraded while it rebuilds):");
  out.command(std::string(kNamespace) + "get volumes.longhorn.io " + volume +
              " -o custom-columns=NAME:.metadata.name,STATE:.status.state,ROBUSTNESS:.status.robustness");
  return lines;
}

}  // namespace sentinel::salvage
