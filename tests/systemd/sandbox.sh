#!/bin/sh
# Reproduces, without systemd as PID 1, the file-system part of sentinel-agent.service's sandbox, then runs a
# command in it. Must run in a mount namespace of its own with private propagation
# (unshare --mount --propagation private), as root:
#
#   sandbox.sh --read-only DIR ... --writable DIR ... --outside DIR -- COMMAND ARGS...
#
# What it does, and the unit setting each step stands for:
#   --read-only DIR   bind DIR onto itself read-only                       ReadOnlyPaths=DIR
#   (every mount)     remount every mount of the namespace read-only       ProtectSystem=strict
#   --writable DIR    bind DIR onto itself read-write, after that          StateDirectory=, RuntimeDirectory=
#   umask 077                                                              UMask=0077
# Then it checks that the sandbox holds, as root (the strongest writer): a file cannot be created in any
# --read-only or --outside DIR, and can be in every --writable DIR; exit 97 and a message when not.
# The process credentials (User=, CapabilityBoundingSet=, AmbientCapabilities=, NoNewPrivileges=) are the
# caller's business: COMMAND is typically `setpriv ... -- sentinel-agent ...`.
set -eu

read_only=""
writable=""
outside=""
mode=""
while [ $# -gt 0 ]; do
  case "$1" in
    --read-only) mode=ro ;;
    --writable) mode=rw ;;
    --outside) mode=out ;;
    --) shift; break ;;
    *)
      case "$mode" in
        ro) read_only="$read_only $1" ;;
        rw) writable="$writable $1" ;;
        out) outside="$outside $1" ;;
        *) echo "sandbox.sh: unexpected argument $1" >&2; exit 2 ;;
      esac ;;
  esac
  shift
done
[ $# -gt 0 ] || { echo "sandbox.sh: no command" >&2; exit 2; }

for dir in $read_only; do
  mount --bind "$dir" "$dir"
done
# Every mount point of this namespace, the binds above included (mountinfo field 5). A mount that refuses a
# read-only remount is named; the probes below decide whether that matters.
for mount_point in $(awk '{print $5}' /proc/self/mountinfo); do
  mount -o remount,bind,ro "$mount_point" 2>/dev/null || echo "sandbox.sh: cannot make $mount_point read-only" >&2
done
for dir in $writable; do
  mount --bind "$dir" "$dir"
  mount -o remount,bind,rw "$dir"
done
umask 077

probe() {
  (: > "$1/.sandbox-probe") 2>/dev/null && rm -f "$1/.sandbox-probe"
}
for dir in $read_only $outside; do
  if probe "$dir"; then
    echo "sandbox.sh: $dir is writable inside the sandbox" >&2
    exit 97
  fi
done
for dir in $writable; do
  if ! probe "$dir"; then
    echo "sandbox.sh: $dir is not writable inside the sandbox" >&2
    exit 97
  fi
done
echo "sandbox.sh: ready" >&2
exec "$@"
