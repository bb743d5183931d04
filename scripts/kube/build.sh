#!/usr/bin/env bash
# Builds the Kubernetes control plane the integration tests run against, from the Go module
# proxy alone (no image registry or release download needed): kube-apiserver and
# kube-controller-manager from k8s.io/kubernetes $KUBE_VERSION, and etcd $ETCD_VERSION.
#
# Usage: scripts/kube/build.sh        prints the binary folder on its last line
#
# Binaries land in $KUBE_BIN (default ~/.cache/kube-testbin/v$KUBE_VERSION); a later run finds
# them there and returns at once. A cold build takes 10-15 minutes on 2 cores (kube-apiserver is
# most of it). Concurrent runs wait for each other (flock); binaries are built in a temporary
# folder and moved into place, so an interrupted build leaves nothing half-written behind.
# Not every k8s.io/kubernetes version has all its staging modules on the proxy; 1.33.13 has.
set -euo pipefail
KUBE_VERSION=${KUBE_VERSION:-1.33.13}
ETCD_VERSION=${ETCD_VERSION:-3.5.21}
KUBE_BIN=${KUBE_BIN:-$HOME/.cache/kube-testbin/v$KUBE_VERSION}
GO=${GO:-go}
minor=$(echo "$KUBE_VERSION" | cut -d. -f2)
patch=${KUBE_VERSION##*.}

exe() { [ -f "$1" ] && [ -x "$1" ]; }
have() { exe "$KUBE_BIN/kube-apiserver" && exe "$KUBE_BIN/kube-controller-manager" && exe "$KUBE_BIN/etcd"; }
if have; then echo "$KUBE_BIN"; exit 0; fi

mkdir -p "$KUBE_BIN"
exec 9>"$KUBE_BIN/.build.lock"
echo "kube build: waiting for the build lock $KUBE_BIN/.build.lock" >&2
flock 9
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod GOWORK=off

if ! exe "$KUBE_BIN/kube-apiserver" || ! exe "$KUBE_BIN/kube-controller-manager"; then
  echo "kube build: kube-apiserver and kube-controller-manager v$KUBE_VERSION (10-15 min cold)" >&2
  mkdir "$work/kube" && cd "$work/kube"
  printf 'module kubetestbin\n\ngo 1.24.0\n' > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver"\n\t_ "k8s.io/kubernetes/cmd/kube-controller-manager"\n)\n' > tools.go
  # k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with ./staging paths;
  # point those at the published v0.MINOR.PATCH modules instead.
  modfile=$("$GO" mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$modfile" ] || { echo "kube build: cannot find the go.mod of k8s.io/kubernetes@v$KUBE_VERSION" >&2; exit 1; }
  {
    printf '\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$KUBE_VERSION"
    grep '=> ./staging' "$modfile" | awk -v v="v0.$minor.$patch" '{print "\t" $1 " => " $1 " " v}'
    printf ')\n'
  } >> go.mod
  "$GO" mod tidy
  ld="-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"
  "$GO" build -trimpath -ldflags "$ld" -o "$work/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
  "$GO" build -trimpath -ldflags "$ld" -o "$work/kube-controller-manager" k8s.io/kubernetes/cmd/kube-controller-manager
  mv -f "$work/kube-apiserver" "$work/kube-controller-manager" "$KUBE_BIN/"
fi

if ! exe "$KUBE_BIN/etcd"; then
  rm -rf "$KUBE_BIN/etcd" # a directory left by an older version of this script
  echo "kube build: etcd v$ETCD_VERSION" >&2
  mkdir "$work/etcd" && cd "$work/etcd"
  printf 'module etcdtestbin\n\ngo 1.23.0\n' > go.mod
  printf '//go:build tools\n\npackage tools\n\nimport _ "go.etcd.io/etcd/server/v3"\n' > tools.go
  "$GO" get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION"
  "$GO" mod tidy
  # Not -o "$work/etcd": that is this directory, and go build would put
  # the binary inside it.
  "$GO" build -trimpath -ldflags "-s -w" -o "$work/etcd-bin" go.etcd.io/etcd/server/v3
  mv -f "$work/etcd-bin" "$KUBE_BIN/etcd"
fi
have || { echo "kube build: binaries missing from $KUBE_BIN after the build" >&2; exit 1; }
echo "$KUBE_BIN"
