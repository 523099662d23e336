#!/usr/bin/env bash
# Builds the MEI 5.0 RelaxNG schema the MEI our jobs write is validated against. No registry ships
# MEI's RNG; PyPI's verovio 4.5.1 sdist ships MEI 5.0's compiled ODD
# (libmei/mei/mei-all_compiled.odd, TEIVERSION "Version 5.0"), which scripts/lib/odd2rng.py
# converts to RELAX NG (Schematron constraints are not RNG and are left out; SVG inside MEI is
# accepted as any svg:svg, the ODD not holding SVG's grammar).
# Cached outside the repo in a folder named by the MEI version, the verovio version and the
# converter's hash, reused when complete. The folder is also a venv with Verovio 4.5.1 (whose MEI
# writer declares 5.0) and lxml, that the schema's tests use; it keeps the ODD beside the RNG, and
# the converter's counts in counts.json. Quiet on success; prints the RNG's path as its last line.
set -euo pipefail
LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")/lib" && pwd)"
source "$LIB/venv.sh"
MEI_VERSION=5.0
VEROVIO_VERSION=4.5.1
VEROVIO_SDIST_SHA256=22105022ae0386613a60bdf5b4a273a8e004546c4e74df806325dca017a32960
LXML_VERSION=6.2.0
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
CONVERTER_HASH=$(sha256sum "$LIB/odd2rng.py" | cut -c 1-12)
DIR="$CACHE/mei-schema-$MEI_VERSION-verovio$VEROVIO_VERSION-$CONVERTER_HASH"
if venv_reuse "$DIR" >/dev/null && [[ -f "$DIR/mei-all.rng" ]]; then
  echo "$DIR/mei-all.rng"
  exit 0
fi

install() {
  local py="$1" sdist="$DIR/sdist"
  local tarball="$sdist/verovio-$VEROVIO_VERSION.tar.gz"
  local odd="verovio-$VEROVIO_VERSION/libmei/mei/mei-all_compiled.odd"
  "$py" -m pip install --quiet "verovio==$VEROVIO_VERSION" "lxml==$LXML_VERSION" &&
    "$py" -m pip download --quiet --no-deps --no-binary :all: "verovio==$VEROVIO_VERSION" \
      -d "$sdist" &&
    echo "$VEROVIO_SDIST_SHA256  $tarball" | sha256sum --check --quiet &&
    tar -xzf "$tarball" -C "$sdist" "$odd" &&
    mv "$sdist/$odd" "$DIR/mei-all_compiled.odd" &&
    rm -rf "$sdist" &&
    "$py" "$LIB/odd2rng.py" "$DIR/mei-all_compiled.odd" "$DIR/mei-all.rng" --svg-any \
      >"$DIR/counts.json" &&
    "$py" - "$DIR/counts.json" "$MEI_VERSION" "$VEROVIO_VERSION" <<'EOF'
import json, sys, verovio
counts = json.load(open(sys.argv[1]))
assert counts["version"] == f"Version {sys.argv[2]}", counts["version"]
assert verovio.toolkit().getVersion().startswith(sys.argv[3])
EOF
}
venv_build build-mei-schema "$DIR" install >/dev/null
echo "$DIR/mei-all.rng"
