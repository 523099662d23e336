#!/usr/bin/env bash
# Operator benchmark on a real control plane (see operator/examples/bench.rs). Prints a Markdown
# table; docs/benchmarks.md records the figures with the machine they came from.
# BENCH_RODANS (default 1000) and BENCH_RUNS (default 20) size it; 0 skips that phase. Builds into
# CARGO_TARGET_DIR when set. BENCH_OPERATOR (a path) runs that binary, or a wrapper of it, instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export RODAN_CONTROL_PLANE_BIN="$(scripts/build-control-plane.sh | tail -n 1)"
scripts/build-tools.sh >/dev/null
cargo build --quiet --release -p rodan-operator --bin rodan-operator
target="${CARGO_TARGET_DIR:-$PWD/target}"
exec cargo run --quiet --release -p rodan-operator --example bench -- \
  "${BENCH_OPERATOR:-$target/release/rodan-operator}"
