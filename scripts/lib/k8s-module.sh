# Sourced by the build scripts: builds commands of k8s.io/kubernetes from the Go module proxy.
#
#   k8s_build <version> <bin dir> <cmd>...
#
# A throwaway module requires k8s.io/kubernetes and pins every staging module (k8s.io/kubernetes
# replaces them with ./staging paths, which a dependent module cannot follow) to the matching
# v0.Y.Z release. Each binary is written to <bin dir>/<cmd> through a temporary name, so an
# interrupted build never leaves a binary that looks complete.
k8s_build() {
  local version=$1 bin=$2
  shift 2
  local work gomod staging_version cmd
  work=$(mktemp -d)
  (
    set -euo pipefail
    trap 'rm -rf "$work"' EXIT
    cd "$work"
    export GOFLAGS="${GOFLAGS:--buildvcs=false}" CGO_ENABLED=0
    go mod init rodan.local/k8s-tools >/dev/null 2>&1
    gomod=$(go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    staging_version="v0${version#v1}"
    {
      echo "require k8s.io/kubernetes $version"
      echo "replace ("
      sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\t\1 => \1 '"$staging_version"'#p' "$gomod"
      echo ")"
    } >>go.mod
    {
      printf '//go:build tools\n\npackage tools\n\nimport (\n'
      for cmd in "$@"; do printf '\t_ "k8s.io/kubernetes/cmd/%s"\n' "$cmd"; done
      printf ')\n'
    } >tools.go
    echo "k8s-module: resolving k8s.io/kubernetes $version" >&2
    go mod tidy -e >/dev/null 2>&1 || true
    go get "k8s.io/kubernetes/cmd/$1@$version" >&2
    mkdir -p "$bin"
    for cmd in "$@"; do
      echo "k8s-module: building $cmd $version (minutes on 2 cores)" >&2
      go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${version#v1.}" \
        -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
      mv "$bin/$cmd.tmp" "$bin/$cmd"
    done
  )
}
