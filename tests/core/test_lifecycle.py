"""The lifecycle loop: submitted → queued, admission order and cap, stuck detection, isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.core.helpers import RecordingLauncher, stepchain_doc, submit
from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.workers import LaunchOutcome, Workers
from wms2.db.session import Database
from wms2.db.tables import AlertRow, LifecycleCycleRow, RequestRow, WorkflowRow
from wms2.domain.enums import RequestStatus


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def statuses(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {r.name: str(r.status) for r in s.scalars(select(RequestRow))}


def test_submitted_to_queued_creates_workflow(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, "r1")])
    report = LifecycleManager(db, settings).run_cycle()
    assert report.errors == [] and report.transitions == 1
    assert statuses(db) == {"r1": "queued"}
    with db.session() as s:
        wf = s.scalar(select(WorkflowRow))
        assert wf is not None and wf.request_name == "r1" and wf.next_first_event == 1
        trail = s.scalar(select(RequestRow)).status_transitions
        assert [t["to"] for t in trail] == ["submitted", "queued"] and trail[1]["by"] == "wms2"
    LifecycleManager(db, settings).run_cycle()  # idempotent: nothing more happens without a launcher
    assert statuses(db) == {"r1": "queued"}


def test_invalid_at_validation_time_fails_with_reason(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, "r_mem", Memory=2900)])
    strict = settings.model_copy(deep=True)
    strict.resources.max_memory_per_core_mb = 2000  # the ceiling was lowered after submission
    LifecycleManager(db, strict).run_cycle()
    with db.session() as s:
        row = s.scalar(select(RequestRow))
        assert row.status == RequestStatus.failed
        assert "MB/core" in row.status_transitions[-1]["reason"]


def test_admission_priority_urgent_age_and_cap(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    clock = Clock()
    docs = [stepchain_doc(fixtures_dir, "low", priority=1000),
            stepchain_doc(fixtures_dir, "high_old", priority=9000),
            stepchain_doc(fixtures_dir, "urgent", priority=10, WMS2Urgent=True)]
    submit(db, settings, docs[:2])
    settings.admission.max_active_dags = 2
    launcher = RecordingLauncher()
    manager = LifecycleManager(db, settings, Workers(launcher=launcher), clock=clock)
    manager.run_cycle()  # → queued
    clock.advance(seconds=10)
    submit(db, settings, [docs[2], stepchain_doc(fixtures_dir, "high_new", priority=9000)])
    manager.run_cycle()  # the first two are admitted (cap 2), the new ones only get queued
    assert launcher.launched == ["high_old", "low"]
    manager.run_cycle()
    assert launcher.launched == ["high_old", "low"], "cap of 2 active DAGs respected"
    with db.session() as s:  # free both slots
        for r in s.scalars(select(RequestRow).where(RequestRow.status == RequestStatus.active)):
            r.status = RequestStatus.held
    manager.run_cycle()
    assert launcher.launched[2:] == ["urgent", "high_new"], "urgent first, then priority"
    assert statuses(db)["urgent"] == "active"


def test_equal_priority_is_fifo(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    clock = Clock()
    launcher = RecordingLauncher()
    settings.admission.max_active_dags = 1
    manager = LifecycleManager(db, settings, Workers(launcher=launcher), clock=clock)
    for name in ("first", "second"):
        submit(db, settings, [stepchain_doc(fixtures_dir, name, priority=500)])
        manager.run_cycle()
        clock.advance(seconds=5)
    assert launcher.launched == ["first"]


def test_no_work_left_completes(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, "done")])
    manager = LifecycleManager(db, settings, Workers(launcher=RecordingLauncher(LaunchOutcome.no_work_left)))
    manager.run_cycle()
    manager.run_cycle()
    assert statuses(db) == {"done": "completed"}


def test_one_failing_request_does_not_stop_others(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, n, priority=p) for n, p in (("boom", 9), ("ok", 1))])
    launcher = RecordingLauncher(raise_for={"boom"})
    manager = LifecycleManager(db, settings, Workers(launcher=launcher))
    manager.run_cycle()
    report = manager.run_cycle()
    assert [e["request"] for e in report.errors] == ["boom"]
    assert "planner exploded" in report.errors[0]["error"]
    assert statuses(db)["ok"] == "active"
    assert statuses(db)["boom"] == "planning"  # left where the crash happened; retried next cycle
    with db.session() as s:
        cycles = list(s.scalars(select(LifecycleCycleRow).order_by(LifecycleCycleRow.id)))
        assert cycles[-1].errors == 1 and cycles[-1].error_detail[0]["request"] == "boom"


def test_stuck_detection(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    clock = Clock()
    submit(db, settings, [stepchain_doc(fixtures_dir, "waits")])
    manager = LifecycleManager(db, settings, clock=clock)
    manager.run_cycle()  # queued, no launcher: it waits
    clock.advance(days=7, seconds=1)
    manager.run_cycle()
    manager.run_cycle()  # the alert is not repeated within the window
    with db.session() as s:
        alerts = list(s.scalars(select(AlertRow)))
        assert [a.kind for a in alerts] == ["stuck_queued"]
        assert "waiting in queued for 7.0 d" in alerts[0].reason
    assert statuses(db) == {"waits": "queued"}  # queued → alert only


def test_stuck_internal_state_fails(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    clock = Clock()
    submit(db, settings, [stepchain_doc(fixtures_dir, "slow_plan")])
    launcher = RecordingLauncher(raise_for={"slow_plan"})
    manager = LifecycleManager(db, settings, Workers(launcher=launcher), clock=clock)
    manager.run_cycle()
    manager.run_cycle()  # planning raised: left in planning
    clock.advance(hours=1, seconds=1)
    launcher.raise_for.clear()
    launcher.outcome = LaunchOutcome.deferred
    manager.run_cycle()
    # the handler ran (deferred → queued) so the timeout no longer applies; force a stuck planning:
    with db.session() as s:
        row = s.scalar(select(RequestRow))
        row.status = RequestStatus.planning
        row.status_since = clock.now - timedelta(hours=2)
    manager.workers.launcher = None
    manager.run_cycle()
    with db.session() as s:
        row = s.scalar(select(RequestRow))
        assert row.status == RequestStatus.failed
        assert row.status_transitions[-1]["reason"].startswith("stuck in planning for 2.0 h")
        # the hour of deferral before it also raised "planning_deferred" (hardening, defect 2)
        assert "stuck_failed" in set(s.scalars(select(AlertRow.kind)))
