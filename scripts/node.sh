#!/usr/bin/env bash
# A real single-node Kubernetes 1.34 on this machine (proof ladder rung 4): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd with runc and the CNI
# bridge, the kubelet, kube-proxy, CoreDNS and kube-router (NetworkPolicies), all host
# processes, everything under one state directory, nothing reachable from off the machine.
#
#   scripts/node.sh up [DIR]    start it; prints DIR (default: a new temp dir) as the last line.
#                               DIR/env then holds KUBECONFIG, RODAN_NODE_IP and friends.
#   scripts/node.sh down DIR    stop it and remove everything it made: processes by pid,
#                               containers and their cgroups, mounts, network namespaces,
#                               bridges, routes, firewall rules; the sysctls it changed come back.
#   scripts/node.sh check       the network guard checks alone (routes, no masquerade), on a
#                               node that is up.
#
# Network rule: no packet a node component or a pod sends may leave this machine. Before any
# pod or proxy starts, the Service range and the pod range are routed to the node's own bridge,
# an nftables guard drops anything from or to those ranges that would leave by another
# interface, and the CNI bridge runs with ipMasq off. Every address is on bridges this script
# made; the harness refuses to go on if a route would take those ranges anywhere else.
#
# Needs root. Binaries: scripts/build-control-plane.sh and scripts/build-node.sh (built and
# cached on first use); images: scripts/build-images.sh. Debian packages: see `need` below.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# The node's addressing. All of it lives on two bridges this script creates:
#   rodan-cni0  the pod bridge; its address is the pods' gateway; Services are routed to it;
#   rodan-node0 a port-less bridge (this kernel has no dummy interfaces) holding the node's
#               address, where the apiserver, the kubelet and CoreDNS listen.
NODE_NAME=rodan-node
NODE_IP=172.30.0.1
NODE_BRIDGE=rodan-node0
POD_BRIDGE=rodan-cni0
POD_CIDR=10.244.0.0/24
POD_GATEWAY=10.244.0.1
CLUSTER_CIDR=10.244.0.0/16
SERVICE_CIDR=10.96.0.0/16
API_PORT=6443
PAUSE_IMAGE=registry.k8s.io/pause:3.10

