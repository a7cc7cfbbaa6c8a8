"""A submission whose commit was lost (the owner killed, or the database gone, between ``submit_dag`` and
the commit) is found by its batch name and adopted by the next cycle, never submitted a second time.
Found by the fault harness (tests/reliability): the DAG of a round ran twice."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.core.helpers import stepchain_doc, submit
from tests.engine_multi.test_launcher_full import CappedEngine, ready_dag
from wms2.config import Settings
from wms2.core.launcher import PlanningLauncher
from wms2.core.lifecycle import LifecycleManager
from wms2.core.wiring import build_output_manager, build_planning_catalog
from wms2.core.workers import Workers
from wms2.db.session import Database
from wms2.db.tables import DagHistoryRow, DagRow, RequestRow
from wms2.domain.enums import DAGStatus, RequestStatus
from wms2.engines.base import ScheddUnreachable, SubmitOptions, SubmitResult


class CrashAfterSubmitEngine(CappedEngine):
    """Test double keeping its submissions by batch name, as a schedd does; the first submission
    "crashes" the caller after the schedd accepted it."""

    name = "crashy"

    def __init__(self) -> None:
        super().__init__()
        self.full = False
        self.by_name: dict[str, SubmitResult] = {}
        self.crash = True
        self.unreachable = False

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        assert options.batch_name
        result = SubmitResult(cluster_id=100 + len(self.by_name), schedd="s1")
        self.by_name[options.batch_name] = result
        if self.crash:
            self.crash = False
            raise RuntimeError("the owner dies here, after the schedd took the DAG")
        return result

    def find_submitted(self, batch_name: str) -> SubmitResult | None:
        if self.unreachable:
            raise ScheddUnreachable("schedd s1 does not answer")
        return self.by_name.get(batch_name)


def test_a_lost_submission_is_adopted_not_repeated(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, "lost")])
    LifecycleManager(db, settings).run_cycle()  # queued
    ready_dag(db, settings)
    engine = CrashAfterSubmitEngine()
    launcher = PlanningLauncher(engine=engine, catalog=build_planning_catalog(settings),
                                outputs=build_output_manager(settings))
    lifecycle = LifecycleManager(db, settings, Workers(launcher=launcher, engine=engine))

    report = lifecycle.run_cycle()
    assert report.errors, "the crash after the submission must surface"
    with db.session() as s:
        assert s.scalar(select(DagRow.status)) == DAGStatus.ready  # nothing committed
    assert len(engine.by_name) == 1

    engine.unreachable = True  # the schedd that may hold it is silent: wait, never risk a second DAGMan
    lifecycle.run_cycle()
    with db.session() as s:
        assert s.scalar(select(DagRow.status)) == DAGStatus.ready
    assert len(engine.by_name) == 1

    engine.unreachable = False
    report = lifecycle.run_cycle()
    assert not report.errors, report.errors
    assert len(engine.by_name) == 1, "submitted a second time"
    [(name, first)] = engine.by_name.items()
    with db.session() as s:
        assert s.scalar(select(RequestRow.status)) == RequestStatus.active
        row = s.scalar(select(DagRow))
        assert (row.status, row.cluster_id, row.schedd_name) == (DAGStatus.submitted, first.cluster_id, "s1")
        assert name == f"{s.scalar(select(RequestRow.name))}-r0-d{row.id}"
        events = [h.detail for h in s.scalars(select(DagHistoryRow).where(DagHistoryRow.dag_id == row.id))]
        assert any("found already submitted" in str(e) for e in events), events
