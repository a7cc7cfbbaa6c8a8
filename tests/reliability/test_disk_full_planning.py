"""A full submit disk while a round is planned (found by the fault harness: the request stayed in
``planning`` with a traceback every cycle until the 1 h planning timeout failed it) is a planning
deferral with the reason; once the disk has room the round is planned and submitted.  Real ENOSPC: the
submit directory is its own tiny tmpfs, filled to the last byte."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.api.conftest import RecordingEngine
from tests.core.helpers import submit
from tests.reliability.faults import mount_tmpfs, unmount
from wms2.config import Settings
from wms2.core.demo import load_samples
from wms2.core.launcher import PlanningLauncher
from wms2.core.lifecycle import LifecycleManager
from wms2.core.wiring import build_output_manager
from wms2.core.workers import Workers
from wms2.db.session import Database
from wms2.db.tables import RequestRow
from wms2.engines.base import SubmitOptions, SubmitResult
from wms2.services.local_catalog import LocalCatalog

TMPFS_MB = 1


@dataclass
class SubmittingEngine(RecordingEngine):
    """Records each submission (the engine side is not under test here)."""

    submitted: list[Path] = field(default_factory=list)

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        self.submitted.append(dag_file)
        return SubmitResult(cluster_id=len(self.submitted), schedd="test")


def generation_request(db: Database, settings: Settings,
                       name: str) -> tuple[SubmittingEngine, LifecycleManager]:
    """The demo's generation sample submitted as ``name``, and a lifecycle whose launcher plans for real and
    submits to a recording engine."""
    doc = copy.deepcopy(load_samples()[0][1])
    doc["RequestName"] = name
    submit(db, settings, [doc])
    engine = SubmittingEngine()
    launcher = PlanningLauncher(engine=engine, catalog=LocalCatalog, outputs=build_output_manager(settings))
    return engine, LifecycleManager(db, settings, Workers(launcher=launcher))


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 16, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass  # ENOSPC: full at this granularity
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def full_submit_dir(settings: Settings) -> Path:
    assert os.geteuid() == 0, "this test mounts a tmpfs: run as root"
    base = settings.submit_base
    assert mount_tmpfs(base, TMPFS_MB), f"mount -t tmpfs refused at {base}"
    try:
        yield _fill(base)  # type: ignore[misc]
    finally:
        unmount(base)


def _state(db: Database) -> tuple[str, str]:
    with db.session() as s:
        row = s.scalar(select(RequestRow))
        assert row is not None
        return str(row.status), str(row.status_transitions[-1]["reason"])


def test_full_disk_defers_planning_then_the_round_is_submitted(db: Database, settings: Settings,
                                                               full_submit_dir: Path) -> None:
    engine, manager = generation_request(db, settings, "disk_full_gen")
    for _ in range(3):
        report = manager.run_cycle()
        assert report.errors == [], report.errors
    status, reason = _state(db)
    assert status == "queued" and "No space left on device" in reason, (status, reason)
    assert engine.submitted == []
    full_submit_dir.unlink()
    manager.run_cycle()
    status, reason = _state(db)
    assert status == "active" and len(engine.submitted) == 1, (status, reason)
