#!/usr/bin/env bash
# Install the real ReqMgr2 server (PyPI reqmgr2, own venv) and pouchdb-server (npm) used by the ReqMgr2
# integration tests (tests/reqmgr2) and `wms2 dev reqmgr2 start`.  Idempotent, fast no-op when installed.
# The installer itself ships in the package (the start command runs the same file when it is missing).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$here/src/wms2/devservices/reqmgr2/ensure.sh"
