"""The sync worker against an in-test ReqMgr2 stand-in that enforces ReqMgr2's transition table
(fast, no server): import once, other teams ignored, forward-only writes, refusals and outages."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import select

from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.reqmgr_sync import ReqMgrSync
from wms2.core.transitions import transition
from wms2.core.workers import Workers
from wms2.db.reqmgr_tables import ReqMgrSyncRow
from wms2.db.session import Database
from wms2.db.tables import AlertRow, RequestRow
from wms2.domain.enums import RequestStatus
from wms2.services.reqmgr import RequestSourceRefused, RequestSourceUnavailable
from wms2.services.reqmgr_progress import STORED_AS
from wms2.services.reqmgr_sync_client import TransitionRefused, WriteAnswer

ALLOWED = {"assigned": {"staging", "aborted"}, "staging": {"staged", "aborted"},
           "staged": {"acquired", "aborted", "failed"}, "acquired": {"running-open", "aborted", "failed"},
           "running-open": {"running-closed", "force-complete", "aborted"},
           "running-closed": {"force-complete", "completed", "aborted"}, "force-complete": {"completed"},
           "aborted": {"aborted-completed"}}


class FakeReqMgr2:
    """Holds documents; refuses what ReqMgr2 refuses; can be 'down'."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.down = False
        self.forbidden = False  # writes answered 403 (our credential or role)
        self.writes: list[tuple[str, str]] = []
        self.totals: list[tuple[str, dict[str, int]]] = []

    def add(self, name: str, team: str, status: str = "assigned", **fields: Any) -> None:
        doc = json.loads(resources.files("wms2.samples").joinpath("demo_generation.json").read_text())
        doc.update({"RequestName": name, "RequestString": name, "Team": team, "RequestStatus": status,
                    "ProcessingString": f"P{len(self.docs)}", "RequestTransition": [], **fields})
        doc["Step1"]["ProcessingString"] = doc["ProcessingString"]
        self.docs[name] = doc

    def _check(self) -> None:
        if self.down:
            raise RequestSourceUnavailable("ReqMgr2 at fake: ConnectError", url="fake")

    def requests(self, statuses: Any, team: str) -> dict[str, dict[str, Any]]:
        self._check()
        return {n: copy.deepcopy(d) for n, d in self.docs.items()
                if d["Team"] == team and d["RequestStatus"] in statuses}

    def get(self, name: str) -> dict[str, Any]:
        self._check()
        return copy.deepcopy(self.docs[name])

    def set_status(self, name: str, status: str) -> WriteAnswer:
        self._check()
        if self.forbidden:
            raise RequestSourceRefused("HTTP 403", url="fake", name=name)
        current = self.docs[name]["RequestStatus"]
        if status not in ALLOWED.get(current, set()):
            raise TransitionRefused(f"{current} -> {status}", url="fake", name=name, status=400,
                                    answer="InvalidStateTransition")
        self.docs[name]["RequestStatus"] = status
        self.docs[name]["RequestTransition"].append({"Status": status})
        self.writes.append((name, status))
        return WriteAnswer(200, "OK")

    def update(self, name: str, fields: dict[str, Any]) -> WriteAnswer:
        """Only the global WorkQueue's totals (added to what is there, as ReqMgr2's ``totalstats`` does)."""
        self._check()
        if self.forbidden:
            raise RequestSourceRefused("HTTP 403", url="fake", name=name)
        assert set(fields) == set(STORED_AS), fields
        for key, stored in STORED_AS.items():
            self.docs[name][stored] = self.docs[name].get(stored, 0) + fields[key]
        self.totals.append((name, dict(fields)))
        return WriteAnswer(200, "OK")

    def close(self) -> None:
        pass


@pytest.fixture
def world(settings: Settings, db: Database) -> tuple[FakeReqMgr2, LifecycleManager, ReqMgrSync]:
    settings.reqmgr2.teams = ["wms2-team"]
    settings.reqmgr2.sync_backoff_s = 10.0
    fake = FakeReqMgr2()
    sync = ReqMgrSync(settings, client_factory=lambda: fake)
    return fake, LifecycleManager(db, settings, Workers(cycle_tasks=[sync])), sync


def _status(db: Database, name: str) -> str | None:
    with db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == name))
        return str(row.status) if row else None


def _move(db: Database, name: str, *statuses: RequestStatus) -> None:
    with db.session() as s:
        row = s.scalar(select(RequestRow).where(RequestRow.name == name))
        for st in statuses:
            transition(row, st, "test", "test")


def test_import_once_ignore_other_team_and_walk_forward(world: Any, db: Database) -> None:
    fake, manager, _ = world
    fake.add("ours_1", "wms2-team")
    fake.add("theirs_1", "wmagent-team")
    manager.run_cycle()
    manager.run_cycle()  # seen twice: imported once
    assert _status(db, "ours_1") == "queued"
    assert _status(db, "theirs_1") is None
    assert fake.writes == [("ours_1", "staging"), ("ours_1", "staged"), ("ours_1", "acquired")]
    assert fake.docs["theirs_1"]["RequestStatus"] == "assigned"
    _move(db, "ours_1", RequestStatus.planning, RequestStatus.completed)
    manager.run_cycle()
    assert fake.docs["ours_1"]["RequestStatus"] == "completed"
    assert [s for _, s in fake.writes][3:] == ["running-open", "running-closed", "completed"]
    with db.session() as s:
        sync = s.scalar(select(ReqMgrSyncRow))
        assert sync.finished and [h["to"] for h in sync.history][-1] == "completed"
        audit = s.scalar(select(RequestRow).where(RequestRow.name == "ours_1")).status_transitions
    assert sum(1 for a in audit if a["reason"].startswith("ReqMgr2 status ")) == 6
    before = list(fake.writes)
    manager.run_cycle()
    assert fake.writes == before  # never written again


