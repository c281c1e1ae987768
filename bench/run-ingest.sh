#!/usr/bin/env bash
# Collector ingest acceptance (collector issue, "Must show"): 1,000 simulated agents speaking the real protocol
# on loopback to the real sentinel-collector; reports of 100 replicas; reports/s sustained, p50/p99 ack latency,
# and the wire size of one report as protobuf vs JSON.
#
# Usage:
#   bench/run-ingest.sh [ingest_bench options]
#   SENTINEL_BUILD_DIR=/work/main/build-bench bench/run-ingest.sh --rate 8000 --seconds 20
#
# Builds ingest_bench and sentinel-collector (incrementally) in $SENTINEL_BUILD_DIR (default: build/), then runs
# the benchmark. The collector's store is recreated in --dir (default /var/tmp/sentinel-bench-ingest, on disk:
# the commits really fsync with the default --sync full); its log is --dir/collector.log.
#
# Options (see `ingest_bench --help`):
#   --agents N      simulated agents, one connection each (default 1000)
#   --replicas N    replicas per report (default 100)
#   --changed N     replicas that change between two reports of one agent (default 10)
#   --rate R        offered reports/s in total, open loop (default 5000)
#   --seconds S     measured window (default 10), after --warmup S (default 2)
#   --saturate S    then S seconds of closed loop, one report in flight per agent (default 5; 0 = skip)
#   --sync MODE     the collector's --sync: full (default) or normal
#
# Output: the wire sizes and ratio, sustained reports/s, p50/p99/max ack latency, the collector's CPU and RSS,
# the closed-loop rate, and PASS/FAIL for >= 5,000 reports/s, p99 < 50 ms and protobuf <= 30% of JSON. Exit 0 when
# the report was printed (even with FAIL), 1 when it could not run, 2 on a usage error. Not a test.
# Build type: ${SENTINEL_BUILD_TYPE:-RelWithDebInfo}; never benchmark a Debug build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target ingest_bench >/dev/null
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
echo "build: $build_dir ($build_type)"
exec "$build_dir/bench/ingest_bench" "$@"
