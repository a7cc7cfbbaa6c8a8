"""Kill the WMS2 service (``kill -9``) in the middle of a round, restart it: the request completes and
every output is registered exactly once (issue 6 acceptance)."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from wms2.config import load_settings
from wms2.core.demo import demo_settings, load_samples
from wms2.core.service import init_home
from wms2.core.workflow_manager import submit_documents
from wms2.core.wu_records import workflow_outputs
from wms2.db.catalog_tables import CatalogFileRow
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow

pytestmark = pytest.mark.slow
WMS2 = [sys.executable, "-m", "wms2.cli"]
WATCH_S = 0.2  # how often the test reads the request's state (a cheap query; the service cycles every 1 s)


def _start(home: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*WMS2, "run", "--home", str(home)], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def _state(db: Database) -> tuple[str, int, int]:
    with db.session() as s:
        req = s.scalar(select(RequestRow))
        wf = s.scalar(select(WorkflowRow))
        dag = s.get(DagRow, wf.current_dag_id) if wf and wf.current_dag_id else None
        return str(req.status), (dag.round if dag else -1), len(dag.completed_work_units) if dag else 0


def test_kill_9_mid_round_then_restart(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    settings = demo_settings(home)
    db = init_home(settings)
    doc = copy.deepcopy(load_samples()[0][1])
    doc["RequestName"] = "restart_generation"
    doc["Step1"]["RequestNumEvents"] = 12000
    with db.session() as s:
        submit_documents(s, [("restart", doc)], settings, by="test")
    log = tmp_path / "run.log"
    proc = _start(home, log)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # wait until round 1 runs with some but not all WUs done
            status, rnd, _ = _state(db)
            if status == "active" and rnd >= 1:
                break
            assert proc.poll() is None, log.read_text()
            time.sleep(WATCH_S)
        else:
            pytest.fail(f"round 1 never started: {_state(db)}\n{log.read_text()}")
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(2)
        proc = _start(home, log)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and _state(db)[0] != "completed":
            assert proc.poll() is None, log.read_text()
            time.sleep(WATCH_S)
        assert _state(db)[0] == "completed", f"{_state(db)}\n{log.read_text()[-3000:]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        from wms2.engines.local_engine import stop_pool

        stop_pool(load_settings(home))
    with db.session() as s:
        wf = s.scalar(select(WorkflowRow))
        assert wf.events_produced == 12000
        lfns = [f["lfn"] for rec in workflow_outputs(s, wf.id).values() for f in rec["files"]]
        assert len(lfns) == len(set(lfns))
        assert s.scalar(select(func.count(CatalogFileRow.id))) == len(lfns)
        assert sum(f.events for f in s.scalars(select(CatalogFileRow))) == 12000
    db.dispose()
