"""Install the sandbox into a round's submit directory (CONTRACTS.md "Python used by the sandbox").

``install_sandbox(dest)`` copies the ``wms2.sandbox`` package, and only it, to ``dest/wms2/sandbox``
(with an empty ``dest/wms2/__init__.py`` so the copy shadows any installed ``wms2``), and writes the
launcher ``dest/wms2-job``: a ``/bin/sh`` script that runs ``<python> -m wms2.sandbox.cli "$@"`` with
``PYTHONPATH=<dest>``.

The copy is shipped byte-compiled (``__pycache__`` for this interpreter): every PRE, POST and job process
imports it, and without bytecode each one would compile the modules from source again (worker nodes
and CI often run with ``PYTHONDONTWRITEBYTECODE``, so nothing is ever cached).  Another interpreter
ignores bytecode that is not tagged for it, so the copy stays portable.
"""

from __future__ import annotations

import compileall
import logging
import shlex
import shutil
import stat
import sys
from pathlib import Path

LAUNCHER = "wms2-job"
_PACKAGE_DIR = Path(__file__).resolve().parent
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.tmp")
log = logging.getLogger(__name__)
_PACKAGE_INIT = '"""WMS2 worker-node package copy (only wms2.sandbox is shipped)."""\n'


def launcher_text(dest: Path, python: str) -> str:
    return (
        "#!/bin/sh\n"
        "# WMS2 worker-node launcher, written by wms2.sandbox.ship.install_sandbox\n"
        f"PYTHONPATH={shlex.quote(str(dest))}${{PYTHONPATH:+:$PYTHONPATH}}\n"
        "export PYTHONPATH\n"
        f'exec {shlex.quote(python)} -m wms2.sandbox.cli "$@"\n'
    )


def install_sandbox(dest: Path, python: str = sys.executable) -> Path:
    """Copy the sandbox package into ``dest`` and write the launcher; returns the launcher path."""
    dest = Path(dest).resolve()
    package = dest / "wms2" / "sandbox"
    if package.exists():
        shutil.rmtree(package)
    package.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_PACKAGE_DIR, package, ignore=_IGNORE)
    (dest / "wms2" / "__init__.py").write_text(_PACKAGE_INIT)
    if not compileall.compile_dir(package.parent, quiet=2, workers=1):
        log.warning("sandbox in %s not fully byte-compiled: its processes compile it from source", dest)
    launcher = dest / LAUNCHER
    launcher.write_text(launcher_text(dest, python))
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return launcher
