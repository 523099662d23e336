#!/usr/bin/env bash
# Sauvola on a synthetic 3000x4000 greyscale page, side by side: rodan-jobs (release build, every
# core and one), Gamera 4.1.0 and scikit-image, in pages per second; fails if our pixels differ
# from Gamera's. Runs: OURS_RUNS (20), GAMERA_RUNS (3), SKIMAGE_RUNS (5).
set -euo pipefail
cd "$(dirname "$0")/.."
python=$(scripts/build-gamera.sh | tail -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo bench --quiet -p rodan-jobs --bench sauvola -- --runs "${OURS_RUNS:-20}" --out "$work" >/dev/null
"$python" jobs/benches/sauvola_reference.py "$work" "${GAMERA_RUNS:-3}" "${SKIMAGE_RUNS:-5}"
