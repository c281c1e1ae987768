// The salvage planner (salvage/planner.h) fed arbitrary inventories: as `sentinelctl plan` and the collector feed
// it. The bytes are up to 8 sentinel.v1.Inventory messages (each a varint length, then the message: protobuf's
// delimited form; one that does not parse is skipped), and a plan is made for every volume they hold (at most 4)
// and printed as `sentinelctl plan` prints it, as text and as JSON. Byte 0 picks the options: the Longhorn version
// assumed (one of eight, "" and a malformed one included) and the revision-counter mode.
//
// Invariants (planner.h's contract): never a crash or undefined behaviour; a plan names the volume, ranks every
// replica of it (ranks 1..n in order), and recommends at least one of them, each recommended one ranked and flagged
// so; a malformed version is refused as a bad option; the plan always renders as JSON.
#include <google/protobuf/io/coded_stream.h>

#include <set>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "salvage/planner.h"
#include "salvage/volume_replicas.h"
#include "tests/fuzz/fuzz_protobuf.h"
#include "tests/fuzz/fuzz_support.h"
#include "tools/sentinelctl/inventory_output.h"
#include "tools/sentinelctl/plan_output.h"

namespace salvage = sentinel::salvage;
namespace v1 = sentinel::v1;

namespace {

constexpr const char* kVersions[] = {"", "v1.4.0", "v1.5.3", "v1.5.5", "1.6.2", "v1.6.3", "v1.9.0", "v1.5"};
constexpr bool kVersionValid[] = {true, true, true, true, true, true, true, false};

volatile size_t sink;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  sentinel::fuzz::Input input(data, size);
  const uint8_t choice = input.byte();
  salvage::PlanOptions options;
  options.longhorn_version = kVersions[(choice >> 2) % 8];
  static constexpr salvage::RevisionCounterChoice kModes[] = {
      salvage::RevisionCounterChoice::kAuto, salvage::RevisionCounterChoice::kEnabled,
      salvage::RevisionCounterChoice::kDisabled, salvage::RevisionCounterChoice::kAuto};
  options.revision_counter = kModes[choice % 4];

  const std::string_view rest = input.rest();
  google::protobuf::io::CodedInputStream stream(reinterpret_cast<const uint8_t*>(rest.data()),
                                                static_cast<int>(rest.size()));
  std::vector<salvage::NodeInventory> inventories;
  for (int i = 0; i < 8; ++i) {
    uint32_t length = 0;
    if (!stream.ReadVarint32(&length)) break;
    std::string bytes;
    if (!stream.ReadString(&bytes, static_cast<int>(std::min<uint32_t>(length, 1u << 20)))) break;
    salvage::NodeInventory inventory;
    inventory.node_if_unnamed = "inventory-" + std::to_string(i + 1);
    if (!inventory.inventory.ParseFromString(bytes)) continue;
    inventories.push_back(std::move(inventory));
  }
  if (inventories.empty()) return 0;

  const std::vector<std::string> volumes = salvage::volumes_in(inventories);
  for (size_t v = 0; v < volumes.size() && v < 4; ++v) {
    const std::string& volume = volumes[v];
    const salvage::VolumeReplicas replicas = salvage::replicas_of_volume(inventories, volume);
    const salvage::PlanResult result = salvage::make_salvage_plan(volume, replicas, options);
    if (!result.ok()) {
      FUZZ_CHECK(!result.message.empty());
      FUZZ_CHECK(result.error == salvage::PlanError::kNoReplicas ||
                 (result.error == salvage::PlanError::kBadOption && !kVersionValid[(choice >> 2) % 8]));
      if (result.error == salvage::PlanError::kNoReplicas) FUZZ_CHECK(replicas.replicas.empty());
      continue;
    }
    FUZZ_CHECK(kVersionValid[(choice >> 2) % 8]);
    const v1::SalvagePlan& plan = result.plan;
    FUZZ_CHECK(plan.volume() == volume);
    FUZZ_CHECK(plan.replicas_size() == static_cast<int>(replicas.replicas.size()));
    std::set<std::tuple<std::string, std::string, std::string>> recommended_ranked;
    for (int i = 0; i < plan.replicas_size(); ++i) {
      const auto& ranked = plan.replicas(i);
      FUZZ_CHECK(ranked.rank() == static_cast<uint32_t>(i + 1));
      if (ranked.recommended()) recommended_ranked.emplace(ranked.node(), ranked.disk(), ranked.dir());
    }
    FUZZ_CHECK(plan.recommended_size() >= 1);
    for (const auto& location : plan.recommended()) {
      FUZZ_CHECK(recommended_ranked.count({location.node(), location.disk(), location.dir()}) == 1);
    }

    std::ostringstream text;
    sentinel::tools::print_plan_text(plan, text);
    const std::string json = sentinel::tools::message_to_json(plan, true);
    FUZZ_CHECK(json.rfind("{\"error\":\"cannot render", 0) != 0);
    sink = text.str().size() + json.size();
  }
  return 0;
}
