#!/usr/bin/env bash
# Builds Gamera (the reference the Gamera-compatible jobs are compared with) from source into a venv
# cached outside the repo by version, with numpy, Pillow and scikit-image beside it. Reused when
# present and complete. Quiet on success; prints the venv's python as its last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
GAMERA_VERSION=4.1.0
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/gamera-$GAMERA_VERSION"
venv_reuse "$VENV" && exit 0

# Gamera's image I/O links libtiff and libpng; Debian ships their headers separately.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
missing=()
[[ -f /usr/include/tiffio.h || -f /usr/include/x86_64-linux-gnu/tiffio.h ]] || missing+=(libtiff-dev)
[[ -f /usr/include/png.h ]] || missing+=(libpng-dev)
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "build-gamera: install ${missing[*]} first" >&2
    exit 1
  fi
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
fi

install() {
  "$1" -m pip install --quiet numpy==2.4.6 pillow==13.0.0 scikit-image==0.26.0 &&
    "$1" -m pip install --quiet --no-binary gamera "gamera==$GAMERA_VERSION" &&
    "$1" -c 'from gamera.core import init_gamera; init_gamera()'
}
venv_build build-gamera "$VENV" install
