#!/usr/bin/env bash
# Runs the Kubernetes integration suite (test/kube) against a real control plane:
# builds the binaries (cached), starts etcd + kube-apiserver + kube-controller-manager into a
# temporary state dir, runs `go test -race` with SHOAL_KUBE_TEST_KUBECONFIG (and KUBECONFIG)
# pointing at its admin kubeconfig, and always stops the control plane and removes the state
# dir on the way out (EXIT trap; KUBE_KEEP_STATE=1 keeps the dir for reading logs).
# Prints what the suite checked and how long each phase took. `make kube-test` runs this.
# Needs kubectl in PATH: TestDeploy applies deploy/kubernetes with it.
# Environment: GO, KUBE_VERSION, ETCD_VERSION, KUBE_BIN (see build.sh), KUBE_TEST_TIMEOUT
# (go test -timeout, default 6m), KUBE_TEST_RUN (go test -run, default all).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/scripts/kube"
GO=${GO:-go}
export GO
timeout=${KUBE_TEST_TIMEOUT:-6m}
run=${KUBE_TEST_RUN:-.}

# TestDeploy (test/kube/deploy_test.go) applies deploy/kubernetes with `kubectl apply -k`.
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kube-test: kubectl is not in PATH; test/kube/deploy_test.go needs it to apply deploy/kubernetes (a kubectl within one minor version of KUBE_VERSION; it bundles kustomize)" >&2
  exit 1
fi
if ! kubectl kustomize --help >/dev/null 2>&1; then
  echo "kube-test: $(command -v kubectl) has no \`kustomize\` subcommand; test/kube/deploy_test.go needs a kubectl that bundles kustomize" >&2
  exit 1
fi

t0=$(date +%s)
bin=$("$here/build.sh" | tail -n 1)
t1=$(date +%s)

state=$(mktemp -d "${TMPDIR:-/tmp}/shoal-kube.XXXXXX")
rc=1
t2=$t1; t3=$t1
finish() {
  "$here/stop.sh" "$state"
  if [ "$rc" != 0 ] && [ -s "$state/apiserver.log" ]; then
    echo "--- last lines of $state/apiserver.log"; tail -n 20 "$state/apiserver.log"
  fi
  if [ -s "$state/test.log" ]; then
    echo "=== kube-test: what was checked"
    grep -E '^[[:space:]]*(--- (PASS|FAIL|SKIP)|[^ ]+\.go:[0-9]+: checked:)' "$state/test.log" | sed -E 's/^[[:space:]]+[^ ]+\.go:[0-9]+: checked:/    checked:/' || true
  fi
  local end; end=$(date +%s)
  local verdict=PASS; [ "$rc" = 0 ] || verdict=FAIL
  echo "=== kube-test: $verdict in $((end - t0))s (binaries $((t1 - t0))s, control plane start $((t2 - t1))s, go test $((t3 - t2))s, stop $((end - t3))s)"
  if [ "${KUBE_KEEP_STATE:-0}" = 1 ]; then echo "state kept in $state"; else rm -rf "$state"; fi
}
trap finish EXIT
trap 'exit 130' INT TERM

eval "$("$here/start.sh" "$bin" "$state" | tail -n 1)"
: "${KUBECONFIG:?the control plane did not start (see the logs above)}"
t2=$(date +%s)
cd "$root"
set +e
SHOAL_KUBE_TEST_KUBECONFIG=$KUBECONFIG "$GO" test -C test/kube -race -count=1 -v -timeout "$timeout" -run "$run" . 2>&1 | tee "$state/test.log"
rc=${PIPESTATUS[0]}
set -e
t3=$(date +%s)
if [ "$rc" = 0 ] && grep -qE -- '--- SKIP' "$state/test.log"; then
  echo "kube-test: a test was skipped; the suite must run in full here"; rc=1
fi
if [ "$rc" = 0 ] && ! grep -qE -- '^--- PASS' "$state/test.log"; then
  echo "kube-test: no test ran"; rc=1
fi
exit "$rc"
