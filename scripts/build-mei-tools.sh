#!/usr/bin/env bash
# Builds the tools the MEI checks of the jobs use (jobs/tests/mei_tools.rs): Verovio, which must
# render every MEI the jobs write, and lxml, whose RelaxNG validator checks them against an MEI
# schema when one is given. A venv cached outside the repo by versions, reused when complete.
# Quiet on success; prints the venv's python as its last line.
set -euo pipefail
VEROVIO_VERSION=6.4.1
LXML_VERSION=6.2.0
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/mei-tools-verovio$VEROVIO_VERSION-lxml$LXML_VERSION"
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
    "$PY" -m pip install --quiet "verovio==$VEROVIO_VERSION" "lxml==$LXML_VERSION" &&
    "$PY" -c 'import verovio, lxml.etree; verovio.toolkit()'
} >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "build-mei-tools: failed, the venv at $VENV is incomplete" >&2
  exit 1
fi
touch "$STAMP"
echo "$PY"
