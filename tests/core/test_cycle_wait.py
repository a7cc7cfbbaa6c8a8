"""``CycleWaiter``: how the demo and the e2e tests wait between two lifecycle cycles."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from wms2.config import Settings
from wms2.core.cycle_wait import CycleWaiter
from wms2.engines.local.records import DagRecord, RecordStore

CYCLE_S = 1.5  # long enough that returning early can only be the change or the transition


def _settings(home: Path, kind: str = "local") -> Settings:
    return Settings(home=home, lifecycle={"cycle_seconds": CYCLE_S, "change_poll_min_seconds": 0.01,
                                          "change_poll_max_seconds": 0.05}, engine={"kind": kind})


def _timed(waiter: CycleWaiter, transitions: int = 0) -> float:
    started = time.monotonic()
    waiter.wait(transitions)
    return time.monotonic() - started


def test_waits_the_whole_period_when_nothing_changes(tmp_path: Path) -> None:
    RecordStore(tmp_path / "home" / "pool")
    assert _timed(CycleWaiter(_settings(tmp_path / "home"))) >= CYCLE_S


def test_a_transition_makes_the_next_cycle_due_at_once(tmp_path: Path) -> None:
    assert _timed(CycleWaiter(_settings(tmp_path / "home")), transitions=1) < CYCLE_S


def test_a_dag_leaving_the_queue_ends_the_wait(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    store = RecordStore(settings.pool_dir)
    store.create(DagRecord(cluster=7, dag_file="workflow.dag", state="running"))
    waiter = CycleWaiter(settings)
    timer = threading.Timer(0.3, lambda: store.finish(7, 0, "", 5))
    started = time.monotonic()  # before the timer starts: the finish is at least 0.3 s after this
    timer.start()
    try:
        waiter.wait(0)
        elapsed = time.monotonic() - started
    finally:
        timer.join()
    assert 0.3 <= elapsed < CYCLE_S
    assert _timed(waiter) >= CYCLE_S  # the change was consumed, not seen twice


def test_a_work_unit_finishing_does_not_end_the_wait(tmp_path: Path) -> None:
    settings = _settings(tmp_path / "home")
    store = RecordStore(settings.pool_dir)
    store.create(DagRecord(cluster=7, dag_file="workflow.dag", state="running"))
    store.create(DagRecord(cluster=8, dag_file="group.dag", state="running", parent=7, node="mg_000000"))
    waiter = CycleWaiter(settings)
    timer = threading.Timer(0.2, lambda: store.finish(8, 0, "", 5))
    timer.start()
    try:
        assert _timed(waiter) >= CYCLE_S
    finally:
        timer.join()


def test_htcondor_has_no_change_signal_only_the_period(tmp_path: Path) -> None:
    assert _timed(CycleWaiter(_settings(tmp_path / "home", kind="htcondor"))) >= CYCLE_S
