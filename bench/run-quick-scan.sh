#!/usr/bin/env bash
# Quick-scan performance acceptance (scanner issue): `sentinelctl scan` vs `du -s` + `filefrag`.
#
# Usage:
#   bench/run-quick-scan.sh [quick_scan_bench options]
#   SENTINEL_BUILD_DIR=/work/main/build-bench bench/run-quick-scan.sh --runs 5
#
# Builds quick_scan_bench and sentinelctl (incrementally) in $SENTINEL_BUILD_DIR (default: build/), then runs
# the benchmark. The first run generates the test disk (200 replicas, 1,000,000 extents; ~4 GiB allocated,
# ~10 s) in --dir (default /var/tmp/sentinel-bench-quick); later runs reuse it. Delete that directory to
# reclaim the space.
#
# Options (see `quick_scan_bench --help`):
#   --dir DIR       where the generated disk lives (refuses to touch a directory it did not create)
#   --runs N        timed runs per side, median reported (default 3)
#   --replicas N    replica directories (default 200)   --extents N   extents in the tree (default 1000000)
#   --regenerate    rebuild the tree even when a matching one exists
#
# Output: the median times of du+filefrag and of the scan, the ratio, the scan's peak RSS, and PASS/FAIL lines
# for ratio <= 1.0, RSS < 64 MiB and "the scan saw every extent". Exit 0 when the report was printed (even with
# FAIL), 1 when it could not run, 2 on a usage error. Not a test: ctest never runs it.
# Build type: ${SENTINEL_BUILD_TYPE:-RelWithDebInfo}; never benchmark a Debug build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target quick_scan_bench >/dev/null
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
echo "build: $build_dir ($build_type)"
exec "$build_dir/bench/quick_scan_bench" "$@"
