#!/usr/bin/env bash
# Agent footprint (agent issue): sentinel-agent's RSS and CPU time between scans over 200 replicas.
#
# Usage: bench/run-agent-idle.sh [agent_idle_bench options]   (see agent_idle_bench --help)
#
# Uses the quick bench's tree in /var/tmp/sentinel-bench-quick (200 replicas), generating it first with
# quick_scan_bench when it is missing. Takes about 3 quick intervals (default 10 s each).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target agent_idle_bench quick_scan_bench >/dev/null
if [[ ! -d /var/tmp/sentinel-bench-quick/replicas && " $* " != *" --dir "* ]]; then
  "$build_dir/bench/quick_scan_bench" --runs 1 >/dev/null
fi
exec "$build_dir/bench/agent_idle_bench" "$@"
