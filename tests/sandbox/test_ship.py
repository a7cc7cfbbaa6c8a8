from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import wms2.sandbox
from wms2.sandbox.ship import install_sandbox

#: pydantic is not among them: the worker-node scripts start without it (test-speed.md).
ALLOWED_THIRD_PARTY = {"msgspec", "numpy", "uproot", "awkward"}
SANDBOX = Path(wms2.sandbox.__file__).parent
#: Files run by cmsRun inside a CMSSW runtime, never imported by the sandbox.
CMSSW_ONLY = {"pset_tweak.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_sandbox_imports_only_what_is_shipped() -> None:
    for path in SANDBOX.glob("*.py"):
        if path.name in CMSSW_ONLY:
            continue
        for name in _imports(path):
            top = name.split(".")[0]
            ok = top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY or name.startswith("wms2.sandbox")
            assert ok or name == "__future__", f"{path.name} imports {name}"


def test_installed_copy_runs_alone(tmp_path: Path) -> None:
    launcher = install_sandbox(tmp_path / "sand box", sys.executable)
    assert launcher.name == "wms2-job" and launcher.stat().st_mode & 0o100
    assert (tmp_path / "sand box" / "wms2" / "sandbox" / "cmsrun.sh").stat().st_mode & 0o100
    caches = list((tmp_path / "sand box").rglob("__pycache__"))
    assert [c.relative_to(tmp_path / "sand box") for c in caches] == [Path("wms2", "__pycache__"),
                                                                       Path("wms2", "sandbox", "__pycache__")]
    tag = sys.implementation.cache_tag
    sources = sorted(p.stem for p in (tmp_path / "sand box" / "wms2" / "sandbox").glob("*.py"))
    assert sorted(p.name.split(".")[0] for p in caches[1].glob(f"*.{tag}.pyc")) == sources
    help_run = subprocess.run([str(launcher), "--help"], capture_output=True, text=True, check=False)
    assert help_run.returncode == 0 and "post" in help_run.stdout
    probe = (
        "import sys, wms2, wms2.sandbox.cli, wms2.sandbox.wrapper, wms2.sandbox.merge, wms2.sandbox.post;"
        "print(wms2.__file__);"
        "print(sorted(m for m in sys.modules if m.startswith('wms2.') and not m.startswith('wms2.sandbox')))"
    )
    env = {"PYTHONPATH": str(tmp_path / "sand box"), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True)
    first, second = out.stdout.splitlines()
    assert first.startswith(str(tmp_path / "sand box")) and second == "[]"
    # the processes load the shipped bytecode, even where nothing may be written (worker nodes, CI)
    verbose = subprocess.run([sys.executable, "-v", "-c", "import wms2.sandbox.post"], capture_output=True,
                             text=True, env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, check=True)
    assert f"code object from '{tmp_path / 'sand box'}/wms2/sandbox/__pycache__/post.{tag}.pyc'" in verbose.stderr
    # reinstalling over an existing copy works (one install per round)
    install_sandbox(tmp_path / "sand box", sys.executable)
