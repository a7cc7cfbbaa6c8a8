"""Start-up guard: each worker-node entry point imports only what it needs (test-speed.md).

Every DAGMan PRE/POST script and every job is a new Python process, about 1,900 per end-to-end run, so
an import that sneaks onto one of these paths costs minutes of CPU across the suite.  The checks look
at module sets, not times, so machine load cannot make them flaky.
"""

from __future__ import annotations

import json
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
#: uproot's import closure: only the merge and validation read with it; the simulator writes its own files.
UPROOT = {"uproot", "awkward", "fsspec", "cramjam", "xxhash"}

#: The sandbox's contract models are msgspec Structs: no worker-node entry point imports pydantic (0.2 CPU-s
#: to import, plus building the models' schemas), nor importlib.metadata/email (its plugin loader's).
NO_PYDANTIC = {"pydantic", "pydantic_core", "annotated_types", "email", "importlib.metadata"}

#: Standard-library modules deferred to the paths that use them (test-speed.md, H7): the dispatcher reads
#: the DAG's command lines without argparse (which imports shutil and locale as it parses); the PRE
#: script handles paths with os.path (pathlib brings fnmatch, urllib.parse, ipaddress) and needs no
#: typing; json is read only when a memory bump was recorded; subprocess and json only by grid
#: stage-out; dataclasses by the wrapper's steps, not by the classification every POST script imports.
PRE_DEFERRED = {"argparse", "shutil", "locale", "typing", "pathlib", "json", "fnmatch", "urllib"}
#: The dispatcher imports msgspec without typing_extensions and the inspect module it brings.  The import
#: profile lists typing_extensions all the same (its refused import is one line of it), so inspect is the
#: mark; the last test below checks sys.modules for both.
LEAN_MSGSPEC = {"inspect"}
POST_DEFERRED = {"argparse", "dataclasses", "json", "subprocess", "xml"}
CLEANUP_DEFERRED = {"argparse", "json", "subprocess", "dataclasses", "xml"}

#: entry-point module -> top-level packages (or wms2 modules) it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "wms2.sandbox.cli": SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"msgspec"} | PRE_DEFERRED,
    "wms2.sandbox.pre": SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"msgspec"} | PRE_DEFERRED,
    "wms2.sandbox.post": SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"wms2.sandbox.fjr"} | POST_DEFERRED,
    "wms2.sandbox.landing": SERVER_SIDE | PHYSICS | NO_PYDANTIC | POST_DEFERRED,
    "wms2.sandbox.cleanup": SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"wms2.sandbox.wrapper", "wms2.sandbox.steps"}
    | CLEANUP_DEFERRED,
    "wms2.sandbox.merge": SERVER_SIDE | PHYSICS | NO_PYDANTIC,
    "wms2.sandbox.wrapper": SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"wms2.sandbox.simulator", "json"},
    "wms2.sandbox.simulator": SERVER_SIDE | NO_PYDANTIC | UPROOT,
}


def _names(modules: set[str]) -> set[str]:
    """Top-level packages plus the full names of wms2 modules and of importlib.metadata."""
    return ({m.split(".")[0] for m in modules} | {m for m in modules if m.startswith("wms2.")}
            | ({"importlib.metadata"} & modules))


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


def _shipped(tmp_path: Path, work_unit: str = "mg_000000") -> tuple[Path, Path]:
    """The launcher of a sandbox shipped under ``tmp_path``, and an empty work-unit directory beside it."""
    wudir = tmp_path / work_unit
    wudir.mkdir()
    return install_sandbox(tmp_path / "sandbox"), wudir


@pytest.mark.parametrize("module", sorted(FORBIDDEN))
def test_entry_point_imports_only_what_it_needs(module: str) -> None:
    loaded = _names(_modules_after(f"import {module}"))
    assert module in loaded
    assert not (loaded & FORBIDDEN[module]), f"{module} imports {sorted(loaded & FORBIDDEN[module])}"
    outside = {m for m in loaded if m.startswith("wms2.") and not m.startswith("wms2.sandbox")}
    assert not outside, f"{module} imports server-side modules {sorted(outside)}: the sandbox is self-contained"


