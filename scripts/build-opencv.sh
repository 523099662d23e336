#!/usr/bin/env bash
# Builds the venv with OpenCV, numpy and scikit-image from PyPI that the OpenCV-based jobs (Column
# Splitting, Extract C Clefs, Background Removal's Sauvola method on scikit-image) are compared
# with, cached outside the repo by version. Reused when present and complete. Quiet on success;
# prints the venv's python as its last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
OPENCV_VERSION=4.12.0.88
NUMPY_VERSION=2.2.6
SKIMAGE_VERSION=0.25.2
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/opencv-$OPENCV_VERSION-numpy-$NUMPY_VERSION-scikit-image-$SKIMAGE_VERSION"
venv_reuse "$VENV" && exit 0

install() {
  "$1" -m pip install --quiet "numpy==$NUMPY_VERSION" "opencv-python-headless==$OPENCV_VERSION" \
    "scikit-image==$SKIMAGE_VERSION" &&
    "$1" -c 'import cv2, numpy, skimage; assert cv2.__version__.startswith("4.12") and skimage.__version__ == "0.25.2"'
}
venv_build build-opencv "$VENV" install
