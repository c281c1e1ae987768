#!/usr/bin/env bash
# Configures and builds Sentinel. Used by scripts/run and scripts/test.
#   scripts/build.sh           the normal build, into build/ (or $SENTINEL_BUILD_DIR)
#   scripts/build.sh PRESET    a CMakePresets.json preset into its own directory: asan -> build-asan/,
#                              tsan -> build-tsan/ (sanitized builds; see README "Sanitizers")
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if (($#)); then
  cd "$root"
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$(nproc)"
  exit 0
fi
build_dir=${SENTINEL_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${SENTINEL_BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
