#!/usr/bin/env bash
# Starts a local control plane, runs the operator, applies examples/minimal.yaml and shows what
# the operator created. Leaves it running for exploration until Ctrl-C (pass --exit to stop).
set -euo pipefail
cd "$(dirname "$0")/.."
export RODAN_CONTROL_PLANE_BIN="$(scripts/build-control-plane.sh | tail -n 1)"
scripts/build-tools.sh >/dev/null
exec cargo run --quiet -p rodan-operator --example demo -- "$@"
