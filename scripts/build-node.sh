#!/usr/bin/env bash
# Builds the parts of a real single-node Kubernetes that run beside the control plane (proof
# ladder rung 4), all from the Go module proxy:
#   - kubelet, kube-scheduler and kube-proxy of k8s.io/kubernetes (1.34.x: these machines run
#     cgroup v1, which kubelet 1.35 and later refuse);
#   - CoreDNS with only the plugins the node uses (a trimmed main; no cloud plugins);
#   - kube-router, run in firewall-only mode to enforce NetworkPolicies.
# containerd, runc and the CNI plugins come from Debian (scripts/node.sh installs them).
# Binaries are cached outside the repo, keyed by version; a second run only prints the directory.
# Prints the bin directory on stdout as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/k8s-module.sh"

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.14.7}"
KUBE_ROUTER_VERSION="${KUBE_ROUTER_VERSION:-v2.1.0}"
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
BIN="$CACHE/node/k8s-$K8S_VERSION-coredns-$COREDNS_VERSION-kube-router-$KUBE_ROUTER_VERSION/bin"
log() { echo "build-node: $*" >&2; }
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

missing=()
for cmd in kubelet kube-scheduler kube-proxy; do [[ -x "$BIN/$cmd" ]] || missing+=("$cmd"); done
if ((${#missing[@]})); then
  k8s_build "$K8S_VERSION" "$BIN" "${missing[@]}"
fi

# CoreDNS: coremain with the plugins the node's Corefile uses, in CoreDNS's own directive order
# (plugin.cfg). The list is kept beside the binary; a different list rebuilds it.
COREDNS_PLUGINS="bind ready health errors log cache kubernetes"
if [[ ! -x "$BIN/coredns" || "$(cat "$BIN/coredns.plugins" 2>/dev/null)" != "$COREDNS_PLUGINS" ]]; then
  work=$(mktemp -d)
  (
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    go mod init rodan.local/coredns >/dev/null 2>&1
    {
      printf '// CoreDNS with only the plugins a single test node needs.\npackage main\n\nimport (\n'
      printf '\t_ "github.com/coredns/caddy/onevent"\n'
      printf '\t"github.com/coredns/coredns/core/dnsserver"\n\t"github.com/coredns/coredns/coremain"\n'
      for p in $COREDNS_PLUGINS; do printf '\t_ "github.com/coredns/coredns/plugin/%s"\n' "$p"; done
      printf ')\n\nfunc init() {\n\tdnsserver.Directives = []string{'
      for p in $COREDNS_PLUGINS; do printf '"%s", ' "$p"; done
      printf '}\n}\n\nfunc main() { coremain.Run() }\n'
    } >main.go
    gofmt -w main.go
    log "building CoreDNS $COREDNS_VERSION ($COREDNS_PLUGINS)"
    go get "github.com/coredns/coredns@$COREDNS_VERSION" >&2
    go mod tidy >&2
    go build -trimpath -ldflags "-s -w" -o "$BIN/coredns.tmp" .
    mv "$BIN/coredns.tmp" "$BIN/coredns"
    echo "$COREDNS_PLUGINS" >"$BIN/coredns.plugins"
  )
fi

# kube-router, for NetworkPolicy enforcement only (--run-firewall, no routing, no service proxy).
if [[ ! -x "$BIN/kube-router" ]]; then
  work=$(mktemp -d)
  (
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    go mod init rodan.local/kube-router >/dev/null 2>&1
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"\n' >tools.go
    log "building kube-router $KUBE_ROUTER_VERSION"
    go get "github.com/cloudnativelabs/kube-router/v2@$KUBE_ROUTER_VERSION" >&2
    go mod tidy -e >&2 || true
    go build -trimpath -ldflags "-s -w" -o "$BIN/kube-router.tmp" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router
    mv "$BIN/kube-router.tmp" "$BIN/kube-router"
  )
fi

echo "$BIN"
