#!/usr/bin/env bash
# The GPU check of the GPU queue, in two halves so that the GPU machine builds nothing:
#
#   scripts/gpu-check.sh prepare   (here) builds, with the `cuda` feature, the GPU tests
#       (sae/tests/gpu.rs) and the benchmark (sae/examples/bench.rs) in release, and puts them,
#       xz-compressed, with the benchmark's page into target/gpu-check/ (about 19 MB), the
#       folder to carry (the device's limit is 64 MiB with the working tree).
#   scripts/gpu-check.sh run       (on the GPU machine, from the repository's root, with
#       target/gpu-check carried) runs the GPU tests with RODAN_REQUIRE_GPU=1, then the
#       benchmark on the whole 2930×4166 page with upstream's training settings where they fit
#       (256×256 patches, batches of 16), and TensorFlow beside it when that machine's python
#       has it. Everything it prints goes to $OUT/gpu-check.txt (or ./gpu-check.txt).
#
# The GPU machine needs the NVIDIA driver (libcuda) and NVRTC (libnvrtc.so.12, from a CUDA
# toolkit or PyPI's nvidia-cuda-nvrtc-cu12; LD_LIBRARY_PATH may name its folder): the engine
# loads both when it starts and compiles its kernels at run time. Without them the GPU tests
# fail with the reason the probe gives. The figures go into docs/benchmarks.md by hand, with
# the machine they came from.
set -euo pipefail
cd "$(dirname "$0")/.."
pack=target/gpu-check
case "${1:-}" in
prepare)
  mkdir -p "$pack/fixtures/upstream-jobs/files"
  shared="${RODAN_SHARED_DIR:-/work/shared}"
  cp "$shared/fixtures/upstream-jobs/files/ms73-068_neume.png" "$pack/fixtures/upstream-jobs/files/"
  cargo build --release --locked -p rodan-sae --features cuda --example bench
  cp target/release/examples/bench "$pack/bench"
  test_bin="$(cargo test --release --locked -p rodan-sae --features cuda --test gpu --no-run \
    --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu" and m.get("executable"):
        print(m["executable"])')"
  cp "$test_bin" "$pack/gpu-tests"
  strip "$pack/bench" "$pack/gpu-tests"
  xz -f -T0 -6 "$pack/bench" "$pack/gpu-tests"
  du -sh "$pack"
  ;;
run)
  out="${OUT:-.}/gpu-check.txt"
  for bin in bench gpu-tests; do
    python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1] + ".xz") as src, open(sys.argv[1], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$pack/$bin"
    chmod +x "$pack/$bin"
  done
  {
    date -u
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
    echo "== GPU tests"
    RODAN_REQUIRE_GPU=1 "$pack/gpu-tests" --test-threads=1 --nocapture
    echo "== benchmark"
    python=none
    if python3 -c 'import tensorflow' 2>/dev/null; then python=python3; fi
    RODAN_SHARED_DIR="$PWD/$pack" BENCH_BIN="$pack/bench" BENCH_PYTHON="$python" \
      scripts/bench-sae.sh page=full patches=64 batch=16 models=4 \
      train_patches=256 train_size=256 train_batch=16 epochs=3
  } 2>&1 | tee "$out"
  ;;
*)
  echo "usage: $0 prepare|run" >&2
  exit 2
  ;;
esac
