"""Start-up guard: each worker-node entry point imports only what it needs (test-speed.md).

Every DAGMan PRE/POST script and every job is a new Python process, about 1,900 per end-to-end run, so
an import that sneaks onto one of these paths costs minutes of CPU across the suite.  The checks look
at module sets, not times, so machine load cannot make them flaky.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wms2.sandbox.ship import install_sandbox

#: Never on a worker-node path: the server side of WMS2 and its heavy libraries.
SERVER_SIDE = {"sqlalchemy", "fastapi", "starlette", "scipy", "matplotlib", "alembic", "httpx"}
#: numpy and uproot (with awkward) belong to the simulator and the merge, at the point they do the work.
PHYSICS = {"numpy", "uproot", "awkward"}

#: entry-point module -> top-level packages (or wms2 modules) it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "wms2.sandbox.cli": SERVER_SIDE | PHYSICS | {"pydantic"},
    "wms2.sandbox.pre": SERVER_SIDE | PHYSICS | {"pydantic"},
    "wms2.sandbox.post": SERVER_SIDE | PHYSICS | {"wms2.sandbox.fjr"},
    "wms2.sandbox.landing": SERVER_SIDE | PHYSICS,
    "wms2.sandbox.cleanup": SERVER_SIDE | PHYSICS | {"wms2.sandbox.wrapper", "wms2.sandbox.steps"},
    "wms2.sandbox.merge": SERVER_SIDE | PHYSICS,
    "wms2.sandbox.wrapper": SERVER_SIDE | PHYSICS | {"wms2.sandbox.simulator"},
    "wms2.sandbox.simulator": SERVER_SIDE | {"uproot", "awkward"},
}


def _names(modules: set[str]) -> set[str]:
    """Top-level packages plus the full names of wms2 modules."""
    return {m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("wms2.")}


def _modules_after(code: str, cwd: Path | None = None) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=cwd, timeout=300)
    return set(out.stdout.split())


def _imported_by_process(argv: list[str], cwd: Path) -> set[str]:
    """Modules a real process imported, from ``-X importtime`` (PYTHONPROFILEIMPORTTIME) on stderr."""
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    out = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    modules = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines()
               if line.startswith("import time:") and "|" in line}
    assert modules, f"no import profile from {argv}: exit {out.returncode}, stderr {out.stderr[-500:]}"
    return modules


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_entry_point_imports_only_what_it_needs(module: str) -> None:
    loaded = _names(_modules_after(f"import {module}"))
    assert module in loaded
    assert not (loaded & FORBIDDEN[module]), f"{module} imports {sorted(loaded & FORBIDDEN[module])}"
    outside = {m for m in loaded if m.startswith("wms2.") and not m.startswith("wms2.sandbox")}
    assert not outside, f"{module} imports server-side modules {sorted(outside)}: the sandbox is self-contained"


def test_real_launcher_pre_script_skips_pydantic(tmp_path: Path) -> None:
    """The shipped launcher, as DAGMan runs it: ``wms2-job pre NODE`` in a work-unit directory."""
    launcher = install_sandbox(tmp_path / "sandbox")
    wudir = tmp_path / "mg_000000"
    wudir.mkdir()
    loaded = _names(_imported_by_process([str(launcher), "pre", "proc_000000"], wudir))
    assert "wms2.sandbox.pre" in loaded
    assert (wudir / "proc_000000.override.sub").is_file()
    assert not (loaded & (SERVER_SIDE | PHYSICS | {"pydantic"})), sorted(loaded & (SERVER_SIDE | PHYSICS))


def test_real_launcher_post_script_skips_numpy_and_fjr_on_success(tmp_path: Path) -> None:
    launcher = install_sandbox(tmp_path / "sandbox")
    wudir = tmp_path / "mg_000000"
    wudir.mkdir()
    (wudir / "landing.out").write_text("GLIDEIN_CMSSite=T2_CH_CERN\n")
    loaded = _names(_imported_by_process([str(launcher), "post", "landing", "0", "0", "3"], wudir))
    assert "wms2.sandbox.post" in loaded
    assert (wudir / "landing.post.json").is_file()
    assert (wudir / "elected_site").read_text().strip() == "T2_CH_CERN"
    bad = SERVER_SIDE | PHYSICS | {"wms2.sandbox.fjr"}
    assert not (loaded & bad), sorted(loaded & bad)


def test_guard_detects_a_heavy_import() -> None:
    """The check can fail: importing the simulator does bring numpy in."""
    assert "numpy" in _names(_modules_after("import wms2.sandbox.simulator"))
