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
  # RabbitMQ events: rabbitmq-c for the collector and sentinelctl watch; the broker for tests/collector/amqp_test
  librabbitmq-dev rabbitmq-server
  # tests/fuzz: libFuzzer targets, built with clang (the fuzz preset); libFuzzer and clang's sanitizer runtimes
  clang libclang-rt-14-dev
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
  # rabbitmq-server's postinst would start a system-wide broker: tests start their own. Keep services from
  # starting for the install with a temporary policy-rc.d, only when none exists (an existing one is left alone).
  own_policy=
  if [[ " ${missing[*]} " == *" rabbitmq-server "* && ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo_cmd[@]}" chmod 755 /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" ||
    status=$?
  if [[ -n $own_policy ]]; then "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d; fi
  if [[ -n ${status:-} ]]; then exit "$status"; fi
fi