def test_real_launcher_pre_script_skips_pydantic(tmp_path: Path) -> None:
    """The shipped launcher, as DAGMan runs it: ``wms2-job pre NODE`` in a work-unit directory."""
    launcher, wudir = _shipped(tmp_path)
    loaded = _names(_imported_by_process([str(launcher), "pre", "proc_000000"], wudir))
    assert "wms2.sandbox.pre" in loaded
    assert (wudir / "proc_000000.override.sub").is_file()
    bad = SERVER_SIDE | PHYSICS | NO_PYDANTIC | PRE_DEFERRED
    assert not (loaded & bad), sorted(loaded & bad)


def test_real_launcher_pre_script_pinned_to_a_site_skips_pathlib(tmp_path: Path) -> None:
    """The usual PRE run: an elected site, the role's submit file, no memory override."""
    launcher, wudir = _shipped(tmp_path)
    (wudir / "elected_site").write_text("T2_CH_CERN\n")
    (wudir / "proc.sub").write_text('request_memory = 400\nrequirements = (TARGET.Arch == "X86_64")\nqueue\n')
    (wudir / "proc_000000.attempt").write_text("1\n")
    loaded = _names(_imported_by_process([str(launcher), "pre", "proc_000000"], wudir))
    assert (wudir / "proc_000000.override.sub").read_text() == (
        '+WMS2_Attempt = 2\n+DESIRED_Sites = "T2_CH_CERN"\n'
        'requirements = ((TARGET.Arch == "X86_64")) && (GLIDEIN_CMSSite =?= "T2_CH_CERN")\n'
    )
    bad = SERVER_SIDE | PHYSICS | NO_PYDANTIC | PRE_DEFERRED | {"msgspec"}
    assert not (loaded & bad), sorted(loaded & bad)


def test_real_launcher_post_script_skips_numpy_and_fjr_on_success(tmp_path: Path) -> None:
    launcher, wudir = _shipped(tmp_path)
    (wudir / "landing.out").write_text("GLIDEIN_CMSSite=T2_CH_CERN\n")
    loaded = _names(_imported_by_process([str(launcher), "post", "landing", "0", "0", "3"], wudir))
    assert "wms2.sandbox.post" in loaded
    assert (wudir / "landing.post.json").is_file()
    assert (wudir / "elected_site").read_text().strip() == "T2_CH_CERN"
    bad = SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"wms2.sandbox.fjr"} | POST_DEFERRED | LEAN_MSGSPEC
    assert not (loaded & bad), sorted(loaded & bad)


def test_real_launcher_post_script_of_a_successful_job_skips_the_fjr_parser(tmp_path: Path) -> None:
    """A processing node whose report names its step's FJR (as every successful job's does): the FJR is
    only parsed for a failed step, so neither the parser nor xml is imported."""
    launcher, wudir = _shipped(tmp_path, "mg_000003")
    data = Path(__file__).resolve().parent / "data"
    (wudir / "manifest.json").write_text((data / "manifest.json").read_text())
    (wudir / "proc_000000.report.json").write_text((data / "proc_000000.report.json").read_text())
    (wudir / "proc_000000.GEN-SIM.fjr.xml").write_text("<FrameworkJobReport/>\n")
    loaded = _names(_imported_by_process([str(launcher), "post", "proc_000000", "0", "0", "3"], wudir))
    post = json.loads((wudir / "proc_000000.post.json").read_text())
    assert post["classification"]["category"] == "success" and post["post_exit"] == 0
    bad = SERVER_SIDE | PHYSICS | NO_PYDANTIC | {"wms2.sandbox.fjr"} | POST_DEFERRED | LEAN_MSGSPEC
    assert not (loaded & bad), sorted(loaded & bad)


def test_guard_detects_a_heavy_import() -> None:
    """The check can fail: importing the simulator does bring numpy in."""
    assert "numpy" in _names(_modules_after("import wms2.sandbox.simulator"))


