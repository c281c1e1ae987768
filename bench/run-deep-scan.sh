#!/usr/bin/env bash
# Deep-scan performance acceptance (issue 3, "Must show" (a)-(d)): `sentinelctl scan --deep` vs `xxhsum -H3`,
# a simple SEEK_DATA/SEEK_HOLE + pread + XXH3 loop, and Longhorn's own checksum method (Go hash/crc64, ISO
# table, full sequential read), plus the deep scan's peak RSS.
#
# Usage:
#   bench/run-deep-scan.sh [deep_scan_bench options]
#   SENTINEL_BUILD_DIR=/work/main/build-dbench bench/run-deep-scan.sh --runs 5 --peer-runs 2
#
# Installs the bench's Debian packages (bench/deps.sh: xxhash, golang-go), builds deep_scan_bench and
# sentinelctl (incrementally) in $SENTINEL_BUILD_DIR (default: build/), builds bench/longhorn_crc64.go with the
# standard library only (GOCACHE/GOPATH under $SENTINEL_BUILD_DIR/bench/go, GOPROXY=off: no network), then
# runs the benchmark. The first run generates the test disk in --dir (default /var/tmp/sentinel-bench-deep): a
# replica whose snapshot is a 40 GiB sparse image with ~1.7 GB of random data in 20,000 extents (~1.7 GB of
# real space, ~30-60 s); later runs reuse it. Delete that directory to reclaim the space.
#
# Options (see `deep_scan_bench --help`):
#   --dir DIR        where the generated disk lives (refuses to touch a directory it did not create)
#   --runs N         timed runs of each Sentinel-side measurement, median reported (default 3)
#   --peer-runs N    timed runs of xxhsum and of the Go program; each reads all 40 GiB (default 1)
#   --regenerate     rebuild the image even when a matching one exists
#   --leave-cache    keep the image's page cache at the end (default: dropped, ~20 GiB of zero pages)
#
# Output: every time (median and each run), the ratios, the four crc64 values (generator, sentinelctl JSON,
# in-process, Go) and PASS/FAIL lines for (a) xxhsum/deep scan >= 60, (b) simple loop/engine >= 1.2,
# (c) Go crc64/deep scan >= 30 with equal checksums, (d) peak RSS <= 128 MiB. Exit 0 when the report was
# printed (even with FAIL), 1 when it could not run, 2 on a usage error. Not a test: ctest never runs it.
# Build type: ${SENTINEL_BUILD_TYPE:-RelWithDebInfo}; never benchmark a Debug build.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
"$root/bench/deps.sh"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target deep_scan_bench >/dev/null
if [[ ! -x "$build_dir/bench/deep_scan_bench" ]]; then
  echo "run-deep-scan.sh: deep_scan_bench was not built (libxxhash-dev missing?)" >&2
  exit 1
fi
go_dir="$build_dir/bench/go"
mkdir -p "$go_dir/cache" "$go_dir/path"
(cd "$root/bench" && GOCACHE="$go_dir/cache" GOPATH="$go_dir/path" GOFLAGS= GOPROXY=off GO111MODULE=on \
  go build -trimpath -o "$go_dir/longhorn-crc64" longhorn_crc64.go)
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build_dir/CMakeCache.txt")
echo "build: $build_dir ($build_type); $(go version)"
exec "$build_dir/bench/deep_scan_bench" --go-crc64 "$go_dir/longhorn-crc64" "$@"
