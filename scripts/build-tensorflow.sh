#!/usr/bin/env bash
# Builds the venv with TensorFlow from PyPI that rodan-sae is compared with, cached outside the
# repo by version: tensorflow-cpu 2.15.1 and numpy 1.26.4, as DDMAL/Paco_classifier pins them
# (its Keras 2.15 writes and reads the models of upstream's GPU jobs), with h5py and OpenCV for
# upstream's page handling. Reused when present and complete. Quiet on success; prints the venv's
# python as its last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
TENSORFLOW_VERSION=2.15.1
NUMPY_VERSION=1.26.4
OPENCV_VERSION=4.10.0.84
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/tensorflow-cpu-$TENSORFLOW_VERSION-numpy-$NUMPY_VERSION-opencv-$OPENCV_VERSION"
venv_reuse "$VENV" && exit 0

install() {
  "$1" -m pip install --quiet "tensorflow-cpu==$TENSORFLOW_VERSION" "numpy==$NUMPY_VERSION" h5py \
    "opencv-python-headless==$OPENCV_VERSION" &&
    "$1" -c 'import tensorflow as tf, keras; assert tf.__version__ == "2.15.1" and keras.__version__.startswith("2.15")'
}
venv_build build-tensorflow "$VENV" install
