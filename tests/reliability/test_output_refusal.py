"""The catalog refusing a write (found by the fault harness: the request's whole evaluation raised every
cycle, on PostgreSQL also losing the cycle's other writes) is now a registration failure of the block:
recorded, alerted, retried on the backoff schedule, and the rest of the cycle's writes are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text

from tests.core.test_output_manager import _files, _setup
from wms2.config import Settings
from wms2.core.output_manager import OUTPUT_ALERT, OutputManager
from wms2.db.session import Database
from wms2.db.tables import AlertRow, DagRow, ProcessingBlockRow, WorkflowRow
from wms2.domain.enums import BlockStatus
from wms2.services.outputs import LocalCatalogWriter, LocalRuleService

REFUSE = {  # a real refusal by the database itself, on each dialect
    "postgresql": ["ALTER TABLE catalog_files ADD CONSTRAINT chaos_refuse CHECK (false) NOT VALID"],
    "sqlite": ["CREATE TRIGGER chaos_refuse BEFORE INSERT ON catalog_files BEGIN SELECT RAISE(ABORT, 'refused'); END"],
}
ALLOW = {"postgresql": ["ALTER TABLE catalog_files DROP CONSTRAINT chaos_refuse"],
         "sqlite": ["DROP TRIGGER chaos_refuse"]}


def _sql(db: Database, statements: list[str]) -> None:
    with db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_refused_catalog_write_is_a_block_failure_not_a_cycle_failure(db: Database, settings: Settings) -> None:
    dialect = db.engine.dialect.name
    wf_id, dag_id = _setup(db)
    om = OutputManager(settings, LocalCatalogWriter, LocalRuleService)
    now = datetime.now(UTC)
    _sql(db, REFUSE[dialect])
    with db.session() as s:  # one cycle: a monitor write, then the registration that is refused
        wf, dag = s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id)
        dag.node_counters = {"done": 7}
        report = om.register(s, wf, dag, now)
    assert report.failures and "refused" in report.failures[0], report.failures
    assert _files(db) == 0
    with db.session() as s:
        block = s.scalar(select(ProcessingBlockRow))
        assert block.attempt_count == 1 and "refused the write" in (block.last_error or "")
        assert block.completed_work_units == [] and block.status == BlockStatus.open
        assert s.get(DagRow, dag_id).node_counters == {"done": 7}  # the cycle's other write was kept
        assert s.scalar(select(func.count(AlertRow.id)).where(AlertRow.kind == OUTPUT_ALERT)) == 1
    _sql(db, ALLOW[dialect])
    later = now + timedelta(seconds=settings.output.retry_backoff_s[0] + 1)
    with db.session() as s:
        wf, dag = s.get(WorkflowRow, wf_id), s.get(DagRow, dag_id)
        assert not om.register(s, wf, dag, later).failures
    assert _files(db) == 4
    with db.session() as s:
        assert s.scalar(select(ProcessingBlockRow)).attempt_count == 0


def test_next_round_waits_for_a_refused_registration(db: Database, settings: Settings) -> None:
    """A refusal at the end of a round with work left (chaos run, 2026-12-03): the request used to go on
    to the next round and the refused WUs, retried only while their round is current, stayed unregistered
    and their block open for ever.  Now the next round waits until the retry succeeds."""
    from tests.core.test_cycle_batches import RunningEngine
    from wms2.core.active import ActiveHandler
    from wms2.core.lifecycle import LifecycleManager
    from wms2.core.monitor import DagMonitor
    from wms2.core.workers import Workers
    from wms2.db.tables import RequestRow
    from wms2.domain.enums import DAGStatus, RequestStatus
    from wms2.services.outputs import LocalRuleService as Rules

    dialect = db.engine.dialect.name
    wf_id, dag_id = _setup(db)
    with db.session() as s:
        dag = s.get(DagRow, dag_id)
        dag.status, dag.round_params = DAGStatus.completed, {"work_remaining": True}
        s.get(WorkflowRow, wf_id).current_dag_id = dag_id
    active = ActiveHandler(DagMonitor(RunningEngine()), OutputManager(settings, LocalCatalogWriter, Rules))
    manager = LifecycleManager(db, settings, Workers(extra_handlers={RequestStatus.active: active}))
    _sql(db, REFUSE[dialect])
    for _ in range(2):
        assert not manager.run_cycle().errors
    with db.session() as s:
        assert s.scalar(select(RequestRow.status)) == RequestStatus.active, "went on with WUs unregistered"
        assert s.scalar(select(ProcessingBlockRow.last_error)) is not None
    _sql(db, ALLOW[dialect])
    with db.session() as s:  # the backoff has passed
        s.scalar(select(ProcessingBlockRow)).last_attempt_at = datetime.now(UTC) - timedelta(days=1)
    assert not manager.run_cycle().errors
    assert _files(db) == 4
    with db.session() as s:
        assert s.scalar(select(RequestRow.status)) == RequestStatus.queued
