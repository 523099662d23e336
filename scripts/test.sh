#!/usr/bin/env bash
# The project's test command: formatting, lints, generated-file freshness, unit tests, the
# operator's tests against a real kube-apiserver, etcd and kube-controller-manager, the API server's
# and worker's tests against real PostgreSQL, RabbitMQ and Redis (started by rodan-testkit), the
# image and OMR jobs against upstream's fixtures and Gamera 4.1.0 (their MEI rendered by Verovio
# and validated against MEI 5.0's RelaxNG),
# and the whole Rodan on a real single-node Kubernetes (kubelet, containerd, kube-proxy, CoreDNS,
# kube-router) from images built here.
set -euo pipefail
cd "$(dirname "$0")/.."
export RODAN_CONTROL_PLANE_BIN="$(scripts/build-control-plane.sh | tail -n 1)"
export PATH="$(scripts/build-tools.sh | tail -n 1):$PATH"
# Upstream's fixtures live in shared/ beside the repository; a clone elsewhere on this machine
# finds them at /work/shared.
if [[ -z "${RODAN_SHARED_DIR:-}" ]]; then
  for dir in "$PWD/../shared" /work/shared; do
    if [[ -d "$dir/fixtures" ]]; then export RODAN_SHARED_DIR="$(cd "$dir" && pwd)"; break; fi
  done
fi
# Gamera 4.1.0 (cached by version): the image jobs' tests compare every job with it.
export RODAN_GAMERA_PYTHON="$(scripts/build-gamera.sh | tail -n 1)"
# Verovio (cached by version): every MEI the OMR jobs write must render without errors.
export RODAN_MEI_TOOLS_PYTHON="$(scripts/build-mei-tools.sh | tail -n 1)"
# MEI 5.0's RelaxNG (cached by version and converter): built from the MEI 5.0 compiled ODD in
# PyPI's verovio 4.5.1 sdist by scripts/lib/odd2rng.py; every MEI 5.0 the jobs write must validate.
export RODAN_MEI_SCHEMA="$(scripts/build-mei-schema.sh | tail -n 1)"
# numpy and OpenCV (cached by version): Column Splitting and Extract C Clefs against upstream's
# logic, which reads and writes its layers with OpenCV.
export RODAN_OPENCV_PYTHON="$(scripts/build-opencv.sh | tail -n 1)"
# TensorFlow 2.15.1 (cached by version), the one upstream's Paco_classifier pins: rodan-sae's
# models, page analysis and training against Keras's (sae/tests/keras.rs).
export RODAN_TENSORFLOW_PYTHON="$(scripts/build-tensorflow.sh | tail -n 1)"
# schemathesis (cached by version): api-server/tests/fuzz.rs fuzzes every operation of
# /api/openapi.json on real services and fails on any 5xx.
export RODAN_SCHEMATHESIS_PYTHON="$(scripts/build-schemathesis.sh | tail -n 1)"
# aiosmtpd (cached by version): the API's mail tests (registration, activation, password reset)
# send to a real SMTP server on loopback and follow the links in what it receives.
export RODAN_AIOSMTPD_PYTHON="$(scripts/build-aiosmtpd.sh | tail -n 1)"

# The suites on PostgreSQL, RabbitMQ and Redis (rodan_testkit::suite) skip their cases where a
# plain `cargo test` finds none of those installed; here a missing one is a failure.
export RODAN_REQUIRE_SERVICES=1

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== helm lint"
helm lint --strict charts/rodan-operator
echo "== cargo test"
cargo test --workspace --locked
echo "== database image"
images/postgres-plpython/test.sh
echo "== image tooling (scripts/lib/oci.py, which scripts/build-images.sh uses)"
python3 scripts/lib/test_oci.py
echo "== the images, each run as its pod runs it (scripts/test-images.sh)"
scripts/test-images.sh
echo "== a real node: the whole Rodan from images built here (scripts/node.sh)"
# The state directory and its teardown come first: a node that fails to start is removed too.
node_dir=$(mktemp -d /tmp/rodan-node-XXXXXX)
trap 'scripts/node.sh down "$node_dir"' EXIT
RODAN_NODE_IMAGE_TAGS=0.1.1 scripts/node.sh up "$node_dir" >/dev/null
RODAN_NODE_DIR="$node_dir" cargo test -p rodan-e2e --test node --locked
