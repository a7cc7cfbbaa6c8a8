#!/usr/bin/env bash
# Install the real Rucio server for tests and trials (its own venv, never .venv); a fast no-op when done.
# The Makefile's `test` target calls this before pytest (tests/rucio needs the server).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/src/wms2/devservices/rucio_files/install-rucio-venv.sh"
