#!/usr/bin/env bash
# Builds the SMTP server the API's mail tests send to (rodan_testkit::Smtp): aiosmtpd, on
# loopback, writing each message it receives to a folder the tests read. A venv cached outside
# the repo by version, reused when complete. Quiet on success; prints the venv's python as its
# last line.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/venv.sh"
AIOSMTPD_VERSION=1.4.6
CACHE="${RODAN_CACHE:-$HOME/.cache/rodan}"
VENV="$CACHE/aiosmtpd-$AIOSMTPD_VERSION"
venv_reuse "$VENV" && exit 0

install() {
  "$1" -m pip install --quiet "aiosmtpd==$AIOSMTPD_VERSION" &&
    "$1" -m aiosmtpd --version
}
venv_build build-aiosmtpd "$VENV" install
