#!/usr/bin/env bash
# A running Rodan on a real single-node Kubernetes on this machine: builds (first run) and
# starts the node (scripts/node.sh: kubelet, containerd, kube-proxy, CoreDNS, kube-router),
# builds and imports the images, installs the operator with Helm, applies
# examples/minimal.yaml, waits until the Rodan is Available, then forwards its nginx Service to
# a loopback port and prints the URL and the admin's credentials. Ctrl-C tears it all down.
#
#   sudo scripts/demo.sh          # as root; RODAN_DEMO_PORT (8080) picks the loopback port
#   scripts/demo.sh --exit        # stop once it is up (a smoke test of the demo itself)
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) == 0 ]] || { echo "demo: run as root (it starts a kubelet and containerd)" >&2; exit 1; }
export PATH="$(scripts/build-tools.sh | tail -n 1):$PATH"
port=${RODAN_DEMO_PORT:-8080}
exit_when_up=false
[[ ${1:-} == --exit ]] && exit_when_up=true

node_dir=$(mktemp -d /tmp/rodan-node-XXXXXX)
forward=
cleanup() {
  [[ -n $forward ]] && kill "$forward" 2>/dev/null || true
  echo "demo: tearing down the node" >&2
  if [[ -f $node_dir/pids ]]; then scripts/node.sh down "$node_dir"; else rm -rf "$node_dir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
scripts/node.sh up "$node_dir" >/dev/null
export KUBECONFIG=$node_dir/admin.kubeconfig

helm install rodan-operator charts/rodan-operator -n rodan-system --create-namespace --wait --timeout 5m >&2
kubectl create namespace rodan >&2
kubectl label namespace rodan pod-security.kubernetes.io/enforce=restricted >&2
kubectl -n rodan apply -f examples/minimal.yaml >&2
echo "demo: waiting for the Rodan to become Available (a few minutes on 2 cores)..." >&2
kubectl -n rodan wait rodan/rodan --for=condition=Available --timeout=15m >&2
kubectl -n rodan get rodan,pods >&2

kubectl -n rodan port-forward --address 127.0.0.1 service/rodan-web "$port:8080" >"$node_dir/logs/port-forward.log" 2>&1 &
forward=$!
for _ in $(seq 40); do curl -fsS "http://127.0.0.1:$port/nginx-health" >/dev/null 2>&1 && break; sleep 0.25; done
# The API's root, through nginx, as a browser would get it.
curl -fsS "http://127.0.0.1:$port/api/" >/dev/null ||
  { echo "demo: http://127.0.0.1:$port/api/ does not answer (see $node_dir/logs/port-forward.log)" >&2; exit 1; }
secret() { kubectl -n rodan get secret rodan-app -o "jsonpath={.data.$1}" | base64 -d; }
cat <<EOF

Rodan is running: http://127.0.0.1:$port/api/
  admin e-mail:  $(secret admin-email)
  password:      $(secret admin-password)
  token:         curl -s -X POST http://127.0.0.1:$port/api/auth/token/ -H 'Content-Type: application/json' \\
                   -d '{"email": "$(secret admin-email)", "password": "$(secret admin-password)"}'
  kubectl:       export KUBECONFIG=$KUBECONFIG

Ctrl-C stops it and removes the node.
EOF
$exit_when_up && exit 0
wait "$forward"
