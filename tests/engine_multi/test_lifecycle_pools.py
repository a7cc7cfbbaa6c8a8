"""The lifecycle over three local pools: one pool SIGKILLed → its request is alerted ("schedd
unreachable"), never failed, while the others complete; the pool restarted → its DAG is recovered from
the pool's spool and the request completes too."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from tests.core.helpers import stepchain_doc, submit
from tests.engine_multi.conftest import WAIT_S, Gate, kill_pool, pool_settings, spool_dags, tiny_dag
from wms2.config import Settings
from wms2.core.active import ActiveHandler
from wms2.core.lifecycle import LifecycleManager
from wms2.core.monitor import DagMonitor
from wms2.core.wiring import build_output_manager
from wms2.core.workers import Workers
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagRow, RequestRow, WorkflowRow
from wms2.domain.enums import DAGStatus, RequestStatus, WorkflowStatus
from wms2.engines.base import SubmitOptions
from wms2.engines.local.client import LocalEngine, ensure_pool_running, stop_pool

NAMES = ["req_a", "req_b", "req_c"]


def _active_with_dags(db: Database, settings: Settings, fixtures_dir: Path, engine: LocalEngine,
                      gate: Gate) -> dict[str, str]:
    """Three active requests, each with a submitted one-WU DAG placed by the engine (as the launcher
    records it); returns {request: pool}."""
    submit(db, settings, [stepchain_doc(fixtures_dir, name) for name in NAMES])
    LifecycleManager(db, settings).run_cycle()  # validated and queued; the DAGs come from here
    placed: dict[str, str] = {}
    with db.session() as s:
        for name in NAMES:
            req = s.scalar(select(RequestRow).where(RequestRow.name == name))
            wf = s.scalar(select(WorkflowRow).where(WorkflowRow.request_id == req.id))
            dag_file = tiny_dag(settings.home / "dags" / name, gate, settings.home / "starts.log")
            result = engine.submit_dag(dag_file, SubmitOptions(batch_name=name))
            dag = DagRow(workflow_id=wf.id, round=0, dag_file=str(dag_file), submit_dir=str(dag_file.parent),
                         cluster_id=result.cluster_id, schedd_name=result.schedd, total_work_units=1,
                         status=DAGStatus.submitted, round_params={"work_remaining": False})
            s.add(dag)
            s.flush()
            wf.current_dag_id, wf.status = dag.id, WorkflowStatus.active
            req.status = RequestStatus.active
            placed[name] = result.schedd
    return placed


def _statuses(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {r.name: str(r.status) for r in s.scalars(select(RequestRow))}


def _alerts(db: Database) -> list[tuple[str, str | None, str]]:
    with db.session() as s:
        return [(a.kind, a.request_name, a.reason) for a in s.scalars(select(AlertRow).order_by(AlertRow.id))]


@pytest.mark.slow
def test_killed_pool_alerts_its_request_and_recovers(db: Database, home: Path, fixtures_dir: Path) -> None:
    settings = pool_settings(home)
    gate = Gate(home / "gate")
    try:
        ensure_pool_running(settings)
        engine = LocalEngine(settings)
        placed = _active_with_dags(db, settings, fixtures_dir, engine, gate)
        assert sorted(placed.values()) == ["a", "b", "c"]  # one DAG per pool
        lifecycle = LifecycleManager(db, settings, Workers(engine=engine, extra_handlers={
            RequestStatus.active: ActiveHandler(DagMonitor(engine), build_output_manager(settings))}))
        victim = next(name for name, pool in placed.items() if pool == "b")
        kill_pool(settings, "b")

        report = lifecycle.run_cycle()
        assert not report.errors, report.errors
        alerts = _alerts(db)
        assert [(kind, req) for kind, req, _ in alerts] == [("schedd_unreachable", victim)]
        assert "schedd b unreachable" in alerts[0][2] and "no automatic action" in alerts[0][2]
        assert set(_statuses(db).values()) == {RequestStatus.active}

        gate.open()
        with db.session() as s:  # the DAGs of the live pools end (long poll on their own pool)
            live = [(d.cluster_id, d.schedd_name) for d in s.scalars(select(DagRow)) if d.schedd_name != "b"]
        for cluster, pool in live:
            assert engine.wait(cluster, timeout=WAIT_S, schedd=pool).exit_code == 0
        lifecycle.run_cycle()
        statuses = _statuses(db)
        assert statuses[victim] == RequestStatus.active  # still waiting for its schedd, not failed
        assert all(statuses[n] == RequestStatus.completed for n in NAMES if n != victim), statuses
        assert len(_alerts(db)) == 1  # repeated at most every alert_repeat_seconds

        ensure_pool_running(settings)  # as `wms2 serve` starts the pools it finds missing
        with db.session() as s:
            cluster = s.scalar(select(DagRow.cluster_id).where(DagRow.schedd_name == "b"))
        assert engine.wait(cluster, timeout=WAIT_S, schedd="b").exit_code == 0
        lifecycle.run_cycle()
        assert set(_statuses(db).values()) == {RequestStatus.completed}
        record = next(iter(spool_dags(settings, "b").values()))
        assert record["state"] == "done" and record["exit_code"] == 0
        with db.session() as s:
            assert {d.status for d in s.scalars(select(DagRow))} == {DAGStatus.completed}
    finally:
        stop_pool(settings)
