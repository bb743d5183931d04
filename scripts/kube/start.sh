#!/usr/bin/env bash
# Starts a real Kubernetes control plane on 127.0.0.1 for tests: etcd, kube-apiserver (RBAC,
# service-account tokens and the TokenRequest API) and kube-controller-manager (default
# ServiceAccounts, Deployments and their ReplicaSets' pods, EndpointSlices from Services,
# namespace deletion, garbage collection).
# No kubelet and no scheduler: pods never run; tests set their status through the status
# subresource (phase, podIP, Ready condition).
#
# Usage: scripts/kube/start.sh BIN_DIR STATE_DIR
#   BIN_DIR from build.sh; STATE_DIR is created and holds certificates, data, logs, the PIDs
#   (STATE_DIR/pids) and STATE_DIR/admin.kubeconfig (a static token in group system:masters).
# Waits until /readyz answers and the controller-manager has made the default ServiceAccount,
# then prints `export KUBECONFIG=STATE_DIR/admin.kubeconfig` on its last line.
# On failure it stops whatever it started. Stop with scripts/kube/stop.sh STATE_DIR.
# Ports are random free ports on 127.0.0.1. Memory: apiserver ~250 MB, etcd ~45 MB,
# controller-manager ~85 MB.
set -euo pipefail
bin=${1:?usage: start.sh BIN_DIR STATE_DIR}
dir=${2:?usage: start.sh BIN_DIR STATE_DIR}
here=$(cd "$(dirname "$0")" && pwd)
for b in etcd kube-apiserver kube-controller-manager; do
  [ -x "$bin/$b" ] || { echo "start: $bin/$b is missing; run scripts/kube/build.sh" >&2; exit 1; }
done
mkdir -p "$dir/certs"
dir=$(cd "$dir" && pwd)
[ ! -s "$dir/pids" ] || { echo "start: $dir/pids exists; is a control plane already running there? (stop.sh $dir)" >&2; exit 1; }

ok=0
cleanup() {
  if [ "$ok" != 1 ]; then
    for log in etcd apiserver controller-manager; do
      [ -s "$dir/$log.log" ] && { echo "--- last lines of $dir/$log.log" >&2; tail -n 15 "$dir/$log.log" >&2; }
    done
    "$here/stop.sh" "$dir" >&2 || true
  fi
}
trap cleanup EXIT

# A free port: bind to port 0 and report what the kernel chose.
port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
  else
    local p
    while :; do p=$(shuf -i 20000-32000 -n 1); (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }; done
  fi
}
etcd_client=$(port); etcd_peer=$(port); etcd_metrics=$(port); api=$(port)

openssl genrsa -out "$dir/certs/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/certs/sa.key" -pubout -out "$dir/certs/sa.pub" 2>/dev/null
token=$(openssl rand -hex 16)
echo "$token,admin,1000,\"system:masters\"" > "$dir/certs/tokens.csv"
chmod 600 "$dir/certs/tokens.csv" "$dir/certs/sa.key"
: > "$dir/pids"

"$bin/etcd" --name test --data-dir "$dir/etcd" \
  --listen-client-urls "http://127.0.0.1:$etcd_client" --advertise-client-urls "http://127.0.0.1:$etcd_client" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
  --initial-cluster "test=http://127.0.0.1:$etcd_peer" --listen-metrics-urls "http://127.0.0.1:$etcd_metrics" \
  --unsafe-no-fsync >"$dir/etcd.log" 2>&1 &
echo $! >> "$dir/pids"

"$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_client" \
  --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api" \
  --cert-dir "$dir/certs/serving" --token-auth-file "$dir/certs/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc.cluster.local \
  --service-account-key-file "$dir/certs/sa.pub" --service-account-signing-key-file "$dir/certs/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 --profiling=false >"$dir/apiserver.log" 2>&1 &
echo $! >> "$dir/pids"

url="https://127.0.0.1:$api"
get() { curl -fsk -m 2 -H "Authorization: Bearer $token" "$url$1" >/dev/null 2>&1; }
for _ in $(seq 240); do
  [ -f "$dir/certs/serving/apiserver.crt" ] && get /readyz && break
  sleep 0.25
done
get /readyz || { echo "start: kube-apiserver not ready after 60 s" >&2; exit 1; }

cat > "$dir/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: $url
    certificate-authority: $dir/certs/serving/apiserver.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: test
  context: {cluster: test, user: admin}
current-context: test
KC
chmod 600 "$dir/admin.kubeconfig"

"$bin/kube-controller-manager" --kubeconfig "$dir/admin.kubeconfig" --secure-port 0 --leader-elect=false \
  --controllers deployment,replicaset,endpointslice,endpoint,namespace,serviceaccount,garbagecollector \
  --service-account-private-key-file "$dir/certs/sa.key" --root-ca-file "$dir/certs/serving/apiserver.crt" \
  >"$dir/controller-manager.log" 2>&1 &
echo $! >> "$dir/pids"
for _ in $(seq 120); do
  get /api/v1/namespaces/default/serviceaccounts/default && break
  sleep 0.25
done
get /api/v1/namespaces/default/serviceaccounts/default || { echo "start: kube-controller-manager made no default ServiceAccount in 30 s" >&2; exit 1; }

ok=1
echo "start: control plane up at $url (state in $dir)" >&2
echo "export KUBECONFIG=$dir/admin.kubeconfig"
