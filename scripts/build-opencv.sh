#!/usr/bin/env bash
# Builds the venv with OpenCV and numpy from PyPI that the OpenCV-based jobs (Column Splitting,
# Extract C Clefs) are compared with, cached outside the repo by version. Reused when present and
# complete. Quiet on success; prints the venv's python as its last line.
set -euo pipefail
OPENCV_VERSION=4.12.0.88
NUMPY_VERSION=2.2.6
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/opencv-$OPENCV_VERSION-numpy-$NUMPY_VERSION"
PY="$VENV/bin/python"
STAMP="$VENV/.complete"
if [[ -f "$STAMP" && -x "$PY" ]]; then echo "$PY"; exit 0; fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
rm -rf "$VENV"
mkdir -p "$CACHE"
if ! {
  python3 -m venv "$VENV" &&
    "$PY" -m pip install --quiet --upgrade pip &&
    "$PY" -m pip install --quiet "numpy==$NUMPY_VERSION" "opencv-python-headless==$OPENCV_VERSION" &&
    "$PY" -c 'import cv2, numpy; assert cv2.__version__.startswith("4.12")'
} >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "build-opencv: failed, the venv at $VENV is incomplete" >&2
  exit 1
fi
touch "$STAMP"
echo "$PY"
