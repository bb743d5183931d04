#!/usr/bin/env bash
# Runs a House Party cluster of N nodes (default 3) on this machine:
# HTTP on ports 4001.., membership on 7946.., one fresh cookie, static
# discovery. Ctrl-C stops every node (gracefully).
set -euo pipefail
n=${1:-3}
cd "$(dirname "$0")/.."
bin=$(mktemp -d)/houseparty
go build -C cmd/houseparty -o "$bin" .
cookie=${SHOAL_COOKIE:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}
peers=""
for i in $(seq 1 "$n"); do peers="$peers${peers:+,}127.0.0.1:$((7945 + i))"; done
pids=()
stop() { kill -TERM "${pids[@]}" 2>/dev/null || true; wait; }
trap stop INT TERM EXIT
for i in $(seq 1 "$n"); do
  PORT=$((4000 + i)) SHOAL_BASENAME="node$i" SHOAL_HOST=127.0.0.1 SHOAL_CLUSTER_PORT=$((7945 + i)) \
    SHOAL_COOKIE="$cookie" SHOAL_DISCOVERY="static:$peers" "$bin" 2>&1 | sed -u "s/^/[node$i] /" &
  pids+=($!)
done
echo "cluster of $n nodes: http://127.0.0.1:4001 .. http://127.0.0.1:$((4000 + n)) (Ctrl-C stops)"
wait