def test_abort_and_priority_from_reqmgr2_are_applied(world: Any, db: Database) -> None:
    fake, manager, _ = world
    fake.add("ours_2", "wms2-team")
    manager.run_cycle()
    fake.docs["ours_2"]["RequestPriority"] = 123456
    manager.run_cycle()
    with db.session() as s:
        assert s.scalar(select(RequestRow.priority).where(RequestRow.name == "ours_2")) == 123456
    fake.docs["ours_2"]["RequestStatus"] = "aborted"
    manager.run_cycle()
    assert _status(db, "ours_2") == "aborted"
    manager.run_cycle()
    assert fake.docs["ours_2"]["RequestStatus"] == "aborted-completed"


def test_outage_backs_off_then_catches_up(world: Any, db: Database, settings: Settings) -> None:
    fake, manager, sync = world
    fake.add("ours_3", "wms2-team")
    manager.run_cycle()
    fake.down = True
    _move(db, "ours_3", RequestStatus.planning, RequestStatus.completed)
    report = manager.run_cycle()
    assert report.errors == []  # an outage is not a crash
    with db.session() as s:
        assert s.scalar(select(AlertRow).where(AlertRow.kind == "reqmgr2-unreachable")) is not None
    assert sync.pull_not_before is not None
    fake.down = False
    sync.pull_not_before = datetime.now(UTC) - timedelta(seconds=1)  # the back-off has elapsed
    manager.run_cycle()
    assert fake.docs["ours_3"]["RequestStatus"] == "completed"


def test_refused_write_is_an_alert_and_resyncs(world: Any, db: Database) -> None:
    fake, manager, _ = world
    fake.add("ours_4", "wms2-team")
    manager.run_cycle()
    fake.docs["ours_4"]["RequestStatus"] = "failed"  # someone else ended it: no agent path from there
    fake.docs["ours_4"]["Team"] = "elsewhere"
    _move(db, "ours_4", RequestStatus.planning, RequestStatus.completed)
    report = manager.run_cycle()
    assert report.errors == []
    with db.session() as s:
        sync = s.scalar(select(ReqMgrSyncRow))
        assert sync.reqmgr_status == "failed"
        kinds = set(s.scalars(select(AlertRow.kind)))
    assert "reqmgr2-transition-refused" not in kinds  # resynchronised, not an error
    assert fake.docs["ours_4"]["RequestStatus"] == "failed"


def test_progress_totals_written_once_when_taken(world: Any, db: Database) -> None:
    fake, manager, _ = world
    fake.add("ours_5", "wms2-team")
    fake.add("ours_6", "wms2-team", TotalInputEvents=20000)  # the document has them: never added again
    manager.run_cycle()
    manager.run_cycle()
    assert fake.totals == [("ours_5", {"total_jobs": 20, "input_events": 20000, "input_lumis": 200,
                                       "input_num_files": 0})]  # the sample: 20000 events, 1000/job, 100/lumi
    assert fake.docs["ours_5"]["TotalEstimatedJobs"] == 20
    with db.session() as s:
        audit = s.scalar(select(RequestRow).where(RequestRow.name == "ours_5")).status_transitions
    assert [a["reason"].split(":")[0] for a in audit if a["by"] == "reqmgr2-sync"][-1].startswith(
        "ReqMgr2 progress totals")


def test_forbidden_write_is_an_alert_not_a_crash(world: Any, db: Database) -> None:
    fake, manager, _ = world
    fake.add("ours_7", "wms2-team")
    fake.forbidden = True
    report = manager.run_cycle()
    assert report.errors == []
    assert _status(db, "ours_7") == "queued"  # WMS2's own work goes on
    with db.session() as s:
        alert = s.scalar(select(AlertRow).where(AlertRow.kind == "reqmgr2-write-refused"))
        row = s.scalar(select(ReqMgrSyncRow))
        assert alert is not None and "assigned -> staging" in alert.reason
        assert row.last_error.startswith("refused") and row.next_attempt_at is not None
        row.next_attempt_at = None  # the back-off has elapsed
    fake.forbidden = False
    manager.run_cycle()
    assert fake.docs["ours_7"]["RequestStatus"] == "acquired"


def test_failed_refused_once_ends_as_aborted_completed(world: Any, db: Database) -> None:
    fake, manager, _ = world
    fake.add("ours_8", "wms2-team")
    manager.run_cycle()  # ReqMgr2 acquired
    real_set_status = fake.set_status

    def refuse_failed(name: str, status: str) -> WriteAnswer:
        if status == "failed":
            raise TransitionRefused("refused", url="fake", name=name, status=400, answer="not allowed")
        return real_set_status(name, status)

    fake.set_status = refuse_failed  # type: ignore[method-assign]
    _move(db, "ours_8", RequestStatus.failed)
    report = manager.run_cycle()  # `failed` refused, status unchanged: alert
    assert report.errors == []
    with db.session() as s:
        assert s.scalar(select(AlertRow).where(AlertRow.kind == "reqmgr2-transition-refused")) is not None
        s.scalar(select(ReqMgrSyncRow)).next_attempt_at = None
    manager.run_cycle()
    assert fake.docs["ours_8"]["RequestStatus"] == "aborted-completed"
    assert [s for n, s in fake.writes if n == "ours_8"][-2:] == ["aborted", "aborted-completed"]
