"""Issue 12 defect 2: a request whose planning is deferred every cycle (input dataset not in the catalog,
catalog down) records the repeating condition once, alerts after ``deferred_alert_seconds`` and is held
with the reason after ``deferred_hold_seconds``, instead of appending two audit entries per cycle."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from tests.api.conftest import RecordingEngine
from tests.core.helpers import submit
from wms2.config import Settings
from wms2.core.launcher import PlanningLauncher
from wms2.core.lifecycle import LifecycleManager
from wms2.core.operator import Operator
from wms2.core.wiring import build_output_manager
from wms2.core.workers import LaunchOutcome, LaunchResult, Workers
from wms2.db.session import Database
from wms2.db.tables import AlertRow, RequestRow
from wms2.services.catalog import CatalogError
from wms2.services.local_catalog import LocalCatalog

from .hostile import rereco_base

SUBMITTED_ENTRIES = 2  # submitted, then queued ("validated; workflow created")
HANDFUL = 5


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 6, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _manager(db: Database, settings: Settings, clock: Clock,
             catalog: Callable[[Session], Any] = LocalCatalog) -> LifecycleManager:
    launcher = PlanningLauncher(engine=RecordingEngine(), catalog=catalog, outputs=build_output_manager(settings))
    return LifecycleManager(db, settings, Workers(launcher=launcher), clock=clock)


def _run(manager: LifecycleManager, clock: Clock, cycles: int, every_s: float) -> None:
    for _ in range(cycles):
        report = manager.run_cycle()
        assert report.errors == [], report.errors
        clock.now += timedelta(seconds=every_s)


def _request(db: Database) -> tuple[str, list[dict[str, Any]], list[AlertRow]]:
    with db.session() as s:
        row = s.scalar(select(RequestRow))
        assert row is not None
        alerts = list(s.scalars(select(AlertRow).order_by(AlertRow.id)))
        s.expunge_all()
        return str(row.status), list(row.status_transitions), alerts


def _missing_input(db: Database, settings: Settings) -> None:
    """A ReReco whose input dataset is not in the catalog: planning is deferred every cycle."""
    submit(db, settings, [rereco_base()])


@pytest.mark.slow
def test_deferral_over_an_hour_adds_a_handful_of_entries(db: Database, settings: Settings) -> None:
    """The issue's acceptance: 1 hour of 2 s cycles (the probe's 166 entries in 4 minutes) -> a handful."""
    _missing_input(db, settings)
    clock = Clock()
    manager = _manager(db, settings, clock)
    _run(manager, clock, 15, 2.0)  # half a minute at the probe's 2 s cycle
    _run(manager, clock, 60, 60.0)  # then an hour at the default 60 s
    status, trail, alerts = _request(db)
    assert status == "queued"
    added = trail[SUBMITTED_ENTRIES:]
    assert len(added) <= HANDFUL, added
    admitted, deferred = added
    assert admitted["to"] == "planning" and deferred["to"] == "queued"
    assert deferred["reason"].startswith("planning deferred: planning failed: input_dataset: dataset")
    assert admitted["count"] == deferred["count"] == 74  # every cycle but the first (submitted -> queued)
    assert datetime.fromisoformat(deferred["last_at"]) > datetime.fromisoformat(deferred["at"])
    assert alerts == []  # under deferred_alert_seconds (1 h) so far


@pytest.mark.slow
def test_alert_then_held_with_the_reason(db: Database, settings: Settings) -> None:
    _missing_input(db, settings)
    clock = Clock()
    manager = _manager(db, settings, clock)
    _run(manager, clock, 8, 600.0)  # deferred from the 2nd cycle on: 60 min of deferrals at the 8th
    status, _, alerts = _request(db)
    assert status == "queued"
    assert [a.kind for a in alerts] == ["planning_deferred"]
    assert "not in the local catalog" in alerts[0].reason and "deferred for 1.0 h" in alerts[0].reason
    _run(manager, clock, 24 * 6, 600.0)  # another day
    status, trail, alerts = _request(db)
    assert status == "held"
    assert trail[-1]["from"] == "planning" and trail[-1]["to"] == "held"
    assert "not in the local catalog" in trail[-1]["reason"] and "held for an operator" in trail[-1]["reason"]
    # admitted (xN), deferred (xN-1), the last admission, planning -> held: the true order, 4 entries
    assert [(t["from"], t["to"]) for t in trail[SUBMITTED_ENTRIES:]] == [
        ("queued", "planning"), ("planning", "queued"), ("queued", "planning"), ("planning", "held")]
    kinds = [a.kind for a in alerts]
    assert kinds == ["planning_deferred", "planning_deferred_held"]
    assert alerts[0].detail["count"] > 10  # repeated (at most hourly) into one alert row, not one row each
    _run(manager, clock, 50, 600.0)  # held: nothing more happens
    assert len(_request(db)[1]) == len(trail)


def test_release_after_hold_starts_a_new_deferral_period(db: Database, settings: Settings) -> None:
    short = settings.model_copy(deep=True)
    short.lifecycle.deferred_alert_seconds = None
    short.lifecycle.deferred_hold_seconds = 3600.0
    _missing_input(db, short)
    clock = Clock()
    manager = _manager(db, short, clock)
    _run(manager, clock, 8, 600.0)
    assert _request(db)[0] == "held"
    with db.session() as s:
        Operator(short, RecordingEngine(), build_output_manager(short)).release(
            s, "hostile_rereco", "olga", "dataset injected now", clock.now)
    _run(manager, clock, 3, 600.0)  # 30 min after the release: deferred again, but not held again yet
    status, trail, _ = _request(db)
    assert status == "queued" and trail[-1]["reason"].startswith("planning deferred")


class FlappingCatalog:
    """A catalog that is down, then answers 'unknown dataset', then is down... (a flapping outage)."""

    calls = 0

    def __init__(self, session: Session) -> None:
        self.session = session

    def files(self, dataset: str, selection: object = None) -> list[object]:
        FlappingCatalog.calls += 1
        if FlappingCatalog.calls % 2:
            raise CatalogError("catalog unreachable: connection refused")
        raise CatalogError(f"dataset {dataset} is not in the catalog")


@pytest.mark.slow
def test_flapping_reasons_still_fold(db: Database, settings: Settings) -> None:
    """A sibling: a catalog outage that alternates with 'not found' (two reasons) folds too."""
    _missing_input(db, settings)
    clock = Clock()
    manager = _manager(db, settings, clock, catalog=FlappingCatalog)
    _run(manager, clock, 40, 30.0)
    status, trail, _ = _request(db)
    assert status == "queued"
    added = trail[SUBMITTED_ENTRIES:]
    assert len(added) <= 7, [(t["to"], t["reason"][:40], t.get("count")) for t in added]
    assert {t["reason"].split(": ")[-1] for t in added if t["to"] == "queued"} == {
        "connection refused", "dataset /HostilePrimary/Run2024A-v1/RAW is not in the catalog"}


def test_a_request_waiting_for_admission_adds_nothing(db: Database, settings: Settings) -> None:
    """Sibling: no slot free (cap 0) → no status move at all, and the stuck alert is one row with a count."""
    capped = settings.model_copy(deep=True)
    capped.admission.max_active_dags = 0
    _missing_input(db, capped)
    clock = Clock()
    manager = _manager(db, capped, clock)
    _run(manager, clock, 1, 60.0)
    clock.now += timedelta(days=7)
    _run(manager, clock, 48, 3700.0)  # two more days, hourly (just over the alert_repeat_seconds window)
    status, trail, alerts = _request(db)
    assert status == "queued" and len(trail) == SUBMITTED_ENTRIES
    assert [a.kind for a in alerts] == ["stuck_queued"] and alerts[0].detail["count"] == 48


class ArchivalWait:
    """A launcher whose round is done and whose blocks are still being archived (a legitimate wait)."""

    def launch(self, ctx: object, request: RequestRow, workflow: object) -> LaunchResult:
        return LaunchResult(LaunchOutcome.deferred, "all work done; waiting for blocks to be archived",
                            expected_wait=True)


def test_waiting_for_archival_is_folded_but_never_held(db: Database, settings: Settings) -> None:
    _missing_input(db, settings)
    clock = Clock()
    manager = LifecycleManager(db, settings, Workers(launcher=ArchivalWait()), clock=clock)
    _run(manager, clock, 30, 7200.0)  # 2.5 days
    status, trail, alerts = _request(db)
    assert status == "queued" and len(trail) == SUBMITTED_ENTRIES + 2 and alerts == []
