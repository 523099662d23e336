#!/usr/bin/env bash
# Builds the API fuzzer the tests run against a live API server (api-server/tests/fuzz.rs):
# schemathesis, which reads /api/openapi.json and sends property-based requests to every
# operation it describes. A venv cached outside the repo by version, reused when complete.
# Quiet on success; prints the venv's python as its last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
SCHEMATHESIS_VERSION=4.32.5
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/schemathesis-$SCHEMATHESIS_VERSION"
venv_reuse "$VENV" && exit 0

install() {
  "$1" -m pip install --quiet "schemathesis==$SCHEMATHESIS_VERSION" &&
    "$1" -m schemathesis.cli --version
}
venv_build build-schemathesis "$VENV" install
