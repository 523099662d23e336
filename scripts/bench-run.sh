#!/usr/bin/env bash
# Run creation benchmark (see api-server/examples/bench_run.rs): how long POST /api/workflowruns/
# takes for a batch of BENCH_PAGES (100) pages through greyscale -> Sauvola -> Despeckle, over
# BENCH_RUNS (10) runs after one warm-up, with PostgreSQL, RabbitMQ and Redis from rodan-testkit.
# BENCH_PROFILE: release (default) or dev. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${BENCH_PROFILE:-release}"
dir=$([[ $profile == dev ]] && echo debug || echo "$profile")
cargo build --quiet --profile "$profile" -p rodan-api-server --bin rodan-api-server --example bench_run
exec "target/$dir/examples/bench_run" "$PWD/target/$dir/rodan-api-server" \
    --pages "${BENCH_PAGES:-100}" --runs "${BENCH_RUNS:-10}"
