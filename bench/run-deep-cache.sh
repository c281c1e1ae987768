#!/usr/bin/env bash
# The deep-scan cache (`sentinelctl scan --deep --cache-dir DIR`) on the deep-scan bench's 40 GiB image: how long a
# deep scan takes without a cache, the first run that fills one, and a re-scan of the unchanged image, with the
# bytes each read (sum of images[].deepReadBytes and content.readBytes from the JSON).
#
# Usage: bench/run-deep-cache.sh [DISK]     (default /var/tmp/sentinel-bench-deep, made by bench/run-deep-scan.sh)
#
# Every scan starts with the image's pages out of the page cache, as on a node: the deep scan itself drops what
# it read (POSIX_FADV_DONTNEED), so one untimed scan first leaves them out. Prints each time; not a test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
disk=${1:-/var/tmp/sentinel-bench-deep}
if [[ ! -d $disk/replicas ]]; then
  echo "run-deep-cache.sh: no Longhorn disk at $disk; run bench/run-deep-scan.sh first (it builds the image)" >&2
  exit 1
fi
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target sentinelctl >/dev/null
ctl="$build_dir/tools/sentinelctl"
cache=$(mktemp -d "${TMPDIR:-/tmp}/sentinel-deep-cache-XXXXXX")
trap 'rm -rf "$cache"' EXIT

# scan LABEL [ARGS...]: one timed deep scan; prints seconds and the bytes it read.
scan() {
  local label=$1
  shift
  local start end out read_bytes
  start=$(date +%s.%N)
  out=$("$ctl" scan --deep --json --compact --no-progress --disk "$disk" "$@")
  end=$(date +%s.%N)
  read_bytes=$(grep -oE '"(deepReadBytes|readBytes)":"[0-9]+"' <<<"$out" | grep -oE '[0-9]+' |
    awk '{ sum += $1 } END { printf "%.0f", sum }')
  awk -v label="$label" -v s="$start" -v e="$end" -v b="${read_bytes:-0}" \
    'BEGIN { printf "%-28s %8.2f s   read %s bytes\n", label, e - s, b }'
}

"$ctl" scan --deep --json --no-progress --disk "$disk" >/dev/null  # untimed: leaves the pages out of the cache
scan "no cache"
scan "first run (fills the cache)" --cache-dir "$cache"
scan "re-scan (unchanged)" --cache-dir "$cache"
scan "re-scan again" --cache-dir "$cache"
