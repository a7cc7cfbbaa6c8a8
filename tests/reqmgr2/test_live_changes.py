"""Changes made in the real ReqMgr2 after the import, and ReqMgr2 refusing WMS2's writes (issue 18).

Requests are created and assigned through ReqMgr2's REST API from this process (an operator's signed
front-end headers); the WMCore-client acceptance is ``test_live_run.py``.  The sync worker runs alone where
the test needs WMS2 not to plan yet, and inside the Lifecycle Manager otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.reqmgr2.support import (
    OUR_TEAM,
    create_assign_fast,
    lifecycle,
    operator_client,
    reqmgr_doc,
    run_until,
    stepchain,
    transitions,
    wms2_home,
)
from wms2.config import Settings
from wms2.core.reqmgr_sync import PULLED, ReqMgrSync
from wms2.core.transitions import transition
from wms2.db.reqmgr_tables import ReqMgrSyncRow
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import RequestStatus
from wms2.services.reqmgr_sync_client import ReqMgr2SyncClient

pytestmark = pytest.mark.slow  # one worker runs every test of the ReqMgr2 server (tests/conftest.py)

RUN_TIMEOUT_S = 300.0
ONLY_SITE = "T1_XX_SiteB"  # one of the two sites the assignment whitelists


def _now() -> datetime:
    return datetime.now(UTC)


def _request(db: Database, name: str) -> RequestRow:
    with db.session() as session:
        row = session.scalar(select(RequestRow).where(RequestRow.name == name))
        session.expunge(row)
        return row


def _sync_row(db: Database, name: str) -> ReqMgrSyncRow:
    with db.session() as session:
        row = session.scalar(select(ReqMgrSyncRow).where(ReqMgrSyncRow.request_name == name))
        session.expunge(row)
        return row


def _alerts(db: Database, kind: str) -> list[AlertRow]:
    with db.session() as session:
        rows = list(session.scalars(select(AlertRow).where(AlertRow.kind == kind)))
        session.expunge_all()
        return rows


def _clear_backoff(db: Database) -> None:
    with db.session() as session:
        for row in session.scalars(select(ReqMgrSyncRow)):
            row.next_attempt_at = None


def test_site_lists_and_priority_changed_in_reqmgr2_are_applied(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    settings, db = wms2_home(tmp_path / "wms2", reqmgr2)
    operator = operator_client(reqmgr2)
    try:
        name = create_assign_fast(reqmgr2, stepchain(reqmgr2, "LiveSites"), OUR_TEAM, "SC_Sites")
        ReqMgrSync(settings).run_cycle(db, settings, _now())  # imported, ReqMgr2 `acquired`; nothing planned
        assert reqmgr_doc(reqmgr2, name)["RequestStatus"] == "acquired"
        # ReqMgr2 allows these two in `acquired` (WMCore ALLOWED_ACTIONS_FOR_STATUS); a PUT without status.
        operator.update(name, {"SiteWhitelist": [ONLY_SITE], "RequestPriority": 123456})
        manager = lifecycle(settings, db)
        run_until(manager, lambda: _request(db, name).status == "completed", RUN_TIMEOUT_S)
        request = _request(db, name)
        assert request.priority == 123456
        assert request.spec["site_whitelist"] == [ONLY_SITE]
        reasons = [t["reason"] for t in request.status_transitions]
        assert any("site lists from ReqMgr2: whitelist ['T1_XX_SiteB']" in r for r in reasons)
        assert any("priority 500000 -> 123456" in r for r in reasons)
        with db.session() as session:
            wf = session.scalar(select(WorkflowRow).where(WorkflowRow.request_id == request.id))
            dag = session.scalars(select(DagRow).where(DagRow.workflow_id == wf.id)).first()
            elected = {p.read_text().strip() for p in Path(dag.submit_dir).glob("mg_*/elected_site")}
        assert elected == {ONLY_SITE}  # the DAG planned after the change ran where ReqMgr2 now says
    finally:
        operator.close()
        db.dispose()


def _with_roles(settings: Settings, roles: dict[str, list[str]]) -> Settings:
    return settings.model_copy(update={"reqmgr2": settings.reqmgr2.model_copy(update={"frontend_roles": roles})})


class LaggingClient(ReqMgr2SyncClient):
    """The real client, whose list of requests is one write behind (ReqMgr2's views can lag,
    ``stale=update_after``): writes and single reads go to the server as they are."""

    def __init__(self, settings: Settings, snapshot: dict[str, dict[str, Any]]) -> None:
        super().__init__(settings.reqmgr2)
        self.snapshot = snapshot

    def requests(self, statuses: list[str] | tuple[str, ...], team: str) -> dict[str, dict[str, Any]]:
        return self.snapshot


def test_refused_writes_are_alerts_or_fall_back(reqmgr2: dict[str, Any], tmp_path: Path) -> None:
    """403 (our role) → alert, WMS2 goes on; later `failed` refused by the server (400, someone moved the
    request on) → re-read, then the request ends `aborted` → `aborted-completed` in ReqMgr2."""
    good, db = wms2_home(tmp_path / "wms2", reqmgr2)
    bad = _with_roles(good, {"production": ["dataops"]})  # a role ReqMgr2 does not authorise
    operator = operator_client(reqmgr2)
    try:
        name = create_assign_fast(reqmgr2, stepchain(reqmgr2, "LiveRefused"), OUR_TEAM, "SC_Refused")
        ReqMgrSync(bad).run_cycle(db, bad, _now())  # imported (reads are open), writes refused
        assert _request(db, name).status == "submitted"
        alerts = _alerts(db, "reqmgr2-write-refused")
        assert len(alerts) == 1 and "assigned -> staging" in alerts[0].reason and "403" in alerts[0].reason
        assert _sync_row(db, name).last_error.startswith("refused")
        assert transitions(reqmgr2, name)[-1] == "assigned"

        _clear_backoff(db)
        ReqMgrSync(good).run_cycle(db, good, _now())  # the operator fixed the role: WMS2 catches up
        assert reqmgr_doc(reqmgr2, name)["RequestStatus"] == "acquired"

        client = ReqMgr2SyncClient(good.reqmgr2)
        stale = client.requests(PULLED, OUR_TEAM)  # ReqMgr2's list as it was before the next write
        client.close()
        operator.set_status(name, "running-open")  # someone else moves the request on
        with db.session() as session:  # and WMS2 fails it (as a failed validation would)
            row = session.scalar(select(RequestRow).where(RequestRow.name == name))
            transition(row, RequestStatus.failed, "test", "test: the request fails in WMS2")
        lagging = ReqMgrSync(good, client_factory=lambda: LaggingClient(good, stale))
        lagging.run_cycle(db, good, _now())  # writes `failed`: refused by ReqMgr2 (running-open -> failed)
        row = _sync_row(db, name)
        refused = [h for h in row.history if h["to"] == "failed"]
        assert len(refused) == 1 and refused[0]["answer"].startswith("refused: HTTP 400"), row.history
        assert row.reqmgr_status == "running-open"  # re-read: someone else moved it, not an error
        assert _alerts(db, "reqmgr2-transition-refused") == []

        ReqMgrSync(good).run_cycle(db, good, _now())  # falls back to aborted -> aborted-completed
        assert transitions(reqmgr2, name)[-3:] == ["running-open", "aborted", "aborted-completed"]
        assert _sync_row(db, name).finished
    finally:
        operator.close()
        db.dispose()
