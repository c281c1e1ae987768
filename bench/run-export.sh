#!/usr/bin/env bash
# Export and diff performance acceptance (issue 6, "Salvage"): `sentinelctl export` of a 40 GiB replica whose
# chain has 4 layers and ~1.7 GB of data vs `cp --sparse=always` of its head file (target: ratio <= 1.0), and
# `sentinelctl diff --inventory` of two such replicas differing in one 4 KiB block, from their deep scans'
# chunk lists, vs `qemu-img compare` of the two merged images (target: >= 10x faster). Warm page cache.
#
# Usage:
#   bench/run-export.sh [export_bench options]
#   SENTINEL_BUILD_DIR=/work/main/build-export bench/run-export.sh --runs 5
#
# Installs the bench's Debian packages (bench/deps.sh: qemu-utils for qemu-img), builds export_bench and
# sentinelctl (incrementally) in $SENTINEL_BUILD_DIR (default: build/), then runs the benchmark. The first run
# generates the two replicas in --dir (default /var/tmp/sentinel-bench-export) with tools/treegen: ~4.4 GB of
# real space, about a minute; later runs reuse them. During a run the exported images add ~7 GB in --dir/out
# (removed at the end unless --keep-outputs). Delete the directory to reclaim the space.
#
# Options (see `export_bench --help`):
#   --dir DIR        where the generated disks live (refuses to touch a directory it did not create)
#   --runs N         timed rounds of each measurement, median reported (default 3)
#   --regenerate     rebuild the trees even when matching ones exist
#   --keep-outputs   leave the exported images and the two inventories in DIR/out
#
# Output: every time (median and each run), the ratios, where each tool found the differing block, and
# PASS/FAIL lines for (a) export / (cp + sync) <= 1.0 and (b) qemu-img compare / diff --inventory >= 10.
# Exit 0 when the report was printed (even with FAIL), 1 when it could not run, 2 on a usage error.
# Not a test: ctest never runs it. Build type: ${SENTINEL_BUILD_TYPE:-RelWithDebInfo}; never a Debug build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
"$root/bench/deps.sh"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target export_bench >/dev/null
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
echo "build: $build_dir ($build_type); $(qemu-img --version | head -1); $(cp --version | head -1)"
exec "$build_dir/bench/export_bench" "$@"
