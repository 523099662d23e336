#!/usr/bin/env bash
# Builds the real Kubernetes control plane the operator tests run against (proof ladder rung 2):
# kube-apiserver and kube-controller-manager from k8s.io/kubernetes, etcd from go.etcd.io/etcd,
# all through the Go module proxy. Binaries are cached outside the repo, keyed by version, so a
# second run only prints the directory. Prints the bin directory on stdout as its last line.
set -euo pipefail

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

# kube-apiserver + kube-controller-manager: a throwaway module that requires k8s.io/kubernetes and
# pins every staging module (k8s.io/kubernetes replaces them with ./staging paths, which a
# dependent module cannot follow) to the matching v0.Y.Z release.
if [[ ! -x "$BIN/kube-apiserver" || ! -x "$BIN/kube-controller-manager" ]]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cd "$work"
  go mod init rodan.local/k8s-tools >/dev/null 2>&1
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
  staging_version="v0${K8S_VERSION#v1}"
  {
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$gomod"
    echo ")"
  } >>go.mod
  cat >tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
  log "resolving k8s.io/kubernetes $K8S_VERSION"
  go mod tidy -e >/dev/null 2>&1 || true
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" >&2
  for cmd in kube-apiserver kube-controller-manager; do
    log "building $cmd (several minutes on 2 cores)"
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}" \
      -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
    mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  done
  cd /
  rm -rf "$work"
  trap - EXIT
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
