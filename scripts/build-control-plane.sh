#!/usr/bin/env bash
# Builds the real Kubernetes control plane the operator tests run against (proof ladder rung 2):
# kube-apiserver and kube-controller-manager from k8s.io/kubernetes, etcd from go.etcd.io/etcd,
# all through the Go module proxy. Binaries are cached outside the repo, keyed by version, so a
# second run only prints the directory. Prints the bin directory on stdout as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib/k8s-module.sh"

K8S_VERSION="${K8S_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
BIN="$CACHE/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
log() { echo "build-control-plane: $*" >&2; }

if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -x "$BIN/etcd" ]]; then
  echo "$BIN"
  exit 0
fi
mkdir -p "$BIN"
export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0

# kube-apiserver + kube-controller-manager, from k8s.io/kubernetes (scripts/lib/k8s-module.sh).
if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kube-controller-manager" ]]; then
  k8s_build "$K8S_VERSION" "$BIN" kube-apiserver kube-controller-manager
fi

# etcd: its server module exposes etcdmain; a three-line main builds the etcd binary from it.
if [[ ! -x "$BIN/etcd" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  go mod init rodan.local/etcd >/dev/null 2>&1
  cat >main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  log "building etcd $ETCD_VERSION"
  go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
  go mod tidy >&2
  go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" .
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  cd /
  rm -rf "$work"
  trap - EXIT
fi

echo "$BIN"
