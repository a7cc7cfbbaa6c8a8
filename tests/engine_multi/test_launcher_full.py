"""Every schedd at its cap (``ScheddsFull``): the launcher defers the ready DAG (back-pressure, no
error, no hold) and submits it in a later cycle, recording the schedd the engine chose."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from tests.core.helpers import stepchain_doc, submit
from wms2.config import Settings
from wms2.core.launcher import PlanningLauncher
from wms2.core.lifecycle import LifecycleManager
from wms2.core.wiring import build_output_manager, build_planning_catalog
from wms2.core.workers import Workers
from wms2.db.session import Database
from wms2.db.tables import DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus
from wms2.engines.base import (
    DagExitInfo,
    DagJobInfo,
    Engine,
    ScheddsFull,
    SubmitOptions,
    SubmitResult,
)


class CappedEngine(Engine):
    """Test double: refuses with ``ScheddsFull`` while ``full``; otherwise places on ``s2``."""

    name = "capped"

    def __init__(self) -> None:
        self.full = True
        self.submitted: list[Path] = []

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        if self.full:
            raise ScheddsFull("every schedd that answered is at its cap: s1: 2/2 DAGs, 0 jobs; s2: 2/2 DAGs, 0 jobs")
        self.submitted.append(dag_file)
        return SubmitResult(cluster_id=7, schedd="s2")

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        raise AssertionError("not used")

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        raise AssertionError("not used")

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        raise AssertionError("not used")

    def release(self, cluster_id: int, schedd: str) -> None:
        raise AssertionError("not used")

    def ping(self, schedd: str) -> bool:
        return True

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        raise AssertionError("not used")


def ready_dag(db: Database, settings: Settings) -> Path:
    """A one-WU round 0 DAG file, recorded ``ready`` as the request's current DAG."""
    dag_file = settings.home / "round0" / "workflow.dag"
    dag_file.parent.mkdir(parents=True)
    dag_file.write_text("JOB wu0 job.sub\n")
    with db.session() as s:
        wf = s.scalar(select(WorkflowRow))
        dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(dag_file), submit_dir=str(dag_file.parent),
                     total_work_units=1, status=DAGStatus.ready)
        s.add(dag)
        s.flush()
        wf.current_dag_id = dag.id
    return dag_file


def test_all_schedds_full_defers_then_submits(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, "capped")])
    LifecycleManager(db, settings).run_cycle()  # queued
    dag_file = ready_dag(db, settings)
    engine = CappedEngine()
    launcher = PlanningLauncher(engine=engine, catalog=build_planning_catalog(settings),
                                outputs=build_output_manager(settings))
    lifecycle = LifecycleManager(db, settings, Workers(launcher=launcher, engine=engine))

    report = lifecycle.run_cycle()
    assert not report.errors, report.errors
    with db.session() as s:
        req = s.scalar(select(RequestRow))
        assert req.status == RequestStatus.queued
        assert "at its cap" in req.status_transitions[-1]["reason"]
        assert s.scalar(select(DagRow.status)) == DAGStatus.ready
    assert engine.submitted == []

    engine.full = False
    lifecycle.run_cycle()
    assert engine.submitted == [dag_file]
    with db.session() as s:
        assert s.scalar(select(RequestRow.status)) == RequestStatus.active
        row = s.scalar(select(DagRow))
        assert (row.status, row.cluster_id, row.schedd_name) == (DAGStatus.submitted, 7, "s2")
