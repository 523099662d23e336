#!/usr/bin/env bash
# Fetches KEDA's CustomResourceDefinitions (ScaledObject, TriggerAuthentication) from the Go
# module proxy, where KEDA's module carries them, for the tests: queue autoscaling renders KEDA
# objects, and the test control plane validates them against KEDA's real schema. Prints the
# directory holding the CRD files.
set -euo pipefail
KEDA_VERSION="${KEDA_VERSION:-v2.17.2}"
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
OUT="$CACHE/keda-$KEDA_VERSION/crds"
if [[ -f "$OUT/keda.sh_scaledobjects.yaml" && -f "$OUT/keda.sh_triggerauthentications.yaml" ]]; then
  echo "$OUT"; exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
go mod init rodan.local/keda-crds >/dev/null 2>&1
dir=$(go mod download -json "github.com/kedacore/keda/v2@$KEDA_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
mkdir -p "$OUT"
cp "$dir/config/crd/bases/keda.sh_scaledobjects.yaml" "$dir/config/crd/bases/keda.sh_triggerauthentications.yaml" "$OUT/"
echo "$OUT"
