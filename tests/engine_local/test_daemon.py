"""The daemon as a separate process: clients may die, the daemon may restart; plus the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import htcondor2
import pytest
from typer.testing import CliRunner

from tests.engine_local.conftest import WAIT_S, DagDir, make_settings, pid_alive
from wms2.cli import app
from wms2.dagman.status_file import read_status_file
from wms2.engines.base import ScheddUnreachable, SubmitOptions
from wms2.engines.local.client import LocalEngine, ensure_pool_running, pool_status, stop_pool


def _wait_for(predicate, timeout: float = WAIT_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_killed_client_does_not_affect_the_dag(pool_settings, dagdir: DagDir) -> None:  # type: ignore[no-untyped-def]
    dag = dagdir.dag("JOB A job.sub\nVARS A sleep=\"0.5\"\nJOB B job.sub\nPARENT A CHILD B\n")
    client = subprocess.Popen([str(Path(sys.executable).with_name("wms2")), "dag", "run", str(dag), "--wait",
                               "--home", str(pool_settings.home)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for(lambda: "A" in dagdir.starts())
    client.kill()
    client.wait()
    engine = LocalEngine(pool_settings)
    _wait_for(lambda: any(d["dag_file"] == str(dag) for d in pool_status(pool_settings)["active"]) or
              (dag.parent / "test.dag.metrics").exists())
    _wait_for(lambda: (dag.parent / "test.dag.metrics").exists())
    assert dagdir.starts() == ["A", "B"]
    clusters = [d for d in json.loads(json.dumps(engine.client.request("GET", "/list")[1]))["dags"]
                if d["dag_file"] == str(dag)]
    assert clusters[-1]["exit_code"] == 0


@pytest.mark.slow
def test_daemon_restart_recovers_running_dag(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    dagdir = DagDir(tmp_path / "dag")
    log = dagdir.root / "post.log"
    dag = dagdir.dag(
        "JOB A job.sub\nVARS A sleep=\"1.5\"\nJOB A2 job.sub\nVARS A2 sleep=\"0.1\"\n"
        f"JOB B job.sub\nSCRIPT POST B script.sh {log} 0 $JOB $RETURN\nJOB C job.sub\n"
        "PARENT A A2 CHILD B\nPARENT B CHILD C\nNODE_STATUS_FILE rec.status 0\n")
    try:
        pid = ensure_pool_running(settings)["pid"]
        engine = LocalEngine(settings)
        cluster = engine.submit_dag(dag, SubmitOptions()).cluster_id
        _wait_for(lambda: {"A", "A2"} <= set(dagdir.starts()))
        time.sleep(0.3)  # A2 finishes while the daemon is alive; A is still running
        os.kill(pid, signal.SIGKILL)  # a crash, not a clean stop
        _wait_for(lambda: not pid_alive(pid))
        with pytest.raises(ScheddUnreachable):
            engine.query(cluster, "local")
        new_pid = ensure_pool_running(settings)["pid"]
        assert new_pid != pid
        info = engine.wait(cluster, timeout=WAIT_S)
        assert info.exit_code == 0, info.reason
        assert sorted(dagdir.starts()) == ["A", "A2", "B", "C"]  # nothing ran twice
        assert log.read_text().split() == ["B", "0"]
        events = list(htcondor2.JobEventLog(str(dag) + ".nodes.log").events(0))
        assert sum(1 for e in events if e.type == htcondor2.JobEventType.SUBMIT) == 4
        assert sum(1 for e in events if e.type == htcondor2.JobEventType.JOB_TERMINATED) == 4
        assert "RECOVERY mode" in (dagdir.root / "test.dag.dagman.out").read_text()
    finally:
        stop_pool(settings)


@pytest.mark.slow
def test_daemon_restart_recovers_subdag_and_clean_stop(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home")
    dagdir = DagDir(tmp_path / "dag")
    inner = DagDir(dagdir.root / "wu")
    inner.logfile = dagdir.logfile
    inner.dag("JOB X job.sub\nVARS X sleep=\"1.5\"\nJOB Y job.sub\nPARENT X CHILD Y\n"
              "NODE_STATUS_FILE wu.status 0\n", name="group.dag")
    outer = dagdir.dag("JOB L job.sub\nSUBDAG EXTERNAL WU group.dag DIR wu\nJOB M job.sub\n"
                       "PARENT L CHILD WU\nPARENT WU CHILD M\n")
    try:
        ensure_pool_running(settings)
        engine = LocalEngine(settings)
        cluster = engine.submit_dag(outer, SubmitOptions()).cluster_id
        _wait_for(lambda: "X" in dagdir.starts())
        assert stop_pool(settings)  # a clean stop, like a schedd shutdown: jobs keep running
        assert not pool_status(settings)["running"]
        ensure_pool_running(settings)
        info = engine.wait(cluster, timeout=WAIT_S)
        assert info.exit_code == 0, info.reason
        assert dagdir.starts() == ["L", "X", "Y", "M"]
        assert "RECOVERY mode" in (inner.root / "group.dag.dagman.out").read_text()
        assert [n.status for n in read_status_file(inner.root / "wu.status").nodes] == [5, 5]
    finally:
        stop_pool(settings)


def test_cli_run_status_and_pool(pool_settings, dagdir: DagDir) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    home = ["--home", str(pool_settings.home)]
    good = dagdir.dag("JOB A job.sub\nNODE_STATUS_FILE c.status 0\n", name="good.dag")
    result = runner.invoke(app, ["dag", "run", str(good), "--wait", *home])
    assert result.exit_code == 0, result.output
    bad = dagdir.dag("JOB A job.sub\nVARS A code=\"3\"\n", name="bad.dag")
    assert runner.invoke(app, ["dag", "run", str(bad), "--wait", *home]).exit_code == 1
    status = runner.invoke(app, ["dag", "status", str(good), "--json", *home])
    data = json.loads(status.output)
    assert data["source"] == "node_status_file" and data["nodes"][0]["node"] == "A"
    assert data["nodes"][0]["status"] == 5
    status_bad = json.loads(runner.invoke(app, ["dag", "status", str(bad), "--json", *home]).output)
    assert status_bad["source"] == "pool" and status_bad["exit_code"] == 1
    unsupported = dagdir.dag("JOB A job.sub\nFOO S x.dag\n", name="unsupported.dag")
    refused = runner.invoke(app, ["dag", "run", str(unsupported), *home])
    assert refused.exit_code == 1 and f"{unsupported}:3: 'FOO' is not a valid DAG command" in refused.output
    pool = json.loads(runner.invoke(app, ["pool", "status", "--json", *home]).output)
    assert pool["running"] and pool["sites"] == ["T2_XX_SiteA", "T1_XX_SiteB"]


def test_one_daemon_per_spool(pool_settings) -> None:  # type: ignore[no-untyped-def]
    sites = '[{"name": "T2_X", "cores": 1, "memory_mb": 100}]'
    second = subprocess.run([sys.executable, "-m", "wms2.engines.local.daemon", "--spool",
                             str(pool_settings.pool_dir), "--sites", sites],
                            capture_output=True, text=True, timeout=WAIT_S)
    assert second.returncode == 1 and "another pool daemon owns" in second.stderr
    assert pool_status(pool_settings)["running"]
