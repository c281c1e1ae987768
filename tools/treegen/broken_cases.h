// A replicas/ directory full of damage: one broken replica directory (or stray entry) per way a Longhorn disk
// can be wrong, each paired with the finding the scanner must report for it. The "Bad input" acceptance test
// scans this tree; `sentinel-gen broken` writes it for demos.
//
// Contract:
// - Every row names one entry directly under replicas/ and the finding code it must produce, where
//   (on the disk, or on that replica and which file in it) and the complete set of other codes the damage
//   legitimately brings along (so a test can demand exactly these findings and nothing else).
// - Each broken replica starts from healthy_small_replica() and changes one thing, so it yields its one
//   finding (plus the listed companions) and nothing else.
// - Rows that cannot be staged meaningfully in this environment carry a skip_reason instead of being dropped
//   silently (e.g. a mode-000 file that this process can still read because it runs as root).
// - Deterministic; never throws; EEXIST rather than touch an existing entry. Small: ~4 MiB of disk, mostly the
//   4 KiB blocks of many tiny metadata files.
#pragma once

#include <string>
#include <vector>

#include "sentinel/v1/inventory.pb.h"
#include "tools/treegen/replica_writer.h"

namespace sentinel::treegen {

enum class FindingPlace {
  kDisk,     // on the Disk, path "replicas/<entry>"
  kReplica,  // on the Replica whose dir is <entry>, path "replicas/<entry>[/<file>]"
};

struct BrokenCase {
  std::string entry;  // raw name directly under replicas/ (may hold a newline or invalid UTF-8)
  v1::Finding::Code code = v1::Finding::CODE_UNSPECIFIED;
  FindingPlace place = FindingPlace::kReplica;
  std::string file;                     // kReplica: the raw file name inside the entry; "" = the directory
  std::vector<v1::Finding::Code> also;  // every other code this entry yields (may be empty)
  std::string what;                     // the damage, in one line
  std::string skip_reason;              // non-empty: not a meaningful check here; says why
};

// A clean, closed replica (1 MiB volume, one snapshot, a head, revision counter 7): no findings, state CLEAN.
ReplicaSpec healthy_small_replica(const std::string& dir);

// Writes every case into `replicas_dir` (created if missing) and returns the table, in writing order.
SysResult<std::vector<BrokenCase>> write_broken_cases(const std::string& replicas_dir);

}  // namespace sentinel::treegen
