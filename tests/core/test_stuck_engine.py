"""Stuck detection for engine-backed states: active (probe the schedd) and stopping (re-issue removal)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from tests.core.helpers import stepchain_doc, submit
from wms2.config import Settings
from wms2.core.lifecycle import LifecycleManager
from wms2.core.workers import Workers
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus
from wms2.engines.base import (
    DagExitInfo,
    DagJobInfo,
    Engine,
    ScheddUnreachable,
    SubmitOptions,
    SubmitResult,
)


class ProbeEngine(Engine):
    """Test double: only ping and remove matter here."""

    name = "probe"

    def __init__(self, alive: bool) -> None:
        self.alive = alive
        self.removed: list[int] = []

    def submit_dag(self, dag_file: Path, options: SubmitOptions) -> SubmitResult:
        raise AssertionError("not used")

    def query(self, cluster_id: int, schedd: str) -> DagJobInfo:
        raise AssertionError("not used")

    def remove(self, cluster_id: int, schedd: str, reason: str) -> None:
        if not self.alive:
            raise ScheddUnreachable(schedd)
        self.removed.append(cluster_id)

    def hold(self, cluster_id: int, schedd: str, reason: str) -> None:
        raise AssertionError("not used")

    def release(self, cluster_id: int, schedd: str) -> None:
        raise AssertionError("not used")

    def ping(self, schedd: str) -> bool:
        if not self.alive:
            raise ScheddUnreachable(schedd)
        return True

    def exit_info(self, cluster_id: int, schedd: str) -> DagExitInfo:
        raise AssertionError("not used")


def _put_in(db: Database, settings: Settings, fixtures_dir: Path, status: RequestStatus, age: timedelta) -> None:
    submit(db, settings, [stepchain_doc(fixtures_dir, "r")])
    LifecycleManager(db, settings).run_cycle()
    with db.session() as s:
        req = s.scalar(select(RequestRow))
        wf = s.scalar(select(WorkflowRow))
        dag = DagRow(workflow_id=wf.id, round=0, dag_file="/x/workflow.dag", submit_dir="/x", cluster_id=42,
                     schedd_name="schedd.example", status=DAGStatus.running)
        s.add(dag)
        s.flush()
        wf.current_dag_id = dag.id
        req.status = status
        req.status_since = datetime.now(UTC) - age


def test_active_timeout_with_dead_schedd_alerts_only(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    _put_in(db, settings, fixtures_dir, RequestStatus.active, timedelta(days=31))
    LifecycleManager(db, settings, Workers(engine=ProbeEngine(alive=False))).run_cycle()
    with db.session() as s:
        alert = s.scalar(select(AlertRow))
        assert alert.kind == "schedd_unreachable" and "schedd.example" in alert.reason
        assert "no automatic action" in alert.reason
        assert s.scalar(select(RequestRow.status)) == RequestStatus.active


def test_active_timeout_with_live_schedd_is_slow_dag(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    _put_in(db, settings, fixtures_dir, RequestStatus.active, timedelta(days=31))
    LifecycleManager(db, settings, Workers(engine=ProbeEngine(alive=True))).run_cycle()
    with db.session() as s:
        assert s.scalar(select(AlertRow.kind)) == "slow_dag"


def test_stopping_timeout_reissues_removal(db: Database, settings: Settings, fixtures_dir: Path) -> None:
    _put_in(db, settings, fixtures_dir, RequestStatus.stopping, timedelta(hours=2))
    engine = ProbeEngine(alive=True)
    LifecycleManager(db, settings, Workers(engine=engine)).run_cycle()
    assert engine.removed == [42]
    with db.session() as s:
        assert s.scalar(select(AlertRow.kind)) == "removal_reissued"
