"""``wms2 run`` in the CMS request flow (issue 18 acceptance), against the real local ReqMgr2.

A TaskChain and a StepChain created, approved and assigned to WMS2's team with WMCore's own client are
picked up by the ``wms2 run`` command (a subprocess, as an operator starts it), run on the local engine and
end ``completed`` in ReqMgr2 with every transition; a request of another team is never touched; the
progress totals reach the ReqMgr2 documents; ``wms2 requests --source reqmgr2`` shows both sides in 80
columns through a pipe; SIGTERM stops ``wms2 run`` cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.reqmgr2.support import (
    OTHER_TEAM,
    OUR_TEAM,
    assign_all,
    reqmgr_doc,
    stepchain,
    taskchain,
    transitions,
    wms2_home,
)
from wms2.db.reqmgr_tables import ReqMgrSyncRow
from wms2.db.tables import RequestRow
from wms2.engines.local_engine import stop_pool

pytestmark = pytest.mark.slow  # one worker runs every test of the ReqMgr2 server (tests/conftest.py)

WMS2 = [sys.executable, "-m", "wms2.cli"]
FULL_CHAIN = ["new", "assignment-approved", "assigned", "staging", "staged", "acquired", "running-open",
              "running-closed", "completed"]
EVENTS = 400  # 2 jobs of 200 events per request: the flow is under test, not the payload
RUN_TIMEOUT_S = 420.0
WATCH_S = 0.5  # how often the test reads WMS2's database (cheap); ReqMgr2 is read once at the end
STOP_TIMEOUT_S = 30.0
CYCLES_AFTER = 3  # cycles `wms2 run` keeps going after the end: nothing may be written again


def _sync_rows(db: Any) -> dict[str, ReqMgrSyncRow]:
    with db.session() as session:
        rows = list(session.scalars(select(ReqMgrSyncRow)))
        session.expunge_all()
    return {r.request_name: r for r in rows}


def _cycles(log: Path) -> int:
    return log.read_text().count("cycle: ")


def _wait(proc: subprocess.Popen[bytes], log: Path, done: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"wms2 run exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        if done():
            return
        time.sleep(WATCH_S)
    raise AssertionError(f"{what} not reached within {timeout_s} s:\n{log.read_text()[-3000:]}")


def test_wms2_run_takes_our_requests_to_completed(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    home = tmp_path / "wms2"
    settings, db = wms2_home(home, reqmgr2)
    tc, sc, other = assign_all(reqmgr2, [(taskchain(reqmgr2, "RunTC", EVENTS), OUR_TEAM, "TC_Run"),
                                         (stepchain(reqmgr2, "RunSC", EVENTS), OUR_TEAM, "SC_Run"),
                                         (stepchain(reqmgr2, "RunOther", EVENTS), OTHER_TEAM, "SC_Other")])
    log = tmp_path / "run.log"
    proc = subprocess.Popen([*WMS2, "run", "--home", str(home)], stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        _wait(proc, log, lambda: {r.written_status for r in _sync_rows(db).values()} == {"completed"}
              and len(_sync_rows(db)) == 2, RUN_TIMEOUT_S, "completed in ReqMgr2")
        seen = _cycles(log)
        _wait(proc, log, lambda: _cycles(log) >= seen + CYCLES_AFTER, 60, "more cycles")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT_S) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        stop_pool(settings)
    try:
        rows = _sync_rows(db)
        assert set(rows) == {tc, sc}  # the other team's request was never imported
        for name in (tc, sc):
            doc = reqmgr_doc(reqmgr2, name)
            assert doc["RequestStatus"] == "completed"
            assert [t["Status"] for t in doc["RequestTransition"]] == FULL_CHAIN
            # The global WorkQueue's totals, written once when WMS2 took the request (2 jobs of 200 events).
            assert (doc["TotalInputEvents"], doc["TotalEstimatedJobs"], doc["TotalInputLumis"],
                    doc["TotalInputFiles"]) == (EVENTS, 2, 4, 0)
            statuses = [h["to"] for h in rows[name].history if "fields" not in h]
            assert statuses == FULL_CHAIN[3:]  # each status written once, in order, never again
            assert all(h["answer"].startswith("HTTP 200") for h in rows[name].history)
            assert sum(1 for h in rows[name].history if "fields" in h) == 1
        assert transitions(reqmgr2, other) == ["new", "assignment-approved", "assigned"]
        assert "TotalInputEvents" not in reqmgr_doc(reqmgr2, other)
        with db.session() as session:
            audit = session.scalar(select(RequestRow).where(RequestRow.name == tc)).status_transitions
            assert session.scalar(select(RequestRow).where(RequestRow.name == other)) is None
        assert [a["reason"].split(":")[0] for a in audit if a["by"] == "reqmgr2-sync"][-1] \
            == "ReqMgr2 status running-closed -> completed"
        _check_source_view(home, reqmgr2, {tc: "completed", sc: "completed", other: None})
    finally:
        db.dispose()


def _check_source_view(home: Path, state: dict[str, Any], expected: dict[str, str | None]) -> None:
    """``wms2 requests --source reqmgr2`` through a pipe, 80 columns: whole headers, every line fits."""
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([*WMS2, "requests", "--home", str(home), "--source", "reqmgr2"], capture_output=True,
                         text=True, timeout=120, env=env, check=False)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), out.stdout
    assert ["request", "ReqMgr2", "WMS2", "written"] in [line.split() for line in lines], out.stdout
    assert state["data_url"] in out.stdout and OUR_TEAM in out.stdout
    joined = "".join(line.strip() for line in lines)  # long names fold onto the next line
    for name, status in expected.items():
        if status is None:
            assert name not in joined  # another team's request is not ours to show
        else:
            assert name in joined
            assert any(line.split()[-3:] == [status, status, status] for line in lines), out.stdout
