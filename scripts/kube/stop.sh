#!/usr/bin/env bash
# Stops the control plane start.sh started in STATE_DIR, by the PIDs it recorded
# (controller-manager, apiserver, etcd, in that order). A PID is signalled only while its
# command line still names STATE_DIR, so a reused PID is never hit. SIGTERM first, SIGKILL
# after 10 s. Idempotent: nothing recorded, nothing done.
# Usage: scripts/kube/stop.sh STATE_DIR
set -uo pipefail
dir=${1:?usage: stop.sh STATE_DIR}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)
[ -s "$dir/pids" ] || { rm -f "$dir/pids"; exit 0; }

ours() { [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' < "/proc/$1/cmdline" | grep -qF -- "$dir"; }
pids=$(tac "$dir/pids")
for pid in $pids; do ours "$pid" && kill -TERM "$pid" 2>/dev/null; done
for _ in $(seq 100); do
  alive=0
  for pid in $pids; do ours "$pid" && alive=1; done
  [ "$alive" = 0 ] && break
  sleep 0.1
done
for pid in $pids; do ours "$pid" && { echo "stop: $pid did not exit after SIGTERM; killing" >&2; kill -KILL "$pid" 2>/dev/null; }; done
rm -f "$dir/pids"
exit 0
