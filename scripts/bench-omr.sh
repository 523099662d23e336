#!/usr/bin/env bash
# The CPU OMR pipeline on one page, side by side: rodan-jobs (release build, each job run as the
# worker runs it) against upstream Rodan's own job code under Gamera 4.1.0, each step timed, in
# BENCH_ROUNDS rounds (3) that alternate the sides, one process per side and round; rodan-jobs
# runs with every core (as the worker) and again on one thread (Gamera's jobs use one). The steps and
# settings are jobs/benches/omr_pipeline.json (upstream's Full-Workflow.json without its GPU,
# Text Alignment and Neon jobs); the page is the Salzinnes ms73-068 layers of the fixtures.
#
# The Gamera side needs RODAN_UPSTREAM_JOBS_DIR (rodan-main/code/rodan/jobs of a DDMAL/Rodan
# checkout) and MusicStaves built against Gamera 4.1.0 (RODAN_MUSICSTAVES: its gamera/toolkits
# folder, unless it is installed in Gamera's venv); without them only rodan-jobs runs. Gamera's
# python is RODAN_GAMERA_PYTHON, else the one scripts/build-gamera.sh prints.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${BENCH_ROUNDS:-3}"
if [[ -z "${RODAN_SHARED_DIR:-}" ]]; then
  for dir in ../shared ../../shared /work/shared; do
    if [[ -d "$dir/fixtures" ]]; then RODAN_SHARED_DIR="$(cd "$dir" && pwd)"; break; fi
  done
fi
files="${RODAN_SHARED_DIR:?set RODAN_SHARED_DIR to the folder holding fixtures/}/fixtures/upstream-jobs/files"
workflow="$RODAN_SHARED_DIR/fixtures/upstream-workflows/Full-Workflow.json"
plan="$PWD/jobs/benches/omr_pipeline.json"

python=""
if [[ -z "${RODAN_UPSTREAM_JOBS_DIR:-}" ]]; then
  echo "bench-omr: RODAN_UPSTREAM_JOBS_DIR is not set: skipping the Gamera side (upstream's jobs)" >&2
else
  python="${RODAN_GAMERA_PYTHON:-$(scripts/build-gamera.sh | tail -n 1)}"
  if [[ -z "${RODAN_MUSICSTAVES:-}" ]] &&
    ! "$python" -c 'from gamera.toolkits import musicstaves' 2>/dev/null; then
    echo "bench-omr: RODAN_MUSICSTAVES is not set and MusicStaves is not installed: skipping the Gamera side" >&2
    python=""
  fi
fi

# Files on tmpfs where there is one.
work=$(mktemp -d "$( [[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/bench-omr.XXXXXX")
trap 'rm -rf "$work"' EXIT
cargo bench --quiet -p rodan-jobs --bench omr_pipeline --no-run 2>/dev/null

fresh() {
  local dir="$work/$1"
  mkdir -p "$dir"
  python3 - "$plan" "$files" "$dir" <<'PY'
import json, shutil, sys, os
plan, files, folder = sys.argv[1:]
for name, source in json.load(open(plan))["inputs"].items():
    shutil.copyfile(os.path.join(files, source), os.path.join(folder, name))
PY
  echo "$dir"
}
# rust ROUND [THREADS]: every core (rayon's default, as the worker), or RAYON_NUM_THREADS.
rust() {
  local dir side=rust
  [[ -z "${2:-}" ]] || side="rust$2"
  dir=$(fresh "$side-$1")
  env ${2:+RAYON_NUM_THREADS=$2} cargo bench --quiet -p rodan-jobs --bench omr_pipeline -- --plan "$plan" --dir "$dir" \
    --result "$dir/result.json" --workflow "$workflow" >"$dir/log" 2>&1 || { cat "$dir/log" >&2; return 1; }
}
gamera() {
  local dir
  dir=$(fresh "gamera-$1")
  "$python" -W ignore::SyntaxWarning jobs/benches/omr_reference.py "$plan" "$dir" "$dir/result.json" \
    >"$dir/log" 2>&1 || { cat "$dir/log" >&2; return 1; }
}

echo "load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
for ((r = 1; r <= rounds; r++)); do
  if [[ -n "$python" && $((r % 2)) -eq 0 ]]; then
    gamera "$r"
    rust "$r"
    rust "$r" 1
  else
    rust "$r"
    rust "$r" 1
    [[ -z "$python" ]] || gamera "$r"
  fi
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 jobs/benches/omr_table.py "$work" "$rounds"
