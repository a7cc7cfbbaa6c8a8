"""Where the ReqMgr2 server and pouchdb-server are installed, and installing them when missing.

Both live outside WMS2's own venv (their pinned dependencies would fight ours), in
``$WMS2_REQMGR2_CACHE`` (default ``~/.cache/wms2``): ``reqmgr2-venv/`` and ``reqmgr2-npm/``.  The installer
is ``ensure.sh`` next to this module (also run by ``scripts/ensure-reqmgr2.sh``).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

CACHE_ENV = "WMS2_REQMGR2_CACHE"
INSTALL_TIMEOUT_S = 1800.0  # pip + npm (sqlite3 builds from source): ~3 min idle, far more on a loaded machine


class ReqMgr2InstallError(RuntimeError):
    """The ReqMgr2 server or pouchdb-server is missing and could not be installed."""


@dataclass(frozen=True)
class Installation:
    venv: Path
    npm: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def pouchdb_server(self) -> Path:
        return self.npm / "node_modules" / ".bin" / "pouchdb-server"

    @property
    def couchapps(self) -> Path:
        return self.venv / "data" / "couchapps"

    def complete(self) -> bool:
        return (self.python.is_file() and self.pouchdb_server.exists() and self.couchapps.is_dir()
                and any(self.venv.glob(".installed-*")) and any(self.npm.glob(".installed-*")))


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "wms2")


def installation() -> Installation:
    base = cache_dir()
    return Installation(venv=base / "reqmgr2-venv", npm=base / "reqmgr2-npm")


def ensure_installed() -> Installation:
    """The installation, installing it first when incomplete (PyPI and npm only)."""
    found = installation()
    if found.complete():
        return found
    script = Path(str(resources.files("wms2.devservices.reqmgr2").joinpath("ensure.sh")))
    try:
        result = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                                check=False, env={**os.environ, CACHE_ENV: str(cache_dir())})
    except subprocess.TimeoutExpired:
        raise ReqMgr2InstallError(f"{script} did not finish within {INSTALL_TIMEOUT_S:.0f} s") from None
    if result.returncode != 0 or not found.complete():
        raise ReqMgr2InstallError(f"{script} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")
    return found