def test_reading_and_writing_every_contract_document_stays_light() -> None:
    """Decoding builds msgspec decoders lazily: that must not pull pydantic in either."""
    data = Path(__file__).resolve().parent / "data"
    code = (
        "from pathlib import Path\n"
        "from wms2.sandbox.manifest import WorkUnitManifest\n"
        "from wms2.sandbox.report import JobReport\n"
        "from wms2.sandbox.results import MergeOutput, PostResult, WorkUnitMetrics\n"
        "from wms2.sandbox.simrun import SimulatorRun\n"
        f"d = Path({str(data)!r})\n"
        "for model, name in [(WorkUnitManifest, 'manifest.json'), (JobReport, 'proc_000000.report.json'),\n"
        "                    (MergeOutput, 'merge_output.json'), (PostResult, 'proc_000001.post.json'),\n"
        "                    (WorkUnitMetrics, 'work_unit_metrics.json'), (SimulatorRun, 'simulator.json')]:\n"
        "    model.model_validate_json((d / name).read_text()).model_dump_json(indent=1, exclude_none=True)\n"
    )
    loaded = _names(_modules_after(code))
    assert "msgspec" in loaded
    bad = SERVER_SIDE | PHYSICS | NO_PYDANTIC
    assert not (loaded & bad), sorted(loaded & bad)


