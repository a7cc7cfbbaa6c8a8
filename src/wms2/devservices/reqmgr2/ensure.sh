#!/usr/bin/env bash
# Install the real ReqMgr2 server (PyPI reqmgr2, its own venv) and pouchdb-server (npm) for tests and trials.
# Run by scripts/ensure-reqmgr2.sh and by `wms2 dev reqmgr2 start` when missing.
# Idempotent: a fast no-op when both are installed.  Network: PyPI and npm only.
# Location: $WMS2_REQMGR2_CACHE (default ~/.cache/wms2); `wms2 dev reqmgr2 start` finds them there.
# Facts: /work/shared/design/reqmgr2-local.md (reqmgr2 2.4.5.9, pouchdb-server 4.2.0).
set -euo pipefail
cache=${WMS2_REQMGR2_CACHE:-${HOME}/.cache/wms2}
reqmgr2_version=${WMS2_REQMGR2_VERSION:-2.4.5.9}
pouchdb_version=${WMS2_POUCHDB_VERSION:-4.2.0}
python=${WMS2_REQMGR2_PYTHON:-python3.11}
venv="$cache/reqmgr2-venv"
npmdir="$cache/reqmgr2-npm"
mkdir -p "$cache"

if [ ! -f "$venv/.installed-$reqmgr2_version" ]; then
  echo "installing reqmgr2==$reqmgr2_version into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "reqmgr2==$reqmgr2_version"
  touch "$venv/.installed-$reqmgr2_version"
fi

if [ ! -f "$npmdir/.installed-$pouchdb_version" ]; then
  command -v npm >/dev/null || { echo "npm is missing: apt-get install -y nodejs npm" >&2; exit 1; }
  echo "installing pouchdb-server@$pouchdb_version into $npmdir"
  rm -rf "$npmdir"
  mkdir -p "$npmdir"
  (cd "$npmdir" && npm init -y >/dev/null && npm install --no-audit --no-fund --loglevel=error \
     "pouchdb-server@$pouchdb_version")
  # PouchDB evaluates design functions in strict mode; CouchDB does not, and ReqMgr's update function
  # relies on sloppy mode (reqmgr2-local.md pitfall 1).  Turn strict mode off in the evaluator.
  evalfile="$npmdir/node_modules/couchdb-eval/lib/index.js"
  if [ -f "$evalfile" ]; then
    sed -i 's/^\(\s*\)"use strict";/\1\/\/ "use strict"; (disabled by ensure-reqmgr2.sh)/' "$evalfile"
  fi
  touch "$npmdir/.installed-$pouchdb_version"
fi
echo "reqmgr2 ready: $venv $npmdir"
