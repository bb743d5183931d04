#!/usr/bin/env bash
# Runs the container end-to-end suite (test/e2e) against the image `make
# image` built, prints what it checked and how long it took, and removes
# every container and network it created, also when it fails or is
# interrupted. `make e2e` runs this. E2E_TIMEOUT bounds go test (default 25m).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
timeout=${E2E_TIMEOUT:-25m}
log=$(mktemp "${TMPDIR:-/tmp}/shoal-e2e.XXXXXX")
t0=$(date +%s)
rc=1
finish() {
  # The test removes its compose project itself; this catches a run that
  # was killed before its cleanup ran.
  for p in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' | sort -u | grep '^shoale2e' || true); do
    echo "e2e: removing leftover project $p"
    docker ps -aq --filter "label=com.docker.compose.project=$p" | xargs -r docker rm -f >/dev/null
    docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null || true
  done
  echo "=== e2e: what was checked"
  grep -E '^[[:space:]]*(--- (PASS|FAIL|SKIP)|[^ ]+\.go:[0-9]+: checked:)' "$log" | sed -E 's/^[[:space:]]+[^ ]+\.go:[0-9]+: checked:/    checked:/' || true
  local verdict=PASS; [ "$rc" = 0 ] || verdict=FAIL
  echo "=== e2e: $verdict in $(( $(date +%s) - t0 ))s"
  if [ "$rc" = 0 ]; then
    rm -f "$log"
  else
    echo "=== e2e: the full output is kept in $log"
  fi
}
trap finish EXIT
trap 'exit 130' INT TERM
# The v2 of the rolling update: the same code built with the tag
# houseparty_v2, whose people hand on a state with a field more.
mkdir -p bin/image-v2
CGO_ENABLED=0 GOOS=linux "$GO" build -C cmd/houseparty -trimpath -ldflags='-s -w' -tags houseparty_v2 -o "$PWD/bin/image-v2/houseparty" .
set +e
SHOAL_E2E=1 "$GO" test -count=1 -v -timeout "$timeout" ./test/e2e/ 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" = 0 ] && grep -qE -- '--- SKIP' "$log"; then
  echo "e2e: a test was skipped; the suite must run in full here"; rc=1
fi
if [ "$rc" = 0 ] && ! grep -qE -- '^--- PASS' "$log"; then
  echo "e2e: no test ran"; rc=1
fi
exit "$rc"
