#!/usr/bin/env bash
# The GPU queue's engine side by side with TensorFlow, in one run on one machine: rodan-sae
# (sae/examples/bench.rs, release build) and TensorFlow 2.15.1 (sae/examples/bench_tensorflow.py,
# in the venv of scripts/build-tensorflow.sh) on the same Keras models, windows, page and
# training patches, which the Rust side writes first. Figures: inference windows (256×256) per
# second, seconds for a page with MODELS models (upstream's patchwise walk), seconds per training
# epoch. Prints both sides' JSON and a Markdown table.
#
# Settings are key=value arguments, passed to both sides (sae/examples/bench.rs lists them);
# for example `scripts/bench-sae.sh page=full` times the whole 2930×4166 page.
#
#   BENCH_BIN   a prebuilt bench binary (the GPU check carries one); otherwise it is built.
#   BENCH_PYTHON  TensorFlow's python; otherwise scripts/build-tensorflow.sh's. `none` skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -z "${RODAN_SHARED_DIR:-}" ]]; then
  for dir in ../shared ../../shared /work/shared; do
    if [[ -d "$dir/fixtures" ]]; then RODAN_SHARED_DIR="$(cd "$dir" && pwd)"; break; fi
  done
fi
export RODAN_SHARED_DIR
get() { # KEY DEFAULT: the value of KEY=… among the arguments
  local a
  for a in "${args[@]}"; do [[ "$a" == "$1="* ]] && { echo "${a#*=}"; return; }; done
  echo "$2"
}
args=("$@")
dir="$(mktemp -d /tmp/bench-sae-XXXXXX)"
trap 'rm -rf "$dir"' EXIT

bin="${BENCH_BIN:-}"
if [[ -z "$bin" ]]; then
  cargo build --release --locked -p rodan-sae --example bench ${SAE_FEATURES:+--features "$SAE_FEATURES"} >&2
  bin=target/release/examples/bench
fi
echo "== rodan-sae" >&2
ours="$("$bin" "$dir" "$@")"
echo "$ours"

python="${BENCH_PYTHON:-}"
if [[ -z "$python" ]]; then python="$(scripts/build-tensorflow.sh | tail -n 1)"; fi
theirs=""
if [[ "$python" != none ]]; then
  echo "== TensorFlow" >&2
  theirs="$("$python" sae/examples/bench_tensorflow.py "$dir" \
    "$(get patches 32)" "$(get batch 8)" "$(get models 4)" \
    "$(get train_patches 128)" "$(get train_size 64)" "$(get train_batch 8)" "$(get epochs 2)" \
    "$(get binarize 1)")"
  echo "$theirs"
fi

python3 - "$ours" "$theirs" <<'EOF'
import json, sys
sides = [json.loads(s) for s in sys.argv[1:] if s.strip()]
print()
print("| engine | device | windows/s (256×256, batch %d) | s/page (%s, %d models) | s/page, SAE Binarization | s/epoch (last of %d) |"
      % (sides[0]["batch"], sides[0]["page"], sides[0]["models"], len(sides[0]["epochs"])))
print("|---|---|---|---|---|---|")
for s in sides:
    b = s.get("seconds_per_page_binarization")
    print("| %s | %s | %.2f | %.1f | %s | %.2f |" % (
        s["engine"], s["device"], s["patches_per_second"], s["seconds_per_page"],
        "-" if b is None else "%.1f" % b, s["epochs"][-1]["seconds"]))
EOF
