#!/usr/bin/env bash
# Install the real Rucio server (PyPI rucio, pinned) into its OWN venv, never into WMS2's .venv.
# Idempotent and safe to run concurrently (flock): a fast no-op when the version marker exists.
# Network: PyPI only.  Used by scripts/ensure-rucio.sh and by `wms2 dev rucio start`.
# Environment: WMS2_RUCIO_VENV (default ~/.cache/wms2/rucio-venv), WMS2_RUCIO_VERSION (41.5.1),
# WMS2_RUCIO_GUNICORN_VERSION (27.0.1), WMS2_RUCIO_PYTHON (python3.11).  Facts: cms-formats.md §4.3.
set -euo pipefail
version=${WMS2_RUCIO_VERSION:-41.5.1}
gunicorn_version=${WMS2_RUCIO_GUNICORN_VERSION:-27.0.1}
venv=${WMS2_RUCIO_VENV:-${HOME}/.cache/wms2/rucio-venv}
python=${WMS2_RUCIO_PYTHON:-python3.11}
marker="$venv/.installed-$version"
[ -f "$marker" ] && exit 0
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
[ -f "$marker" ] && exit 0  # another process finished the install while we waited
echo "installing rucio==$version (server) into $venv" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check \
  "rucio==$version" "rucio-clients==$version" "gunicorn==$gunicorn_version" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
"$venv/bin/python" -c "import rucio.version, gunicorn, flask" >/dev/null  # the server modules need a config to import
touch "$marker"
