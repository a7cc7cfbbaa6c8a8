"""WMS2 in the CMS request flow, against the real local ReqMgr2 (issue 18 acceptance).

Requests are created, approved and assigned with WMCore's own client; WMS2's Lifecycle Manager (what
``wms2 run`` runs, driven here in-process) pulls them, runs them on the local engine and writes ReqMgr2's
statuses.  The TaskChain + StepChain acceptance runs the ``wms2 run`` command itself (``test_live_run.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.reqmgr2.support import (
    OTHER_TEAM,
    OUR_TEAM,
    create_and_assign,
    lifecycle,
    reqmgr_doc,
    run_until,
    stepchain,
    transitions,
    wmcore,
    wms2_home,
)
from wms2.config import ReqMgr2Settings
from wms2.db.tables import AlertRow, DagRow, RequestRow
from wms2.devservices.reqmgr2.server import start, stop
from wms2.services.reqmgr import RequestSourceRefused
from wms2.services.reqmgr_sync_client import ReqMgr2SyncClient

pytestmark = pytest.mark.slow  # one worker runs every test of the ReqMgr2 server (tests/conftest.py)

FULL_CHAIN = ["new", "assignment-approved", "assigned", "staging", "staged", "acquired", "running-open",
              "running-closed", "completed"]
RUN_TIMEOUT_S = 420.0


def _wms2_status(db: Any, name: str) -> str | None:
    with db.session() as session:
        row = session.scalar(select(RequestRow).where(RequestRow.name == name))
        return str(row.status) if row is not None else None


def test_abort_in_reqmgr2_ends_the_request_cleanly(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    settings, db = wms2_home(tmp_path / "wms2", reqmgr2)
    try:
        name = create_and_assign(reqmgr2, stepchain(reqmgr2, "LiveAbort", events=6000), OUR_TEAM, "SC_Abort")
        manager = lifecycle(settings, db)
        run_until(manager, lambda: reqmgr_doc(reqmgr2, name)["RequestStatus"] == "running-open", RUN_TIMEOUT_S)
        wmcore(reqmgr2, "status", name=name, status="aborted")
        run_until(manager, lambda: reqmgr_doc(reqmgr2, name)["RequestStatus"] == "aborted-completed", 120)
        assert _wms2_status(db, name) == "aborted"
        assert transitions(reqmgr2, name)[-2:] == ["aborted", "aborted-completed"]
        with db.session() as session:
            request = session.scalar(select(RequestRow).where(RequestRow.name == name))
            assert request.status_transitions[-1]["by"] == "reqmgr2-sync" or any(
                t["to"] == "aborted" and t["by"].startswith("reqmgr2:") for t in request.status_transitions)
            live = session.scalars(select(DagRow).where(DagRow.status.in_(["submitted", "running"]))).all()
        assert live == []
    finally:
        db.dispose()


def test_reqmgr2_down_mid_run_wms2_keeps_working_and_catches_up(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    settings, db = wms2_home(tmp_path / "wms2", reqmgr2)
    home = Path(reqmgr2["home"])
    try:
        name = create_and_assign(reqmgr2, stepchain(reqmgr2, "LiveDown"), OUR_TEAM, "SC_Down")
        manager = lifecycle(settings, db)
        run_until(manager, lambda: reqmgr_doc(reqmgr2, name)["RequestStatus"] in ("acquired", "running-open"),
                  RUN_TIMEOUT_S)
        stop(home)
        run_until(manager, lambda: _wms2_status(db, name) == "completed", RUN_TIMEOUT_S)
        with db.session() as session:
            assert session.scalars(select(AlertRow).where(AlertRow.kind == "reqmgr2-unreachable")).first()
        again = start(home)
        assert again["url"] == reqmgr2["url"]
        run_until(manager, lambda: reqmgr_doc(reqmgr2, name)["RequestStatus"] == "completed", 120, pause_s=1.0)
        assert transitions(reqmgr2, name) == FULL_CHAIN
    finally:
        db.dispose()


def test_unsigned_or_badly_signed_writes_are_refused(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    """ReqMgr2 trusts only front-end headers signed with its key (WMCore REST/Auth.py)."""
    name = create_and_assign(reqmgr2, stepchain(reqmgr2, "LiveAuth"), OTHER_TEAM, "SC_Auth")
    wrong = tmp_path / "wrong.key"
    wrong.write_text("not-the-key")
    for key_file in (wrong, None):
        cfg = ReqMgr2Settings(url=reqmgr2["data_url"], frontend_hmac_key_file=key_file)
        with pytest.raises(RequestSourceRefused):
            ReqMgr2SyncClient(cfg).set_status(name, "staging")
    good = ReqMgr2Settings(url=reqmgr2["data_url"], frontend_hmac_key_file=Path(reqmgr2["hmac_key_file"]))
    assert ReqMgr2SyncClient(good).get(name)["RequestStatus"] == "assigned"