log() { echo "node: $*" >&2; }
die() {
  echo "node: error: $*" >&2
  # What the components said last, so that a failed start tells why.
  if [[ -n ${D:-} && -d $D/logs ]]; then
    local f
    for f in "$D"/logs/*.log; do
      [[ -s $f ]] && { echo "--- $(basename "$f"): last lines" >&2; tail -n 8 "$f" >&2; }
    done
  fi
  exit 1
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root"; }

install_packages() {
  local need=() pkg
  for pkg in containerd runc containernetworking-plugins iptables nftables conntrack ipset iproute2 openssl; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
  done
  if ((${#need[@]})); then
    log "installing ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  fi
}

# Every guard check at once; prints what is wrong and fails, or prints nothing.
check_guard() {
  local bad=0 addr dev
  for addr in 10.96.0.1 10.96.255.254 10.244.0.2 10.244.0.254; do
    dev=$(ip -o route get "$addr" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
    if [[ $dev != "$POD_BRIDGE" ]]; then
      echo "route to $addr goes by '${dev:-nothing}', not $POD_BRIDGE" >&2
      bad=1
    fi
  done
  dev=$(ip -o route get "$NODE_IP" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
  if [[ $dev != lo ]]; then
    echo "the node address $NODE_IP is not local (route by '${dev:-nothing}')" >&2
    bad=1
  fi
  if ! nft list table inet rodan_guard >/dev/null 2>&1; then
    echo "the nftables guard table inet rodan_guard is missing" >&2
    bad=1
  fi
  if iptables-save -t nat 2>/dev/null | grep -q -- '-s 10\.244\.[^ ]* .*-j MASQUERADE'; then
    echo "a MASQUERADE rule for the pod range exists (ipMasq must stay off)" >&2
    bad=1
  fi
  return $bad
}

# The bridges, routes and the nftables guard: before any pod, proxy or CNI plugin runs.
network_up() {
  local d=$1
  ip link add "$NODE_BRIDGE" type bridge
  echo "$NODE_BRIDGE" >>"$d/made-links"
  ip addr add "$NODE_IP/32" dev "$NODE_BRIDGE"
  ip link set "$NODE_BRIDGE" up
  # The CNI bridge plugin adopts an existing bridge of its name: made here, with the gateway
  # address, so that routes can point at it before the first pod exists.
  ip link add "$POD_BRIDGE" type bridge
  echo "$POD_BRIDGE" >>"$d/made-links"
  ip addr add "$POD_GATEWAY/24" dev "$POD_BRIDGE"
  ip link set "$POD_BRIDGE" up
  ip route add "$SERVICE_CIDR" dev "$POD_BRIDGE"
  # The rest of the cluster range belongs to no node here: nowhere to go.
  ip route add blackhole "$CLUSTER_CIDR"
  nft -f - <<NFT
table inet rodan_guard {
  set local_ifaces { type ifname; elements = { "lo", "$POD_BRIDGE", "$NODE_BRIDGE" } }
  chain postrouting {
    type filter hook postrouting priority 300; policy accept;
    ip saddr { $CLUSTER_CIDR, $SERVICE_CIDR, $NODE_IP } oifname != @local_ifaces counter drop
    ip daddr { $CLUSTER_CIDR, $SERVICE_CIDR } oifname != @local_ifaces counter drop
    ct original ip daddr $SERVICE_CIDR oifname != @local_ifaces counter drop
  }
  chain forward {
    type filter hook forward priority -300; policy accept;
    iifname "$POD_BRIDGE" oifname != @local_ifaces counter drop
    oifname "$POD_BRIDGE" iifname != @local_ifaces counter drop
  }
}
NFT
  check_guard || die "the network guard is not in place; refusing to start"
}

save_sysctls() {
  local d=$1 key
  for key in net.ipv4.ip_forward kernel.panic kernel.panic_on_oops vm.overcommit_memory \
    vm.panic_on_oom net.ipv4.conf.all.route_localnet net.bridge.bridge-nf-call-iptables \
    kernel.keys.root_maxkeys kernel.keys.root_maxbytes \
    net.netfilter.nf_conntrack_tcp_timeout_established net.netfilter.nf_conntrack_tcp_timeout_close_wait; do
    echo "$key=$(sysctl -n "$key" 2>/dev/null || echo)" >>"$d/sysctls"
  done
}

spawn() {
  local d=$1 name=$2
  shift 2
  "$@" >"$d/logs/$name.log" 2>&1 </dev/null &
  echo "$name $!" >>"$d/pids"
}

wait_for() {
  local what=$1 seconds=$2
  shift 2
  local i
  for ((i = 0; i < seconds * 4; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.25
  done
  die "$what not ready in ${seconds}s"
}

kubeconfig() {
  local token=$1
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: rodan-node
  cluster:
    server: https://$NODE_IP:$API_PORT
    certificate-authority: $D/pki/apiserver-ca.crt
users:
- name: user
  user:
    token: $token
contexts:
- name: rodan-node
  context:
    cluster: rodan-node
    user: user
current-context: rodan-node
EOF
}

certs() {
  local p=$D/pki
  mkdir -p "$p"
  # One CA signs the apiserver's serving certificate and the client certificate the apiserver
  # presents to the kubelet; the kubelet trusts it for clients.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rodan-node-ca" \
    -keyout "$p/apiserver-ca.key" -out "$p/apiserver-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$p/apiserver.key" -out "$p/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s,IP:10.96.0.1,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local\nextendedKeyUsage=serverAuth\n' "$NODE_IP" >"$p/apiserver.ext"
  openssl x509 -req -in "$p/apiserver.csr" -CA "$p/apiserver-ca.crt" -CAkey "$p/apiserver-ca.key" \
    -CAcreateserial -days 2 -extfile "$p/apiserver.ext" -out "$p/apiserver.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" \
    -keyout "$p/kubelet-client.key" -out "$p/kubelet-client.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\n' >"$p/client.ext"
  openssl x509 -req -in "$p/kubelet-client.csr" -CA "$p/apiserver-ca.crt" -CAkey "$p/apiserver-ca.key" \
    -CAcreateserial -days 2 -extfile "$p/client.ext" -out "$p/kubelet-client.crt" 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -pubout -in "$p/sa.key" -out "$p/sa.pub" 2>/dev/null
}

up() {
  need_root
  D=${1:-$(mktemp -d /tmp/rodan-node-XXXXXX)}
  mkdir -p "$D/logs"
  D=$(cd "$D" && pwd)
  [[ ! -e $D/pids ]] || die "$D already holds a node"
  install_packages
  local cp_bin node_bin
  cp_bin=$("$here/build-control-plane.sh" | tail -n 1)
  node_bin=$("$here/build-node.sh" | tail -n 1)
  ip link show "$POD_BRIDGE" >/dev/null 2>&1 && die "$POD_BRIDGE exists: another node is up (scripts/node.sh down <its dir>)"
  : >"$D/pids"
  echo "$node_bin" >"$D/node-bin"
  : >"$D/made-links"
  ls /var/run/netns 2>/dev/null | sort >"$D/netns-before" || true
  nft list tables 2>/dev/null | sort >"$D/nft-before" || true
  save_sysctls "$D"
  log "state in $D"

  network_up "$D"
  certs

  # Tokens: the admin, and one per node component with the identity the default RBAC
  # bindings expect (system:kube-scheduler, system:kube-proxy, the Node authorizer's nodes).
  local admin_token
  admin_token=$(openssl rand -hex 16)
  {
    echo "$admin_token,admin,admin-uid,\"system:masters\""
    echo "$(openssl rand -hex 16),system:kube-scheduler,uid-scheduler"
    echo "$(openssl rand -hex 16),system:kube-proxy,uid-proxy"
    echo "$(openssl rand -hex 16),system:node:$NODE_NAME,uid-node,\"system:nodes\""
  } >"$D/pki/tokens.csv"
  token_of() { awk -F, -v u="$1" '$2 == u { print $1 }' "$D/pki/tokens.csv"; }
  kubeconfig "$admin_token" >"$D/admin.kubeconfig"
  kubeconfig "$(token_of system:kube-scheduler)" >"$D/scheduler.kubeconfig"
  kubeconfig "$(token_of system:kube-proxy)" >"$D/proxy.kubeconfig"
  kubeconfig "$(token_of "system:node:$NODE_NAME")" >"$D/kubelet.kubeconfig"
  export KUBECONFIG=$D/admin.kubeconfig

  log "starting etcd and kube-apiserver on $NODE_IP:$API_PORT"
  spawn "$D" etcd "$cp_bin/etcd" --data-dir "$D/etcd" \
    --listen-client-urls http://127.0.0.1:2479 --advertise-client-urls http://127.0.0.1:2479 \
    --listen-peer-urls http://127.0.0.1:2480 --initial-advertise-peer-urls http://127.0.0.1:2480 \
    --initial-cluster default=http://127.0.0.1:2480 --unsafe-no-fsync --log-level warn
  cat >"$D/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
  userGroups: ["system:serviceaccounts:rodan-system"]
- level: None
EOF
  spawn "$D" kube-apiserver "$cp_bin/kube-apiserver" --etcd-servers http://127.0.0.1:2479 \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$API_PORT" \
    --tls-cert-file "$D/pki/apiserver.crt" --tls-private-key-file "$D/pki/apiserver.key" \
    --client-ca-file "$D/pki/apiserver-ca.crt" \
    --kubelet-client-certificate "$D/pki/kubelet-client.crt" --kubelet-client-key "$D/pki/kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$D/pki/sa.pub" --service-account-signing-key-file "$D/pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --token-auth-file "$D/pki/tokens.csv" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged=false --audit-policy-file "$D/audit-policy.yaml" \
    --audit-log-path "$D/audit.log" --audit-log-format json
  wait_for kube-apiserver 90 kubectl_ready
  log "starting kube-controller-manager and kube-scheduler"
  spawn "$D" kube-controller-manager "$cp_bin/kube-controller-manager" \
    --kubeconfig "$D/admin.kubeconfig" --authentication-kubeconfig "$D/admin.kubeconfig" \
    --authorization-kubeconfig "$D/admin.kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port 10257 \
    --service-account-private-key-file "$D/pki/sa.key" --root-ca-file "$D/pki/apiserver-ca.crt" \
    --use-service-account-credentials=true --allocate-node-cidrs --cluster-cidr "$CLUSTER_CIDR" \
    --node-cidr-mask-size 24 --service-cluster-ip-range "$SERVICE_CIDR"
  spawn "$D" kube-scheduler "$node_bin/kube-scheduler" --kubeconfig "$D/scheduler.kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 10259

  log "starting containerd"
  mkdir -p "$D/cni/net.d" "$D/cni/ipam" "$D/containerd"
  cat >"$D/containerd/config.toml" <<EOF
version = 2
root = "$D/containerd/root"
state = "$D/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$D/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$D/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine lacks CAP_SYS_RESOURCE: negative OOM score adjustments would fail containers.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$D/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "$D/containerd/runc"
EOF
  cat >"$D/cni/net.d/10-rodan.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "rodan",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$POD_BRIDGE",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": "$D/cni/ipam",
        "ranges": [[{ "subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY" }]],
        "routes": [{ "dst": "0.0.0.0/0" }]
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
EOF
  # Images come only from build-images.sh. A pod naming an image that was not imported would
  # make containerd pull it from its registry over the host's network, which the guard does not
  # cover: every registry request goes to a proxy on a closed loopback port instead, so the pull
  # fails at once (ErrImagePull) and not even a name lookup leaves the machine.
  spawn "$D" containerd env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 \
    NO_PROXY=127.0.0.1,localhost,"$NODE_IP" containerd --config "$D/containerd/config.toml"
  wait_for containerd 30 ctr --address "$D/containerd.sock" version
  log "importing the images"
  "$here/build-images.sh" --import "$D/containerd.sock" ${RODAN_NODE_IMAGE_TAGS:+--tag "$RODAN_NODE_IMAGE_TAGS"} >&2

  log "starting the kubelet"
  : >"$D/resolv.conf"
  mkdir -p "$D/kubelet" "$D/pod-logs"
  cat >"$D/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$D/containerd.sock
podLogsDir: $D/pod-logs
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $D/pki/apiserver-ca.crt}
authorization: {mode: Webhook}
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
# Pods get no name servers but CoreDNS's (which forwards nowhere): no lookup leaves the machine.
resolvConf: $D/resolv.conf
failSwapOn: false
# No CAP_SYS_RESOURCE here: the kubelet cannot lower its own OOM score.
oomScoreAdj: 0
# The VM does not boot with the kubelet's kernel defaults; it sets them (and node.sh down
# restores them).
protectKernelDefaults: false
# Disk pressure must never evict the test's pods: only memory counts.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
maxPods: 60
EOF
  spawn "$D" kubelet "$node_bin/kubelet" --config "$D/kubelet.yaml" \
    --kubeconfig "$D/kubelet.kubeconfig" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --root-dir "$D/kubelet" --cert-dir "$D/pki/kubelet" --v 1

  log "starting kube-proxy (iptables) and CoreDNS on $NODE_IP:53"
  cat >"$D/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $D/proxy.kubeconfig}
hostnameOverride: $NODE_NAME
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
mode: iptables
clusterCIDR: $CLUSTER_CIDR
nodePortAddresses: ["$NODE_IP/32"]
oomScoreAdj: 0
conntrack: {maxPerCore: 0}
EOF
  spawn "$D" kube-proxy "$node_bin/kube-proxy" --config "$D/kube-proxy.yaml"
  cat >"$D/Corefile" <<EOF
.:53 {
    bind $NODE_IP
    errors
    health 127.0.0.1:10254
    ready 127.0.0.1:10253
    cache 5
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $D/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
}
EOF
  spawn "$D" coredns "$node_bin/coredns" -conf "$D/Corefile"

  wait_for "node $NODE_NAME" 120 node_ready
  wait_for CoreDNS 60 curl -fsS http://127.0.0.1:10253/ready

  log "starting kube-router (NetworkPolicy enforcement only)"
  spawn "$D" kube-router "$node_bin/kube-router" --kubeconfig "$D/admin.kubeconfig" \
    --run-firewall=true --run-router=false --run-service-proxy=false --enable-cni=false \
    --hostname-override "$NODE_NAME" --service-cluster-ip-range "$SERVICE_CIDR" \
    --health-port 0 --metrics-port 0
  # Its health server would listen on every interface (it has no bind address): off, and its
  # readiness is its firewall chain in place.
  wait_for kube-router 60 iptables -S KUBE-ROUTER-INPUT

  storage
  local v
  for v in 1 2 3 4; do local_volume "rodan-local-$v" 100Gi; done
  check_guard || die "the network guard was changed while the node started"
  cat >"$D/env" <<EOF
export KUBECONFIG=$D/admin.kubeconfig
export RODAN_NODE_DIR=$D
export RODAN_NODE_NAME=$NODE_NAME
export RODAN_NODE_IP=$NODE_IP
export CONTAINERD_ADDRESS=$D/containerd.sock
EOF
  log "node $NODE_NAME is Ready (kubectl: source $D/env)"
  echo "$D"
}

kubectl_ready() { [[ $(kubectl get --raw /readyz 2>/dev/null) == ok ]]; }
node_ready() {
  [[ $(kubectl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null) == True ]]
}

# The default StorageClass: static `local` volumes on this node (there is no ReadWriteMany
# provisioner here; a local volume serves every pod of the one node and applies fsGroup).
storage() {
  kubectl apply -f - >&2 <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: rodan-local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
}

# `local_volume NAME SIZE`: a static PersistentVolume on this node, in the state directory.
# Mode 0777, as RWX provisioners make their directories (nfs-subdir-external-provisioner): the
# kubelet applies fsGroup to a local volume only at its first mount and never to a read-only
# one, so the media volume, shared by nginx (gid 101, read-only) and the API and workers (gid
# 10001), would otherwise stay root's whenever nginx mounts it first.
local_volume() {
  local name=$1 size=$2
  mkdir -p "$D/volumes/$name"
  chmod 0777 "$D/volumes/$name"
  kubectl apply -f - >&2 <<EOF
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $name
  labels: {rodan.test/volume: "$name"}
spec:
  capacity: {storage: $size}
  accessModes: [ReadWriteOnce, ReadWriteMany]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: rodan-local
  local: {path: $D/volumes/$name}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}
EOF
}

down() {
  need_root
  D=$(cd "${1:?usage: node.sh down DIR}" && pwd)
  [[ -f $D/pids ]] || die "$D holds no node"
  # Every step is tried whatever the one before did; what is left is reported at the end.
  set +e
  local name pid node_bin
  node_bin=$(cat "$D/node-bin" 2>/dev/null)
  # The kubelet first, so nothing restarts what is stopped next.
  kill_named "$D" kubelet
  # Every container: kill what runs in the pods' cgroups, then containerd and its shims.
  kill_cgroup_tree kubepods
  kill_named "$D" containerd
  pkill -9 -f "containerd-shim.*$D/containerd.sock" 2>/dev/null
  sleep 0.5
  kill_cgroup_tree kubepods
  while read -r name pid; do kill "$pid" 2>/dev/null; done <"$D/pids"
  sleep 1
  while read -r name pid; do kill -9 "$pid" 2>/dev/null; done <"$D/pids"
  # The rules kube-proxy, kube-router and the kubelet wrote: kube-proxy's own clean-up, then
  # every KUBE-* chain and rule (other rules stay), their ipsets, and the iptables-nft tables
  # that did not exist before the node started.
  [[ -x $node_bin/kube-proxy ]] && "$node_bin/kube-proxy" --cleanup --v 0 >/dev/null 2>&1
  local ipt table
  for ipt in iptables ip6tables; do
    for table in filter nat mangle; do
      "$ipt-save" -t "$table" 2>/dev/null | grep -v -- 'KUBE-' | "$ipt-restore" -T "$table" 2>/dev/null
    done
  done
  ipset list -n 2>/dev/null | grep -E '^KUBE-' | xargs -r -n1 ipset destroy 2>/dev/null
  comm -13 "$D/nft-before" <(nft list tables 2>/dev/null | sort) | while read -r _ family name; do
    nft delete table "$family" "$name" 2>/dev/null
  done
  # Mounts under the state directory, deepest first.
  findmnt -rn -o TARGET | grep -F "$D/" | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  # Network namespaces the CNI made during this run, and its results cache (no CNI DEL ran).
  comm -13 "$D/netns-before" <(ls /var/run/netns 2>/dev/null | sort) | while read -r ns; do
    ip netns delete "$ns" 2>/dev/null
  done
  rm -f /var/lib/cni/results/rodan-* 2>/dev/null
  while read -r link; do ip link delete "$link" 2>/dev/null; done <"$D/made-links"
  ip route delete "$SERVICE_CIDR" 2>/dev/null
  ip route delete blackhole "$CLUSTER_CIDR" 2>/dev/null
  nft delete table inet rodan_guard 2>/dev/null
  remove_cgroup_tree kubepods
  # The sysctls the kubelet, kube-proxy and the bridge plugin changed.
  while IFS='=' read -r key value; do
    [[ -n $value ]] && sysctl -q -w "$key=$value" >/dev/null 2>&1
  done <"$D/sysctls"
  # The kubelet's links to this node's container logs.
  find /var/log/containers -maxdepth 1 -type l -lname "$D/*" -delete 2>/dev/null
  local left=() alive
  for _ in $(seq 20); do
    alive=$(while read -r name pid; do kill -0 "$pid" 2>/dev/null && echo "$name($pid)"; done <"$D/pids")
    [[ -z $alive ]] && break
    sleep 0.25
  done
  [[ -n $alive ]] && left+=("processes" $alive)
  while read -r link; do ip link show "$link" >/dev/null 2>&1 && left+=("link $link"); done <"$D/made-links"
  ip route show "$SERVICE_CIDR" | grep -q . && left+=("route $SERVICE_CIDR")
  findmnt -rn -o TARGET | grep -qF "$D/" && left+=("mounts under $D")
  ls -d /sys/fs/cgroup/*/kubepods >/dev/null 2>&1 && left+=("kubepods cgroups")
  if ((${#left[@]})); then
    echo "node: error: left behind: ${left[*]} (state kept in $D)" >&2
    exit 1
  fi
  rm -rf "$D"
  log "node removed"
}

kill_named() {
  local d=$1 want=$2 name pid
  while read -r name pid; do
    if [[ $name == "$want" ]]; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
  done <"$d/pids"
}

kill_cgroup_tree() {
  local sub=$1 f
  for f in /sys/fs/cgroup/*/"$sub"; do
    [[ -d $f ]] || continue
    find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
  done
}

remove_cgroup_tree() {
  local sub=$1 f
  for f in /sys/fs/cgroup/*/"$sub"; do
    [[ -d $f ]] || continue
    find "$f" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
}

case "${1:-}" in
  up) shift; up "$@" ;;
  down) shift; down "$@" ;;
  check) check_guard && echo "node: the network guard is in place" ;;
  *) die "usage: node.sh up [DIR] | down DIR | check" ;;
esac
