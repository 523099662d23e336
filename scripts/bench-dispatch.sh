#!/usr/bin/env bash
# Dispatch benchmark on one RabbitMQ (see worker/examples/bench_dispatch.rs): no-op jobs/s through
# Celery (from PyPI, in a venv cached under ~/.cache/rodan/celery-<version>/), through our bare
# dispatch, and through our full path (PostgreSQL, the real worker). Prints a Markdown table.
# BENCH_JOBS (20000), BENCH_CONCURRENCY (8), BENCH_PER_RUN (100), CELERY_VERSION (5.7.0),
# BENCH_CELERY_POOLS (prefork,threads), BENCH_PATHS (celery,bare,full), BENCH_ROUNDS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
version="${CELERY_VERSION:-5.7.0}"
venv="$HOME/.cache/rodan/celery-$version"
if [ ! -x "$venv/bin/celery" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "celery==$version"
fi
exec cargo run --quiet --release -p rodan-worker --example bench_dispatch -- \
    --jobs "${BENCH_JOBS:-20000}" --concurrency "${BENCH_CONCURRENCY:-8}" \
    --per-run "${BENCH_PER_RUN:-100}" --celery-python "$venv/bin/python" \
    --celery-pools "${BENCH_CELERY_POOLS:-prefork,threads}" --paths "${BENCH_PATHS:-celery,bare,full}" \
    --rounds "${BENCH_ROUNDS:-3}"
