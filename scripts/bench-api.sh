#!/usr/bin/env bash
# API load benchmark (see api-server/examples/bench_api.rs): requests/s, p50 and p99 on loopback
# for a paginated list, an object read and an upload, against the release server at 1 and 2
# runtime threads, with PostgreSQL, RabbitMQ and Redis from rodan-testkit. Prints a Markdown table.
# BENCH_THREADS (1,2), BENCH_CONNECTIONS (32), BENCH_SECONDS (10), BENCH_RESOURCES (500).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p rodan-api-server --bin rodan-api-server
exec cargo run --quiet --release -p rodan-api-server --example bench_api -- \
    "$PWD/target/release/rodan-api-server" \
    --threads "${BENCH_THREADS:-1,2}" --connections "${BENCH_CONNECTIONS:-32}" \
    --seconds "${BENCH_SECONDS:-10}" --resources "${BENCH_RESOURCES:-500}"
