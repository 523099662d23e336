#!/usr/bin/env bash
# Builds Gamera (the reference the Gamera-compatible jobs are compared with) from source into a venv
# cached outside the repo by version, with numpy, Pillow and scikit-image beside it. Reused when
# present and complete. Quiet on success; prints the venv's python as its last line.
set -euo pipefail
GAMERA_VERSION=4.1.0
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/gamera-$GAMERA_VERSION"
PY="$VENV/bin/python"
STAMP="$VENV/.complete"
if [[ -f "$STAMP" && -x "$PY" ]]; then echo "$PY"; exit 0; fi

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

rm -rf "$VENV"
mkdir -p "$CACHE"
if ! {
  python3 -m venv "$VENV" &&
    "$PY" -m pip install --quiet --upgrade pip &&
    "$PY" -m pip install --quiet numpy==2.4.6 pillow==13.0.0 scikit-image==0.26.0 &&
    "$PY" -m pip install --quiet --no-binary gamera "gamera==$GAMERA_VERSION" &&
    "$PY" -c 'from gamera.core import init_gamera; init_gamera()'
} >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "build-gamera: failed, the venv at $VENV is incomplete" >&2
  exit 1
fi
touch "$STAMP"
echo "$PY"
