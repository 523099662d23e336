#!/usr/bin/env bash
# Builds the tools the MEI checks of the jobs use (jobs/tests/mei_tools.rs): Verovio, which must
# render every MEI the jobs write, and lxml, whose RelaxNG validator checks them against an MEI
# schema when one is given. A venv cached outside the repo by versions, reused when complete.
# Quiet on success; prints the venv's python as its last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
VEROVIO_VERSION=6.4.1
LXML_VERSION=6.2.0
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/mei-tools-verovio$VEROVIO_VERSION-lxml$LXML_VERSION"
venv_reuse "$VENV" && exit 0

install() {
  "$1" -m pip install --quiet "verovio==$VEROVIO_VERSION" "lxml==$LXML_VERSION" &&
    "$1" -c 'import verovio, lxml.etree; verovio.toolkit()'
}
venv_build build-mei-tools "$VENV" install
