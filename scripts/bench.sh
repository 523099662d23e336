#!/usr/bin/env bash
# Operator benchmark on a real control plane (see operator/examples/bench.rs). Prints a Markdown
# table; docs/benchmarks.md records the figures with the machine they came from.
# BENCH_RODANS (default 1000) and BENCH_RUNS (default 20) size it.
set -euo pipefail
cd "$(dirname "$0")/.."
export RODAN_CONTROL_PLANE_BIN="$(scripts/build-control-plane.sh | tail -n 1)"
scripts/build-tools.sh >/dev/null
cargo build --quiet --release -p rodan-operator --bin rodan-operator
exec cargo run --quiet --release -p rodan-operator --example bench -- "$PWD/target/release/rodan-operator"
