#!/usr/bin/env bash
# Installs the Debian packages Sentinel builds and tests with, only those that are missing.
# Sourced by scripts/run and scripts/test; safe to run on its own.
set -euo pipefail

SENTINEL_PACKAGES=(
  build-essential cmake pkg-config
  protobuf-compiler libprotobuf-dev
  libboost-dev libboost-program-options-dev
  libspdlog-dev nlohmann-json3-dev
  liburing-dev libisal-dev libxxhash-dev
  libssl-dev libsqlite3-dev libsqlitecpp-dev libsystemd-dev
  libgtest-dev libgmock-dev
  e2fsprogs tar coreutils
  iproute2 openssl  # tests/e2e: network namespaces and veth; TLS test certificates
  # tests/systemd: systemd-analyze (systemd), setpriv and unshare (util-linux), strace, dpkg-shlibdeps for the
  # .deb's Depends (dpkg-dev), the Kubernetes manifests parsed with yaml-cpp
  systemd util-linux strace dpkg-dev libyaml-cpp-dev
)

missing=()
for pkg in "${SENTINEL_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "sentinel: installing missing Debian packages: ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
