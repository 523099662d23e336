#!/usr/bin/env bash
# Regenerates the CRD from the Rust types into crds/ and into the Helm chart.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet -p rodan-operator -- crd > crds/rodan.ddmal.music.mcgill.ca_rodans.yaml
cp crds/rodan.ddmal.music.mcgill.ca_rodans.yaml charts/rodan-operator/crds/
