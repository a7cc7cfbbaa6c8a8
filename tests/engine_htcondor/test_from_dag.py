"""``Submit.from_dag`` in its subprocess: option mapping, and the real bindings on real DAG files."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from tests.engine_htcondor.conftest import FAKE_DAGMAN
from wms2.engines.base import BadDag, EngineError, SubmitOptions
from wms2.engines.htcondor import from_dag_child
from wms2.engines.htcondor.from_dag import FromDagRunner, from_dag_options


def _arguments(description: str) -> str:
    line = next(x for x in description.splitlines() if x.startswith("arguments"))
    return line


# Option mapping -----------------------------------------------------------------------------------
def test_default_options_use_auto_rescue_and_update_submit() -> None:
    assert from_dag_options(SubmitOptions()) == {"update_submit": True}


def test_all_options_mapped_to_from_dag_keys() -> None:
    opts = SubmitOptions(rescue=3, priority=7, batch_name="req-1", max_idle=100, max_jobs=0)
    assert from_dag_options(opts, "/x/condor_dagman") == {
        "update_submit": True,
        "DoRescueFrom": 3,
        "priority": 7,
        "batch-name": "req-1",
        "maxidle": 100,
        "maxjobs": 0,
        "dagman": "/x/condor_dagman",
    }


def test_force_replaces_update_submit_and_rescue_zero_disables_auto_rescue() -> None:
    assert from_dag_options(SubmitOptions(force=True)) == {"force": True}
    assert from_dag_options(SubmitOptions(rescue=0)) == {"update_submit": True, "AutoRescue": False}


@pytest.mark.parametrize("opts", [SubmitOptions(force=True, rescue=2), SubmitOptions(rescue=-1)])
def test_contradictory_options_rejected(opts: SubmitOptions) -> None:
    with pytest.raises(ValueError, match="SubmitOptions"):
        from_dag_options(opts)


# Real bindings in the child -----------------------------------------------------------------------
def test_real_from_dag_in_dag_directory(diamond: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    opts = SubmitOptions(priority=3, batch_name="svc-42", max_idle=10, max_jobs=5)
    text = FromDagRunner(dagman_path=FAKE_DAGMAN).run(diamond, opts)
    args = _arguments(text)
    assert "-Dag diamond.dag" in args and "-l ." in args
    assert "-MaxIdle 10" in args and "-MaxJobs 5" in args and "-Priority 3" in args
    assert "-AutoRescue 1" in args and "-update_submit" in args
    assert 'My.JobBatchName = "svc-42"' in text
    assert "universe = scheduler" in text
    assert "log = diamond.dag.dagman.log" in text
    # The .condor.sub lands next to the DAG, not in the caller's cwd.
    assert (diamond.parent / "diamond.dag.condor.sub").is_file()
    assert list(elsewhere.iterdir()) == []


def test_resubmission_without_rescue_rewrites_condor_sub(diamond: Path) -> None:
    runner = FromDagRunner(dagman_path=FAKE_DAGMAN)
    runner.run(diamond, SubmitOptions())
    text = runner.run(diamond, SubmitOptions(batch_name="again"))
    assert 'My.JobBatchName = "again"' in text
    assert 'JobBatchName = "again"' in (diamond.parent / "diamond.dag.condor.sub").read_text()


def test_explicit_rescue_and_force(diamond: Path) -> None:
    runner = FromDagRunner(dagman_path=FAKE_DAGMAN)
    (diamond.parent / "diamond.dag.rescue001").write_text("DONE A\n")
    assert "-DoRescueFrom 1" in _arguments(runner.run(diamond, SubmitOptions(rescue=1)))
    assert "-force" in _arguments(runner.run(diamond, SubmitOptions(force=True)))
    assert (diamond.parent / "diamond.dag.rescue001.old").is_file()


def test_missing_rescue_is_bad_dag(diamond: Path) -> None:
    with pytest.raises(BadDag, match=r"rescue DAG file diamond\.dag\.rescue002 does not exist"):
        FromDagRunner(dagman_path=FAKE_DAGMAN).run(diamond, SubmitOptions(rescue=2))


def test_unknown_command_is_bad_dag_with_line(diamond: Path) -> None:
    diamond.write_text("JOB A node.sub\nFOO bar\n")
    with pytest.raises(BadDag, match=r"diamond\.dag:2 'FOO' is not a valid DAG command"):
        FromDagRunner(dagman_path=FAKE_DAGMAN).run(diamond, SubmitOptions())


def test_interpreter_abort_is_contained(diamond: Path) -> None:
    """force + a rescue numbering gap makes from_dag EXCEPT (exit 4, reference §2): the service survives."""
    (diamond.parent / "diamond.dag.rescue002").write_text("DONE A\n")
    with pytest.raises(BadDag, match=r"exited with status 4.*unable to rename old rescue file"):
        FromDagRunner(dagman_path=FAKE_DAGMAN).run(diamond, SubmitOptions(force=True))


def test_missing_dag_file(tmp_path: Path) -> None:
    with pytest.raises(BadDag, match="DAG file not found"):
        FromDagRunner(dagman_path=FAKE_DAGMAN).run(tmp_path / "nope.dag", SubmitOptions())


def test_missing_condor_dagman(diamond: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(EngineError, match="condor_dagman is not on PATH"):
        FromDagRunner(dagman_path=None).run(diamond, SubmitOptions())
    with pytest.raises(EngineError, match=r"engine\.dagman_path"):
        FromDagRunner(dagman_path=str(tmp_path / "none")).run(diamond, SubmitOptions())


def test_child_timeout(diamond: Path, tmp_path: Path) -> None:
    sleeper = tmp_path / "slow-python"
    sleeper.write_text("#!/bin/sh\nsleep 5\n")
    sleeper.chmod(0o755)
    runner = FromDagRunner(dagman_path=FAKE_DAGMAN, timeout_s=0.2, python=str(sleeper))
    with pytest.raises(BadDag, match=r"did not finish within 0\.2 s"):
        runner.run(diamond, SubmitOptions())


# The child's protocol, in-process -----------------------------------------------------------------
def _run_child(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], stdin: str):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = from_dag_child.main(argv)
    return rc, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_child_usage_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = _run_child(monkeypatch, capsys, [], "{}")
    assert rc == from_dag_child.EXIT_USAGE and "usage" in out["error"]
    rc, out = _run_child(monkeypatch, capsys, ["x.dag"], "[1]")
    assert rc == from_dag_child.EXIT_USAGE and "JSON object" in out["error"]
    rc, out = _run_child(monkeypatch, capsys, ["x.dag"], '{"maxidle": [1]}')
    assert rc == from_dag_child.EXIT_USAGE and "maxidle" in out["error"]


def test_child_unknown_option_refused(
    diamond: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(diamond.parent)
    rc, out = _run_child(monkeypatch, capsys, ["diamond.dag"], json.dumps({"dagman": FAKE_DAGMAN, "bogus": 1}))
    assert rc == from_dag_child.EXIT_REFUSED
    assert out["ok"] is False and "bogus" in out["error"]


def test_child_env_puts_wms2_on_pythonpath(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", "/somewhere")
    env = FromDagRunner()._child_env()
    first, rest = env["PYTHONPATH"].split(os.pathsep, 1)
    assert (Path(first) / "wms2" / "engines" / "htcondor" / "from_dag_child.py").is_file()
    assert rest == "/somewhere"