def test_real_launcher_land_and_cleanup_skip_pydantic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``wms2-job land`` (writes a JobReport) and ``wms2-job cleanup`` (reads the manifest and reports)."""
    launcher, wudir = _shipped(tmp_path, "mg_000003")
    manifest = json.loads((Path(__file__).resolve().parent / "data" / "manifest.json").read_text())
    manifest["stageout"]["storage_root"] = str(tmp_path / "storage")
    (wudir / "manifest.json").write_text(json.dumps(manifest))
    machine_ad = tmp_path / "machine.ad"
    machine_ad.write_text('GLIDEIN_CMSSite = "T2_CH_CERN"\n')
    monkeypatch.setenv("_CONDOR_MACHINE_AD", str(machine_ad))
    land = _names(_imported_by_process([str(launcher), "land"], wudir))
    assert "wms2.sandbox.landing" in land
    assert json.loads((wudir / "landing.report.json").read_text())["site"] == "T2_CH_CERN"
    clean = _names(_imported_by_process([str(launcher), "cleanup", "--manifest", "manifest.json"], wudir))
    assert "wms2.sandbox.cleanup" in clean and "msgspec" in clean
    bad = SERVER_SIDE | PHYSICS | NO_PYDANTIC | LEAN_MSGSPEC
    assert not ((land | clean) & bad), sorted((land | clean) & bad)
    assert not (land & POST_DEFERRED), sorted(land & POST_DEFERRED)
    assert not (clean & CLEANUP_DEFERRED), sorted(clean & CLEANUP_DEFERRED)  # local-mode stage-out


def test_simulator_run_writes_root_without_uproot(tmp_path: Path) -> None:
    """A whole simulator process (events, ROOT output, FJR) never imports uproot: its import costs a job
    about 0.2 CPU-s, twenty times the write (wms2.sandbox.rootfile writes the file instead)."""
    from wms2.sandbox.manifest import OutputModule, SimulatorConfig
    from wms2.sandbox.simrun import SimulatorRun

    run = SimulatorRun(step="GEN", threads=1, events=20, first_event=1, run=1, lumis={"1": [1, 2]},
                       config=SimulatorConfig(cpu_seconds_per_event=0.001, size_per_event_kb={"GEN-SIM": 1.0}),
                       outputs=[OutputModule(module="out", tier="GEN-SIM", dataset="/A/B/GEN-SIM")],
                       workdir=str(tmp_path), fjr="fjr.xml")
    (tmp_path / "run.json").write_text(run.model_dump_json())
    loaded = _names(_imported_by_process([sys.executable, "-m", "wms2.sandbox.simulator", "--config", "run.json"],
                                         tmp_path))
    assert (tmp_path / "out.root").read_bytes()[:4] == b"root" and (tmp_path / "fjr.xml").is_file()
    assert {"numpy", "wms2.sandbox.rootfile"} <= loaded
    assert not (loaded & UPROOT), sorted(loaded & UPROOT)


def test_merge_of_simulator_files_skips_uproot(tmp_path: Path) -> None:
    """A merge of TreeWriter files (inputs and the re-read of its output) never imports uproot: the
    merge job reads them with wms2.sandbox.rootread; only foreign inputs make it fall back to uproot."""
    code = (
        "import numpy as np\n"
        "from pathlib import Path\n"
        "from wms2.sandbox.merge import merge_root_files\n"
        "from wms2.sandbox.rootfile import write_tree\n"
        f"d = Path({str(tmp_path)!r})\n"
        "for i, n in enumerate([5, 0, 7]):\n"
        "    write_tree(d / f'in{i}.root', {'event': np.arange(n, dtype=np.int64),\n"
        "                                   'payload': np.zeros((n, 4), np.uint8)})\n"
        "assert merge_root_files([str(d / f'in{i}.root') for i in range(3)], d / 'm.root') == 12\n"
    )
    loaded = _names(_modules_after(code))
    assert {"numpy", "wms2.sandbox.rootread", "wms2.sandbox.rootfile"} <= loaded
    assert not (loaded & UPROOT), sorted(loaded & UPROOT)
    foreign = code.replace("    write_tree(d / f'in{i}.root', ", "    __import__('uproot').recreate(d / f'in{i}.root')"
                           "['Events'] = (")
    assert foreign != code
    assert "uproot" in _names(_modules_after(foreign))  # the guard can fail: RNTuple inputs need uproot


def test_contracts_decode_alike_when_msgspec_is_imported_without_typing_extensions() -> None:
    """The dispatcher imports msgspec with typing_extensions blocked (msgspec then takes typing's
    get_type_hints): every contract document, and a document at fault, decode to the same result and the
    same error as here, where typing_extensions is loaded."""
    data = Path(__file__).resolve().parent / "data"
    bad_manifest = json.loads((data / "manifest.json").read_text())
    bad_manifest["jobs"][0]["index"] = -1
    code = (
        "import json, sys\n"
        "from wms2.sandbox.cli import _import_msgspec_without_typing_extensions\n"
        "_import_msgspec_without_typing_extensions()\n"
        "assert 'typing_extensions' not in sys.modules and 'inspect' not in sys.modules\n"
        "from wms2.sandbox.manifest import WorkUnitManifest\n"
        "from wms2.sandbox.report import JobReport\n"
        "from wms2.sandbox.results import MergeOutput, PostResult, WorkUnitMetrics\n"
        "from wms2.sandbox.simrun import SimulatorRun\n"
        "from wms2.sandbox.contract import ContractError\n"
        "out = []\n"
        "for model, text in json.loads(sys.stdin.read()):\n"
        "    try:\n"
        "        out.append(locals()[model].model_validate_json(text).model_dump_json(exclude_none=True))\n"
        "    except ContractError as exc:\n"
        "        out.append(str(exc))\n"
        "assert 'typing_extensions' not in sys.modules and 'inspect' not in sys.modules\n"
        "print(json.dumps(out))\n"
    )
    docs = [("WorkUnitManifest", "manifest.json"), ("JobReport", "proc_000000.report.json"),
            ("MergeOutput", "merge_output.json"), ("PostResult", "proc_000001.post.json"),
            ("WorkUnitMetrics", "work_unit_metrics.json"), ("SimulatorRun", "simulator.json")]
    cases = [(model, (data / name).read_text()) for model, name in docs]
    cases.append(("WorkUnitManifest", json.dumps(bad_manifest)))
    lean = subprocess.run([sys.executable, "-c", code], input=json.dumps(cases), capture_output=True, text=True,
                          check=True, timeout=300)
    from wms2.sandbox.contract import ContractError
    from wms2.sandbox.manifest import WorkUnitManifest
    from wms2.sandbox.report import JobReport
    from wms2.sandbox.results import MergeOutput, PostResult, WorkUnitMetrics
    from wms2.sandbox.simrun import SimulatorRun

    models = {m.__name__: m for m in (WorkUnitManifest, JobReport, MergeOutput, PostResult, WorkUnitMetrics,
                                      SimulatorRun)}
    here: list[str] = []
    for model, text in cases:
        try:
            here.append(models[model].model_validate_json(text).model_dump_json(exclude_none=True))
        except ContractError as exc:
            here.append(str(exc))
    assert "typing_extensions" in sys.modules  # this process decoded with it
    assert "at `$.jobs[0].index`" in here[-1]
    assert json.loads(lean.stdout) == here
