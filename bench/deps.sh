#!/usr/bin/env bash
# Installs the Debian packages the benchmarks need beyond the build's own (scripts/deps.sh), only those that
# are missing. CI does not run benchmarks, so these stay out of scripts/deps.sh.
#   xxhash     xxhsum, the generic-tool peer of the deep-scan benchmark (bench/run-deep-scan.sh)
#   golang-go  builds bench/longhorn_crc64.go, Longhorn's own way of hashing a snapshot (hash/crc64, ISO)
#   qemu-utils qemu-img, whose `compare` is the peer of the cross-node diff benchmark (bench/run-export.sh)
# Called by bench/run-deep-scan.sh and bench/run-export.sh; safe to run on its own.
set -euo pipefail

SENTINEL_BENCH_PACKAGES=(xxhash golang-go qemu-utils)

missing=()
for pkg in "${SENTINEL_BENCH_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "sentinel bench: installing missing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
